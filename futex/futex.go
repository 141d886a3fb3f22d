//go:build linux

// Package futex is mproc's only door to the futex(2) system call: wait on a
// 32-bit word in shared memory while it holds an expected value, and wake
// waiters on that word.
//
// The contract, as runtime/os_linux.go puts it for the runtime's private
// futexes: atomically, if *addr == val, sleep. A sleeper may be woken
// spuriously; that is allowed, and every caller loops, re-reading the word
// and deciding again. Nothing here knows what the word means.
//
// mproc's words live in mappings shared between processes, so this package
// never sets FUTEX_PRIVATE_FLAG: a private futex is keyed by the address in
// one process's address space and would never see a waker in another
// process. Calls go through unix.Syscall6 (never RawSyscall), so a goroutine
// blocked in a wait parks only its OS thread and the Go scheduler keeps
// running the others.
//
// Deadlines are absolute instants on CLOCK_MONOTONIC, in nanoseconds (see
// Now and DeadlineFrom). A wait interrupted by a signal and retried keeps its
// deadline, so retries never drift, and a change of the wall clock does not
// move a timeout.
package futex

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Futex operations and flags from linux/futex.h. FUTEX_PRIVATE_FLAG (128) is
// deliberately absent: see the package documentation.
const (
	opWake       = 1 // FUTEX_WAKE
	opWaitBitset = 9 // FUTEX_WAIT_BITSET: absolute timeout on the chosen clock
	bitsetMatch  = ^uint32(0)
)

// Errors a wait reports. Each names a condition the caller can act on; all
// of them mean "re-read the word and decide again".
var (
	// ErrTimeout: the deadline passed before a wake. It matches
	// context.DeadlineExceeded and os.ErrDeadlineExceeded with errors.Is.
	ErrTimeout error = timeoutError{}
	// ErrValueChanged: the word did not hold the expected value when the
	// kernel looked (EAGAIN), so the wait did not sleep.
	ErrValueChanged = errors.New("futex: value changed before wait")
	// ErrInterrupted: a signal interrupted the wait (EINTR). Wait retries
	// EINTR itself; only WaitOnce reports it.
	ErrInterrupted = errors.New("futex: interrupted by signal")
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "futex: wait timed out" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == context.DeadlineExceeded
}

// Now returns the current CLOCK_MONOTONIC time in nanoseconds, the clock
// that deadlines are measured on. It is the Go runtime's monotonic clock
// (runtime.nanotime, which reads CLOCK_MONOTONIC through the vDSO): about
// 20 ns, where unix.ClockGettime is a real system call (0.3-1 µs in a
// virtual machine), which mattered in the spin loops that read the clock.
// TestNowIsClockMonotonic checks that the two agree.
func Now() int64 { return nanotime() }

// nanotime is the runtime's CLOCK_MONOTONIC reading; the runtime keeps
// this linkname available for the packages that use it.
//
//go:linkname nanotime runtime.nanotime
func nanotime() int64

// DeadlineIn returns the monotonic deadline d from now. d <= 0 gives a
// deadline that has already passed; a d too large to add to now (a
// timeout of math.MaxInt64, a context deadline centuries away) gives
// math.MaxInt64, a deadline that never comes, rather than wrapping around
// to a negative one, which callers take for "no deadline" (0 or less) and
// which would end their periodic checks.
func DeadlineIn(d time.Duration) int64 {
	if d <= 0 {
		return Now()
	}
	now := Now()
	if int64(d) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(d)
}

// DeadlineFrom converts ctx's deadline to a monotonic deadline. It returns 0
// (no deadline) when ctx has none.
func DeadlineFrom(ctx context.Context) int64 {
	t, ok := ctx.Deadline()
	if !ok {
		return 0
	}
	return DeadlineIn(time.Until(t))
}

// Wait sleeps while *addr == val, until a Wake on addr, the deadline (a
// CLOCK_MONOTONIC instant in nanoseconds; 0 means none), or a spurious
// wake-up. It returns nil after a wake (which may be spurious),
// ErrValueChanged if *addr != val on entry, and ErrTimeout once the deadline
// has passed. A signal interrupting the sleep is retried with the same
// deadline.
//
// addr must point into memory that every process using the word maps
// (normally an mproc shared segment) and be 4-byte aligned.
func Wait(addr *uint32, val uint32, deadline int64) error {
	for {
		err := WaitOnce(addr, val, deadline)
		if err != ErrInterrupted {
			return err
		}
	}
}

// WaitOnce is Wait without the retry on EINTR: an interrupted sleep returns
// ErrInterrupted.
func WaitOnce(addr *uint32, val uint32, deadline int64) error {
	var tsp unsafe.Pointer
	var ts unix.Timespec
	if deadline > 0 {
		if deadline <= Now() {
			return ErrTimeout
		}
		ts = unix.NsecToTimespec(deadline)
		tsp = unsafe.Pointer(&ts)
	}
	_, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)),
		opWaitBitset, uintptr(val), uintptr(tsp), 0, uintptr(bitsetMatch))
	switch e {
	case 0:
		return nil
	case unix.EAGAIN:
		return ErrValueChanged
	case unix.ETIMEDOUT:
		return ErrTimeout
	case unix.EINTR:
		return ErrInterrupted
	default:
		// EFAULT or EINVAL: a bad address, a programming error in mproc.
		panic("futex: wait failed: " + e.Error())
	}
}

// cancelPoll bounds one sleep of WaitContext when ctx can be cancelled
// without a deadline: the cancellation wake-up below has a window in which
// it can be lost (cancel lands between the check and the sleep), and this
// caps the cost of losing it.
const cancelPoll = 50 * time.Millisecond

// WaitContext is Wait with ctx's deadline and cancellation. A cancelled
// context wakes the sleeper promptly (by waking every waiter on addr, which
// the others see as a spurious wake-up); it returns ctx.Err() once ctx is
// done, ErrValueChanged and nil as Wait does.
func WaitContext(ctx context.Context, addr *uint32, val uint32) error {
	done := ctx.Done()
	if done == nil {
		return Wait(addr, val, 0)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	deadline := DeadlineFrom(ctx)
	woken := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		Wake(addr, -1)
		close(woken)
	})
	// The wake must be over before the caller returns: the word may be
	// unmapped right after (a queue detached, an object closed).
	defer func() {
		if !stop() {
			<-woken
		}
	}()
	limit := DeadlineIn(cancelPoll)
	if deadline == 0 || limit < deadline {
		if err := Wait(addr, val, limit); err != ErrTimeout {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		return nil // the poll limit, not the caller's deadline: a spurious wake
	}
	err := Wait(addr, val, deadline)
	if cerr := ctx.Err(); cerr != nil && (err == nil || err == ErrTimeout) {
		return cerr
	}
	return err
}

// Wake wakes at most n waiters sleeping on addr (n < 0 wakes all) and
// returns how many it woke. Waking nobody is not an error, and neither is
// an address that is no longer mapped (EFAULT: a releaser may wake after
// another goroutine unmapped the object, and glibc ignores it too): Wake
// returns 0 then.
func Wake(addr *uint32, n int) int {
	if n < 0 || n > 1<<31-1 {
		n = 1<<31 - 1
	}
	r, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(addr)),
		opWake, uintptr(n), 0, 0, 0)
	switch e {
	case 0:
		return int(r)
	case unix.EFAULT:
		return 0
	}
	panic("futex: wake failed: " + e.Error())
}

// Load is atomic.LoadUint32, here so that callers of Wait read the word the
// same way the kernel compares it.
func Load(addr *uint32) uint32 { return atomic.LoadUint32(addr) }
