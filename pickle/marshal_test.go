package pickle

import (
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type mEmbedded struct {
	E1 int
	E2 string `pickle:"e2"`
}

type mStruct struct {
	Name    string `pickle:"name"`
	Count   int    `pickle:"count,omitempty"`
	Ratio   float64
	Tags    []string
	Attrs   map[string]int
	Skip    string `pickle:"-"`
	Ptr     *int   `pickle:",omitempty"`
	Any     any
	Pair    [2]int
	Raw     []byte
	Big     *big.Int
	private int
	mEmbedded
}

func TestMarshalStruct(t *testing.T) {
	seven := 7
	in := mStruct{Name: "n", Ratio: 0.5, Tags: []string{"a"}, Attrs: map[string]int{"z": 26, "a": 1},
		Skip: "skipped", Ptr: &seven, Any: Tuple{1, "x"}, Pair: [2]int{3, 4}, Raw: []byte{0, 1},
		Big: new(big.Int).Lsh(big.NewInt(1), 80), private: 9, mEmbedded: mEmbedded{E1: 1, E2: "two"}}
	b, err := Marshal(in)
	require.NoError(t, err)
	v, err := Loads(b)
	require.NoError(t, err)
	d := v.(*Dict)
	assert.Equal(t, []any{"name", "Ratio", "Tags", "Attrs", "Ptr", "Any", "Pair", "Raw", "Big", "E1", "e2"}, d.Keys(),
		"tags rename, omitempty drops Count, '-' and unexported are skipped, embedded fields are flattened")
	attrs, _ := d.Get("Attrs")
	assert.Equal(t, []any{"a", "z"}, attrs.(*Dict).Keys(), "map keys are sorted")
	pair, _ := d.Get("Pair")
	assert.Equal(t, Tuple{int64(3), int64(4)}, pair, "arrays become tuples")
	raw, _ := d.Get("Raw")
	assert.Equal(t, []byte{0, 1}, raw)

	var out mStruct
	require.NoError(t, Unmarshal(b, &out))
	in.Skip, in.private = "", 0
	assert.True(t, Equal(Tuple{1, "x"}, out.Any))
	out.Any, in.Any = nil, nil
	assert.Equal(t, in, out)
}

func TestMarshalValues(t *testing.T) {
	cases := []struct {
		in   any
		want any
	}{
		{nil, None},
		{(*int)(nil), None},
		{[]int(nil), None},
		{map[string]int(nil), None},
		{[]int{}, NewList()},
		{int8(-5), int64(-5)},
		{uint64(math.MaxUint64), new(big.Int).SetUint64(math.MaxUint64)},
		{float32(1.5), 1.5},
		{complex64(1 + 2i), complex(1, 2)},
		{[3]byte{1, 2, 3}, []byte{1, 2, 3}},
		{[0]int{}, Tuple{}},
		{map[int]string{2: "b", 1: "a"}, DictOf(1, "a", 2, "b")},
		{map[[2]int]bool{{1, 2}: true}, DictOf(Tuple{1, 2}, true)},
		{[]any{1, "a", nil}, NewList(1, "a", None)},
		{*big.NewInt(5), int64(5)},
		{func() *string { s := "p"; return &s }(), "p"},
	}
	for _, c := range cases {
		b, err := Marshal(c.in)
		require.NoError(t, err, "%T", c.in)
		v, err := Loads(b)
		require.NoError(t, err)
		assert.True(t, Equal(c.want, v), "%T: got %s", c.in, repr(v, 0))
	}
	_, err := Marshal(make(chan int))
	assert.ErrorIs(t, err, ErrUnsupportedType)
	_, err = Marshal(map[struct{ A int }]int{{1}: 1})
	assert.ErrorIs(t, err, ErrUnhashable)
	_, err = Marshal("\xff")
	assert.ErrorIs(t, err, ErrInvalid)
	_, err = Dumps(1, 6)
	assert.ErrorIs(t, err, ErrProtocol)
}

type mNode struct {
	Name string
	Next *mNode
	Kids []*mNode
}

func TestMarshalSharingAndCycles(t *testing.T) {
	n := &mNode{Name: "root"}
	child := &mNode{Name: "child", Next: n}
	n.Next = n
	n.Kids = []*mNode{child, child}
	b, err := Marshal(n)
	require.NoError(t, err)
	v, err := Loads(b)
	require.NoError(t, err)
	d := v.(*Dict)
	next, _ := d.Get("Next")
	assert.Same(t, d, next.(*Dict), "pointer cycle")
	kids, _ := d.Get("Kids")
	k := kids.(*List).Items
	assert.Same(t, k[0].(*Dict), k[1].(*Dict), "shared pointer")

	var out *mNode
	require.NoError(t, Unmarshal(b, &out))
	assert.Same(t, out, out.Next, "cycle comes back as a pointer cycle")
	assert.Same(t, out.Kids[0], out.Kids[1])
	assert.Same(t, out, out.Kids[0].Next)

	s := []any{1}
	s2 := []any{s, s}
	b, err = Marshal(s2)
	require.NoError(t, err)
	v, _ = Loads(b)
	assert.Same(t, v.(*List).Items[0].(*List), v.(*List).Items[1].(*List))

	// Cycles through immutable values only are an error, not a crash.
	tu := make(Tuple, 1)
	tu[0] = tu
	_, err = Marshal(tu)
	assert.ErrorIs(t, err, ErrCycle)
	var x any
	x = &x
	_, err = Marshal(x)
	assert.ErrorIs(t, err, ErrCycle)
	o := NewObject("m", "f")
	o.Args = Tuple{o}
	_, err = Marshal(o)
	assert.ErrorIs(t, err, ErrCycle)
	// ... but fine through a list, as in Python.
	l := NewList()
	rec := Tuple{l}
	l.Append(rec)
	o2 := NewObject("m", "f", l)
	l.Append(o2)
	for p := 0; p <= 5; p++ {
		b, err = Dumps(rec, p)
		require.NoError(t, err)
		v, err = Loads(b)
		require.NoError(t, err)
		got := v.(Tuple)
		inner := got[0].(*List)
		assert.Equal(t, &got[0], &inner.Items[0].(Tuple)[0], "protocol %d", p)
	}
}

type point struct{ X, Y int }

func (p point) MarshalPickle() (any, error) { return NewObject("__main__", "Point", p.X, p.Y), nil }

func (p *point) UnmarshalPickle(v any) error {
	o, ok := v.(*Object)
	if !ok || o.Class() != (Global{"__main__", "Point"}) {
		return errors.New("not a Point")
	}
	return UnmarshalValue(o.Args, &[2]*int{&p.X, &p.Y})
}

func TestMarshalerUnmarshaler(t *testing.T) {
	b, err := Marshal([]point{{1, 2}})
	require.NoError(t, err)
	v, _ := Loads(b)
	assert.True(t, Equal(NewList(NewObject("__main__", "Point", 1, 2)), v))
	var out []point
	require.NoError(t, Unmarshal(b, &out))
	assert.Equal(t, []point{{1, 2}}, out)
	var one point
	assert.Error(t, Unmarshal([]byte("K\x01."), &one))
}

func TestUnmarshalConversions(t *testing.T) {
	dump := func(v any) []byte {
		b, err := Marshal(v)
		require.NoError(t, err)
		return b
	}
	var a any
	require.NoError(t, Unmarshal(dump(Tuple{1, "x"}), &a))
	assert.True(t, Equal(Tuple{1, "x"}, a))

	var i8 int8
	err := Unmarshal(dump(300), &i8)
	var te *UnmarshalTypeError
	require.ErrorAs(t, err, &te)
	assert.ErrorIs(t, err, ErrTypeMismatch)
	assert.Contains(t, err.Error(), "int 300")

	var u uint
	assert.ErrorIs(t, Unmarshal(dump(-1), &u), ErrTypeMismatch)
	require.NoError(t, Unmarshal(dump(uint64(math.MaxUint64)), &u))
	assert.Equal(t, uint(math.MaxUint64), u)

	var n int
	require.NoError(t, Unmarshal(dump(true), &n), "bool is an int in Python")
	assert.Equal(t, 1, n)
	assert.ErrorIs(t, Unmarshal(dump("5"), &n), ErrTypeMismatch)
	assert.ErrorIs(t, Unmarshal(dump(1.5), &n), ErrTypeMismatch)

	var f float32
	require.NoError(t, Unmarshal(dump(3), &f))
	assert.Equal(t, float32(3), f)
	assert.ErrorIs(t, Unmarshal(dump(1e300), &f), ErrTypeMismatch)

	var s struct {
		A []int
		B map[string][]string
	}
	err = Unmarshal(dump(DictOf("A", NewList(1, "x"))), &s)
	require.ErrorAs(t, err, &te)
	assert.Equal(t, ".A[1]", te.Path)
	err = Unmarshal(dump(DictOf("b", DictOf("k", Tuple{"v", 2}))), &s)
	require.ErrorAs(t, err, &te)
	assert.Equal(t, `.b['k'][1]`, te.Path, "case-insensitive field match; path names the key")

	var arr [2]string
	require.NoError(t, Unmarshal(dump(Tuple{"a", "b"}), &arr))
	assert.Equal(t, [2]string{"a", "b"}, arr)
	assert.ErrorIs(t, Unmarshal(dump(Tuple{"a"}), &arr), ErrTypeMismatch)

	var set []int
	require.NoError(t, Unmarshal(dump(SetOf(3)), &set))
	assert.Equal(t, []int{3}, set)

	var bs []byte
	require.NoError(t, Unmarshal(dump(ByteArray("ba")), &bs))
	assert.Equal(t, []byte("ba"), bs)

	var none any = 1
	require.NoError(t, Unmarshal(dump(nil), &none))
	assert.Equal(t, None, none, "None into any is None, as Loads gives it")
	var e error = errors.New("x")
	require.NoError(t, Unmarshal(dump(nil), &e))
	assert.Nil(t, e)

	p := new(int)
	pp := &p
	require.NoError(t, Unmarshal(dump(None), pp))
	assert.Nil(t, p, "None sets pointers to nil")

	var od map[string]int
	odObj := &Object{Callable: Global{"collections", "OrderedDict"}, Args: Tuple{}, DictItems: []Item{{"a", 1}}}
	require.NoError(t, Unmarshal(dump(odObj), &od))
	assert.Equal(t, map[string]int{"a": 1}, od)

	var inst struct{ A, B int }
	require.NoError(t, Unmarshal(dump(NewInstance("m", "C", DictOf("a", 1, "b", 2))), &inst))
	assert.Equal(t, 2, inst.B)

	var bi big.Int
	require.NoError(t, Unmarshal(dump(new(big.Int).Lsh(big.NewInt(1), 90)), &bi))
	assert.Equal(t, 91, bi.BitLen())

	var l *List
	require.NoError(t, Unmarshal(dump(NewList(1)), &l), "model types are assigned directly")
	assert.Equal(t, 1, l.Len())

	assert.ErrorIs(t, Unmarshal(dump(1), nil), ErrInvalidTarget)
	assert.ErrorIs(t, Unmarshal(dump(1), n), ErrInvalidTarget)
	var ch chan int
	assert.ErrorIs(t, Unmarshal(dump(1), &ch), ErrTypeMismatch)

	// Shared lists become shared slices, so shared structure stays linear.
	var shared [][]int
	inner := NewList(1, 2)
	require.NoError(t, Unmarshal(dump(NewList(inner, inner)), &shared))
	shared[0][0] = 9
	assert.Equal(t, 9, shared[1][0])
}

// Unmarshal of deeply nested values stops at MaxDepth with an error.
func TestUnmarshalDepth(t *testing.T) {
	type rec []rec
	v := any(NewList())
	for range 2000 {
		v = NewList(v)
	}
	var r rec
	err := UnmarshalValue(v, &r)
	assert.ErrorIs(t, err, ErrTooDeep)
}

// TestItemIsPair: an Item marshals as a (key, value) 2-tuple, as
// dict.items() yields in Python, alone, by pointer and in a slice; and a
// 2-tuple or 2-list unmarshals into an Item.
func TestItemIsPair(t *testing.T) {
	for _, v := range []any{Item{"k", int64(1)}, &Item{"k", int64(1)}} {
		b, err := Marshal(v)
		require.NoError(t, err)
		got, err := Loads(b)
		require.NoError(t, err)
		assert.Equal(t, Tuple{"k", int64(1)}, got)
	}
	b, err := Marshal([]Item{{"a", int64(1)}, {"b", "x"}})
	require.NoError(t, err)
	got, err := Loads(b)
	require.NoError(t, err)
	require.IsType(t, &List{}, got)
	assert.Equal(t, []any{Tuple{"a", int64(1)}, Tuple{"b", "x"}}, got.(*List).Items)
	var items []Item
	require.NoError(t, Unmarshal(b, &items))
	assert.Equal(t, []Item{{"a", int64(1)}, {"b", "x"}}, items)
	// Not a pair: a clear error.
	b, err = Marshal(Tuple{"a", int64(1), int64(2)})
	require.NoError(t, err)
	var it Item
	assert.Error(t, Unmarshal(b, &it))
}
