//go:build linux

package manager

import (
	"context"
	"sync"
	"time"
)

// semaphoreObj is the referent of a managed Semaphore or BoundedSemaphore:
// Python's threading.Semaphore / BoundedSemaphore in the server.
//
// State, guarded by mu: val >= 0, the number of acquires that would
// succeed now. acquire waits while val == 0, then decrements; release(n)
// adds n and wakes n waiters. A bounded semaphore refuses a release that
// would take val above initial (Python's ValueError "Semaphore released
// too many times"); initial is -1 for an unbounded one.
type semaphoreObj struct {
	mu      sync.Mutex
	val     int64
	initial int64 // bound for a BoundedSemaphore; -1 when unbounded
	wait    waitList
}

func newSemaphore(value int64, bounded bool) (*semaphoreObj, error) {
	if value < 0 {
		return nil, pyErr(excValueError, "semaphore initial value must be >= 0")
	}
	s := &semaphoreObj{val: value, initial: -1}
	if bounded {
		s.initial = value
	}
	return s, nil
}

// acquire is Semaphore.acquire: it waits, if blocking, until deadline (zero:
// none) and reports whether it decremented the semaphore.
func (s *semaphoreObj) acquire(ctx context.Context, blocking bool, deadline time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.val == 0 {
		if !blocking || expired(deadline) {
			return false, nil
		}
		if _, err := s.wait.wait(ctx, &s.mu, deadline); err != nil {
			return false, err
		}
	}
	s.val--
	return true, nil
}

// release is Semaphore.release(n).
func (s *semaphoreObj) release(n int64) error {
	if n < 1 {
		return pyErr(excValueError, "n must be one or more")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.initial >= 0 && s.val+n > s.initial {
		return pyErr(excValueError, "Semaphore released too many times")
	}
	s.val += n
	if n > int64(s.wait.len()) {
		s.wait.notify(-1)
	} else {
		s.wait.notify(int(n))
	}
	return nil
}

// current returns the value, for repr.
func (s *semaphoreObj) current() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.val
}
