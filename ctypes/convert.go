//go:build linux

package ctypes

import (
	"fmt"
	"reflect"
	"unicode/utf8"
)

// convert turns x, a Go value of any numeric type (or, for 'c' and 'u', a
// one-character string or byte slice), into the element type T of
// typecode code, refusing what Python refuses (a float for an integer
// type, a string of two characters for 'c') and, unlike ctypes, what would
// not fit (300 for 'b') instead of truncating it. nil is the zero value.
func convert[T any](code Typecode, x any) (T, error) {
	var out T
	if x == nil {
		return out, nil
	}
	if v, ok := x.(T); ok {
		return v, nil
	}
	dst := reflect.ValueOf(&out).Elem()
	src := reflect.ValueOf(x)
	bad := func(why string) (T, error) {
		return out, message(ErrMismatch, fmt.Sprintf("typecode %v (%s) %s, not %T %v", code, code.CType(), why, x, x))
	}
	switch code {
	case 'c':
		switch v := x.(type) {
		case []byte:
			if len(v) != 1 {
				return bad("takes one byte")
			}
			x = v[0]
		case string:
			if len(v) != 1 {
				return bad("takes one byte")
			}
			x = v[0]
		}
		src = reflect.ValueOf(x)
	case 'u':
		if s, ok := x.(string); ok {
			r, n := utf8.DecodeRuneInString(s)
			if n == 0 || n != len(s) || r == utf8.RuneError && n == 1 {
				return bad("takes one character")
			}
			x = r
			src = reflect.ValueOf(x)
		}
	}
	switch {
	case dst.CanInt():
		switch {
		case src.CanInt():
			if dst.OverflowInt(src.Int()) {
				return bad("cannot hold it")
			}
			dst.SetInt(src.Int())
		case src.CanUint():
			if src.Uint() > 1<<63-1 || dst.OverflowInt(int64(src.Uint())) {
				return bad("cannot hold it")
			}
			dst.SetInt(int64(src.Uint()))
		default:
			return bad("takes an integer")
		}
	case dst.CanUint():
		switch {
		case src.CanInt():
			if src.Int() < 0 || dst.OverflowUint(uint64(src.Int())) {
				return bad("cannot hold it")
			}
			dst.SetUint(uint64(src.Int()))
		case src.CanUint():
			if dst.OverflowUint(src.Uint()) {
				return bad("cannot hold it")
			}
			dst.SetUint(src.Uint())
		default:
			return bad("takes an integer")
		}
	case dst.CanFloat():
		var f float64
		switch {
		case src.CanFloat():
			f = src.Float()
		case src.CanInt():
			f = float64(src.Int())
		case src.CanUint():
			f = float64(src.Uint())
		default:
			return bad("takes a number")
		}
		if dst.OverflowFloat(f) {
			return bad("cannot hold it")
		}
		dst.SetFloat(f)
	default:
		return bad("takes a value of its own type")
	}
	return out, nil
}

// convertSlice turns x into a []T for typecode code: a []T as it is, or
// any slice or array whose elements convert, or (for 'c') a string or
// []byte, or (for 'u') a string.
func convertSlice[T any](code Typecode, x any) ([]T, error) {
	if v, ok := x.([]T); ok {
		return v, nil
	}
	switch v := x.(type) {
	case string:
		switch code {
		case 'c':
			return convertSlice[T](code, []byte(v))
		case 'u':
			return convertSlice[T](code, []rune(v))
		}
	}
	src := reflect.ValueOf(x)
	if src.Kind() != reflect.Slice && src.Kind() != reflect.Array {
		return nil, message(ErrMismatch, fmt.Sprintf("typecode %v takes a slice, not %T", code, x))
	}
	out := make([]T, src.Len())
	for i := range out {
		v, err := convert[T](code, src.Index(i).Interface())
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		out[i] = v
	}
	return out, nil
}
