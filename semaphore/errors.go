package semaphore

import "errors"

// Errors returned by this package. Test them with errors.Is; the returned
// error often wraps one of them with detail. Errors from the shm package
// (shm.ErrKind, shm.ErrVersion, shm.ErrShort, shm.ErrNotExist, ...) come
// through wrapped, unchanged.
var (
	// ErrOwnerDied: the lock was acquired, but its previous owner had died
	// holding it (its pid is gone). The caller holds the lock now and should
	// repair whatever the lock guarded before releasing it.
	ErrOwnerDied = errors.New("semaphore: previous owner died holding the lock")

	// ErrNotLocked: release of a Lock that is not locked (Python's
	// ValueError). The Lock is unchanged.
	ErrNotLocked = errors.New("semaphore: release of unlocked lock")

	// ErrNotOwner: the caller does not hold the lock it must hold: release
	// of an RLock by a goroutine that does not own it (multiprocessing's
	// AssertionError, threading's RuntimeError), or a Condition method
	// called without its lock (AssertionError in multiprocessing).
	ErrNotOwner = errors.New("semaphore: lock not held by the caller")

	// ErrValueTooLarge: a release would raise a BoundedSemaphore above its
	// initial value (Python's ValueError), or any semaphore above
	// SemValueMax. The value is unchanged.
	ErrValueTooLarge = errors.New("semaphore: semaphore released too many times")

	// ErrBrokenBarrier: the Barrier is broken, or broke during the wait
	// (Python's BrokenBarrierError).
	ErrBrokenBarrier = errors.New("semaphore: broken barrier")

	// ErrTooManyWaiters: a Condition already has its maximum number of
	// waiters (see WithMaxWaiters).
	ErrTooManyWaiters = errors.New("semaphore: too many waiters on condition")

	// ErrInvalid: an argument is out of range (a negative semaphore value,
	// a barrier with no parties, an option the constructor does not take).
	ErrInvalid = errors.New("semaphore: invalid argument")

	// ErrCorrupt: the fixed fields of a shared object hold values that no
	// creator writes; the object was damaged by something other than mproc.
	ErrCorrupt = errors.New("semaphore: corrupt shared object")

	// ErrClosed: the object was closed in this process.
	ErrClosed = errors.New("semaphore: use of closed object")
)
