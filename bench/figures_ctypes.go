package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/shm"
)

// value/ and rawarray/: ctypes.Value (synchronized) and RawValue/RawArray
// on shared memory.

func init() {
	register(&Figure{
		Name:  "value/locked-incr-2p",
		Unit:  OpsPerSec,
		Doc:   "2 processes each add 1 to one shared int64 Value `ops` times under the Value's lock (Python: `with v.get_lock(): v.value += 1`); the total is checked",
		Quick: Params{Ops: 50_000, Procs: 2},
		Full:  Params{Ops: 150_000, Procs: 2},
		Work:  perProcOp,
		Sides: []Side{
			{Name: "mproc Value", Kind: KindMproc, Run: mprocValueRun(false)},
			pySide("fig_ctypes.py"),
			{Name: "sync.Mutex", Kind: KindGo, Run: mutexContended},
			{Name: "futex mutex", Kind: KindLimit, Run: rawMutexRun},
		},
	})
	register(&Figure{
		Name:  "value/atomic-incr-2p",
		Unit:  OpsPerSec,
		Doc:   "2 processes each add 1 to one shared int64 `ops` times with an atomic add; the total is checked. Python has no atomic add: its side is the locked increment, the only correct way it offers",
		Quick: Params{Ops: 50_000, Procs: 2},
		Full:  Params{Ops: 150_000, Procs: 2},
		Work:  perProcOp,
		Sides: []Side{
			{Name: "mproc RawValue", Kind: KindMproc, Run: mprocValueRun(true)},
			pySide("fig_ctypes.py"),
			{Name: "atomic.Int64", Kind: KindGo, Run: goAtomicAdd},
			{Name: "atomic add", Kind: KindLimit, Run: atomicAddRun},
		},
	})
	register(&Figure{
		Name:  "rawarray/fill",
		Unit:  MBPerSec,
		Doc:   "set every element of a shared RawArray of `size`/8 int64 to one value, `ops` times (Python: slice assignment through a memoryview, its fastest way); one process",
		Quick: Params{Ops: 10, Size: 8 << 20},
		Full:  Params{Ops: 30, Size: 8 << 20},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc RawArray", Kind: KindMproc, Run: mprocArrayRun(false)},
			pySide("fig_ctypes.py"),
			{Name: "[]int64", Kind: KindGo, Run: sliceFill},
			{Name: "memset", Kind: KindLimit, Run: memsetRun},
		},
	})
	register(&Figure{
		Name:  "rawarray/sum",
		Unit:  MBPerSec,
		Doc:   "sum every element of a shared RawArray of `size`/8 int64 (all 1, checked), `ops` times (Python: sum() over a memoryview); one process",
		Quick: Params{Ops: 10, Size: 8 << 20},
		Full:  Params{Ops: 30, Size: 8 << 20},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc RawArray", Kind: KindMproc, Run: mprocArrayRun(true)},
			pySide("fig_ctypes.py"),
			{Name: "[]int64", Kind: KindGo, Run: sliceSum},
			{Name: "memcpy", Kind: KindLimit, Run: memcpyRun},
		},
	})

	// bench.value: one incrementer of the value figures. Args: params,
	// atomic (bool), the value's handle.
	registerChild("bench.value", func(m *member) (func() error, error) {
		var (
			p      Params
			atomic bool
			h      shm.Handle
		)
		if err := errors.Join(m.Arg(0, &p), m.Arg(1, &atomic), m.Arg(2, &h)); err != nil {
			return nil, err
		}
		if atomic {
			v, err := ctypes.AttachRawValue[int64](h)
			if err != nil {
				return nil, err
			}
			return func() error {
				defer v.Close()
				for range p.Ops {
					ctypes.AtomicAdd(v, 1)
				}
				return nil
			}, nil
		}
		v, err := ctypes.AttachValue[int64](h)
		if err != nil {
			return nil, err
		}
		incr := func(p *int64) error { *p++; return nil }
		return func() error {
			defer v.Close()
			for range p.Ops {
				if err := v.Do(incr); err != nil {
					return err
				}
			}
			return nil
		}, nil
	})
}

