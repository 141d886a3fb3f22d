package semaphore

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/shm"
)

// Read-only inspection, for tools such as "mproc inspect": Inspect decodes
// a primitive's shared state from its layout (see the layout comments of
// lock.go, rlock.go, semaphore.go, condition.go, event.go and barrier.go)
// with atomic loads only. It never writes a byte of the object, takes no
// lock and wakes nobody, so it is safe on a live object; each word is read
// once, so a snapshot of an object in use may mix moments.

// State is a snapshot of one primitive's shared state, as Inspect decodes
// it. Kind says which one; exactly the matching pointer is set.
type State struct {
	Kind      shm.Kind
	Lock      *LockState      // KindLock and KindRLock
	Semaphore *SemaphoreState // KindSemaphore and KindBoundedSemaphore
	Condition *ConditionState // KindCondition
	Event     *EventState     // KindEvent
	Barrier   *BarrierState   // KindBarrier
}

// Process is a process recorded in a layout and whether it still runs
// (by pid and, where the layout records it, start time; Start is 0 where
// it does not). The zero Process means none.
type Process struct {
	shm.Identity
	Alive bool
}

// LockState is the state of a Lock or an RLock (or a Barrier's internal
// lock).
type LockState struct {
	Locked bool
	// Holder is the process holding the lock (zero while unlocked).
	Holder Process
	// Waiters reports that a waiter is in its sleep phase on the lock
	// (the layout counts them; spinning waiters are not counted).
	Waiters bool
	// OwnerDied reports that this holding began by taking the lock over
	// from a holder whose process had died.
	OwnerDied bool
	// LastOwner is the process that acquired the lock last (the owner
	// word), also after it released it.
	LastOwner Process
	// Depth is an RLock's recursion depth (0 while unlocked; always 0 for
	// a Lock).
	Depth uint32
	// Goroutine is the shm.Goroutine token of the goroutine holding an
	// RLock, in the holder's process (0 while unlocked, and for a Lock).
	Goroutine uint64
}

// SemaphoreState is the state of a Semaphore or a BoundedSemaphore.
type SemaphoreState struct {
	Value    uint32 // free permits
	Bound    uint32 // a BoundedSemaphore's bound (its initial value); 0 for a Semaphore
	Sleepers uint32 // acquirers in their sleep phase (waiting for a permit)
}

// EventState is the state of an Event.
type EventState struct {
	Set        bool
	Generation uint32 // number of times it was set (clear → set), mod 2^31
	Sleepers   uint32 // waiters in their sleep phase
}

// ConditionState is the state of a Condition.
type ConditionState struct {
	Lock     shm.Handle // the condition's lock
	OwnsLock bool       // the lock was made with the condition
	Slots    uint32     // waiter slots: the most waiters at once
	// Pending counts the tickets Notify has not passed yet: waiters and
	// cancelled waits queued behind one.
	Pending uint32
	// Waiters are the goroutines waiting now, oldest first.
	Waiters []ConditionWaiter
}

// ConditionWaiter is one goroutine waiting on a Condition.
type ConditionWaiter struct {
	Process
	Sleeping bool          // asleep on its futex word (not spinning)
	Waited   time.Duration // how long it has waited (millisecond resolution)
}

// BarrierState is the state of a Barrier.
type BarrierState struct {
	Parties uint32
	// Waiting counts the parties that arrived in the current generation
	// (it equals Parties while the last arriver runs the action).
	Waiting    uint32
	Generation uint32 // generations released or broken so far, mod 2^31
	Broken     bool
	Timeout    time.Duration // the default timeout (0: none)
	Sleepers   uint32        // waiters in their sleep phase
	Arrived    []Process     // the parties that arrived, in arrival order
	Lock       LockState     // the internal lock
}

// LayoutVersion returns the layout version of kind that this build reads
// and writes, or 0 for a kind that is not this package's.
func LayoutVersion(kind shm.Kind) uint32 {
	if sp, ok := inspectSpecs[kind]; ok {
		return sp.version
	}
	return 0
}

