//go:build linux

package ctypes

import (
	"fmt"
	"reflect"

	"github.com/mproc/mproc/shm"
)

// AnyArray is an Array whose element type is chosen at run time by a
// Python typecode, for code ported from Python:
//
//	s, err := ctypes.NewArrayTypecode("s", 'c', "hello world", nil) // Array('c', b'hello world')
//	v, err := s.Value()                                              // []byte("hello world")
//	a, err := ctypes.NewArrayTypecode("a", 'd', 10, nil)             // Array('d', 10)
//
// Elements come back as the typecode's Go type (see AnyValue.Get) and are
// set from any Go number that fits. Underneath is an *Array[T] (Typed).
type AnyArray struct {
	code Typecode
	a    anyArray
}

// anyArray is what *Array[T] provides to AnyArray.
type anyArray interface {
	Len() int
	getAny(i int) (any, error)
	setAny(i int, x any) error
	toSliceAny() (any, error)
	assignAny(x any) error
	charValue() (any, error)
	setCharValue(x any) error
	notChars() error
	GetLock() Locker
	Inconsistent() bool
	MarkConsistent()
	Handle() shm.Handle
	Close() error
	Unlink() error
}

// NewArrayTypecode creates an Array of the typecode's type in a segment of
// its own named name, as Python's Array(typecode, size_or_initializer)
// does: sizeOrInit is a length (any Go integer; the array is zeroed) or an
// initializer (a slice or array of values that convert, as AnyValue.Set
// converts; for 'c' also a string or []byte, for 'u' a string). The array
// gets a new RLock unless Options says otherwise.
func NewArrayTypecode(name string, code Typecode, sizeOrInit any, opts *Options) (*AnyArray, error) {
	return newAnyArray(place{name: name, opts: opts}, code, sizeOrInit)
}

// NewArrayTypecodeIn is NewArrayTypecode in the arena a.
func NewArrayTypecodeIn(a *shm.Arena, code Typecode, sizeOrInit any, opts *Options) (*AnyArray, error) {
	return newAnyArray(place{arena: a, in: true, opts: opts}, code, sizeOrInit)
}

// NewRawArrayTypecode creates an array with no lock (Python's
// RawArray(typecode, size_or_initializer)).
func NewRawArrayTypecode(name string, code Typecode, sizeOrInit any, opts *Options) (*AnyArray, error) {
	if err := rawOptions(opts); err != nil {
		return nil, &Error{"create", name, err}
	}
	o := Options{NoLock: true}
	if opts != nil {
		o.Mode, o.Populate = opts.Mode, opts.Populate
	}
	return newAnyArray(place{name: name, opts: &o}, code, sizeOrInit)
}

// OpenAnyArray opens the array held by the segment name, whatever its
// element type, if that type has a typecode (see OpenAnyValue).
func OpenAnyArray(name string) (*AnyArray, error) {
	return AttachAnyArray(shm.Handle{Segment: name, Kind: shm.KindArray, Version: layoutVersion})
}

// AttachAnyArray attaches the array h names, as OpenAnyArray does.
func AttachAnyArray(h shm.Handle) (*AnyArray, error) {
	o, code, err := attachAny(h)
	if err != nil {
		return nil, err
	}
	a, err := typeOpsOf(code).attachArray(o)
	if err != nil {
		return nil, err
	}
	return &AnyArray{code: code, a: a}, nil
}

func newAnyArray(p place, code Typecode, sizeOrInit any) (*AnyArray, error) {
	if err := code.check(); err != nil {
		return nil, err
	}
	a, err := typeOpsOf(code).newArray(p, code, sizeOrInit)
	if err != nil {
		return nil, err
	}
	return &AnyArray{code: code, a: a}, nil
}

func newArrayConv[T any](p place, code Typecode, sizeOrInit any) (*Array[T], error) {
	v := reflect.ValueOf(sizeOrInit)
	switch {
	case v.CanInt():
		return newArray[T](p, code, int(max(min(v.Int(), 1<<62), -1)), nil)
	case v.CanUint():
		return newArray[T](p, code, int(min(v.Uint(), 1<<62)), nil)
	}
	init, err := convertSlice[T](code, sizeOrInit)
	if err != nil {
		return nil, &Error{"create", p.String(), err}
	}
	if len(init) == 0 {
		init = nil // an empty initializer is a length of 0: ErrLength
	}
	return newArray(p, code, len(init), init)
}

func attachArrayObject[T any](o *object) (*Array[T], error) {
	e, err := elemOf[T]()
	if err == nil {
		err = o.match(e)
	}
	if err != nil {
		o.close()
		return nil, &Error{"open", o.name(), err}
	}
	return arrayOf(rawArrayOf[T](o))
}

func (a *Array[T]) getAny(i int) (any, error) {
	x, err := a.Get(i)
	return x, err
}

func (a *Array[T]) setAny(i int, x any) error {
	t, err := convert[T](a.raw.obj.typecode(), x)
	if err != nil {
		return &Error{"set", a.raw.obj.name(), err}
	}
	return a.Set(i, t)
}

