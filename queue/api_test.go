package queue_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

// Each of the three queue types, made under a name or in an arena, opens
// by name (named ones) and by handle, and items move between the handles;
// opening a queue as another type fails.
func TestKindsOpenAndAttach(t *testing.T) {
	a, err := shm.NewArena(segName(t, "arena"), 1<<20, nil)
	require.NoError(t, err)
	defer a.Close()
	ctx := t.Context()
	cfg := smallConfig[int64](4096, 0)

	// Queue.
	qn, err := queue.New(segName(t, "q"), cfg)
	require.NoError(t, err)
	defer qn.Detach()
	qa, err := queue.NewIn(a, cfg)
	require.NoError(t, err)
	defer qa.Detach()
	qo, err := queue.Open[int64](segName(t, "q"), nil)
	require.NoError(t, err)
	defer qo.Detach()
	for _, pr := range [][2]*queue.Queue[int64]{{qn, qo}, {qa, attachQ(t, qa.Handle())}} {
		require.NoError(t, pr[0].Put(ctx, 11))
		v, err := pr[1].Get(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(11), v)
	}
	assert.Equal(t, shm.KindQueue, qa.Handle().Kind)

	// SimpleQueue.
	sn, err := queue.NewSimple(segName(t, "s"), cfg)
	require.NoError(t, err)
	defer sn.Detach()
	sa, err := queue.NewSimpleIn(a, cfg)
	require.NoError(t, err)
	defer sa.Detach()
	so, err := queue.OpenSimple[int64](segName(t, "s"), nil)
	require.NoError(t, err)
	defer so.Detach()
	sh, err := queue.AttachSimple[int64](sa.Handle(), nil)
	require.NoError(t, err)
	defer sh.Detach()
	for _, pr := range [][2]*queue.SimpleQueue[int64]{{sn, so}, {sa, sh}} {
		require.NoError(t, pr[0].Put(ctx, 22))
		assert.False(t, pr[1].Empty())
		v, err := pr[1].Get(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(22), v)
	}
	assert.Equal(t, shm.KindSimpleQueue, sa.Handle().Kind)

	// JoinableQueue: TaskDone through one handle releases Join on the other.
	jn, err := queue.NewJoinable(segName(t, "j"), cfg)
	require.NoError(t, err)
	defer jn.Detach()
	ja, err := queue.NewJoinableIn(a, cfg)
	require.NoError(t, err)
	defer ja.Detach()
	jo, err := queue.OpenJoinable[int64](segName(t, "j"), nil)
	require.NoError(t, err)
	defer jo.Detach()
	jh, err := queue.AttachJoinable[int64](ja.Handle(), nil)
	require.NoError(t, err)
	defer jh.Detach()
	for _, pr := range [][2]*queue.JoinableQueue[int64]{{jn, jo}, {ja, jh}} {
		require.NoError(t, pr[0].Put(ctx, 33))
		assert.Equal(t, 1, pr[0].Unfinished())
		v, err := pr[1].Get(ctx)
		require.NoError(t, err)
		assert.Equal(t, int64(33), v)
		require.NoError(t, pr[1].TaskDone())
		require.NoError(t, pr[0].Join(ctx))
		assert.ErrorIs(t, pr[0].TaskDone(), queue.ErrTaskDone)
	}
	assert.Equal(t, shm.KindJoinableQueue, ja.Handle().Kind)

	// Another type's name or handle is refused.
	_, err = queue.OpenSimple[int64](segName(t, "q"), nil)
	assert.ErrorIs(t, err, shm.ErrKind)
	_, err = queue.OpenJoinable[int64](segName(t, "s"), nil)
	assert.ErrorIs(t, err, shm.ErrKind)
	_, err = queue.Open[int64](segName(t, "j"), nil)
	assert.ErrorIs(t, err, shm.ErrKind)
	_, err = queue.Attach[int64](ja.Handle(), nil)
	assert.ErrorIs(t, err, queue.ErrType)
	_, err = queue.AttachJoinable[int64](sa.Handle(), nil)
	assert.ErrorIs(t, err, queue.ErrType)
}

