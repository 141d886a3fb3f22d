package semaphore

import (
	"sync/atomic"
	"time"
)

// Test hooks.

// SpuriousWakeups returns how many times a Condition waiter of this
// process woke from its futex without being notified.
func SpuriousWakeups() int64 { return spuriousWakeups.Load() }

// SetSpin sets the spin budget's bounds (hi <= 0: no spinning) and returns
// a function restoring the defaults.
func SetSpin(lo, hi time.Duration) func() {
	spinLo.Store(int64(lo))
	spinHi.Store(int64(hi))
	return func() {
		spinLo.Store(int64(spinMin))
		spinHi.Store(int64(spinMax))
	}
}

// MutexSleeps returns how many lock waits of this process reached their
// sleep phase.
func MutexSleeps() int64 { return mutexSleeps.Load() }

// PlainRelease reports whether this process releases lock words with a
// plain store (see release.go).
func PlainRelease() bool { return plainRelease }

// SetCheckInterval sets the period of the dead-process checks.
func SetCheckInterval(d time.Duration) { checkInterval.Store(int64(d)) }

// CondPending returns the number of tickets not yet passed by Notify
// (waiting, or cancelled behind a waiting one).
func CondPending(c *Condition) int {
	return int(atomic.LoadUint32(c.wait) - atomic.LoadUint32(c.notify))
}

// CondOldestAge returns how long the oldest pending waiter has waited.
func CondOldestAge(c *Condition) time.Duration {
	sl := c.slot(atomic.LoadUint32(c.notify))
	return time.Duration(nowMs()-atomic.LoadUint32(&sl.since)) * time.Millisecond
}

// EventSleepers returns the number of Event waiters in their sleep phase.
func EventSleepers(e *Event) int { return int(atomic.LoadUint32(e.sleepers)) }

// BarrierSleepers returns the number of Barrier waiters in their sleep
// phase.
func BarrierSleepers(b *Barrier) int { return int(atomic.LoadUint32(b.sleepers)) }
