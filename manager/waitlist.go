//go:build linux

package manager

import (
	"context"
	"sync"
	"time"
)

// waitList is a condition variable for the Go referents (Lock, Semaphore,
// Condition, Event, Barrier, Queue): a FIFO of goroutines waiting under a
// mutex the owner of the list holds, woken by notify. Unlike sync.Cond, a
// wait has a deadline and a context (the serving connection's, cancelled
// when the client goes away or the server shuts down).
//
// Every method is called with the owner's mutex held; wait releases it while
// asleep and holds it again when it returns.
type waitList struct {
	ws []*listWaiter
}

// listWaiter is one goroutine asleep in wait. notified is written under the
// owner's mutex before ch is closed.
type listWaiter struct {
	ch       chan struct{}
	notified bool
}

// wait sleeps until notified, until deadline (zero: none) or until ctx is
// done, and reports whether it was notified. It returns ctx.Err() if ctx
// ended the wait. mu is the owner's mutex, held on entry and on return.
// Callers loop on their condition: another goroutine may run between the
// notify and this one taking mu again.
func (l *waitList) wait(ctx context.Context, mu *sync.Mutex, deadline time.Time) (bool, error) {
	w := &listWaiter{ch: make(chan struct{})}
	l.ws = append(l.ws, w)
	mu.Unlock()
	if h, ok := ctx.(waiter); ok {
		h.waiting()
	}
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-w.ch:
	case <-timeout:
	case <-ctx.Done():
	}
	mu.Lock()
	if w.notified {
		return true, nil
	}
	l.remove(w)
	return false, ctx.Err()
}

// remove drops w from the list if it is still there.
func (l *waitList) remove(w *listWaiter) {
	for i, x := range l.ws {
		if x == w {
			copy(l.ws[i:], l.ws[i+1:])
			l.ws[len(l.ws)-1] = nil
			l.ws = l.ws[:len(l.ws)-1]
			return
		}
	}
}

// notify wakes the first n waiters (all of them if n < 0) and returns how
// many it woke.
func (l *waitList) notify(n int) int {
	if n < 0 || n > len(l.ws) {
		n = len(l.ws)
	}
	for _, w := range l.ws[:n] {
		w.notified = true
		close(w.ch)
	}
	rest := copy(l.ws, l.ws[n:])
	clear(l.ws[rest:])
	l.ws = l.ws[:rest]
	return n
}

// len returns the number of waiters.
func (l *waitList) len() int { return len(l.ws) }

// deadlineOf turns a Python timeout into a deadline: zero for no timeout.
// A timeout of zero or less gives a deadline in the past, so a wait with it
// returns at once.
func deadlineOf(t timeout) time.Time {
	if !t.set {
		return time.Time{}
	}
	if t.d <= 0 {
		return time.Unix(0, 1)
	}
	return time.Now().Add(t.d)
}

// timeout is a Python timeout argument: unset (None) or a duration, which
// may be negative (the methods decide what a negative timeout means, as
// Python's do).
type timeout struct {
	d   time.Duration
	set bool
}

// noDeadline is the zero deadline: wait without a time limit.
var noDeadline time.Time

// expired reports whether deadline has passed (a zero deadline never does).
func expired(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}
