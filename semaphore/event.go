package semaphore

import (
	"context"
	"sync/atomic"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// Event layout, version 1: two cache lines.
//
//	offset size word      written by / states
//	     0    4 word      generation<<1 | flag, the futex word waiters
//	                      sleep on. Set: flag 0 → 1 and generation+1 in one
//	                      CAS (word+3); setting a set Event writes nothing.
//	                      Clear: flag 1 → 0 (CAS), generation unchanged.
//	     4   60 (zero, reserved)
//	    64    4 sleepers  the number of waiters in their sleep phase (each
//	                      adds 1 before it first sleeps, subtracts 1 when it
//	                      leaves); Set wakes all sleepers only if non-zero
//	    68   60 (zero, reserved)
//
// A waiter that found the flag clear remembers the word and returns true
// as soon as the generation moves, even if the Event was cleared again
// before it looked (Python's Event.wait returns True when it was woken by
// set). Clear does not change the generation, so it wakes nobody. The
// generation wraps after 2^31 Sets; a waiter would have to sleep through
// exactly that many to miss one.
const (
	eventVersion  = 1
	eventWord     = 0
	eventSleepers = 64
	eventSize     = 128
	eventFlag     = 1
)

var eventSpec = spec{shm.KindEvent, eventVersion, eventSize}

// An Event is a flag shared by processes that goroutines can wait for:
// Python's multiprocessing.Event. Set sets it and wakes every waiter,
// Clear resets it, Wait blocks until it is set.
//
// Set and Clear are one atomic operation and make a system call only when
// someone sleeps in Wait; Wait on a set Event is one load. A Wait that
// finds it clear spins briefly before it sleeps, so a hand-off to a
// waiter that is running costs well under a microsecond.
//
// Memory model: a Set synchronizes before every Wait that returns true
// because of it. An Event must not be copied.
type Event struct {
	word     *uint32
	sleepers *uint32
	spin     spinner
	obj      object
}

// NewEvent creates an Event, clear, in a segment of its own named name. It
// takes the option WithMode.
func NewEvent(name string, opts ...Option) (*Event, error) {
	o, err := buildOptions("NewEvent", optMode, opts)
	if err != nil {
		return nil, err
	}
	r, err := createRegion(name, eventSpec, eventSize, o, nil)
	if err != nil {
		return nil, err
	}
	return newEvent(r), nil
}

// OpenEvent opens the Event named name.
func OpenEvent(name string) (*Event, error) {
	r, err := openRegion(name, eventSpec)
	if err != nil {
		return nil, err
	}
	return newEvent(r), nil
}

// NewEventIn creates an Event, clear, in the arena a.
func NewEventIn(a *shm.Arena) (*Event, error) {
	r, err := allocRegion(a, eventSpec, eventSize, nil)
	if err != nil {
		return nil, err
	}
	return newEvent(r), nil
}

// AttachEvent attaches the Event that h names.
func AttachEvent(h shm.Handle) (*Event, error) {
	r, err := attachRegion(h, eventSpec)
	if err != nil {
		return nil, err
	}
	return newEvent(r), nil
}

func newEvent(r *shm.Region) *Event {
	e := &Event{}
	e.obj.init(r)
	b := r.Bytes()
	e.word = shm.Uint32(b, eventWord)
	e.sleepers = shm.Uint32(b, eventSleepers)
	return e
}

// Set sets the flag and wakes every goroutine waiting for it, in every
// process. Setting a set Event does nothing. It panics if e is closed.
func (e *Event) Set() {
	if e.obj.closed.Load() {
		panic("semaphore: Set of closed Event")
	}
	if shm.RaceEnabled {
		shm.RaceReleaseMerge(e.obj.race)
	}
	for {
		w := atomic.LoadUint32(e.word)
		if w&eventFlag != 0 {
			return
		}
		if atomic.CompareAndSwapUint32(e.word, w, w+2+eventFlag) {
			break
		}
	}
	if atomic.LoadUint32(e.sleepers) != 0 {
		futex.Wake(e.word, -1)
	}
}

// Clear resets the flag. Waiters keep waiting for the next Set. It panics
// if e is closed.
func (e *Event) Clear() {
	if e.obj.closed.Load() {
		panic("semaphore: Clear of closed Event")
	}
	for {
		w := atomic.LoadUint32(e.word)
		if w&eventFlag == 0 || atomic.CompareAndSwapUint32(e.word, w, w&^eventFlag) {
			return
		}
	}
}

// IsSet reports whether the flag is set (false once e is closed).
func (e *Event) IsSet() bool { return !e.obj.closed.Load() && atomic.LoadUint32(e.word)&eventFlag != 0 }

// Wait blocks until the flag is set or ctx is done, and returns the flag as
// Python's Event.wait does: true at once if it is set; true if a Set
// happened while waiting (even if cleared again since); false if ctx ended
// the wait first (ctx.Err() says why) or e is closed.
func (e *Event) Wait(ctx context.Context) bool {
	if e.obj.closed.Load() {
		return false
	}
	w0 := atomic.LoadUint32(e.word)
	if w0&eventFlag == 0 && !e.waitSlow(ctx, w0) {
		settle(ctx) // so that ctx.Err() says why
		return false
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(e.obj.race)
	}
	return true
}

func (e *Event) waitSlow(ctx context.Context, w0 uint32) bool {
	set := func() bool { return atomic.LoadUint32(e.word)>>1 != w0>>1 }
	if ctx.Err() != nil {
		return false
	}
	if e.spin.run(set) {
		return true
	}
	atomic.AddUint32(e.sleepers, 1)
	defer atomic.AddUint32(e.sleepers, ^uint32(0))
	s := startSleep(ctx, e.word, 0, false)
	defer s.end()
	for {
		if set() {
			return true
		}
		if err, _ := s.poll(); err != nil {
			return false
		}
		s.sleep(e.word, w0)
	}
}

// Handle returns the handle that attaches to this Event from any process.
func (e *Event) Handle() shm.Handle { return e.obj.handle() }

// Close unmaps this process's view of the Event, once every call on it in
// this process has returned. Closing twice is a no-op.
func (e *Event) Close() error { return e.obj.close() }

// Unlink removes the Event's name.
func (e *Event) Unlink() error { return e.obj.unlink() }