var inspectSpecs = map[shm.Kind]spec{
	shm.KindLock:             lockSpec,
	shm.KindRLock:            rlockSpec,
	shm.KindSemaphore:        semSpec,
	shm.KindBoundedSemaphore: boundedSemSpec,
	shm.KindCondition:        condSpec,
	shm.KindEvent:            eventSpec,
	shm.KindBarrier:          barrierSpec,
}

// Inspect decodes the state of the primitive r holds, reading it only.
// The region's kind must be one of this package's (else an error matching
// shm.ErrKind), its layout version this build's (else shm.ErrVersion) and
// its size at least the layout's (else shm.ErrShort); immutable fields
// that no primitive could hold are ErrCorrupt.
func Inspect(r *shm.Region) (State, error) {
	h := r.Handle()
	sp, ok := inspectSpecs[h.Kind]
	if !ok {
		return State{}, fmt.Errorf("semaphore: inspect: %w: %v is not a kind of this package", shm.ErrKind, h.Kind)
	}
	if h.Version != sp.version {
		return State{}, fmt.Errorf("semaphore: inspect: %w: %v layout version %d, this build reads %d", shm.ErrVersion, h.Kind, h.Version, sp.version)
	}
	b := r.Bytes()
	if len(b) < sp.size {
		return State{}, fmt.Errorf("semaphore: inspect: %w: a %v needs %d bytes, the object has %d", shm.ErrShort, h.Kind, sp.size, len(b))
	}
	st := State{Kind: h.Kind}
	var err error
	switch h.Kind {
	case shm.KindLock:
		ls := inspectMutex(b, lockState, lockSleepers, lockOwner)
		st.Lock = &ls
	case shm.KindRLock:
		ls := inspectMutex(b, rlockState, rlockSleepers, rlockOwner)
		if hold := atomic.LoadUint64(shm.Uint64(b, rlockHold)); hold != 0 {
			ls.Depth = uint32(hold)
			ls.Goroutine = atomic.LoadUint64(shm.Uint64(b, rlockHolder))
		}
		st.Lock = &ls
	case shm.KindSemaphore, shm.KindBoundedSemaphore:
		st.Semaphore = &SemaphoreState{
			Value:    atomic.LoadUint32(shm.Uint32(b, semValue)),
			Bound:    atomic.LoadUint32(shm.Uint32(b, semLimit)),
			Sleepers: atomic.LoadUint32(shm.Uint32(b, semSleepers)),
		}
	case shm.KindEvent:
		w := atomic.LoadUint32(shm.Uint32(b, eventWord))
		st.Event = &EventState{
			Set:        w&eventFlag != 0,
			Generation: w >> 1,
			Sleepers:   atomic.LoadUint32(shm.Uint32(b, eventSleepers)),
		}
	case shm.KindCondition:
		st.Condition, err = inspectCondition(b)
	case shm.KindBarrier:
		st.Barrier, err = inspectBarrier(b)
	}
	if err != nil {
		return State{}, fmt.Errorf("semaphore: inspect %v: %w", h, err)
	}
	return st, nil
}

// inspectMutex decodes a lock word, its sleepers word and its owner word
// (see mutex.go).
func inspectMutex(b []byte, stateOff, sleepersOff, ownerOff int) LockState {
	s := atomic.LoadUint32(shm.Uint32(b, stateOff))
	owner := identOf(atomic.LoadUint64(shm.Uint64(b, ownerOff)))
	ls := LockState{
		Locked:    s != 0,
		Waiters:   atomic.LoadUint32(shm.Uint32(b, sleepersOff)) != 0,
		OwnerDied: s != 0 && s&mDied != 0,
	}
	if owner.Pid != 0 {
		ls.LastOwner = Process{owner, alive(uint32(owner.Pid), owner.Start)}
	}
	if pid := s >> pidShift; pid != 0 {
		id := shm.Identity{Pid: int32(pid)}
		if uint32(owner.Pid) == pid {
			id.Start = owner.Start
		}
		ls.Holder = Process{id, alive(pid, id.Start)}
	}
	return ls
}

