package semaphore_test

import (
	"context"
	"errors"
	"fmt"
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
	process.Register("barrier-rounds", childBarrierRounds)
	process.Register("barrier-wait", childBarrierWait)
}

// barrierRounds waits rounds times. For each round r it sets bit index in
// counter word 2+r and checks that the action count (word 0) is r+1 when
// released: the action ran exactly once, before the release. The action
// (if withAction) increments word 0 and records the pid in word 1.
func barrierRounds(name, cname string, rounds int, withAction bool) error {
	ctr, err := openCounter(cname)
	if err != nil {
		return err
	}
	var opts []semaphore.Option
	if withAction {
		opts = append(opts, semaphore.WithAction(func() error {
			atomic.AddUint64(ctr.word(0), 1)
			atomic.StoreUint64(ctr.word(1), uint64(process.Current().Pid))
			return nil
		}))
	}
	b, err := semaphore.OpenBarrier(name, opts...)
	if err != nil {
		return err
	}
	defer b.Close()
	for r := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
		i, err := b.Wait(ctx)
		cancel()
		if err != nil {
			return fmt.Errorf("round %d: %w", r, err)
		}
		if i < 0 || i >= b.Parties() {
			return fmt.Errorf("round %d: index %d", r, i)
		}
		for {
			old := atomic.LoadUint64(ctr.word(2 + r))
			if old&(1<<i) != 0 {
				return fmt.Errorf("round %d: index %d given twice", r, i)
			}
			if atomic.CompareAndSwapUint64(ctr.word(2+r), old, old|1<<i) {
				break
			}
		}
		if n := atomic.LoadUint64(ctr.word(0)); n != uint64(r+1) {
			return fmt.Errorf("round %d: released after %d actions", r, n)
		}
	}
	return nil
}

// childBarrierRounds: args name, counter name, rounds, withAction.
func childBarrierRounds(a *process.Args) error {
	var with bool
	if err := a.Decode(3, &with); err != nil {
		return err
	}
	return barrierRounds(a.String(0), a.String(1), a.Int(2), with)
}

// childBarrierWait: args name. Waits once without a timeout; exits 0 on
// success, 10 on ErrBrokenBarrier.
func childBarrierWait(a *process.Args) error {
	b, err := semaphore.OpenBarrier(a.String(0))
	if err != nil {
		return err
	}
	_, err = b.Wait(context.Background())
	if errors.Is(err, semaphore.ErrBrokenBarrier) {
		return errExit(10)
	}
	return err
}

// Parties in 3 processes (and 2 goroutines in the parent) pass 20
// generations: indices are distinct in every generation, and the action
// runs exactly once per generation, before anyone is released, in the
// last arriving process.
func TestBarrierGenerations(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	const rounds = 20
	ctr := newCounter(t, cname)
	b, err := semaphore.NewBarrier(name, 5)
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, 5, b.Parties())
	var ps []*process.Process
	for range 3 {
		ps = append(ps, start(t, "barrier-rounds", name, cname, rounds, true))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- barrierRounds(name, cname, rounds, true)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.NoError(t, err)
	}
	for _, p := range ps {
		assert.Equal(t, 0, join(t, p))
	}
	assert.Equal(t, uint64(rounds), ctr.load(0), "one action per generation")
	for r := range rounds {
		assert.Equal(t, uint64(1<<5-1), ctr.load(2+r), "round %d: indices 0..4 once each", r)
	}
	assert.False(t, b.Broken())
	assert.Equal(t, 0, b.NWaiting())
}

