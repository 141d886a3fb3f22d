package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// event/, semaphore/, condition/ and barrier/: hand-offs between two
// processes through semaphore.Event, Semaphore, Condition and Barrier.
// Each operation is one round trip: the parent signals the child, the
// child signals back.

func init() {
	register(&Figure{
		Name:  "event/handoff-rtt",
		Unit:  MicrosPerOp,
		Doc:   "round trip between 2 processes on two Events: the parent sets A and waits for B; the child waits for A, clears it and sets B; the parent clears B",
		Quick: Params{Ops: 5_000, Procs: 2},
		Full:  Params{Ops: 15_000, Procs: 2},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Event", Kind: KindMproc, Run: mprocHandoff("event")},
			pySide("fig_handoff.py"),
			{Name: "chan", Kind: KindGo, Run: chanPingPong},
			{Name: "futex", Kind: KindLimit, Run: pingPongRun("futex")},
			{Name: "spin", Kind: KindLimit, Run: pingPongRun("spin")},
		},
	})
	register(&Figure{
		Name:  "semaphore/handoff-rtt",
		Unit:  MicrosPerOp,
		Doc:   "round trip between 2 processes on two Semaphores(0): the parent releases A and acquires B; the child acquires A and releases B",
		Quick: Params{Ops: 10_000, Procs: 2},
		Full:  Params{Ops: 30_000, Procs: 2},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Semaphore", Kind: KindMproc, Run: mprocHandoff("semaphore")},
			pySide("fig_handoff.py"),
			{Name: "chan tokens", Kind: KindGo, Run: tokenPingPong},
			{Name: "futex", Kind: KindLimit, Run: pingPongRun("futex")},
			{Name: "spin", Kind: KindLimit, Run: pingPongRun("spin")},
		},
	})
	register(&Figure{
		Name:  "condition/handoff-rtt",
		Unit:  MicrosPerOp,
		Doc:   "round trip between 2 processes on one Condition and a shared turn word: under the lock, the parent sets turn=1, notifies and waits for turn==0; the child waits for turn==1, sets turn=0 and notifies",
		Quick: Params{Ops: 5_000, Procs: 2},
		Full:  Params{Ops: 15_000, Procs: 2},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Condition", Kind: KindMproc, Run: mprocHandoff("condition")},
			pySide("fig_handoff.py"),
			{Name: "sync.Cond", Kind: KindGo, Run: condPingPong},
			{Name: "futex", Kind: KindLimit, Run: pingPongRun("futex")},
		},
	})
	register(&Figure{
		Name:  "barrier/cycle-2p",
		Unit:  MicrosPerOp,
		Doc:   "one cycle of a 2-party Barrier: the parent and one child each call Wait `ops` times",
		Quick: Params{Ops: 3_000, Procs: 2},
		Full:  Params{Ops: 10_000, Procs: 2},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Barrier", Kind: KindMproc, Run: mprocHandoff("barrier")},
			pySide("fig_handoff.py"),
			{Name: "sync.Cond barrier", Kind: KindGo, Run: condBarrierRun},
			{Name: "futex barrier", Kind: KindLimit, Run: rawBarrierRun},
		},
	})

	// bench.handoff: the child of the mproc hand-off figures. Args:
	// params, what ("event", "semaphore", "condition", "barrier"), the
	// objects' handles.
	registerChild("bench.handoff", func(m *member) (func() error, error) {
		var (
			p    Params
			what string
			hs   []shm.Handle
		)
		if err := errors.Join(m.Arg(0, &p), m.Arg(1, &what), m.Arg(2, &hs)); err != nil {
			return nil, err
		}
		h, err := attachHandoff(what, hs)
		if err != nil {
			return nil, err
		}
		turn := shm.Uint32(m.User(), 0)
		return func() error {
			defer h.close()
			return h.child(bg, p.Ops, turn)
		}, nil
	})

	// bench.rawbarrier: a party of the futex barrier. Args: params.
	registerChild("bench.rawbarrier", func(m *member) (func() error, error) {
		var p Params
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		u := m.User()
		count, gen := shm.Uint32(u, 0), shm.Uint32(u, 64)
		return func() error {
			for range p.Ops {
				rawBarrierWait(count, gen, uint32(p.Procs), nil)
			}
			return nil
		}, nil
	})
}

// handoff is one of the mproc hand-off figures' pairs of objects, with
// the parent's and the child's halves of its round trip.
type handoff struct {
	parent, child func(ctx context.Context, ops int, turn *uint32) error
	handles       []shm.Handle
	closers       []interface {
		Close() error
		Unlink() error
	}
}

// close closes (and, in the creator, unlinks) the objects.
func (h *handoff) close() {
	for _, c := range h.closers {
		c.Close()
	}
}

func (h *handoff) unlink() {
	for _, c := range h.closers {
		c.Unlink()
	}
}

