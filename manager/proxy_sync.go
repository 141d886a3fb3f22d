//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Blocking calls and contexts. A blocking method (Acquire, Wait, Put,
// Get, Join) sends the time left until the context's deadline as Python's
// timeout argument, so the server gives up in time and the object is left
// unchanged; without a deadline it blocks until done. A context cancelled
// while the call blocks breaks the call's connection: an mproc server then
// abandons the call, but a CPython server completes it later if it can
// (a Lock acquired that way stays acquired), so use deadlines with CPython
// servers.

// remaining returns the seconds left until ctx's deadline, if it has one.
func remaining(ctx context.Context) (float64, bool) {
	dl, ok := ctx.Deadline()
	if !ok {
		return 0, false
	}
	return max(time.Until(dl).Seconds(), 0), true
}

// timedOut returns the error of a blocking call that returned False.
func timedOut(ctx context.Context, what string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return fmt.Errorf("manager: %s: %w", what, context.DeadlineExceeded)
}

// Acquirer is a proxy for a managed Lock, RLock, Semaphore or
// BoundedSemaphore (Python's AcquirerProxy). An RLock proxy owns the lock
// through its own connection (see Proxy).
type Acquirer struct{ *Proxy }

func (m *Manager) acquirer(ctx context.Context, typeid string, args []any) (*Acquirer, error) {
	p, err := m.Create(ctx, typeid, args, nil)
	if err != nil {
		return nil, err
	}
	return &Acquirer{p}, nil
}

// Lock creates a managed Lock (threading.Lock in the server).
func (m *Manager) Lock(ctx context.Context) (*Acquirer, error) { return m.acquirer(ctx, "Lock", nil) }

// RLock creates a managed RLock (threading.RLock in the server).
func (m *Manager) RLock(ctx context.Context) (*Acquirer, error) {
	return m.acquirer(ctx, "RLock", nil)
}

// Semaphore creates a managed Semaphore with the given initial value.
func (m *Manager) Semaphore(ctx context.Context, value int) (*Acquirer, error) {
	return m.acquirer(ctx, "Semaphore", []any{value})
}

// BoundedSemaphore creates a managed BoundedSemaphore with the given
// initial value (releasing it above that value is an error matching
// ErrValueError).
func (m *Manager) BoundedSemaphore(ctx context.Context, value int) (*Acquirer, error) {
	return m.acquirer(ctx, "BoundedSemaphore", []any{value})
}

// acquire sends acquire with Python's arguments for ctx.
func acquire(ctx context.Context, p *Proxy) (bool, error) {
	var ok bool
	var err error
	if t, has := remaining(ctx); has {
		err = p.call(ctx, &ok, "acquire", true, t)
	} else {
		err = p.call(ctx, &ok, "acquire")
	}
	return ok, err
}

// Acquire blocks until it acquires, or until ctx's deadline (an error
// matching context.DeadlineExceeded; nothing acquired).
func (a *Acquirer) Acquire(ctx context.Context) error {
	ok, err := acquire(ctx, a.Proxy)
	if err == nil && !ok {
		err = timedOut(ctx, "acquire")
	}
	return err
}

// TryAcquire acquires if it can without waiting (acquire(False)).
func (a *Acquirer) TryAcquire(ctx context.Context) (bool, error) {
	var ok bool
	err := a.call(ctx, &ok, "acquire", false)
	return ok, err
}

// AcquireTimeout waits at most d (acquire(True, d); a negative d is 0)
// and reports whether it acquired. A ctx deadline before d bounds the
// wait instead: failing by then is false and an error matching
// context.DeadlineExceeded.
func (a *Acquirer) AcquireTimeout(ctx context.Context, d time.Duration) (bool, error) {
	t := max(d.Seconds(), 0)
	r, has := remaining(ctx)
	bounded := has && r < t
	if bounded {
		t = r
	}
	var ok bool
	err := a.call(ctx, &ok, "acquire", true, t)
	if err == nil && !ok && bounded {
		err = timedOut(ctx, "acquire")
	}
	return ok, err
}

// Release releases; releasing an unlocked Lock or an RLock the proxy does
// not own is an error matching ErrRuntimeError.
func (a *Acquirer) Release(ctx context.Context) error { return a.call(ctx, nil, "release") }

// Condition is a proxy for a managed Condition (Python's ConditionProxy).
// It owns its lock through its own connection (see Proxy).
type Condition struct{ *Proxy }

