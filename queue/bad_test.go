package queue_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

func TestBadConfig(t *testing.T) {
	for _, c := range []struct {
		name               string
		capacity, max, inl int
	}{
		{"zero capacity", 0, 0, 0},
		{"negative capacity", -4096, 0, 0},
		{"tiny capacity", 100, 0, 0},
		{"huge capacity", queue.MaxCapacity + 1, 0, 0},
		{"huge maxsize", 4096, queue.MaxMaxSize + 1, 0},
		{"negative inline", 4096, 0, -1},
		{"inline over half", 4096, 0, 3000},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := &queue.Config[int64]{Capacity: c.capacity, MaxSize: c.max, MaxInline: c.inl}
			_, err := queue.New(segName(t), cfg)
			assert.ErrorIs(t, err, queue.ErrConfig)
			_, statErr := shm.Stat(segName(t))
			assert.ErrorIs(t, statErr, shm.ErrNotExist, "nothing created")
		})
	}
	q, err := queue.New(segName(t), smallConfig[[]byte](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	_, err = q.Reserve(t.Context(), -1)
	assert.ErrorIs(t, err, queue.ErrSize)
	_, err = queue.New(segName(t, "x/y"), smallConfig[int64](4096, 0))
	assert.ErrorIs(t, err, shm.ErrName)
	_, err = queue.Open[int64](segName(t, "missing"), nil)
	assert.ErrorIs(t, err, shm.ErrNotExist)
}

func TestUnencodableItems(t *testing.T) {
	// A channel cannot be pickled: Put fails, nothing is put.
	q, err := queue.New[chan int](segName(t), nil)
	require.NoError(t, err)
	defer q.Detach()
	err = q.Put(t.Context(), make(chan int))
	assert.ErrorIs(t, err, queue.ErrEncode)
	assert.Zero(t, q.Qsize())
	n, err := q.PutMany(t.Context(), []chan int{make(chan int)})
	assert.ErrorIs(t, err, queue.ErrEncode)
	assert.Zero(t, n)

	// A raw codec refuses types with pointers, and a zero RawCodec.
	_, err = queue.NewRawCodec[*int]()
	assert.ErrorIs(t, err, queue.ErrType)
	_, err = queue.NewRawCodec[struct {
		A int
		S string
	}]()
	assert.ErrorIs(t, err, queue.ErrType)
	cfg := smallConfig[int64](4096, 0)
	cfg.Codec = queue.RawCodec[int64]{}
	_, err = queue.New(segName(t, "zero"), cfg)
	assert.ErrorIs(t, err, queue.ErrType)
}

func TestOpenWithAnotherType(t *testing.T) {
	name := segName(t)
	q, err := queue.New(name, smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer q.Detach()

	_, err = queue.Open[int32](name, nil) // another size
	assert.ErrorIs(t, err, queue.ErrType)
	_, err = queue.Open[float64](name, nil) // same size, another type
	assert.ErrorIs(t, err, queue.ErrType)
	_, err = queue.Open[[]byte](name, nil)
	assert.ErrorIs(t, err, queue.ErrType)
	_, err = queue.Open[string](name, nil)
	assert.ErrorIs(t, err, queue.ErrType)
	_, err = queue.OpenJoinable[int64](name, nil) // another kind
	assert.ErrorIs(t, err, shm.ErrKind)
	_, err = queue.AttachSimple[int64](q.Handle(), nil)
	assert.ErrorIs(t, err, queue.ErrType)

	// Raw items are typed by layout: two struct types with the same
	// fields share a queue; an array of the same size does not.
	type pairA struct{ A, B int64 }
	type pairB struct{ X, Y int64 }
	pname := segName(t, "p")
	pq, err := queue.New(pname, smallConfig[pairA](4096, 0))
	require.NoError(t, err)
	defer pq.Detach()
	_, err = queue.Open[[2]int64](pname, nil)
	assert.ErrorIs(t, err, queue.ErrType)
	q2, err := queue.Open[pairB](pname, nil)
	require.NoError(t, err)
	defer q2.Detach()
	require.NoError(t, pq.Put(t.Context(), pairA{1, 2}))
	v, err := q2.Get(t.Context())
	require.NoError(t, err)
	assert.Equal(t, pairB{1, 2}, v)

	sname := segName(t, "s")
	sq, err := queue.New[string](sname, nil)
	require.NoError(t, err)
	defer sq.Detach()
	_, err = queue.Open[map[string]int](sname, nil) // pickled, another Go type
	assert.ErrorIs(t, err, queue.ErrType)
}

// corrupt maps the queue's bytes (as a raw object) and lets f damage them.
func corrupt(t *testing.T, h shm.Handle, f func(b []byte)) {
	t.Helper()
	r, err := shm.Attach(h, 0)
	require.NoError(t, err)
	defer r.Close()
	f(r.Bytes())
}

func TestCorruptedHeader(t *testing.T) {
	cases := map[string]func(b []byte){
		"magic":    func(b []byte) { atomic.StoreUint64(shm.Uint64(b, 0), 0xdeadbeef) },
		"capacity": func(b []byte) { atomic.StoreUint64(shm.Uint64(b, 8), 1<<40) },
		"checksum": func(b []byte) { atomic.AddUint64(shm.Uint64(b, 24), 1) },
		"tail":     func(b []byte) { atomic.StoreUint64(shm.Uint64(b, 72), 1<<50) },
		"head":     func(b []byte) { atomic.StoreUint64(shm.Uint64(b, 192), 96) },
	}
	for what, f := range cases {
		t.Run(what, func(t *testing.T) {
			name := segName(t)
			q, err := queue.New(name, smallConfig[int64](4096, 0))
			require.NoError(t, err)
			defer q.Detach()
			require.NoError(t, q.Put(t.Context(), 1))
			corrupt(t, q.Handle(), f)
			_, err = queue.Open[int64](name, nil)
			assert.ErrorIs(t, err, queue.ErrCorrupt)
		})
	}
}

// A damaged record under a live handle is an error, not a panic or hang.
func TestCorruptedRecord(t *testing.T) {
	name := segName(t)
	q, err := queue.New(name, smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx := context.Background()
	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, q.Put(ctx, 2))
	corrupt(t, q.Handle(), func(b []byte) {
		atomic.StoreUint64(shm.Uint64(b, 512+16), 1<<20|8<<32) // stride past the ring's end
	})
	_, err = q.Get(ctx)
	assert.ErrorIs(t, err, queue.ErrCorrupt)
	corrupt(t, q.Handle(), func(b []byte) {
		atomic.StoreUint64(shm.Uint64(b, 512+16), 64|1<<32) // a 1-byte record of 8-byte items
	})
	_, err = q.Get(ctx)
	assert.ErrorIs(t, err, queue.ErrCorrupt)
	v, err := q.Get(ctx) // the damaged item was consumed; the next is fine
	require.NoError(t, err)
	assert.Equal(t, int64(2), v)
}

// Positions that break the ring's invariants under live handles are
// errors, not hangs: a read position past tail (for a Get), a tail more
// than a ring ahead of head (for a Put).
func TestCorruptedPositionsLive(t *testing.T) {
	q, err := queue.New(segName(t), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer q.Detach()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, q.Put(ctx, 1))
	_, err = q.Get(ctx)
	require.NoError(t, err)
	corrupt(t, q.Handle(), func(b []byte) {
		atomic.StoreUint64(shm.Uint64(b, 136), 64*1024) // readPos
	})
	_, err = q.Get(ctx)
	assert.ErrorIs(t, err, queue.ErrCorrupt)
	_, err = q.GetNowait()
	assert.ErrorIs(t, err, queue.ErrCorrupt)

	q2, err := queue.New(segName(t, "2"), smallConfig[int64](4096, 0))
	require.NoError(t, err)
	defer q2.Detach()
	corrupt(t, q2.Handle(), func(b []byte) {
		atomic.StoreUint64(shm.Uint64(b, 72), 3*4096) // tail: three rings past head
	})
	assert.ErrorIs(t, q2.Put(ctx, 1), queue.ErrCorrupt)
}
