package queue

import (
	"fmt"
	"hash/fnv"
	"reflect"
	"strings"

	"github.com/mproc/mproc/shm"
)

// Codec turns items into bytes and back, for item types that cannot be
// copied as they are. Encode's result is copied into the queue, so Encode
// may reuse nothing the caller keeps; Decode's data is a view of shared
// memory valid only during the call, so Decode must copy what it keeps.
// A Codec must be safe for concurrent use.
//
// Every handle on a queue must use a codec with the same fingerprint: a
// string naming the codec and the item type, hashed into the queue's
// header at creation and checked by Open and Attach (ErrType on a
// mismatch). A Codec may implement Fingerprinter to choose its own;
// otherwise it is the codec's Go type and the item type.
type Codec[T any] interface {
	Encode(v T) ([]byte, error)
	Decode(data []byte) (T, error)
}

// Fingerprinter is implemented by a Codec that names its own fingerprint,
// for instance to let two item types with the same wire form share a
// queue.
type Fingerprinter interface {
	Fingerprint() string
}

// RawCodec copies a fixed-size, pointer-free T as its bytes: no encoding
// at all, one copy into the ring and one out. T may hold booleans,
// numbers, arrays and structs of them; not pointers, strings, slices,
// maps, interfaces, channels or functions. Make one with NewRawCodec,
// which checks T. Its fingerprint is T's memory layout (kinds, sizes and
// field offsets), so two types with the same layout share a queue.
type RawCodec[T any] struct {
	size   int
	layout string
}

// NewRawCodec returns T's RawCodec, or an error matching ErrType if T
// holds pointers.
func NewRawCodec[T any]() (RawCodec[T], error) {
	t := reflect.TypeFor[T]()
	layout, err := rawLayout(t)
	if err != nil {
		return RawCodec[T]{}, withDetail(ErrType, fmt.Sprintf("%v cannot be copied raw: %v", t, err))
	}
	return RawCodec[T]{size: int(t.Size()), layout: layout}, nil
}

// Encode returns v's bytes.
func (c RawCodec[T]) Encode(v T) ([]byte, error) {
	if c.layout == "" {
		return nil, withDetail(ErrType, "RawCodec not made by NewRawCodec")
	}
	b := make([]byte, max(c.size, 8))[:c.size]
	*shm.Pointer[T](b, 0) = v
	return b, nil
}

// Decode returns the T whose bytes are data.
func (c RawCodec[T]) Decode(data []byte) (T, error) {
	var v T
	if c.layout == "" {
		return v, withDetail(ErrType, "RawCodec not made by NewRawCodec")
	}
	if len(data) != c.size {
		return v, withDetail(ErrEncode, fmt.Sprintf("%d bytes for a %d-byte item", len(data), c.size))
	}
	b := make([]byte, max(c.size, 8))[:c.size] // aligned for T
	copy(b, data)
	return *shm.Pointer[T](b, 0), nil
}

// Fingerprint implements Fingerprinter.
func (c RawCodec[T]) Fingerprint() string { return fmt.Sprintf("raw:%d:%s", c.size, c.layout) }

// BytesCodec stores []byte items as they are. It is the default for
// []byte queues; the zero value is ready to use.
type BytesCodec struct{}

// Encode returns v itself.
func (BytesCodec) Encode(v []byte) ([]byte, error) { return v, nil }

// Decode returns a copy of data.
func (BytesCodec) Decode(data []byte) ([]byte, error) {
	out := make([]byte, len(data)) // with the copy: one allocation, not zeroed
	copy(out, data)
	return out, nil
}

// Fingerprint implements Fingerprinter.
func (BytesCodec) Fingerprint() string { return "bytes" }

// rawLayout describes a pointer-free type's memory layout, or fails.
func rawLayout(t reflect.Type) (string, error) {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return fmt.Sprintf("%v%d", t.Kind(), t.Size()), nil
	case reflect.Array:
		e, err := rawLayout(t.Elem())
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("[%d]%s", t.Len(), e), nil
	case reflect.Struct:
		var b strings.Builder
		b.WriteString("struct{")
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			e, err := rawLayout(f.Type)
			if err != nil {
				return "", fmt.Errorf("field %s: %w", f.Name, err)
			}
			fmt.Fprintf(&b, "%d:%s;", f.Offset, e)
		}
		fmt.Fprintf(&b, "}%d", t.Size())
		return b.String(), nil
	}
	return "", fmt.Errorf("%v is a %v", t, t.Kind())
}

// codecMode says how a handle moves its items.
type codecMode uint8

const (
	modeRaw   codecMode = iota + 1 // copy T's bytes in place
	modeBytes                      // T is []byte: copy the slice
	modeCodec                      // Encode and Decode
)

// itemCodec is a handle's resolved codec.
type itemCodec[T any] struct {
	mode        codecMode
	codec       Codec[T]
	size        int // raw item size
	fingerprint uint64
	desc        string // for error messages
}

// resolveCodec picks the codec for T (c may be nil) and its fingerprint.
func resolveCodec[T any](c Codec[T]) (itemCodec[T], error) {
	t := reflect.TypeFor[T]()
	if c == nil {
		switch {
		case t == reflect.TypeFor[[]byte]():
			c = any(BytesCodec{}).(Codec[T])
		default:
			if rc, err := NewRawCodec[T](); err == nil {
				c = rc
			} else {
				c = PickleCodec[T]{}
			}
		}
	}
	ic := itemCodec[T]{codec: c, mode: modeCodec}
	var fp string
	switch cc := any(c).(type) {
	case RawCodec[T]:
		if cc.layout == "" {
			return itemCodec[T]{}, withDetail(ErrType, "RawCodec not made by NewRawCodec")
		}
		ic.mode, ic.size, fp = modeRaw, cc.size, cc.Fingerprint()
	case BytesCodec:
		ic.mode, fp = modeBytes, cc.Fingerprint()
	case Fingerprinter:
		fp = "codec:" + cc.Fingerprint()
	default:
		fp = fmt.Sprintf("codec:%T:%v", c, t)
	}
	ic.desc = fp
	h := fnv.New64a()
	h.Write([]byte(fp))
	ic.fingerprint = h.Sum64()
	return ic, nil
}
