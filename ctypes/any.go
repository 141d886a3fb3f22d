//go:build linux

package ctypes

import (
	"fmt"

	"github.com/mproc/mproc/shm"
)

// AnyValue is a Value whose element type is chosen at run time by a Python
// typecode, for code ported from Python:
//
//	n, err := ctypes.NewValueTypecode("n", 'i', 7, nil) // Value('i', 7)
//	x, err := n.Get()                                    // int32(7), as any
//	err = n.Set(49)
//
// Get returns the typecode's Go type (see Typecode) as an any; Set takes
// any Go number that fits (see Set). Underneath is a *Value[T] (Typed),
// with the same layout, lock and owner-death handling.
type AnyValue struct {
	code Typecode
	v    anyValue
}

// anyValue is what *Value[T] provides to AnyValue.
type anyValue interface {
	getAny() (any, error)
	setAny(x any) error
	GetLock() Locker
	Inconsistent() bool
	MarkConsistent()
	Handle() shm.Handle
	Close() error
	Unlink() error
}

// NewValueTypecode creates a Value of the typecode's type in a segment of
// its own named name, initialised to init (nil: zero), as Python's
// Value(typecode, init) does: with a new RLock unless Options says
// otherwise.
func NewValueTypecode(name string, code Typecode, init any, opts *Options) (*AnyValue, error) {
	return newAnyValue(place{name: name, opts: opts}, code, init)
}

// NewValueTypecodeIn is NewValueTypecode in the arena a.
func NewValueTypecodeIn(a *shm.Arena, code Typecode, init any, opts *Options) (*AnyValue, error) {
	return newAnyValue(place{arena: a, in: true, opts: opts}, code, init)
}

// NewRawValueTypecode creates a value with no lock (Python's
// RawValue(typecode, init)).
func NewRawValueTypecode(name string, code Typecode, init any, opts *Options) (*AnyValue, error) {
	if err := rawOptions(opts); err != nil {
		return nil, &Error{"create", name, err}
	}
	o := Options{NoLock: true}
	if opts != nil {
		o.Mode, o.Populate = opts.Mode, opts.Populate
	}
	return newAnyValue(place{name: name, opts: &o}, code, init)
}

// OpenAnyValue opens the value held by the segment name, whatever its
// element type, if that type has a typecode: one recorded at creation, or
// that of a Go scalar type (int32 opens as 'i', float64 as 'd', int64 as
// 'q', ...). Other element types are an error matching ErrType.
func OpenAnyValue(name string) (*AnyValue, error) {
	return AttachAnyValue(shm.Handle{Segment: name, Kind: shm.KindValue, Version: layoutVersion})
}

// AttachAnyValue attaches the value h names, as OpenAnyValue does.
func AttachAnyValue(h shm.Handle) (*AnyValue, error) {
	o, code, err := attachAny(h)
	if err != nil {
		return nil, err
	}
	v, err := typeOpsOf(code).attachValue(o)
	if err != nil {
		return nil, err
	}
	return &AnyValue{code: code, v: v}, nil
}

func newAnyValue(p place, code Typecode, init any) (*AnyValue, error) {
	if err := code.check(); err != nil {
		return nil, err
	}
	v, err := typeOpsOf(code).newValue(p, code, init)
	if err != nil {
		return nil, err
	}
	return &AnyValue{code: code, v: v}, nil
}

func newValueConv[T any](p place, code Typecode, init any) (*Value[T], error) {
	x, err := convert[T](code, init)
	if err != nil {
		return nil, err
	}
	return newValue(p, code, x)
}

// attachValueObject makes a Value[T] of an attached object of unknown type.
func attachValueObject[T any](o *object) (*Value[T], error) {
	e, err := elemOf[T]()
	if err == nil {
		err = o.match(e)
	}
	if err != nil {
		o.close()
		return nil, &Error{"open", o.name(), err}
	}
	return valueOf(rawValueOf[T](o))
}

// attachAny attaches the object h names and finds its typecode.
func attachAny(h shm.Handle) (*object, Typecode, error) {
	o, err := attachObject(h, nil)
	if err != nil {
		return nil, 0, err
	}
	code := o.typecode()
	if code == 0 {
		o.close()
		return nil, 0, &Error{"open", o.name(), withDetail(ErrType, fmt.Sprintf("element %s has no typecode; open it with its Go type", o.elem.layout))}
	}
	return o, code, nil
}

