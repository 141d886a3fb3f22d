package queue

import (
	"bytes"
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/shm"
)

// TestClaimOneReadsStateFirst: Get's fast path must read a record's state
// word before its size. The consumer has caught up at a lap boundary,
// where the previous lap's small record still lies; a producer reserves
// and publishes a large record there right after the fast path's first
// load of the header (the hook). Whatever the fast path then does, it must
// not claim the new record with the old record's stride and length (which
// put readPos inside a record and broke every later Get), and the next Get
// returns the large item whole. (Found in review: the fast path read the
// size first.)
func TestClaimOneReadsStateFirst(t *testing.T) {
	name := "qi-claimone-" + itoa(os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(name) })
	cfg := DefaultConfig[[]byte]()
	cfg.Capacity = 4096
	q, err := New(name, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { q.Detach() })
	r := q.b.r
	ctx := shortCtx(t)
	small := make([]byte, 90)
	for atomic.LoadUint64(r.readPos) < r.capacity {
		require.NoError(t, q.Put(ctx, small))
		_, err := q.Get(ctx)
		require.NoError(t, err)
	}
	require.Equal(t, r.capacity, atomic.LoadUint64(r.readPos), "at the lap boundary")
	big := make([]byte, 700)
	for i := range big {
		big[i] = byte(i)
	}
	ran := false
	testHookClaimOne = func() {
		testHookClaimOne = nil
		ran = true
		require.NoError(t, q.Put(ctx, big)) // reserved and published at readPos
	}
	defer func() { testHookClaimOne = nil }()
	cl, ok := r.tryClaimOne()
	require.True(t, ran, "the hook did not run")
	if ok {
		hdr := atomic.LoadUint64(&r.w[r.index(cl.pos)+recSize])
		require.Equal(t, hdr&0xffffffff, cl.stride, "claimed with a stale stride")
		require.Equal(t, hdr>>32, cl.length, "claimed with a stale length")
		r.release([]claimed{cl})
		return
	}
	got, err := q.Get(ctx)
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got), "the large item came back as %d bytes", len(got))
	_, err = q.GetNowait()
	require.ErrorIs(t, err, ErrEmpty)
}
