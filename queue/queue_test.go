package queue_test

import (
	"bytes"
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

	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

type point struct {
	X, Y int64
	Tag  [8]byte
}

func smallConfig[T any](capacity, maxSize int) *queue.Config[T] {
	c := queue.DefaultConfig[T]()
	c.Capacity = capacity
	c.MaxSize = maxSize
	return c
}

func TestPutGetFIFO(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[point](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	// Enough items to wrap the 4 KiB ring many times (64-byte records).
	for round := 0; round < 20; round++ {
		for i := 0; i < 50; i++ {
			require.NoError(t, q.Put(ctx, point{X: int64(round), Y: int64(i)}))
		}
		assert.Equal(t, 50, q.Qsize())
		for i := 0; i < 50; i++ {
			p, err := q.Get(ctx)
			require.NoError(t, err)
			require.Equal(t, point{X: int64(round), Y: int64(i)}, p)
		}
		assert.True(t, q.Empty())
	}
	st := q.Stats()
	assert.Equal(t, uint64(1000), st.Puts)
	assert.Zero(t, st.Used)
}

func TestNowaitAndMaxSize(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 3))
	require.NoError(t, err)
	defer q.Detach()
	_, err = q.GetNowait()
	assert.ErrorIs(t, err, queue.ErrEmpty)
	for i := int64(0); i < 3; i++ {
		require.NoError(t, q.PutNowait(i))
	}
	assert.True(t, q.Full())
	assert.ErrorIs(t, q.PutNowait(9), queue.ErrFull)
	assert.Equal(t, 3, q.Qsize())
	v, err := q.GetNowait()
	require.NoError(t, err)
	assert.Equal(t, int64(0), v)
	assert.False(t, q.Full())
	require.NoError(t, q.PutNowait(3))
	for i := int64(1); i <= 3; i++ {
		v, err := q.GetNowait()
		require.NoError(t, err)
		assert.Equal(t, i, v)
	}
}

func TestTimeouts(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 1))
	require.NoError(t, err)
	defer q.Detach()
	start := time.Now()
	_, err = q.GetTimeout(30 * time.Millisecond)
	assert.ErrorIs(t, err, queue.ErrEmpty)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.GreaterOrEqual(t, time.Since(start), 30*time.Millisecond)

	require.NoError(t, q.Put(t.Context(), 1))
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	err = q.Put(ctx, 2)
	assert.ErrorIs(t, err, queue.ErrFull)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Equal(t, 1, q.Qsize(), "a timed-out put changes nothing")

	ctx2, cancel2 := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- q.Put(ctx2, 3) }()
	eventually(t, "Put to block", func() bool { _, p, _ := queue.Sleepers(q); return p > 0 })
	cancel2()
	err = <-errc
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, queue.ErrFull)
}

func TestCloseDrains(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	for i := int64(0); i < 5; i++ {
		require.NoError(t, q.Put(ctx, i))
	}
	require.NoError(t, q.Close())
	require.NoError(t, q.Close())
	assert.True(t, q.Closed())
	assert.ErrorIs(t, q.Put(ctx, 9), queue.ErrClosed)
	for i := int64(0); i < 5; i++ {
		v, err := q.Get(ctx)
		require.NoError(t, err)
		assert.Equal(t, i, v)
	}
	_, err = q.Get(ctx)
	assert.ErrorIs(t, err, queue.ErrClosed)
	_, err = q.GetNowait()
	assert.ErrorIs(t, err, queue.ErrClosed)
}

