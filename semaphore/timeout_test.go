package semaphore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/semaphore"
)

// Event.Wait and Condition.Wait report a timeout as false, as Python's
// wait does, and document that ctx.Err() then says why: it must be set by
// the time they return, though the futex deadline passes a little before
// ctx's own timer fires. (Porting `if not ev.wait(t): raise TimeoutError`
// as `if !ev.Wait(ctx) { return ctx.Err() }` must not return nil.)
func TestTimedOutWaitLeavesCtxErr(t *testing.T) {
	e, err := semaphore.NewEvent(segName(t, "e"))
	require.NoError(t, err)
	defer e.Close()
	c := newCondition(t, "RLock")
	for i := range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		assert.False(t, e.Wait(ctx), "Event.Wait %d on a clear Event", i)
		assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded, "ctx.Err() after Event.Wait %d returned false", i)
		cancel()

		ctx, cancel = context.WithTimeout(context.Background(), time.Millisecond)
		c.Lock()
		ok, err := c.Wait(ctx)
		c.Unlock()
		require.NoError(t, err)
		assert.False(t, ok, "Condition.Wait %d without a Notify", i)
		assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded, "ctx.Err() after Condition.Wait %d returned false", i)
		cancel()
	}
}

// Python's wait_for calls the predicate once, then once after each wait,
// and stops after the wait that reaches the timeout: with nobody
// notifying, a timed-out wait_for calls it exactly twice (once with a
// timeout already spent), and returns its last value.
func TestConditionWaitForTimeoutPredicateCalls(t *testing.T) {
	for _, kind := range []string{"Lock", "RLock"} {
		t.Run(kind, func(t *testing.T) { testWaitForPredicateCalls(t, kind) })
	}
}

func testWaitForPredicateCalls(t *testing.T, kind string) {
	{
		c := newCondition(t, kind)
		calls := 0
		pred := func() bool { calls++; return false }
		c.Lock()
		ok, err := c.WaitFor(ctxTimeout(t, 20*time.Millisecond), pred)
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Equal(t, 2, calls, "%s: predicate calls of a timed-out WaitFor", kind)

		calls = 0
		done, cancel := context.WithCancel(context.Background())
		cancel()
		ok, err = c.WaitFor(done, pred)
		require.NoError(t, err)
		assert.False(t, ok)
		assert.Equal(t, 1, calls, "%s: predicate calls of WaitFor with a done ctx", kind)

		// The last value is returned, whatever the earlier ones were.
		calls = 0
		ok, err = c.WaitFor(ctxTimeout(t, 10*time.Millisecond), func() bool { calls++; return calls == 2 })
		require.NoError(t, err)
		assert.True(t, ok, "%s: the predicate's value after the timed-out wait", kind)
		c.Unlock()
	}
}

// The query methods of a closed object report the zero state, as
// Lock.Locked does, instead of reading the unmapped memory (which faults
// and kills the program, beyond recover).
func TestQueriesAfterClose(t *testing.T) {
	rl, err := semaphore.NewRLock(segName(t, "rl"))
	require.NoError(t, err)
	rl.Lock()
	require.NoError(t, rl.Close())
	assert.False(t, rl.Locked())
	assert.Zero(t, rl.Depth())
	assert.False(t, rl.OwnerDied())

	s, err := semaphore.NewSemaphore(segName(t, "s"), 3)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	assert.Zero(t, s.Value())

	bs, err := semaphore.NewBoundedSemaphore(segName(t, "bs"), 3)
	require.NoError(t, err)
	require.NoError(t, bs.Close())
	assert.Zero(t, bs.Value())
	assert.Equal(t, 3, bs.Limit(), "the limit is this process's copy")

	e, err := semaphore.NewEvent(segName(t, "e"))
	require.NoError(t, err)
	e.Set()
	require.NoError(t, e.Close())
	assert.False(t, e.IsSet())

	b, err := semaphore.NewBarrier(segName(t, "b"), 2)
	require.NoError(t, err)
	require.NoError(t, b.Abort())
	require.NoError(t, b.Close())
	assert.False(t, b.Broken())
	assert.Zero(t, b.NWaiting())
	assert.Equal(t, 2, b.Parties())
}
