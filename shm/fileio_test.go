package shm_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
)

// ReadAt and WriteAt move the same bytes Bytes shows, for a standalone
// object and for one inside an arena (whose bytes start at an offset of
// the segment file), with io.ReaderAt's contract at the end and clear
// errors outside.
func TestRegionReadWriteAt(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		r, err := shm.CreateObject(segName(t), shm.KindRaw, 1, 1000, nil)
		require.NoError(t, err)
		defer r.Close()
		testReadWriteAt(t, r)
	})
	t.Run("arena", func(t *testing.T) {
		a, err := shm.NewArena(segName(t), 1<<14, nil)
		require.NoError(t, err)
		defer a.Close()
		before, err := a.Alloc(shm.KindRaw, 1, 100, nil)
		require.NoError(t, err)
		defer before.Close()
		r, err := a.Alloc(shm.KindRaw, 1, 1000, nil)
		require.NoError(t, err)
		defer r.Close()
		after, err := a.Alloc(shm.KindRaw, 1, 100, nil)
		require.NoError(t, err)
		defer after.Close()
		testReadWriteAt(t, r)
		assert.Equal(t, make([]byte, len(before.Bytes())), before.Bytes(), "the object before was not written")
		assert.Equal(t, make([]byte, len(after.Bytes())), after.Bytes(), "the object after was not written")
	})
}

func testReadWriteAt(t *testing.T, r *shm.Region) {
	b := r.Bytes()
	size := len(b)
	require.GreaterOrEqual(t, size, 1000)
	n, err := r.WriteAt([]byte("hello"), 10)
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	assert.Equal(t, "hello", string(b[10:15]), "a write through the file shows in the mapping")
	copy(b[500:], "mapped")
	got := make([]byte, 6)
	n, err = r.ReadAt(got, 500)
	require.NoError(t, err)
	assert.Equal(t, 6, n)
	assert.Equal(t, "mapped", string(got), "a read through the file sees the mapping's bytes")

	// The whole object, and io.ReaderAt's end.
	all := bytes.Repeat([]byte{7}, size)
	_, err = r.WriteAt(all, 0)
	require.NoError(t, err)
	assert.Equal(t, all, b)
	tail := make([]byte, 10)
	n, err = r.ReadAt(tail, int64(size-5))
	assert.Equal(t, 5, n)
	assert.ErrorIs(t, err, io.EOF)
	n, err = r.ReadAt(tail, int64(size))
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF)

	// Out of bounds: an error, and nothing written.
	_, err = r.WriteAt([]byte("xx"), int64(size-1))
	assert.ErrorIs(t, err, shm.ErrSize)
	assert.Equal(t, byte(7), b[size-1])
	_, err = r.WriteAt([]byte("x"), -1)
	assert.ErrorIs(t, err, shm.ErrSize)
	_, err = r.ReadAt(tail, -1)
	assert.ErrorIs(t, err, shm.ErrSize)
	_, err = r.ReadAt(tail, int64(size+1))
	assert.ErrorIs(t, err, shm.ErrSize)
}

// When the name no longer leads to the segment (unlinked, or made again by
// someone else), the copies go through the mapping: still the right bytes,
// and never the other segment's.
func TestRegionReadWriteAtAfterNameChanged(t *testing.T) {
	name := segName(t)
	r, err := shm.CreateObject(name, shm.KindRaw, 1, 64, nil)
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, r.Unlink())
	other, err := shm.CreateObject(name, shm.KindRaw, 1, 64, nil)
	require.NoError(t, err)
	defer other.Close()

	_, err = r.WriteAt([]byte("mine"), 0)
	require.NoError(t, err)
	assert.Equal(t, "mine", string(r.Bytes()[:4]))
	assert.Equal(t, make([]byte, 4), other.Bytes()[:4], "the segment now holding the name is untouched")
	copy(other.Bytes(), "them")
	got := make([]byte, 4)
	_, err = r.ReadAt(got, 0)
	require.NoError(t, err)
	assert.Equal(t, "mine", string(got))
}

func TestRegionReadWriteAtClosed(t *testing.T) {
	r, err := shm.CreateObject(segName(t), shm.KindRaw, 1, 64, nil)
	require.NoError(t, err)
	require.NoError(t, r.Close())
	_, err = r.ReadAt(make([]byte, 4), 0)
	assert.ErrorIs(t, err, shm.ErrClosed)
	_, err = r.WriteAt([]byte("x"), 0)
	assert.ErrorIs(t, err, shm.ErrClosed)
}

func init() {
	// shm-writeat: attach the object and write 0..255 repeating over all
	// of it with WriteAt, in 64 KiB chunks, never touching its pages; exit
	// 3 if that took more minor page faults than a quarter of its pages.
	process.Register("shm-writeat", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		r, err := shm.Attach(h, 1)
		if err != nil {
			return err
		}
		defer r.Close()
		chunk := make([]byte, 64<<10)
		for i := range chunk {
			chunk[i] = byte(i)
		}
		before := minorFaults()
		for off := 0; off < len(r.Bytes()); off += len(chunk) {
			if _, err := r.WriteAt(chunk, int64(off)); err != nil {
				return err
			}
		}
		if faults := minorFaults() - before; faults > int64(len(r.Bytes())/os.Getpagesize()/4) {
			os.Exit(3)
		}
		return nil
	})
}

func minorFaults() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return ru.Minflt
}

// A child fills an 8 MiB object with WriteAt without faulting its pages
// in (its minor faults stay under a quarter of the pages); the parent
// reads every byte back, through the mapping and through ReadAt.
func TestRegionWriteAtAcrossProcesses(t *testing.T) {
	const size = 8 << 20
	r, err := shm.CreateObject(segName(t), shm.KindRaw, 1, size, nil)
	require.NoError(t, err)
	defer r.Close()
	p, err := process.Start("shm-writeat", &process.Options{Args: []any{r.Handle()}})
	require.NoError(t, err)
	require.NoError(t, p.Join(t.Context()))
	code, _ := p.ExitCode()
	require.Equal(t, 0, code, "exit 3: the child faulted the pages in")
	want := make([]byte, 64<<10)
	for i := range want {
		want[i] = byte(i)
	}
	got := make([]byte, len(want))
	for off := 0; off < size; off += len(want) {
		require.Equal(t, want, r.Bytes()[off:off+len(want)], "mapping at %d", off)
		n, err := r.ReadAt(got, int64(off))
		require.False(t, n != len(got) || err != nil && !errors.Is(err, io.EOF), "ReadAt at %d: %d, %v", off, n, err)
		require.Equal(t, want, got, "ReadAt at %d", off)
	}
}
