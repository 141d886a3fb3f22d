package pickle

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The encoder's memo tables (memo.go) keep their content dedup exact as they
// grow: every distinct str is written once, whatever its length and however
// many there are, and a repeated one is a GET, at every protocol.
func TestEncodeStrMemo(t *testing.T) {
	for _, width := range []int{3, 6, 16, strKeyMax, strKeyMax + 1, 200} {
		for _, n := range []int{1, 10, 1000} {
			if width == 3 && n > 10 {
				continue
			}
			var items []any
			for i := range n {
				// no str inside another, nor in an opcode's text
				items = append(items, fmt.Sprintf("<%0*d>", width-2, i))
			}
			// twice over, the second time from freshly built strings, so
			// that the dedup is by content
			for i := range n {
				items = append(items, strings.Clone(items[i].(string)))
			}
			for p := 0; p <= HighestProtocol; p++ {
				b, err := Dumps(NewList(items...), p)
				require.NoError(t, err)
				for i := range n {
					s := items[i].(string)
					if got := bytes.Count(b, []byte(s)); got != 1 {
						t.Fatalf("width %d, n %d, protocol %d: %q written %d times", width, n, p, s, got)
					}
				}
				v, err := Loads(b)
				require.NoError(t, err)
				got := v.(*List).Items
				require.Len(t, got, 2*n)
				for i := range got {
					require.Equal(t, items[i], got[i], "width %d, n %d, protocol %d, item %d", width, n, p, i)
				}
			}
		}
	}
}

// Shared lists, dicts and tuples stay shared in numbers that make the
// identity and tuple tables grow.
func TestEncodeIdentityMemoGrows(t *testing.T) {
	const n = 500
	var items []any
	for i := range n {
		items = append(items, NewList(int64(i)), DictOf("k", int64(i)), Tuple{int64(i), "x"})
	}
	all := NewList(append(append([]any{}, items...), items...)...)
	for p := 0; p <= HighestProtocol; p++ {
		b, err := Dumps(all, p)
		require.NoError(t, err)
		v, err := Loads(b)
		require.NoError(t, err)
		got := v.(*List).Items
		require.Len(t, got, 6*n)
		for i := range 3 * n {
			a, c := got[i], got[i+3*n]
			switch x := a.(type) {
			case *List:
				require.Same(t, x, c.(*List), "protocol %d item %d", p, i)
			case *Dict:
				require.Same(t, x, c.(*Dict), "protocol %d item %d", p, i)
			case Tuple:
				require.Same(t, &x[0], &c.(Tuple)[0], "protocol %d item %d", p, i)
			}
		}
		require.True(t, Equal(all, v))
	}
}

// wrap puts v at the bottom of n nested tuples, each also holding a list (so
// that the encoder tracks them as in progress).
func wrap(v any, n int) any {
	for range n {
		v = Tuple{v, NewList()}
	}
	return v
}

// Cycles are told apart as before when the path of immutables in progress
// is longer than progSet's stack, which then spills into its map.
func TestEncodeCyclesDeepPath(t *testing.T) {
	for _, depth := range []int{1, progShort - 1, progShort, progShort + 1, 3 * progShort} {
		// through immutables only: ErrCycle, whether the cycle starts
		// near the root or below depth tuples
		for _, above := range []int{0, depth} {
			inner := make(Tuple, 1)
			cyc := wrap(inner, depth)
			inner[0] = cyc
			_, err := Dumps(wrap(cyc, above), 4)
			assert.ErrorIs(t, err, ErrCycle, "depth %d above %d", depth, above)
		}

		// through a list: fine, as in Python, at every protocol
		l := NewList()
		var rec any = Tuple{l}
		for range depth {
			rec = Tuple{rec, NewList()}
		}
		l.Append(rec)
		for p := 0; p <= HighestProtocol; p++ {
			b, err := Dumps(rec, p)
			require.NoError(t, err, "depth %d protocol %d", depth, p)
			v, err := Loads(b)
			require.NoError(t, err, "depth %d protocol %d", depth, p)
			// walk down to the list and check that it holds the root
			x := v
			for range depth {
				x = x.(Tuple)[0]
			}
			got := x.(Tuple)[0].(*List)
			require.Len(t, got.Items, 1)
			assert.Same(t, &v.(Tuple)[0], &got.Items[0].(Tuple)[0], "depth %d protocol %d", depth, p)
			b2, err := Dumps(v, p)
			require.NoError(t, err)
			assert.Equal(t, b, b2, "depth %d protocol %d: fixed point", depth, p)
		}

		// the same immutable twice on one path, with a list between:
		// written twice, then fetched (POP_MARK + GET), as CPython does
		shared := Tuple{NewList()}
		var twice any = shared
		for range depth {
			twice = Tuple{twice, NewList()}
		}
		shared[0].(*List).Append(twice)
		b, err := Dumps(Tuple{twice, twice}, 4)
		require.NoError(t, err, "depth %d", depth)
		_, err = Loads(b)
		require.NoError(t, err, "depth %d", depth)
	}
}

