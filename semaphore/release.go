package semaphore

import (
	"sync"
	"sync/atomic"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// Releasing a lock word with a plain store: see futex/fence.go for the
// protocol. The lock word and its sleepers count sit side by side (see
// mutex.go); Lock.Unlock and mutex.unlock store 0 to the word (a plain
// store where futex.EnablePlainRelease allows it) and then load sleepers;
// a sleeper counts itself, sleeps at most futex.FenceDelay until it has
// called futex.Fence, and re-reads the word after every wake.

var (
	// plainRelease: this process releases lock words with a plain store.
	plainRelease bool
	// canFence: waiters must fence before sleeping without limit.
	canFence bool
)

// processSetup runs setupProcess once per process, before its first lock
// word is used.
var processSetup sync.Once

// setupProcess reads this process's identity word and chooses how it
// releases lock words. Neither happens at package init: registering with
// membarrier costs ~0.5 ms, and the start time read from /proc 0.3-2 ms
// on the VM measured, which every process importing the package would pay
// at start-up.
func setupProcess() {
	selfWord = identWord(shm.Self())
	plainRelease = futex.EnablePlainRelease()
	canFence = futex.CanFence()
}

// fenceDelay bounds a lock waiter's first, unfenced, sleep.
const fenceDelay = futex.FenceDelay

// sleepFence is the waiter's side of the release protocol; it reports
// whether the fence was made (if not, the waiter keeps its sleeps bounded
// and tries again).
func sleepFence() bool { return futex.Fence() }

// releaseWord stores 0 to a lock word: a plain store where plainRelease
// allows it, an atomic store otherwise. The caller then loads the sleepers
// word and wakes one if it is non-zero.
func releaseWord(p *uint32) {
	if plainRelease {
		// Not an atomic store, on purpose (see futex/fence.go). The
		// compiler keeps it after the critical section's loads and stores
		// and before the caller's atomic load of sleepers.
		*p = 0
		return
	}
	atomic.StoreUint32(p, 0)
}