func (a *Array[T]) toSliceAny() (any, error) {
	s, err := a.ToSlice()
	return s, err
}

func (a *Array[T]) assignAny(x any) error {
	s, err := convertSlice[T](a.raw.obj.typecode(), x)
	if err != nil {
		return &Error{"assign", a.raw.obj.name(), err}
	}
	return a.Assign(s)
}

func (a *Array[T]) charValue() (any, error) {
	switch c := any(a).(type) {
	case *Array[byte]:
		if a.raw.obj.code == 'c' {
			return Chars(c).Value()
		}
	case *Array[rune]:
		if a.raw.obj.code == 'u' {
			return WChars(c).Value()
		}
	}
	return nil, a.notChars()
}

func (a *Array[T]) setCharValue(x any) error {
	switch c := any(a).(type) {
	case *Array[byte]:
		if a.raw.obj.code == 'c' {
			switch v := x.(type) {
			case []byte:
				return Chars(c).SetValue(v)
			case string:
				return Chars(c).SetValue([]byte(v))
			}
			return &Error{"set", a.raw.obj.name(), message(ErrMismatch, fmt.Sprintf("a 'c' array's value is a []byte or string, not %T", x))}
		}
	case *Array[rune]:
		if a.raw.obj.code == 'u' {
			if v, ok := x.(string); ok {
				return WChars(c).SetValue(v)
			}
			return &Error{"set", a.raw.obj.name(), message(ErrMismatch, fmt.Sprintf("a 'u' array's value is a string, not %T", x))}
		}
	}
	return a.notChars()
}

func (a *Array[T]) notChars() error {
	return &Error{"value", a.raw.obj.name(), withDetail(ErrType, fmt.Sprintf("only 'c' and 'u' arrays have a value; this is %v", a.Typecode()))}
}

// Typecode returns the array's typecode.
func (a *AnyArray) Typecode() Typecode { return a.code }

// Len returns the number of elements.
func (a *AnyArray) Len() int { return a.a.Len() }

// Get returns element i (Python's arr[i]) as the typecode's Go type.
// Errors as for Array.Get.
func (a *AnyArray) Get(i int) (any, error) { return a.a.getAny(i) }

// Set stores x into element i (Python's arr[i] = x), converting it as
// AnyValue.Set does.
func (a *AnyArray) Set(i int, x any) error { return a.a.setAny(i, x) }

// ToSlice returns a copy of the elements as a []T of the typecode's Go
// type (Python's arr[:]).
func (a *AnyArray) ToSlice() (any, error) { return a.a.toSliceAny() }

// Assign copies the elements of src, a slice or array of exactly Len
// values that convert, over the array (Python's arr[:] = src).
func (a *AnyArray) Assign(src any) error { return a.a.assignAny(src) }

// Value returns, for a 'c' array, the bytes before the first NUL as a
// []byte, and for a 'u' array the characters before the first NUL as a
// string (Python's arr.value). Other typecodes have no value: ErrType.
func (a *AnyArray) Value() (any, error) { return a.a.charValue() }

// SetValue sets the value of a 'c' array (from a []byte or string) or a
// 'u' array (from a string) as Python's arr.value = v does: a value longer
// than the array is an error matching ErrTooLong.
func (a *AnyArray) SetValue(v any) error { return a.a.setCharValue(v) }

// Raw returns all the bytes of a 'c' array (Python's arr.raw).
func (a *AnyArray) Raw() ([]byte, error) {
	if c, ok := a.a.(*Array[byte]); ok && a.code == 'c' {
		return Chars(c).Raw()
	}
	return nil, a.a.notChars()
}

// SetRaw copies v over the first bytes of a 'c' array (Python's
// arr.raw = v); v longer than the array is an error matching ErrTooLong.
func (a *AnyArray) SetRaw(v []byte) error {
	if c, ok := a.a.(*Array[byte]); ok && a.code == 'c' {
		return Chars(c).SetRaw(v)
	}
	return a.a.notChars()
}

// Typed returns the *Array[T] underneath (T the typecode's Go type).
func (a *AnyArray) Typed() any { return a.a }

// GetLock returns the lock (Python's get_lock), nil if there is none.
func (a *AnyArray) GetLock() Locker { return a.a.GetLock() }

// Inconsistent reports whether the array is marked inconsistent (see
// Value).
func (a *AnyArray) Inconsistent() bool { return a.a.Inconsistent() }

// MarkConsistent clears the inconsistent mark (see Value).
func (a *AnyArray) MarkConsistent() { a.a.MarkConsistent() }

// Handle returns the handle that attaches to the array from any process.
func (a *AnyArray) Handle() shm.Handle { return a.a.Handle() }

// Close closes the array as Array.Close does.
func (a *AnyArray) Close() error { return a.a.Close() }

// Unlink removes the array's names as Array.Unlink does.
func (a *AnyArray) Unlink() error { return a.a.Unlink() }
