//go:build linux

package ctypes_test

import (
	"sync"
	"testing"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRawValueStandaloneAndOpen(t *testing.T) {
	name := segName(t)
	v, err := ctypes.NewRawValue(name, Point{1.5, -2}, nil)
	require.NoError(t, err)
	defer v.Close()
	assert.Equal(t, Point{1.5, -2}, v.Load())
	assert.Equal(t, shm.Handle{Segment: name, Kind: shm.KindValue, Version: 1}, v.Handle())
	assert.Zero(t, v.Typecode())

	w, err := ctypes.OpenRawValue[Point](name)
	require.NoError(t, err)
	defer w.Close()
	w.Store(Point{3, 4})
	assert.Equal(t, Point{3, 4}, v.Load(), "one memory, two mappings")
	v.Pointer().Y = 9
	assert.Equal(t, Point{3, 9}, w.Load())

	// Same layout under other names matches: fields are not part of it.
	type other struct{ A, B float64 }
	o, err := ctypes.OpenRawValue[other](name)
	require.NoError(t, err)
	assert.Equal(t, other{3, 9}, o.Load())
	require.NoError(t, o.Close())

	require.NoError(t, v.Unlink())
	_, err = ctypes.OpenRawValue[Point](name)
	assert.ErrorIs(t, err, shm.ErrNotExist)
}

func TestRawValueInArena(t *testing.T) {
	a, err := shm.NewArena(segName(t), 1<<16, nil)
	require.NoError(t, err)
	defer a.Close()
	v, err := ctypes.NewRawValueIn(a, int32(-5))
	require.NoError(t, err)
	defer v.Close()
	h := v.Handle()
	assert.NotZero(t, h.Offset)
	w, err := ctypes.AttachRawValue[int32](h)
	require.NoError(t, err)
	defer w.Close()
	assert.Equal(t, int32(-5), w.Load())
	assert.Equal(t, int32(-4), ctypes.AtomicAdd(w, 1))
	assert.Equal(t, int32(-4), v.Load())
	assert.ErrorIs(t, v.Unlink(), shm.ErrKind, "an arena object has no name of its own")
}

func TestAtomicFunctions(t *testing.T) {
	t.Run("int64", func(t *testing.T) { testAtomic[int64](t) })
	t.Run("uint32", func(t *testing.T) { testAtomic[uint32](t) })
	t.Run("int32", func(t *testing.T) { testAtomic[int32](t) })
	t.Run("named", func(t *testing.T) {
		type counter uint64
		testAtomic[counter](t)
	})
}

func testAtomic[T ctypes.Integer](t *testing.T) {
	v, err := ctypes.NewRawValue[T](segName(t), 5, nil)
	require.NoError(t, err)
	defer v.Close()
	assert.Equal(t, T(5), ctypes.AtomicLoad(v))
	assert.Equal(t, T(8), ctypes.AtomicAdd(v, 3))
	assert.Equal(t, T(7), ctypes.AtomicAdd(v, ^T(0))) // -1 for unsigned too
	assert.False(t, ctypes.AtomicCompareAndSwap(v, 6, 100))
	assert.True(t, ctypes.AtomicCompareAndSwap(v, 7, 100))
	assert.Equal(t, T(100), ctypes.AtomicSwap(v, 1))
	ctypes.AtomicStore(v, 42)
	assert.Equal(t, T(42), v.Load())

	const goroutines, per = 8, 5000
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range per {
				ctypes.AtomicAdd(v, 1)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, T(42+goroutines*per), ctypes.AtomicLoad(v))

	a, err := ctypes.NewRawArray[T](segName(t, "array"), 3, nil)
	require.NoError(t, err)
	defer a.Close()
	assert.Equal(t, T(2), ctypes.AtomicAddAt(a, 1, 2))
	assert.True(t, ctypes.AtomicCompareAndSwapAt(a, 1, 2, 9))
	ctypes.AtomicStoreAt(a, 2, 4)
	assert.Equal(t, []T{0, 9, 4}, a.ToSlice())
	assert.Equal(t, T(9), ctypes.AtomicLoadAt(a, 1))
}

func TestRawArray(t *testing.T) {
	name := segName(t)
	a, err := ctypes.NewRawArray[float64](name, 5, nil)
	require.NoError(t, err)
	defer a.Close()
	assert.Equal(t, 5, a.Len())
	assert.Equal(t, []float64{0, 0, 0, 0, 0}, a.ToSlice(), "zeroed")
	a.Set(2, 2.5)
	assert.Equal(t, 2.5, a.At(2))
	s := a.Slice()
	s[4] = 4.5
	require.NoError(t, a.Assign([]float64{1, 2, 3, 4, 5}))
	assert.Equal(t, []float64{1, 2, 3, 4, 5}, s, "Slice is a view of the shared memory")
	assert.ErrorIs(t, a.Assign([]float64{1, 2}), ctypes.ErrLength)
	assert.Equal(t, []float64{1, 2, 3, 4, 5}, a.ToSlice(), "a failed Assign writes nothing")
	assert.PanicsWithError(t, "runtime error: index out of range [5] with length 5", func() { a.At(5) })

	b, err := ctypes.OpenRawArray[float64](name)
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, 5, b.Len())
	b.Set(0, -1)
	assert.Equal(t, -1.0, a.At(0))

	pts, err := ctypes.NewRawArrayFrom(segName(t, "pts"), []Point{{1, 2}, {3, 4}}, nil)
	require.NoError(t, err)
	defer pts.Close()
	assert.Equal(t, []Point{{1, 2}, {3, 4}}, pts.ToSlice())
}