// mprocValueRun: Procs children add 1 to one shared int64 Ops times each,
// under the Value's lock (Value.Do, its default RLock as in Python) or
// with ctypes.AtomicAdd on a RawValue.
func mprocValueRun(atomic bool) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		var (
			h     shm.Handle
			load  func() (int64, error)
			close func()
		)
		if atomic {
			v, err := ctypes.NewRawValue[int64](segName("rv"), 0, nil)
			if err != nil {
				return 0, err
			}
			h, load = v.Handle(), func() (int64, error) { return ctypes.AtomicLoad(v), nil }
			close = func() { v.Unlink(); v.Close() }
		} else {
			v, err := ctypes.NewValue[int64](segName("v"), 0, nil)
			if err != nil {
				return 0, err
			}
			h, load = v.Handle(), v.Get
			close = func() { v.Unlink(); v.Close() }
		}
		defer close()
		t, err := startTeam("bench.value", p.Procs, 0, p, atomic, h)
		if err != nil {
			return 0, err
		}
		defer t.close()
		d, err := t.run(ctx, nil)
		if err != nil {
			return 0, err
		}
		n, err := load()
		if err != nil {
			return 0, err
		}
		return d, expectCount(uint64(n), uint64(p.Procs*p.Ops))
	}
}

// mprocArrayRun fills (or sums) a shared RawArray through its Slice, the
// Go program's way to sweep it.
func mprocArrayRun(sum bool) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		a, err := ctypes.NewRawArray[int64](segName("ra"), p.Size/8, nil)
		if err != nil {
			return 0, err
		}
		defer a.Close()
		defer a.Unlink()
		s := a.Slice()
		if sum {
			fillInt64(s, 1)
		} else {
			fillInt64(s, -1) // fault in before the clock, as the peers do
		}
		t0 := time.Now()
		for i := range p.Ops {
			if ctx.Err() != nil {
				return 0, ctx.Err()
			}
			if !sum {
				fillInt64(s, int64(i))
			} else if got := sumInt64(s); got != int64(len(s)) {
				return 0, fmt.Errorf("sum is %d, want %d", got, len(s))
			}
		}
		return time.Since(t0), nil
	}
}

// goAtomicAdd: Procs goroutines add 1 to an atomic.Int64 Ops times each.
func goAtomicAdd(ctx context.Context, p Params) (time.Duration, error) {
	var (
		n     atomic.Int64
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for range p.Procs {
		wg.Go(func() {
			<-start
			for range p.Ops {
				n.Add(1)
			}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	d := time.Since(t0)
	return d, expectCount(uint64(n.Load()), uint64(p.Procs*p.Ops))
}

// fillInt64 sets every element of a to v.
func fillInt64(a []int64, v int64) {
	for i := range a {
		a[i] = v
	}
}

// sumInt64 returns the sum of a.
func sumInt64(a []int64) int64 {
	var s int64
	for _, v := range a {
		s += v
	}
	return s
}

// sliceFill is the same fill on a []int64 in this process's heap.
func sliceFill(ctx context.Context, p Params) (time.Duration, error) {
	a := make([]int64, p.Size/8)
	fillInt64(a, -1) // fault in before the clock
	t0 := time.Now()
	for i := range p.Ops {
		fillInt64(a, int64(i))
	}
	return time.Since(t0), nil
}

// sliceSum is the same sum on a []int64 in this process's heap.
func sliceSum(ctx context.Context, p Params) (time.Duration, error) {
	a := make([]int64, p.Size/8)
	fillInt64(a, 1)
	t0 := time.Now()
	for range p.Ops {
		if s := sumInt64(a); s != int64(len(a)) {
			return 0, fmt.Errorf("sum is %d, want %d", s, len(a))
		}
	}
	return time.Since(t0), nil
}

// memsetRun clears Size bytes Ops times: the write bandwidth a fill is
// bound by.
func memsetRun(ctx context.Context, p Params) (time.Duration, error) {
	b := make([]byte, p.Size)
	for i := range b {
		b[i] = 1
	}
	t0 := time.Now()
	for range p.Ops {
		clear(b)
	}
	return time.Since(t0), nil
}
