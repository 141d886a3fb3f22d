package semaphore_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

func TestLockBasics(t *testing.T) {
	name := segName(t)
	l, err := semaphore.NewLock(name)
	require.NoError(t, err)
	defer l.Close()
	var _ sync.Locker = l

	assert.False(t, l.Locked())
	l.Lock()
	assert.True(t, l.Locked())
	assert.False(t, l.TryLock(), "TryLock of a held Lock")
	l.Unlock()
	assert.True(t, l.TryLock())
	assert.NoError(t, l.Release())
	assert.ErrorIs(t, l.Release(), semaphore.ErrNotLocked, "release of unlocked Lock")
	assert.False(t, l.Locked(), "a failed release changes nothing")
	assert.PanicsWithValue(t, "semaphore: unlock of unlocked Lock", l.Unlock)

	// A timed-out LockContext leaves the lock as it was.
	l.Lock()
	start := time.Now()
	err = l.LockContext(ctxTimeout(t, 30*time.Millisecond))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 25*time.Millisecond)
	assert.True(t, l.Locked())
	assert.False(t, l.OwnerDied())

	// A cancelled LockContext returns promptly with Canceled.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- l.LockContext(ctx) }()
	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(testTimeout):
		t.Fatal("cancelled LockContext did not return")
	}

	// A goroutine other than the locker may unlock it (as in Python).
	unlocked := make(chan struct{})
	go func() { l.Unlock(); close(unlocked) }()
	require.NoError(t, l.LockContext(ctxTimeout(t, testTimeout)))
	l.Unlock()
	<-unlocked // every call must have returned before Close

	// A second Lock value opened on the name is the same lock.
	l2, err := semaphore.OpenLock(name)
	require.NoError(t, err)
	defer l2.Close()
	l.Lock()
	assert.True(t, l2.Locked())
	assert.False(t, l2.TryLock())
	l2.Unlock()
	assert.False(t, l.Locked())
	assert.Equal(t, l.Handle(), l2.Handle())
}

func TestLockClosed(t *testing.T) {
	l, err := semaphore.NewLock(segName(t))
	require.NoError(t, err)
	require.NoError(t, l.Close())
	require.NoError(t, l.Close(), "closing twice is a no-op")
	assert.ErrorIs(t, l.LockContext(context.Background()), semaphore.ErrClosed)
	assert.ErrorIs(t, l.Release(), semaphore.ErrClosed)
	assert.Panics(t, l.Lock)
	assert.Panics(t, l.Unlock)
	assert.Panics(t, func() { l.TryLock() })
}

// Lock excludes across processes: a child cannot TryLock a held lock, a
// blocked child gets it once the parent unlocks, and any process may
// release it.
func TestLockCrossProcess(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	l, err := semaphore.NewLock(name)
	require.NoError(t, err)
	defer l.Close()
	c := newCounter(t, cname)

	l.Lock()
	assert.Equal(t, 0, join(t, start(t, "lock-try", "lock", name)), "child took a held lock")

	p := start(t, "lock-wait", "lock", name, cname)
	waitFor(t, "the child to block", func() bool { return c.load(0) == 1 })
	assert.Zero(t, c.load(2), "child got a held lock")
	l.Unlock()
	assert.Equal(t, 0, join(t, p))
	assert.Equal(t, uint64(2), c.load(2), "child locked normally")

	l.Lock()
	assert.Equal(t, 0, join(t, start(t, "lock-release", "lock", name)), "another process releases")
	assert.False(t, l.Locked())
	assert.Equal(t, 4, join(t, start(t, "lock-release", "lock", name)), "release of unlocked lock from a child")
}

// 4 processes × 4 goroutines × N increments under one Lock: the total is
// exact.
func TestLockCounter(t *testing.T) { testCounter(t, "lock") }