// typeOps makes and attaches the objects of one typecode's Go type: the
// one place where a run-time typecode becomes a type parameter.
type typeOps struct {
	newValue    func(p place, code Typecode, init any) (anyValue, error)
	attachValue func(o *object) (anyValue, error)
	newArray    func(p place, code Typecode, sizeOrInit any) (anyArray, error)
	attachArray func(o *object) (anyArray, error)
}

func opsFor[T any]() typeOps {
	return typeOps{
		newValue: func(p place, code Typecode, init any) (anyValue, error) {
			return newValueConv[T](p, code, init)
		},
		attachValue: func(o *object) (anyValue, error) { return attachValueObject[T](o) },
		newArray: func(p place, code Typecode, sizeOrInit any) (anyArray, error) {
			return newArrayConv[T](p, code, sizeOrInit)
		},
		attachArray: func(o *object) (anyArray, error) { return attachArrayObject[T](o) },
	}
}

var typeOpsByCode = map[Typecode]typeOps{
	'b': opsFor[int8](), 'B': opsFor[uint8](), 'c': opsFor[byte](),
	'h': opsFor[int16](), 'H': opsFor[uint16](),
	'i': opsFor[int32](), 'I': opsFor[uint32](), 'u': opsFor[rune](),
	'l': opsFor[int64](), 'L': opsFor[uint64](), 'q': opsFor[int64](), 'Q': opsFor[uint64](),
	'f': opsFor[float32](), 'd': opsFor[float64](),
}

// typeOpsOf returns the typeOps of a valid typecode.
func typeOpsOf(code Typecode) typeOps { return typeOpsByCode[code] }

// layoutTypecodes maps the layout of a Go scalar to its typecode.
var layoutTypecodes = map[string]Typecode{
	"i1": 'b', "u1": 'B', "i2": 'h', "u2": 'H', "i4": 'i', "u4": 'I',
	"i8": 'q', "u8": 'Q', "f4": 'f', "f8": 'd',
}

func (v *Value[T]) getAny() (any, error) {
	x, err := v.Get()
	return x, err
}

func (v *Value[T]) setAny(x any) error {
	t, err := convert[T](v.raw.obj.typecode(), x)
	if err != nil {
		return &Error{"set", v.raw.obj.name(), err}
	}
	return v.Set(t)
}

// Typecode returns the value's typecode.
func (a *AnyValue) Typecode() Typecode { return a.code }

// Get returns the value, read with the lock held, as the typecode's Go
// type: int8 for 'b', uint8 for 'B', int16, uint16, int32 for 'i', uint32,
// int64 for 'l' and 'q', uint64 for 'L' and 'Q', float32 for 'f', float64
// for 'd', a byte for 'c' and a rune for 'u'. Errors as for Value.Get.
func (a *AnyValue) Get() (any, error) { return a.v.getAny() }

// Set stores x with the lock held. x may be any Go integer (or, for 'f'
// and 'd', any number) that the element type holds; a value that does not
// fit, a float for an integer typecode, or for 'c' anything but a byte,
// a one-byte string or []byte, is an error matching ErrMismatch (ctypes
// would silently truncate; Python raises TypeError for the rest).
func (a *AnyValue) Set(x any) error { return a.v.setAny(x) }

// Typed returns the *Value[T] underneath (T the typecode's Go type), for
// Do and the typed methods.
func (a *AnyValue) Typed() any { return a.v }

// GetLock returns the lock (Python's get_lock), nil if there is none.
func (a *AnyValue) GetLock() Locker { return a.v.GetLock() }

// Inconsistent reports whether the value is marked inconsistent (see
// Value).
func (a *AnyValue) Inconsistent() bool { return a.v.Inconsistent() }

// MarkConsistent clears the inconsistent mark (see Value).
func (a *AnyValue) MarkConsistent() { a.v.MarkConsistent() }

// Handle returns the handle that attaches to the value from any process.
func (a *AnyValue) Handle() shm.Handle { return a.v.Handle() }

// Close closes the value as Value.Close does.
func (a *AnyValue) Close() error { return a.v.Close() }

// Unlink removes the value's names as Value.Unlink does.
func (a *AnyValue) Unlink() error { return a.v.Unlink() }