// Condition creates a managed Condition over a new RLock, or over lock (a
// proxy for a Lock or RLock of the same server) if given.
func (m *Manager) Condition(ctx context.Context, lock ...*Acquirer) (*Condition, error) {
	var args []any
	if len(lock) > 1 {
		return nil, fmt.Errorf("%w: Condition takes at most one lock", ErrConfig)
	}
	if len(lock) == 1 && lock[0] != nil {
		args = []any{lock[0].Proxy}
	}
	p, err := m.Create(ctx, "Condition", args, nil)
	if err != nil {
		return nil, err
	}
	return &Condition{p}, nil
}

// Acquire acquires the condition's lock (see Acquirer.Acquire).
func (c *Condition) Acquire(ctx context.Context) error {
	ok, err := acquire(ctx, c.Proxy)
	if err == nil && !ok {
		err = timedOut(ctx, "acquire")
	}
	return err
}

// Release releases the condition's lock.
func (c *Condition) Release(ctx context.Context) error { return c.call(ctx, nil, "release") }

// Wait releases the lock, waits for a notify (or ctx's deadline: false)
// and takes the lock back. Waiting without owning the lock is an error
// matching ErrRuntimeError.
func (c *Condition) Wait(ctx context.Context) (bool, error) {
	var ok bool
	var t any
	if r, has := remaining(ctx); has {
		t = r
	}
	err := c.call(ctx, &ok, "wait", t)
	return ok, err
}

// WaitFor waits until pred returns true (Python's wait_for, which runs
// in the client too), or until ctx's deadline; it returns pred's last
// result.
func (c *Condition) WaitFor(ctx context.Context, pred func() (bool, error)) (bool, error) {
	for {
		ok, err := pred()
		if err != nil || ok {
			return ok, err
		}
		if _, has := remaining(ctx); has && ctx.Err() != nil {
			return false, nil
		}
		if _, err := c.Wait(ctx); err != nil {
			return false, err
		}
		if dl, has := ctx.Deadline(); has && !time.Now().Before(dl) {
			return pred()
		}
	}
}

// Notify wakes up to n waiters.
func (c *Condition) Notify(ctx context.Context, n int) error { return c.call(ctx, nil, "notify", n) }

// NotifyAll wakes every waiter.
func (c *Condition) NotifyAll(ctx context.Context) error { return c.call(ctx, nil, "notify_all") }

// Event is a proxy for a managed Event (Python's EventProxy).
type Event struct{ *Proxy }

// Event creates a managed Event.
func (m *Manager) Event(ctx context.Context) (*Event, error) {
	p, err := m.Create(ctx, "Event", nil, nil)
	if err != nil {
		return nil, err
	}
	return &Event{p}, nil
}

// IsSet reports whether the flag is set.
func (e *Event) IsSet(ctx context.Context) (bool, error) {
	var ok bool
	err := e.call(ctx, &ok, "is_set")
	return ok, err
}

// Set sets the flag and wakes every waiter.
func (e *Event) Set(ctx context.Context) error { return e.call(ctx, nil, "set") }

// Clear clears the flag.
func (e *Event) Clear(ctx context.Context) error { return e.call(ctx, nil, "clear") }

// Wait waits until the flag is set (true) or ctx's deadline (false).
func (e *Event) Wait(ctx context.Context) (bool, error) {
	var ok bool
	var t any
	if r, has := remaining(ctx); has {
		t = r
	}
	err := e.call(ctx, &ok, "wait", t)
	return ok, err
}

// Barrier is a proxy for a managed Barrier (Python's BarrierProxy).
type Barrier struct{ *Proxy }

// Barrier creates a managed Barrier for parties parties; timeout, if
// positive, is the default timeout of Wait (Python's Barrier(parties,
// timeout=...)).
func (m *Manager) Barrier(ctx context.Context, parties int, timeout time.Duration) (*Barrier, error) {
	var kw []Kwarg
	if timeout > 0 {
		kw = []Kwarg{{Name: "timeout", Value: timeout.Seconds()}}
	}
	p, err := m.Create(ctx, "Barrier", []any{parties}, kw)
	if err != nil {
		return nil, err
	}
	return &Barrier{p}, nil
}

// Wait waits for all parties and returns this party's arrival index (0 to
// parties-1). A broken barrier, or one that breaks (abort, reset, a timeout
// including ctx's deadline, a party whose client went away), is an error
// matching ErrBrokenBarrier.
func (b *Barrier) Wait(ctx context.Context) (int, error) {
	var n int
	var t any
	if r, has := remaining(ctx); has {
		t = r
	}
	err := b.call(ctx, &n, "wait", t)
	return n, err
}

// Abort breaks the barrier.
func (b *Barrier) Abort(ctx context.Context) error { return b.call(ctx, nil, "abort") }

