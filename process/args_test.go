package process

import (
	"encoding/json"
	"errors"
	"testing"
)

// newArgs builds the Args a child would get for the given encoded values.
func newArgs(t *testing.T, vals ...any) *Args {
	t.Helper()
	b, err := encodeArgs(vals)
	if err != nil {
		t.Fatal(err)
	}
	a := &Args{}
	if err := json.Unmarshal(b, &a.raw); err != nil {
		t.Fatal(err)
	}
	return a
}

func wantPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		if got := recover(); got != want {
			t.Errorf("panic(%#v), want panic(%q)", got, want)
		}
	}()
	f()
}

func TestArgsAccessors(t *testing.T) {
	a := newArgs(t, "s", 12, 1.5, nil)
	if a.Len() != 4 || a.NumFiles() != 0 || a.File(0) != nil || a.File(-1) != nil {
		t.Fatalf("Len %d NumFiles %d File(0) %v", a.Len(), a.NumFiles(), a.File(0))
	}
	if got := a.String(0); got != "s" {
		t.Errorf("String(0) = %q", got)
	}
	if got := a.Int(1); got != 12 {
		t.Errorf("Int(1) = %d", got)
	}
	wantPanic(t, "process: decoding argument 0: json: cannot unmarshal string into Go value of type int", func() { a.Int(0) })
	wantPanic(t, "process: decoding argument 1: json: cannot unmarshal number into Go value of type string", func() { a.String(1) })
	wantPanic(t, "process: decoding argument 2: json: cannot unmarshal number 1.5 into Go value of type int", func() { a.Int(2) })
	wantPanic(t, "process: no such argument: index 4, have 4", func() { a.String(4) })

	for _, i := range []int{-1, 4} {
		if err := a.Decode(i, new(any)); !errors.Is(err, ErrNoArgument) {
			t.Errorf("Decode(%d) = %v, want ErrNoArgument", i, err)
		}
	}
	var p *int
	if err := a.Decode(3, &p); err != nil || p != nil {
		t.Errorf("Decode(null) = %v, %v", p, err)
	}
	var zero Args
	if zero.Len() != 0 || zero.NumFiles() != 0 || zero.File(0) != nil {
		t.Error("zero Args not empty")
	}
}

func TestEncodeArgsText(t *testing.T) {
	// encoding.TextMarshaler values travel as JSON strings.
	b, err := encodeArgs([]any{textArg("seg@8"), 3})
	if err != nil || string(b) != `["text:seg@8",3]` {
		t.Fatalf("encodeArgs = %s, %v", b, err)
	}
}

type textArg string

func (s textArg) MarshalText() ([]byte, error) { return []byte("text:" + s), nil }
