package pickle

import (
	"bytes"
	"io"
	"math"
	"math/big"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Hand-written pickles for opcodes that CPython 3 does not emit (Python 2
// forms, INST/OBJ, DUP, EXT, PERSID, out-of-band buffers) and for the text
// forms; the golden test covers what CPython 3 writes.
func TestDecodeOpcodes(t *testing.T) {
	od := Global{"collections", "OrderedDict"}
	cases := []struct {
		name string
		in   string
		want any
	}{
		{"INT bool", "I01\n.", true},
		{"INT false", "I00\n.", false},
		{"INT zero", "I0\n.", int64(0)},
		{"INT neg", "I-42\n.", int64(-42)},
		{"INT hex underscore", "I0x_ff\n.", int64(255)},
		{"INT big", "I123456789012345678901234567890\n.", bigInt("123456789012345678901234567890")},
		{"LONG L", "L-5L\n.", int64(-5)},
		{"LONG big", "L18446744073709551616L\n.", bigInt("18446744073709551616")},
		{"FLOAT", "F1.5\n.", 1.5},
		{"FLOAT inf", "F-inf\n.", math.Inf(-1)},
		{"FLOAT exp", "F1e+16\n.", 1e16},
		{"BININT neg", "J\xff\xff\xff\xff.", int64(-1)},
		{"LONG1 empty", "\x80\x02\x8a\x00.", int64(0)},
		{"LONG1 neg", "\x80\x02\x8a\x01\xff.", int64(-1)},
		{"LONG1 2^63", "\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x80\x00.", bigInt("9223372036854775808")},
		{"LONG4", "\x80\x02\x8b\x02\x00\x00\x00\x00\x80.", int64(-32768)},
		{"STRING", "S'a\\'b\\x41\\101\\n'\n.", "a'bAA\n"},
		{"STRING dq", "S\"x\"\n.", "x"},
		{"BINSTRING", "T\x02\x00\x00\x00ab.", "ab"},
		{"SHORT_BINSTRING", "U\x02ab.", "ab"},
		{"UNICODE escapes", "V\\u00e9\\U0001f600\\\\u0041x\n.", "é😀\\\\u0041x"},
		{"UNICODE latin1 byte", "V\xe9\n.", "é"},
		{"UNICODE surrogate", "V\\ud800\n.", "\xed\xa0\x80"},
		{"BINUNICODE surrogatepass", "X\x03\x00\x00\x00\xed\xa0\x80.", "\xed\xa0\x80"},
		{"BINUNICODE8", "\x80\x04\x8d\x01\x00\x00\x00\x00\x00\x00\x00a.", "a"},
		{"BINBYTES8", "\x80\x04\x8e\x01\x00\x00\x00\x00\x00\x00\x00a.", []byte("a")},
		{"BYTEARRAY8", "\x80\x05\x96\x01\x00\x00\x00\x00\x00\x00\x00a.", ByteArray("a")},
		{"DUP", "K\x012\x86.", Tuple{int64(1), int64(1)}},
		{"POP", "K\x01K\x020.", int64(1)},
		{"POP of mark", "K\x01(0.", int64(1)},
		{"POP_MARK", "K\x01(K\x02K\x031.", int64(1)},
		{"TUPLE text", "(I1\nI2\nt.", Tuple{int64(1), int64(2)}},
		{"LIST text", "(I1\nl.", NewList(int64(1))},
		{"DICT text", "(S'a'\nI1\nd.", DictOf("a", 1)},
		{"PUT GET text", "(I7\np5\ng5\nt.", Tuple{int64(7), int64(7)}},
		{"LONG_BINPUT sparse", "K\x07r\xff\xff\xff\xff0j\xff\xff\xff\xff.", int64(7)},
		{"GLOBAL py2 names", "c__builtin__\nset\n.", Global{"builtins", "set"}},
		{"GLOBAL exceptions", "cexceptions\nKeyError\n.", Global{"builtins", "KeyError"}},
		{"GLOBAL copy_reg", "ccopy_reg\n_reconstructor\n.", Global{"copyreg", "_reconstructor"}},
		{"GLOBAL proto 3 unmapped", "\x80\x03c__builtin__\nset\n.", Global{"__builtin__", "set"}},
		{"INST", "(I1\nimod\nCls\n.", &Object{Callable: Global{"mod", "Cls"}, Args: Tuple{int64(1)}}},
		{"INST no args", "(imod\nCls\n.", &Object{Callable: Global{"mod", "Cls"}, Args: Tuple{}, New: true}},
		{"OBJ", "(cmod\nCls\nK\x02o.", &Object{Callable: Global{"mod", "Cls"}, Args: Tuple{int64(2)}}},
		{"NEWOBJ_EX", "\x80\x04cmod\nC\n)}X\x01\x00\x00\x00kK\x01s\x92.",
			&Object{Callable: Global{"mod", "C"}, Args: Tuple{}, Kwargs: DictOf("k", 1), New: true}},
		{"BUILD", "\x80\x02cmod\nC\n)\x81}X\x01\x00\x00\x00aK\x01sb.",
			&Object{Callable: Global{"mod", "C"}, Args: Tuple{}, New: true, State: DictOf("a", 1)}},
		{"APPENDS on object", "\x80\x02ccollections\ndeque\n)R(K\x01K\x02e.",
			&Object{Callable: Global{"collections", "deque"}, Args: Tuple{}, ListItems: []any{int64(1), int64(2)}}},
		{"SETITEMS on object", "\x80\x02ccollections\nOrderedDict\n)R(K\x01K\x02u.",
			&Object{Callable: od, Args: Tuple{}, DictItems: []Item{{int64(1), int64(2)}}}},
		{"set(list)", "\x80\x02c__builtin__\nset\n](K\x01K\x02e\x85R.", SetOf(1, 2)},
		{"frozenset(list)", "\x80\x02c__builtin__\nfrozenset\n](K\x01e\x85R.", FrozenSetOf(1)},
		{"EMPTY_SET ADDITEMS", "\x80\x04\x8f(K\x01K\x01\x90.", SetOf(1)},
		{"FROZENSET", "\x80\x04(K\x01\x91.", FrozenSetOf(1)},
		{"bytes()", "\x80\x02c__builtin__\nbytes\n)R.", []byte{}},
		{"_codecs.encode", "\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00\xc3\xbfaX\x06\x00\x00\x00latin1\x86R.", []byte("\xffa")},
		{"bytearray latin-1", "\x80\x02c__builtin__\nbytearray\nX\x01\x00\x00\x00aX\x07\x00\x00\x00latin-1\x86R.", ByteArray("a")},
		{"complex", "\x80\x02c__builtin__\ncomplex\nG?\xf0\x00\x00\x00\x00\x00\x00G@\x00\x00\x00\x00\x00\x00\x00\x86R.", complex(1, 2)},
		{"list(list)", "\x80\x02c__builtin__\nlist\n](K\x01e\x85R.", NewList(int64(1))},
		{"getattr", "\x80\x02c__builtin__\ngetattr\ncmod\nOuter\nX\x05\x00\x00\x00Inner\x86R.", Global{"mod", "Outer.Inner"}},
		{"REDUCE list args", "cmod\nf\n(I1\nlR.", &Object{Callable: Global{"mod", "f"}, Args: Tuple{int64(1)}}},
		{"STACK_GLOBAL", "\x80\x04\x8c\x01m\x8c\x01n\x93.", Global{"m", "n"}},
		{"FRAME", "\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N.", None},
		{"trailing data ignored", "N.garbage", None},
		{"MEMOIZE", "\x80\x04]\x94h\x00\x86.", nil}, // checked below: shared
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Loads([]byte(c.in))
			require.NoError(t, err)
			if c.want == nil {
				return
			}
			assert.True(t, Equal(c.want, v), "got %s (%T), want %s", repr(v, 0), v, repr(c.want, 0))
			if _, isSet := c.want.(*Set); !isSet {
				_, gotSet := v.(*Set)
				assert.False(t, gotSet)
			}
		})
	}
	v, err := Loads([]byte("\x80\x04]\x94h\x00\x86."))
	require.NoError(t, err)
	tu := v.(Tuple)
	assert.Same(t, tu[0].(*List), tu[1].(*List))
}

