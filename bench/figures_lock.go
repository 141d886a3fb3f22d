package main

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// lock/ and rlock/: acquire/release pairs of semaphore.Lock and
// semaphore.RLock, uncontended (one process) and contended (two processes
// taking turns at a counter the lock guards).

func init() {
	for _, kind := range []string{"lock", "rlock"} {
		py := "multiprocessing.Lock"
		if kind == "rlock" {
			py = "multiprocessing.RLock"
		}
		register(&Figure{
			Name:  kind + "/uncontended",
			Unit:  MicrosPerOp,
			Doc:   "one acquire and one release of a shared " + kind + " by one process (" + py + " in Python)",
			Quick: Params{Ops: 1_000_000},
			Full:  Params{Ops: 3_000_000},
			Work:  perOp,
			Sides: []Side{
				{Name: "mproc " + kind, Kind: KindMproc, Run: mprocLockUncontended(kind)},
				pySide("fig_lock.py"),
				{Name: "sync.Mutex", Kind: KindGo, Run: mutexUncontended},
				{Name: "CAS+store", Kind: KindLimit, Run: casUncontended},
			},
		})
		register(&Figure{
			Name:  kind + "/contended-2p",
			Unit:  OpsPerSec,
			Doc:   "2 processes each take the " + kind + " `ops` times to add 1 to a shared counter (checked at the end); ops/s counts both",
			Quick: Params{Ops: 50_000, Procs: 2},
			Full:  Params{Ops: 150_000, Procs: 2},
			Work:  perProcOp,
			Sides: []Side{
				{Name: "mproc " + kind, Kind: KindMproc, Run: mprocLockContended(kind)},
				pySide("fig_lock.py"),
				{Name: "sync.Mutex", Kind: KindGo, Run: mutexContended},
				{Name: "futex mutex", Kind: KindLimit, Run: rawMutexRun},
			},
		})
	}

	// bench.lock: one contender of lock/contended-2p. Args: params, kind,
	// the lock's handle.
	registerChild("bench.lock", func(m *member) (func() error, error) {
		var (
			p    Params
			kind string
			h    shm.Handle
		)
		if err := errors.Join(m.Arg(0, &p), m.Arg(1, &kind), m.Arg(2, &h)); err != nil {
			return nil, err
		}
		l, err := attachLockObj(kind, h)
		if err != nil {
			return nil, err
		}
		counter := shm.Uint64(m.User(), 0)
		return func() error {
			defer l.Close()
			addUnder(l, counter, p.Ops)
			return nil
		}, nil
	})
}

// lockObj is what the lock figures use of semaphore.Lock and RLock.
type lockObj interface {
	sync.Locker
	Close() error
	Unlink() error
	Handle() shm.Handle
}

func newLockObj(kind string) (lockObj, error) {
	if kind == "rlock" {
		return semaphore.NewRLock(segName(kind))
	}
	return semaphore.NewLock(segName(kind))
}

func attachLockObj(kind string, h shm.Handle) (lockObj, error) {
	if kind == "rlock" {
		return semaphore.AttachRLock(h)
	}
	return semaphore.AttachLock(h)
}

// addUnder takes l n times to add 1 to a shared counter (a plain load and
// store: the lock is what makes the increments add up).
func addUnder(l sync.Locker, counter *uint64, n int) {
	for range n {
		l.Lock()
		atomic.StoreUint64(counter, atomic.LoadUint64(counter)+1)
		l.Unlock()
	}
}

func mprocLockUncontended(kind string) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		l, err := newLockObj(kind)
		if err != nil {
			return 0, err
		}
		defer l.Close()
		defer l.Unlink()
		t0 := time.Now()
		for i := range p.Ops {
			l.Lock()
			l.Unlock()
			if i&4095 == 0 && ctx.Err() != nil {
				return 0, ctx.Err()
			}
		}
		return time.Since(t0), nil
	}
}

func mprocLockContended(kind string) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		l, err := newLockObj(kind)
		if err != nil {
			return 0, err
		}
		defer l.Close()
		defer l.Unlink()
		t, err := startTeam("bench.lock", p.Procs, 64, p, kind, l.Handle())
		if err != nil {
			return 0, err
		}
		defer t.close()
		counter := shm.Uint64(t.user(), 0)
		d, err := t.run(ctx, nil)
		if err == nil {
			err = expectCount(atomic.LoadUint64(counter), uint64(p.Procs*p.Ops))
		}
		return d, err
	}
}

// perProcOp is a Work function for figures where each of Procs processes
// does Ops operations.
func perProcOp(p Params) Work { return Work{Ops: float64(p.Ops * max(p.Procs, 1))} }

func mutexUncontended(ctx context.Context, p Params) (time.Duration, error) {
	var mu sync.Mutex
	t0 := time.Now()
	for range p.Ops {
		mu.Lock()
		mu.Unlock() //nolint:staticcheck // the empty critical section is the point
	}
	return time.Since(t0), nil
}

// casWord is padded so that nothing else shares its cache line.
type casWord struct {
	_ [64]byte
	w atomic.Uint32
	_ [60]byte
}

// casUncontended is the floor of any lock: one compare-and-swap to take
// it, one store to give it back.
func casUncontended(ctx context.Context, p Params) (time.Duration, error) {
	var c casWord
	t0 := time.Now()
	for range p.Ops {
		for !c.w.CompareAndSwap(0, 1) {
		}
		c.w.Store(0)
	}
	return time.Since(t0), nil
}

// mutexContended is Go's in-process answer: Procs goroutines and a
// sync.Mutex around a counter.
func mutexContended(ctx context.Context, p Params) (time.Duration, error) {
	var (
		mu      sync.Mutex
		counter int
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for range p.Procs {
		wg.Go(func() {
			<-start
			for range p.Ops {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	d := time.Since(t0)
	return d, expectCount(uint64(counter), uint64(p.Procs*p.Ops))
}
