package semaphore

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// Semaphore and BoundedSemaphore layout, version 1: two cache lines.
//
//	offset size word      written by / states
//	     0    4 value     the count of free permits, 0..SemValueMax, and
//	                      the futex word waiters sleep on while it is 0;
//	                      CAS value → value-1 by acquirers, value → value+1
//	                      by releasers
//	     4    4 limit     immutable: 0 for a Semaphore; a
//	                      BoundedSemaphore's initial value, the most value
//	                      may reach
//	     8   56 (zero, reserved)
//	    64    4 sleepers  the number of acquirers in their sleep phase;
//	                      each adds 1 before it first sleeps and subtracts 1
//	                      when it leaves; a releaser wakes one sleeper only
//	                      if it reads non-zero
//	    68   60 (zero, reserved)
//
// No wake-up is lost: a sleeper increments sleepers before it reads value,
// a releaser increments value before it reads sleepers (both sequentially
// consistent), so one of them sees the other; and the futex wait sleeps only
// while value is still 0. A sleeper that gives up (timeout, cancel) wakes
// another if a permit is free, in case it swallowed the wake meant for it.
//
// A semaphore has no owner, so it cannot know that a process died holding
// a permit: the permit is lost and the value stays one lower for good. A
// program that knows a process died holding one (it joined it and saw it
// killed, say) may Release on its behalf.
const (
	semVersion  = 1
	semValue    = 0
	semLimit    = 4
	semSleepers = 64
	semSize     = 128

	// SemValueMax is the largest value a semaphore can hold (Python's
	// SEM_VALUE_MAX on Linux).
	SemValueMax = 1<<31 - 1
)

var (
	semSpec        = spec{shm.KindSemaphore, semVersion, semSize}
	boundedSemSpec = spec{shm.KindBoundedSemaphore, semVersion, semSize}
)

// sem is the implementation both semaphore types share.
type sem struct {
	value    *uint32
	sleepers *uint32
	limit    uint32 // the most value may reach
	spin     spinner
	obj      object
}

func newSem(r *shm.Region, bounded bool) (*sem, error) {
	b := r.Bytes()
	s := &sem{value: shm.Uint32(b, semValue), sleepers: shm.Uint32(b, semSleepers)}
	limit := atomic.LoadUint32(shm.Uint32(b, semLimit))
	switch {
	case bounded && limit > SemValueMax:
		return nil, corrupt(r, "limit %d above SemValueMax", limit)
	case !bounded && limit != 0:
		return nil, corrupt(r, "limit word %d in an unbounded semaphore", limit)
	case !bounded:
		limit = SemValueMax
	}
	if v := atomic.LoadUint32(s.value); v > limit {
		return nil, corrupt(r, "value %d above its limit %d", v, limit)
	}
	s.limit = limit
	s.obj.init(r)
	return s, nil
}

func semInit(value int, bounded bool) func([]byte) error {
	return func(b []byte) error {
		atomic.StoreUint32(shm.Uint32(b, semValue), uint32(value))
		if bounded {
			atomic.StoreUint32(shm.Uint32(b, semLimit), uint32(value))
		}
		return nil
	}
}

func checkValue(ctor string, value int) error {
	if value < 0 || value > SemValueMax {
		return fmt.Errorf("%w: %s: value %d outside 0..%d", ErrInvalid, ctor, value, SemValueMax)
	}
	return nil
}

func (s *sem) tryAcquire() bool {
	for v := atomic.LoadUint32(s.value); v > 0; v = atomic.LoadUint32(s.value) {
		if atomic.CompareAndSwapUint32(s.value, v, v-1) {
			return true
		}
	}
	return false
}

func (s *sem) acquire(ctx context.Context) error {
	if err := s.obj.check(); err != nil {
		return err
	}
	if !s.tryAcquire() {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !s.spin.run(s.tryAcquire) {
			if err := s.acquireSleep(ctx); err != nil {
				return err
			}
		}
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(s.obj.race)
	}
	return nil
}

func (s *sem) acquireSleep(ctx context.Context) error {
	atomic.AddUint32(s.sleepers, 1)
	defer atomic.AddUint32(s.sleepers, ^uint32(0))
	w := startSleep(ctx, s.value, 0, false)
	defer w.end()
	for {
		if s.tryAcquire() {
			return nil
		}
		if err, _ := w.poll(); err != nil {
			if atomic.LoadUint32(s.value) > 0 && atomic.LoadUint32(s.sleepers) > 1 {
				futex.Wake(s.value, 1) // pass on a wake this sleeper may have taken
			}
			return err
		}
		w.sleep(s.value, 0)
	}
}

