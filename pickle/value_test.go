package pickle

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDictKeyEquality(t *testing.T) {
	d := NewDict()
	require.NoError(t, d.Set(1, "int"))
	require.NoError(t, d.Set(1.0, "float"))
	require.NoError(t, d.Set(true, "bool"))
	require.NoError(t, d.Set(complex(1, 0), "complex"))
	require.NoError(t, d.Set(big.NewInt(1), "big"))
	require.NoError(t, d.Set(uint8(1), "uint8"))
	assert.Equal(t, 1, d.Len(), "1, 1.0, True, 1+0j are one key")
	assert.Equal(t, []any{int64(1)}, d.Keys(), "the first key is kept, normalised to int64")
	v, ok := d.Get(1.0)
	assert.True(t, ok)
	assert.Equal(t, "uint8", v, "the last value wins")

	require.NoError(t, d.Set("1", "str"))
	require.NoError(t, d.Set([]byte("1"), "bytes"))
	assert.Equal(t, 3, d.Len(), `"1" and b"1" are distinct keys`)

	require.NoError(t, d.Set(Tuple{1, "a"}, "tuple"))
	v, ok = d.Get(Tuple{1.0, "a"})
	assert.True(t, ok)
	assert.Equal(t, "tuple", v)
	assert.False(t, d.Has(Tuple{1, "b"}))
	assert.False(t, d.Has(Tuple{1}))

	require.NoError(t, d.Set(FrozenSetOf(1, 2), "fs"))
	v, _ = d.Get(FrozenSetOf(2.0, 1))
	assert.Equal(t, "fs", v)

	require.NoError(t, d.Set(0.5, "half"))
	assert.True(t, d.Has(0.5))
	assert.False(t, d.Has(0))

	big70 := new(big.Int).Lsh(big.NewInt(1), 70)
	require.NoError(t, d.Set(big70, "2**70"))
	v, _ = d.Get(math.Ldexp(1, 70))
	assert.Equal(t, "2**70", v, "2**70 == 2.0**70")

	require.NoError(t, d.Set(None, "none"))
	v, _ = d.Get(nil)
	assert.Equal(t, "none", v, "nil is None")

	g := Global{"builtins", "int"}
	require.NoError(t, d.Set(g, "cls"))
	assert.True(t, d.Has(Global{"builtins", "int"}))

	o1, o2 := NewObject("m", "C"), NewObject("m", "C")
	require.NoError(t, d.Set(o1, "o1"))
	assert.True(t, d.Has(o1))
	assert.False(t, d.Has(o2), "objects are keys by identity")

	for _, bad := range []any{NewList(), NewDict(), SetOf(), ByteArray("x"), Tuple{1, NewList()}, struct{}{}} {
		err := d.Set(bad, 1)
		assert.ErrorIs(t, err, ErrUnhashable, "%T", bad)
		assert.False(t, d.Has(bad))
	}

	nan := math.NaN()
	require.NoError(t, d.Set(nan, 1))
	require.NoError(t, d.Set(nan, 2))
	assert.False(t, d.Has(nan), "NaN is never equal to a key")
}

func TestDictOrderAndDelete(t *testing.T) {
	d := NewDict()
	for i := range 100 {
		require.NoError(t, d.Set(i, i*i))
	}
	for i := 0; i < 100; i += 2 {
		assert.True(t, d.Delete(i))
	}
	assert.False(t, d.Delete(0))
	assert.False(t, d.Delete(NewList()))
	assert.Equal(t, 50, d.Len())
	keys := d.Keys()
	for i, k := range keys {
		assert.Equal(t, int64(2*i+1), k)
	}
	require.NoError(t, d.Set(0, "back"))
	assert.Equal(t, int64(0), d.Keys()[50], "re-inserted key goes last")
	v, _ := d.Get(99)
	assert.Equal(t, 99*99, v)
	n := 0
	for k, v := range d.All() {
		if k == int64(0) {
			assert.Equal(t, "back", v)
		}
		n++
	}
	assert.Equal(t, 51, n)
	items := d.Items()
	assert.Equal(t, Item{int64(1), 1}, items[0])
	assert.Len(t, d.Values(), 51)

	var zero Dict
	require.NoError(t, zero.Set("a", 1))
	assert.Equal(t, 1, zero.Len())
}

