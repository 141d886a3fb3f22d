package queue

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Producers make no wake-up at all while nobody sleeps, and one per burst
// while somebody does: the event's seq word (bumped once before each
// futex wake) counts them.
func TestOneWakePerBurst(t *testing.T) {
	q := newTestQueue(t, 64<<10, 0)
	r := q.b.r
	ctx := context.Background()
	seq := func() uint32 { return atomic.LoadUint32(r.notEmpty.seq) }

	// Nobody asleep: a thousand puts and gets, no wake-up on either event.
	s0, f0 := seq(), atomic.LoadUint32(r.notFull.seq)
	for i := 0; i < 1000; i++ {
		require.NoError(t, q.Put(ctx, int64(i)))
		_, err := q.Get(ctx)
		require.NoError(t, err)
	}
	n, err := q.PutMany(ctx, make([]int64, 100))
	require.NoError(t, err)
	require.Equal(t, 100, n)
	assert.Equal(t, s0, seq(), "puts woke a consumer that was not asleep")
	assert.Equal(t, f0, atomic.LoadUint32(r.notFull.seq), "gets woke a producer that was not asleep")
	for i := 0; i < 100; i++ {
		_, err := q.Get(ctx)
		require.NoError(t, err)
	}

	// A consumer registered as asleep (it stays asleep: it is this test):
	// a burst of puts and batches wakes it once.
	ticket := r.notEmpty.prepare()
	for i := 0; i < 50; i++ {
		require.NoError(t, q.Put(ctx, int64(i)))
	}
	_, err = q.PutMany(ctx, make([]int64, 50))
	require.NoError(t, err)
	assert.Equal(t, s0+1, seq(), "one wake-up for the burst")
	assert.NotEqual(t, ticket, seq())
	r.notEmpty.cancel()
	atomic.StoreUint32(r.notEmpty.pending, 0)

	// Once the sleeper has registered again, the next put wakes again.
	r.notEmpty.prepare()
	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, q.Put(ctx, 2))
	assert.Equal(t, s0+2, seq())
	r.notEmpty.cancel()
}

// An ownerLock's unlock is a plain store (where futex allows) and its
// waiters fence before they sleep without limit: no waiter is left asleep.
// With lockPoll an hour away, a waiter no unlock woke would sleep until the
// watchdog fails the test. 4 goroutines × 3,000 acquisitions, each holding
// the lock across a yield so that the others sleep.
func TestOwnerLockNoLostWakeups(t *testing.T) {
	q := newTestQueue(t, 64<<10, 0)
	l := q.b.r.plock
	old := lockPoll
	lockPoll = time.Hour
	defer func() { lockPoll = old }()
	var held, inside atomic.Int64
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for i := range 3000 {
				if _, err := l.lock(context.Background(), 0, 42); err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) != 1 {
					t.Error("two holders at once")
				}
				held.Add(1)
				if i%4 == 0 {
					runtime.Gosched()
				}
				inside.Add(-1)
				l.unlock()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("a waiter was never woken: %d of 12000 acquisitions", held.Load())
	}
	assert.Equal(t, int64(12000), held.Load())
	t.Logf("plain unlock: %v", plainUnlock)
}
