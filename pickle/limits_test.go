package pickle

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listNest is n nested lists built on the stack.
func listNest(n int) string {
	return strings.Repeat("]", n) + strings.Repeat("a", n-1)
}

// memoChain builds depth n with constant stack: x = []; repeat: x = [x].
func memoChain(n int) string {
	var b strings.Builder
	b.WriteString("\x80\x02]q\x00")
	for range n {
		b.WriteString("]h\x00aq\x00") // EMPTY_LIST, BINGET 0, APPEND, BINPUT 0
		b.WriteString("0")            // POP the older list
	}
	b.WriteString(".")
	return b.String()
}

func TestLimitSentinels(t *testing.T) {
	small := &DecoderOptions{Limits: Limits{MaxInputSize: 64, MaxDepth: 10, MaxContainerLen: 10, MaxMemo: 3, MaxIntBytes: 4}}
	shallow := &DecoderOptions{Limits: Limits{MaxDepth: 10}}
	cases := []struct {
		name string
		in   string
		opts *DecoderOptions
		want error
	}{
		{"input size", "\x80\x04" + strings.Repeat("N0", 40) + "N.", small, ErrTooLarge},
		{"declared length past MaxInputSize", "X\x64\x00\x00\x00" + strings.Repeat("a", 100) + ".", small, ErrTooLarge},
		{"MARK depth", strings.Repeat("(", 11) + "N.", small, ErrTooDeep},
		{"tuple depth", "N" + strings.Repeat("\x85", 11) + ".", small, ErrTooDeep},
		{"list depth", listNest(11) + ".", shallow, ErrTooDeep},
		{"memo chain depth", memoChain(1001), nil, ErrTooDeep},
		{"default MARK depth", strings.Repeat("(", 1001) + "N.", nil, ErrTooDeep},
		{"list length", "](" + strings.Repeat("N", 11) + "e.", small, ErrTooManyItems},
		{"list length via APPEND", "]" + strings.Repeat("Na", 11) + ".", small, ErrTooManyItems},
		{"stack length", strings.Repeat("N", 11) + ".", small, ErrTooManyItems},
		{"dict length", "}(K\x01NK\x02NK\x03NK\x04NK\x05Nu(K\x06NK\x07NK\x08NK\x09NK\x0aNK\x0bNu.", small, ErrTooManyItems},
		{"memo size", "N\x94\x94q\x05\x94.", small, ErrMemoLimit},
		{"LONG1 size", "\x80\x02\x8a\x05\x01\x02\x03\x04\x05.", small, ErrIntTooLarge},
		{"LONG4 size", "\x80\x02\x8b\x01\x00\x01\x00.", nil, ErrIntTooLarge},
		{"INT text size", "I" + strings.Repeat("9", 20) + "\n.", small, ErrIntTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadsWith([]byte(c.in), c.opts)
			require.ErrorIs(t, err, c.want)
			assert.ErrorIs(t, err, ErrLimit, "every limit matches ErrLimit")
			var de *DecodeError
			assert.ErrorAs(t, err, &de)
			// The same through a stream.
			_, err = NewDecoder(strings.NewReader(c.in), c.opts).Load()
			require.ErrorIs(t, err, c.want, "stream")
		})
	}
	// Within the limits, the same shapes decode.
	for _, in := range []string{strings.Repeat("(", 10) + "N.", "N" + strings.Repeat("\x85", 10) + ".",
		listNest(10) + ".", "](" + strings.Repeat("N", 9) + "e.", "\x80\x02\x8a\x04\x01\x02\x03\x04."} {
		_, err := LoadsWith([]byte(in), small)
		assert.NoError(t, err, "%q", in)
	}
	_, err := Loads([]byte(memoChain(999)))
	assert.NoError(t, err)
}

