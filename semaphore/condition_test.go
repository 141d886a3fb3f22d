package semaphore_test

import (
	"context"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

func init() {
	process.Register("cond-wait", childCondWait)
	process.Register("cond-bump", childCondBump)
}

// childCondWait: args condition handle, timeout (ms). Waits once; exits 0
// if notified, 8 if not, 9 if the lock was not held afterwards.
func childCondWait(a *process.Args) error {
	var h shm.Handle
	if err := a.Decode(0, &h); err != nil {
		return err
	}
	c, err := semaphore.AttachCondition(h)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.Int(1))*time.Millisecond)
	defer cancel()
	c.Lock()
	ok, err := c.Wait(ctx)
	if err != nil {
		return err
	}
	if c.Notify(0) != nil { // only a holder may call Notify
		os.Exit(9)
	}
	c.Unlock()
	if !ok {
		os.Exit(8)
	}
	return nil
}

// childCondBump: args condition name, counter name, n. n times: under the
// lock, increments counter word 0 and notifies all.
func childCondBump(a *process.Args) error {
	c, err := semaphore.OpenCondition(a.String(0))
	if err != nil {
		return err
	}
	ctr, err := openCounter(a.String(1))
	if err != nil {
		return err
	}
	for range a.Int(2) {
		c.Lock()
		increment(ctr.word(0))
		if err := c.NotifyAll(); err != nil {
			return err
		}
		c.Unlock()
	}
	return nil
}

