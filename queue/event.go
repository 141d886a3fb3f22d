package queue

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// event is an eventcount in shared memory: three uint32 words that let a
// process sleep until another says "something changed", with no syscall
// on the signalling side unless somebody may be asleep, and at most one
// wake-up per burst of signals.
//
//	word     written by         meaning
//	seq      signallers          the futex word: bumped before each wake
//	sleepers sleepers (add/sub)  processes registered to sleep
//	pending  signaller sets 1,   a wake is on its way and no sleeper has
//	         sleepers clear it   registered since; later signals skip it
//
// A sleeper registers (sleepers++), clears pending, loads seq, re-checks
// its condition and only then sleeps on seq. A signaller changes the
// condition first and then, only if sleepers != 0 and it wins pending
// 0 -> 1, bumps seq and wakes. The condition's change must be a
// sequentially consistent write (a CAS, an atomic store, or plain stores
// followed by ring.fence), so either the sleeper's re-check sees the
// change or the signaller sees the sleeper: no wake-up is lost. The one
// exception is ownerLock, whose unlock is a plain store and whose waiters
// fence instead (futex/fence.go). A sleeper that registers after a wake
// was sent clears pending, so the next signal wakes again.
type event struct {
	seq, sleepers, pending *uint32
	all                    bool // wake every sleeper, not one
}

func newEvent(b []byte, off int, all bool) event {
	return event{shm.Uint32(b, off), shm.Uint32(b, off+4), shm.Uint32(b, off+8), all}
}

// signal wakes a sleeper (every sleeper for an all-event) if one may be
// asleep and no wake is already pending. Without sleepers it is two loads.
func (e event) signal() {
	if atomic.LoadUint32(e.sleepers) == 0 || atomic.LoadUint32(e.pending) != 0 {
		return
	}
	if !atomic.CompareAndSwapUint32(e.pending, 0, 1) {
		return
	}
	atomic.AddUint32(e.seq, 1)
	n := 1
	if e.all {
		n = -1
	}
	futex.Wake(e.seq, n)
}

// broadcast wakes every sleeper unconditionally (Close, Detach).
func (e event) broadcast() {
	atomic.AddUint32(e.seq, 1)
	futex.Wake(e.seq, -1)
}

// prepare registers the caller as a sleeper and returns the ticket to
// sleep on. The caller must re-check its condition after prepare and then
// call either cancel or sleep.
func (e event) prepare() uint32 {
	atomic.AddUint32(e.sleepers, 1)
	atomic.StoreUint32(e.pending, 0)
	return atomic.LoadUint32(e.seq)
}

// cancel unregisters a sleeper that did not sleep.
func (e event) cancel() { atomic.AddUint32(e.sleepers, ^uint32(0)) }

// contextPoll is how often futex.WaitContext returns at the latest.
const contextPoll = 50 * time.Millisecond

// sleep waits on the ticket until a wake-up (maybe spurious), ctx is done,
// the deadline dl (monotonic ns, 0 = none) passes, or, when poll > 0, poll
// has elapsed. It unregisters the sleeper and returns nil to mean "check
// again", futex.ErrTimeout once dl has passed, or ctx's error.
func (e event) sleep(ctx context.Context, ticket uint32, dl int64, poll time.Duration) error {
	limit := dl
	if poll > 0 {
		if p := futex.DeadlineIn(poll); limit == 0 || p < limit {
			limit = p
		}
	}
	var err error
	if ctx.Done() == nil || poll > 0 && poll < contextPoll {
		// A short poll (a lock waiter's unfenced sleep, futex.FenceDelay)
		// ends soon enough that a cancellation can wait for it.
		err = futex.Wait(e.seq, ticket, limit)
	} else {
		// WaitContext wakes promptly on cancellation, honours ctx's
		// deadline (dl is always ctx's own here) and returns at least
		// every 50 ms, which serves as the poll.
		err = futex.WaitContext(ctx, e.seq, ticket)
	}
	atomic.AddUint32(e.sleepers, ^uint32(0))
	atomic.StoreUint32(e.pending, 0)
	switch {
	case err == nil || err == futex.ErrValueChanged:
		return nil
	case err == futex.ErrTimeout:
		if dl != 0 && futex.Now() >= dl {
			return futex.ErrTimeout
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return nil // our poll limit, not the caller's deadline
	default:
		return err // ctx.Err()
	}
}

// spinner is a handle's adaptive spin budget: the number of checks a
// waiter makes before it sleeps. It doubles when spinning pays and halves
// when it does not, between spinMin and spinMax.
type spinner struct{ n atomic.Int32 }

// The spin budget's bounds, in checks of a shared word (tens of
// nanoseconds each): a few microseconds at most, about the cost of the
// futex sleep and wake-up it saves.
const (
	spinMin = 16
	spinMax = 512
)

// spin calls ready up to the budget's number of times and reports whether
// it returned true. Like sync.Mutex's spin it never yields: a waiter that
// spins in vain gives up within microseconds and sleeps.
func (s *spinner) spin(ready func() bool) bool {
	n := s.n.Load()
	if n < spinMin {
		n = spinMin
	}
	for i := int32(0); i < n; i++ {
		if ready() {
			s.n.Store(min(2*n, spinMax))
			return true
		}
		pause(spinPause)
	}
	s.n.Store(max(n/2, spinMin))
	return false
}

// spinPause is the length of the pause between two checks: without one
// the spinner's reads keep stealing the cache line the other side is
// about to write (sync.Mutex uses the PAUSE instruction for this, which
// Go code cannot issue).
const spinPause = 24

// pause burns a few nanoseconds without touching shared memory (a
// function the compiler may not inline cannot be left out).
//
//go:noinline
func pause(n int) int {
	x := 0
	for i := 0; i < n; i++ {
		x += i ^ x
	}
	return x
}