func TestErrorSentinels(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrTruncated},
		{"no STOP", "\x80\x04N", ErrTruncated},
		{"declared length beyond input", "\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff.", ErrTruncated},
		{"BINBYTES beyond input", "B\xff\xff\xff\x7fabc.", ErrTruncated},
		{"frame beyond input", "\x80\x04\x95\xff\xff\xff\xff\x00\x00\x00\x00N.", ErrTruncated},
		{"line without newline", "I12", ErrTruncated},
		{"unknown opcode", "\x80\x04\xff.", ErrUnknownOpcode},
		{"unknown opcode 0x99", "\x99.", ErrUnknownOpcode},
		{"protocol 6", "\x80\x06N.", ErrProtocol},
		{"STOP on empty stack", ".", ErrStack},
		{"APPEND without list", "Na.", ErrStack},
		{"TUPLE without MARK", "Nt.", ErrStack},
		{"POP_MARK without MARK", "1.", ErrStack},
		{"below the mark", "](Na.", ErrStack},
		{"TUPLE2 short", "N\x86.", ErrStack},
		{"OBJ without class", "(o.", ErrStack},
		{"memo key", "h\x05.", ErrMemoKey},
		{"text GET bad", "gx\n.", ErrMemoKey},
		{"invalid UTF-8", "X\x01\x00\x00\x00\xff.", ErrInvalid},
		{"bad INT", "I1x\n.", ErrInvalid},
		{"leading zero INT", "I012\n.", ErrInvalid},
		{"bad FLOAT", "F0x1p3\n.", ErrInvalid},
		{"unquoted STRING", "Sabc\n.", ErrInvalid},
		{"bad STRING escape", "S'\\x4'\n.", ErrInvalid},
		{"bad UNICODE escape", "V\\u12\n.", ErrInvalid},
		{"non-ASCII py2 str", "U\x01\xff.", ErrInvalid},
		{"BUILD on list", "]Nb.", ErrInvalid},
		{"BUILD twice", "\x80\x02cm\nC\n)\x81NbNb.", ErrInvalid},
		{"REDUCE int args", "cm\nf\nK\x01R.", ErrInvalid},
		{"NEWOBJ list args", "\x80\x02cm\nC\n]\x81.", ErrInvalid},
		{"NEWOBJ_EX non-dict", "\x80\x04cm\nC\n)N\x92.", ErrInvalid},
		{"odd SETITEMS", "}(K\x01u.", ErrInvalid},
		{"odd DICT", "(K\x01d.", ErrInvalid},
		{"SETITEM on tuple", ")K\x01K\x02s.", ErrInvalid},
		{"ADDITEMS on list", "\x80\x04](K\x01\x90.", ErrInvalid},
		{"STACK_GLOBAL of ints", "\x80\x04K\x01K\x02\x93.", ErrInvalid},
		{"LONG4 negative", "\x80\x02\x8b\xff\xff\xff\xff.", ErrInvalid},
		{"BINSTRING negative", "T\xff\xff\xff\xff.", ErrInvalid},
		{"GLOBAL not UTF-8", "c\xff\nb\n.", ErrInvalid},
		{"READONLY_BUFFER on int", "\x80\x05K\x01\x98.", ErrInvalid},
		{"list key", "}]K\x01s.", ErrUnhashable},
		{"dict in set", "\x80\x04\x8f(}\x90.", ErrUnhashable},
		{"bytearray in frozenset", "\x80\x05(\x96\x00\x00\x00\x00\x00\x00\x00\x00\x91.", ErrUnhashable},
		{"set(list of lists)", "\x80\x02c__builtin__\nset\n](]e\x85R.", ErrUnhashable},
		{"PERSID", "Pid\n.", ErrPersistentID},
		{"BINPERSID", "NQ.", ErrPersistentID},
		{"EXT1", "\x80\x02\x82\x01.", ErrExtension},
		{"NEXT_BUFFER", "\x80\x05\x97.", ErrBuffer},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v, err := Loads([]byte(c.in))
			require.ErrorIs(t, err, c.want, "got value %v", v)
			if c.want != ErrTruncated {
				assert.False(t, errors.Is(err, ErrLimit), "malformed input is not a limit violation")
			}
		})
	}
}

// A declared length is checked before any allocation: a stream claiming
// 1 TiB (under a 2 TiB limit) fails at EOF after reading what was there.
func TestDeclaredLengthNotAllocated(t *testing.T) {
	in := "\x80\x04\x8e\x00\x00\x00\x00\x00\x01\x00\x00abc"
	opts := &DecoderOptions{Limits: Limits{MaxInputSize: 2 << 40}}
	allocs := testing.AllocsPerRun(5, func() {
		_, err := NewDecoder(strings.NewReader(in), opts).Load()
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("got %v", err)
		}
	})
	assert.Less(t, allocs, 50.0)
	var big bytes.Buffer
	big.WriteString(in)
	big.Write(make([]byte, 1<<20))
	_, err := NewDecoder(io.MultiReader(&big), opts).Load()
	assert.ErrorIs(t, err, ErrTruncated)
}

