// Package semaphore provides the synchronization primitives of Python's
// multiprocessing module — Lock, RLock, Semaphore, BoundedSemaphore,
// Condition, Event and Barrier — as fixed-layout, pointer-free structs in
// shared memory, usable at once from any number of processes and
// goroutines.
//
// Each object lives either in a segment of its own, made with a New
// function under a name (NewLock("jobs")) and opened by name from other
// processes (OpenLock("jobs")), or in an shm.Arena with many others
// (NewLockIn, AttachLock). Every object has a Handle, a small value with
// a text form that another process attaches to; opening a name or handle
// that holds another kind of object fails with an error matching
// shm.ErrKind, a different layout version with shm.ErrVersion, a segment
// too short for the layout with shm.ErrShort. Close unmaps an object in
// this process; Unlink removes its name.
//
// # Semantics
//
// Semantics are Python's, in Go's idioms. The locks satisfy sync.Locker
// (Lock, Unlock, TryLock) and have context forms (LockContext); Semaphore
// and BoundedSemaphore have Acquire(ctx), TryAcquire and Release;
// Condition has Wait(ctx), WaitFor, Notify and NotifyAll; Event has Set,
// Clear, IsSet and Wait(ctx); Barrier has Wait(ctx), Abort, Reset, Broken,
// Parties and NWaiting. A timeout is a context deadline. A call that times
// out or is cancelled leaves the object unchanged and returns ctx.Err()
// (which matches context.DeadlineExceeded after a timeout), or false where
// Python returns False (Event.Wait, Condition.Wait). The exception is the
// Barrier, which a timed-out wait breaks, as in Python.
//
// Misuse that Python reports with an exception is an error value where the
// call returns one (Release of an unlocked Lock: ErrNotLocked; of another
// goroutine's RLock: ErrNotOwner; Condition calls without the lock:
// ErrNotOwner; too many releases of a BoundedSemaphore: ErrValueTooLarge)
// and a panic with a "semaphore: ..." message where it does not (Unlock),
// as in package sync.
//
// # Speed
//
// The uncontended paths are one atomic read-modify-write and no system
// call; Lock's Lock and Unlock are inlined, as sync.Mutex's are. (An
// RLock also asks the kernel for the calling thread's id: see RLock.)
// Contended paths spin briefly — the budget adapts per object between 1
// and 16 µs, growing to twice the hand-offs that spinning catches and
// halving when it fails — then sleep on a shared futex, and the releaser
// makes a system call only when someone sleeps. Words that different
// processes write on hot paths sit on separate 64-byte cache lines. Each
// file documents its layout word by word above its constants.
//
// Close unmaps the object in this process: it must not be called until
// every method call on the object in this process has returned (including
// an Unlock or Set running in another goroutine, which may still be waking
// a sleeper after it released).
//
// # Processes that die
//
// Lock and RLock record the holding process (pid and start time). A
// waiter that has slept DefaultCheckInterval (100 ms) checks whether the
// holder lives; if not, it takes the lock over and is told: ErrOwnerDied
// from LockContext (the lock is then held), and OwnerDied reports true
// for the plain Lock. A Barrier whose waiting party dies breaks within
// about the same time. A Condition skips waiters whose process died. A
// Semaphore has no owner: a permit held by a dead process is lost, and a
// program that knows of the death may Release for it.
//
// All processes that share an object must see the same pids: the same
// PID namespace.
//
// # Race detector
//
// The primitives tell the race detector about the synchronization they
// provide (as golang.org/x/sys/unix does), so `go test -race` sees the
// happens-before edges of a Lock, Semaphore, Event, Barrier or Condition
// between the goroutines of one process.
package semaphore
