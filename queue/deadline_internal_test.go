package queue

import (
	"context"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// within runs f and fails the test if it has not returned within d (a
// guard against a hang, not a synchronisation).
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
	}
}

// A huge timeout (time.Duration(math.MaxInt64), or a context deadline
// centuries away) means "wait as long as it takes", as Python's
// get(timeout=threading.TIMEOUT_MAX). It must not wrap around into a
// negative deadline, which the waits took for "none" while their polls
// (for a dead process holding a lock or a reservation) were dropped, so
// that the waiter slept forever behind a dead process.
func TestHugeTimeoutStillReapsDead(t *testing.T) {
	far, cancel := context.WithDeadline(t.Context(), time.Unix(1<<62, 0))
	defer cancel()

	// A dead producer's reservation ahead of a published item: the get
	// polls, declares the reservation lost and takes the item.
	q := newTestQueue(t, 4096, 0)
	r := q.b.r
	reserveAsDead(t, r)
	atomic.StoreUint64(r.plock.word, 0)
	require.NoError(t, q.Put(shortCtx(t), 7))
	var v int64
	var err error
	within(t, 5*time.Second, "GetTimeout(MaxInt64) behind a dead reservation", func() {
		v, err = q.GetTimeout(math.MaxInt64)
	})
	require.NoError(t, err)
	assert.Equal(t, int64(7), v)
	assert.Equal(t, uint64(1), q.Stats().LostPuts)

	// plock held by a dead process: the put's lock wait polls the holder
	// and takes the lock over.
	require.True(t, atomic.CompareAndSwapUint64(r.plock.word, 0, deadTag))
	within(t, 5*time.Second, "PutTimeout(MaxInt64) behind a dead lock holder", func() {
		err = q.PutTimeout(8, math.MaxInt64)
	})
	require.NoError(t, err)

	// clock held by a dead process, through a far context deadline.
	require.True(t, atomic.CompareAndSwapUint64(r.clock.word, 0, deadTag))
	within(t, 5*time.Second, "Get(far deadline) behind a dead lock holder", func() {
		v, err = q.Get(far)
	})
	require.NoError(t, err)
	assert.Equal(t, int64(8), v)
}

// The deadline of a huge timeout never comes (it is not wrapped around to
// a negative one); zero and negative timeouts are "now" (do not wait).
func TestDeadlineClamp(t *testing.T) {
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - 1, math.MaxInt64 / 2 * 2} {
		_, dl := timeoutDeadline(d)
		assert.GreaterOrEqual(t, dl, int64(0), "timeout %v", d)
	}
	far, cancel := context.WithDeadline(t.Context(), time.Unix(1<<62, 0))
	defer cancel()
	_, dl := ctxDeadline(far)
	assert.GreaterOrEqual(t, dl, int64(0))
	for _, d := range []time.Duration{0, -1, math.MinInt64} {
		_, dl := timeoutDeadline(d)
		assert.Positive(t, dl, "timeout %v", d)
	}
}