func testCounter(t *testing.T, kind string) {
	const procs, goroutines, iters = 4, 4, 10000
	name, cname := segName(t), segName(t, "c")
	var l sync.Locker
	switch kind {
	case "lock":
		x, err := semaphore.NewLock(name)
		require.NoError(t, err)
		defer x.Close()
		l = x
	case "rlock":
		x, err := semaphore.NewRLock(name)
		require.NoError(t, err)
		defer x.Close()
		l = x
	case "sem":
		x, err := semaphore.NewSemaphore(name, 1)
		require.NoError(t, err)
		defer x.Close()
		l = semLocker{x}
	}
	c := newCounter(t, cname)
	var ps []interface{ Pid() int }
	children := make([]func() int, 0, procs-1)
	for range procs - 1 {
		p := start(t, "count", kind, name, cname, goroutines, iters)
		ps = append(ps, p)
		children = append(children, func() int { return join(t, p) })
	}
	start := time.Now()
	atomic.StoreUint64(c.word(1), 1) // start gun
	countLoop(l, c, goroutines, iters)
	for i, j := range children {
		assert.Equal(t, 0, j(), "child %d", ps[i].Pid())
	}
	total := uint64(procs * goroutines * iters)
	assert.Equal(t, total, c.load(0), "lost or duplicated increments")
	t.Logf("%s: %d increments by %d processes × %d goroutines in %v", kind, total, procs, goroutines, time.Since(start))
}

// No release misses a sleeper for good. With spinning off, every contended
// acquire sleeps, and with the periodic check an hour away, a sleeper that
// no release woke would sleep (after its first sleep, which fenceDelay
// bounds: see release.go) until the watchdog fails the test; the count
// must also be exact. 2 processes × 3 goroutines.
func TestLockNoLostWakeups(t *testing.T) {
	for _, kind := range []string{"lock", "rlock"} {
		t.Run(kind, func(t *testing.T) { testNoLostWakeups(t, kind) })
	}
}

func testNoLostWakeups(t *testing.T, kind string) {
	const goroutines, iters = 3, 20000
	defer semaphore.SetSpin(0, 0)()
	semaphore.SetCheckInterval(time.Hour)
	defer semaphore.SetCheckInterval(semaphore.DefaultCheckInterval)
	name, cname := segName(t), segName(t, "c")
	var l sync.Locker
	if kind == "lock" {
		x, err := semaphore.NewLock(name)
		require.NoError(t, err)
		defer x.Close()
		l = x
	} else {
		x, err := semaphore.NewRLock(name)
		require.NoError(t, err)
		defer x.Close()
		l = x
	}
	t.Logf("plain-store release: %v", semaphore.PlainRelease())
	c := newCounter(t, cname)
	p := start(t, "count-sleepy", kind, name, cname, goroutines, iters)
	waitFor(t, "the child to be ready", func() bool { return c.load(2) == 1 })
	sleeps := semaphore.MutexSleeps()
	done := make(chan struct{})
	go func() {
		defer close(done)
		atomic.StoreUint64(c.word(1), 1) // start gun
		sleepyLoop(l, c, goroutines, iters)
	}()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Fatalf("a waiter was not woken: %d of %d increments done", c.load(0), 2*goroutines*iters)
	}
	assert.Equal(t, 0, join(t, p))
	assert.Equal(t, uint64(2*goroutines*iters), c.load(0), "lost or duplicated increments")
	slept := semaphore.MutexSleeps() - sleeps
	t.Logf("%s: %d waits in this process slept", kind, slept)
	assert.Positive(t, slept, "the test must exercise the sleep path")
}

