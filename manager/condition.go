//go:build linux

package manager

import (
	"context"
	"sync"
	"time"
)

// condLock is the lock under a Condition: a managed RLock (the default, as
// in Python) or Lock, possibly one the client also holds a proxy to
// (Condition(lock_proxy) uses that very referent).
type condLock interface {
	condAcquire(ctx context.Context, owner ownerID, blocking bool, deadline time.Time) (bool, error)
	condRelease(owner ownerID) error
	isOwned(owner ownerID) bool
	releaseSave(owner ownerID) (int, error)
	acquireRestore(ctx context.Context, owner ownerID, saved int) error
	ownerGone(owner ownerID)
	locked_() bool
}

// conditionObj is the referent of a managed Condition: Python's
// threading.Condition in the server, with its waiters' FIFO.
//
// State: the lock (see condLock) and waiters, guarded by mu. wait requires
// the caller's connection to own the lock; it queues a waiter, releases the
// lock completely, sleeps until notified, its timeout or its connection's
// end, and takes the lock back (with the saved recursion count) before
// returning, except when its connection has gone. notify(n) requires the
// lock and wakes the n oldest waiters.
type conditionObj struct {
	lock    condLock
	lockID  string // the lock's entry when it is a managed Lock/RLock of its own
	mu      sync.Mutex
	waiters waitList
}

func newCondition(lock condLock) *conditionObj {
	if lock == nil {
		lock = &rlockObj{}
	}
	return &conditionObj{lock: lock}
}

// wait is Condition.wait(timeout); it reports whether it was notified.
func (c *conditionObj) wait(ctx context.Context, owner ownerID, t timeout) (bool, error) {
	if !c.lock.isOwned(owner) {
		return false, pyErr(excRuntimeError, "cannot wait on un-acquired lock")
	}
	deadline := deadlineOf(t)
	c.mu.Lock()
	saved, err := c.lock.releaseSave(owner)
	if err != nil {
		c.mu.Unlock()
		return false, err
	}
	var notified bool
	if t.set && t.d <= 0 {
		notified = false // Python: waiter.acquire(False) fails at once
	} else {
		notified, err = c.waiters.wait(ctx, &c.mu, deadline)
	}
	c.mu.Unlock()
	if err != nil {
		// The connection is gone: do not take the lock back for it.
		return false, err
	}
	if err := c.lock.acquireRestore(ctx, owner, saved); err != nil {
		return false, err
	}
	return notified, nil
}

// notify is Condition.notify(n); n < 0 wakes all (notify_all).
func (c *conditionObj) notify(owner ownerID, n int) error {
	if !c.lock.isOwned(owner) {
		return pyErr(excRuntimeError, "cannot notify on un-acquired lock")
	}
	if n == 0 {
		return nil
	}
	c.mu.Lock()
	c.waiters.notify(n)
	c.mu.Unlock()
	return nil
}

// nWaiters returns the number of waiters, for repr.
func (c *conditionObj) nWaiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.waiters.len()
}
