package pickle

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Encoding a decoded value gives back the same bytes: the encoder is a fixed
// point of Loads, at every protocol.
func TestEncodeFixedPoint(t *testing.T) {
	for _, g := range goNative() {
		for p := 0; p <= HighestProtocol; p++ {
			b1, err := Dumps(g.v, p)
			require.NoError(t, err, "%s/%d", g.name, p)
			v, err := Loads(b1)
			require.NoError(t, err, "%s/%d", g.name, p)
			b2, err := Dumps(v, p)
			require.NoError(t, err, "%s/%d", g.name, p)
			assert.Equal(t, b1, b2, "%s/%d: %q", g.name, p, b1)
		}
	}
}

func TestEncodeRoundTripModel(t *testing.T) {
	l := NewList(1, 2.5, "s", []byte("b"), ByteArray("ba"), None, true, complex(1, 2),
		Tuple{}, Tuple{1}, Tuple{1, 2, 3, 4, 5}, SetOf(1, "a"), FrozenSetOf(Tuple{1, 2}),
		DictOf("k", NewList(), Tuple{1, 2}, SetOf()), Global{"builtins", "len"}, Global{"mod", "A.B.C"},
		Exception("builtins", "KeyError", "k"), math.Inf(-1), int64(math.MinInt64), uint64(1)<<63,
		&Object{Callable: Global{"m", "C"}, Args: Tuple{1}, Kwargs: DictOf("x", 1), New: true, State: Tuple{None, DictOf("s", 1)}},
		&Object{Callable: Global{"m", "C"}, New: true, ListItems: []any{1}, DictItems: []Item{{"a", 1}}},
		strings.Repeat("é", 300), strings.Repeat("b", 70000))
	l.Append(l, Tuple{l})
	for p := 0; p <= HighestProtocol; p++ {
		b, err := Dumps(l, p)
		require.NoError(t, err, "protocol %d", p)
		v, err := Loads(b)
		require.NoError(t, err, "protocol %d", p)
		assert.True(t, Equal(l, v), "protocol %d", p)
		got := v.(*List)
		assert.Same(t, got, got.Items[len(got.Items)-2].(*List))
		assert.Same(t, got, got.Items[len(got.Items)-1].(Tuple)[0].(*List))
	}
}

func TestEncodeProtocolDetails(t *testing.T) {
	// What CPython writes, byte for byte.
	for _, c := range []struct {
		v     any
		proto int
		want  string
	}{
		{Tuple{None, "create", Tuple{"dict"}, NewDict()}, 2, "\x80\x02(NX\x06\x00\x00\x00createq\x00X\x04\x00\x00\x00dictq\x01\x85q\x02}q\x03tq\x04."},
		{Tuple{None, "create", Tuple{"dict"}, NewDict()}, 4, "\x80\x04\x95\x19\x00\x00\x00\x00\x00\x00\x00(N\x8c\x06create\x94\x8c\x04dict\x94\x85\x94}\x94t\x94."},
		{Tuple{None, "create", Tuple{"dict"}, NewDict()}, 0, "(NVcreate\np0\n(Vdict\np1\ntp2\n(dp3\ntp4\n."},
		{NewInstance("multiprocessing.managers", "Token", Tuple{"dict", Tuple{"127.0.0.1", 5000}, "abc"}), 4,
			"\x80\x04\x95J\x00\x00\x00\x00\x00\x00\x00\x8c\x18multiprocessing.managers\x94\x8c\x05Token\x94\x93\x94)\x81\x94\x8c\x04dict\x94\x8c\t127.0.0.1\x94M\x88\x13\x86\x94\x8c\x03abc\x94\x87\x94b."},
		{Exception("builtins", "KeyError", "k"), 2, "\x80\x02cexceptions\nKeyError\nq\x00X\x01\x00\x00\x00kq\x01\x85q\x02Rq\x03."},
		{None, 4, "\x80\x04N."},
		{true, 1, "I01\n."},
		{int64(-1), 2, "\x80\x02J\xff\xff\xff\xff."},
		{int64(1) << 40, 2, "\x80\x02\x8a\x06\x00\x00\x00\x00\x00\x01."},
		{int64(-1) << 40, 2, "\x80\x02\x8a\x06\x00\x00\x00\x00\x00\xff."},
		{int64(1) << 40, 1, "L1099511627776L\n."},
		{1.5, 0, "F1.5\n."},
		{math.Inf(1), 0, "Finf\n."},
		{"a\nb\\", 0, "Va\\u000ab\\u005c\np0\n."},
		{[]byte("ab"), 3, "\x80\x03C\x02abq\x00."},
		{[]byte("ab"), 2, "\x80\x02c_codecs\nencode\nq\x00X\x02\x00\x00\x00abq\x01X\x06\x00\x00\x00latin1q\x02\x86q\x03Rq\x04."},
		{Global{"mod", "Outer.Inner"}, 3, "\x80\x03cbuiltins\ngetattr\nq\x00cmod\nOuter\nq\x01X\x05\x00\x00\x00Innerq\x02\x86q\x03Rq\x04."},
		{strings.Repeat("x", 70000), 4, "\x80\x04X\x70\x11\x01\x00" + strings.Repeat("x", 70000) + "\x94."},
	} {
		b, err := Dumps(c.v, c.proto)
		require.NoError(t, err)
		assert.Equal(t, c.want, string(b), "%s at %d", repr(c.v, 0), c.proto)
	}
}

