//go:build linux

package ctypes

import "github.com/mproc/mproc/shm"

// Copyable is satisfied by *RawValue[T] and *RawArray[T]: the objects Copy
// and CopyIn copy. (To copy a Value or Array, copy its GetObj, with its
// lock held if others may write it.)
type Copyable[O any] interface {
	copyTo(p place) (O, error)
}

// Copy creates a new object in a segment of its own named name with the
// same element type, typecode, length and contents as obj (Python's
// sharedctypes.copy). The copy has no lock.
func Copy[O Copyable[O]](obj O, name string, opts *Options) (O, error) {
	if err := rawOptions(opts); err != nil {
		var zero O
		return zero, &Error{"copy", name, err}
	}
	return obj.copyTo(place{name: name, opts: opts})
}

// CopyIn is Copy into the arena a.
func CopyIn[O Copyable[O]](obj O, a *shm.Arena) (O, error) {
	return obj.copyTo(place{arena: a, in: true})
}

func (v *RawValue[T]) copyTo(p place) (*RawValue[T], error) {
	return newValueObject(p, v.obj.code, v.Load(), "", 0)
}

func (a *RawArray[T]) copyTo(p place) (*RawArray[T], error) {
	a.obj.live("RawArray")
	return newRawArray(p, a.obj.code, len(a.s), a.s, "", 0)
}