// With -race, the detector must see the Lock's happens-before edges: a
// plain Go variable guarded by the Lock (two Lock values on one name) from
// several goroutines is not a race.
func TestLockRaceDetector(t *testing.T) {
	name := segName(t)
	l1, err := semaphore.NewLock(name)
	require.NoError(t, err)
	defer l1.Close()
	l2, err := semaphore.OpenLock(name)
	require.NoError(t, err)
	defer l2.Close()
	plain := 0 // not atomic: only the lock orders the accesses
	var wg sync.WaitGroup
	for i := range 8 {
		l := sync.Locker(l1)
		if i%2 == 1 {
			l = l2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				l.Lock()
				plain++
				l.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 8*200, plain)
}

// A child SIGKILLed while holding the Lock: the parent's LockContext takes
// it over within the check interval and says so, and the lock works after.
func TestLockOwnerKilled(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	l, err := semaphore.NewLock(name)
	require.NoError(t, err)
	defer l.Close()
	c := newCounter(t, cname)

	p := start(t, "hold", "lock", name, 1, cname)
	waitFor(t, "the child to hold the lock", func() bool { return c.load(0) == 1 })
	require.False(t, l.TryLock())

	// A second waiter, a goroutine blocked in plain Lock, and a child
	// blocked in Lock: one of the three takes the lock over, the others
	// get it in turn, normally.
	q := start(t, "lock-wait", "lock", name, cname)
	waitFor(t, "the second child to block", func() bool { return c.load(0) == 2 })
	require.NoError(t, p.Kill())
	killed := time.Now()
	require.NoError(t, p.Join(ctxTimeout(t, testTimeout)))

	err = l.LockContext(ctxTimeout(t, testTimeout))
	took := time.Since(killed)
	if err == nil {
		// The child won the takeover; it released, and we got it normally.
		assert.Equal(t, 0, join(t, q))
		assert.Equal(t, uint64(1), c.load(2), "the child must have been told of the takeover")
	} else {
		require.ErrorIs(t, err, semaphore.ErrOwnerDied)
		assert.True(t, l.OwnerDied())
		l.Unlock()
		assert.Equal(t, 0, join(t, q))
		assert.Equal(t, uint64(2), c.load(2), "the child locked after us, normally")
		l.Lock()
	}
	assert.False(t, l.OwnerDied(), "OwnerDied ends with the holding")
	l.Unlock()
	assert.Less(t, took, 2*semaphore.DefaultCheckInterval+time.Second, "takeover took %v", took)
	t.Logf("takeover %v after SIGKILL", took)

	// Plain Lock takes a dead owner's lock over silently, with OwnerDied.
	p = start(t, "hold", "lock", name, 1, cname)
	waitFor(t, "the child to hold the lock again", func() bool { return c.load(0) == 3 })
	require.NoError(t, p.Kill())
	done := make(chan bool)
	go func() { l.Lock(); done <- l.OwnerDied() }()
	select {
	case died := <-done:
		assert.True(t, died)
	case <-time.After(testTimeout):
		t.Fatal("Lock did not take over a dead owner's lock")
	}
	l.Unlock()
	assert.True(t, l.TryLock())
	l.Unlock()
}

// Arena form: a Lock made in an arena, attached by handle in a child.
func TestLockArena(t *testing.T) {
	aname, cname := segName(t), segName(t, "c")
	a, err := shm.NewArena(aname, 4096, nil)
	require.NoError(t, err)
	defer a.Close()
	l, err := semaphore.NewLockIn(a)
	require.NoError(t, err)
	defer l.Close()
	newCounter(t, cname)
	h := l.Handle()
	assert.Equal(t, shm.KindLock, h.Kind)
	assert.NotZero(t, h.Offset)
	assert.Error(t, l.Unlink(), "an arena object has no name of its own")

	l.Lock()
	assert.Equal(t, 0, join(t, start(t, "lock-try-handle", h)), "child took a held lock")
	l.Unlock()
	assert.Equal(t, 3, join(t, start(t, "lock-try-handle", h)), "child could not take a free lock")
	assert.True(t, l.Locked(), "the child holds it (it exited without unlocking)")
	assert.NoError(t, l.Release())

	l2, err := semaphore.AttachLock(h)
	require.NoError(t, err)
	defer l2.Close()
	l2.Lock()
	assert.True(t, l.Locked())
	l.Unlock()
}

func init() {
	registerOnce("lock-try-handle", func(h shm.Handle) int {
		l, err := semaphore.AttachLock(h)
		if err != nil {
			return 1
		}
		if l.TryLock() {
			return 3
		}
		return 0
	})
}

var errTest = errors.New("test error")
