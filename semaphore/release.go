package semaphore

import (
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
	"golang.org/x/sys/unix"
)

// Releasing a lock word with a plain store.
//
// A lock's release must do two things: make the word 0, and wake a sleeper
// if there is one. The sleepers are counted in a word of their own
// (mutex.sleepers), so the release is "store 0 to state, then load
// sleepers", and a waiter's is "add 1 to sleepers, then load state (in
// FUTEX_WAIT)". That is Dekker's pattern: without a full barrier between
// each side's store and load, the release could read sleepers == 0 while
// the waiter reads the word still held, and the waiter would sleep through
// the release. An atomic swap gives the release its barrier, and costs as
// much as the acquire's CAS (about 6 ns here, half of an uncontended
// Lock/Unlock pair).
//
// The barrier is moved to the waiter, which is about to make a system call
// anyway. Every process that makes or opens a lock registers with
// membarrier(2) (MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED; once, in
// mutex.init, not at package init: it takes ~0.5 ms, which every process
// importing the package would pay at start-up otherwise); a waiter, after
// counting itself in sleepers, calls
// membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) before it looks at the word
// and sleeps without a time limit. membarrier returns only after every CPU
// running a thread of a registered process has executed a full barrier
// (an interrupt; a thread not running passed one when it was switched
// out). The releasing thread's instructions are thereby split at some
// point: if its store came before it, the waiter's load sees the word
// free; if its load of sleepers came after it, the release sees the
// waiter's count and wakes it. On amd64 (total store order: stores are
// not reordered with earlier loads or stores) the release is then a plain
// MOV, and the critical section's writes are visible before it.
//
// The fence interrupts the other CPUs, which costs the lock's holder
// several microseconds in a VM (a contended 2-process Lock fell from 23 M
// to 4.5 M acquisitions/s when every sleep began with it). So a waiter's
// first sleep is bounded by fenceDelay and has no fence: most sleeps end
// with a wake well before that. Only the one release that raced the
// waiter's count (its load of sleepers before the count, its store not yet
// visible to the waiter) can miss it; the waiter then wakes at fenceDelay,
// fences, and reads the word again, so such a miss costs at most
// fenceDelay. A wait that lasts longer than fenceDelay pays one extra
// wake-up and one fence.
//
// Where membarrier is missing or refused (a seccomp filter, a kernel older
// than 4.16), or on other architectures, the release stays an atomic
// store, which is a full barrier on amd64 and a store-release that orders
// before the following load-acquire on arm64, and waiters still call the
// fence when the kernel has it, in case another process releases with
// plain stores. A lost wake-up could only come from a process releasing
// with plain stores whose waiters cannot fence, and even then the waiter
// wakes at its next periodic check (checkInterval), so it is a delay, not a
// hang.
const (
	membarrierQuery                    = 0
	membarrierGlobalExpedited          = 1 << 1
	membarrierRegisterGlobalExpedited  = 1 << 2
	membarrierPrivateExpedited         = 1 << 3
	membarrierRegisterPrivateExpedited = 1 << 4
)

var (
	// plainRelease: this process releases lock words with a plain store.
	plainRelease bool
	// canFence: waiters call membarrier(GLOBAL_EXPEDITED) before sleeping.
	canFence bool
)

// processSetup runs setupProcess once per process, before its first lock
// word is used.
var processSetup sync.Once

// setupProcess reads this process's identity word and chooses how it
// releases lock words.
func setupProcess() {
	selfWord = identWord(shm.Self())
	r, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierQuery, 0, 0)
	if e != 0 || r&membarrierGlobalExpedited == 0 || r&membarrierRegisterGlobalExpedited == 0 {
		return
	}
	canFence = true
	if runtime.GOARCH != "amd64" {
		return
	}
	if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterGlobalExpedited, 0, 0); e == 0 {
		plainRelease = true
	}
}

// fenceDelay bounds a lock waiter's first, unfenced, sleep (see above).
const fenceDelay = 50_000 // ns

// sleepFence is the waiter's side of the release protocol: called after a
// waiter counted itself in sleepers, before it reads the word it will
// sleep on without a time limit.
func sleepFence() {
	if canFence {
		unix.Syscall(unix.SYS_MEMBARRIER, membarrierGlobalExpedited, 0, 0)
	}
}

// releaseWord stores 0 to a lock word: a plain store where plainRelease
// allows it, an atomic store otherwise. The caller then loads the sleepers
// word and wakes one if it is non-zero.
func releaseWord(p *uint32) {
	if plainRelease {
		// Not an atomic store, on purpose (see above). The compiler keeps
		// it after the critical section's loads and stores and before the
		// caller's atomic load of sleepers.
		*p = 0
		return
	}
	atomic.StoreUint32(p, 0)
}