// The decoder's string cache (strcache.go) gives back equal strs whatever
// collides in it, and never lets a cached str stand in for bytes that are
// not valid UTF-8.
func TestDecodeStrCache(t *testing.T) {
	var items []any
	for i := range 4 * strCacheSets * strCacheWays {
		items = append(items, fmt.Sprintf("s%d", i), fmt.Sprintf("%0*d", strCacheMax, i))
	}
	b, err := Dumps(NewList(items...), 4)
	require.NoError(t, err)
	for range 3 {
		v, err := Loads(b)
		require.NoError(t, err)
		require.Equal(t, items, v.(*List).Items)
	}
	// A short str with an invalid byte fails, though a valid str of the
	// same length is in the cache.
	ok := []byte("\x80\x04\x8c\x02ab\x94.")
	bad := []byte("\x80\x04\x8c\x02a\xff\x94.")
	for range 3 {
		v, err := Loads(ok)
		require.NoError(t, err)
		require.Equal(t, "ab", v)
		_, err = Loads(bad)
		require.ErrorIs(t, err, ErrInvalid)
	}
	// Equal strs decoded apart are equal, and the cache is no memo: the
	// same pickle decoded twice gives values that compare equal.
	v1, _ := Loads(ok)
	v2, _ := Loads(ok)
	assert.Equal(t, v1, v2)
}

// shortHash reads every byte of the strings it hashes: strings differing in
// one byte hash apart (they would only collide by a 64-bit accident), and
// shortHashASCII sees any byte that is not ASCII.
func TestShortHash(t *testing.T) {
	for n := 0; n <= 16; n++ {
		base := bytes.Repeat([]byte{'a'}, n)
		h := shortHash(base)
		require.Equal(t, h, shortHash(string(base)), "string and []byte agree, n=%d", n)
		_, ascii := shortHashASCII(base)
		require.True(t, ascii, "n=%d", n)
		for i := range n {
			c := bytes.Clone(base)
			c[i] = 'b'
			require.NotEqual(t, h, shortHash(c), "n=%d, byte %d", n, i)
			c[i] = 0x80
			_, ascii := shortHashASCII(c)
			require.False(t, ascii, "n=%d, byte %d", n, i)
		}
		if n < 16 {
			require.NotEqual(t, h, shortHash(append(bytes.Clone(base), 0)), "n=%d vs n+1", n)
		}
	}
}

