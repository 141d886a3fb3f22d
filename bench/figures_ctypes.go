package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/process"
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

// rawarray/child-fill-sum: the whole job of the ctypes issue's figure, as
// Python's users write it: make a RawArray of Size/8 float64, start a
// child that sets a[i] = i/2, join it, sum the array in the parent.

func init() {
	register(&Figure{
		Name:  "rawarray/child-fill-sum",
		Unit:  MicrosPerOp,
		Doc:   "one op is the whole job: create a RawArray of `size`/8 float64, start a child process that sets a[i] = i/2 for every i, join it, and sum the array in the parent (checked). mproc's child fills 64 KiB chunks with WriteAt and the parent reads them back with ReadAt (no page of the array is mapped by either); Python's child loops `a[i] = i * 0.5` (its fastest way: slice assignment from a list is 3× slower) and the parent calls sum(a)",
		Quick: Params{Ops: 5, Size: 8 << 20},
		Full:  Params{Ops: 15, Size: 8 << 20},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc RawArray", Kind: KindMproc, Run: mprocChildFillSum},
			pySide("fig_ctypes.py"),
			{Name: "goroutine, []float64", Kind: KindGo, Run: goroutineFillSum},
			{Name: "child start+exit", Kind: KindLimit, Run: childStartExit},
		},
	})
	process.Register("bench.fill-chunks", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		arr, err := ctypes.AttachRawArray[float64](h)
		if err != nil {
			return err
		}
		defer arr.Close()
		buf := make([]float64, 8192)
		for at := 0; at < arr.Len(); at += len(buf) {
			n := min(len(buf), arr.Len()-at)
			for j := range buf[:n] {
				buf[j] = float64(at+j) * 0.5
			}
			if err := arr.WriteAt(buf[:n], at); err != nil {
				return err
			}
		}
		return nil
	})
	process.Register("bench.nop", func(*process.Args) error { return nil })
}

// sumFloat64 sums s with four accumulators, so that the additions overlap
// instead of waiting for each other (a single running sum is one add
// latency, 4 cycles, per element). The sums here are of halves of
// integers below 2^53, exact in any order.
func sumFloat64(s []float64) float64 {
	var a, b, c, d float64
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a += s[i]
		b += s[i+1]
		c += s[i+2]
		d += s[i+3]
	}
	for ; i < len(s); i++ {
		a += s[i]
	}
	return (a + b) + (c + d)
}

// halfSum is the sum of i/2 for i in [0, n).
func halfSum(n int) float64 { return 0.5 * float64(n) * float64(n-1) / 2 }

func mprocChildFillSum(ctx context.Context, p Params) (time.Duration, error) {
	n := p.Size / 8
	buf := make([]float64, 8192)
	t0 := time.Now()
	for range p.Ops {
		arr, err := ctypes.NewRawArray[float64](segName("fs"), n, nil)
		if err != nil {
			return 0, err
		}
		err = runChild(ctx, "bench.fill-chunks", arr.Handle())
		sum := 0.0
		for at := 0; err == nil && at < n; at += len(buf) {
			m := min(len(buf), n-at)
			if err = arr.ReadAt(buf[:m], at); err == nil {
				sum += sumFloat64(buf[:m])
			}
		}
		arr.Unlink()
		arr.Close()
		if err != nil {
			return 0, err
		}
		if sum != halfSum(n) {
			return 0, fmt.Errorf("sum is %v, want %v", sum, halfSum(n))
		}
	}
	return time.Since(t0), nil
}

// runChild starts the registered function fn in a child, waits for it and
// checks its exit code.
func runChild(ctx context.Context, fn string, args ...any) error {
	var stderr bytes.Buffer
	c, err := process.Start(fn, &process.Options{Args: args, Stderr: &stderr})
	if err != nil {
		return err
	}
	if err := c.Join(ctx); err != nil {
		c.Kill()
		return err
	}
	if code, _ := c.ExitCode(); code != 0 {
		return fmt.Errorf("child %s exited %d: %s", fn, code, stderr.String())
	}
	return nil
}

// goroutineFillSum is the same job in one process: a goroutine fills a
// new []float64, the caller sums it.
func goroutineFillSum(ctx context.Context, p Params) (time.Duration, error) {
	n := p.Size / 8
	t0 := time.Now()
	for range p.Ops {
		a := make([]float64, n)
		done := make(chan struct{})
		go func() {
			for i := range a {
				a[i] = float64(i) * 0.5
			}
			close(done)
		}()
		<-done
		sum := sumFloat64(a)
		if sum != halfSum(n) {
			return 0, fmt.Errorf("sum is %v, want %v", sum, halfSum(n))
		}
	}
	return time.Since(t0), nil
}

// childStartExit starts and joins a child that does nothing: the part of
// the job no shared-memory design can shorten.
func childStartExit(ctx context.Context, p Params) (time.Duration, error) {
	t0 := time.Now()
	for range p.Ops {
		if err := runChild(ctx, "bench.nop"); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}
