package semaphore

import (
	"context"
	"sync/atomic"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// Lock layout, version 2: one 64-byte cache line.
//
//	offset size word     written by / states
//	     0    4 state    the lock word (see mutex.go): 0 unlocked, or the
//	                     holder's pid<<2 with the mDied bit; CAS by
//	                     acquirers, stored 0 by the release, which any
//	                     process may do
//	     4    4 sleepers waiters in their sleep phase (see mutex.go);
//	                     added to and subtracted from by the waiters, read
//	                     by the release
//	     8    8 owner    identity word (pid<<40|start) of the process that
//	                     acquired last; written by that process right after
//	                     its CAS, read by waiters checking for a dead owner
//	    16   48 (zero, reserved)
//
// The holder's only writes are on this line, which its CAS has just made
// its own; waiters write the line only to count themselves in sleepers.
// Version 1 kept a waiters bit in state and released with a swap.
const (
	lockVersion  = 2
	lockState    = 0
	lockSleepers = 4
	lockOwner    = 8
	lockSize     = 64
)

var lockSpec = spec{shm.KindLock, lockVersion, lockSize}

// A Lock is a mutual exclusion lock shared by processes: Python's
// multiprocessing.Lock. It is not re-entrant; any goroutine of any process
// may release it, not only the one that acquired it (as in Python).
//
// The uncontended Lock and Unlock are one atomic instruction each and
// make no system call; a contended Lock spins briefly, then sleeps on a
// futex. A Lock records its holder's process, and a waiter that finds the
// holder dead takes the lock over (see LockContext and OwnerDied).
//
// In the terms of the Go memory model, the n'th Unlock (or Release)
// synchronizes before the m'th Lock returns, for n < m, across goroutines
// and processes; with -race the detector knows this for the goroutines of
// one process.
//
// A Lock must not be copied. Its methods may be called from any number of
// goroutines; Close must not be called while another goroutine uses it.
type Lock struct {
	m    mutex
	obj  object
	tomb struct { // the words m points at after Close
		state    uint32
		sleepers uint32
		owner    uint64
	}
}

// NewLock creates a Lock in a segment of its own named name (see
// shm.ValidateName), unlocked. It fails with an error matching shm.ErrExist
// if the name is taken. It takes the option WithMode.
func NewLock(name string, opts ...Option) (*Lock, error) {
	o, err := buildOptions("NewLock", optMode, opts)
	if err != nil {
		return nil, err
	}
	r, err := createRegion(name, lockSpec, lockSize, o, nil)
	if err != nil {
		return nil, err
	}
	return newLock(r), nil
}

// OpenLock opens the Lock named name. A name that holds another kind of
// object is an error matching shm.ErrKind.
func OpenLock(name string) (*Lock, error) {
	r, err := openRegion(name, lockSpec)
	if err != nil {
		return nil, err
	}
	return newLock(r), nil
}

// NewLockIn creates a Lock in the arena a, unlocked.
func NewLockIn(a *shm.Arena) (*Lock, error) {
	r, err := allocRegion(a, lockSpec, lockSize, nil)
	if err != nil {
		return nil, err
	}
	return newLock(r), nil
}

// AttachLock attaches the Lock that h names (from Handle, in any process).
func AttachLock(h shm.Handle) (*Lock, error) {
	r, err := attachRegion(h, lockSpec)
	if err != nil {
		return nil, err
	}
	return newLock(r), nil
}

func newLock(r *shm.Region) *Lock {
	l := &Lock{}
	l.obj.init(r)
	b := r.Bytes()
	l.m.init(shm.Uint32(b, lockState), shm.Uint32(b, lockSleepers), shm.Uint64(b, lockOwner))
	return l
}

// Lock acquires the lock, blocking until it is free. If the holder's
// process dies, Lock takes the lock over within about
// DefaultCheckInterval and returns normally: OwnerDied then reports true
// until the Unlock that ends this holding. Use LockContext to be told with
// an error instead. Lock panics if l is closed.
func (l *Lock) Lock() {
	// The fast path: a load of the owner word (on the state word's cache
	// line), which names this process unless another process took the lock
	// last, and one CAS. In the rare case that another process takes and
	// releases the lock between the two, the owner word is left naming it;
	// the death check then goes by the pid alone (see mutex.go).
	if atomic.LoadUint64(l.m.owner) != selfWord || !atomic.CompareAndSwapUint32(l.m.state, 0, l.m.me) {
		l.lockSlow()
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(l.obj.race)
	}
}

func (l *Lock) lockSlow() {
	if l.obj.closed.Load() {
		panic("semaphore: Lock of closed Lock")
	}
	if !l.m.tryLock() {
		_ = l.m.lockSlow(context.Background()) // nil or ErrOwnerDied: held either way
	}
}

// TryLock acquires the lock if it is free and reports whether it did. It
// never blocks, and so never notices a dead holder. It panics if l is
// closed.
func (l *Lock) TryLock() bool {
	if l.obj.closed.Load() {
		panic("semaphore: TryLock of closed Lock")
	}
	if !l.m.tryLock() {
		return false
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(l.obj.race)
	}
	return true
}

// LockContext acquires the lock, blocking until it is free or ctx is done.
// It returns nil once acquired; ErrOwnerDied once acquired from a holder
// whose process died (the caller holds the lock and should repair what it
// guards); or, not acquired, ctx.Err() (which matches
// context.DeadlineExceeded after a timeout) with the lock unchanged. Before
// giving up at the deadline it checks the holder once more, so a timed
// call never fails against a dead holder. ErrClosed if l is closed.
func (l *Lock) LockContext(ctx context.Context) error {
	if err := l.obj.check(); err != nil {
		return err
	}
	var err error
	if !l.m.tryLock() {
		if err = ctx.Err(); err != nil {
			return err
		}
		if err = l.m.lockSlow(ctx); err != nil && err != ErrOwnerDied {
			return err
		}
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(l.obj.race)
	}
	return err
}

// Unlock releases the lock, waking one waiter if any sleeps. Any goroutine
// of any process may unlock it. Unlocking an unlocked Lock panics, as it
// does for sync.Mutex; use Release to get an error instead.
//
// Unlock is a load, a store and a load, with no atomic read-modify-write
// (see release.go), so two Unlocks racing for one Lock may both pass its
// check; Release, one atomic swap, reports all but one of them.
func (l *Lock) Unlock() {
	// The addresses are read before the release: after it, the lock may be
	// another goroutine's (see the package documentation on Close).
	st, sl := l.m.state, l.m.sleepers
	if shm.RaceEnabled {
		shm.RaceReleaseMerge(l.obj.race)
	}
	old := atomic.LoadUint32(st)
	if old != 0 {
		releaseWord(st)
		if atomic.LoadUint32(sl) == 0 {
			return
		}
	}
	l.unlockSlow(st, old)
}

// unlockSlow finishes an Unlock that found sleepers (or misuse). It runs
// after the release: the lock may be someone else's by now, but the caller
// has not returned, so the object is still mapped. Unlock is not inlined
// (its fast path is a load, a plain store and a load: 7-8 ns a pair with
// Lock either way).
func (l *Lock) unlockSlow(st *uint32, old uint32) {
	if l.obj.closed.Load() {
		panic("semaphore: Unlock of closed Lock")
	}
	if old == 0 {
		panic("semaphore: unlock of unlocked Lock")
	}
	futex.Wake(st, 1)
}

// Release releases the lock like Unlock, but reports a release of an
// unlocked Lock as ErrNotLocked (Python's ValueError) instead of
// panicking. The Lock is unchanged then. Release is one atomic swap, so of
// several racing releases of one holding exactly one succeeds.
func (l *Lock) Release() error {
	if err := l.obj.check(); err != nil {
		return err
	}
	st, sl := l.m.state, l.m.sleepers
	if shm.RaceEnabled {
		shm.RaceReleaseMerge(l.obj.race)
	}
	if atomic.SwapUint32(st, 0) == 0 {
		return ErrNotLocked
	}
	if atomic.LoadUint32(sl) != 0 {
		futex.Wake(st, 1)
	}
	return nil
}

// Locked reports whether the lock is held, by anyone (Python's locked).
func (l *Lock) Locked() bool { return !l.obj.closed.Load() && atomic.LoadUint32(l.m.state) != 0 }

// OwnerDied reports whether the lock is held and this holding began by
// taking it over from a holder whose process had died. It is reset by the
// release.
func (l *Lock) OwnerDied() bool { return l.m.ownerDied() }

// Handle returns the handle that attaches to this Lock from any process.
func (l *Lock) Handle() shm.Handle { return l.obj.handle() }

// Close unmaps this process's view of the Lock, once every call on it in
// this process has returned (see the package documentation). It does not
// release the lock or remove its name; later calls panic or return
// ErrClosed. Closing twice is a no-op.
func (l *Lock) Close() error {
	if l.obj.closed.Load() {
		return nil
	}
	// Point the fast paths at tombstones in Go memory first, which send
	// every later call to a slow path that panics (instead of touching the
	// unmapped words).
	l.m.state, l.m.sleepers, l.m.owner = &l.tomb.state, &l.tomb.sleepers, &l.tomb.owner
	return l.obj.close()
}

// Unlink removes the Lock's name (processes that have it open keep using
// it). A Lock in an arena has no name of its own: unlink the arena.
func (l *Lock) Unlink() error { return l.obj.unlink() }

// The Condition's view of a Lock.
func (l *Lock) condLock() condLock { return (*lockCond)(l) }

type lockCond Lock

func (c *lockCond) held() bool { return c.m.heldByThisProcess() }

func (c *lockCond) releaseAll() uint32 { (*Lock)(c).Unlock(); return 1 }

func (c *lockCond) restore(uint32) error {
	l := (*Lock)(c)
	var err error
	if !l.m.tryLock() {
		err = l.m.lockSlow(context.Background())
	}
	if shm.RaceEnabled {
		shm.RaceAcquire(l.obj.race)
	}
	return err
}
