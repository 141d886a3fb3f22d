package queue_test

import (
	"context"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/queue"
)

// Python's multiprocessing.Queue treats a zero or negative timeout as
// "do not wait": get(timeout=t<=0) returns an item that is there and
// raises Empty otherwise; put(timeout=t<=0) puts if there is room and
// raises Full otherwise (the semaphore's acquire clamps a negative
// timeout to 0; only queue.Queue raises ValueError for it).
func TestPythonZeroAndNegativeTimeouts(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 2))
	require.NoError(t, err)
	defer q.Detach()
	for _, d := range []time.Duration{0, -time.Nanosecond, -time.Hour} {
		_, err := q.GetTimeout(d)
		assert.ErrorIs(t, err, queue.ErrEmpty, "GetTimeout(%v) on an empty queue", d)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "GetTimeout(%v) on an empty queue", d)

		require.NoError(t, q.PutTimeout(7, d), "PutTimeout(%v) with room", d)
		v, err := q.GetTimeout(d)
		require.NoError(t, err, "GetTimeout(%v) with an item", d)
		assert.Equal(t, int64(7), v)

		require.NoError(t, q.PutNowait(1))
		require.NoError(t, q.PutNowait(2))
		err = q.PutTimeout(3, d)
		assert.ErrorIs(t, err, queue.ErrFull, "PutTimeout(%v) on a full queue", d)
		assert.ErrorIs(t, err, context.DeadlineExceeded, "PutTimeout(%v) on a full queue", d)
		assert.Equal(t, 2, q.Qsize(), "a failed put changes nothing")
		for _, want := range []int64{1, 2} {
			v, err := q.GetNowait()
			require.NoError(t, err)
			assert.Equal(t, want, v)
		}
	}
}

// A context whose deadline has passed is a timeout of zero: an item that
// is there is taken.
func TestExpiredContextTakesReadyItem(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 1))
	require.NoError(t, err)
	defer q.Detach()
	past, cancel := context.WithDeadline(t.Context(), time.Now().Add(-time.Second))
	defer cancel()
	require.NoError(t, q.Put(past, 5))
	err = q.Put(past, 6)
	assert.ErrorIs(t, err, queue.ErrFull)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	v, err := q.Get(past)
	require.NoError(t, err)
	assert.Equal(t, int64(5), v)
	_, err = q.Get(past)
	assert.ErrorIs(t, err, queue.ErrEmpty)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// A huge timeout means "wait": it must not wrap around into a deadline
// in the past (Python: get(timeout=threading.TIMEOUT_MAX) waits).
func TestHugeTimeoutWaits(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 1))
	require.NoError(t, err)
	defer q.Detach()
	for _, d := range []time.Duration{math.MaxInt64, math.MaxInt64 - 1, 200 * 365 * 24 * time.Hour} {
		errc := make(chan error, 1)
		got := make(chan int64, 1)
		go func() {
			v, err := q.GetTimeout(d)
			got <- v
			errc <- err
		}()
		eventually(t, "GetTimeout to block", func() bool { c, _, _ := queue.Sleepers(q); return c > 0 })
		require.NoError(t, q.Put(t.Context(), 9))
		require.NoError(t, <-errc, "GetTimeout(%v)", d)
		assert.Equal(t, int64(9), <-got)

		require.NoError(t, q.Put(t.Context(), 1))
		go func() { errc <- q.PutTimeout(2, d) }()
		eventually(t, "PutTimeout to block", func() bool { _, p, _ := queue.Sleepers(q); return p > 0 })
		v, err := q.Get(t.Context())
		require.NoError(t, err)
		assert.Equal(t, int64(1), v)
		require.NoError(t, <-errc, "PutTimeout(%v)", d)
		v, err = q.Get(t.Context())
		require.NoError(t, err)
		assert.Equal(t, int64(2), v)
	}
	// The same through a context with a far deadline.
	far, cancel := context.WithDeadline(t.Context(), time.Unix(1<<62, 0))
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := q.Get(far); errc <- err }()
	eventually(t, "Get to block", func() bool { c, _, _ := queue.Sleepers(q); return c > 0 })
	require.NoError(t, q.Put(t.Context(), 3))
	require.NoError(t, <-errc)
}

