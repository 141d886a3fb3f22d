//go:build linux

package ctypes

import (
	"context"
	"fmt"

	"github.com/mproc/mproc/shm"
)

// Array is a RawArray guarded by a shared lock: Python's
// sharedctypes.Array (a SynchronizedArray wrapper). Every operation takes
// the lock for its duration; the lock is a new RLock by default, a Lock or
// RLock the caller passes (Options.Lock), or none (Options.NoLock). The
// object records its lock's handle, so every process that opens the array
// gets the same lock.
//
// A process that dies holding the lock marks the array inconsistent, as
// for Value (see Value, "When a holder dies"): the operations then return
// an error matching ErrOwnerDied, after doing their work, until
// MarkConsistent.
//
// An Array of byte has Python's char-array accessors through Chars, an
// Array of rune through WChars. An Array must not be used after Close.
type Array[T any] struct {
	raw *RawArray[T]
	g   guard
}

// NewArray creates a zeroed Array of n elements in a segment of its own
// named name (Python's Array(type, size)). By default it makes a new RLock
// in the segment name + ".lock"; see Options.
func NewArray[T any](name string, n int, opts *Options) (*Array[T], error) {
	return newArray[T](place{name: name, opts: opts}, 0, n, nil)
}

// NewArrayFrom creates an Array holding a copy of init in a segment of its
// own named name (Python's Array(type, initializer)). init must not be
// empty.
func NewArrayFrom[T any](name string, init []T, opts *Options) (*Array[T], error) {
	return newArray(place{name: name, opts: opts}, 0, len(init), init)
}

// NewArrayIn creates a zeroed Array of n elements in the arena a; its
// default RLock is made in the same arena.
func NewArrayIn[T any](a *shm.Arena, n int, opts *Options) (*Array[T], error) {
	return newArray[T](place{arena: a, in: true, opts: opts}, 0, n, nil)
}

// NewArrayFromIn creates an Array holding a copy of init in the arena a.
func NewArrayFromIn[T any](a *shm.Arena, init []T, opts *Options) (*Array[T], error) {
	return newArray(place{arena: a, in: true, opts: opts}, 0, len(init), init)
}

// OpenArray opens the array held by the segment name and attaches the lock
// it records (none for an array made raw). The element type must be T's.
func OpenArray[T any](name string) (*Array[T], error) {
	return AttachArray[T](shm.Handle{Segment: name, Kind: shm.KindArray, Version: layoutVersion})
}

// AttachArray attaches the array h names, and its lock, as OpenArray does.
func AttachArray[T any](h shm.Handle) (*Array[T], error) {
	raw, err := AttachRawArray[T](h)
	if err != nil {
		return nil, err
	}
	return arrayOf(raw)
}

// SynchronizedArray wraps a RawArray with lock (Python's
// sharedctypes.synchronized for an array). Nothing is recorded in shared
// memory: another process wraps its own attachment of obj with its own
// attachment of the lock. The Array takes obj over (closing the Array
// closes obj); the lock stays the caller's.
func SynchronizedArray[T any](obj *RawArray[T], lock Locker) (*Array[T], error) {
	if obj == nil || lock == nil {
		return nil, withDetail(ErrLock, "SynchronizedArray needs an object and a lock")
	}
	return &Array[T]{raw: obj, g: guard{lock: lock, own: lockBorrowed, obj: obj.obj, what: "array"}}, nil
}

func newArray[T any](p place, code Typecode, n int, init []T) (*Array[T], error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	e, err := elemOf[T]()
	if err != nil {
		return nil, err
	}
	if err := p.checkLength(e, n); err != nil {
		return nil, err // before a lock is made for nothing
	}
	lock, own, err := makeLock(p)
	if err != nil {
		return nil, &Error{"create", p.String(), err}
	}
	text, _ := lockText(lock)
	var flags uint32
	if own == lockMade && p.arena == nil {
		flags |= flagOwnLock
	}
	raw, err := newRawArray(p, code, n, init, text, flags)
	if err != nil {
		dropLock(lock, own, p)
		return nil, err
	}
	return &Array[T]{raw: raw, g: guard{lock: lock, own: own, obj: raw.obj, what: "array"}}, nil
}

func arrayOf[T any](raw *RawArray[T]) (*Array[T], error) {
	g, err := attachGuard(raw.obj, "array")
	if err != nil {
		raw.Close()
		return nil, err
	}
	return &Array[T]{raw: raw, g: g}, nil
}