// The action runs in whichever process arrives last, before anyone is
// released; if that process supplied none, nothing runs.
func TestBarrierActionInLastArriver(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	ctr := newCounter(t, cname)
	b, err := semaphore.NewBarrier(name, 2, semaphore.WithAction(func() error {
		atomic.AddUint64(ctr.word(0), 1)
		atomic.StoreUint64(ctr.word(1), uint64(os.Getpid()))
		return nil
	}))
	require.NoError(t, err)
	defer b.Close()

	// The child (no action) arrives last: nothing runs.
	done := make(chan error, 1)
	go func() { _, err := b.Wait(ctxTimeout(t, testTimeout)); done <- err }()
	waitFor(t, "the parent to wait", func() bool { return b.NWaiting() == 1 })
	assert.Equal(t, 0, join(t, start(t, "barrier-wait", name)))
	require.NoError(t, <-done)
	assert.Zero(t, ctr.load(0), "the last arriver had no action")

	// The parent arrives last: its action runs, once, before the child is
	// released (the child checks the count when it is released).
	p := start(t, "barrier-rounds", name, cname, 1, false)
	waitFor(t, "the child to wait", func() bool { return b.NWaiting() == 1 })
	i, err := b.Wait(ctxTimeout(t, testTimeout))
	require.NoError(t, err)
	assert.Equal(t, 1, i, "the last to arrive gets index parties-1")
	assert.Equal(t, 0, join(t, p), "the child saw the action done when released")
	assert.Equal(t, uint64(1), ctr.load(0))
	assert.Equal(t, uint64(os.Getpid()), ctr.load(1), "the action ran in the parent")
}

func TestBarrierAbortReset(t *testing.T) {
	b, err := semaphore.NewBarrier(segName(t), 3)
	require.NoError(t, err)
	defer b.Close()

	// Abort breaks every waiter and every later Wait, until Reset.
	errs := make(chan error, 2)
	for range 2 {
		go func() { _, err := b.Wait(ctxTimeout(t, testTimeout)); errs <- err }()
	}
	waitFor(t, "two waiters", func() bool { return b.NWaiting() == 2 })
	require.NoError(t, b.Abort())
	assert.ErrorIs(t, <-errs, semaphore.ErrBrokenBarrier)
	assert.ErrorIs(t, <-errs, semaphore.ErrBrokenBarrier)
	assert.True(t, b.Broken())
	assert.Equal(t, 0, b.NWaiting())
	i, err := b.Wait(context.Background())
	assert.ErrorIs(t, err, semaphore.ErrBrokenBarrier)
	assert.Equal(t, -1, i)
	require.NoError(t, b.Reset())
	assert.False(t, b.Broken())
	passAll(t, b)

	// Reset during a wait breaks the waiters, and leaves the barrier
	// usable.
	for range 2 {
		go func() { _, err := b.Wait(ctxTimeout(t, testTimeout)); errs <- err }()
	}
	waitFor(t, "two waiters", func() bool { return b.NWaiting() == 2 })
	require.NoError(t, b.Reset())
	assert.ErrorIs(t, <-errs, semaphore.ErrBrokenBarrier)
	assert.ErrorIs(t, <-errs, semaphore.ErrBrokenBarrier)
	assert.False(t, b.Broken())
	passAll(t, b)
}

// passAll runs one full generation of b with goroutines.
func passAll(t *testing.T, b *semaphore.Barrier) {
	t.Helper()
	n := b.Parties()
	seen := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i, err := b.Wait(ctxTimeout(t, testTimeout))
			assert.NoError(t, err)
			seen <- i
		}()
	}
	wg.Wait()
	close(seen)
	got := map[int]bool{}
	for i := range seen {
		got[i] = true
	}
	assert.Len(t, got, n, "distinct indices")
}

// A Wait that times out breaks the barrier for everyone, as in Python;
// the default timeout (WithTimeout) is stored for every opener.
func TestBarrierTimeout(t *testing.T) {
	name := segName(t)
	b, err := semaphore.NewBarrier(name, 3, semaphore.WithTimeout(40*time.Millisecond))
	require.NoError(t, err)
	defer b.Close()
	other := make(chan error, 1)
	go func() { _, err := b.Wait(ctxTimeout(t, testTimeout)); other <- err }()
	waitFor(t, "a waiter", func() bool { return b.NWaiting() == 1 })
	start := time.Now()
	b2, err := semaphore.OpenBarrier(name)
	require.NoError(t, err)
	defer b2.Close()
	_, err = b2.Wait(context.Background()) // the stored default timeout applies
	assert.ErrorIs(t, err, semaphore.ErrBrokenBarrier)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 35*time.Millisecond)
	assert.ErrorIs(t, <-other, semaphore.ErrBrokenBarrier)
	assert.True(t, b.Broken())
	require.NoError(t, b.Reset())

	// A context deadline overrides the default; so does WithTimeout on
	// open.
	b3, err := semaphore.OpenBarrier(name, semaphore.WithTimeout(0))
	require.NoError(t, err)
	defer b3.Close()
	_, err = b3.Wait(ctxTimeout(t, 10*time.Millisecond))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, b.Reset())
}

