//go:build linux

package main

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/shm"
)

// Values and arrays (the ctypes package), decoded by ctypes.Inspect.
func init() {
	setDecoder(shm.KindValue, ctypes.LayoutVersion, decodeCtypes)
	setDecoder(shm.KindArray, ctypes.LayoutVersion, decodeCtypes)
}

func decodeCtypes(r *shm.Region) (*report, error) {
	st, err := ctypes.Inspect(r)
	if err != nil {
		return nil, err
	}
	rep := &report{}
	typ := st.Layout
	if g, ok := goScalars[st.Layout]; ok {
		typ += " (" + g + ")"
	}
	if st.Typecode != 0 {
		typ = fmt.Sprintf("%v (%s)", st.Typecode, st.Typecode.CType())
	}
	rep.add("type", typ)
	rep.add("element_size", st.ElemSize)
	if st.Kind == shm.KindArray {
		rep.add("length", st.Len)
	}
	if st.Lock == "" {
		rep.add("lock", "none (raw)")
	} else {
		rep.add("lock", st.Lock)
		if h, err := shm.ParseHandle(st.Lock); err == nil {
			rep.add("lock_state", lockOf(h))
		}
	}
	rep.add("consistent", labelled{!st.Suspect, "yes",
		"NO: a process died holding the lock, the data may be half written"})
	switch {
	case st.Typecode == 'c':
		// Python's Array('c').value: the bytes up to the first NUL.
		b := st.Data
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i]
		}
		rep.add("value", "b"+strconv.Quote(string(b)))
	case st.Elements != nil && st.Kind == shm.KindValue:
		rep.add("value", st.Elements[0])
	case st.Elements != nil:
		key := "values"
		if len(st.Elements) < st.Len {
			key = fmt.Sprintf("first_%d_values", len(st.Elements))
		}
		rep.add(key, st.Elements)
	default:
		key := "data"
		if len(st.Data) < st.Len*st.ElemSize {
			key = fmt.Sprintf("first_%d_bytes", len(st.Data))
		}
		rep.add(key, hexBytes(st.Data))
	}
	return rep, nil
}

// goScalars names the Go types of the scalar canonical layouts.
var goScalars = map[string]string{
	"?": "bool", "i1": "int8", "i2": "int16", "i4": "int32", "i8": "int64",
	"u1": "uint8", "u2": "uint16", "u4": "uint32", "u8": "uint64",
	"f4": "float32", "f8": "float64", "c8": "complex64", "c16": "complex128",
}
