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
)

func init() {
	process.Register("sem-acquire", childSemAcquire)
	process.Register("sem-release", childSemRelease)
}

// childSemAcquire: args name, counter name, n. Counts itself in word 0,
// acquires n permits (each with a generous timeout), counting them in word
// 2, and exits.
func childSemAcquire(a *process.Args) error {
	s, err := semaphore.OpenSemaphore(a.String(0))
	if err != nil {
		return err
	}
	c, err := openCounter(a.String(1))
	if err != nil {
		return err
	}
	atomic.AddUint64(c.word(0), 1)
	for range a.Int(2) {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		err := s.Acquire(ctx)
		cancel()
		if err != nil {
			return err
		}
		atomic.AddUint64(c.word(2), 1)
	}
	return nil
}

// childSemRelease: args kind ("sem" or "bounded"), name. Exit 0 if the
// release worked, 6 for ErrValueTooLarge.
func childSemRelease(a *process.Args) error {
	var err error
	if a.String(0) == "bounded" {
		s, e := semaphore.OpenBoundedSemaphore(a.String(1))
		if e != nil {
			return e
		}
		err = s.Release()
	} else {
		s, e := semaphore.OpenSemaphore(a.String(1))
		if e != nil {
			return e
		}
		err = s.Release()
	}
	if err == semaphore.ErrValueTooLarge {
		os.Exit(6)
	}
	return err
}

func TestSemaphoreBasics(t *testing.T) {
	s, err := semaphore.NewSemaphore(segName(t), 2)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 2, s.Value())
	assert.True(t, s.TryAcquire())
	require.NoError(t, s.Acquire(context.Background()))
	assert.Equal(t, 0, s.Value())
	assert.False(t, s.TryAcquire())

	// A timed-out Acquire leaves the value unchanged.
	err = s.Acquire(ctxTimeout(t, 20*time.Millisecond))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 0, s.Value())

	// Release wakes a blocked Acquire; a Semaphore can go above its
	// initial value.
	done := make(chan error)
	go func() { done <- s.Acquire(ctxTimeout(t, testTimeout)) }()
	require.NoError(t, s.Release())
	require.NoError(t, <-done)
	for range 3 {
		require.NoError(t, s.Release())
	}
	assert.Equal(t, 3, s.Value())

	// Release at SemValueMax is refused.
	m, err := semaphore.NewSemaphore(segName(t, "max"), semaphore.SemValueMax)
	require.NoError(t, err)
	defer m.Close()
	assert.ErrorIs(t, m.Release(), semaphore.ErrValueTooLarge)
	assert.Equal(t, semaphore.SemValueMax, m.Value())

	require.NoError(t, s.Close())
	assert.ErrorIs(t, s.Acquire(context.Background()), semaphore.ErrClosed)
	assert.ErrorIs(t, s.Release(), semaphore.ErrClosed)
}

func TestBoundedSemaphore(t *testing.T) {
	name := segName(t)
	s, err := semaphore.NewBoundedSemaphore(name, 2)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, 2, s.Limit())
	assert.ErrorIs(t, s.Release(), semaphore.ErrValueTooLarge, "release above the initial value")
	assert.Equal(t, 2, s.Value(), "the refused release changed nothing")
	require.NoError(t, s.Acquire(context.Background()))
	assert.Equal(t, 1, join(t, start(t, "sem-release", "sem", name)), "opening a BoundedSemaphore as a Semaphore fails")
	assert.Equal(t, 0, join(t, start(t, "sem-release", "bounded", name)), "a child may release")
	assert.Equal(t, 6, join(t, start(t, "sem-release", "bounded", name)), "the child is refused above the bound")
	assert.Equal(t, 2, s.Value())

	z, err := semaphore.NewBoundedSemaphore(segName(t, "zero"), 0)
	require.NoError(t, err)
	defer z.Close()
	assert.ErrorIs(t, z.Release(), semaphore.ErrValueTooLarge)
	assert.False(t, z.TryAcquire())
}

// Permits cross processes: children block until the parent releases,
// and get exactly the permits released.
func TestSemaphoreCrossProcess(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	s, err := semaphore.NewSemaphore(name, 0)
	require.NoError(t, err)
	defer s.Close()
	c := newCounter(t, cname)
	const children, each = 3, 20
	var ps []*process.Process
	for range children {
		ps = append(ps, start(t, "sem-acquire", name, cname, each))
	}
	waitFor(t, "the children to start", func() bool { return c.load(0) == children })
	assert.Zero(t, c.load(2))
	for i := 1; i <= children*each; i++ {
		require.NoError(t, s.Release())
		waitFor(t, "a child to take the permit", func() bool { return c.load(2) == uint64(i) })
	}
	for _, p := range ps {
		assert.Equal(t, 0, join(t, p))
	}
	assert.Equal(t, 0, s.Value())
}

func TestSemaphoreCounter(t *testing.T) { testCounter(t, "sem") }

// A Semaphore has no owner: a permit held by a killed child is lost, and
// the survivor may release for it.
func TestSemaphoreHolderKilled(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	s, err := semaphore.NewSemaphore(name, 1)
	require.NoError(t, err)
	defer s.Close()
	c := newCounter(t, cname)
	p := start(t, "hold", "sem", name, 0, cname)
	waitFor(t, "the child to take the permit", func() bool { return c.load(0) == 1 })
	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(ctxTimeout(t, testTimeout)))
	assert.Equal(t, 0, s.Value(), "the dead child's permit is lost")
	assert.ErrorIs(t, s.Acquire(ctxTimeout(t, 20*time.Millisecond)), context.DeadlineExceeded)
	require.NoError(t, s.Release(), "the survivor compensates")
	require.NoError(t, s.Acquire(ctxTimeout(t, testTimeout)))
}

// Waiters that time out or are cancelled do not swallow a wake-up meant
// for the others: every patient waiter gets a permit, although impatient
// ones come and go around it (one that gets a permit gives it back).
func TestSemaphoreNoLostWakeup(t *testing.T) {
	s, err := semaphore.NewSemaphore(segName(t), 0)
	require.NoError(t, err)
	defer s.Close()
	const patient, rounds = 4, 50
	var got atomic.Int32
	var wg sync.WaitGroup
	for range patient {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.Acquire(ctxTimeout(t, testTimeout)) == nil {
				got.Add(1)
			}
		}()
	}
	stop := make(chan struct{})
	var iwg sync.WaitGroup
	for i := range 4 {
		iwg.Add(1)
		go func() {
			defer iwg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), time.Duration(50+(i*7+j)%200)*time.Microsecond)
				if s.Acquire(ctx) == nil {
					_ = s.Release()
				}
				cancel()
			}
		}()
	}
	for range patient {
		time.Sleep(time.Millisecond) // let the impatient ones churn
		require.NoError(t, s.Release())
	}
	waitFor(t, "every patient waiter to get a permit", func() bool { return got.Load() == patient })
	close(stop)
	iwg.Wait()
	wg.Wait()
	assert.Equal(t, 0, s.Value())
}