func attachQ(t *testing.T, h shm.Handle) *queue.Queue[int64] {
	t.Helper()
	q, err := queue.Attach[int64](h, nil)
	require.NoError(t, err)
	t.Cleanup(func() { q.Detach() })
	return q
}

// A maxsize of 0 or less bounds the queue by its ring only, as in Python.
func TestMaxSizeZeroOrNegative(t *testing.T) {
	for _, m := range []int{0, -1, -100} {
		q, err := queue.New(segName(t, "m"), smallConfig[int64](4096, m))
		require.NoError(t, err)
		assert.Equal(t, 0, q.MaxSize())
		n := 0
		for ; q.PutNowait(int64(n)) == nil; n++ {
		}
		assert.Equal(t, 4096/64, n, "maxsize %d: as many items as the ring holds", m)
		assert.True(t, q.Full())
		assert.ErrorIs(t, q.PutNowait(0), queue.ErrFull)
		require.NoError(t, q.Detach())
		require.NoError(t, q.Unlink())
	}
}

// GetAppend takes []byte items into the caller's buffer: in the ring and
// out of line, without allocating when the buffer is large enough.
func TestGetAppend(t *testing.T) {
	name := segName(t)
	q, err := queue.New(name, smallConfig[[]byte](8192, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	buf := make([]byte, 0, 64<<10)
	for _, n := range []int{0, 1, 100, 2000, 3000, 40000} { // the last two out of line
		item := bytes.Repeat([]byte{byte(n)}, n)
		require.NoError(t, q.Put(ctx, item))
		got, err := q.GetAppend(ctx, append(buf[:0], 'x'))
		require.NoError(t, err)
		require.Equal(t, append([]byte{'x'}, item...), got)
		assert.Equal(t, &buf[:1][0], &got[0], "the caller's buffer is used")
	}
	assertNoBlobs(t, name)
	item := make([]byte, 1000)
	allocs := testing.AllocsPerRun(100, func() {
		if err := q.Put(ctx, item); err != nil {
			t.Fatal(err)
		}
		if _, err := q.GetAppend(ctx, buf[:0]); err != nil {
			t.Fatal(err)
		}
	})
	assert.Zero(t, allocs, "allocations per Put and GetAppend")

	iq, err := queue.New(segName(t, "i"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer iq.Detach()
	_, err = iq.GetAppend(ctx, nil)
	assert.ErrorIs(t, err, queue.ErrNotBytes)
}

// With the default Config a 1 MiB item travels in the ring (no segment
// of its own), by Put and Get as by Reserve and GetRef.
func TestMegabyteItemInRing(t *testing.T) {
	name := segName(t)
	q, err := queue.New[[]byte](name, nil)
	require.NoError(t, err)
	defer q.Detach()
	ctx := t.Context()
	item := bigItem(1 << 20)
	require.NoError(t, q.Put(ctx, item))
	res, err := q.Reserve(ctx, len(item))
	require.NoError(t, err)
	copy(res.Bytes(), item)
	require.NoError(t, res.Commit())

	r, err := shm.Attach(q.Handle(), 0)
	require.NoError(t, err)
	st, err := queue.Inspect(r)
	r.Close()
	require.NoError(t, err)
	assert.Equal(t, 2, st.Records.Published)
	assert.Zero(t, st.Records.Blobs, "no item out of line")
	assertNoBlobs(t, name)

	got, err := q.Get(ctx)
	require.NoError(t, err)
	require.Equal(t, item, got)
	ref, err := q.GetRef(ctx)
	require.NoError(t, err)
	require.Equal(t, item, ref.Bytes())
	require.NoError(t, ref.Release())
	assert.Zero(t, q.Stats().Used)
}
