package queue

import (
	"context"
	"errors"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/shm"
)

// These tests put a queue's shared state exactly where a process killed at
// a given instruction would leave it, using an owner tag no live process
// has, and check that the survivors repair it as layout.go says.

// deadTag names a process that does not exist (pid above any pid_max).
const deadTag = uint64(0x3fffff00)<<32 | 12345

func newTestQueue(t *testing.T, capacity, maxSize int) *Queue[int64] {
	t.Helper()
	name := "qi-" + t.Name() + "-" + itoa(os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(name) })
	cfg := DefaultConfig[int64]()
	cfg.Capacity, cfg.MaxSize = capacity, maxSize
	q, err := New(name, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { q.Detach() })
	return q
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestDeadTagIsDead(t *testing.T) {
	assert.False(t, tagAlive(deadTag))
	assert.True(t, tagAlive(ownerTag()))
	// Our pid with another start time: a dead process whose pid we got.
	assert.False(t, tagAlive(ownerTag()^1))
}

// reserveAsDead reserves one record as the dead process would, holding
// plock with the dead tag, and returns its position.
func reserveAsDead(t *testing.T, r *ring) uint64 {
	t.Helper()
	require.True(t, atomic.CompareAndSwapUint64(r.plock.word, 0, deadTag))
	saved := r.tag
	r.tag = deadTag
	var pos [1]uint64
	k, st := r.reserveLocked([]spec{{length: 8}}, pos[:])
	r.tag = saved
	require.Equal(t, 1, k, st)
	return pos[0]
}