func inspectCondition(b []byte) (*ConditionState, error) {
	n := atomic.LoadUint32(shm.Uint32(b, condSlots))
	if n < 1 || n > MaxWaiters || condSlotOff+condSlotSize*int(n) > len(b) {
		return nil, fmt.Errorf("%w: %d waiter slots in %d bytes", ErrCorrupt, n, len(b))
	}
	ln := atomic.LoadUint32(shm.Uint32(b, condLockLen))
	if ln == 0 || ln > condLockMax {
		return nil, fmt.Errorf("%w: lock handle of %d bytes", ErrCorrupt, ln)
	}
	// The lock's handle is immutable once the condition is published.
	lock, err := shm.ParseHandle(string(b[condLockText : condLockText+int(ln)]))
	if err != nil {
		return nil, fmt.Errorf("%w: lock handle: %v", ErrCorrupt, err)
	}
	cs := &ConditionState{
		Lock:     lock,
		OwnsLock: atomic.LoadUint32(shm.Uint32(b, condFlags))&condFlagMadeLock != 0,
		Slots:    n,
	}
	// wait and notify are two words read at two moments. notify only
	// grows, so if it reads the same before and after wait, the pair held
	// together when wait was read, and wait-notify <= n then.
	var wait, notify uint32
	for try := 0; ; try++ {
		notify = atomic.LoadUint32(shm.Uint32(b, condNotify))
		wait = atomic.LoadUint32(shm.Uint32(b, condWait))
		if atomic.LoadUint32(shm.Uint32(b, condNotify)) == notify && wait-notify <= n || try == 100 {
			break
		}
	}
	cs.Pending = min(wait-notify, n)
	slots := shm.Slice[condSlot](b, condSlotOff, int(n))
	now := nowMs()
	for t := notify; t != notify+cs.Pending; t++ {
		sl := &slots[t%n]
		pid := atomic.LoadUint32(&sl.pid)
		if pid == 0 {
			continue // cancelled (or notified since we read notify)
		}
		cs.Waiters = append(cs.Waiters, ConditionWaiter{
			Process:  Process{shm.Identity{Pid: int32(pid)}, alive(pid, 0)},
			Sleeping: atomic.LoadUint32(&sl.seq)&1 != 0,
			Waited:   time.Duration(now-atomic.LoadUint32(&sl.since)) * time.Millisecond,
		})
	}
	return cs, nil
}

func inspectBarrier(b []byte) (*BarrierState, error) {
	parties := atomic.LoadUint32(shm.Uint32(b, barrierParties))
	if parties < 1 || parties > MaxParties || barrierArrived+8*int(parties) > len(b) {
		return nil, fmt.Errorf("%w: %d parties in %d bytes", ErrCorrupt, parties, len(b))
	}
	timeout := atomic.LoadInt64(shm.Int64(b, barrierTimeout))
	if timeout < 0 {
		return nil, fmt.Errorf("%w: default timeout %d", ErrCorrupt, timeout)
	}
	phase := atomic.LoadUint32(shm.Uint32(b, barrierPhase))
	bs := &BarrierState{
		Parties:    parties,
		Waiting:    min(atomic.LoadUint32(shm.Uint32(b, barrierCount)), parties),
		Generation: phase >> 1,
		Broken:     phase&phaseBroken != 0,
		Timeout:    time.Duration(timeout),
		Sleepers:   atomic.LoadUint32(shm.Uint32(b, barrierSleepers)),
		Lock:       inspectMutex(b, barrierLock, barrierLSleepers, barrierOwner),
	}
	arrived := shm.Slice[uint64](b, barrierArrived, int(parties))
	for i := range bs.Waiting {
		id := identOf(atomic.LoadUint64(&arrived[i]))
		bs.Arrived = append(bs.Arrived, Process{id, id.Pid != 0 && alive(uint32(id.Pid), id.Start)})
	}
	return bs, nil
}