func TestBarrierFailingAction(t *testing.T) {
	boom := errors.New("boom")
	b, err := semaphore.NewBarrier(segName(t), 2, semaphore.WithAction(func() error { return boom }))
	require.NoError(t, err)
	defer b.Close()
	other := make(chan error, 1)
	go func() { _, err := b.Wait(ctxTimeout(t, testTimeout)); other <- err }()
	waitFor(t, "a waiter", func() bool { return b.NWaiting() == 1 })
	_, err = b.Wait(ctxTimeout(t, testTimeout))
	assert.ErrorIs(t, err, semaphore.ErrBrokenBarrier)
	assert.ErrorIs(t, err, boom)
	assert.ErrorIs(t, <-other, semaphore.ErrBrokenBarrier)
	assert.True(t, b.Broken())

	// A panicking action breaks the barrier, and the panic goes on.
	require.NoError(t, b.Reset())
	bp, err := semaphore.AttachBarrier(b.Handle(), semaphore.WithAction(func() error { panic("kaboom") }))
	require.NoError(t, err)
	defer bp.Close()
	go func() { _, err := b.Wait(ctxTimeout(t, testTimeout)); other <- err }()
	waitFor(t, "a waiter", func() bool { return b.NWaiting() == 1 })
	assert.PanicsWithValue(t, "kaboom", func() { _, _ = bp.Wait(ctxTimeout(t, testTimeout)) })
	assert.ErrorIs(t, <-other, semaphore.ErrBrokenBarrier)
	assert.True(t, b.Broken())
}

// The action runs outside the barrier's internal lock: it may use the
// barrier (here, Abort, which breaks the generation being released).
func TestBarrierActionMayAbort(t *testing.T) {
	var b *semaphore.Barrier
	b, err := semaphore.NewBarrier(segName(t), 2, semaphore.WithAction(func() error {
		assert.Equal(t, 2, b.NWaiting())
		return b.Abort()
	}))
	require.NoError(t, err)
	defer b.Close()
	other := make(chan error, 1)
	go func() { _, err := b.Wait(ctxTimeout(t, testTimeout)); other <- err }()
	waitFor(t, "a waiter", func() bool { return b.NWaiting() == 1 })
	_, err = b.Wait(ctxTimeout(t, testTimeout))
	assert.ErrorIs(t, err, semaphore.ErrBrokenBarrier)
	assert.ErrorIs(t, <-other, semaphore.ErrBrokenBarrier)
}

// A child SIGKILLed while waiting at a Barrier: the survivors, waiting
// without any timeout, break within about the check interval.
func TestBarrierPartyKilled(t *testing.T) {
	name := segName(t)
	b, err := semaphore.NewBarrier(name, 3)
	require.NoError(t, err)
	defer b.Close()
	p := start(t, "barrier-wait", name)
	waitFor(t, "the child to wait", func() bool { return b.NWaiting() == 1 })
	other := make(chan error, 1)
	go func() { _, err := b.Wait(context.Background()); other <- err }()
	waitFor(t, "the parent to wait", func() bool { return b.NWaiting() == 2 })
	require.NoError(t, p.Kill())
	killed := time.Now()
	select {
	case err := <-other:
		assert.ErrorIs(t, err, semaphore.ErrBrokenBarrier)
	case <-time.After(testTimeout):
		t.Fatal("the barrier did not break when a waiting party died")
	}
	took := time.Since(killed)
	t.Logf("broken %v after SIGKILL", took)
	assert.Less(t, took, 2*semaphore.DefaultCheckInterval+time.Second)
	assert.True(t, b.Broken())
	require.NoError(t, b.Reset())
	passAll(t, b)
}
