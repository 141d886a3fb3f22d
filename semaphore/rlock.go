package semaphore

import (
	"context"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// RLock layout, version 2: one 64-byte cache line.
//
//	offset size word    written by / states
//	     0    4 state   the lock word (see mutex.go), as for Lock
//	     4    4 sleepers waiters in their sleep phase, as for Lock
//	     8    8 owner   identity word of the process that acquired last,
//	                    as for Lock
//	    16    8 holder  shm.Goroutine() token of the holding goroutine;
//	                    written only by a new holder, right after the
//	                    state CAS and before hold; meaningful only while
//	                    hold is non-zero (a release leaves it stale)
//	    24    8 hold    pid<<32 | depth: the holding goroutine's process
//	                    and its recursion depth (1 after the first
//	                    acquire, +1 per nested acquire); 0 while unlocked.
//	                    Written only by the holder: after holder on the
//	                    first acquire, set to 0 just before the state word
//	                    is released
//	    32   32 (zero, reserved)
//
// The owner is a goroutine. Go has no public cheap goroutine identity (the
// one parsed from runtime.Stack costs microseconds and takes a
// process-wide lock), so the holder is named by shm.Goroutine(), the
// address of the runtime's g structure: about a nanosecond, and distinct
// for goroutines alive at the same time, like Python's thread idents. A
// goroutine is the holder exactly when hold names this process and holder
// is its token. A new holder writes holder before hold, so a reader that
// sees hold naming its own process (read first) also sees that holder's
// token, never a stale one left by an earlier holder or by a dead process
// whose lock was taken over. Each acquire and release is one store to
// hold besides the state word. A goroutine that exits while holding an
// RLock leaves it held; its token may be reused by a later goroutine,
// which then holds it (Python has the same rule for thread idents).
const (
	rlockVersion  = 2
	rlockState    = 0
	rlockSleepers = 4
	rlockOwner    = 8
	rlockHolder   = 16
	rlockHold     = 24
	rlockSize     = 64
	holdPidShift  = 32
)

var rlockSpec = spec{shm.KindRLock, rlockVersion, rlockSize}

// An RLock is a re-entrant lock shared by processes: Python's
// multiprocessing.RLock. The goroutine that holds it may acquire it again;
// every other goroutine, in this process or another, waits. Each acquire
// must be balanced by a release from the holding goroutine. Its owner is
// the pair (process, goroutine), recorded in shared memory with the
// recursion depth.
//
// The holding goroutine is recognized by shm.Goroutine(), which costs
// about a nanosecond, so an RLock costs little more than a Lock. A
// goroutine that exits while holding it leaves it held.
//
// If the holding process dies, a waiter takes the lock over as for Lock
// (see LockContext and OwnerDied). The memory-model guarantee is Lock's.
// An RLock must not be copied.
type RLock struct {
	m      mutex
	holder *uint64
	hold   *uint64
	obj    object
}

// NewRLock creates an RLock in a segment of its own named name, unlocked.
// It takes the option WithMode.
func NewRLock(name string, opts ...Option) (*RLock, error) {
	o, err := buildOptions("NewRLock", optMode, opts)
	if err != nil {
		return nil, err
	}
	r, err := createRegion(name, rlockSpec, rlockSize, o, nil)
	if err != nil {
		return nil, err
	}
	return newRLock(r), nil
}

// OpenRLock opens the RLock named name.
func OpenRLock(name string) (*RLock, error) {
	r, err := openRegion(name, rlockSpec)
	if err != nil {
		return nil, err
	}
	return newRLock(r), nil
}

// NewRLockIn creates an RLock in the arena a, unlocked.
func NewRLockIn(a *shm.Arena) (*RLock, error) {
	r, err := allocRegion(a, rlockSpec, rlockSize, nil)
	if err != nil {
		return nil, err
	}
	return newRLock(r), nil
}

// AttachRLock attaches the RLock that h names.
func AttachRLock(h shm.Handle) (*RLock, error) {
	r, err := attachRegion(h, rlockSpec)
	if err != nil {
		return nil, err
	}
	return newRLock(r), nil
}

func newRLock(r *shm.Region) *RLock {
	l := &RLock{}
	l.obj.init(r)
	b := r.Bytes()
	l.m.init(shm.Uint32(b, rlockState), shm.Uint32(b, rlockSleepers), shm.Uint64(b, rlockOwner))
	l.holder = shm.Uint64(b, rlockHolder)
	l.hold = shm.Uint64(b, rlockHold)
	return l
}

// isHolder reports whether the calling goroutine holds l. hold is read
// before holder (see the layout).
func (l *RLock) isHolder() bool {
	return uint32(atomic.LoadUint64(l.hold)>>holdPidShift) == selfPid && atomic.LoadUint64(l.holder) == shm.Goroutine()
}

// depth returns the recursion depth in hold.
func (l *RLock) depth() uint32 { return uint32(atomic.LoadUint64(l.hold)) }

// Lock acquires the lock for the calling goroutine: at once if it already
// holds it (one level deeper), else when it is free. A dead holder is
// taken over as by Lock.Lock (OwnerDied then reports true). Lock panics if
// l is closed.
func (l *RLock) Lock() {
	if l.obj.closed.Load() {
		panic("semaphore: Lock of closed RLock")
	}
	_ = l.acquire(context.Background(), true)
}

// TryLock acquires the lock if the calling goroutine holds it or it is
// free, without blocking, and reports whether it did.
func (l *RLock) TryLock() bool {
	if l.obj.closed.Load() {
		panic("semaphore: TryLock of closed RLock")
	}
	return l.acquire(context.Background(), false) == nil
}

// LockContext acquires the lock as Lock does, or gives up when ctx is done.
// It returns nil, ErrOwnerDied (acquired from a dead holder), or ctx.Err()
// with the lock unchanged.
func (l *RLock) LockContext(ctx context.Context) error {
	if err := l.obj.check(); err != nil {
		return err
	}
	return l.acquire(ctx, true)
}

var errBusy = context.DeadlineExceeded

func (l *RLock) acquire(ctx context.Context, block bool) error {
	if l.isHolder() {
		atomic.StoreUint64(l.hold, atomic.LoadUint64(l.hold)+1)
		return nil
	}
	var err error
	if !l.m.tryLock() {
		if !block {
			return errBusy
		}
		if err = ctx.Err(); err != nil {
			return err
		}
		if err = l.m.lockSlow(ctx); err != nil && err != ErrOwnerDied {
			return err
		}
	}
	l.take(1)
	return err
}

// take records the calling goroutine as the holder, after the state word
// was acquired: holder before hold (see the layout).
func (l *RLock) take(depth uint32) {
	h := uint64(selfPid)<<holdPidShift | uint64(depth)
	if g := shm.Goroutine(); atomic.LoadUint64(l.holder) != g {
		// A new holder token, then hold, both with ordered stores: a
		// reader that sees hold name its process sees this token.
		atomic.StoreUint64(l.holder, g)
		atomic.StoreUint64(l.hold, h)
	} else {
		// The same goroutine again (releases leave the token): holder is
		// already right and was published before the previous release,
		// which the state CAS just ordered before this point, so a plain
		// store of hold suffices (one fenced store saved).
		*l.hold = h
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(l.obj.race)
	}
}

// Unlock releases one level of the calling goroutine's hold; the last
// release unlocks. It panics if the calling goroutine does not hold the
// lock; use Release to get an error instead.
func (l *RLock) Unlock() {
	if err := l.Release(); err != nil {
		panic("semaphore: unlock of RLock not held by this goroutine")
	}
}

// Release releases one level of the calling goroutine's hold, as Unlock
// does, but returns ErrNotOwner (multiprocessing's AssertionError "attempt
// to release recursive lock not owned by thread") if the goroutine does
// not hold the lock, leaving it unchanged.
func (l *RLock) Release() error {
	if err := l.obj.check(); err != nil {
		return err
	}
	if !l.isHolder() {
		return ErrNotOwner
	}
	if h := atomic.LoadUint64(l.hold); uint32(h) > 1 {
		atomic.StoreUint64(l.hold, h-1)
		return nil
	}
	l.drop()
	return nil
}

// drop releases the state word entirely; the caller is the holder.
func (l *RLock) drop() {
	// A plain store: the unlock below stores the state word after it (a
	// plain store too on amd64, whose stores are seen in program order;
	// a store-release elsewhere), so no reader sees the lock free with
	// hold still set; and while hold changes from this holder's value to 0
	// no other goroutine can read it as naming itself. It saves a fenced
	// store (~6 ns) on every release.
	*l.hold = 0
	if shm.RaceEnabled {
		shm.RaceReleaseMerge(l.obj.race)
	}
	l.m.unlock()
}

// Depth returns how many times the calling goroutine holds the lock (0 if
// it does not hold it).
func (l *RLock) Depth() int {
	if l.obj.closed.Load() || !l.isHolder() {
		return 0
	}
	return int(l.depth())
}

// Locked reports whether the lock is held, by anyone (false once l is
// closed, as for Lock).
func (l *RLock) Locked() bool { return !l.obj.closed.Load() && atomic.LoadUint32(l.m.state) != 0 }

// OwnerDied reports whether the lock is held and this holding began by
// taking it over from a holder whose process had died. It is reset by the
// last release.
func (l *RLock) OwnerDied() bool { return !l.obj.closed.Load() && l.m.ownerDied() }

// Handle returns the handle that attaches to this RLock from any process.
func (l *RLock) Handle() shm.Handle { return l.obj.handle() }

// Close unmaps this process's view of the RLock, once every call on it in
// this process has returned. Closing twice is a no-op.
func (l *RLock) Close() error { return l.obj.close() }

// Unlink removes the RLock's name.
func (l *RLock) Unlink() error { return l.obj.unlink() }

// The Condition's view of an RLock: Wait releases every level and restores
// them (Python's _release_save and _acquire_restore).
func (l *RLock) condLock() condLock { return (*rlockCond)(l) }

type rlockCond RLock

func (c *rlockCond) held() bool { return (*RLock)(c).isHolder() }

func (c *rlockCond) releaseAll() uint32 {
	l := (*RLock)(c)
	d := l.depth()
	l.drop()
	return d
}

func (c *rlockCond) restore(depth uint32) error {
	l := (*RLock)(c)
	var err error
	if !l.m.tryLock() {
		err = l.m.lockSlow(context.Background())
	}
	l.take(depth)
	return err
}
