package semaphore

import (
	"context"
	"sync/atomic"

	"github.com/mproc/mproc/futex"
)

// The lock word: the state of Lock, RLock and a Barrier's internal lock, a
// uint32 that is also the futex word the waiters sleep on; and the
// sleepers word beside it, on the same cache line.
//
//	state:
//	bit 0     (zero; was the waiters bit in layout version 1)
//	bit 1     mDied     the holder took the lock over from a dead owner
//	bits 2-31           pid of the holding process (pid_max <= 2^22)
//
//	0                  unlocked
//	pid<<2             held by a goroutine of process pid
//	pid<<2|mDied       held after a takeover
//
//	sleepers: the number of waiters in their sleep phase; each adds 1
//	before it first looks at state to sleep on it and subtracts 1 when it
//	leaves (with the lock or without)
//
// Transitions of state, each one atomic step:
//
//	0 → me<<2            acquire (CAS), by the fast path, a spinner or a
//	                     sleeper
//	s → 0                release: a store (plain where release.go allows),
//	                     then a load of sleepers, and a wake of one
//	                     sleeper if it is non-zero
//	s → me<<2|mDied      takeover (CAS from the observed s), by a waiter
//	                     that found pid(s) dead
//
// A waiter that sleeps counts itself in sleepers, then reads state and
// sleeps on the value it read (FUTEX_WAIT fails at once if state has
// changed since): for at most fenceDelay, and after that, once it has
// called sleepFence, without limit. release.go shows why a release then
// misses it at most once, for at most fenceDelay. A sleeper that gives up (deadline, cancellation) may
// have taken the wake-up meant for another: passOn makes up for it.
//
// The owner word beside it (uint64) is the identity word (pid<<40|start)
// of the process that acquired last, written by the acquirer right after
// its CAS and only when it differs, so a process that takes its own lock
// again writes nothing (Lock's fast path reads it first, and takes the
// slow path, which writes it, unless it already names this process). A
// death check reads the pid from the lock word and the start time from the
// owner word when the pids agree; when they do not (the acquirer has not
// written it yet, was killed first, or lost the race described at
// Lock.Lock) the check goes by the pid alone: a dead pid is dead whatever
// its start time, and only a pid reused within that window could pass for
// the dead holder.
//
// A waiter spins (spinner), then sleeps; every checkInterval of sleeping,
// and once more before giving up at its deadline, it checks whether the
// holder lives (one read of /proc/PID/stat). TryLock never sleeps and so
// never checks. A takeover's CAS starts from the word the checker
// observed, so of several waiters that find the holder dead exactly one
// takes over, and a holder that released meanwhile is never overwritten.
// A process killed between its release store and its load of sleepers
// leaves a sleeper unwoken until that sleeper's next periodic check.
const (
	mDied    = 1 << 1
	pidShift = 2
)

// mutex is a lock word, sleepers word and owner word in shared memory.
type mutex struct {
	state    *uint32
	sleepers *uint32
	owner    *uint64
	me       uint32 // this process's held state: selfPid<<pidShift
	spin     spinner
}

func (m *mutex) init(state, sleepers *uint32, owner *uint64) {
	processSetup.Do(setupProcess)
	m.state, m.sleepers, m.owner, m.me = state, sleepers, owner, selfPid<<pidShift
}

// tryLock is the fast path: one CAS.
func (m *mutex) tryLock() bool {
	if atomic.CompareAndSwapUint32(m.state, 0, m.me) {
		m.setOwner()
		return true
	}
	return false
}

func (m *mutex) setOwner() {
	if atomic.LoadUint64(m.owner) != selfWord {
		atomic.StoreUint64(m.owner, selfWord)
	}
}

// unlock releases the word and returns its previous state (0: it was not
// locked, and nothing changed). It is for callers that hold the lock (the
// Barrier's and RLock's); Lock.Release, which anyone may call, swaps.
func (m *mutex) unlock() uint32 {
	st, sl := m.state, m.sleepers
	old := atomic.LoadUint32(st)
	if old == 0 {
		return 0
	}
	releaseWord(st)
	if atomic.LoadUint32(sl) != 0 {
		futex.Wake(st, 1)
	}
	return old
}

// heldByThisProcess reports whether a goroutine of this process holds the
// word.
func (m *mutex) heldByThisProcess() bool {
	return atomic.LoadUint32(m.state)>>pidShift == selfPid
}

// ownerDied reports whether the current holding began with a takeover.
func (m *mutex) ownerDied() bool {
	s := atomic.LoadUint32(m.state)
	return s != 0 && s&mDied != 0
}

// ownerDead reports whether the holder recorded in s is dead.
func (m *mutex) ownerDead(s uint32) bool {
	pid := s >> pidShift
	var start uint64
	if o := atomic.LoadUint64(m.owner); uint32(o>>identPidShift) == pid {
		start = o & startMask
	}
	return !alive(pid, start)
}

// lockSlow acquires the word after the fast path failed. It returns nil,
// ErrOwnerDied (acquired by takeover) or ctx's error (not acquired; the word
// is unchanged but for the mWaiters bit).
func (m *mutex) lockSlow(ctx context.Context) error {
	if m.spin.run(func() bool {
		return atomic.LoadUint32(m.state) == 0 && atomic.CompareAndSwapUint32(m.state, 0, m.me)
	}) {
		m.setOwner()
		return nil
	}
	return m.lockSleep(ctx)
}

// mutexSleeps counts the waits of this process that reached the sleep
// phase of a lock word (a test hook).
var mutexSleeps atomic.Int64

func (m *mutex) lockSleep(ctx context.Context) error {
	w := startSleep(ctx, m.state, 0, true)
	defer w.end()
	atomic.AddUint32(m.sleepers, 1)
	defer atomic.AddUint32(m.sleepers, ^uint32(0))
	mutexSleeps.Add(1)
	// Until fenced, sleeps end by fenceAt at the latest (see release.go).
	fenced, fenceAt := !canFence, futex.Now()+fenceDelay
	for {
		s := atomic.LoadUint32(m.state)
		if s == 0 {
			if atomic.CompareAndSwapUint32(m.state, 0, m.me) {
				m.setOwner()
				return nil
			}
			continue
		}
		err, check := w.poll()
		if check {
			if m.ownerDead(s) {
				if atomic.CompareAndSwapUint32(m.state, s, m.me|mDied) {
					m.setOwner()
					return ErrOwnerDied
				}
				continue
			}
		}
		if err != nil {
			m.passOn()
			return err
		}
		if fenced {
			w.sleep(m.state, s)
			continue
		}
		if futex.Now() >= fenceAt {
			if fenced = sleepFence(); !fenced {
				fenceAt = futex.Now() + fenceDelay
			}
			continue // look at the word again after the fence
		}
		until := w.until()
		if until == 0 || until > fenceAt {
			until = fenceAt
		}
		futex.Wait(m.state, s, until)
	}
}

// passOn is called by a sleeper that gives up: it may have taken a wake-up
// meant for another sleeper, so if the word is free it wakes one (if the
// word is held, its release will, as the other sleeper is counted).
func (m *mutex) passOn() {
	if atomic.LoadUint32(m.state) == 0 && atomic.LoadUint32(m.sleepers) > 1 {
		futex.Wake(m.state, 1)
	}
}
