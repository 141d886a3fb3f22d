//go:build linux

package ctypes

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// Read-only inspection, for tools such as "mproc inspect": Inspect decodes
// a value's or array's header (see the layout in object.go) and the start
// of its data, without knowing its Go type. It never writes a byte of the
// object and does not take its lock, so it is safe on a live object; an
// element another process is writing at that moment may read half
// written (words of 4 and 8 bytes are read with atomic loads and never
// tear).

// LayoutVersion is the layout version of the value and array objects
// this build reads and writes (their shm.Handle's Version).
const LayoutVersion = layoutVersion

// InspectElements bounds how many elements Inspect decodes, and
// InspectBytes how many data bytes it copies.
const (
	InspectElements = 64
	InspectBytes    = 256
)

// State is a snapshot of a Value, RawValue, Array or RawArray object, as
// Inspect decodes it.
type State struct {
	Kind shm.Kind // shm.KindValue or shm.KindArray
	// Typecode is the Python typecode the object was made with, 0 for a Go
	// element type.
	Typecode Typecode
	// Layout is the element's canonical layout string ("f8",
	// "{0:i4,8:f8}16", see CheckType), cut to 64 bytes.
	Layout    string
	ElemSize  int
	ElemAlign int
	Len       int    // elements: 1 for a value
	Lock      string // the text handle of the object's lock; "" for a raw object
	OwnsLock  bool   // the lock was made with the object
	// Suspect reports that a process died holding the lock, so the data
	// may be half written (see MarkConsistent).
	Suspect bool
	// Elements holds the first min(Len, InspectElements) elements when the
	// element is a scalar: int64 for signed integers, uint64 for unsigned
	// ones, float64, complex128, bool, byte for typecode 'c' and rune for
	// 'u'. It is nil for arrays and structs; Data has their bytes.
	Elements []any
	// Data holds the first min(Len*ElemSize, InspectBytes) data bytes.
	Data []byte
}

// Inspect decodes the value or array object r holds, reading it only. The
// region must be a KindValue or KindArray object of this build's layout
// version (else an error matching shm.ErrKind or shm.ErrVersion), with a
// well-formed header (else ErrCorrupt).
func Inspect(r *shm.Region) (State, error) {
	h := r.Handle()
	fail := func(err error) (State, error) { return State{}, &Error{"inspect", h.String(), err} }
	if h.Kind != shm.KindValue && h.Kind != shm.KindArray {
		return fail(withDetail(shm.ErrKind, fmt.Sprintf("a %v is not a value or an array", h.Kind)))
	}
	if h.Version != layoutVersion {
		return fail(withDetail(shm.ErrVersion, fmt.Sprintf("%v layout version %d, this build reads %d", h.Kind, h.Version, layoutVersion)))
	}
	o, err := fromRegion(r, h.Kind)
	if err != nil {
		return fail(err)
	}
	st := State{
		Kind:      h.Kind,
		Typecode:  o.code,
		Layout:    o.elem.layout,
		ElemSize:  o.elem.size,
		ElemAlign: o.elem.align,
		Len:       o.n,
		Lock:      o.lock,
		OwnsLock:  o.flags&flagOwnLock != 0,
		Suspect:   atomic.LoadUint32(o.suspect) != 0,
	}
	n := min(len(o.data), InspectBytes)
	st.Data = make([]byte, n)
	copy(st.Data, o.data[:n])
	if read := scalarReader(o.code, o.elem.layout); read != nil {
		for i := range min(o.n, InspectElements) {
			st.Elements = append(st.Elements, read(o.data[i*o.elem.size:(i+1)*o.elem.size]))
		}
	}
	return st, nil
}

// scalarReader returns a function decoding one element of a scalar type
// (by typecode, else by layout), or nil for arrays and structs.
func scalarReader(code Typecode, layout string) func(b []byte) any {
	switch code {
	case 'c':
		return func(b []byte) any { return b[0] }
	case 'u':
		return func(b []byte) any { return rune(load(b)) }
	}
	switch layout {
	case "?":
		return func(b []byte) any { return b[0] != 0 }
	case "i1", "i2", "i4", "i8":
		return func(b []byte) any {
			v := load(b)
			shift := 64 - 8*len(b)
			return int64(v<<shift) >> shift // sign-extend
		}
	case "u1", "u2", "u4", "u8":
		return func(b []byte) any { return load(b) }
	case "f4":
		return func(b []byte) any { return float64(math.Float32frombits(uint32(load(b)))) }
	case "f8":
		return func(b []byte) any { return math.Float64frombits(load(b)) }
	case "c8":
		return func(b []byte) any {
			return complex(float64(math.Float32frombits(uint32(load(b[:4])))), float64(math.Float32frombits(uint32(load(b[4:])))))
		}
	case "c16":
		return func(b []byte) any {
			return complex(math.Float64frombits(load(b[:8])), math.Float64frombits(load(b[8:])))
		}
	}
	return nil
}

// load reads a little-endian word of 1, 2, 4 or 8 bytes; words of 4 and 8
// bytes (aligned in the layout) with an atomic load.
func load(b []byte) uint64 {
	switch len(b) {
	case 8:
		return atomic.LoadUint64(shm.Uint64(b, 0))
	case 4:
		return uint64(atomic.LoadUint32(shm.Uint32(b, 0)))
	case 2:
		return uint64(binary.LittleEndian.Uint16(b))
	}
	return uint64(b[0])
}