func bigInt(s string) any {
	b, _ := new(big.Int).SetString(s, 10)
	return normBig(b)
}

func TestDecodeTypes(t *testing.T) {
	v, err := Loads([]byte("\x80\x02\x8a\x08\xff\xff\xff\xff\xff\xff\xff\x7f."))
	require.NoError(t, err)
	assert.IsType(t, int64(0), v, "ints that fit are int64")
	v, err = Loads([]byte("\x80\x02\x8a\x09\x00\x00\x00\x00\x00\x00\x00\x00\x00."))
	require.NoError(t, err)
	assert.Equal(t, int64(0), v, "LONG1 with redundant bytes normalises")
	v, err = Loads([]byte("\x80\x05\x97\x98."))
	require.ErrorIs(t, err, ErrBuffer)
	assert.Nil(t, v)
}

func TestDecoderOptions(t *testing.T) {
	t.Run("Encoding", func(t *testing.T) {
		in := []byte("U\x02\xc3\xa9.")
		_, err := Loads(in)
		assert.ErrorIs(t, err, ErrInvalid)
		for enc, want := range map[string]any{"latin1": "Ã©", "utf-8": "é", "bytes": []byte("\xc3\xa9")} {
			v, err := LoadsWith(in, &DecoderOptions{Encoding: enc})
			require.NoError(t, err, enc)
			assert.True(t, Equal(want, v), enc)
		}
		_, err = LoadsWith(in, &DecoderOptions{Encoding: "koi8"})
		assert.ErrorIs(t, err, ErrInvalid)
	})
	t.Run("PersistentLoad", func(t *testing.T) {
		_, err := Loads([]byte("Pabc\n."))
		assert.ErrorIs(t, err, ErrPersistentID)
		_, err = Loads([]byte("K\x05Q."))
		assert.ErrorIs(t, err, ErrPersistentID)
		opts := &DecoderOptions{PersistentLoad: func(pid any) (any, error) {
			if pid == "bad" {
				return nil, io.ErrClosedPipe
			}
			return Tuple{"loaded", pid}, nil
		}}
		v, err := LoadsWith([]byte("Pabc\n."), opts)
		require.NoError(t, err)
		assert.True(t, Equal(Tuple{"loaded", "abc"}, v))
		v, err = LoadsWith([]byte("K\x05Q."), opts)
		require.NoError(t, err)
		assert.True(t, Equal(Tuple{"loaded", 5}, v))
		_, err = LoadsWith([]byte("Pbad\n."), opts)
		assert.ErrorIs(t, err, io.ErrClosedPipe)
	})
	t.Run("Extensions", func(t *testing.T) {
		for _, in := range []string{"\x80\x02\x82\x05.", "\x80\x02\x83,\x01.", "\x80\x02\x84\x00\x00\x01\x00."} {
			_, err := Loads([]byte(in))
			require.ErrorIs(t, err, ErrExtension)
			assert.Contains(t, err.Error(), "EXT")
		}
		reg := map[int]Global{5: {"a", "b"}, 300: {"collections", "OrderedDict"}, 65536: {"c", "d"}}
		for in, want := range map[string]Global{"\x80\x02\x82\x05.": {"a", "b"}, "\x80\x02\x83,\x01.": {"collections", "OrderedDict"},
			"\x80\x02\x84\x00\x00\x01\x00.": {"c", "d"}} {
			v, err := LoadsWith([]byte(in), &DecoderOptions{Extensions: reg})
			require.NoError(t, err)
			assert.Equal(t, want, v)
		}
	})
	t.Run("Buffers", func(t *testing.T) {
		buf := []byte("abc")
		v, err := LoadsWith([]byte("\x80\x05\x97\x98."), &DecoderOptions{Buffers: [][]byte{buf}})
		require.NoError(t, err)
		assert.Equal(t, []byte("abc"), v)
		v, err = LoadsWith([]byte("\x80\x05\x97."), &DecoderOptions{Buffers: [][]byte{buf}})
		require.NoError(t, err)
		assert.Equal(t, ByteArray("abc"), v)
		// bytearray(buffer) copies, as in Python.
		v, err = LoadsWith([]byte("\x80\x05\x8c\x08builtins\x8c\tbytearray\x93\x97\x85R."), &DecoderOptions{Buffers: [][]byte{buf}})
		require.NoError(t, err)
		assert.Equal(t, ByteArray("abc"), v)
		_, err = LoadsWith([]byte("\x80\x05\x97\x97."), &DecoderOptions{Buffers: [][]byte{buf}})
		assert.ErrorIs(t, err, ErrBuffer)
		_, err = LoadsWith([]byte("\x80\x05K\x01\x98."), nil)
		assert.ErrorIs(t, err, ErrInvalid)
	})
}

