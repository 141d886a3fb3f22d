package futex_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

func newWords(t testing.TB) *shm.Region {
	name := fmt.Sprintf("test-%d-futex-%d", os.Getpid(), time.Now().UnixNano())
	r, err := shm.CreateObject(name, shm.KindRaw, 1, 256, nil)
	require.NoError(t, err)
	t.Cleanup(func() { r.Close(); _ = r.Unlink() })
	return r
}

func init() {
	// Word 0: 0 until the parent sets 1. The child sleeps on it, then
	// answers by storing 2 into word 64 and waking it. Word 128 counts the
	// child's sleeps that returned nil (woken).
	process.Register("futex-sleeper", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		r, err := shm.Attach(h, 256)
		if err != nil {
			return err
		}
		defer r.Close()
		b := r.Bytes()
		word, reply, wakes := shm.Uint32(b, 0), shm.Uint32(b, 64), shm.Uint32(b, 128)
		deadline := futex.DeadlineIn(30 * time.Second)
		for atomic.LoadUint32(word) == 0 {
			err := futex.Wait(word, 0, deadline)
			if err == nil {
				atomic.AddUint32(wakes, 1)
			} else if err != futex.ErrValueChanged {
				return err
			}
		}
		atomic.StoreUint32(reply, 2)
		futex.Wake(reply, 1)
		return nil
	})
}

func TestCrossProcessWake(t *testing.T) {
	r := newWords(t)
	b := r.Bytes()
	p, err := process.Start("futex-sleeper", &process.Options{Args: []any{r.Handle()}})
	require.NoError(t, err)
	// Wake it only once it is asleep in the kernel (state S, in futex_wait),
	// so the test shows a real cross-process wake, not a value check.
	require.Eventually(t, func() bool { return sleepingInFutex(p.Pid()) }, 20*time.Second, time.Millisecond,
		"child never slept on the futex")
	atomic.StoreUint32(shm.Uint32(b, 0), 1)
	n := futex.Wake(shm.Uint32(b, 0), 1)
	assert.Equal(t, 1, n, "exactly one sleeper woken")
	reply := shm.Uint32(b, 64)
	deadline := futex.DeadlineIn(20 * time.Second)
	for atomic.LoadUint32(reply) != 2 {
		err := futex.Wait(reply, 0, deadline)
		require.True(t, err == nil || err == futex.ErrValueChanged, "wait for reply: %v", err)
	}
	require.NoError(t, p.Join(t.Context()))
	code, _ := p.ExitCode()
	assert.Equal(t, 0, code)
	assert.GreaterOrEqual(t, atomic.LoadUint32(shm.Uint32(b, 128)), uint32(1))
}

// sleepingInFutex reports whether some thread of pid is blocked in a futex
// wait. /proc/PID/task/*/syscall starts with the syscall number (202 on
// x86-64, 98 on arm64) while a thread is blocked in it.
func sleepingInFutex(pid int) bool {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/syscall", pid, task.Name()))
		if err != nil {
			continue
		}
		var nr int
		var addr uint64
		if _, err := fmt.Sscanf(string(b), "%d 0x%x", &nr, &addr); err == nil && nr == sysFutex && addr != 0 {
			st, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if isSleeping(st) && isSharedFutexArg(b) {
				return true
			}
		}
	}
	return false
}

func TestDeadline(t *testing.T) {
	var word uint32
	for _, d := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 100 * time.Millisecond} {
		start := time.Now()
		err := futex.Wait(&word, 0, futex.DeadlineIn(d))
		elapsed := time.Since(start)
		assert.ErrorIs(t, err, futex.ErrTimeout)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.GreaterOrEqual(t, elapsed, d, "returned before its deadline")
		assert.Less(t, elapsed, d+2*time.Second, "returned far after its deadline")
	}
	// A deadline already past returns at once.
	assert.ErrorIs(t, futex.Wait(&word, 0, futex.Now()-1), futex.ErrTimeout)
}