func TestCloseWakesBlocked(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 1))
	require.NoError(t, err)
	defer q.Detach()
	e, err := queue.New(segName(t, "e"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer e.Detach()
	require.NoError(t, q.Put(t.Context(), 1))
	var wg sync.WaitGroup
	var putErr, getErr error
	wg.Go(func() { putErr = q.Put(t.Context(), 2) })
	wg.Go(func() { _, getErr = e.Get(t.Context()) })
	eventually(t, "both goroutines to block", func() bool {
		_, pr, _ := queue.Sleepers(q)
		c, _, _ := queue.Sleepers(e)
		return pr > 0 && c > 0
	})
	require.NoError(t, q.Close())
	require.NoError(t, e.Close())
	wg.Wait()
	assert.ErrorIs(t, putErr, queue.ErrClosed)
	assert.ErrorIs(t, getErr, queue.ErrClosed)
}

func TestBytesAndCodecItems(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[[]byte](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	for n := 0; n < 900; n += 37 {
		require.NoError(t, q.Put(ctx, bytes.Repeat([]byte{byte(n)}, n)))
		got, err := q.Get(ctx)
		require.NoError(t, err)
		require.Equal(t, bytes.Repeat([]byte{byte(n)}, n), got)
	}
}

type job struct {
	Name string
	N    int
}

type sepCodec struct{}

func (sepCodec) Encode(j job) ([]byte, error) {
	return []byte(j.Name + "|" + string(rune('a'+j.N))), nil
}
func (sepCodec) Decode(b []byte) (job, error) {
	i := bytes.IndexByte(b, '|')
	if i < 0 {
		return job{}, errors.New("bad")
	}
	return job{Name: string(b[:i]), N: int(b[i+1] - 'a')}, nil
}

func TestCustomCodec(t *testing.T) {
	cfg := smallConfig[job](4096, 0)
	cfg.Codec = sepCodec{}
	q, err := queue.New(segName(t), cfg)
	require.NoError(t, err)
	defer q.Detach()
	require.NoError(t, q.Put(t.Context(), job{"x", 3}))
	j, err := q.Get(t.Context())
	require.NoError(t, err)
	assert.Equal(t, job{"x", 3}, j)
}

func TestLargeItemOutOfLine(t *testing.T) {
	name := segName(t)
	q, err := queue.New(name, smallConfig[[]byte](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	big := make([]byte, 4*4096)
	for i := range big {
		big[i] = byte(i * 7)
	}
	ctx := t.Context()
	require.NoError(t, q.Put(ctx, []byte("before")))
	require.NoError(t, q.Put(ctx, big))
	require.NoError(t, q.Put(ctx, []byte("after")))
	for _, want := range [][]byte{[]byte("before"), big, []byte("after")} {
		got, err := q.Get(ctx)
		require.NoError(t, err)
		require.Equal(t, want, got)
	}
	assertNoBlobs(t, name)
}

// assertNoBlobs checks that no out-of-line segment of the queue is left.
func assertNoBlobs(t *testing.T, name string) {
	t.Helper()
	infos, err := shm.List()
	require.NoError(t, err)
	for _, i := range infos {
		if i.Kind == shm.KindBlob && len(i.Name) > len(name) && i.Name[:len(name)+1] == name+"." {
			t.Errorf("blob %s left behind", i.Name)
		}
	}
}

func TestPutManyGetMany(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](8192, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	const total = 5000
	go func() {
		vs := make([]int64, 100)
		for base := 0; base < total; base += len(vs) {
			for i := range vs {
				vs[i] = int64(base + i)
			}
			n, err := q.PutMany(ctx, vs)
			if err != nil || n != len(vs) {
				t.Errorf("PutMany: %d, %v", n, err)
				return
			}
		}
	}()
	dst := make([]int64, 37)
	next := int64(0)
	for next < total {
		n, err := q.GetMany(ctx, dst)
		require.NoError(t, err)
		require.Positive(t, n)
		for _, v := range dst[:n] {
			require.Equal(t, next, v)
			next++
		}
	}
}

func TestZeroCopy(t *testing.T) {
	name := segName(t)
	q, err := queue.New(name, smallConfig[[]byte](8192, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	for _, n := range []int{0, 10, 1000, 2000, 40000} {
		res, err := q.Reserve(ctx, n)
		require.NoError(t, err)
		require.Len(t, res.Bytes(), n)
		for i := range res.Bytes() {
			res.Bytes()[i] = byte(i + n)
		}
		require.NoError(t, res.Commit())
		assert.ErrorIs(t, res.Commit(), queue.ErrReleased)
		ref, err := q.GetRef(ctx)
		require.NoError(t, err)
		require.Len(t, ref.Bytes(), n)
		for i, b := range ref.Bytes() {
			if b != byte(i+n) {
				t.Fatalf("byte %d of %d: %d", i, n, b)
			}
		}
		require.NoError(t, ref.Release())
		assert.ErrorIs(t, ref.Release(), queue.ErrReleased)
	}
	// Abort: consumers skip the item.
	res, err := q.Reserve(ctx, 10)
	require.NoError(t, err)
	require.NoError(t, res.Abort())
	require.NoError(t, q.Put(ctx, []byte("next")))
	got, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("next"), got)
	assert.Equal(t, uint64(1), q.Stats().LostPuts)
	assertNoBlobs(t, name)

	iq, err := queue.New(segName(t, "i"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer iq.Detach()
	_, err = iq.Reserve(ctx, 8)
	assert.ErrorIs(t, err, queue.ErrNotBytes)
	_, err = iq.GetRef(ctx)
	assert.ErrorIs(t, err, queue.ErrNotBytes)
}

func TestGoroutinesMPMC(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[[2]int64](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	const producers, consumers, per = 4, 4, 3000
	var wg sync.WaitGroup
	for p := 0; p < producers; p++ {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				if err := q.Put(ctx, [2]int64{int64(p), int64(i)}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	var mu sync.Mutex
	seen := make([][]int, producers)
	var cw sync.WaitGroup
	for c := 0; c < consumers; c++ {
		cw.Go(func() {
			last := []int64{-1, -1, -1, -1}
			for {
				v, err := q.Get(ctx)
				if errors.Is(err, queue.ErrClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				if v[1] <= last[v[0]] {
					t.Errorf("producer %d: %d after %d", v[0], v[1], last[v[0]])
				}
				last[v[0]] = v[1]
				mu.Lock()
				seen[v[0]] = append(seen[v[0]], int(v[1]))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	require.NoError(t, q.Close())
	cw.Wait()
	for p := range seen {
		require.Len(t, seen[p], per)
		got := make([]bool, per)
		for _, i := range seen[p] {
			require.False(t, got[i], "duplicate")
			got[i] = true
		}
	}
}

func TestJoinableInProcess(t *testing.T) {
	q, err := queue.NewJoinable(segName(t), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	assert.ErrorIs(t, q.TaskDone(), queue.ErrTaskDone)
	for i := int64(0); i < 3; i++ {
		require.NoError(t, q.Put(ctx, i))
	}
	assert.Equal(t, 3, q.Unfinished())
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	assert.ErrorIs(t, q.Join(short), context.DeadlineExceeded)
	done := make(chan error, 1)
	go func() { done <- q.Join(ctx) }()
	for i := 0; i < 3; i++ {
		_, err := q.Get(ctx)
		require.NoError(t, err)
		require.NoError(t, q.TaskDone())
	}
	require.NoError(t, <-done)
	assert.ErrorIs(t, q.TaskDone(), queue.ErrTaskDone)
}

func TestSimpleQueue(t *testing.T) {
	q, err := queue.NewSimple[string](segName(t), nil)
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	assert.True(t, q.Empty())
	require.NoError(t, q.Put(ctx, "hello"))
	assert.False(t, q.Empty())
	s, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, "hello", s)
	_, err = queue.NewSimple(segName(t, "m"), smallConfig[string](4096, 3))
	assert.ErrorIs(t, err, queue.ErrConfig)
}

func TestDetach(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { _, err := q.Get(context.Background()); errc <- err }()
	eventually(t, "Get to block", func() bool { c, _, _ := queue.Sleepers(q); return c > 0 })
	require.NoError(t, q.Detach())
	assert.ErrorIs(t, <-errc, queue.ErrDetached)
	assert.ErrorIs(t, q.Put(t.Context(), 1), queue.ErrDetached)
	require.NoError(t, q.Detach())
}

func TestArenaQueue(t *testing.T) {
	a, err := shm.NewArena(segName(t), 1<<20, nil)
	require.NoError(t, err)
	defer a.Close()
	q, err := queue.NewIn(a, smallConfig[int32](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	q2, err := queue.Attach[int32](q.Handle(), nil)
	require.NoError(t, err)
	defer q2.Detach()
	require.NoError(t, q.Put(t.Context(), 42))
	v, err := q2.Get(t.Context())
	require.NoError(t, err)
	assert.Equal(t, int32(42), v)
}

// Detach while goroutines put and get in tight loops: every one of them
// ends with ErrDetached (none touches the ring after it is unmapped, which
// would crash the test), and once the last call has left the ring is no
// longer mapped in this process.
func TestDetachUnderLoad(t *testing.T) {
	for round := range 20 {
		name := segName(t, fmt.Sprint(round))
		q, err := queue.New(name, smallConfig[int64](4096, 0))
		require.NoError(t, err)
		var wg sync.WaitGroup
		var moved atomic.Int64
		errs := make(chan error, 8)
		for g := range 8 {
			wg.Go(func() {
				ctx := context.Background()
				for {
					var err error
					if g%2 == 0 {
						err = q.Put(ctx, int64(g))
					} else {
						_, err = q.Get(ctx)
					}
					if err != nil {
						errs <- err
						return
					}
					moved.Add(1)
				}
			})
		}
		eventually(t, "items to move", func() bool { return moved.Load() > 1000 })
		require.NoError(t, q.Detach())
		wg.Wait()
		close(errs)
		for err := range errs {
			require.ErrorIs(t, err, queue.ErrDetached)
		}
		maps, err := os.ReadFile("/proc/self/maps")
		require.NoError(t, err)
		require.NotContains(t, string(maps), shm.Path(name), "round %d: the ring is still mapped", round)
	}
}