// release resets the pooled encoder and machine field by field; a field
// added later and forgotten there would carry state (or keep a decoded
// value alive) from one call to the next. Every field but the reusable
// buffers must come out zero, and a new field must be added here too.
func TestReleaseResetsEveryField(t *testing.T) {
	kept := map[string]bool{
		"buf": true, "ptrMemo": true, "strMemo": true, "longStrMemo": true, "tupMemo": true,
		"globMemo": true, "prog": true, "byteMemo": true, // encoder: emptied, kept
		"stack": true, "marks": true, "memo": true, "strs": true, // machine: emptied, kept
	}
	check := func(v reflect.Value, fields int) {
		if v.NumField() != fields {
			t.Fatalf("%s has %d fields, not %d: reset the new ones in release, then update this test",
				v.Type(), v.NumField(), fields)
		}
		for i := range v.NumField() {
			if f := v.Type().Field(i); !kept[f.Name] && !v.Field(i).IsZero() {
				t.Errorf("%s.%s is not reset by release", v.Type(), f.Name)
			}
		}
	}
	d := &Decoder{}
	e := &encoder{
		buf: []byte("x"), proto: 4, maxDepth: 9, depth: 3,
		pid:   func(any) (any, bool) { return nil, false },
		inPID: true, nextMemo: 7, byteMemo: map[string]uint32{"a": 1}, lastMut: 2, frameStart: 2,
	}
	e.strMemo.getOrPut("s", 1, 0)
	e.longStrMemo.put(strings.Repeat("s", 100), 1, 1)
	e.ptrMemo.put(e, 1, 2)
	e.tupMemo.put(tupleID{new(any), 1}, 1, 3)
	e.globMemo.put(Global{"m", "n"}, 1, 4)
	e.prog.push(progKey{key: e}, 1)
	e.release()
	check(reflect.ValueOf(e).Elem(), 16)
	assert.Zero(t, len(e.strMemo.ents)+len(e.longStrMemo.keys)+len(e.ptrMemo.keys)+
		len(e.tupMemo.keys)+len(e.globMemo.keys)+len(e.prog.stack)+len(e.byteMemo)+len(e.buf))

	next := 0
	m := &machine{
		data: []byte("x"), pos: 1, base: 1, realLen: 1, dec: d, opts: &DecoderOptions{}, nextBuf: &next,
		ownNext: 1, ownOpts: DecoderOptions{Encoding: "bytes", Buffers: [][]byte{nil}}, stack: []slot{{v: 1}}, stackHigh: 1, marks: []int{0}, memo: []slot{{v: 2}},
		memoMap: map[uint64]slot{5: {v: 3}}, memoLen: 2, proto: 4, op: 'K', opPos: 3,
		h: hasher{maxDepth: 1, hashes: map[any]cachedHash{}}, copied: 1, oob: 1, strs: new(strCache),
	}
	stack, memo := m.stack, m.memo
	m.release()
	check(reflect.ValueOf(m).Elem(), 22)
	assert.Nil(t, stack[:1][0].v, "stack cleared")
	assert.Nil(t, memo[:1][0].v, "memo cleared")
}

// saveDict's batching straight from the table writes what the general path
// (taken when the table has deleted entries) writes, at the batch edges.
func TestEncodeDictBatches(t *testing.T) {
	for _, n := range []int{0, 1, 2, batchSize - 1, batchSize, batchSize + 1, 2*batchSize + 1} {
		fast, slow := NewDict(), NewDict()
		require.NoError(t, slow.Set("gone", 0))
		for i := range n {
			require.NoError(t, fast.Set(int64(i), "v"))
			require.NoError(t, slow.Set(int64(i), "v"))
		}
		require.True(t, slow.Delete("gone"))
		for p := 0; p <= HighestProtocol; p++ {
			b1, err := Dumps(fast, p)
			require.NoError(t, err)
			b2, err := Dumps(slow, p)
			require.NoError(t, err)
			require.Equal(t, b2, b1, "n %d protocol %d", n, p)
		}
	}
}

// Short strs take a fast path that checks UTF-8 only when the hash words
// show a byte that is not ASCII; valid ones round-trip and invalid ones fail
// wherever the odd byte sits, at every protocol.
func TestEncodeShortStrValidity(t *testing.T) {
	for n := 0; n <= 18; n++ {
		for i := range n {
			pre, post := strings.Repeat("a", i), strings.Repeat("b", n-1-i)
			good := []string{pre + "é" + post, pre + "\xed\xa0\x80" + post} // a lone surrogate is allowed
			for _, s := range good {
				for p := 0; p <= HighestProtocol; p++ {
					b, err := Dumps(Tuple{s, s}, p)
					require.NoError(t, err, "%q protocol %d", s, p)
					v, err := Loads(b)
					require.NoError(t, err)
					require.Equal(t, Tuple{s, s}, v)
				}
			}
			bad := pre + "\xff" + post
			for p := 0; p <= HighestProtocol; p++ {
				_, err := Dumps(bad, p)
				require.ErrorIs(t, err, ErrInvalid, "%q protocol %d", bad, p)
			}
		}
	}
}
