//go:build linux

package pipe_test

import (
	"reflect"
	"testing"

	"github.com/mproc/mproc/pickle"
	"github.com/mproc/mproc/pipe"
)

func init() {
	// The pickled part of the CPython conversation (see python_test.go):
	// echo every value Python sends, through the Python value model, then
	// send a typed Go value.
	pickledExchange = func(t *testing.T, c *pipe.Conn) {
		t.Helper()
		var n int
		must(t, c.Recv(&n))
		for i := range n {
			var v any
			if err := c.Recv(&v); err != nil {
				t.Fatalf("pickled sample %d: %v", i, err)
			}
			if err := c.Send(v); err != nil {
				t.Fatalf("pickled sample %d: %v", i, err)
			}
		}
		must(t, c.Send(map[string]any{"int": 1, "str": "s", "list": []any{1, 2.5, "x"}, "bytes": []byte{1, 2}, "none": nil, "bool": true}))
		var ok string
		must(t, c.Recv(&ok))
		if ok != "ok" {
			t.Fatalf("python said %q", ok)
		}
	}
}

// TestSendRecv: typed values through Send and Recv; a message that does
// not unpickle is consumed and reported, and the connection goes on.
func TestSendRecv(t *testing.T) {
	a, b, err := pipe.Pipe(true)
	must(t, err)
	closeAll(t, a, b)
	want := map[string][]int{"a": {1, 2}, "b": nil}
	must(t, a.Send(want))
	var got map[string][]int
	must(t, b.Recv(&got))
	if len(got) != 2 || !reflect.DeepEqual(got["a"], want["a"]) || len(got["b"]) != 0 {
		t.Fatalf("got %v, want %v", got, want)
	}
	whole, err := pickle.Marshal([]any{"a list", 1, 2.5})
	must(t, err)
	bad := map[string][]byte{
		"not a pickle":   []byte("not a pickle"),
		"truncated":      whole[:len(whole)-3],
		"unknown opcode": {0x80, 0x04, 0xff, '.'},
		"empty":          {},
	}
	for name, p := range bad {
		must(t, a.SendBytes(p))
		must(t, a.Send("after"))
		var v any
		if err := b.Recv(&v); err == nil {
			t.Fatalf("%s: unpickled to %v", name, v)
		}
		var s string
		must(t, b.Recv(&s))
		if s != "after" {
			t.Fatalf("after a bad pickle (%s): %q", name, s)
		}
	}
	r, w, err := pipe.Pipe(false)
	must(t, err)
	closeAll(t, r, w)
	expectErr(t, r.Send(1), pipe.ErrNotWritable)
}