func newCondition(t *testing.T, kind string) *semaphore.Condition {
	t.Helper()
	var lock semaphore.Locker
	switch kind {
	case "Lock":
		l, err := semaphore.NewLock(segName(t, "lock"))
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		lock = l
	case "RLock":
		l, err := semaphore.NewRLock(segName(t, "rlock"))
		require.NoError(t, err)
		t.Cleanup(func() { l.Close() })
		lock = l
	}
	c, err := semaphore.NewCondition(segName(t), lock)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestConditionNotHeld(t *testing.T) {
	for _, kind := range []string{"Lock", "RLock", "default"} {
		t.Run(kind, func(t *testing.T) {
			c := newCondition(t, kind)
			ctx := context.Background()
			check := func(why string) {
				_, err := c.Wait(ctx)
				assert.ErrorIs(t, err, semaphore.ErrNotOwner, "Wait %s", why)
				_, err = c.WaitFor(ctx, func() bool { return true })
				assert.ErrorIs(t, err, semaphore.ErrNotOwner, "WaitFor %s", why)
				assert.ErrorIs(t, c.Notify(1), semaphore.ErrNotOwner, "Notify %s", why)
				assert.ErrorIs(t, c.NotifyAll(), semaphore.ErrNotOwner, "NotifyAll %s", why)
			}
			check("without the lock")
			held, release, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
			defer func() { <-done }() // every call returns before Close
			go func() {
				c.Lock()
				close(held)
				<-release
				c.Unlock()
				close(done)
			}()
			<-held
			if kind != "Lock" {
				check("with the lock held by another goroutine")
			}
			close(release)
			c.Lock()
			assert.NoError(t, c.Notify(1))
			assert.ErrorIs(t, c.Notify(-1), semaphore.ErrInvalid)
			ok, err := c.Wait(ctxTimeout(t, 5*time.Millisecond))
			assert.NoError(t, err)
			assert.False(t, ok, "nobody notified")
			c.Unlock()
		})
	}
}

// Notify(n) wakes at most n of the waiters that were waiting when it was
// called, oldest first; a waiter that arrives later is not woken by it.
// Waiters are child processes and goroutines.
func TestConditionNotifyN(t *testing.T) {
	for _, kind := range []string{"Lock", "RLock"} {
		t.Run(kind, func(t *testing.T) {
			c := newCondition(t, kind)
			h := c.Handle()
			ms := int(testTimeout / time.Millisecond)
			goWait := func() chan bool {
				ch := make(chan bool, 1)
				go func() {
					c.Lock()
					ok, err := c.Wait(ctxTimeout(t, testTimeout))
					assert.NoError(t, err)
					c.Unlock()
					ch <- ok
				}()
				return ch
			}
			w1 := start(t, "cond-wait", h, ms)
			waitFor(t, "w1 to wait", func() bool { return semaphore.CondPending(c) == 1 })
			w2 := goWait()
			waitFor(t, "w2 to wait", func() bool { return semaphore.CondPending(c) == 2 })
			w3 := start(t, "cond-wait", h, ms)
			waitFor(t, "w3 to wait", func() bool { return semaphore.CondPending(c) == 3 })

			c.Lock()
			require.NoError(t, c.Notify(2))
			c.Unlock()
			assert.Equal(t, 0, join(t, w1), "w1 notified")
			assert.True(t, <-w2, "w2 notified")
			assert.Equal(t, 1, semaphore.CondPending(c), "w3 still waiting")
			_, done := w3.ExitCode()
			assert.False(t, done, "w3 was not notified")

			w4 := goWait()
			waitFor(t, "w4 to wait", func() bool { return semaphore.CondPending(c) == 2 })
			c.Lock()
			require.NoError(t, c.Notify(1))
			c.Unlock()
			assert.Equal(t, 0, join(t, w3), "w3, the oldest, notified")
			assert.Equal(t, 1, semaphore.CondPending(c))
			select {
			case <-w4:
				t.Fatal("w4 was woken by a Notify(1) meant for w3")
			default:
			}
			c.Lock()
			require.NoError(t, c.NotifyAll())
			require.NoError(t, c.NotifyAll(), "NotifyAll with nobody waiting")
			c.Unlock()
			assert.True(t, <-w4)
			assert.Equal(t, 0, semaphore.CondPending(c))
		})
	}
}

// Wait with an RLock held at depth 3 releases it entirely (another
// goroutine can take it) and restores depth 3.
func TestConditionRLockDepth(t *testing.T) {
	l, err := semaphore.NewRLock(segName(t, "rlock"))
	require.NoError(t, err)
	defer l.Close()
	c, err := semaphore.NewCondition(segName(t), l)
	require.NoError(t, err)
	defer c.Close()
	assert.Same(t, l, c.Locker())
	for range 3 {
		l.Lock()
	}
	notifier := make(chan error)
	go func() {
		waitFor(t, "the waiter", func() bool { return semaphore.CondPending(c) == 1 })
		l.Lock() // possible only if Wait released every level
		err := c.Notify(1)
		l.Unlock()
		notifier <- err
	}()
	ok, err := c.Wait(ctxTimeout(t, testTimeout))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.NoError(t, <-notifier)
	assert.Equal(t, 3, l.Depth())
	for range 3 {
		l.Unlock()
	}
	assert.False(t, l.Locked())
}

// A waiter that times out withdraws: the next Notify(1) goes to a live
// waiter, not to it.
func TestConditionTimeoutWithdraws(t *testing.T) {
	c := newCondition(t, "Lock")
	long := make(chan bool, 1)
	c.Lock()
	ok, err := c.Wait(ctxTimeout(t, 5*time.Millisecond))
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Equal(t, 0, semaphore.CondPending(c), "the timed-out waiter left")
	c.Unlock()

	// An older waiter times out while a younger one waits.
	short := make(chan bool, 1)
	go func() {
		c.Lock()
		ok, _ := c.Wait(ctxTimeout(t, 50*time.Millisecond))
		c.Unlock()
		short <- ok
	}()
	waitFor(t, "the short waiter", func() bool { return semaphore.CondPending(c) == 1 })
	go func() {
		c.Lock()
		ok, _ := c.Wait(ctxTimeout(t, testTimeout))
		c.Unlock()
		long <- ok
	}()
	waitFor(t, "the long waiter", func() bool { return semaphore.CondPending(c) == 2 })
	assert.False(t, <-short)
	c.Lock()
	require.NoError(t, c.Notify(1))
	c.Unlock()
	select {
	case ok := <-long:
		assert.True(t, ok)
	case <-time.After(testTimeout):
		t.Fatal("Notify(1) was wasted on a waiter that had timed out")
	}
}

// WaitFor waits for a predicate over data that children change under the
// lock.
func TestConditionWaitFor(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	c, err := semaphore.NewCondition(name, nil)
	require.NoError(t, err)
	defer c.Close()
	_, isRLock := c.Locker().(*semaphore.RLock)
	assert.True(t, isRLock, "a nil lock means a new RLock")
	ctr := newCounter(t, cname)
	v := ctr.word(0)
	p1 := start(t, "cond-bump", name, cname, 5)
	p2 := start(t, "cond-bump", name, cname, 5)
	c.Lock()
	ok, err := c.WaitFor(ctxTimeout(t, testTimeout), func() bool { return atomic.LoadUint64(v) == 10 })
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = c.WaitFor(ctxTimeout(t, 10*time.Millisecond), func() bool { return atomic.LoadUint64(v) == 11 })
	require.NoError(t, err)
	assert.False(t, ok, "WaitFor times out with the predicate's value")
	c.Unlock()
	assert.Equal(t, 0, join(t, p1))
	assert.Equal(t, 0, join(t, p2))
}

// Spurious wake-ups: every waiter sleeps on its own futex word, so a
// Notify(1) wakes exactly one and the others never see a wake-up.
func TestConditionNoSpuriousWakeups(t *testing.T) {
	defer semaphore.SetSpin(0, 0)() // every waiter sleeps in the kernel
	c := newCondition(t, "Lock")
	const n = 8
	before := semaphore.SpuriousWakeups()
	woke := make(chan bool, n)
	for range n {
		go func() {
			c.Lock()
			ok, err := c.Wait(ctxTimeout(t, testTimeout))
			assert.NoError(t, err)
			c.Unlock()
			woke <- ok
		}()
	}
	waitFor(t, "the waiters", func() bool { return semaphore.CondPending(c) == n })
	for i := range n {
		c.Lock()
		require.NoError(t, c.Notify(1))
		c.Unlock()
		assert.True(t, <-woke)
		assert.Equal(t, n-i-1, semaphore.CondPending(c))
	}
	spurious := semaphore.SpuriousWakeups() - before
	t.Logf("%d spurious wake-ups for %d notifications", spurious, n)
	assert.Zero(t, spurious)
}

// A child SIGKILLed while waiting on a Condition: its slot is skipped, so
// Notify(1) reaches the live waiter behind it, and the Condition and its
// lock keep working.
func TestConditionWaiterKilled(t *testing.T) {
	c := newCondition(t, "Lock")
	p := start(t, "cond-wait", c.Handle(), int(testTimeout/time.Millisecond))
	waitFor(t, "the child to wait", func() bool { return semaphore.CondPending(c) == 1 })
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(ctxTimeout(t, testTimeout)))
	live := make(chan bool, 1)
	go func() {
		c.Lock()
		ok, _ := c.Wait(ctxTimeout(t, testTimeout))
		c.Unlock()
		live <- ok
	}()
	waitFor(t, "the live waiter", func() bool { return semaphore.CondPending(c) == 2 })
	// A dead waiter is recognised once it has waited a check interval.
	waitFor(t, "the dead waiter to age", func() bool {
		return semaphore.CondOldestAge(c) > semaphore.DefaultCheckInterval
	})
	c.Lock()
	require.NoError(t, c.Notify(1))
	c.Unlock()
	select {
	case ok := <-live:
		assert.True(t, ok)
	case <-time.After(testTimeout):
		t.Fatal("Notify(1) went to the dead waiter")
	}
	assert.Equal(t, 0, semaphore.CondPending(c))
}

