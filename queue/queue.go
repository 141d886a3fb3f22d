package queue

import (
	"context"
	"time"

	"github.com/mproc/mproc/shm"
)

// Queue is Python's multiprocessing.Queue: a FIFO of T shared by any
// number of producer and consumer processes and goroutines, in a ring of
// shared memory. Create one with New (or NewIn, in an arena) and open it
// elsewhere with Open or Attach.
//
// Items put by one producer (goroutine) are taken in the order it put
// them. Each Put and each Get takes effect with one atomic step, so a
// process killed mid-call never leaves a torn item visible or the queue
// wedged (see the package documentation for the fate of the item in
// flight). A Put happens before the Get that returns its item.
//
// A *Queue is safe for concurrent use. Close ends the queue for everyone
// (Python's close: no more puts); Detach unmaps this handle; Unlink
// removes the name.
type Queue[T any] struct {
	b *base[T]
}

// New creates the queue name (an shm segment name) with cfg (nil means
// DefaultConfig). The name must be free.
func New[T any](name string, cfg *Config[T]) (*Queue[T], error) {
	b, err := create(namedCreator(name, shm.KindQueue), cfg, false)
	if err != nil {
		return nil, err
	}
	return &Queue[T]{b}, nil
}

// NewIn creates a queue in an arena block; Handle names it for Attach.
func NewIn[T any](a *shm.Arena, cfg *Config[T]) (*Queue[T], error) {
	b, err := create(arenaCreator(a, shm.KindQueue), cfg, false)
	if err != nil {
		return nil, err
	}
	return &Queue[T]{b}, nil
}

// Open opens the queue name made by New. cfg's Codec and MaxInline apply
// to this handle; Capacity and MaxSize are the creator's. Opening with
// another item type, item size or codec than the creator's fails with
// ErrType; a damaged header with ErrCorrupt.
func Open[T any](name string, cfg *Config[T]) (*Queue[T], error) {
	reg, err := openNamed(name, shm.KindQueue)
	b, err := attach(reg, err, cfg)
	if err != nil {
		return nil, err
	}
	return &Queue[T]{b}, nil
}

// Attach opens the queue h names (from Handle, in this or another
// process), like Open.
func Attach[T any](h shm.Handle, cfg *Config[T]) (*Queue[T], error) {
	reg, err := attachHandle(h, shm.KindQueue)
	b, err := attach(reg, err, cfg)
	if err != nil {
		return nil, err
	}
	return &Queue[T]{b}, nil
}

// Put adds v to the queue, blocking while it is full (MaxSize items, or
// no room in the ring) until ctx is done. A passed deadline returns an
// error matching ErrFull and context.DeadlineExceeded; cancellation
// returns ctx.Err(); either way nothing was put. After Close it returns
// ErrClosed.
func (q *Queue[T]) Put(ctx context.Context, v T) error {
	ctx, dl := ctxDeadline(ctx)
	return q.b.put(ctx, dl, v, false)
}

// PutTimeout is Put with a timeout instead of a context.
func (q *Queue[T]) PutTimeout(v T, d time.Duration) error {
	ctx, dl := timeoutDeadline(d)
	return q.b.put(ctx, dl, v, false)
}

// PutNowait adds v if there is room now, or returns ErrFull.
func (q *Queue[T]) PutNowait(v T) error { return q.b.put(context.Background(), 0, v, true) }

// PutMany adds vs in order, moving up to 64 items under one lock and one
// wake-up. It blocks while the queue is full, as Put does, and returns
// how many items it put (a prefix of vs) and the error that stopped it.
// A process killed inside PutMany loses some of the items of the batch
// in flight (those it had not yet published); the others are delivered,
// in order.
func (q *Queue[T]) PutMany(ctx context.Context, vs []T) (int, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.putMany(ctx, dl, vs)
}

// Get removes and returns the oldest item, blocking while the queue is
// empty until ctx is done. A passed deadline returns an error matching
// ErrEmpty and context.DeadlineExceeded. Once the queue is closed and
// every item put before has been taken, it returns ErrClosed.
func (q *Queue[T]) Get(ctx context.Context) (T, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.get(ctx, dl, false)
}

