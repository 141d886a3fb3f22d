package semaphore

import (
	"context"

	"github.com/mproc/mproc/shm"
)

// A BoundedSemaphore is a Semaphore whose value may not exceed its initial
// value: Python's multiprocessing.BoundedSemaphore. A Release that would
// raise it above returns ErrValueTooLarge (Python's ValueError) and leaves
// the value unchanged. Its layout is the Semaphore's (see semaphore.go),
// with the initial value in the limit word, under its own kind.
//
// Everything else, including what a dead holder means, is as for
// Semaphore. A BoundedSemaphore must not be copied.
type BoundedSemaphore struct {
	s *sem
}

// NewBoundedSemaphore creates a BoundedSemaphore with value permits (0 to
// SemValueMax), which is also its bound, in a segment of its own named
// name. It takes the option WithMode.
func NewBoundedSemaphore(name string, value int, opts ...Option) (*BoundedSemaphore, error) {
	o, err := buildOptions("NewBoundedSemaphore", optMode, opts)
	if err != nil {
		return nil, err
	}
	if err := checkValue("NewBoundedSemaphore", value); err != nil {
		return nil, err
	}
	r, err := createRegion(name, boundedSemSpec, semSize, o, semInit(value, true))
	if err != nil {
		return nil, err
	}
	return wrapBounded(r)
}

// OpenBoundedSemaphore opens the BoundedSemaphore named name.
func OpenBoundedSemaphore(name string) (*BoundedSemaphore, error) {
	r, err := openRegion(name, boundedSemSpec)
	if err != nil {
		return nil, err
	}
	return wrapBounded(r)
}

// NewBoundedSemaphoreIn creates a BoundedSemaphore with value permits in
// the arena a.
func NewBoundedSemaphoreIn(a *shm.Arena, value int) (*BoundedSemaphore, error) {
	if err := checkValue("NewBoundedSemaphoreIn", value); err != nil {
		return nil, err
	}
	r, err := allocRegion(a, boundedSemSpec, semSize, semInit(value, true))
	if err != nil {
		return nil, err
	}
	return wrapBounded(r)
}

// AttachBoundedSemaphore attaches the BoundedSemaphore that h names.
func AttachBoundedSemaphore(h shm.Handle) (*BoundedSemaphore, error) {
	r, err := attachRegion(h, boundedSemSpec)
	if err != nil {
		return nil, err
	}
	return wrapBounded(r)
}

func wrapBounded(r *shm.Region) (*BoundedSemaphore, error) {
	s, err := newSem(r, true)
	if err != nil {
		return nil, err
	}
	return &BoundedSemaphore{s}, nil
}

// Acquire takes a permit, waiting until one is free or ctx is done. It
// returns nil, or ctx.Err() with the value unchanged, or ErrClosed.
func (s *BoundedSemaphore) Acquire(ctx context.Context) error { return s.s.acquire(ctx) }

// TryAcquire takes a permit if one is free, without blocking, and reports
// whether it did. It panics if s is closed.
func (s *BoundedSemaphore) TryAcquire() bool { return s.s.tryAcq() }

// Release returns a permit, waking one waiter if any sleeps. A release
// above the initial value returns ErrValueTooLarge and changes nothing.
func (s *BoundedSemaphore) Release() error { return s.s.release() }

// Value returns the number of free permits, 0 once s is closed.
func (s *BoundedSemaphore) Value() int { return s.s.load() }

// Limit returns the initial value, the most Value can be.
func (s *BoundedSemaphore) Limit() int { return int(s.s.limit) }

// Handle returns the handle that attaches to this BoundedSemaphore from
// any process.
func (s *BoundedSemaphore) Handle() shm.Handle { return s.s.obj.handle() }

// Close unmaps this process's view, once every call on it in this process
// has returned. Closing twice is a no-op.
func (s *BoundedSemaphore) Close() error { return s.s.obj.close() }

// Unlink removes the BoundedSemaphore's name.
func (s *BoundedSemaphore) Unlink() error { return s.s.obj.unlink() }