var bg = context.Background()

// newHandoff creates the objects of a hand-off figure.
func newHandoff(what string) (*handoff, error) {
	var objs []handoffObj
	var err error
	switch what {
	case "event":
		var a, b *semaphore.Event
		if a, err = semaphore.NewEvent(segName("ev")); err == nil {
			objs = append(objs, a)
			if b, err = semaphore.NewEvent(segName("ev")); err == nil {
				objs = append(objs, b)
			}
		}
	case "semaphore":
		var a, b *semaphore.Semaphore
		if a, err = semaphore.NewSemaphore(segName("sem"), 0); err == nil {
			objs = append(objs, a)
			if b, err = semaphore.NewSemaphore(segName("sem"), 0); err == nil {
				objs = append(objs, b)
			}
		}
	case "condition":
		var c *semaphore.Condition
		if c, err = semaphore.NewCondition(segName("cond"), nil); err == nil {
			objs = append(objs, c)
		}
	case "barrier":
		var b *semaphore.Barrier
		if b, err = semaphore.NewBarrier(segName("bar"), 2); err == nil {
			objs = append(objs, b)
		}
	default:
		err = fmt.Errorf("no hand-off %q", what)
	}
	if err != nil {
		for _, o := range objs {
			o.Unlink()
			o.Close()
		}
		return nil, err
	}
	return makeHandoff(what, objs), nil
}

// attachHandoff attaches, in the child, the objects of a hand-off figure.
func attachHandoff(what string, hs []shm.Handle) (*handoff, error) {
	var objs []handoffObj
	for _, h := range hs {
		var o handoffObj
		var err error
		switch what {
		case "event":
			o, err = semaphore.AttachEvent(h)
		case "semaphore":
			o, err = semaphore.AttachSemaphore(h)
		case "condition":
			o, err = semaphore.AttachCondition(h)
		case "barrier":
			o, err = semaphore.AttachBarrier(h)
		default:
			err = fmt.Errorf("no hand-off %q", what)
		}
		if err != nil {
			for _, o := range objs {
				o.Close()
			}
			return nil, err
		}
		objs = append(objs, o)
	}
	return makeHandoff(what, objs), nil
}

type handoffObj interface {
	Close() error
	Unlink() error
	Handle() shm.Handle
}

// makeHandoff gives the objects their round trip, the same as the Python
// script's (fig_handoff.py).
func makeHandoff(what string, objs []handoffObj) *handoff {
	h := &handoff{}
	for _, o := range objs {
		h.handles = append(h.handles, o.Handle())
		h.closers = append(h.closers, o)
	}
	switch what {
	case "event":
		a, b := objs[0].(*semaphore.Event), objs[1].(*semaphore.Event)
		h.parent = func(ctx context.Context, ops int, _ *uint32) error {
			for i := range ops {
				if i&1023 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				a.Set()
				if !b.Wait(ctx) {
					return errors.New("event wait failed")
				}
				b.Clear()
			}
			return nil
		}
		h.child = func(ctx context.Context, ops int, _ *uint32) error {
			for i := range ops {
				if i&1023 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				if !a.Wait(ctx) {
					return errors.New("event wait failed")
				}
				a.Clear()
				b.Set()
			}
			return nil
		}
	case "semaphore":
		a, b := objs[0].(*semaphore.Semaphore), objs[1].(*semaphore.Semaphore)
		h.parent = func(ctx context.Context, ops int, _ *uint32) error {
			for i := range ops {
				if i&1023 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				if err := a.Release(); err != nil {
					return err
				}
				if err := b.Acquire(ctx); err != nil {
					return err
				}
			}
			return nil
		}
		h.child = func(ctx context.Context, ops int, _ *uint32) error {
			for i := range ops {
				if i&1023 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				if err := a.Acquire(ctx); err != nil {
					return err
				}
				if err := b.Release(); err != nil {
					return err
				}
			}
			return nil
		}
	case "condition":
		c := objs[0].(*semaphore.Condition)
		h.parent = func(ctx context.Context, ops int, turn *uint32) error {
			c.Lock()
			defer c.Unlock()
			for i := range ops {
				if i&1023 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				atomic.StoreUint32(turn, 1)
				if err := c.Notify(1); err != nil {
					return err
				}
				for atomic.LoadUint32(turn) != 0 {
					if _, err := c.Wait(ctx); err != nil {
						return err
					}
				}
			}
			return nil
		}
		h.child = func(ctx context.Context, ops int, turn *uint32) error {
			c.Lock()
			defer c.Unlock()
			for i := range ops {
				if i&1023 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				for atomic.LoadUint32(turn) != 1 {
					if _, err := c.Wait(ctx); err != nil {
						return err
					}
				}
				atomic.StoreUint32(turn, 0)
				if err := c.Notify(1); err != nil {
					return err
				}
			}
			return nil
		}
	case "barrier":
		b := objs[0].(*semaphore.Barrier)
		cycle := func(ctx context.Context, ops int, _ *uint32) error {
			for i := range ops {
				if i&1023 == 0 && ctx.Err() != nil {
					return ctx.Err()
				}
				if _, err := b.Wait(ctx); err != nil {
					return err
				}
			}
			return nil
		}
		h.parent, h.child = cycle, cycle
	}
	return h
}