// A hand-made pickle can deepen a list after it was added to another, past
// MaxDepth; walking such a value fails cleanly instead of overflowing the
// stack.
func TestDeepAfterInsert(t *testing.T) {
	var b strings.Builder
	b.WriteString("\x80\x04")
	n := 3000
	for range n {
		b.WriteString("]\x94") // L_i, memo i
	}
	for i := range n - 1 {
		// L_i.append(L_{i+1}), while L_{i+1} is still empty
		b.WriteString("j")
		b.Write([]byte{byte(i), byte(i >> 8), 0, 0})
		b.WriteString("j")
		b.Write([]byte{byte(i + 1), byte((i + 1) >> 8), 0, 0})
		b.WriteString("a0")
	}
	b.WriteString("j\x00\x00\x00\x00.")
	v, err := Loads([]byte(b.String()))
	require.NoError(t, err)
	_, err = Marshal(v)
	assert.ErrorIs(t, err, ErrTooDeep)
	var target any
	assert.NoError(t, UnmarshalValue(v, &target), "into any there is no walk")
	type rec []rec
	var r rec
	assert.ErrorIs(t, UnmarshalValue(v, &r), ErrTooDeep)
}

// Shared sub-structure ("billion laughs") decodes, re-encodes and compares
// in time linear in the pickle, not in the expanded value.
func TestSharedStructureStaysLinear(t *testing.T) {
	var b strings.Builder
	b.WriteString("\x80\x04\x8c\x04leaf\x94") // memo 0
	for i := range 200 {
		b.WriteString("h")
		b.WriteByte(byte(i % 200))
		b.WriteString("j")
		b.Write([]byte{byte(i), 0, 0, 0})
		b.WriteString("\x86\x94") // TUPLE2, memo i+1
		if i < 199 {
			b.WriteString("0")
		}
	}
	b.WriteString(".")
	in := []byte(b.String())
	v, err := Loads(in)
	require.NoError(t, err)
	out, err := Marshal(v)
	require.NoError(t, err)
	assert.Less(t, len(out), 10*len(in))
	d := NewDict()
	require.NoError(t, d.Set(v, 1), "hashing is linear too")
	var target [][]any
	_ = UnmarshalValue(v, &target)
}

// Pickles that make the decoder repeat expensive work on one memoized value
// are refused (copies) or stay cheap (hashing and comparing keys).
func TestAmplification(t *testing.T) {
	t.Run("constructor copies", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("\x80\x02c__builtin__\nlist\nq\x00](") // list global in memo 0
		b.WriteString(strings.Repeat("N", 4000))
		b.WriteString("eq\x01") // L in memo 1
		for range 10000 {
			b.WriteString("h\x00h\x01\x85R0") // list(L), dropped
		}
		b.WriteString("N.")
		_, err := Loads([]byte(b.String()))
		assert.ErrorIs(t, err, ErrTooLarge)
		assert.ErrorContains(t, err, "copy")
	})
	bigKeys := func(distinct bool) []byte {
		var b strings.Builder
		s := strings.Repeat("k", 1<<20)
		b.WriteString("\x80\x04}X\x00\x00\x10\x00" + s + "\x940") // dict; S in memo 0
		if distinct {
			b.WriteString("X\x00\x00\x10\x00" + s + "\x940") // an equal S2 in memo 1
		}
		b.WriteString("h\x00Ns")
		idx := "h\x00"
		if distinct {
			idx = "h\x01"
		}
		for range 50000 {
			b.WriteString(idx + "Ns")
		}
		b.WriteString(".")
		return []byte(b.String())
	}
	for _, distinct := range []bool{false, true} {
		in := bigKeys(distinct)
		start := time.Now()
		v, err := Loads(in)
		require.NoError(t, err)
		assert.Equal(t, 1, v.(*Dict).Len())
		assert.Less(t, time.Since(start), 5*time.Second, "a 1 MiB key set 50,000 times must not be hashed 50,000 times")
	}
}