func TestDecoderStream(t *testing.T) {
	var stream bytes.Buffer
	values := []any{int64(1), "two", Tuple{int64(3), NewList(int64(4))}, strings.Repeat("x", 100000)}
	for p := 0; p <= 5; p++ {
		for _, v := range values {
			b, err := Dumps(v, p)
			require.NoError(t, err)
			stream.Write(b)
		}
	}
	for name, r := range map[string]io.Reader{
		"plain":   bytes.NewReader(stream.Bytes()),
		"onebyte": iotest.OneByteReader(bytes.NewReader(stream.Bytes())),
		"dataerr": iotest.DataErrReader(bytes.NewReader(stream.Bytes())),
		"half":    iotest.HalfReader(bytes.NewReader(stream.Bytes())),
	} {
		t.Run(name, func(t *testing.T) {
			d := NewDecoder(r, nil)
			for p := 0; p <= 5; p++ {
				for _, want := range values {
					got, err := d.Load()
					require.NoError(t, err)
					assert.True(t, Equal(want, got))
				}
			}
			_, err := d.Load()
			assert.Equal(t, io.EOF, err)
		})
	}
	t.Run("Decode into typed", func(t *testing.T) {
		var buf bytes.Buffer
		enc := NewEncoder(&buf, nil)
		require.NoError(t, enc.Encode(map[string]int{"a": 1}))
		require.NoError(t, enc.Encode([]string{"x"}))
		buf.WriteString("extra")
		d := NewDecoder(&buf, nil)
		var m map[string]int
		require.NoError(t, d.Decode(&m))
		var s []string
		require.NoError(t, d.Decode(&s))
		assert.Equal(t, map[string]int{"a": 1}, m)
		assert.Equal(t, []string{"x"}, s)
		rest, _ := io.ReadAll(d.Buffered())
		more, _ := io.ReadAll(&buf)
		assert.Equal(t, "extra", string(rest)+string(more))
	})
	t.Run("truncated stream", func(t *testing.T) {
		d := NewDecoder(strings.NewReader("\x80\x04X\x05\x00\x00\x00ab"), nil)
		_, err := d.Load()
		assert.ErrorIs(t, err, ErrTruncated)
	})
	t.Run("read error", func(t *testing.T) {
		d := NewDecoder(iotest.TimeoutReader(iotest.OneByteReader(strings.NewReader("\x80\x04N."))), nil)
		_, err := d.Load()
		assert.ErrorIs(t, err, iotest.ErrTimeout)
	})
}

