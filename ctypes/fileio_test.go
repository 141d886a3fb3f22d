package ctypes_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
)

func init() {
	// ctypes-writeat: attach a RawArray[float64] and set a[i] = i/2 with
	// WriteAt in chunks of 1,000 elements.
	process.Register("ctypes-writeat", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		arr, err := ctypes.AttachRawArray[float64](h)
		if err != nil {
			return err
		}
		defer arr.Close()
		return fillByChunks(arr, 1000)
	})
}

// fillByChunks sets a[i] = i/2 for every element with WriteAt, chunk
// elements at a time.
func fillByChunks(arr *ctypes.RawArray[float64], chunk int) error {
	buf := make([]float64, chunk)
	for at := 0; at < arr.Len(); at += chunk {
		n := min(chunk, arr.Len()-at)
		for j := range buf[:n] {
			buf[j] = float64(at+j) * 0.5
		}
		if err := arr.WriteAt(buf[:n], at); err != nil {
			return err
		}
	}
	return nil
}

// A child fills a RawArray through WriteAt (the last chunk short); the
// parent sees every element, through Slice and through ReadAt.
func TestRawArrayWriteAtByChild(t *testing.T) {
	const n = 100_003
	arr, err := ctypes.NewRawArray[float64](segName(t), n, nil)
	require.NoError(t, err)
	defer arr.Close()
	p, err := process.Start("ctypes-writeat", &process.Options{Args: []any{arr.Handle()}})
	require.NoError(t, err)
	require.NoError(t, p.Join(t.Context()))
	code, _ := p.ExitCode()
	require.Equal(t, 0, code)
	for i, x := range arr.Slice() {
		if x != float64(i)*0.5 {
			t.Fatalf("a[%d] = %v, want %v", i, x, float64(i)*0.5)
		}
	}
	got := make([]float64, 777)
	for at := 0; at < n; at += len(got) {
		m := min(len(got), n-at)
		require.NoError(t, arr.ReadAt(got[:m], at))
		for j, x := range got[:m] {
			if x != float64(at+j)*0.5 {
				t.Fatalf("ReadAt: a[%d] = %v, want %v", at+j, x, float64(at+j)*0.5)
			}
		}
	}
}

// Structs, and arrays inside an arena (whose data starts at an offset of
// the segment file); bounds and Close.
func TestRawArrayReadWriteAt(t *testing.T) {
	type point struct {
		X, Y int32
		Z    float64
	}
	a, err := shm.NewArena(segName(t), 1<<16, nil)
	require.NoError(t, err)
	defer a.Close()
	pad, err := ctypes.NewRawArrayIn[byte](a, 100)
	require.NoError(t, err)
	defer pad.Close()
	arr, err := ctypes.NewRawArrayIn[point](a, 10)
	require.NoError(t, err)

	require.NoError(t, arr.WriteAt([]point{{1, 2, 3}, {4, 5, 6}}, 8))
	assert.Equal(t, point{1, 2, 3}, arr.At(8))
	assert.Equal(t, point{4, 5, 6}, arr.At(9))
	assert.Equal(t, point{}, arr.At(7))
	arr.Set(0, point{7, 8, 9})
	got := make([]point, 2)
	require.NoError(t, arr.ReadAt(got, 0))
	assert.Equal(t, []point{{7, 8, 9}, {}}, got)
	require.NoError(t, arr.ReadAt(got[:0], 10), "an empty span at the end")

	for _, span := range [][2]int{{-1, 1}, {9, 2}, {11, 0}, {0, 11}} {
		err := arr.WriteAt(make([]point, span[1]), span[0])
		assert.ErrorIs(t, err, ctypes.ErrIndex, "write %v", span)
		err = arr.ReadAt(make([]point, span[1]), span[0])
		assert.ErrorIs(t, err, ctypes.ErrIndex, "read %v", span)
	}
	assert.Equal(t, point{4, 5, 6}, arr.At(9), "a refused write changes nothing")
	assert.Equal(t, make([]byte, 100), pad.Slice(), "the neighbour is untouched")

	require.NoError(t, arr.Close())
	assert.ErrorIs(t, arr.ReadAt(got, 0), shm.ErrClosed)
	assert.ErrorIs(t, arr.WriteAt(got, 0), shm.ErrClosed)
}
