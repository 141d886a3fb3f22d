//go:build linux

package manager

import (
	"context"
	"sync"
	"time"
)

// rlockObj is the referent of a managed RLock: Python's threading.RLock in
// the server. Its owner is the connection that acquired it, as in CPython,
// where the owner is the server thread serving that connection: a client
// thread (Python) or proxy connection (Go) that acquired it may acquire it
// again, and only it may release it.
//
// State, guarded by mu: owner (0: unlocked) and count (> 0 exactly when
// owner != 0). Transitions: acquire by the owner increments count; acquire
// by another waits until owner == 0, then sets owner and count = 1; release
// by the owner decrements count and, at 0, clears owner and wakes the first
// waiter.
//
// Beyond CPython: when the owning connection closes (its client exited or
// was killed), the RLock is released, since no one else could ever release
// it; CPython leaves it held by the dead thread forever.
type rlockObj struct {
	mu    sync.Mutex
	owner ownerID
	count int
	wait  waitList
}

// acquire is RLock.acquire for owner.
func (r *rlockObj) acquire(ctx context.Context, owner ownerID, blocking bool, deadline time.Time) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner == owner {
		r.count++
		return true, nil
	}
	for r.owner != 0 {
		if !blocking || expired(deadline) {
			return false, nil
		}
		if _, err := r.wait.wait(ctx, &r.mu, deadline); err != nil {
			return false, err
		}
	}
	r.owner, r.count = owner, 1
	return true, nil
}

// release is RLock.release for owner.
func (r *rlockObj) release(owner ownerID) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner != owner || r.count == 0 {
		return pyErr(excRuntimeError, "cannot release un-acquired lock")
	}
	r.count--
	if r.count == 0 {
		r.owner = 0
		r.wait.notify(1)
	}
	return nil
}

// state returns the owner and count, for repr.
func (r *rlockObj) state() (ownerID, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owner, r.count
}

// The condLock methods (Python's RLock._is_owned, _release_save,
// _acquire_restore).

func (r *rlockObj) condAcquire(ctx context.Context, owner ownerID, blocking bool, deadline time.Time) (bool, error) {
	return r.acquire(ctx, owner, blocking, deadline)
}

func (r *rlockObj) condRelease(owner ownerID) error { return r.release(owner) }

func (r *rlockObj) isOwned(owner ownerID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owner == owner && r.count > 0
}

func (r *rlockObj) releaseSave(owner ownerID) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner != owner || r.count == 0 {
		return 0, pyErr(excRuntimeError, "cannot release un-acquired lock")
	}
	n := r.count
	r.owner, r.count = 0, 0
	r.wait.notify(1)
	return n, nil
}

func (r *rlockObj) acquireRestore(ctx context.Context, owner ownerID, count int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.owner != 0 && r.owner != owner {
		if _, err := r.wait.wait(ctx, &r.mu, time.Time{}); err != nil {
			return err
		}
	}
	r.owner, r.count = owner, count
	return nil
}

// ownerGone releases the lock if owner holds it: owner's connection has
// closed.
func (r *rlockObj) ownerGone(owner ownerID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owner == owner {
		r.owner, r.count = 0, 0
		r.wait.notify(1)
	}
}

func (r *rlockObj) locked_() bool {
	o, _ := r.state()
	return o != 0
}