// load returns the value, 0 once closed.
func (s *sem) load() int {
	if s.obj.closed.Load() {
		return 0
	}
	return int(atomic.LoadUint32(s.value))
}

func (s *sem) tryAcq() bool {
	if s.obj.closed.Load() {
		panic("semaphore: TryAcquire of closed semaphore")
	}
	if !s.tryAcquire() {
		return false
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(s.obj.race)
	}
	return true
}

func (s *sem) release() error {
	if err := s.obj.check(); err != nil {
		return err
	}
	if shm.RaceEnabled {
		shm.RaceReleaseMerge(s.obj.race)
	}
	for {
		v := atomic.LoadUint32(s.value)
		if v >= s.limit {
			return ErrValueTooLarge
		}
		if atomic.CompareAndSwapUint32(s.value, v, v+1) {
			break
		}
	}
	if atomic.LoadUint32(s.sleepers) != 0 {
		futex.Wake(s.value, 1)
	}
	return nil
}

// A Semaphore is a counting semaphore shared by processes: Python's
// multiprocessing.Semaphore. Acquire takes one permit, waiting while there
// is none; Release returns one, from any goroutine of any process.
//
// The uncontended Acquire and Release are one compare-and-swap each and
// make no system call; an Acquire that finds no permit spins briefly,
// then sleeps on a futex.
//
// A Semaphore has no owner: when a process dies holding a permit, the
// permit is lost (the value stays one lower). A program that knows a
// process died holding one may Release on its behalf.
//
// Memory model: a Release synchronizes before the Acquire that takes the
// permit it returned. A Semaphore must not be copied.
type Semaphore struct {
	s *sem
}

// NewSemaphore creates a Semaphore with value permits (0 to SemValueMax)
// in a segment of its own named name. It takes the option WithMode.
func NewSemaphore(name string, value int, opts ...Option) (*Semaphore, error) {
	o, err := buildOptions("NewSemaphore", optMode, opts)
	if err != nil {
		return nil, err
	}
	if err := checkValue("NewSemaphore", value); err != nil {
		return nil, err
	}
	r, err := createRegion(name, semSpec, semSize, o, semInit(value, false))
	if err != nil {
		return nil, err
	}
	return wrapSemaphore(r)
}

// OpenSemaphore opens the Semaphore named name.
func OpenSemaphore(name string) (*Semaphore, error) {
	r, err := openRegion(name, semSpec)
	if err != nil {
		return nil, err
	}
	return wrapSemaphore(r)
}

// NewSemaphoreIn creates a Semaphore with value permits in the arena a.
func NewSemaphoreIn(a *shm.Arena, value int) (*Semaphore, error) {
	if err := checkValue("NewSemaphoreIn", value); err != nil {
		return nil, err
	}
	r, err := allocRegion(a, semSpec, semSize, semInit(value, false))
	if err != nil {
		return nil, err
	}
	return wrapSemaphore(r)
}

// AttachSemaphore attaches the Semaphore that h names.
func AttachSemaphore(h shm.Handle) (*Semaphore, error) {
	r, err := attachRegion(h, semSpec)
	if err != nil {
		return nil, err
	}
	return wrapSemaphore(r)
}

func wrapSemaphore(r *shm.Region) (*Semaphore, error) {
	s, err := newSem(r, false)
	if err != nil {
		return nil, err
	}
	return &Semaphore{s}, nil
}

// Acquire takes a permit, waiting until one is free or ctx is done. It
// returns nil, or ctx.Err() (matching context.DeadlineExceeded after a
// timeout) with the value unchanged, or ErrClosed.
func (s *Semaphore) Acquire(ctx context.Context) error { return s.s.acquire(ctx) }

// TryAcquire takes a permit if one is free, without blocking, and reports
// whether it did. It panics if s is closed.
func (s *Semaphore) TryAcquire() bool { return s.s.tryAcq() }

// Release returns a permit, waking one waiter if any sleeps. It returns
// ErrValueTooLarge, changing nothing, if the value is already SemValueMax.
func (s *Semaphore) Release() error { return s.s.release() }

// Value returns the number of free permits (Python's get_value). Others may
// change it at any moment. It returns 0 once s is closed.
func (s *Semaphore) Value() int { return s.s.load() }

// Handle returns the handle that attaches to this Semaphore from any
// process.
func (s *Semaphore) Handle() shm.Handle { return s.s.obj.handle() }

// Close unmaps this process's view of the Semaphore, once every call on it
// in this process has returned. Closing twice is a no-op.
func (s *Semaphore) Close() error { return s.s.obj.close() }

// Unlink removes the Semaphore's name.
func (s *Semaphore) Unlink() error { return s.s.obj.unlink() }
