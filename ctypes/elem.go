//go:build linux

package ctypes

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strconv"
	"strings"
	"sync"
)

// An element type is checked once, with reflection, the first time it is
// used, and the result (accepted with its layout, or the error) is cached.
//
// Accepted: bool, the sized integers, int and uint, float32/64,
// complex64/128, fixed-size arrays of accepted types, and structs whose
// fields are all accepted (blank padding fields included). Their Go layout
// on linux/amd64 and linux/arm64 is the C layout of the same declaration
// (each field at the next multiple of its alignment, the size rounded up to
// the largest alignment), so a C struct or a Python ctypes.Structure with
// the same fields in the same order reads the same bytes.
//
// Rejected, naming the offending field: pointers, unsafe.Pointer, strings,
// slices, maps, interfaces, channels and funcs (another process cannot
// follow this process's pointers and the garbage collector does not scan
// shared memory), uintptr (an address means nothing in another process),
// and types of size 0.
//
// The canonical layout string is the fingerprint stored in every object's
// header: scalars are "i1 i2 i4 i8" (signed), "u1 u2 u4 u8" (unsigned),
// "f4 f8", "c8 c16" (complex) and "?" (bool); an array is "[N]ELEM"; a
// struct is "{OFF:LAYOUT,OFF:LAYOUT,...}SIZE". Names are not part of it:
// two types with the same fields at the same offsets match. int and int64
// (uint and uint64) are the same on 64-bit Linux and match each other.

// elemInfo describes an accepted element type.
type elemInfo struct {
	name   string // Go type name, for messages
	size   int
	align  int
	layout string // canonical layout, see above
	hash   uint64 // FNV-1a 64 of layout
	word   int    // 4 or 8 for an integer type usable with sync/atomic, else 0
	scalar Typecode
}

type elemResult struct {
	info *elemInfo
	err  error
}

var elemCache sync.Map // reflect.Type → elemResult

// elemOf checks T (cached) and describes it.
func elemOf[T any]() (*elemInfo, error) {
	return elemOfType(reflect.TypeFor[T]())
}

func elemOfType(t reflect.Type) (*elemInfo, error) {
	if r, ok := elemCache.Load(t); ok {
		r := r.(elemResult)
		return r.info, r.err
	}
	info, err := describe(t)
	elemCache.Store(t, elemResult{info, err})
	return info, err
}

func describe(t reflect.Type) (*elemInfo, error) {
	name := t.String()
	var b strings.Builder
	if err := walk(t, "", &b); err != nil {
		return nil, message(ErrType, "type "+name+": "+err.Error())
	}
	if t.Size() == 0 {
		return nil, message(ErrType, "type "+name+" has size 0")
	}
	h := fnv.New64a()
	h.Write([]byte(b.String()))
	info := &elemInfo{
		name:   name,
		size:   int(t.Size()),
		align:  t.Align(),
		layout: b.String(),
		hash:   h.Sum64(),
		scalar: scalarTypecode(t),
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint32, reflect.Uint64:
		if info.size == 4 || info.size == 8 {
			info.word = info.size
		}
	}
	return info, nil
}

// walk appends t's canonical layout to b, or says what in t is not allowed.
func walk(t reflect.Type, path string, b *strings.Builder) error {
	where := func() string {
		switch {
		case path == "":
			return ""
		case path[0] == '[':
			return "element " + path + " "
		}
		return "field " + path + " "
	}
	bad := func(what, why string) error {
		if path == "" {
			return fmt.Errorf("is %s (%s)", what, why)
		}
		return fmt.Errorf("%sis %s (%s)", where(), what, why)
	}
	const noPtr = "shared memory holds no Go pointers"
	switch t.Kind() {
	case reflect.Bool:
		b.WriteString("?")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		b.WriteString("i" + strconv.Itoa(int(t.Size())))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		b.WriteString("u" + strconv.Itoa(int(t.Size())))
	case reflect.Float32, reflect.Float64:
		b.WriteString("f" + strconv.Itoa(int(t.Size())))
	case reflect.Complex64, reflect.Complex128:
		b.WriteString("c" + strconv.Itoa(int(t.Size())))
	case reflect.Array:
		b.WriteString("[" + strconv.Itoa(t.Len()) + "]")
		return walk(t.Elem(), path+"[i]", b)
	case reflect.Struct:
		b.WriteString("{")
		for i := range t.NumField() {
			f := t.Field(i)
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(strconv.FormatUint(uint64(f.Offset), 10) + ":")
			p := f.Name
			if path != "" {
				p = path + "." + f.Name
			}
			if err := walk(f.Type, p, b); err != nil {
				return err
			}
		}
		b.WriteString("}" + strconv.FormatUint(uint64(t.Size()), 10))
	case reflect.Uintptr:
		return bad("a uintptr", "an address means nothing in another process")
	case reflect.Pointer:
		return bad("a pointer", noPtr)
	case reflect.UnsafePointer:
		return bad("an unsafe.Pointer", noPtr)
	case reflect.String:
		return bad("a string", noPtr+"; use a fixed-size byte array")
	case reflect.Slice:
		return bad("a slice", noPtr+"; use a fixed-size array")
	case reflect.Map:
		return bad("a map", noPtr)
	case reflect.Interface:
		return bad("an interface", noPtr)
	case reflect.Chan:
		return bad("a channel", noPtr)
	case reflect.Func:
		return bad("a func", noPtr)
	default:
		return bad("a "+t.Kind().String(), "not supported")
	}
	return nil
}

// scalarTypecode is the Python typecode of a scalar Go type, 0 if none.
// int64 maps to 'q' (not 'l', which has the same size): a typecode read
// back from a Go-typed object is only used to pick the Go type.
func scalarTypecode(t reflect.Type) Typecode {
	switch t.Kind() {
	case reflect.Int8:
		return 'b'
	case reflect.Uint8:
		return 'B'
	case reflect.Int16:
		return 'h'
	case reflect.Uint16:
		return 'H'
	case reflect.Int32:
		return 'i'
	case reflect.Uint32:
		return 'I'
	case reflect.Int, reflect.Int64:
		if t.Size() == 8 {
			return 'q'
		}
		return 'i'
	case reflect.Uint, reflect.Uint64:
		if t.Size() == 8 {
			return 'Q'
		}
		return 'I'
	case reflect.Float32:
		return 'f'
	case reflect.Float64:
		return 'd'
	}
	return 0
}

// CheckType reports whether T can live in shared memory: nil, or an error
// matching ErrType that names the offending field, for example
// "ctypes: type main.Point: field Name is a string (...)". Every
// constructor checks its element type the same way; CheckType lets a
// program check its types up front (in a test, say).
func CheckType[T any]() error {
	_, err := elemOf[T]()
	return err
}

// Layout returns T's canonical layout string (see the package
// documentation), the fingerprint every object of T records, or an error
// matching ErrType.
func Layout[T any]() (string, error) {
	e, err := elemOf[T]()
	if err != nil {
		return "", err
	}
	return e.layout, nil
}
