package process_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// checker is a minimal assertion helper (testify's assert would pull in a
// YAML module this module does not carry). check reports and continues;
// must stops the test.
type checker struct{ fatal bool }

var (
	check = checker{}
	must  = checker{fatal: true}
)

func (c checker) fail(t testing.TB, msg []any, format string, args ...any) bool {
	t.Helper()
	s := fmt.Sprintf(format, args...)
	if len(msg) > 0 {
		s += ": " + fmt.Sprint(msg...)
		if f, ok := msg[0].(string); ok && len(msg) > 1 {
			s = fmt.Sprintf(format, args...) + ": " + fmt.Sprintf(f, msg[1:]...)
		}
	}
	if c.fatal {
		t.Fatal(s)
	}
	t.Error(s)
	return false
}

func (c checker) Equal(t testing.TB, want, got any, msg ...any) bool {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		return c.fail(t, msg, "got  %#v\nwant %#v", got, want)
	}
	return true
}

func (c checker) NotEqual(t testing.TB, notWant, got any, msg ...any) bool {
	t.Helper()
	if reflect.DeepEqual(notWant, got) {
		return c.fail(t, msg, "got %#v, want anything else", got)
	}
	return true
}

func (c checker) True(t testing.TB, ok bool, msg ...any) bool {
	t.Helper()
	if !ok {
		return c.fail(t, msg, "false, want true")
	}
	return true
}

func (c checker) False(t testing.TB, ok bool, msg ...any) bool {
	t.Helper()
	if ok {
		return c.fail(t, msg, "true, want false")
	}
	return true
}

func (c checker) NoError(t testing.TB, err error, msg ...any) bool {
	t.Helper()
	if err != nil {
		return c.fail(t, msg, "unexpected error: %v", err)
	}
	return true
}

func (c checker) ErrorIs(t testing.TB, err, target error, msg ...any) bool {
	t.Helper()
	if !errors.Is(err, target) {
		return c.fail(t, msg, "error %v does not match %v", err, target)
	}
	return true
}

func (c checker) ErrorContains(t testing.TB, err error, sub string, msg ...any) bool {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), sub) {
		return c.fail(t, msg, "error %v does not contain %q", err, sub)
	}
	return true
}

func (c checker) EqualError(t testing.TB, err error, text string, msg ...any) bool {
	t.Helper()
	if err == nil || err.Error() != text {
		return c.fail(t, msg, "error %v, want %q", err, text)
	}
	return true
}

// Contains checks that s (a string or a slice) contains elem.
func (c checker) Contains(t testing.TB, s, elem any, msg ...any) bool {
	t.Helper()
	if !contains(s, elem) {
		return c.fail(t, msg, "%#v does not contain %#v", s, elem)
	}
	return true
}

func (c checker) NotContains(t testing.TB, s, elem any, msg ...any) bool {
	t.Helper()
	if contains(s, elem) {
		return c.fail(t, msg, "%#v contains %#v", s, elem)
	}
	return true
}

func contains(s, elem any) bool {
	if str, ok := s.(string); ok {
		return strings.Contains(str, elem.(string))
	}
	v := reflect.ValueOf(s)
	for i := range v.Len() {
		if reflect.DeepEqual(v.Index(i).Interface(), elem) {
			return true
		}
	}
	return false
}

func (c checker) Empty(t testing.TB, v any, msg ...any) bool {
	t.Helper()
	if rv := reflect.ValueOf(v); rv.IsValid() && rv.Len() != 0 {
		return c.fail(t, msg, "%#v is not empty", v)
	}
	return true
}

func (c checker) Nil(t testing.TB, v any, msg ...any) bool {
	t.Helper()
	if rv := reflect.ValueOf(v); rv.IsValid() && !rv.IsNil() {
		return c.fail(t, msg, "%#v is not nil", v)
	}
	return true
}

// PanicsWithValue checks that f panics with exactly value.
func (c checker) PanicsWithValue(t testing.TB, value any, f func(), msg ...any) bool {
	t.Helper()
	got, panicked := func() (r any, panicked bool) {
		defer func() { r = recover() }()
		panicked = true
		f()
		return nil, false
	}()
	if !panicked {
		return c.fail(t, msg, "did not panic, want panic(%#v)", value)
	}
	if !reflect.DeepEqual(got, value) {
		return c.fail(t, msg, "panic(%#v), want panic(%#v)", got, value)
	}
	return true
}