// GetTimeout is Get with a timeout instead of a context.
func (q *Queue[T]) GetTimeout(d time.Duration) (T, error) {
	ctx, dl := timeoutDeadline(d)
	return q.b.get(ctx, dl, false)
}

// GetNowait removes and returns the oldest item if one is ready now, or
// returns ErrEmpty.
func (q *Queue[T]) GetNowait() (T, error) { return q.b.get(context.Background(), 0, true) }

// GetMany blocks as Get does until at least one item is ready, then fills
// dst with as many ready items as fit (claiming up to 64 under one lock
// at a time) and returns their number. An item that fails to decode is
// consumed and reported as the error, beside the items that did decode.
func (q *Queue[T]) GetMany(ctx context.Context, dst []T) (int, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.getMany(ctx, dl, dst)
}

// Reserve is the zero-copy put of a []byte queue: it reserves n bytes
// (blocking as Put does) and returns them to be written in place and then
// committed. Items reserved after it by other producers are delivered
// only after it is committed or aborted, so keep it short. Other item
// types return ErrNotBytes.
func (q *Queue[T]) Reserve(ctx context.Context, n int) (*Reservation, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.reserveBytes(ctx, dl, n)
}

// GetRef is the zero-copy get of a []byte queue: it claims the oldest
// item (blocking as Get does) and returns a view of it in shared memory,
// valid until Release. The item's ring space stays in use until then.
// Other item types return ErrNotBytes.
func (q *Queue[T]) GetRef(ctx context.Context) (*Ref, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.getRef(ctx, dl)
}

// GetAppend is Get for a []byte queue that appends the item to buf and
// returns the extended slice, so that a caller passing buf[:0] back reuses
// one buffer instead of allocating each item (a large item then costs one
// copy and no garbage). Other item types return ErrNotBytes.
func (q *Queue[T]) GetAppend(ctx context.Context, buf []byte) ([]byte, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.getAppend(ctx, dl, buf)
}

// Qsize returns the approximate number of items in the queue (put or
// being put, not yet taken), as Python's qsize; 0 on a detached handle.
func (q *Queue[T]) Qsize() int { return q.b.qsize() }

// Empty reports whether Qsize is 0 (approximately, as in Python).
func (q *Queue[T]) Empty() bool { return q.b.qsize() == 0 }

// Full reports whether a put would block now: MaxSize items are in the
// queue or the ring has no room for a small item (approximately). It is
// false on a detached handle (a put fails at once).
func (q *Queue[T]) Full() bool { return q.b.full() }

// MaxSize returns the item bound, 0 if bounded only by the ring.
func (q *Queue[T]) MaxSize() int { return int(q.b.r.maxSize) }

// Close closes the queue for every process (Python's close, but shared):
// later and blocked puts fail with ErrClosed, and gets return the items
// put before and then ErrClosed. It does not unmap (see Detach). Closing
// twice is a no-op.
func (q *Queue[T]) Close() error { return q.b.close() }

// Closed reports whether the queue was closed, or this handle detached.
func (q *Queue[T]) Closed() bool { return q.b.closed() }

// Detach unmaps this handle (the queue and its items stay): calls in
// progress on it return ErrDetached, later ones too. The mapping goes
// away when the last call, Reservation or Ref of this handle ends.
func (q *Queue[T]) Detach() error { q.b.r.detach(); return nil }

// Unlink removes the queue's name; handles that have it open keep working.
// A queue in an arena has no name of its own (unlink the arena).
func (q *Queue[T]) Unlink() error { return q.b.r.reg.Unlink() }

// Handle returns the handle that Attach opens in any process.
func (q *Queue[T]) Handle() shm.Handle { return q.b.r.reg.Handle() }

// Stats returns a snapshot of the queue's counters (on a detached handle,
// only Capacity, MaxSize and Closed, which is true).
func (q *Queue[T]) Stats() Stats { return q.b.stats() }
