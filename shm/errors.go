//go:build linux

package shm

import (
	"errors"
	"io/fs"
)

// Errors returned by this package. Each is testable with errors.Is; the
// returned error usually wraps one of them with the segment's name.
var (
	// ErrNotExist: no segment has that name.
	ErrNotExist = &kindError{"no such segment", fs.ErrNotExist}
	// ErrExist: a segment with that name already exists (exclusive create).
	ErrExist = &kindError{"segment already exists", fs.ErrExist}
	// ErrPermission: the segment exists but this process may not open it.
	ErrPermission = &kindError{"permission denied", fs.ErrPermission}
	// ErrNotMproc: the file is not an mproc segment (bad magic).
	ErrNotMproc = errors.New("not an mproc segment")
	// ErrVersion: the segment's layout version is not the one this code reads.
	ErrVersion = errors.New("incompatible layout version")
	// ErrKind: the segment (or arena block) holds another kind of object.
	ErrKind = errors.New("wrong kind of object")
	// ErrShort: the segment is shorter than its header says.
	ErrShort = errors.New("segment shorter than its header says")
	// ErrName: the name is not a valid segment name.
	ErrName = errors.New("invalid segment name")
	// ErrIncomplete: the segment or block was never finished: its creator
	// died, or did not finish in time, while initialising it.
	ErrIncomplete = errors.New("segment was never finished by its creator")
	// ErrArenaFull: the arena has no room (space or directory entries) left.
	ErrArenaFull = errors.New("arena full")
	// ErrHandle: a handle's text form or fields are malformed, or name no
	// object in its segment.
	ErrHandle = errors.New("invalid handle")
	// ErrSize: a requested size is zero, negative or too large.
	ErrSize = errors.New("invalid size")
	// ErrClosed: the segment was closed.
	ErrClosed = errors.New("segment closed")
)

// kindError is a sentinel that also matches the io/fs sentinel it stands
// for, so errors.Is(err, fs.ErrNotExist) works as with os.Open.
type kindError struct {
	msg string
	fs  error
}

func (e *kindError) Error() string        { return e.msg }
func (e *kindError) Is(target error) bool { return target == e.fs }

// Error records the operation and segment an error came from.
type Error struct {
	Op   string // "create", "open", "unlink", "attach", "alloc", ...
	Name string // segment name
	Err  error  // one of the sentinels above, possibly wrapping an OS error
}

// Error returns "shm: OP NAME: cause".
func (e *Error) Error() string {
	return "shm: " + e.Op + " " + e.Name + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// detail attaches explanatory text to a sentinel while keeping it matchable.
type detail struct {
	sentinel error
	text     string
}

func (d *detail) Error() string { return d.sentinel.Error() + ": " + d.text }
func (d *detail) Unwrap() error { return d.sentinel }

func withDetail(sentinel error, text string) error { return &detail{sentinel, text} }
