//go:build linux

package futex

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// Asymmetric fences: releasing a lock word with a plain store.
//
// A lock's release must do two things: make the word free, and wake a
// sleeper if there is one. With the sleepers counted in a word of their
// own, the release is "store free to the lock word, then load sleepers",
// and a waiter's is "add 1 to sleepers, then load the lock word (in
// FUTEX_WAIT)". That is Dekker's pattern: without a full barrier between
// each side's store and load, the release could read no sleeper while the
// waiter reads the word still held, and the waiter would sleep through the
// release. An atomic swap or store gives the release its barrier, and
// costs as much as the acquire's CAS (about 6 ns on the machine measured,
// half of an uncontended acquire/release pair).
//
// The barrier can be moved to the waiter, which is about to make a system
// call anyway. A process that releases with plain stores registers with
// membarrier(2) first (EnablePlainRelease:
// MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED); a waiter, after counting
// itself, calls Fence (membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED)) before
// it looks at the word and sleeps without a time limit. membarrier returns
// only after every CPU running a thread of a registered process has
// executed a full barrier (an interrupt; a thread not running passed one
// when it was switched out). The releasing thread's instructions are
// thereby split at some point: if its store came before it, the waiter's
// load sees the word free; if its load of sleepers came after it, the
// release sees the waiter's count and wakes it. On amd64 (total store
// order: stores are not reordered with earlier loads or stores) the
// release is then a plain MOV, and the critical section's writes are
// visible before it.
//
// The fence interrupts the other CPUs, which costs the lock's holder
// several microseconds in a VM (a contended 2-process lock fell from 23 M
// to 4.5 M acquisitions/s when every sleep began with it). So a waiter's
// first sleep is bounded by FenceDelay and has no fence: most sleeps end
// with a wake well before that. Only the one release that raced the
// waiter's count (its load of sleepers before the count, its store not yet
// visible to the waiter) can miss it; the waiter then wakes at FenceDelay,
// fences, and reads the word again, so such a miss costs at most
// FenceDelay. A wait that lasts longer pays one extra wake-up and one
// fence.
//
// Where membarrier is missing or refused (a seccomp filter, a kernel older
// than 4.16), or on other architectures, EnablePlainRelease reports false
// and the caller releases with an atomic store (a full barrier on amd64; a
// store-release ordered before the following load-acquire on arm64);
// waiters still fence where the kernel has it, in case another process
// releases with plain stores.

// FenceDelay bounds a waiter's first, unfenced, sleep (see above), in ns.
const FenceDelay = 50_000

const (
	membarrierQuery                   = 0
	membarrierGlobalExpedited         = 1 << 1
	membarrierRegisterGlobalExpedited = 1 << 2
)

var (
	fenceOnce    sync.Once
	canFence     bool // membarrier(GLOBAL_EXPEDITED) works here
	plainRelease bool // this process is registered, on amd64
	registerOnce sync.Once
)

func queryFence() {
	r, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
	canFence = e == 0 && r&membarrierGlobalExpedited != 0 && r&membarrierRegisterGlobalExpedited != 0
}

// EnablePlainRelease registers this process for the waiters' fences (once;
// it takes ~0.5 ms) and reports whether it may release lock words with
// plain stores, followed by a load of the sleepers' count. It must be
// called before the process's first such release.
func EnablePlainRelease() bool {
	registerOnce.Do(func() {
		fenceOnce.Do(queryFence)
		if !canFence || runtime.GOARCH != "amd64" {
			return
		}
		_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterGlobalExpedited, 0, 0)
		plainRelease = e == 0
	})
	return plainRelease
}

// CanFence reports whether Fence can work here. A waiter on a word that
// may be released with plain stores sleeps at most FenceDelay at a time
// until a Fence made after it counted itself has succeeded. Where CanFence
// is false, no process of this kernel can register for plain releases,
// and waiters need not fence. (A seccomp filter denying membarrier to some
// processes only would break that: a waiter in such a process could then
// miss a plain release, until its periodic check.)
func CanFence() bool {
	fenceOnce.Do(queryFence)
	return canFence
}

// Fence is the waiter's side of a plain-store release: called after the
// waiter counted itself as a sleeper, before it reads the word it will
// sleep on without a time limit. It costs a system call and an interrupt
// of every CPU running a registered process (several µs in a VM). It
// reports whether the fence was made; when it was not (membarrier missing
// or failing, ENOMEM say), the waiter must keep its sleeps bounded by
// FenceDelay.
func Fence() bool {
	if !CanFence() {
		return false
	}
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierGlobalExpedited, 0, 0)
	return e == 0
}
