//go:build linux

package ctypes_test

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noLeftovers checks that a failed constructor left neither the object's
// segment nor a lock made for it.
func noLeftovers(t *testing.T, name string) {
	t.Helper()
	for _, n := range []string{name, name + ".lock"} {
		_, err := shm.Stat(n)
		assert.ErrorIs(t, err, shm.ErrNotExist, "%s left behind", n)
	}
}

func TestBadElementType(t *testing.T) {
	name := segName(t)
	_, err := ctypes.NewRawValue(name, withString{}, nil)
	require.ErrorIs(t, err, ctypes.ErrType)
	assert.Contains(t, err.Error(), "field Name is a string")
	_, err = ctypes.NewValue(name, map[string]int{}, nil)
	assert.ErrorIs(t, err, ctypes.ErrType)
	_, err = ctypes.NewArray[*int](name, 3, nil)
	assert.ErrorIs(t, err, ctypes.ErrType)
	_, err = ctypes.NewRawArrayFrom(name, []nested{{}}, nil)
	require.ErrorIs(t, err, ctypes.ErrType)
	assert.Contains(t, err.Error(), "field Inner.Tags[i] is a pointer")
	noLeftovers(t, name)

	_, err = ctypes.NewRawValue(name, int64(0), nil)
	require.NoError(t, err)
	_, err = ctypes.OpenRawValue[string](name)
	assert.ErrorIs(t, err, ctypes.ErrType)
}

func TestBadTypecode(t *testing.T) {
	name := segName(t)
	_, err := ctypes.NewValueTypecode(name, 'x', 1, nil)
	require.ErrorIs(t, err, ctypes.ErrTypecode)
	assert.Equal(t, "ctypes: unknown typecode 'x'; valid typecodes are 'b' 'B' 'h' 'H' 'i' 'I' 'l' 'L' 'q' 'Q' 'f' 'd' 'c' 'u'", err.Error())
	_, err = ctypes.NewArrayTypecode(name, '?', 3, nil)
	assert.ErrorIs(t, err, ctypes.ErrTypecode)
	_, err = ctypes.NewRawValueTypecode(name, 0, 3, nil)
	assert.ErrorIs(t, err, ctypes.ErrTypecode)
	noLeftovers(t, name)
}

func TestBadLength(t *testing.T) {
	name := segName(t)
	for _, n := range []int{0, -1, 1 << 40, -1 << 62} {
		_, err := ctypes.NewRawArray[float64](name, n, nil)
		assert.ErrorIs(t, err, ctypes.ErrLength, "raw %d", n)
		_, err = ctypes.NewArray[float64](name, n, nil)
		assert.ErrorIs(t, err, ctypes.ErrLength, "synchronized %d", n)
		_, err = ctypes.NewArrayTypecode(name, 'd', n, nil)
		assert.ErrorIs(t, err, ctypes.ErrLength, "typecode %d", n)
	}
	_, err := ctypes.NewRawArrayFrom(name, []int32{}, nil)
	assert.ErrorIs(t, err, ctypes.ErrLength)
	_, err = ctypes.NewArrayFrom[int32](name, nil, nil)
	assert.ErrorIs(t, err, ctypes.ErrLength)
	_, err = ctypes.NewArrayTypecode(name, 'c', "", nil)
	assert.ErrorIs(t, err, ctypes.ErrLength)
	noLeftovers(t, name)

	ar, err := shm.NewArena(segName(t, "arena"), 1<<16, nil)
	require.NoError(t, err)
	defer ar.Close()
	_, err = ctypes.NewRawArrayIn[int64](ar, 1<<30)
	assert.ErrorIs(t, err, ctypes.ErrLength, "more than an arena block can hold")
	_, err = ctypes.NewRawArrayIn[int64](ar, 1<<20)
	assert.ErrorIs(t, err, shm.ErrArenaFull, "more than this arena holds")
	_, err = ctypes.NewArrayIn[int64](ar, 0, nil)
	assert.ErrorIs(t, err, ctypes.ErrLength)
}

