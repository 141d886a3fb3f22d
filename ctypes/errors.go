//go:build linux

package ctypes

import (
	"errors"

	"github.com/mproc/mproc/semaphore"
)

// Errors returned by this package. Each is testable with errors.Is; the
// returned error usually wraps one of them with the object's name and the
// details (which field, which sizes, which typecodes).
var (
	// ErrType: the element type cannot live in shared memory (it holds
	// pointers, strings, slices, maps, interfaces, channels, funcs or
	// addresses, or has size 0), or an operation does not apply to it.
	ErrType = errors.New("unsupported element type")
	// ErrTypecode: the typecode is not one of Python's sharedctypes
	// typecodes ('b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd' 'c' 'u').
	ErrTypecode = errors.New("unknown typecode")
	// ErrLength: an array length is ≤ 0 or larger than the largest object,
	// or a slice given as initializer or assignment has the wrong length.
	ErrLength = errors.New("invalid length")
	// ErrMismatch: the object was created with another element type (size,
	// alignment or field layout), or an initial value does not convert to
	// the element type.
	ErrMismatch = errors.New("element type mismatch")
	// ErrTooLong: a char array value longer than the array (Python's
	// "ValueError: byte string too long").
	ErrTooLong = errors.New("value too long")
	// ErrIndex: an element index outside [0, Len) (Python's IndexError).
	ErrIndex = errors.New("index out of range")
	// ErrCorrupt: the object's header is not one this package writes.
	ErrCorrupt = errors.New("corrupted object header")
	// ErrLock: the lock is missing (Synchronized needs one), is not a
	// shared Lock or RLock, or its handle is unusable.
	ErrLock = errors.New("unusable lock")
	// ErrOptions: an Options field that does not apply to the call.
	ErrOptions = errors.New("invalid options")
)

// Error records the operation and object an error came from.
type Error struct {
	Op   string // "create", "open", "attach", "copy", ...
	Name string // segment name, or handle text for an arena object
	Err  error  // one of the sentinels above or of package shm, with details
}

// Error returns "ctypes: OP NAME: " and the underlying error.
func (e *Error) Error() string { return "ctypes: " + e.Op + " " + e.Name + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// detail attaches explanatory text to a sentinel while keeping it
// matchable; the text replaces the sentinel's own in the message when full
// is set.
type detail struct {
	sentinel error
	text     string
	full     bool
}

func (d *detail) Error() string {
	if d.full {
		return d.text
	}
	return d.sentinel.Error() + ": " + d.text
}
func (d *detail) Unwrap() error { return d.sentinel }

func withDetail(sentinel error, text string) error { return &detail{sentinel: sentinel, text: text} }

// message is a complete message ("ctypes: ...") that still matches sentinel.
func message(sentinel error, text string) error {
	return &detail{sentinel: sentinel, text: "ctypes: " + text, full: true}
}

// ErrOwnerDied is semaphore.ErrOwnerDied: a process died holding the lock
// of a Value or Array, so its data may be half written. The guarded
// operations return an error matching it (after doing their work) until
// MarkConsistent; see Value.
var ErrOwnerDied = semaphore.ErrOwnerDied
