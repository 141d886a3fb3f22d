//go:build linux

package ctypes

import (
	"context"

	"github.com/mproc/mproc/shm"
)

// Value is a RawValue guarded by a shared lock: Python's
// sharedctypes.Value (a Synchronized wrapper). Get, Set and Do take the
// lock for their duration; the lock is, as in Python, a new RLock by
// default, a Lock or RLock the caller passes (Options.Lock), or none
// (Options.NoLock, Python's lock=False: the operations are then unguarded).
//
// The object records its lock's handle, so every process that opens the
// value by name or handle gets the same lock.
//
// # When a holder dies
//
// A process killed while holding the lock (inside Do, say) may leave the
// value half written. The next process to acquire the lock takes it over
// (semaphore's owner-death handling) and marks the value inconsistent in
// shared memory. From then on Get, Set and Do still do their work, and
// return an error matching ErrOwnerDied, in every process, until someone
// repairs the value and calls MarkConsistent with the lock held:
//
//	err := v.Do(func(p *Account) error {
//		if v.Inconsistent() {
//			p.Balance = recompute()
//			v.MarkConsistent()
//		}
//		p.Balance += 10
//		return nil
//	})
//
// When several objects share one lock, the mark is set on the object whose
// operation found the dead holder.
//
// In the terms of the Go memory model, what a Do or Set does before it
// releases the lock happens before what the next holder does, in any
// process. A Value must not be used after Close.
type Value[T any] struct {
	raw *RawValue[T]
	g   guard
}

// NewValue creates a Value in a segment of its own named name, initialised
// to init (Python's Value(type, init)). By default it makes a new RLock in
// the segment name + ".lock"; see Options.
func NewValue[T any](name string, init T, opts *Options) (*Value[T], error) {
	return newValue(place{name: name, opts: opts}, 0, init)
}

// NewValueIn creates a Value in the arena a, initialised to init. Its
// default RLock is made in the same arena. Options.Mode and Populate do not
// apply.
func NewValueIn[T any](a *shm.Arena, init T, opts *Options) (*Value[T], error) {
	return newValue(place{arena: a, in: true, opts: opts}, 0, init)
}

// OpenValue opens the value held by the segment name and attaches the lock
// it records (none for a value made raw). The element type must be T's.
func OpenValue[T any](name string) (*Value[T], error) {
	return AttachValue[T](shm.Handle{Segment: name, Kind: shm.KindValue, Version: layoutVersion})
}

// AttachValue attaches the value h names, and its lock, as OpenValue does.
func AttachValue[T any](h shm.Handle) (*Value[T], error) {
	raw, err := AttachRawValue[T](h)
	if err != nil {
		return nil, err
	}
	return valueOf(raw)
}

// Synchronized wraps a RawValue with lock (Python's
// sharedctypes.synchronized): the Value's operations take lock. Nothing is
// recorded in shared memory, so another process wraps its own attachment
// of obj with its own attachment of the same lock. The Value takes obj
// over (closing the Value closes obj); the lock stays the caller's.
func Synchronized[T any](obj *RawValue[T], lock Locker) (*Value[T], error) {
	if obj == nil || lock == nil {
		return nil, withDetail(ErrLock, "Synchronized needs an object and a lock")
	}
	return &Value[T]{raw: obj, g: guard{lock: lock, own: lockBorrowed, obj: obj.obj, what: "value"}}, nil
}

func newValue[T any](p place, code Typecode, init T) (*Value[T], error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	if _, err := elemOf[T](); err != nil {
		return nil, err
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
	raw, err := newValueObject(p, code, init, text, flags)
	if err != nil {
		dropLock(lock, own, p)
		return nil, err
	}
	return &Value[T]{raw: raw, g: guard{lock: lock, own: own, obj: raw.obj, what: "value"}}, nil
}

func valueOf[T any](raw *RawValue[T]) (*Value[T], error) {
	g, err := attachGuard(raw.obj, "value")
	if err != nil {
		raw.Close()
		return nil, err
	}
	return &Value[T]{raw: raw, g: g}, nil
}

// Get returns the value, read with the lock held (Python's v.value).
// The error is non-nil only if the lock could not be taken (the value is
// then the zero T) or the value is marked inconsistent (ErrOwnerDied; the
// value read is returned).
func (v *Value[T]) Get() (T, error) {
	v.raw.obj.live("Value")
	if err := v.g.acquire(context.Background()); err != nil {
		var zero T
		return zero, err
	}
	x := *v.raw.p
	err := v.g.state("get")
	v.g.release()
	return x, err
}

// Set stores x with the lock held (Python's v.value = x). It stores x even
// when it returns an error matching ErrOwnerDied (the value was marked
// inconsistent before, and still is).
func (v *Value[T]) Set(x T) error {
	v.raw.obj.live("Value")
	if err := v.g.acquire(context.Background()); err != nil {
		return err
	}
	*v.raw.p = x
	err := v.g.state("set")
	v.g.release()
	return err
}

// Do runs f with the lock held and a pointer to the shared value, for a
// read-modify-write (Python's "with v.get_lock(): v.value += 1"). The
// pointer must not be kept after f returns. Do returns f's error, joined
// with an error matching ErrOwnerDied if the value is still marked
// inconsistent when f returns. The lock is released even if f panics.
func (v *Value[T]) Do(f func(p *T) error) error {
	return v.DoContext(context.Background(), f)
}

// DoContext is Do, giving up waiting for the lock when ctx is done: it
// then returns ctx.Err() without running f.
func (v *Value[T]) DoContext(ctx context.Context, f func(p *T) error) error {
	v.raw.obj.live("Value")
	if err := v.g.acquire(ctx); err != nil {
		return err
	}
	defer v.g.release()
	ferr := f(v.raw.p)
	return join(ferr, v.g.state("do"))
}

// GetLock returns the lock guarding the value (Python's get_lock), nil if
// it has none. Use it to guard several operations, or several objects, at
// once; Get, Set and Do inside such a section need an RLock (the default)
// to take it again.
func (v *Value[T]) GetLock() Locker { return v.g.lock }

// GetObj returns the raw value underneath (Python's get_obj): unguarded
// access, for use with the lock held or with the atomic functions. It
// belongs to v: do not close it.
func (v *Value[T]) GetObj() *RawValue[T] { return v.raw }

// Inconsistent reports whether the value is marked as possibly half
// written by a process that died holding its lock.
func (v *Value[T]) Inconsistent() bool { return v.g.inconsistent() }

// MarkConsistent clears the inconsistent mark, after the caller has
// repaired the value. Call it with the lock held (inside Do, or between
// GetLock().Lock and Unlock).
func (v *Value[T]) MarkConsistent() { v.g.markConsistent() }

// Typecode returns the Python typecode the value was made with, or 0.
func (v *Value[T]) Typecode() Typecode { return v.raw.obj.code }

// Handle returns the handle that attaches to this value (and, through the
// value, to its lock) from any process.
func (v *Value[T]) Handle() shm.Handle { return v.raw.Handle() }

// Close unmaps this process's view of the value, and of its lock unless
// the lock was passed in by the caller. Closing twice is a no-op.
func (v *Value[T]) Close() error { return v.g.close() }

// Unlink removes the value's segment name and, if the value made its own
// lock, the lock's. A value in an arena has no name: unlink the arena.
func (v *Value[T]) Unlink() error { return v.raw.Unlink() }
