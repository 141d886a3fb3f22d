package queue

import (
	"context"
	"errors"
)

// Errors returned by this package. Each is testable with errors.Is; the
// returned error often wraps one of them with detail.
var (
	// ErrEmpty: GetNowait (or a Get whose deadline passed) found no item.
	// A timed-out Get returns an error that matches both ErrEmpty and
	// context.DeadlineExceeded. Python raises queue.Empty.
	ErrEmpty = errors.New("queue: empty")
	// ErrFull: PutNowait (or a Put whose deadline passed) found no room.
	// A timed-out Put returns an error that matches both ErrFull and
	// context.DeadlineExceeded. Python raises queue.Full.
	ErrFull = errors.New("queue: full")
	// ErrClosed: the queue was closed with Close: no more puts, and a get
	// once every item put before the close has been taken.
	ErrClosed = errors.New("queue: closed")
	// ErrDetached: this handle was detached (unmapped) with Detach.
	ErrDetached = errors.New("queue: detached")
	// ErrTaskDone: TaskDone was called more times than items were put
	// (Python raises ValueError).
	ErrTaskDone = errors.New("queue: task_done() called too many times")
	// ErrConfig: a Config field is out of range (zero or negative
	// capacity, a maximum inline size larger than half the ring, ...).
	ErrConfig = errors.New("queue: invalid config")
	// ErrType: the item type cannot be stored (a raw codec asked for a
	// type with pointers), or the queue was created for another item type,
	// item size or codec than the one it is opened with.
	ErrType = errors.New("queue: item type mismatch")
	// ErrEncode: the codec failed to encode or decode an item.
	ErrEncode = errors.New("queue: codec error")
	// ErrCorrupt: the queue's shared header or a ring record fails
	// validation: the memory was overwritten by something else.
	ErrCorrupt = errors.New("queue: corrupted shared state")
	// ErrNotBytes: a zero-copy method (Reserve, GetRef) was called on a
	// queue whose items are not []byte.
	ErrNotBytes = errors.New("queue: zero-copy needs a []byte queue")
	// ErrSize: a zero-copy reservation of a negative size.
	ErrSize = errors.New("queue: invalid item size")
	// ErrItemLost: the item this call was handling cannot be delivered:
	// its out-of-line segment disappeared (removed by hand or by a
	// cleaner), or the reservation was declared lost by another process
	// that took this process for dead. See the package documentation.
	ErrItemLost = errors.New("queue: item lost")
	// ErrReleased: Commit, Abort or Release was called twice on the same
	// Reservation or Ref.
	ErrReleased = errors.New("queue: reservation or reference already finished")
)

// timeoutError is the error of a blocking call whose deadline passed: it
// matches the call's Python exception (ErrFull or ErrEmpty) and
// context.DeadlineExceeded.
type timeoutError struct{ kind error }

func (e *timeoutError) Error() string   { return e.kind.Error() + " (deadline exceeded)" }
func (e *timeoutError) Timeout() bool   { return true }
func (e *timeoutError) Unwrap() []error { return []error{e.kind, context.DeadlineExceeded} }

var (
	errGetTimeout error = &timeoutError{ErrEmpty}
	errPutTimeout error = &timeoutError{ErrFull}
)

// detail attaches text to a sentinel while keeping it matchable.
type detail struct {
	sentinel error
	text     string
}

func (d *detail) Error() string { return d.sentinel.Error() + ": " + d.text }
func (d *detail) Unwrap() error { return d.sentinel }

func withDetail(sentinel error, text string) error { return &detail{sentinel, text} }

// wrapErr attaches a cause to a sentinel: both match with errors.Is.
type wrapErr struct {
	sentinel, cause error
}

func (w *wrapErr) Error() string   { return w.sentinel.Error() + ": " + w.cause.Error() }
func (w *wrapErr) Unwrap() []error { return []error{w.sentinel, w.cause} }

func withCause(sentinel, cause error) error { return &wrapErr{sentinel, cause} }