// A producer killed holding plock before its tail store (the commit):
// nothing was put. The next producer takes the lock over and reuses the
// space; putCount is untouched.
func TestCrashProducerBeforeCommit(t *testing.T) {
	q := newTestQueue(t, 4096, 0)
	r := q.b.r
	ctx := shortCtx(t)
	require.NoError(t, q.Put(ctx, 1))
	tail, put := atomic.LoadUint64(r.tail), atomic.LoadUint64(r.putCount)
	p := reserveAsDead(t, r)
	atomic.StoreUint64(r.tail, tail) // (died before these stores)
	atomic.StoreUint64(r.putCount, put)
	require.NoError(t, q.Put(ctx, 3)) // waits lockPoll, takes over
	assert.Equal(t, uint64(2), atomic.LoadUint64(r.putCount))
	assert.Equal(t, r.tag, atomic.LoadUint64(&r.w[r.index(p)+recOwner]), "space reused")
	for _, want := range []int64{1, 3} {
		v, err := q.GetNowait()
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	assert.Zero(t, q.Stats().LostPuts)
	assert.Equal(t, 0, q.Qsize())
	assert.Zero(t, atomic.LoadUint64(r.plock.word))
}

// A producer killed holding plock after its commit but before counting
// it (putCount): the next producer takes the lock over and repairs
// putCount from lastRec.
func TestCrashProducerBeforeCount(t *testing.T) {
	q := newTestQueue(t, 4096, 0)
	r := q.b.r
	ctx := shortCtx(t)
	require.NoError(t, q.Put(ctx, 1))
	reserveAsDead(t, r)
	atomic.StoreUint64(r.putCount, 1) // (died before this store)
	require.NoError(t, q.Put(ctx, 3))
	assert.Equal(t, uint64(3), atomic.LoadUint64(r.putCount), "repaired, then counted")
	for _, want := range []int64{1, 3} {
		v, err := q.Get(ctx) // skips the dead reservation after a poll
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	assert.Equal(t, uint64(1), q.Stats().LostPuts)
	assert.Equal(t, 0, q.Qsize())
}

// A batch reserved by a dead holder and never committed leaves stale
// headers beyond tail; a later holder commits records of other sizes over
// them, then dies holding the lock before counting. The repair must count
// exactly what was committed.
func TestCrashStaleBatchHeaders(t *testing.T) {
	q := newTestQueue(t, 4096, 0)
	r := q.b.r
	ctx := shortCtx(t)
	tail, put := atomic.LoadUint64(r.tail), atomic.LoadUint64(r.putCount)
	require.True(t, atomic.CompareAndSwapUint64(r.plock.word, 0, deadTag))
	var pos [3]uint64
	k, _ := r.reserveLocked([]spec{{length: 8}, {length: 8}, {length: 8}}, pos[:]) // 64-byte records
	require.Equal(t, 3, k)
	atomic.StoreUint64(r.tail, tail) // dead before the commit
	atomic.StoreUint64(r.putCount, put)
	atomic.StoreUint64(r.plock.word, deadTag)
	// The recoverer commits one 128-byte record, ending on the stale
	// header of the batch's third record, then dies before counting.
	require.NoError(t, r.lockProducer(ctx, 0))
	k, _ = r.reserveLocked([]spec{{length: 96}}, pos[:1])
	require.Equal(t, 1, k)
	require.NoError(t, r.publish(pos[0], 0))
	atomic.StoreUint64(r.putCount, put)
	atomic.StoreUint64(r.plock.word, deadTag)
	require.NoError(t, q.Put(ctx, 5)) // recovers and repairs
	assert.Equal(t, put+2, atomic.LoadUint64(r.putCount))
	assert.Equal(t, 2, q.Qsize())
}

// A producer killed holding plock after its commit and count: the next
// producer takes the lock over; the committed, never published record is
// skipped as lost.
func TestCrashProducerInLock(t *testing.T) {
	q := newTestQueue(t, 4096, 0)
	r := q.b.r
	ctx := shortCtx(t)
	require.NoError(t, q.Put(ctx, 1))
	p := reserveAsDead(t, r)
	require.NoError(t, q.Put(ctx, 3))
	assert.Equal(t, uint64(3), atomic.LoadUint64(r.putCount))
	assert.Equal(t, deadTag, atomic.LoadUint64(&r.w[r.index(p)+recOwner]))
	for _, want := range []int64{1, 3} {
		v, err := q.Get(ctx) // skips the dead reservation after a poll
		require.NoError(t, err)
		assert.Equal(t, want, v)
	}
	assert.Equal(t, uint64(1), q.Stats().LostPuts)
	assert.Equal(t, 0, q.Qsize())
}

// A producer killed between its reservation and its publish CAS: the
// record stays RESERVED under a dead tag; GetNowait (second try) and Get
// skip it, counted once.
func TestCrashProducerBeforePublish(t *testing.T) {
	q := newTestQueue(t, 4096, 0)
	r := q.b.r
	saved := r.tag
	r.tag = deadTag
	var pos [1]uint64
	k, _ := r.reserveLocked([]spec{{length: 8}}, pos[:])
	require.Equal(t, 1, k)
	r.tag = saved
	_, err := q.GetNowait()
	assert.ErrorIs(t, err, ErrEmpty)
	require.NoError(t, q.Put(shortCtx(t), 7))
	v, err := q.GetNowait()
	require.NoError(t, err)
	assert.Equal(t, int64(7), v)
	assert.Equal(t, uint64(1), q.Stats().LostPuts)
	assert.Equal(t, 0, q.Qsize())
}

// A consumer killed holding clock after its claim CAS but before storing
// getWord and readPos: the next consumer takes clock over, walks past the
// claimed record without counting it twice, and the record's space is
// reaped (LostGets) by a producer that needs room.
func TestCrashConsumerInLock(t *testing.T) {
	q := newTestQueue(t, MinCapacity, 0)
	r := q.b.r
	ctx := shortCtx(t)
	require.NoError(t, q.Put(ctx, 1))
	require.NoError(t, q.Put(ctx, 2))
	require.True(t, atomic.CompareAndSwapUint64(r.clock.word, 0, deadTag))
	rp := atomic.LoadUint64(r.readPos)
	ix := r.index(rp)
	atomic.StoreUint64(&r.w[ix+recOwner], deadTag)
	sw := atomic.LoadUint64(&r.w[ix+recState])
	require.True(t, atomic.CompareAndSwapUint64(&r.w[ix+recState], sw, r.tagOf(rp)|stClaimed))
	// (died here: getWord and readPos not stored, clock held)
	v, err := q.Get(ctx)
	require.NoError(t, err)
	assert.Equal(t, int64(2), v, "item 1 went with the dead consumer")
	assert.Equal(t, 0, q.Qsize())
	assert.Equal(t, uint64(2), atomic.LoadUint64(r.getWord)&0xffffffff)
	// Fill the ring: the producer must reap the dead claim to find room.
	n := 0
	for ; n < 100; n++ {
		if err := q.PutNowait(int64(n)); err != nil {
			require.ErrorIs(t, err, ErrFull)
			break
		}
	}
	assert.Equal(t, uint64(1), q.Stats().LostGets)
	assert.Equal(t, int(MinCapacity/64), n, "every record's space was reclaimed")
	for i := 0; i < n; i++ {
		v, err := q.GetNowait()
		require.NoError(t, err)
		assert.Equal(t, int64(i), v)
	}
	assert.Zero(t, q.Stats().Used)
}

// A consumer killed after its get was published (readPos moved) but
// before DONE: only the reaper frees the space; nothing is delivered
// twice.
func TestCrashConsumerBeforeDone(t *testing.T) {
	q := newTestQueue(t, MinCapacity, 0)
	r := q.b.r
	ctx := shortCtx(t)
	require.NoError(t, q.Put(ctx, 1))
	saved := r.tag
	r.tag = deadTag
	var cs [1]claimed
	require.NoError(t, r.clock.lock2(ctx, deadTag))
	k, _ := r.claimLocked(cs[:], false, false)
	r.clock.unlock()
	r.tag = saved
	require.Equal(t, 1, k)
	_, err := q.GetNowait()
	assert.ErrorIs(t, err, ErrEmpty)
	// Join-style reap frees it.
	require.NoError(t, r.reap(ctx, 0))
	assert.Equal(t, uint64(1), q.Stats().LostGets)
	assert.Zero(t, q.Stats().Used)
}

// lock2 takes the lock for a given tag (test helper).
func (l *ownerLock) lock2(ctx context.Context, tag uint64) error {
	_, err := l.lock(ctx, 0, tag)
	return err
}

// A producer blocked on MaxSize is woken when a consumer counts a dead
// producer's reservation out as lost (the room it frees is room too).
func TestLostItemFreesMaxSizeRoom(t *testing.T) {
	q := newTestQueue(t, 4096, 1)
	r := q.b.r
	reserveAsDead(t, r)
	r.plock.unlock()
	done := make(chan error, 1)
	go func() { done <- q.Put(context.Background(), 7) }()
	waitUntil(t, "the Put to sleep for room", func() bool { return atomic.LoadUint32(r.notFull.sleepers) > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*reapPoll)
	// The Get reaps the lost item; it may then take the 7 the woken Put
	// puts, or time out before it comes.
	var got []int64
	v, err := q.Get(ctx)
	cancel()
	if err == nil {
		got = append(got, v)
	} else {
		require.ErrorIs(t, err, ErrEmpty)
	}
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatalf("Put still blocked after the lost item left the count (qsize %d)", q.Qsize())
	}
	if len(got) == 0 {
		v, err := q.Get(shortCtx(t))
		require.NoError(t, err)
		got = append(got, v)
	}
	assert.Equal(t, []int64{7}, got)
	assert.Equal(t, 0, q.Qsize())
}

// waitUntil polls cond until it holds, failing the test after 10 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A producer publishes a blob item and is killed at once, while a consumer
// that saw the record still RESERVED is about to reap it: the consumer
// finds the producer dead, and must not unlink the blob of an item that
// was published after all (it did, and the next Get failed with
// ErrItemLost: a flake of the soak kill loop). The hook publishes the
// record between the consumer's read of its state and its liveness check.
func TestCrashProducerPublishedThenDied(t *testing.T) {
	name := "qi-pubdied-" + itoa(os.Getpid())
	t.Cleanup(func() { _ = shm.Unlink(name) })
	cfg := DefaultConfig[[]byte]()
	cfg.Capacity, cfg.MaxInline = 4096, 64
	q, err := New(name, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { q.Detach() })
	r := q.b.r
	item := make([]byte, 1000)
	for i := range item {
		item[i] = byte(i)
	}
	// The dead producer's put, all but the publish.
	saved := r.tag
	r.tag = deadTag
	var pos [1]uint64
	k, _ := r.reserveLocked([]spec{{length: blobRecordLen, flags: blobFlag}}, pos[:])
	require.Equal(t, 1, k)
	r.tag = saved
	p := pos[0]
	r.setBlobLength(p, uint64(len(item)))
	b, err := r.createBlob(p, uint64(len(item)))
	require.NoError(t, err)
	copy(b.data, item)
	b.close(false)
	published := false
	testHookReap = func() {
		testHookReap = nil
		require.NoError(t, r.publish(p, blobFlag)) // then the producer "dies"
		published = true
	}
	defer func() { testHookReap = nil }()
	got, err := q.GetNowait() // a pass, then a pass that reaps
	if errors.Is(err, ErrEmpty) {
		got, err = q.GetNowait()
	}
	require.True(t, published, "the reap never ran")
	require.NoError(t, err, "the published item was lost")
	assert.Equal(t, item, got)
	assert.Zero(t, q.Stats().LostPuts)
}