func TestEncodeFrames(t *testing.T) {
	items := make([]any, 30000)
	for i := range items {
		items[i] = i
	}
	b, err := Dumps(NewList(items...), 4)
	require.NoError(t, err)
	// Walk the frames: each FRAME's length must land on the next FRAME or
	// on the end, and each must hold at least 64 KiB but the last.
	pos, frames := 2, 0
	for pos < len(b) {
		require.Equal(t, byte(opFrame), b[pos], "frame at %d", pos)
		n := int(b[pos+1]) | int(b[pos+2])<<8 | int(b[pos+3])<<16
		pos += 9 + n
		frames++
		if pos < len(b) {
			assert.GreaterOrEqual(t, n, frameTarget)
		}
	}
	assert.Equal(t, len(b), pos)
	assert.Greater(t, frames, 1)
	v, err := Loads(b)
	require.NoError(t, err)
	assert.Len(t, v.(*List).Items, 30000)
}

func TestEncoderOptions(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, NewEncoder(&buf, nil).Encode(1))
	assert.Equal(t, "\x80\x04K\x01.", buf.String())
	buf.Reset()
	require.NoError(t, NewEncoder(&buf, &EncoderOptions{Protocol: 2}).Encode(1))
	assert.Equal(t, "\x80\x02K\x01.", buf.String())
	assert.ErrorIs(t, NewEncoder(&buf, &EncoderOptions{Protocol: 9}).Encode(1), ErrProtocol)

	deep := any(1)
	for range 20 {
		deep = NewList(deep)
	}
	assert.ErrorIs(t, NewEncoder(&buf, &EncoderOptions{MaxDepth: 10}).Encode(deep), ErrTooDeep)
	assert.NoError(t, NewEncoder(&buf, &EncoderOptions{MaxDepth: 30}).Encode(deep))

	type handle struct{ id string }
	pid := func(v any) (any, bool) {
		if h, ok := v.(handle); ok {
			return h.id, true
		}
		return nil, false
	}
	load := &DecoderOptions{PersistentLoad: func(p any) (any, error) { return "loaded:" + p.(string), nil }}
	for p := 1; p <= HighestProtocol; p++ {
		buf.Reset()
		require.NoError(t, NewEncoder(&buf, &EncoderOptions{Protocol: p, PersistentID: pid}).Encode(Tuple{handle{"x"}, 1}))
		v, err := LoadsWith(buf.Bytes(), load)
		require.NoError(t, err)
		assert.True(t, Equal(Tuple{"loaded:x", 1}, v), "protocol %d", p)
	}
	b, err := dumps(handle{"y"}, 0, 0, pid)
	require.NoError(t, err)
	assert.Equal(t, "Py\n.", string(b))
	_, err = dumps(handle{"y\n"}, 0, 0, pid)
	assert.ErrorIs(t, err, ErrInvalid)
}

