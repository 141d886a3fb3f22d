//go:build linux

package ctypes

import (
	"fmt"
	"unsafe"

	"github.com/mproc/mproc/shm"
)

// RawArray is a fixed-length array of T in shared memory, without a lock:
// Python's sharedctypes.RawArray. T is any fixed-size, pointer-free type
// (see CheckType); the elements are contiguous, C layout, and start on a
// 64-byte boundary.
//
// Element access is plain loads and stores, not atomic: guard the array
// with a lock (Array does) or, for integer T, use the atomic functions
// (AtomicLoadAt, AtomicAddAt, ...). At and Set panic on an index outside
// [0, Len), like indexing a Go slice. A RawArray must not be used after
// Close.
type RawArray[T any] struct {
	obj *object
	s   []T
	w4  []int32 // atomic views of an integer T: one of them is set
	w8  []int64
}

// NewRawArray creates a zeroed RawArray of n elements in a segment of its
// own named name (Python's RawArray(type, size)). n must be at least 1.
func NewRawArray[T any](name string, n int, opts *Options) (*RawArray[T], error) {
	if err := rawOptions(opts); err != nil {
		return nil, &Error{"create", name, err}
	}
	return newRawArray[T](place{name: name, opts: opts}, 0, n, nil, "", 0)
}

// NewRawArrayFrom creates a RawArray in a segment of its own named name
// holding a copy of init (Python's RawArray(type, initializer)). init must
// not be empty.
func NewRawArrayFrom[T any](name string, init []T, opts *Options) (*RawArray[T], error) {
	if err := rawOptions(opts); err != nil {
		return nil, &Error{"create", name, err}
	}
	return newRawArray(place{name: name, opts: opts}, 0, len(init), init, "", 0)
}

// NewRawArrayIn creates a zeroed RawArray of n elements in the arena a.
func NewRawArrayIn[T any](a *shm.Arena, n int) (*RawArray[T], error) {
	return newRawArray[T](place{arena: a, in: true}, 0, n, nil, "", 0)
}

// NewRawArrayFromIn creates a RawArray holding a copy of init in the arena
// a.
func NewRawArrayFromIn[T any](a *shm.Arena, init []T) (*RawArray[T], error) {
	return newRawArray(place{arena: a, in: true}, 0, len(init), init, "", 0)
}

// OpenRawArray opens the array (raw or synchronized) held by the segment
// name. Its element type must be T's (size, alignment and layout); a
// synchronized array's lock is ignored.
func OpenRawArray[T any](name string) (*RawArray[T], error) {
	return AttachRawArray[T](shm.Handle{Segment: name, Kind: shm.KindArray, Version: layoutVersion})
}

// AttachRawArray attaches the array h names (its own segment or an arena
// block), as OpenRawArray does.
func AttachRawArray[T any](h shm.Handle) (*RawArray[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, err
	}
	o, err := attachObject(h, e)
	if err != nil {
		return nil, err
	}
	return rawArrayOf[T](o), nil
}

// newRawArray creates an array of n elements, copying init if not nil.
func newRawArray[T any](p place, code Typecode, n int, init []T, lock string, flags uint32) (*RawArray[T], error) {
	e, err := elemOf[T]()
	if err != nil {
		return nil, err
	}
	var fill func([]byte) error
	if init != nil {
		fill = func(data []byte) error {
			copy(shm.Slice[T](data, 0, len(init)), init)
			return nil
		}
	}
	o, err := newObject(p, shm.KindArray, e, code, n, lock, flags, fill)
	if err != nil {
		return nil, err
	}
	o.elem = e
	return rawArrayOf[T](o), nil
}

func rawArrayOf[T any](o *object) *RawArray[T] {
	a := &RawArray[T]{obj: o, s: shm.Slice[T](o.data, 0, o.n)}
	switch o.elem.word {
	case 4:
		a.w4 = shm.Slice[int32](o.data, 0, o.n)
	case 8:
		a.w8 = shm.Slice[int64](o.data, 0, o.n)
	}
	return a
}

// Len returns the number of elements.
func (a *RawArray[T]) Len() int { return len(a.s) }

// At returns element i. It panics if i is outside [0, Len).
func (a *RawArray[T]) At(i int) T {
	a.obj.live("RawArray")
	return a.s[i]
}

// Set sets element i to x. It panics if i is outside [0, Len).
func (a *RawArray[T]) Set(i int, x T) {
	a.obj.live("RawArray")
	a.s[i] = x
}

