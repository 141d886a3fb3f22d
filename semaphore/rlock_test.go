package semaphore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

func TestRLockBasics(t *testing.T) {
	name := segName(t)
	l, err := semaphore.NewRLock(name)
	require.NoError(t, err)
	defer l.Close()
	var _ sync.Locker = l

	assert.ErrorIs(t, l.Release(), semaphore.ErrNotOwner, "release of an unheld RLock")
	assert.PanicsWithValue(t, "semaphore: unlock of RLock not held by this goroutine", l.Unlock)

	// Re-entrant for the holder.
	l.Lock()
	l.Lock()
	assert.True(t, l.TryLock())
	require.NoError(t, l.LockContext(context.Background()))
	assert.Equal(t, 4, l.Depth())

	// Exclusive against another goroutine, which cannot release it either.
	other := make(chan error)
	go func() {
		if l.TryLock() {
			other <- assert.AnError
			return
		}
		if err := l.LockContext(ctxTimeout(t, 20*time.Millisecond)); err == nil {
			other <- assert.AnError
			return
		}
		assert.Equal(t, 0, l.Depth(), "another goroutine's depth")
		other <- l.Release()
	}()
	assert.ErrorIs(t, <-other, semaphore.ErrNotOwner)
	assert.Equal(t, 4, l.Depth(), "the failed release changed nothing")

	// Balanced releases unlock on the last one.
	for i := 3; i >= 0; i-- {
		l.Unlock()
		assert.Equal(t, i, l.Depth())
		assert.Equal(t, i > 0, l.Locked())
	}
	assert.ErrorIs(t, l.Release(), semaphore.ErrNotOwner)

	// Now another goroutine gets it, and we cannot release it.
	got, got2 := make(chan struct{}), make(chan struct{})
	release := make(chan struct{})
	go func() {
		l.Lock()
		close(got)
		<-release
		l.Unlock()
		close(got2)
	}()
	<-got
	assert.False(t, l.TryLock())
	assert.ErrorIs(t, l.Release(), semaphore.ErrNotOwner)
	close(release)
	<-got2
	assert.False(t, l.Locked())
}

// An RLock excludes other processes, and another process cannot release
// it.
func TestRLockCrossProcess(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	l, err := semaphore.NewRLock(name)
	require.NoError(t, err)
	defer l.Close()
	c := newCounter(t, cname)

	l.Lock()
	l.Lock()
	assert.Equal(t, 0, join(t, start(t, "lock-try", "rlock", name)), "child took a held RLock")
	assert.Equal(t, 5, join(t, start(t, "lock-release", "rlock", name)), "child released our RLock")
	assert.Equal(t, 2, l.Depth())

	p := start(t, "lock-wait", "rlock", name, cname)
	waitFor(t, "the child to block", func() bool { return c.load(0) == 1 })
	l.Unlock()
	assert.Zero(t, c.load(2), "child got the RLock at depth 1")
	l.Unlock()
	assert.Equal(t, 0, join(t, p))
	assert.Equal(t, uint64(2), c.load(2))
}

func TestRLockCounter(t *testing.T) { testCounter(t, "rlock") }

// A child SIGKILLed holding an RLock at depth 3: a waiter takes it over
// (ErrOwnerDied), holds it at depth 1, and it works afterwards.
func TestRLockOwnerKilledAtDepth3(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	l, err := semaphore.NewRLock(name)
	require.NoError(t, err)
	defer l.Close()
	c := newCounter(t, cname)

	p := start(t, "hold", "rlock", name, 3, cname)
	waitFor(t, "the child to hold the RLock", func() bool { return c.load(0) == 1 })
	require.False(t, l.TryLock())
	require.NoError(t, p.Kill())
	killed := time.Now()

	err = l.LockContext(ctxTimeout(t, testTimeout))
	took := time.Since(killed)
	require.ErrorIs(t, err, semaphore.ErrOwnerDied)
	assert.True(t, l.OwnerDied())
	assert.Equal(t, 1, l.Depth(), "the takeover holds at depth 1, not the dead owner's 3")
	l.Lock()
	assert.Equal(t, 2, l.Depth())
	l.Unlock()
	l.Unlock()
	assert.False(t, l.Locked())
	assert.False(t, l.OwnerDied())
	assert.Less(t, took, 2*semaphore.DefaultCheckInterval+time.Second)
	t.Logf("takeover %v after SIGKILL", took)

	// Another process can take it normally now.
	assert.Equal(t, 3, join(t, start(t, "lock-try", "rlock", name)))
}

func TestRLockArenaAndRace(t *testing.T) {
	a, err := shm.NewArena(segName(t), 4096, nil)
	require.NoError(t, err)
	defer a.Close()
	l1, err := semaphore.NewRLockIn(a)
	require.NoError(t, err)
	defer l1.Close()
	l2, err := semaphore.AttachRLock(l1.Handle())
	require.NoError(t, err)
	defer l2.Close()
	plain := 0
	var wg sync.WaitGroup
	for i := range 4 {
		l := l1
		if i%2 == 1 {
			l = l2
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				l.Lock()
				l.Lock()
				plain++
				l.Unlock()
				l.Unlock()
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, 400, plain)
}