// Reset returns the barrier to its initial state; waiters get
// ErrBrokenBarrier.
func (b *Barrier) Reset(ctx context.Context) error { return b.call(ctx, nil, "reset") }

// Parties returns the number of parties.
func (b *Barrier) Parties(ctx context.Context) (int, error) {
	var n int
	err := b.call(ctx, &n, "__getattribute__", "parties")
	return n, err
}

// NWaiting returns the number of parties waiting.
func (b *Barrier) NWaiting(ctx context.Context) (int, error) {
	var n int
	err := b.call(ctx, &n, "__getattribute__", "n_waiting")
	return n, err
}

// Broken reports whether the barrier is broken.
func (b *Barrier) Broken(ctx context.Context) (bool, error) {
	var ok bool
	err := b.call(ctx, &ok, "__getattribute__", "broken")
	return ok, err
}

// Queue is a proxy for a managed Queue or JoinableQueue (Python's
// AutoProxy over queue.Queue).
type Queue struct{ *Proxy }

// Queue creates a managed Queue holding at most maxsize items (0:
// unbounded).
func (m *Manager) Queue(ctx context.Context, maxsize int) (*Queue, error) {
	p, err := m.Create(ctx, "Queue", []any{maxsize}, nil)
	if err != nil {
		return nil, err
	}
	return &Queue{p}, nil
}

// JoinableQueue creates a managed JoinableQueue (the same server type as
// Queue in Python's SyncManager).
func (m *Manager) JoinableQueue(ctx context.Context, maxsize int) (*Queue, error) {
	p, err := m.Create(ctx, "JoinableQueue", []any{maxsize}, nil)
	if err != nil {
		return nil, err
	}
	return &Queue{p}, nil
}

// withDeadline makes a Full or Empty caused by ctx's deadline also match
// context.DeadlineExceeded.
func withDeadline(ctx context.Context, err error) error {
	if _, has := ctx.Deadline(); has && (errors.Is(err, ErrFull) || errors.Is(err, ErrEmpty)) {
		return fmt.Errorf("%w (%w)", err, context.DeadlineExceeded)
	}
	return err
}

// Put adds v, waiting while the queue is full until ctx's deadline (an
// error matching ErrFull and context.DeadlineExceeded).
func (q *Queue) Put(ctx context.Context, v any) error {
	if t, has := remaining(ctx); has {
		return withDeadline(ctx, q.call(ctx, nil, "put", v, true, t))
	}
	return q.call(ctx, nil, "put", v)
}

// PutNowait adds v if there is room now, else fails with ErrFull.
func (q *Queue) PutNowait(ctx context.Context, v any) error {
	return q.call(ctx, nil, "put_nowait", v)
}

// Get removes the oldest item and stores it in out, waiting while the
// queue is empty until ctx's deadline (an error matching ErrEmpty and
// context.DeadlineExceeded).
func (q *Queue) Get(ctx context.Context, out any) error {
	if t, has := remaining(ctx); has {
		return withDeadline(ctx, q.call(ctx, out, "get", true, t))
	}
	return q.call(ctx, out, "get")
}

// GetNowait removes the oldest item if there is one now, else fails with
// ErrEmpty.
func (q *Queue) GetNowait(ctx context.Context, out any) error {
	return q.call(ctx, out, "get_nowait")
}

// Qsize returns the number of items.
func (q *Queue) Qsize(ctx context.Context) (int, error) {
	var n int
	err := q.call(ctx, &n, "qsize")
	return n, err
}

// Empty reports whether the queue is empty.
func (q *Queue) Empty(ctx context.Context) (bool, error) {
	var ok bool
	err := q.call(ctx, &ok, "empty")
	return ok, err
}

// Full reports whether the queue is full.
func (q *Queue) Full(ctx context.Context) (bool, error) {
	var ok bool
	err := q.call(ctx, &ok, "full")
	return ok, err
}

// TaskDone marks one item taken by Get as processed (JoinableQueue).
func (q *Queue) TaskDone(ctx context.Context) error { return q.call(ctx, nil, "task_done") }

// Join waits until every item put has been marked done, or until ctx is
// done (its error). Python's join has no timeout: at ctx's deadline the
// call's connection is closed (an mproc server abandons the wait; a
// CPython server's ends when the queue is joined).
func (q *Queue) Join(ctx context.Context) error {
	if _, has := ctx.Deadline(); !has {
		return q.call(ctx, nil, "join")
	}
	// A deadline would wait for a reply until it plus deadlineGrace;
	// nothing answers a join at the deadline, so cancel instead.
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	err := q.call(cctx, nil, "join")
	if err != nil && ctx.Err() != nil {
		return fmt.Errorf("manager: join: %w", ctx.Err())
	}
	return err
}
