//go:build linux

package manager

import (
	"context"
	"sync"
)

// queueObj is the referent of a managed Queue or JoinableQueue: Python's
// queue.Queue in the server (SyncManager registers queue.Queue for both).
//
// State, guarded by mu: items (FIFO ring held in a slice), maxsize (<= 0:
// unbounded), unfinished (puts not yet matched by task_done) and shutdown
// (3.13's Queue.shutdown). put waits while the queue is full, get while it
// is empty; each wakes one waiter of the other kind, as Python's
// not_empty/not_full conditions do; task_done wakes every join when
// unfinished reaches 0.
type queueObj struct {
	mu         sync.Mutex
	items      []any
	head       int // items[head:] are queued; items[:head] are spent
	maxsize    int64
	unfinished int64
	shutdown   bool
	notEmpty   waitList
	notFull    waitList
	allDone    waitList
}

func (q *queueObj) size() int { return len(q.items) - q.head }

// put is Queue.put(item, block, timeout).
func (q *queueObj) put(ctx context.Context, item any, block bool, t timeout) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return pyErr(excShutDown)
	}
	if q.maxsize > 0 {
		switch {
		case !block:
			if int64(q.size()) >= q.maxsize {
				return pyErr(excFull)
			}
		case t.set && t.d < 0:
			return pyErr(excValueError, "'timeout' must be a non-negative number")
		default:
			deadline := deadlineOf(t)
			for int64(q.size()) >= q.maxsize {
				if t.set && expired(deadline) {
					return pyErr(excFull)
				}
				if _, err := q.notFull.wait(ctx, &q.mu, deadline); err != nil {
					return err
				}
				if q.shutdown {
					return pyErr(excShutDown)
				}
			}
		}
	}
	if q.head > 0 && q.head >= len(q.items)/2 {
		n := copy(q.items, q.items[q.head:])
		clear(q.items[n:])
		q.items = q.items[:n]
		q.head = 0
	}
	q.items = append(q.items, item)
	q.unfinished++
	q.notEmpty.notify(1)
	return nil
}

// get is Queue.get(block, timeout).
func (q *queueObj) get(ctx context.Context, block bool, t timeout) (any, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown && q.size() == 0 {
		return nil, pyErr(excShutDown)
	}
	switch {
	case !block:
		if q.size() == 0 {
			return nil, pyErr(excEmpty)
		}
	case t.set && t.d < 0:
		return nil, pyErr(excValueError, "'timeout' must be a non-negative number")
	default:
		deadline := deadlineOf(t)
		for q.size() == 0 {
			if t.set && expired(deadline) {
				return nil, pyErr(excEmpty)
			}
			if _, err := q.notEmpty.wait(ctx, &q.mu, deadline); err != nil {
				return nil, err
			}
			if q.shutdown && q.size() == 0 {
				return nil, pyErr(excShutDown)
			}
		}
	}
	item := q.items[q.head]
	q.items[q.head] = nil
	q.head++
	if q.head == len(q.items) {
		q.items, q.head = q.items[:0], 0
	}
	q.notFull.notify(1)
	return item, nil
}

// taskDone is Queue.task_done.
func (q *queueObj) taskDone() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	unfinished := q.unfinished - 1
	if unfinished <= 0 {
		if unfinished < 0 {
			return pyErr(excValueError, "task_done() called too many times")
		}
		q.allDone.notify(-1)
	}
	q.unfinished = unfinished
	return nil
}

// join is Queue.join.
func (q *queueObj) join(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for q.unfinished > 0 {
		if _, err := q.allDone.wait(ctx, &q.mu, noDeadline); err != nil {
			return err
		}
	}
	return nil
}

// stop is Queue.shutdown(immediate) (Python 3.13).
func (q *queueObj) stop(immediate bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	if immediate {
		for q.size() > 0 {
			q.items[q.head] = nil
			q.head++
			if q.unfinished > 0 {
				q.unfinished--
			}
		}
		q.items, q.head = q.items[:0], 0
		q.allDone.notify(-1)
	}
	q.notEmpty.notify(-1)
	q.notFull.notify(-1)
}

// stats returns the size and whether the queue is full.
func (q *queueObj) stats() (size int, full bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := q.size()
	return n, q.maxsize > 0 && int64(n) >= q.maxsize
}

// snapshot returns a copy of the queued items (for #GETVALUE-like
// inspection and the GC scan).
func (q *queueObj) snapshot() []any {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]any(nil), q.items[q.head:]...)
}
