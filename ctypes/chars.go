//go:build linux

package ctypes

import (
	"bytes"
	"context"
	"fmt"
	"slices"
)

// CharArray gives an Array of byte Python's c_char array accessors: Value
// (the bytes up to the first NUL) and Raw (all the bytes), with Python's
// length checks. It is a view: it shares the Array's memory and lock, and
// closing either closes both.
type CharArray struct {
	*Array[byte]
}

// Chars returns the char-array view of a.
func Chars(a *Array[byte]) *CharArray { return &CharArray{a} }

// Value returns a copy of the bytes before the first NUL, or all of them
// if there is none (Python's arr.value).
func (c *CharArray) Value() ([]byte, error) {
	var out []byte
	err := c.do("get", func(s []byte) error {
		out = cValue(s)
		return nil
	})
	return out, err
}

// SetValue stores v followed by a NUL if it is shorter than the array
// (Python's arr.value = v); the bytes after that NUL keep their values. A
// v longer than the array is an error matching ErrTooLong (Python's
// "ValueError: byte string too long") and writes nothing.
func (c *CharArray) SetValue(v []byte) error {
	if err := c.fits(v, "byte string"); err != nil {
		return err
	}
	return c.do("set", func(s []byte) error { cSetValue(s, v); return nil })
}

// Raw returns a copy of all the bytes (Python's arr.raw).
func (c *CharArray) Raw() ([]byte, error) { return c.ToSlice() }

// SetRaw copies v over the first len(v) bytes (Python's arr.raw = v); the
// rest keep their values. A v longer than the array is an error matching
// ErrTooLong and writes nothing.
func (c *CharArray) SetRaw(v []byte) error {
	if err := c.fits(v, "byte string"); err != nil {
		return err
	}
	return c.do("set", func(s []byte) error { copy(s, v); return nil })
}

func (c *CharArray) fits(v []byte, what string) error {
	if len(v) > c.Len() {
		return &Error{"set", c.raw.obj.name(), withDetail(ErrTooLong, fmt.Sprintf("%s of %d for %d chars", what, len(v), c.Len()))}
	}
	return nil
}

func (c *CharArray) do(op string, f func(s []byte) error) error {
	return lockedDo(c.Array, op, f)
}

// WCharArray gives an Array of rune Python's c_wchar array accessor Value
// (the string up to the first NUL), with Python's length check. wchar_t is
// 4 bytes on Linux: one rune per element.
type WCharArray struct {
	*Array[rune]
}

// WChars returns the wide-char-array view of a.
func WChars(a *Array[rune]) *WCharArray { return &WCharArray{a} }

// Value returns the string before the first NUL, or all of it (Python's
// arr.value).
func (w *WCharArray) Value() (string, error) {
	var out string
	err := lockedDo(w.Array, "get", func(s []rune) error {
		out = wValue(s)
		return nil
	})
	return out, err
}

// SetValue stores the runes of v followed by a NUL if there is room
// (Python's arr.value = v). A v of more runes than the array is an error
// matching ErrTooLong ("ValueError: string too long") and writes nothing.
func (w *WCharArray) SetValue(v string) error {
	r := []rune(v)
	if len(r) > w.Len() {
		return &Error{"set", w.raw.obj.name(), withDetail(ErrTooLong, fmt.Sprintf("string of %d chars for %d", len(r), w.Len()))}
	}
	return lockedDo(w.Array, "set", func(s []rune) error { wSetValue(s, r); return nil })
}

// lockedDo is Array.Do with the operation's name in the error.
func lockedDo[T any](a *Array[T], op string, f func(s []T) error) error {
	a.raw.obj.live("Array")
	if err := a.g.acquire(context.Background()); err != nil {
		return err
	}
	defer a.g.release()
	if err := f(a.raw.s); err != nil {
		return err
	}
	return a.g.state(op)
}

func cValue(s []byte) []byte {
	if i := bytes.IndexByte(s, 0); i >= 0 {
		s = s[:i]
	}
	return slices.Clone(s)
}

func cSetValue(s, v []byte) {
	copy(s, v)
	if len(v) < len(s) {
		s[len(v)] = 0
	}
}

func wValue(s []rune) string {
	if i := slices.Index(s, 0); i >= 0 {
		s = s[:i]
	}
	return string(s)
}

func wSetValue(s, v []rune) {
	copy(s, v)
	if len(v) < len(s) {
		s[len(v)] = 0
	}
}
