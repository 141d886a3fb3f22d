//go:build linux

package ctypes_test

import (
	"testing"
	"unsafe"

	"github.com/mproc/mproc/ctypes"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type Point struct{ X, Y float64 }

type mixed struct {
	A int8
	B int64
	C [3]uint16
	D bool
	E struct {
		F float32
		G complex64
	}
	_ [2]byte
}

type withString struct {
	ID   int32
	Name string
}

type nested struct {
	N     int32
	Inner struct {
		Tags [4]*int
	}
}

type Celsius float64

func TestCheckTypeAccepts(t *testing.T) {
	for _, err := range []error{
		ctypes.CheckType[int8](), ctypes.CheckType[uint64](), ctypes.CheckType[int](),
		ctypes.CheckType[float32](), ctypes.CheckType[complex128](), ctypes.CheckType[bool](),
		ctypes.CheckType[[16]byte](), ctypes.CheckType[Point](), ctypes.CheckType[mixed](),
		ctypes.CheckType[Celsius](), ctypes.CheckType[[2]Point](),
	} {
		assert.NoError(t, err)
	}
}

func TestCheckTypeRejectsNamingTheField(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{ctypes.CheckType[withString](), "ctypes: type ctypes_test.withString: field Name is a string"},
		{ctypes.CheckType[nested](), "ctypes: type ctypes_test.nested: field Inner.Tags[i] is a pointer"},
		{ctypes.CheckType[string](), "ctypes: type string: is a string"},
		{ctypes.CheckType[[]int](), "ctypes: type []int: is a slice"},
		{ctypes.CheckType[map[int]int](), "ctypes: type map[int]int: is a map"},
		{ctypes.CheckType[any](), "ctypes: type interface {}: is an interface"},
		{ctypes.CheckType[chan int](), "ctypes: type chan int: is a channel"},
		{ctypes.CheckType[func()](), "ctypes: type func(): is a func"},
		{ctypes.CheckType[unsafe.Pointer](), "ctypes: type unsafe.Pointer: is an unsafe.Pointer"},
		{ctypes.CheckType[uintptr](), "ctypes: type uintptr: is a uintptr"},
		{ctypes.CheckType[[2]string](), "ctypes: type [2]string: element [i] is a string"},
		{ctypes.CheckType[struct{}](), "ctypes: type struct {} has size 0"},
		{ctypes.CheckType[[0]int64](), "ctypes: type [0]int64 has size 0"},
	}
	for _, c := range cases {
		require.Error(t, c.err, c.want)
		assert.ErrorIs(t, c.err, ctypes.ErrType)
		assert.Contains(t, c.err.Error(), c.want)
	}
	// Cached: the same error the second time.
	assert.Equal(t, ctypes.CheckType[withString]().Error(), ctypes.CheckType[withString]().Error())
}

func TestLayout(t *testing.T) {
	for _, c := range []struct {
		got  func() (string, error)
		want string
	}{
		{ctypes.Layout[float64], "f8"},
		{ctypes.Layout[int], "i8"},
		{ctypes.Layout[int64], "i8"},
		{ctypes.Layout[Celsius], "f8"},
		{ctypes.Layout[Point], "{0:f8,8:f8}16"},
		{ctypes.Layout[[3]int32], "[3]i4"},
		// C layout: B aligned to 8, C to 2 after B, D after C, E aligned
		// to 4 (float32 and complex64 both align 4), 2 bytes of padding
		// named _, the size rounded up to 8.
		{ctypes.Layout[mixed], "{0:i1,8:i8,16:[3]u2,22:?,24:{0:f4,4:c8}12,36:[2]u1}40"},
	} {
		got, err := c.got()
		require.NoError(t, err)
		assert.Equal(t, c.want, got)
	}
	_, err := ctypes.Layout[withString]()
	assert.ErrorIs(t, err, ctypes.ErrType)
}

func TestTypecodes(t *testing.T) {
	sizes := map[ctypes.Typecode]int{'b': 1, 'B': 1, 'h': 2, 'H': 2, 'i': 4, 'I': 4, 'l': 8, 'L': 8,
		'q': 8, 'Q': 8, 'f': 4, 'd': 8, 'c': 1, 'u': 4}
	require.Len(t, ctypes.Typecodes(), len(sizes))
	for _, c := range ctypes.Typecodes() {
		assert.True(t, c.Valid())
		assert.Equal(t, sizes[c], c.Size(), "%v", c)
		assert.Equal(t, sizes[c], int(c.GoType().Size()), "%v", c)
	}
	assert.Equal(t, "'d'", ctypes.Typecode('d').String())
	assert.Equal(t, "double", ctypes.Typecode('d').CType())
	assert.Equal(t, "wchar_t", ctypes.Typecode('u').CType())
	assert.False(t, ctypes.Typecode('x').Valid())
	assert.Zero(t, ctypes.Typecode('x').Size())
	assert.Nil(t, ctypes.Typecode('?').GoType())
	assert.Equal(t, "typecode(0)", ctypes.Typecode(0).String())
}
