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
	process.Register("event-wait", childEventWait)
	process.Register("event-set", func(a *process.Args) error {
		e, err := semaphore.OpenEvent(a.String(0))
		if err != nil {
			return err
		}
		e.Set()
		return nil
	})
}

// childEventWait: args name, counter name, timeout (ms). Counts itself in
// word 0, then exits 0 if Wait returned true, 7 if false.
func childEventWait(a *process.Args) error {
	e, err := semaphore.OpenEvent(a.String(0))
	if err != nil {
		return err
	}
	c, err := openCounter(a.String(1))
	if err != nil {
		return err
	}
	atomic.AddUint64(c.word(0), 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(a.Int(2))*time.Millisecond)
	defer cancel()
	if !e.Wait(ctx) {
		os.Exit(7)
	}
	return nil
}

func TestEventBasics(t *testing.T) {
	e, err := semaphore.NewEvent(segName(t))
	require.NoError(t, err)
	defer e.Close()
	assert.False(t, e.IsSet())
	assert.False(t, e.Wait(ctxTimeout(t, 10*time.Millisecond)), "Wait on a clear Event times out with false")
	e.Set()
	e.Set()
	assert.True(t, e.IsSet())
	assert.True(t, e.Wait(context.Background()))
	e.Clear()
	e.Clear()
	assert.False(t, e.IsSet())

	// Every waiter wakes on Set, and returns true even if the Event is
	// cleared again right away (Python returns True once woken by set).
	const n = 6
	var woke atomic.Int32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if e.Wait(ctxTimeout(t, testTimeout)) {
				woke.Add(1)
			}
		}()
	}
	waitFor(t, "the waiters to sleep", func() bool { return semaphore.EventSleepers(e) == n })
	e.Set()
	e.Clear()
	wg.Wait()
	assert.Equal(t, int32(n), woke.Load())
	assert.False(t, e.IsSet())

	require.NoError(t, e.Close())
	assert.False(t, e.Wait(context.Background()))
	assert.Panics(t, e.Set)
}

func TestEventCrossProcess(t *testing.T) {
	name, cname := segName(t), segName(t, "c")
	e, err := semaphore.NewEvent(name)
	require.NoError(t, err)
	defer e.Close()
	c := newCounter(t, cname)

	// Waiters in children wake on the parent's Set.
	var ps []*process.Process
	for range 3 {
		ps = append(ps, start(t, "event-wait", name, cname, int(testTimeout/time.Millisecond)))
	}
	waitFor(t, "the children to wait", func() bool { return c.load(0) == 3 })
	e.Set()
	for _, p := range ps {
		assert.Equal(t, 0, join(t, p))
	}

	// A child's Set wakes the parent.
	e.Clear()
	done := make(chan bool)
	go func() { done <- e.Wait(ctxTimeout(t, testTimeout)) }()
	assert.Equal(t, 0, join(t, start(t, "event-set", name)))
	assert.True(t, <-done)

	// A child's Wait times out with false on a clear Event.
	e.Clear()
	assert.Equal(t, 7, join(t, start(t, "event-wait", name, cname, 30)))
}
