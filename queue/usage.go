package queue

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/mproc/mproc/shm"
)

// usage counts a handle's calls in flight (and its open Reservations and
// Refs), so that Detach unmaps the ring only once none touches it.
//
// Every Put and Get enters and leaves, so the counting is on the hot path:
// an atomic add costs ~6 ns here (a locked instruction waits for the store
// buffer to drain), and a call made two (enter, leave), four per item
// moved. So the counts are per P (Go's processor; GOMAXPROCS of them when
// the handle was made): a goroutine pins itself to its P (runtime.procPin,
// which only disables preemption) and bumps its P's counter with a plain
// increment, which no other goroutine can interleave with. Enters and
// leaves are counted separately, since a call may enter on one P and leave
// on another; in flight = Σ enters − Σ leaves. A goroutine on a P beyond
// the slots (GOMAXPROCS grew) counts in two shared atomic counters.
//
// Detach is Dekker's protocol with the call: the call counts itself, then
// loads gone; the unmapper stores gone, then sums the counts. The call's
// side has no barrier between its plain store and its load, so the
// unmapper issues one on every thread of the process:
// membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), after gone is set and
// before it sums. A call whose load of gone came before that barrier made
// its count visible to the sum; one whose load came after sees gone and
// touches nothing. The sum reads all leaves before all enters, so every
// leave it counts has its enter counted too: a sum of zero means no call
// is in flight. Without membarrier (or under the race detector, which
// would see the plain increments as races) the counters are bumped with
// atomic adds, which are barriers themselves.
type usage struct {
	slots       []usageSlot
	overEnters  atomic.Uint64
	overLeaves  atomic.Uint64
	plainCounts bool // plain increments, with the unmapper's membarrier
}

type usageSlot struct {
	enters, leaves uint64 // bumped only by goroutines pinned to this P
	_              [48]byte
}

//go:linkname procPin runtime.procPin
func procPin() int

//go:linkname procUnpin runtime.procUnpin
func procUnpin()

const (
	membarrierPrivateExpedited         = 1 << 3
	membarrierRegisterPrivateExpedited = 1 << 4
)

var (
	privateFenceOnce sync.Once
	privateFence     bool // membarrier(PRIVATE_EXPEDITED) works in this process
)

func setupPrivateFence() {
	if shm.RaceEnabled || unsafe.Sizeof(uintptr(0)) != 8 {
		return // plain uint64 increments are two stores on 32-bit machines
	}
	_, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierRegisterPrivateExpedited, 0, 0)
	privateFence = e == 0
}

func newUsage() usage {
	privateFenceOnce.Do(setupPrivateFence)
	return usage{slots: make([]usageSlot, runtime.GOMAXPROCS(0)), plainCounts: privateFence}
}

// enter counts a call in.
func (u *usage) enter() {
	pid := procPin()
	if pid < len(u.slots) {
		if u.plainCounts {
			u.slots[pid].enters++
		} else {
			atomic.AddUint64(&u.slots[pid].enters, 1)
		}
		procUnpin()
		return
	}
	procUnpin()
	u.overEnters.Add(1)
}

// leave counts a call out.
func (u *usage) leave() {
	pid := procPin()
	if pid < len(u.slots) {
		if u.plainCounts {
			u.slots[pid].leaves++
		} else {
			atomic.AddUint64(&u.slots[pid].leaves, 1)
		}
		procUnpin()
		return
	}
	procUnpin()
	u.overLeaves.Add(1)
}

// idle reports whether no call is in flight. The caller has set gone (or
// seen it set).
func (u *usage) idle() bool {
	if u.plainCounts {
		if _, _, e := unix.Syscall(unix.SYS_MEMBARRIER, membarrierPrivateExpedited, 0, 0); e != 0 {
			// Without the barrier a count may still sit in a store
			// buffer: say busy (the ring stays mapped; a later leave
			// tries again).
			return false
		}
	}
	leaves := u.overLeaves.Load()
	for i := range u.slots {
		leaves += atomic.LoadUint64(&u.slots[i].leaves)
	}
	enters := u.overEnters.Load()
	for i := range u.slots {
		enters += atomic.LoadUint64(&u.slots[i].enters)
	}
	return enters == leaves
}