// TestHugeDeadline: a timeout too large to add to the clock is a deadline
// that never comes (math.MaxInt64), not one wrapped around to a negative
// number, and a wait on it sleeps until woken.
func TestHugeDeadline(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - time.Duration(futex.Now()) + 1} {
		assert.Equal(t, int64(math.MaxInt64), futex.DeadlineIn(d), "DeadlineIn(%d)", d)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(math.MaxInt64))
	defer cancel()
	assert.Greater(t, futex.DeadlineFrom(ctx), futex.Now()+int64(100*365*24*time.Hour), "a context deadline centuries away")
	// Sleeps until woken (no EINVAL from a timespec ~292 years ahead).
	var word uint32
	done := make(chan error, 1)
	go func() { done <- futex.Wait(&word, 0, futex.DeadlineIn(math.MaxInt64)) }()
	select {
	case err := <-done:
		t.Fatalf("Wait returned before any wake: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	atomic.StoreUint32(&word, 1)
	futex.Wake(&word, 1)
	select {
	case err := <-done:
		assert.True(t, err == nil || err == futex.ErrValueChanged, "Wait: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("Wait with a far deadline missed its wake")
	}
}

func TestValueChanged(t *testing.T) {
	word := uint32(5)
	assert.Equal(t, futex.ErrValueChanged, futex.Wait(&word, 4, futex.DeadlineIn(10*time.Second)))
	assert.Equal(t, futex.ErrValueChanged, futex.WaitOnce(&word, 4, 0))
}

func TestWakeNobody(t *testing.T) {
	var word uint32
	assert.Equal(t, 0, futex.Wake(&word, 1))
	assert.Equal(t, 0, futex.Wake(&word, -1))
}

// TestThousandWaiters: 1,000 goroutines each sleep once on one shared word;
// waking in small batches must wake each exactly once, the sum of Wake's
// counts must equal the goroutines that returned, and no Wake may report
// more than it was asked for.
func TestThousandWaiters(t *testing.T) {
	r := newWords(t)
	word := shm.Uint32(r.Bytes(), 0)
	const n = 1000
	var returned atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Go(func() {
			// The word never changes, so only a Wake (or a spurious
			// wake-up, which the exact count would expose) returns nil.
			if err := futex.Wait(word, 0, futex.DeadlineIn(60*time.Second)); err != nil {
				errs <- err
			}
			returned.Add(1)
		})
	}
	total := 0
	deadline := time.Now().Add(60 * time.Second)
	for total < n && time.Now().Before(deadline) {
		woke := futex.Wake(word, 7)
		require.LessOrEqual(t, woke, 7)
		total += woke
		if woke == 0 {
			time.Sleep(100 * time.Microsecond) // let the remaining goroutines reach the kernel
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("waiter returned %v", err)
	}
	assert.Equal(t, n, total, "wakes counted")
	assert.Equal(t, int64(n), returned.Load(), "waiters returned")
	assert.Equal(t, 0, futex.Wake(word, -1), "nobody left asleep")
}

func TestWaitContext(t *testing.T) {
	var word uint32
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	var err error
	for err == nil {
		err = futex.WaitContext(ctx, &word, 0)
	}
	assert.ErrorIs(t, err, context.DeadlineExceeded)

	ctx, cancel = context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = futex.WaitContext(ctx, &word, 0)
		}
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		assert.True(t, errors.Is(err, context.Canceled), "%v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not wake the waiter")
	}
	assert.Equal(t, context.Canceled, futex.WaitContext(ctx, &word, 0))
	assert.Equal(t, futex.ErrValueChanged, futex.WaitContext(context.Background(), &word, 1))
}

// Now reads the same clock as clock_gettime(CLOCK_MONOTONIC), the clock
// the kernel measures absolute futex deadlines on.
func TestNowIsClockMonotonic(t *testing.T) {
	for range 100 {
		var ts unix.Timespec
		a := futex.Now()
		require.NoError(t, unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts))
		b := futex.Now()
		k := ts.Nano()
		require.LessOrEqual(t, a, k, "Now before the system call")
		require.LessOrEqual(t, k, b, "Now after the system call")
	}
}