// Len returns the number of elements (Python's len(arr)); it takes no lock.
func (a *Array[T]) Len() int { return a.raw.Len() }

func (a *Array[T]) index(op string, i int) error {
	if i < 0 || i >= a.raw.Len() {
		return &Error{op, a.raw.obj.name(), withDetail(ErrIndex, fmt.Sprintf("index %d, length %d", i, a.raw.Len()))}
	}
	return nil
}

// Get returns element i, read with the lock held (Python's arr[i]). An
// index outside [0, Len) is an error matching ErrIndex. As for Value.Get,
// an error matching ErrOwnerDied comes with the element read.
func (a *Array[T]) Get(i int) (T, error) {
	a.raw.obj.live("Array")
	var zero T
	if err := a.index("get", i); err != nil {
		return zero, err
	}
	if err := a.g.acquire(context.Background()); err != nil {
		return zero, err
	}
	x := a.raw.s[i]
	err := a.g.state("get")
	a.g.release()
	return x, err
}

// Set stores x into element i with the lock held (Python's arr[i] = x).
func (a *Array[T]) Set(i int, x T) error {
	a.raw.obj.live("Array")
	if err := a.index("set", i); err != nil {
		return err
	}
	if err := a.g.acquire(context.Background()); err != nil {
		return err
	}
	a.raw.s[i] = x
	err := a.g.state("set")
	a.g.release()
	return err
}

// ToSlice returns a copy of the elements, read with the lock held
// (Python's arr[:]).
func (a *Array[T]) ToSlice() ([]T, error) {
	a.raw.obj.live("Array")
	if err := a.g.acquire(context.Background()); err != nil {
		return nil, err
	}
	out := append([]T(nil), a.raw.s...)
	err := a.g.state("get")
	a.g.release()
	return out, err
}

// Assign copies src over the elements with the lock held (Python's
// arr[:] = src). src must have exactly Len elements; otherwise nothing is
// written and the error matches ErrLength.
func (a *Array[T]) Assign(src []T) error {
	a.raw.obj.live("Array")
	if len(src) != a.raw.Len() {
		return &Error{"assign", a.raw.obj.name(), withDetail(ErrLength, fmt.Sprintf("%d values for %d elements", len(src), a.raw.Len()))}
	}
	if err := a.g.acquire(context.Background()); err != nil {
		return err
	}
	copy(a.raw.s, src)
	err := a.g.state("assign")
	a.g.release()
	return err
}

// Do runs f with the lock held and the elements as a slice over the shared
// memory. The slice must not be kept after f returns. Do returns f's
// error, joined with an error matching ErrOwnerDied if the array is still
// marked inconsistent when f returns. The lock is released even if f
// panics.
func (a *Array[T]) Do(f func(s []T) error) error {
	return a.DoContext(context.Background(), f)
}

// DoContext is Do, giving up waiting for the lock when ctx is done: it
// then returns ctx.Err() without running f.
func (a *Array[T]) DoContext(ctx context.Context, f func(s []T) error) error {
	a.raw.obj.live("Array")
	if err := a.g.acquire(ctx); err != nil {
		return err
	}
	defer a.g.release()
	ferr := f(a.raw.s)
	return join(ferr, a.g.state("do"))
}

// GetLock returns the lock guarding the array (Python's get_lock), nil if
// it has none.
func (a *Array[T]) GetLock() Locker { return a.g.lock }

// GetObj returns the raw array underneath (Python's get_obj), for
// unguarded access. It belongs to a: do not close it.
func (a *Array[T]) GetObj() *RawArray[T] { return a.raw }

// Inconsistent reports whether the array is marked as possibly half
// written by a process that died holding its lock.
func (a *Array[T]) Inconsistent() bool { return a.g.inconsistent() }

// MarkConsistent clears the inconsistent mark after a repair. Call it with
// the lock held.
func (a *Array[T]) MarkConsistent() { a.g.markConsistent() }

// Typecode returns the Python typecode the array was made with, or 0.
func (a *Array[T]) Typecode() Typecode { return a.raw.obj.code }

// Handle returns the handle that attaches to this array (and its lock)
// from any process.
func (a *Array[T]) Handle() shm.Handle { return a.raw.Handle() }

// Close unmaps this process's view of the array, and of its lock unless
// the caller passed the lock in. Closing twice is a no-op.
func (a *Array[T]) Close() error { return a.g.close() }

// Unlink removes the array's segment name and, if the array made its own
// lock, the lock's.
func (a *Array[T]) Unlink() error { return a.raw.Unlink() }
