package queue

import (
	"context"

	"github.com/mproc/mproc/shm"
)

// SimpleQueue is Python's multiprocessing.SimpleQueue: put, get, empty
// and close, with no item bound (only the ring's capacity) and no
// non-blocking forms. It is the same ring as Queue, with a smaller API;
// PutMany and GetMany are kept for throughput.
type SimpleQueue[T any] struct {
	b *base[T]
}

// NewSimple creates the simple queue name, as New; cfg.MaxSize must be 0
// or less (no bound), or it fails with ErrConfig.
func NewSimple[T any](name string, cfg *Config[T]) (*SimpleQueue[T], error) {
	b, err := create(namedCreator(name, shm.KindSimpleQueue), cfg, true)
	if err != nil {
		return nil, err
	}
	return &SimpleQueue[T]{b}, nil
}

// NewSimpleIn creates a simple queue in an arena block, as NewIn.
func NewSimpleIn[T any](a *shm.Arena, cfg *Config[T]) (*SimpleQueue[T], error) {
	b, err := create(arenaCreator(a, shm.KindSimpleQueue), cfg, true)
	if err != nil {
		return nil, err
	}
	return &SimpleQueue[T]{b}, nil
}

// OpenSimple opens the simple queue name, as Open.
func OpenSimple[T any](name string, cfg *Config[T]) (*SimpleQueue[T], error) {
	reg, err := openNamed(name, shm.KindSimpleQueue)
	b, err := attach(reg, err, cfg)
	if err != nil {
		return nil, err
	}
	return &SimpleQueue[T]{b}, nil
}

// AttachSimple opens the simple queue h names, as Attach.
func AttachSimple[T any](h shm.Handle, cfg *Config[T]) (*SimpleQueue[T], error) {
	reg, err := attachHandle(h, shm.KindSimpleQueue)
	b, err := attach(reg, err, cfg)
	if err != nil {
		return nil, err
	}
	return &SimpleQueue[T]{b}, nil
}

// Put adds v, blocking while the ring is full, as Queue.Put.
func (q *SimpleQueue[T]) Put(ctx context.Context, v T) error {
	ctx, dl := ctxDeadline(ctx)
	return q.b.put(ctx, dl, v, false)
}

// Get removes and returns the oldest item, blocking while there is none,
// as Queue.Get.
func (q *SimpleQueue[T]) Get(ctx context.Context) (T, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.get(ctx, dl, false)
}

// PutMany adds vs in order, as Queue.PutMany.
func (q *SimpleQueue[T]) PutMany(ctx context.Context, vs []T) (int, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.putMany(ctx, dl, vs)
}

// GetMany takes up to len(dst) items, as Queue.GetMany.
func (q *SimpleQueue[T]) GetMany(ctx context.Context, dst []T) (int, error) {
	ctx, dl := ctxDeadline(ctx)
	return q.b.getMany(ctx, dl, dst)
}

// Empty reports whether the queue holds no item (approximately); true on
// a detached handle.
func (q *SimpleQueue[T]) Empty() bool { return q.b.qsize() == 0 }

// Close closes the queue for every process, as Queue.Close.
func (q *SimpleQueue[T]) Close() error { return q.b.close() }

// Closed reports whether the queue was closed, or this handle detached.
func (q *SimpleQueue[T]) Closed() bool { return q.b.closed() }

// Detach unmaps this handle, as Queue.Detach.
func (q *SimpleQueue[T]) Detach() error { q.b.r.detach(); return nil }

// Unlink removes the queue's name, as Queue.Unlink.
func (q *SimpleQueue[T]) Unlink() error { return q.b.r.reg.Unlink() }

// Handle returns the handle that AttachSimple opens in any process.
func (q *SimpleQueue[T]) Handle() shm.Handle { return q.b.r.reg.Handle() }