func TestSets(t *testing.T) {
	s, err := NewSet(1, 1.0, true, "a", Tuple{1})
	require.NoError(t, err)
	assert.Equal(t, 3, s.Len())
	assert.True(t, s.Has(Tuple{1.0}))
	assert.True(t, s.Delete("a"))
	assert.Equal(t, []any{int64(1), Tuple{1}}, s.Items())
	_, err = NewSet(NewList())
	assert.ErrorIs(t, err, ErrUnhashable)
	_, err = NewFrozenSet(SetOf())
	assert.ErrorIs(t, err, ErrUnhashable)
	assert.Panics(t, func() { SetOf(NewDict()) })
	assert.Panics(t, func() { DictOf(1) })
	assert.Panics(t, func() { FrozenSetOf(ByteArray{}) })

	f := FrozenSetOf(1, 2, 3)
	assert.True(t, f.Has(2.0))
	assert.Equal(t, 3, f.Len())
	var empty FrozenSet
	assert.Equal(t, 0, empty.Len())
	assert.False(t, empty.Has(1))
	assert.Equal(t, []any{}, empty.Items())
	assert.True(t, Equal(FrozenSetOf(), empty))
	assert.True(t, Equal(SetOf(1, 2), FrozenSetOf(2, 1)), "set == frozenset")
	assert.False(t, Equal(SetOf(1, 2), FrozenSetOf(1)))
}

// Keys built from shared sub-tuples hash and compare in time linear in their
// distinct parts (a "billion laughs" key would otherwise take 2**60 steps).
func TestSharedTupleKeys(t *testing.T) {
	a, b := Tuple{"leaf"}, Tuple{"leaf"}
	for range 60 {
		a, b = Tuple{a, a}, Tuple{b, b}
	}
	d := NewDict()
	done := make(chan struct{})
	go func() {
		defer close(done)
		require.NoError(t, d.Set(a, 1))
		require.NoError(t, d.Set(b, 2))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("hashing shared tuples is exponential")
	}
	assert.Equal(t, 1, d.Len())
	v, _ := d.Get(a)
	assert.Equal(t, 2, v)

	deep := Tuple{}
	for range defaultHashDepth + 10 {
		deep = Tuple{deep}
	}
	assert.ErrorIs(t, d.Set(deep, 1), ErrTooDeep)
}

func TestEqual(t *testing.T) {
	assert.True(t, Equal(1, 1.0))
	assert.True(t, Equal(true, int64(1)))
	assert.True(t, Equal(math.NaN(), math.NaN()))
	assert.True(t, Equal([]byte("a"), ByteArray("a")))
	assert.False(t, Equal("a", []byte("a")))
	assert.False(t, Equal(Tuple{1}, NewList(1)))
	assert.True(t, Equal(DictOf("a", 1, "b", 2), DictOf("b", 2, "a", 1)))
	assert.False(t, Equal(DictOf("a", 1), DictOf("a", 2)))
	assert.True(t, Equal(nil, None))
	assert.True(t, Equal(Global{"a", "b"}, Global{"a", "b"}))
	assert.True(t, Equal(Exception("builtins", "KeyError", "k"), Exception("builtins", "KeyError", "k")))
	assert.False(t, Equal(Exception("builtins", "KeyError", "k"), Exception("builtins", "KeyError", "j")))
	l1, l2 := NewList(1), NewList(1)
	l1.Append(l1)
	l2.Append(l2)
	assert.True(t, Equal(l1, l2), "cycles compare coinductively")
	assert.True(t, Equal(struct{ A int }{1}, struct{ A int }{1}))
}

func TestExceptionInfo(t *testing.T) {
	for _, c := range []struct {
		v  any
		ok bool
	}{
		{Exception("builtins", "KeyError", "k"), true},
		{Exception("_queue", "Empty"), true},
		{Exception("threading", "BrokenBarrierError"), true},
		{Exception("multiprocessing.managers", "RemoteError", "tb"), true},
		{Exception("builtins", "StopIteration"), true},
		{NewObject("decimal", "Decimal", "1"), false},
		{NewInstance("mod", "MyError", nil), false},
		{"KeyError", false},
	} {
		cls, args, ok := ExceptionInfo(c.v)
		assert.Equal(t, c.ok, ok, "%v", c.v)
		assert.Equal(t, c.ok, IsException(c.v))
		if ok {
			assert.Equal(t, c.v.(*Object).Class(), cls)
			assert.Equal(t, c.v.(*Object).Args, args)
		}
	}
	assert.Equal(t, "builtins.KeyError('k')", Exception("builtins", "KeyError", "k").String())
}

func TestTypeName(t *testing.T) {
	for v, want := range map[any]string{None: "NoneType", int64(1): "int", 1.5: "float", "s": "str",
		Global{"a", "b"}: "global a.b", true: "bool", complex(1, 1): "complex"} {
		assert.Equal(t, want, TypeName(v))
	}
	assert.Equal(t, "list", TypeName(NewList()))
	assert.Equal(t, "builtins.KeyError", TypeName(Exception("builtins", "KeyError")))
	assert.Equal(t, "Go chan int", TypeName(make(chan int)))
}