func TestConditionMaxWaiters(t *testing.T) {
	c, err := semaphore.NewCondition(segName(t), nil, semaphore.WithMaxWaiters(2))
	require.NoError(t, err)
	defer c.Close()
	var wg sync.WaitGroup
	defer wg.Wait() // before Close
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Lock()
			_, _ = c.Wait(ctxTimeout(t, testTimeout))
			c.Unlock()
		}()
	}
	waitFor(t, "two waiters", func() bool { return semaphore.CondPending(c) == 2 })
	c.Lock()
	_, err = c.Wait(context.Background())
	assert.ErrorIs(t, err, semaphore.ErrTooManyWaiters)
	assert.Equal(t, 1, c.Locker().(*semaphore.RLock).Depth(), "the failed Wait kept the lock")
	require.NoError(t, c.NotifyAll())
	c.Unlock()
	waitFor(t, "the waiters to leave", func() bool { return semaphore.CondPending(c) == 0 })

	_, err = semaphore.NewCondition(segName(t, "x"), nil, semaphore.WithMaxWaiters(0))
	assert.ErrorIs(t, err, semaphore.ErrInvalid)
	_, err = semaphore.NewCondition(segName(t, "y"), nil, semaphore.WithMaxWaiters(semaphore.MaxWaiters+1))
	assert.ErrorIs(t, err, semaphore.ErrInvalid)
}

// OpenCondition and AttachCondition re-attach the lock the Condition was
// made with; Unlink of a Condition made with a nil lock removes both.
func TestConditionOpenAndArena(t *testing.T) {
	name := segName(t)
	c, err := semaphore.NewCondition(name, nil)
	require.NoError(t, err)
	c2, err := semaphore.OpenCondition(name)
	require.NoError(t, err)
	c.Lock()
	assert.True(t, c2.Locker().(*semaphore.RLock).Locked(), "same lock")
	c.Unlock()
	require.NoError(t, c2.Close())
	require.NoError(t, c.Unlink())
	require.NoError(t, c.Close())
	_, err = shm.Stat(name + ".lock")
	assert.ErrorIs(t, err, shm.ErrNotExist, "the condition's own lock is unlinked with it")

	a, err := shm.NewArena(segName(t, "arena"), 1<<16, nil)
	require.NoError(t, err)
	defer a.Close()
	l, err := semaphore.NewLockIn(a)
	require.NoError(t, err)
	defer l.Close()
	ca, err := semaphore.NewConditionIn(a, l)
	require.NoError(t, err)
	defer ca.Close()
	p := start(t, "cond-wait", ca.Handle(), int(testTimeout/time.Millisecond))
	waitFor(t, "the child to wait", func() bool { return semaphore.CondPending(ca) == 1 })
	l.Lock()
	require.NoError(t, ca.Notify(1))
	l.Unlock()
	assert.Equal(t, 0, join(t, p))
}
