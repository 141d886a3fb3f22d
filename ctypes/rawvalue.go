//go:build linux

package ctypes

import (
	"github.com/mproc/mproc/shm"
)

// RawValue is one T in shared memory, without a lock: Python's
// sharedctypes.RawValue. T is any fixed-size, pointer-free type (see
// CheckType); its bytes are laid out as C lays out the same declaration.
//
// Load and Store copy the whole value with plain loads and stores: they are
// not atomic, and a Load racing a Store of a T larger than a machine word
// (or not word-aligned) may see part of each. Guard such a value with a
// lock (Value does) or, for integer T, use the atomic functions
// (AtomicLoad, AtomicStore, AtomicAdd, AtomicCompareAndSwap), which are
// atomic across processes.
//
// A RawValue is safe for concurrent use by goroutines to the same extent:
// use a lock or the atomic functions. It must not be used after Close.
type RawValue[T any] struct {
	obj *object
	p   *T
	w4  *int32 // atomic views of an integer T: one of them is set
	w8  *int64
}

// NewRawValue creates a RawValue in a segment of its own named name,
// initialised to init (Python's RawValue(type, init)).
func NewRawValue[T any](name string, init T, opts *Options) (*RawValue[T], error) {
	if err := rawOptions(opts); err != nil {
		return nil, &Error{"create", name, err}
	}
	return newRawValue(place{name: name, opts: opts}, 0, init)
}

// NewRawValueIn creates a RawValue in the arena a, initialised to init.
func NewRawValueIn[T any](a *shm.Arena, init T) (*RawValue[T], error) {
	return newRawValue(place{arena: a, in: true}, 0, init)
}

// OpenRawValue opens the value (raw or synchronized) held by the segment
// name. Its element type must be T's (size, alignment and layout); a
// synchronized value's lock is ignored.
func OpenRawValue[T any](name string) (*RawValue[T], error) {
	return AttachRawValue[T](shm.Handle{Segment: name, Kind: shm.KindValue, Version: layoutVersion})
}

// AttachRawValue attaches the value h names (its own segment or an arena
// block), as OpenRawValue does.
func AttachRawValue[T any](h shm.Handle) (*RawValue[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, err
	}
	o, err := attachObject(h, e)
	if err != nil {
		return nil, err
	}
	return rawValueOf[T](o), nil
}

func newRawValue[T any](p place, code Typecode, init T) (*RawValue[T], error) {
	return newValueObject(p, code, init, "", 0)
}

func newValueObject[T any](p place, code Typecode, init T, lock string, flags uint32) (*RawValue[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, err
	}
	o, err := newObject(p, shm.KindValue, e, code, 1, lock, flags, func(data []byte) error {
		*shm.Pointer[T](data, 0) = init
		return nil
	})
	if err != nil {
		return nil, err
	}
	o.elem = e
	return rawValueOf[T](o), nil
}

func rawValueOf[T any](o *object) *RawValue[T] {
	v := &RawValue[T]{obj: o, p: shm.Pointer[T](o.data, 0)}
	switch o.elem.word {
	case 4:
		v.w4 = shm.Int32(o.data, 0)
	case 8:
		v.w8 = shm.Int64(o.data, 0)
	}
	return v
}

// Load returns a copy of the value (not atomic; see RawValue).
func (v *RawValue[T]) Load() T {
	v.obj.live("RawValue")
	return *v.p
}

// Store sets the value to x (not atomic; see RawValue).
func (v *RawValue[T]) Store(x T) {
	v.obj.live("RawValue")
	*v.p = x
}

// Pointer returns a pointer to the shared value, for updating one field of
// a struct in place. It must not be used after Close (the memory is
// unmapped) and must not be stored in memory shared with other processes.
func (v *RawValue[T]) Pointer() *T {
	v.obj.live("RawValue")
	return v.p
}

// Typecode returns the Python typecode the value was made with, or 0 if it
// was made from a Go type.
func (v *RawValue[T]) Typecode() Typecode { return v.obj.code }

// Handle returns the handle that attaches to this value from any process.
func (v *RawValue[T]) Handle() shm.Handle { return v.obj.region.Handle() }

// Close unmaps this process's view of the value. Pointers obtained from it
// become invalid. Closing twice is a no-op.
func (v *RawValue[T]) Close() error { return v.obj.close() }

// Unlink removes the value's segment name (and the lock it was made with,
// for a synchronized value); processes that have it open keep using it.
// A value in an arena has no name of its own: unlink the arena.
func (v *RawValue[T]) Unlink() error { return v.obj.unlink() }

// rawOptions rejects the lock options for a raw object.
func rawOptions(opts *Options) error {
	if opts != nil && (opts.Lock != nil || opts.NoLock) {
		return withDetail(ErrOptions, "a raw object has no lock; Options.Lock and NoLock are for Value and Array")
	}
	return nil
}
