package queue

import (
	"context"
	"sync/atomic"
	"testing"

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