func TestRawArrayInArena(t *testing.T) {
	ar, err := shm.NewArena(segName(t), 1<<16, nil)
	require.NoError(t, err)
	defer ar.Close()
	a, err := ctypes.NewRawArrayFromIn(ar, []uint16{7, 8, 9})
	require.NoError(t, err)
	defer a.Close()
	z, err := ctypes.NewRawArrayIn[int8](ar, 100)
	require.NoError(t, err)
	defer z.Close()
	b, err := ctypes.AttachRawArray[uint16](a.Handle())
	require.NoError(t, err)
	defer b.Close()
	assert.Equal(t, []uint16{7, 8, 9}, b.ToSlice())
	assert.Equal(t, 100, z.Len())
}

func TestCopy(t *testing.T) {
	v, err := ctypes.NewRawValue(segName(t, "v"), Point{1, 2}, nil)
	require.NoError(t, err)
	defer v.Close()
	c, err := ctypes.Copy(v, segName(t, "copy"), nil)
	require.NoError(t, err)
	defer c.Close()
	v.Store(Point{5, 5})
	assert.Equal(t, Point{1, 2}, c.Load(), "a copy, not a view")

	a, err := ctypes.NewRawArrayFrom(segName(t, "a"), []int32{1, 2, 3}, nil)
	require.NoError(t, err)
	defer a.Close()
	ar, err := shm.NewArena(segName(t, "arena"), 1<<16, nil)
	require.NoError(t, err)
	defer ar.Close()
	ac, err := ctypes.CopyIn(a, ar)
	require.NoError(t, err)
	defer ac.Close()
	a.Set(0, 100)
	assert.Equal(t, []int32{1, 2, 3}, ac.ToSlice())

	// The typecode travels with the copy.
	n, err := ctypes.NewRawArrayTypecode(segName(t, "tc"), 'c', "abc", nil)
	require.NoError(t, err)
	defer n.Close()
	raw := n.Typed().(*ctypes.Array[byte]).GetObj()
	nc, err := ctypes.Copy(raw, segName(t, "tc-copy"), nil)
	require.NoError(t, err)
	defer nc.Close()
	assert.Equal(t, ctypes.Typecode('c'), nc.Typecode())
	_, err = ctypes.Copy(raw, segName(t, "tc-copy2"), &ctypes.Options{NoLock: true})
	assert.ErrorIs(t, err, ctypes.ErrOptions)
}

func TestUseAfterClosePanics(t *testing.T) {
	v, err := ctypes.NewRawValue(segName(t), int64(1), nil)
	require.NoError(t, err)
	require.NoError(t, v.Close())
	require.NoError(t, v.Close(), "closing twice is a no-op")
	assert.PanicsWithValue(t, "ctypes: RawValue used after Close", func() { v.Load() })
	assert.PanicsWithValue(t, "ctypes: RawValue used after Close", func() { ctypes.AtomicAdd(v, 1) })
}