func TestBadInitializer(t *testing.T) {
	name := segName(t)
	_, err := ctypes.NewValueTypecode(name, 'c', "ab", nil)
	assert.ErrorIs(t, err, ctypes.ErrMismatch, "Python: one character bytes expected")
	_, err = ctypes.NewValueTypecode(name, 'b', 300, nil)
	assert.ErrorIs(t, err, ctypes.ErrMismatch)
	_, err = ctypes.NewValueTypecode(name, 'I', -1, nil)
	assert.ErrorIs(t, err, ctypes.ErrMismatch)
	_, err = ctypes.NewValueTypecode(name, 'q', "7", nil)
	assert.ErrorIs(t, err, ctypes.ErrMismatch)
	_, err = ctypes.NewArrayTypecode(name, 'i', []string{"a"}, nil)
	assert.ErrorIs(t, err, ctypes.ErrMismatch)
	_, err = ctypes.NewArrayTypecode(name, 'i', 2.5, nil)
	assert.ErrorIs(t, err, ctypes.ErrMismatch)
	noLeftovers(t, name)

	a, err := ctypes.NewArray[int32](name, 3, nil)
	require.NoError(t, err)
	defer a.Close()
	err = a.Assign([]int32{1, 2})
	require.ErrorIs(t, err, ctypes.ErrLength)
	assert.Contains(t, err.Error(), "2 values for 3 elements")
}

func TestCharValueTooLong(t *testing.T) {
	s, err := ctypes.NewArrayTypecode(segName(t), 'c', 5, nil)
	require.NoError(t, err)
	defer s.Close()
	err = s.SetValue("toolong")
	require.ErrorIs(t, err, ctypes.ErrTooLong)
	assert.Contains(t, err.Error(), "byte string of 7 for 5 chars")
	raw, err := s.Raw()
	require.NoError(t, err)
	assert.Equal(t, make([]byte, 5), raw, "nothing written")
}

func TestOpenOtherKindOrElement(t *testing.T) {
	lockName := segName(t, "lock")
	l, err := semaphore.NewLock(lockName)
	require.NoError(t, err)
	defer l.Close()
	_, err = ctypes.OpenValue[int64](lockName)
	assert.ErrorIs(t, err, shm.ErrKind)
	_, err = ctypes.OpenRawArray[int64](lockName)
	assert.ErrorIs(t, err, shm.ErrKind)

	name := segName(t, "f64")
	v, err := ctypes.NewArray[float64](name, 4, nil)
	require.NoError(t, err)
	defer v.Close()
	_, err = ctypes.OpenValue[float64](name)
	assert.ErrorIs(t, err, shm.ErrKind, "an array is not a value")
	_, err = ctypes.AttachRawValue[float64](shm.Handle{Segment: name, Kind: shm.KindValue, Version: 1})
	assert.ErrorIs(t, err, shm.ErrKind)

	_, err = ctypes.OpenArray[float32](name)
	require.ErrorIs(t, err, ctypes.ErrMismatch, "another size")
	assert.Contains(t, err.Error(), "the object holds f8 (8 bytes, align 8), not float32 = f4 (4 bytes, align 4)")
	_, err = ctypes.OpenArray[int64](name)
	assert.ErrorIs(t, err, ctypes.ErrMismatch, "same size, another kind")
	_, err = ctypes.OpenRawArray[[2]float32](name)
	assert.ErrorIs(t, err, ctypes.ErrMismatch, "same size, another layout")
	_, err = ctypes.OpenAnyArray(name)
	assert.NoError(t, err, "the same element, through its typecode")

	pts := segName(t, "pts")
	p, err := ctypes.NewRawArray[Point](pts, 2, nil)
	require.NoError(t, err)
	defer p.Close()
	_, err = ctypes.OpenRawArray[[2]float64](pts)
	assert.ErrorIs(t, err, ctypes.ErrMismatch, "a struct is not an array of the same size")
	_, err = ctypes.OpenRawArray[complex128](pts)
	assert.ErrorIs(t, err, ctypes.ErrMismatch)

	tc := segName(t, "tc")
	q, err := ctypes.NewValueTypecode(tc, 'Q', 1, nil)
	require.NoError(t, err)
	defer q.Close()
	_, err = ctypes.OpenValue[int64](tc)
	require.ErrorIs(t, err, ctypes.ErrMismatch, "signedness is part of the element")
	assert.Contains(t, err.Error(), "typecode 'Q'")
	_, err = ctypes.OpenValue[uint64](tc)
	assert.NoError(t, err)
}