// Every proper prefix of a valid pickle must fail with ErrTruncated, from a
// slice and from a stream, and never panic.
func TestTruncatedPrefixes(t *testing.T) {
	var inputs [][]byte
	for _, v := range []any{
		Tuple{None, "create", Tuple{"dict"}, NewDict()},
		NewInstance("multiprocessing.managers", "Token", Tuple{"dict", Tuple{"127.0.0.1", 5000}, "abc"}),
		DictOf("a", NewList(1, 2.5, []byte("x"), ByteArray("y"), SetOf(1), FrozenSetOf("z")), "big", new(big.Int).Lsh(big.NewInt(1), 100)),
		Exception("builtins", "KeyError", "k"),
	} {
		for p := 0; p <= 5; p++ {
			b, err := Dumps(v, p)
			require.NoError(t, err)
			inputs = append(inputs, b)
		}
	}
	inputs = append(inputs, []byte("S'abc'\n."), []byte("(I1\nimod\nCls\n."), []byte("\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00N."))
	for _, in := range inputs {
		_, err := Loads(in)
		require.NoError(t, err)
		for n := 0; n < len(in)-1; n++ {
			// A prefix that ends right after a complete STOP-free value is
			// still truncated: no STOP yet.
			_, err := Loads(in[:n])
			require.ErrorIs(t, err, ErrTruncated, "prefix %d of %q", n, in)
			_, err = NewDecoder(bytes.NewReader(in[:n]), nil).Load()
			if n == 0 {
				assert.Equal(t, io.EOF, err)
			} else {
				require.ErrorIs(t, err, ErrTruncated, "stream prefix %d of %q", n, in)
			}
		}
	}
}

func TestDecodeErrorDetails(t *testing.T) {
	_, err := Loads([]byte("\x80\x04N\xff."))
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, int64(3), de.Offset)
	assert.Equal(t, byte(0xff), de.Opcode)
	assert.ErrorIs(t, err, ErrUnknownOpcode)
	assert.Contains(t, err.Error(), "offset 3")

	_, err = Loads([]byte("\x80\x04h\x07."))
	require.ErrorAs(t, err, &de)
	assert.Contains(t, err.Error(), "BINGET")
	assert.ErrorIs(t, err, ErrMemoKey)
}
