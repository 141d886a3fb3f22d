package semaphore

import (
	"context"
	"sync/atomic"

	"github.com/mproc/mproc/futex"
)

// The lock word: the state of Lock, RLock and a Barrier's internal lock, a
// uint32 that is also the futex word the waiters sleep on.
//
//	bit 0     mWaiters  a waiter may be asleep on the word: the release
//	                    must wake one
//	bit 1     mDied     the holder took the lock over from a dead owner
//	bits 2-31           pid of the holding process (pid_max <= 2^22)
//
//	0                        unlocked
//	pid<<2                   held by a goroutine of process pid, no sleeper
//	pid<<2|mWaiters          held, maybe sleepers
//	pid<<2|mDied|mWaiters    held after a takeover
//
// Transitions, each one atomic operation:
//
//	0 → me<<2                  acquire, fast path (CAS)
//	0 → me<<2|mWaiters         acquire by a waiter that has slept (it cannot
//	                           know whether others sleep, so it assumes so)
//	s → s|mWaiters             a waiter, before it sleeps (CAS)
//	s → 0                      release (swap); wake one if mWaiters was set
//	s → me<<2|mDied|mWaiters   takeover (CAS from the observed s), by a
//	                           waiter that found pid(s) dead
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
const (
	mWaiters = 1 << 0
	mDied    = 1 << 1
	pidShift = 2
)

// mutex is a lock word and owner word in shared memory.
type mutex struct {
	state *uint32
	owner *uint64
	me    uint32 // this process's held state: selfPid<<pidShift
	spin  spinner
}

func (m *mutex) init(state *uint32, owner *uint64) {
	m.state, m.owner, m.me = state, owner, selfPid<<pidShift
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
// locked, and nothing changed).
func (m *mutex) unlock() uint32 {
	st := m.state
	old := atomic.SwapUint32(st, 0)
	if old&mWaiters != 0 {
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

func (m *mutex) lockSleep(ctx context.Context) error {
	w := startSleep(ctx, m.state, 0, true)
	defer w.end()
	for {
		s := atomic.LoadUint32(m.state)
		if s == 0 {
			if atomic.CompareAndSwapUint32(m.state, 0, m.me|mWaiters) {
				m.setOwner()
				return nil
			}
			continue
		}
		if s&mWaiters == 0 {
			if !atomic.CompareAndSwapUint32(m.state, s, s|mWaiters) {
				continue
			}
			s |= mWaiters
		}
		err, check := w.poll()
		if check {
			if m.ownerDead(s) {
				if atomic.CompareAndSwapUint32(m.state, s, m.me|mDied|mWaiters) {
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
		w.sleep(m.state, s)
	}
}

// passOn is called by a waiter that gives up: it may have taken a wake-up
// meant for the next waiter, so it makes sure one will come (the mWaiters
// bit set on a held word, or a wake on a free one).
func (m *mutex) passOn() {
	for {
		s := atomic.LoadUint32(m.state)
		if s == 0 {
			futex.Wake(m.state, 1)
			return
		}
		if s&mWaiters != 0 || atomic.CompareAndSwapUint32(m.state, s, s|mWaiters) {
			return
		}
	}
}