// mprocHandoff is the mproc side of a hand-off figure: the objects are
// made here, a child attaches them by handle, and the two run Ops round
// trips (or barrier cycles).
func mprocHandoff(what string) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		h, err := newHandoff(what)
		if err != nil {
			return 0, err
		}
		defer h.close()
		defer h.unlink()
		t, err := startTeam("bench.handoff", 1, 64, p, what, h.handles)
		if err != nil {
			return 0, err
		}
		defer t.close()
		turn := shm.Uint32(t.user(), 0)
		return t.run(ctx, func() error { return h.parent(ctx, p.Ops, turn) })
	}
}

// tokenPingPong is a Go round trip through two channels of capacity 1
// used as semaphores (a send releases, a receive acquires).
func tokenPingPong(ctx context.Context, p Params) (time.Duration, error) {
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	done := make(chan struct{})
	go func() {
		for range p.Ops {
			<-a
			b <- struct{}{}
		}
		close(done)
	}()
	t0 := time.Now()
	for range p.Ops {
		a <- struct{}{}
		<-b
	}
	d := time.Since(t0)
	<-done
	return d, nil
}

// condPingPong is the Condition hand-off between two goroutines on a
// sync.Cond.
func condPingPong(ctx context.Context, p Params) (time.Duration, error) {
	var (
		mu   sync.Mutex
		cond = sync.NewCond(&mu)
		turn int
		done = make(chan struct{})
	)
	go func() {
		mu.Lock()
		for range p.Ops {
			for turn != 1 {
				cond.Wait()
			}
			turn = 0
			cond.Signal()
		}
		mu.Unlock()
		close(done)
	}()
	t0 := time.Now()
	mu.Lock()
	for range p.Ops {
		turn = 1
		cond.Signal()
		for turn != 0 {
			cond.Wait()
		}
	}
	mu.Unlock()
	d := time.Since(t0)
	<-done
	return d, nil
}

// condBarrier is the cyclic barrier Go programs write with a sync.Cond.
type condBarrier struct {
	mu      sync.Mutex
	cond    *sync.Cond
	n, have int
	gen     int
}

func (b *condBarrier) wait() {
	b.mu.Lock()
	gen := b.gen
	if b.have++; b.have == b.n {
		b.have = 0
		b.gen++
		b.cond.Broadcast()
	} else {
		for gen == b.gen {
			b.cond.Wait()
		}
	}
	b.mu.Unlock()
}

func condBarrierRun(ctx context.Context, p Params) (time.Duration, error) {
	b := &condBarrier{n: p.Procs}
	b.cond = sync.NewCond(&b.mu)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range p.Procs - 1 {
		wg.Go(func() {
			<-start
			for range p.Ops {
				b.wait()
			}
		})
	}
	t0 := time.Now()
	close(start)
	for range p.Ops {
		b.wait()
	}
	wg.Wait()
	return time.Since(t0), nil
}

// rawBarrierWait is the floor of a cross-process barrier: a shared
// arrival count and a generation word; the last to arrive resets the
// count, bumps the generation and wakes everybody sleeping on it. abort,
// if not nil, is checked every 100 ms of waiting.
func rawBarrierWait(count, gen *uint32, n uint32, abort func() bool) bool {
	g := atomic.LoadUint32(gen)
	if atomic.AddUint32(count, 1) == n {
		atomic.StoreUint32(count, 0)
		atomic.AddUint32(gen, 1)
		futex.Wake(gen, -1)
		return true
	}
	for atomic.LoadUint32(gen) == g {
		err := futex.Wait(gen, g, futex.DeadlineIn(100*time.Millisecond))
		if errors.Is(err, futex.ErrTimeout) && abort != nil && abort() {
			return false
		}
	}
	return true
}

// rawBarrierRun: the parent and Procs-1 children cycle through the futex
// barrier Ops times.
func rawBarrierRun(ctx context.Context, p Params) (time.Duration, error) {
	t, err := startTeam("bench.rawbarrier", p.Procs-1, 128, p)
	if err != nil {
		return 0, err
	}
	defer t.close()
	u := t.user()
	count, gen := shm.Uint32(u, 0), shm.Uint32(u, 64)
	abort := t.abort(ctx)
	return t.run(ctx, func() error {
		for range p.Ops {
			if !rawBarrierWait(count, gen, uint32(p.Procs), abort) {
				return t.why(ctx)
			}
		}
		return nil
	})
}