func TestEncodeErrors(t *testing.T) {
	for _, c := range []struct {
		v    any
		want error
	}{
		{"\xff", ErrInvalid},
		{Global{"a\nb", "c"}, ErrInvalid},
		{Global{"", "c"}, ErrInvalid},
		{&Object{}, ErrInvalid},
		{&Object{Callable: Global{"m", "f"}, Kwargs: NewDict()}, ErrInvalid},
		{func() {}, ErrUnsupportedType},
		{NewList(make(chan int)), ErrUnsupportedType},
		{map[any]int{NewList(): 1}, nil}, // checked by Python, not here
	} {
		_, err := Marshal(c.v)
		if c.want == nil {
			continue
		}
		assert.ErrorIs(t, err, c.want, "%T", c.v)
		var ee *EncodeError
		assert.ErrorAs(t, err, &ee)
		assert.True(t, strings.HasPrefix(err.Error(), "pickle: "), err.Error())
	}
	_, err := Marshal(failing{})
	assert.ErrorContains(t, err, "boom")
}

type failing struct{}

func (failing) MarshalPickle() (any, error) { return nil, fmt.Errorf("boom") }

// TestNegativeProtocol: as pickle.dumps(obj, -1) in Python ("If a negative
// number is specified, HIGHEST_PROTOCOL is selected", pickle docs), a
// negative protocol writes HighestProtocol, through Dumps and Encoder.
func TestNegativeProtocol(t *testing.T) {
	want, err := Dumps(NewList(1, "a", []byte("b")), HighestProtocol)
	require.NoError(t, err)
	for _, p := range []int{-1, -5, math.MinInt} {
		got, err := Dumps(NewList(1, "a", []byte("b")), p)
		require.NoError(t, err, "protocol %d", p)
		assert.Equal(t, want, got, "protocol %d", p)
		var buf bytes.Buffer
		require.NoError(t, NewEncoder(&buf, &EncoderOptions{Protocol: p}).Encode(NewList(1, "a", []byte("b"))))
		assert.Equal(t, want, buf.Bytes(), "encoder protocol %d", p)
	}
	_, err = Dumps(1, HighestProtocol+1)
	assert.ErrorIs(t, err, ErrProtocol)
}

// TestPython2NameAtOldProtocols: at protocols 0-2 a reader maps Python 2
// names to Python 3 ones, so builtins.set is written as __builtin__.set,
// and a global that already carries the Python 2 name (decoded from a
// protocol 3+ pickle) is refused rather than written to be read back as
// another global (found by FuzzLoads: not a fixed point).
func TestPython2NameAtOldProtocols(t *testing.T) {
	b, err := Dumps(Global{"builtins", "set"}, 2)
	require.NoError(t, err)
	require.Contains(t, string(b), "c__builtin__\nset\n")
	v, err := Loads(b)
	require.NoError(t, err)
	require.Equal(t, Global{"builtins", "set"}, v)
	for _, p := range []int{0, 1, 2} {
		_, err := Dumps(Global{"__builtin__", "set"}, p)
		require.ErrorIs(t, err, ErrInvalid, "protocol %d", p)
	}
	b, err = Dumps(Global{"__builtin__", "set"}, 3)
	require.NoError(t, err, "protocols 3+ keep names as they are")
	v, err = Loads(b)
	require.NoError(t, err)
	require.Equal(t, Global{"__builtin__", "set"}, v)
}