// After Close, puts fail with ErrClosed whatever their form (Python:
// ValueError, not Full, even on a full queue), and gets of every form
// drain the items and then fail with ErrClosed (not ErrEmpty).
func TestClosedQueueAllForms(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 2))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, q.Put(ctx, 2))
	require.NoError(t, q.Close())
	assert.ErrorIs(t, q.PutNowait(3), queue.ErrClosed)
	assert.ErrorIs(t, q.PutTimeout(3, 0), queue.ErrClosed)
	assert.ErrorIs(t, q.PutTimeout(3, time.Hour), queue.ErrClosed)
	assert.ErrorIs(t, q.Put(ctx, 3), queue.ErrClosed)
	n, err := q.PutMany(ctx, []int64{3, 4})
	assert.Zero(t, n)
	assert.ErrorIs(t, err, queue.ErrClosed)
	assert.Equal(t, 2, q.Qsize())
	assert.True(t, q.Full())
	v, err := q.GetNowait()
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	v, err = q.GetTimeout(0)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
	assert.True(t, q.Empty())
	_, err = q.GetNowait()
	assert.ErrorIs(t, err, queue.ErrClosed)
	assert.NotErrorIs(t, err, queue.ErrEmpty)
	for _, d := range []time.Duration{0, -time.Second, time.Hour} {
		_, err = q.GetTimeout(d)
		assert.ErrorIs(t, err, queue.ErrClosed, "GetTimeout(%v)", d)
		assert.NotErrorIs(t, err, queue.ErrEmpty, "GetTimeout(%v)", d)
	}
	dst := make([]int64, 4)
	n, err = q.GetMany(ctx, dst)
	assert.Zero(t, n)
	assert.ErrorIs(t, err, queue.ErrClosed)
}

// Qsize, Empty and Full with and without maxsize.
func TestQsizeEmptyFull(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 3))
	require.NoError(t, err)
	defer q.Detach()
	assert.Equal(t, 3, q.MaxSize())
	assert.True(t, q.Empty())
	assert.False(t, q.Full())
	assert.Zero(t, q.Qsize())
	for i := 1; i <= 3; i++ {
		require.NoError(t, q.PutNowait(int64(i)))
		assert.Equal(t, i, q.Qsize())
		assert.False(t, q.Empty())
		assert.Equal(t, i == 3, q.Full())
	}
	for i := 2; i >= 0; i-- {
		_, err := q.GetNowait()
		require.NoError(t, err)
		assert.Equal(t, i, q.Qsize())
		assert.False(t, q.Full())
		assert.Equal(t, i == 0, q.Empty())
	}
	u, err := queue.New(segName(t, "u"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer u.Detach()
	for i := 0; i < 10; i++ {
		require.NoError(t, u.PutNowait(int64(i)))
	}
	assert.Equal(t, 10, u.Qsize())
	assert.False(t, u.Full())
}

// JoinableQueue: Join with nothing put returns at once; task_done may
// come before the get (Python counts puts, not gets); too many calls fail
// with ErrTaskDone and change nothing; a failed put adds no task; Join
// and TaskDone still work after Close.
func TestJoinablePythonEdges(t *testing.T) {
	q, err := queue.NewJoinable(segName(t), smallConfig[int64](4096, 1))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	require.NoError(t, q.Join(ctx))
	past, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	require.NoError(t, q.Join(past), "nothing unfinished: Join returns even with a passed deadline")
	assert.ErrorIs(t, q.TaskDone(), queue.ErrTaskDone)
	assert.Zero(t, q.Unfinished())

	require.NoError(t, q.Put(ctx, 1))
	assert.ErrorIs(t, q.PutNowait(2), queue.ErrFull)
	assert.ErrorIs(t, q.PutTimeout(2, 0), queue.ErrFull)
	assert.Equal(t, 1, q.Unfinished(), "failed puts add no task")
	require.NoError(t, q.TaskDone(), "task_done before get")
	assert.Zero(t, q.Unfinished())
	require.NoError(t, q.Join(ctx))
	assert.ErrorIs(t, q.TaskDone(), queue.ErrTaskDone)
	assert.Zero(t, q.Unfinished())
	v, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(1), v)
	assert.ErrorIs(t, q.TaskDone(), queue.ErrTaskDone, "the get does not make a task")

	require.NoError(t, q.Put(ctx, 3))
	require.NoError(t, q.Close())
	short, cancel2 := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel2()
	assert.ErrorIs(t, q.Join(short), context.DeadlineExceeded, "Close does not finish tasks")
	_, err = q.Get(ctx)
	require.NoError(t, err)
	require.NoError(t, q.TaskDone())
	require.NoError(t, q.Join(ctx))
	assert.ErrorIs(t, q.TaskDone(), queue.ErrTaskDone)
}

