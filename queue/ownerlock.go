package queue

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// ownerLock is the short lock that serialises one side's bookkeeping (the
// producers' reservations, or the consumers' claims), robust against its
// holder's death.
//
//	word   states
//	lock   0 = free; otherwise the holder's owner tag (see ownerTag).
//	       0 -> tag by CAS (lock), tag -> 0 by store (unlock: a plain
//	       store where futex.EnablePlainRelease allows, see unlock),
//	       deadTag -> tag by CAS (take-over, after checking deadTag's
//	       process is gone).
//	ev     an event that unlock signals when somebody sleeps.
//
// Goroutines of one process share a tag; they still exclude each other,
// since the lock is taken by CAS from 0. A waiter that has waited
// lockPoll and still sees the same holder checks whether the holder's
// process lives (pid and start time); if it died, the waiter takes the
// lock over with one CAS and is told so (recovered), to repair what the
// dead holder may have left half-done. The critical sections are a few
// dozen instructions and never block, so a live holder is never taken
// for dead.
type ownerLock struct {
	word *uint64
	ev   event
}

// lockPoll is how long a lock waiter sleeps before it checks the holder.
var lockPoll = 10 * time.Millisecond

// lock takes the lock for tag. It reports recovered = true when it took
// the lock over from a dead holder. It fails only when ctx is done or the
// deadline dl passes.
func (l *ownerLock) lock(ctx context.Context, dl int64, tag uint64) (recovered bool, err error) {
	if atomic.CompareAndSwapUint64(l.word, 0, tag) {
		return false, nil
	}
	return l.lockSlow(ctx, dl, tag)
}

func (l *ownerLock) lockSlow(ctx context.Context, dl int64, tag uint64) (bool, error) {
	for i := 0; i < 64; i++ {
		if atomic.LoadUint64(l.word) == 0 && atomic.CompareAndSwapUint64(l.word, 0, tag) {
			return false, nil
		}
	}
	var seen uint64
	var since int64
	// The holder releases with a plain store where it can (futex/fence.go).
	// The event's sleeper is counted from prepare to the end of its sleep
	// only, so every registration needs a fence of its own, made after it
	// and before the word is read, for its sleep to be unbounded; the
	// first FenceDelay of the wait sleeps bounded, without one.
	fenceAt := futex.Now() + futex.FenceDelay
	for {
		ticket := l.ev.prepare()
		fenced := !futex.CanFence()
		if !fenced && futex.Now() >= fenceAt {
			fenced = futex.Fence()
		}
		holder := atomic.LoadUint64(l.word)
		if holder == 0 {
			l.ev.cancel()
			if atomic.CompareAndSwapUint64(l.word, 0, tag) {
				return false, nil
			}
			continue
		}
		if holder != seen {
			seen, since = holder, futex.Now()
		} else if futex.Now()-since >= int64(lockPoll) && !tagAlive(holder) {
			l.ev.cancel()
			if atomic.CompareAndSwapUint64(l.word, holder, tag) {
				return true, nil
			}
			continue
		}
		poll := lockPoll
		if !fenced {
			// Until fenceAt, or FenceDelay at a time once a fence failed.
			poll = time.Duration(futex.FenceDelay)
			if left := fenceAt - futex.Now(); left > 0 {
				poll = time.Duration(left)
			}
		}
		if err := l.ev.sleep(ctx, ticket, dl, poll); err != nil {
			return false, err
		}
	}
}

// plainUnlock: this process releases ownerLocks with a plain store
// (futex/fence.go). unlockSetup sets it before the process's first ring.
var (
	plainUnlock bool
	unlockSetup sync.Once
)

func setupUnlock() { plainUnlock = futex.EnablePlainRelease() }

// unlock releases the lock and wakes a waiter if one may sleep: a store
// (plain where plainUnlock allows it: the critical section's stores are
// ordered before it, and the waiters fence) and the event's load of its
// sleepers.
func (l *ownerLock) unlock() {
	if plainUnlock {
		*l.word = 0
	} else {
		atomic.StoreUint64(l.word, 0)
	}
	l.ev.signal()
}

// ownerTag is this process's tag: pid<<32 | the low 32 bits of its start
// time.
func ownerTag() uint64 {
	id := shm.Self()
	return uint64(uint32(id.Pid))<<32 | uint64(uint32(id.Start))
}

// tagAlive reports whether the process a tag names still runs. Only a
// definite answer counts as dead: no such pid, a pid now started at
// another time, or a zombie. When /proc cannot tell, the owner is taken
// for alive (waiting is safe; stealing from a live owner is not).
func tagAlive(tag uint64) bool {
	pid := int(tag >> 32)
	if pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		return tag == ownerTag() // else a dead process that had our pid
	}
	id, err := shm.IdentityOf(pid)
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist)
	}
	if lo := uint32(tag); lo != 0 && uint32(id.Start) != lo {
		return false
	}
	return id.Alive()
}
