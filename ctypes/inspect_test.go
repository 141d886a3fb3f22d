//go:build linux

package ctypes_test

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// inspectName returns a segment name unique to this test, removed (with
// the lock made beside it) when the test ends.
func inspectName(t *testing.T, suffix string) string {
	n := fmt.Sprintf("test-%d-inspect-%d-%s", os.Getpid(), len(t.Name()), suffix)
	t.Cleanup(func() { _ = shm.Unlink(n); _ = shm.Unlink(n + ".lock") })
	return n
}

// inspectHandle attaches h and decodes it, checking that decoding changed
// no byte of the object.
func inspectHandle(t *testing.T, h shm.Handle) ctypes.State {
	t.Helper()
	r, err := shm.Attach(h, 0)
	require.NoError(t, err)
	defer r.Close()
	before := slices.Clone(r.Bytes())
	st, err := ctypes.Inspect(r)
	require.NoError(t, err)
	require.Equal(t, before, r.Bytes(), "Inspect changed the object")
	require.Equal(t, h.Kind, st.Kind)
	return st
}

func TestInspectValue(t *testing.T) {
	name := inspectName(t, "value")
	v, err := ctypes.NewValue(name, 3.5, nil)
	require.NoError(t, err)
	defer v.Close()
	st := inspectHandle(t, v.Handle())
	assert.Equal(t, "f8", st.Layout)
	assert.Equal(t, 8, st.ElemSize)
	assert.Equal(t, 1, st.Len)
	assert.Equal(t, fmt.Sprintf("%s.lock@0/rlock/v%d", name, semaphore.LayoutVersion(shm.KindRLock)), st.Lock)
	assert.True(t, st.OwnsLock)
	assert.False(t, st.Suspect)
	assert.Equal(t, []any{3.5}, st.Elements)
	assert.Len(t, st.Data, 8)
}

func TestInspectArrays(t *testing.T) {
	ints, err := ctypes.NewArrayTypecode(inspectName(t, "ints"), 'i', []int32{1, -2, 3}, nil)
	require.NoError(t, err)
	defer ints.Close()
	st := inspectHandle(t, ints.Handle())
	assert.Equal(t, ctypes.Typecode('i'), st.Typecode)
	assert.Equal(t, 3, st.Len)
	assert.Equal(t, []any{int64(1), int64(-2), int64(3)}, st.Elements)

	chars, err := ctypes.NewRawArrayTypecode(inspectName(t, "chars"), 'c', "hi", nil)
	require.NoError(t, err)
	defer chars.Close()
	st = inspectHandle(t, chars.Handle())
	assert.Equal(t, []any{byte('h'), byte('i')}, st.Elements)
	assert.Empty(t, st.Lock, "a raw array has no lock")

	big, err := ctypes.NewRawArray[uint16](inspectName(t, "big"), 1000, nil)
	require.NoError(t, err)
	defer big.Close()
	big.Set(1, 7)
	st = inspectHandle(t, big.Handle())
	assert.Equal(t, 1000, st.Len)
	assert.Len(t, st.Elements, ctypes.InspectElements)
	assert.Equal(t, uint64(7), st.Elements[1])
	assert.Len(t, st.Data, ctypes.InspectBytes)

	type point struct{ X, Y float64 }
	pts, err := ctypes.NewRawArrayFrom(inspectName(t, "points"), []point{{1, 2}}, nil)
	require.NoError(t, err)
	defer pts.Close()
	st = inspectHandle(t, pts.Handle())
	assert.Equal(t, "{0:f8,8:f8}16", st.Layout)
	assert.Nil(t, st.Elements, "structs are shown as bytes")
	assert.Len(t, st.Data, 16)

	a, err := shm.NewArena(inspectName(t, "arena"), 4096, nil)
	require.NoError(t, err)
	defer a.Close()
	neg, err := ctypes.NewRawValueIn(a, int8(-3))
	require.NoError(t, err)
	defer neg.Close()
	st = inspectHandle(t, neg.Handle())
	assert.Equal(t, []any{int64(-3)}, st.Elements, "sign-extended")
}

func TestInspectWrongObject(t *testing.T) {
	r, err := shm.CreateObject(inspectName(t, "raw"), shm.KindRaw, 1, 512, nil)
	require.NoError(t, err)
	defer r.Close()
	_, err = ctypes.Inspect(r)
	assert.ErrorIs(t, err, shm.ErrKind)

	v2, err := shm.CreateObject(inspectName(t, "v2"), shm.KindValue, 2, 512, nil)
	require.NoError(t, err)
	defer v2.Close()
	_, err = ctypes.Inspect(v2)
	assert.ErrorIs(t, err, shm.ErrVersion)

	zero, err := shm.CreateObject(inspectName(t, "zero"), shm.KindArray, 1, 512, nil)
	require.NoError(t, err)
	defer zero.Close()
	_, err = ctypes.Inspect(zero)
	assert.ErrorIs(t, err, ctypes.ErrCorrupt, "an element size of 0")
}

// Inspect decodes an object without knowing its Go type.
func ExampleInspect() {
	name := fmt.Sprintf("example-inspect-%d", os.Getpid())
	arr, err := ctypes.NewArrayTypecode(name, 'd', []float64{0.5, 1.5}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer arr.Unlink()
	defer arr.Close()

	r, err := shm.Attach(arr.Handle(), 0) // what a tool does, from any process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	st, err := ctypes.Inspect(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Kind, st.Typecode, st.Layout, st.Len, st.Elements)
	// Output: array 'd' f8 2 [0.5 1.5]
}
