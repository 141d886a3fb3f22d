package queue

import (
	"context"

	"github.com/mproc/mproc/shm"
)

// JoinableQueue is Python's multiprocessing.JoinableQueue: a Queue that
// also counts unfinished tasks. Every Put adds one; TaskDone, called by a
// consumer when it has finished with an item it got, removes one; Join
// blocks until the count is zero. Items lost to a dead process (see the
// package documentation) count as done, since nobody can finish them.
type JoinableQueue[T any] struct {
	Queue[T]
}

// NewJoinable creates the joinable queue name, as New.
func NewJoinable[T any](name string, cfg *Config[T]) (*JoinableQueue[T], error) {
	b, err := create(namedCreator(name, shm.KindJoinableQueue), cfg, false)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{Queue[T]{b}}, nil
}

// NewJoinableIn creates a joinable queue in an arena block, as NewIn.
func NewJoinableIn[T any](a *shm.Arena, cfg *Config[T]) (*JoinableQueue[T], error) {
	b, err := create(arenaCreator(a, shm.KindJoinableQueue), cfg, false)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{Queue[T]{b}}, nil
}

// OpenJoinable opens the joinable queue name, as Open.
func OpenJoinable[T any](name string, cfg *Config[T]) (*JoinableQueue[T], error) {
	reg, err := openNamed(name, shm.KindJoinableQueue)
	b, err := attach(reg, err, cfg)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{Queue[T]{b}}, nil
}

// AttachJoinable opens the joinable queue h names, as Attach.
func AttachJoinable[T any](h shm.Handle, cfg *Config[T]) (*JoinableQueue[T], error) {
	reg, err := attachHandle(h, shm.KindJoinableQueue)
	b, err := attach(reg, err, cfg)
	if err != nil {
		return nil, err
	}
	return &JoinableQueue[T]{Queue[T]{b}}, nil
}

// TaskDone marks one task finished. Called more times than items were
// put, it returns ErrTaskDone (Python raises ValueError) and changes
// nothing.
func (q *JoinableQueue[T]) TaskDone() error {
	if err := q.b.r.enter(); err != nil {
		return err
	}
	defer q.b.r.leave()
	return q.b.r.taskDoneOne()
}

// Join blocks until every item put has been marked done (or lost), or
// ctx is done (returning ctx's error; a passed deadline matches
// context.DeadlineExceeded).
func (q *JoinableQueue[T]) Join(ctx context.Context) error {
	if err := q.b.r.enter(); err != nil {
		return err
	}
	defer q.b.r.leave()
	ctx, dl := ctxDeadline(ctx)
	return q.b.r.join(ctx, dl)
}

// Unfinished returns the number of tasks not yet marked done (0 on a
// detached handle).
func (q *JoinableQueue[T]) Unfinished() int { return q.b.unfinished() }