func TestCorruptHeaderIsAnError(t *testing.T) {
	// An array whose header claims more elements than the segment holds
	// (not something ctypes writes) is refused, never mapped out of range.
	name := segName(t)
	hdr := make([]byte, 384)
	binary.LittleEndian.PutUint64(hdr[0:], 8)     // elemSize
	binary.LittleEndian.PutUint32(hdr[8:], 8)     // elemAlign
	binary.LittleEndian.PutUint64(hdr[24:], 1000) // count
	r, err := shm.CreateObject(name, shm.KindArray, 1, 384+8*10, &shm.CreateOptions{Init: func(b []byte) error {
		copy(b, hdr)
		return nil
	}})
	require.NoError(t, err)
	defer r.Close()
	_, err = ctypes.OpenAnyArray(name)
	require.ErrorIs(t, err, ctypes.ErrCorrupt)
	assert.Contains(t, err.Error(), "1000 elements of 8 bytes do not fit")

	short := segName(t, "short")
	r2, err := shm.CreateObject(short, shm.KindValue, 1, 100, nil)
	require.NoError(t, err)
	defer r2.Close()
	_, err = ctypes.OpenRawValue[int64](short)
	assert.ErrorIs(t, err, shm.ErrShort)
}

type fakeLock struct{ h shm.Handle }

func (fakeLock) Lock()                                 {}
func (fakeLock) Unlock()                               {}
func (fakeLock) TryLock() bool                         { return true }
func (fakeLock) LockContext(ctx context.Context) error { return nil }
func (fakeLock) OwnerDied() bool                       { return false }
func (f fakeLock) Handle() shm.Handle                  { return f.h }
func (fakeLock) Close() error                          { return nil }

func TestBadOptions(t *testing.T) {
	name := segName(t)
	l, err := semaphore.NewLock(segName(t, "lock"))
	require.NoError(t, err)
	defer l.Close()
	_, err = ctypes.NewValue(name, 1, &ctypes.Options{Lock: l, NoLock: true})
	assert.ErrorIs(t, err, ctypes.ErrOptions)
	_, err = ctypes.NewRawValue(name, 1, &ctypes.Options{Lock: l})
	assert.ErrorIs(t, err, ctypes.ErrOptions)
	_, err = ctypes.NewRawArray[int32](name, 1, &ctypes.Options{NoLock: true})
	assert.ErrorIs(t, err, ctypes.ErrOptions)
	_, err = ctypes.NewValue(name, 1, &ctypes.Options{Lock: fakeLock{shm.Handle{Segment: "x", Kind: shm.KindEvent, Version: 1}}})
	assert.ErrorIs(t, err, ctypes.ErrLock, "only a Lock or an RLock can be recorded")
	_, err = ctypes.NewValueIn[int32](nil, 1, nil)
	assert.ErrorIs(t, err, ctypes.ErrOptions)
	_, err = ctypes.NewRawArrayIn[int32](nil, 1)
	assert.ErrorIs(t, err, ctypes.ErrOptions)
	ar, err := shm.NewArena(segName(t, "arena"), 1<<16, nil)
	require.NoError(t, err)
	defer ar.Close()
	_, err = ctypes.NewArrayIn[int32](ar, 4, &ctypes.Options{Populate: true})
	assert.ErrorIs(t, err, ctypes.ErrOptions)
	noLeftovers(t, name)
}

func TestNameTakenLeavesNothing(t *testing.T) {
	name := segName(t)
	raw, err := ctypes.NewRawValue(name, int64(1), nil)
	require.NoError(t, err)
	defer raw.Close()
	_, err = ctypes.NewValue(name, int64(2), nil)
	require.ErrorIs(t, err, shm.ErrExist)
	_, err = shm.Stat(name + ".lock")
	assert.ErrorIs(t, err, shm.ErrNotExist, "the lock made for the failed value is removed")
	assert.Equal(t, int64(1), raw.Load())

	// A name too long to have a ".lock" beside it works raw, and fails
	// clearly synchronized.
	long := strings.Repeat("n", 198)
	t.Cleanup(func() { _ = shm.Unlink(long) })
	_, err = ctypes.NewValue(long, 1, nil)
	assert.ErrorIs(t, err, shm.ErrName)
	r, err := ctypes.NewRawValue(long, 1, nil)
	require.NoError(t, err)
	require.NoError(t, r.Close())
}
