package semaphore

import (
	"context"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// Every slow path in this package has the same two phases: a short
// adaptive spin (spinner), then sleeps on a futex word (sleeper) that end
// on a wake, the caller's deadline or cancellation, or a periodic tick at
// which the caller looks for dead processes.

// checkInterval is how long a sleeper sleeps at most before it looks again
// at what it waits for; the lock and barrier waiters check then whether the
// process they wait on still lives. It bounds the time to notice a dead
// lock owner or barrier party. Tests shorten it.
var checkInterval atomic.Int64

// DefaultCheckInterval is the period at which blocked waiters look for a
// dead lock owner or barrier party: a waiter on a Lock or RLock whose
// owner died takes the lock over within about this long (plus one read of
// /proc), and a Barrier whose waiting party died breaks within about this
// long.
const DefaultCheckInterval = 100 * time.Millisecond

func init() { checkInterval.Store(int64(DefaultCheckInterval)) }

func tick() int64 { return checkInterval.Load() }

// Spinning. A futex sleep and wake costs 10-20 µs between processes; a
// hand-off to a peer that is running on another CPU takes well under a
// microsecond. So a waiter first polls the word for a while, and how long
// adapts per object and process:
//
//   - a spin that succeeds after d raises the budget to 2d if it was lower,
//     so the budget covers the hand-offs that spinning catches;
//   - a spin that fails halves the budget, down to spinMin: a waiter whose
//     peer is asleep, busy or descheduled soon spends only spinMin (a
//     small fraction of a futex round trip) before it sleeps;
//   - after spinProbe failures in a row, one spin gets the whole spinMax,
//     so a peer that became fast again is noticed (at most spinMax of waste
//     per spinProbe sleeps).
//
// The spin polls with plain loads (no writes: the cache line stays
// shared), reads the clock every 32 polls and yields to the other
// goroutines of this process every 256.
const (
	spinMin   = 1 * time.Microsecond
	spinMax   = 16 * time.Microsecond
	spinProbe = 16
)

// The spin budget's bounds in ns; tests and benchmarks change them.
var spinLo, spinHi atomic.Int64

func init() {
	spinLo.Store(int64(spinMin))
	spinHi.Store(int64(spinMax))
}

type spinner struct {
	budget atomic.Int64 // ns; below spinLo counts as spinLo
	fails  atomic.Int32 // failed spins in a row
}

// run polls try until it succeeds or the spin budget runs out, and reports
// whether it succeeded.
func (sp *spinner) run(try func() bool) bool {
	lo, hi := spinLo.Load(), spinHi.Load()
	if hi <= 0 {
		return try()
	}
	budget := min(max(sp.budget.Load(), lo), hi)
	limit := budget
	fails := sp.fails.Load()
	if fails >= spinProbe {
		limit = hi
	}
	start := futex.Now()
	for i := 1; ; i++ {
		if try() {
			if d := 2 * (futex.Now() - start); d > budget {
				sp.budget.Store(min(d, hi))
			}
			if fails != 0 {
				sp.fails.Store(0)
			}
			return true
		}
		if i%32 == 0 {
			if futex.Now()-start > limit {
				sp.budget.Store(max(budget/2, lo))
				if fails >= spinProbe {
					fails = 0
				}
				sp.fails.Store(fails + 1)
				return false
			}
			if i%256 == 0 {
				runtime.Gosched()
			}
		}
	}
}

// A sleeper runs the sleep phase of one blocking call on one futex word.
type sleeper struct {
	ctx      context.Context
	deadline int64 // CLOCK_MONOTONIC ns; 0 means none
	next     int64 // the next periodic check; 0 means none
	stop     func() bool
	woken    chan struct{} // closed when the cancellation wake is done
}

// startSleep prepares to sleep on addr until ctx is done or deadline (0:
// ctx's own deadline). periodic asks for a check every checkInterval (see
// due). If ctx can be cancelled, cancellation wakes every sleeper on addr
// (they treat it as a spurious wake-up); as that wake can be lost if it
// lands just before the sleep, such a sleep is bounded by checkInterval
// too, deadline or not (a deadline may be far away: futex.DeadlineIn
// saturates a huge one at math.MaxInt64).
func startSleep(ctx context.Context, addr *uint32, deadline int64, periodic bool) sleeper {
	if deadline == 0 {
		deadline = futex.DeadlineFrom(ctx)
	}
	s := sleeper{ctx: ctx, deadline: deadline}
	if ctx.Done() != nil {
		woken := make(chan struct{})
		s.stop = context.AfterFunc(ctx, func() {
			futex.Wake(addr, -1)
			close(woken)
		})
		s.woken = woken
		periodic = true
	}
	if periodic {
		s.next = futex.Now() + tick()
	}
	return s
}

// end unregisters the cancellation wake-up, or waits until it is done if
// it has started: it must not touch the word after the caller returns (the
// object may be closed and its memory unmapped).
func (s *sleeper) end() {
	if s.stop != nil && !s.stop() {
		<-s.woken
	}
}

// poll says whether the wait must end now, with ctx's error or, once the
// deadline has passed, context.DeadlineExceeded (ctx's own timer may not
// have fired yet); and whether the caller should make its periodic check:
// every checkInterval, and once more when the wait ends. It reads the
// clock only when there is a deadline or a periodic check.
func (s *sleeper) poll() (err error, check bool) {
	if err := s.ctx.Err(); err != nil {
		return err, true
	}
	if s.deadline == 0 && s.next == 0 {
		return nil, false
	}
	now := futex.Now()
	if s.deadline != 0 && now >= s.deadline {
		return context.DeadlineExceeded, true
	}
	if s.next != 0 && now >= s.next {
		s.next = now + tick()
		return nil, true
	}
	return nil, false
}

// until returns the end of the next sleep: the deadline or the next
// periodic check, whichever comes first (0: none).
func (s *sleeper) until() int64 {
	if s.next != 0 && (s.deadline == 0 || s.next < s.deadline) {
		return s.next
	}
	return s.deadline
}

// sleep waits on addr while it holds val, until a wake, the deadline or
// the next periodic check. The caller re-reads the word either way.
func (s *sleeper) sleep(addr *uint32, val uint32) error {
	if testHookSleep != nil {
		testHookSleep(s)
	}
	return futex.Wait(addr, val, s.until())
}

// testHookSleep, when set (by tests), runs just before a sleeper's futex
// wait.
var testHookSleep func(*sleeper)

// settle is called by a wait that reports its end by returning false
// (Event.Wait, Condition.Wait): if it ended at ctx's deadline by the futex
// clock, ctx's own timer may not have fired yet, and the caller, told that
// ctx.Err() says why, would find it nil. settle waits until ctx is done,
// which takes the timer's latency; at most DefaultCheckInterval, for a
// context whose Done does not close at its deadline.
func settle(ctx context.Context) {
	if ctx.Err() != nil || ctx.Done() == nil {
		return
	}
	if _, ok := ctx.Deadline(); !ok {
		return
	}
	t := time.NewTimer(DefaultCheckInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// Identity words. A process is named in shared memory by one 64-bit word,
// pid<<40 | start, where start is the low 40 bits of its start time in
// clock ticks since boot (2^40 ticks at 100 Hz is 348 years).
const (
	identPidShift = 40
	startMask     = 1<<identPidShift - 1
)

func identWord(id shm.Identity) uint64 {
	return uint64(uint32(id.Pid))<<identPidShift | id.Start&startMask
}

func identOf(w uint64) shm.Identity {
	return shm.Identity{Pid: int32(w >> identPidShift), Start: w & startMask}
}

// This process's pid, and its identity word, which needs its start time
// from /proc (0.3-2 ms on the VM measured): setupProcess sets it, before
// the first lock word of the process is used, so that a process that only
// imports the package does not pay for it.
var (
	selfPid  = uint32(os.Getpid())
	selfWord uint64
)

// alive reports whether process pid lives; start, when non-zero, must
// match too (so a reused pid does not pass for the old process).
func alive(pid uint32, start uint64) bool {
	if pid == selfPid {
		return true
	}
	if pid == 0 || pid > 1<<22 {
		return false
	}
	return shm.Identity{Pid: int32(pid), Start: start}.Alive()
}