// Slice returns the elements as a Go slice over the shared memory itself:
// writes through it are seen by every process. It must not be used after
// Close (the memory is unmapped; touching it then crashes the program),
// must not be appended to beyond Len, and must not be stored in memory
// shared with other processes.
func (a *RawArray[T]) Slice() []T {
	a.obj.live("RawArray")
	return a.s
}

// Populate pre-faults every page of the array for writing in this
// process (shm.Region.Populate), so that its later accesses do not take a
// page fault each: the opener's counterpart of Options.Populate, worth it
// before a process writes or reads a large array it has just opened (a
// first touch of a page of a fresh mapping costs several microseconds).
// It changes no element, even while other processes use the array.
func (a *RawArray[T]) Populate() {
	a.obj.live("RawArray")
	_ = a.obj.region.Populate()
}

// ReadAt copies the elements from index i on into dst, len(dst) of them
// (Python's dst[:] = arr[i:i+len(dst)]). It reads through the segment's
// file (shm.Region.ReadAt), so this process need not have touched the
// array's pages: a process that reads a large array once, in chunks,
// skips the page fault per page that a first pass over Slice costs (4 µs
// or more a page in a VM), and the result is the same. Elements written
// concurrently may be seen half old and half new, as with any copy. A span
// outside [0, Len) is an error matching ErrIndex, with nothing copied;
// after Close, an error matching shm.ErrClosed.
func (a *RawArray[T]) ReadAt(dst []T, i int) error {
	if err := a.span("read", i, len(dst)); err != nil {
		return err
	}
	if _, err := a.obj.region.ReadAt(bytesOf(dst), a.offset(i)); err != nil {
		return &Error{"read", a.obj.name(), err}
	}
	return nil
}

// WriteAt copies src over the elements from index i on (Python's
// arr[i:i+len(src)] = src), through the segment's file like ReadAt: a
// process that fills a large array it has not touched does it without a
// page fault per page. A span outside [0, Len) is an error matching
// ErrIndex, with nothing written; after Close, an error matching
// shm.ErrClosed.
func (a *RawArray[T]) WriteAt(src []T, i int) error {
	if err := a.span("write", i, len(src)); err != nil {
		return err
	}
	if _, err := a.obj.region.WriteAt(bytesOf(src), a.offset(i)); err != nil {
		return &Error{"write", a.obj.name(), err}
	}
	return nil
}

// span checks that n elements from index i lie within the array.
func (a *RawArray[T]) span(op string, i, n int) error {
	if i < 0 || i > len(a.s) || n > len(a.s)-i {
		return &Error{op, a.obj.name(), withDetail(ErrIndex, fmt.Sprintf("elements [%d, %d) of %d", i, i+n, len(a.s)))}
	}
	return nil
}

// offset returns the byte offset of element i in the array's region.
func (a *RawArray[T]) offset(i int) int64 {
	start := uintptr(unsafe.Pointer(unsafe.SliceData(a.obj.region.Bytes())))
	return int64(uintptr(unsafe.Pointer(unsafe.SliceData(a.s)))-start) + int64(i)*int64(unsafe.Sizeof(*new(T)))
}

// bytesOf returns the bytes of s (T is pointer-free: checked when the
// array was made).
func bytesOf[T any](s []T) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(*new(T))))
}

// ToSlice returns a copy of the elements (Python's arr[:]).
func (a *RawArray[T]) ToSlice() []T {
	a.obj.live("RawArray")
	return append([]T(nil), a.s...)
}

// Assign copies src over the elements (Python's arr[:] = src). src must
// have exactly Len elements; otherwise nothing is written and the error
// matches ErrLength.
func (a *RawArray[T]) Assign(src []T) error {
	a.obj.live("RawArray")
	if len(src) != len(a.s) {
		return &Error{"assign", a.obj.name(), withDetail(ErrLength, fmt.Sprintf("%d values for %d elements", len(src), len(a.s)))}
	}
	copy(a.s, src)
	return nil
}

// Typecode returns the Python typecode the array was made with, or 0 if it
// was made from a Go type.
func (a *RawArray[T]) Typecode() Typecode { return a.obj.code }

// Handle returns the handle that attaches to this array from any process.
func (a *RawArray[T]) Handle() shm.Handle { return a.obj.region.Handle() }

// Close unmaps this process's view of the array. Slices obtained from
// Slice become invalid. Closing twice is a no-op.
func (a *RawArray[T]) Close() error { return a.obj.close() }

// Unlink removes the array's segment name (and the lock it was made with,
// for a synchronized array). An array in an arena has no name of its own:
// unlink the arena.
func (a *RawArray[T]) Unlink() error { return a.obj.unlink() }
