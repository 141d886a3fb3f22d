//go:build linux

package manager

import (
	"context"
	"sync"
	"time"
)

// lockObj is the referent of a managed Lock: Python's threading.Lock in the
// server. Any connection may release it, whoever acquired it (as in
// Python). A blocking acquire blocks the goroutine serving the caller's
// connection, and only that one. It is not released when the connection
// that acquired it closes: Python programs hand a Lock to a child that
// acquires it and exits, then release it in the parent.
//
// State: locked, guarded by mu. Transitions: unlocked → locked by acquire;
// locked → unlocked by release, which wakes the first waiter; the waiter
// retakes mu and finds it unlocked (or loses it to a newcomer and waits
// again, as Python's lock allows).
type lockObj struct {
	mu     sync.Mutex
	locked bool
	wait   waitList
}

// acquire takes the lock, waiting if blocking until deadline (zero: none),
// and reports whether it did. A context error means the connection went
// away while waiting; the lock is not taken then.
func (l *lockObj) acquire(ctx context.Context, blocking bool, deadline time.Time) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.locked {
		if !blocking || expired(deadline) {
			return false, nil
		}
		if _, err := l.wait.wait(ctx, &l.mu, deadline); err != nil {
			return false, err
		}
	}
	l.locked = true
	return true, nil
}

// release unlocks the lock; releasing an unlocked lock is Python's
// RuntimeError.
func (l *lockObj) release() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.locked {
		return pyErr(excRuntimeError, "release unlocked lock")
	}
	l.locked = false
	l.wait.notify(1)
	return nil
}

// isLocked reports the state, for repr and for Condition.
func (l *lockObj) isLocked() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.locked
}

// The condLock methods: a Condition over a plain Lock, as Python's
// Condition(Lock()) behaves. "Owned" means locked by anyone, since a Lock
// has no owner (Python's Condition._is_owned does the same).

func (l *lockObj) condAcquire(ctx context.Context, _ ownerID, blocking bool, deadline time.Time) (bool, error) {
	return l.acquire(ctx, blocking, deadline)
}

func (l *lockObj) condRelease(ownerID) error { return l.release() }

func (l *lockObj) isOwned(ownerID) bool { return l.isLocked() }

func (l *lockObj) releaseSave(ownerID) (int, error) { return 0, l.release() }

func (l *lockObj) acquireRestore(ctx context.Context, _ ownerID, _ int) error {
	_, err := l.acquire(ctx, true, time.Time{})
	return err
}

func (l *lockObj) ownerGone(ownerID) {}

func (l *lockObj) locked_() bool { return l.isLocked() }