// SimpleQueue: Empty follows puts and gets; Close is shared, puts fail
// with ErrClosed, gets drain and then fail with ErrClosed; a maxsize of
// 0 or less is accepted (no bound), a positive one is not.
func TestSimplePythonEdges(t *testing.T) {
	for _, m := range []int{0, -1} {
		q, err := queue.NewSimple(segName(t, "s"), smallConfig[int64](4096, m))
		require.NoError(t, err, "maxsize %d", m)
		ctx := t.Context()
		assert.True(t, q.Empty())
		require.NoError(t, q.Put(ctx, 1))
		require.NoError(t, q.Put(ctx, 2))
		assert.False(t, q.Empty())
		require.NoError(t, q.Close())
		assert.True(t, q.Closed())
		assert.ErrorIs(t, q.Put(ctx, 3), queue.ErrClosed)
		for _, want := range []int64{1, 2} {
			v, err := q.Get(ctx)
			require.NoError(t, err)
			assert.Equal(t, want, v)
		}
		assert.True(t, q.Empty())
		_, err = q.Get(ctx)
		assert.ErrorIs(t, err, queue.ErrClosed)
		require.NoError(t, q.Close(), "closing twice is a no-op")
		require.NoError(t, q.Detach())
		require.NoError(t, q.Unlink())
	}
}

// The queries of a detached handle answer without touching the unmapped
// ring (they used to fault the whole process): nothing is in it through
// this handle, it is not full, and it counts as closed, since nothing can
// be put or got through it any more.
func TestDetachedQueries(t *testing.T) {
	q, err := queue.NewJoinable(segName(t), smallConfig[int64](4096, 2))
	require.NoError(t, err)
	require.NoError(t, q.Put(t.Context(), 1))
	require.NoError(t, q.Put(t.Context(), 2))
	require.NoError(t, q.Detach())
	assert.Zero(t, q.Qsize())
	assert.True(t, q.Empty())
	assert.False(t, q.Full())
	assert.True(t, q.Closed())
	assert.Zero(t, q.Unfinished())
	assert.Equal(t, 2, q.MaxSize())
	st := q.Stats()
	assert.Equal(t, queue.Stats{Capacity: 4096, MaxSize: 2, Closed: true}, st)
	assert.ErrorIs(t, q.TaskDone(), queue.ErrDetached)
	assert.ErrorIs(t, q.Join(t.Context()), queue.ErrDetached)
	assert.ErrorIs(t, q.PutNowait(3), queue.ErrDetached)
	_, err = q.GetNowait()
	assert.ErrorIs(t, err, queue.ErrDetached)
	assert.ErrorIs(t, q.Close(), queue.ErrDetached)
}

// Queries racing with Detach never read the unmapped ring: each loop
// ends when Closed reports the detach.
func TestQueriesDuringDetach(t *testing.T) {
	for round := range 20 {
		q, err := queue.NewJoinable(segName(t, fmt.Sprint(round)), smallConfig[int64](4096, 0))
		require.NoError(t, err)
		require.NoError(t, q.Put(t.Context(), 1))
		var wg sync.WaitGroup
		var started sync.WaitGroup
		for range 4 {
			started.Add(1)
			wg.Go(func() {
				started.Done()
				for !q.Closed() {
					_ = q.Qsize() + q.Unfinished() + q.Stats().Items
					_ = q.Empty() || q.Full()
				}
			})
		}
		started.Wait()
		require.NoError(t, q.Detach())
		wg.Wait()
		require.NoError(t, q.Unlink())
	}
}
