package shm_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// These tests hold the package to what a user of Python's
// multiprocessing.shared_memory relies on: close() twice is harmless,
// operations on a closed object are errors (never a crash), and a file
// that is not a segment is a clear error.

// noPanic runs f and fails the test (instead of crashing the binary) if it
// panics.
func noPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if v := recover(); v != nil {
			t.Errorf("%s panicked: %v", what, v)
		}
	}()
	f()
}

// Closing an Arena twice must not drop a reference that a live Region
// holds: Python's SharedMemory.close() is idempotent, and the Region must
// stay mapped until it is closed itself.
func TestArenaCloseTwiceKeepsRegions(t *testing.T) {
	a, err := shm.NewArena(segName(t), 4096, nil)
	require.NoError(t, err)
	r, err := a.Alloc(shm.KindRaw, 1, 64, nil)
	require.NoError(t, err)
	defer r.Close()
	require.NoError(t, a.Close())
	assert.NoError(t, a.Close(), "closing an arena twice is a no-op")
	assert.NoError(t, a.Close())

	mapped := false
	noPanic(t, "Payload of a segment a live Region holds", func() { mapped = len(r.Segment().Payload()) > 0 })
	require.True(t, mapped, "the region's segment was unmapped by the extra arena Close calls")
	atomic.StoreUint64(shm.Uint64(r.Bytes(), 0), 42)
	assert.Equal(t, uint64(42), atomic.LoadUint64(shm.Uint64(r.Bytes(), 0)))
}

// Every exported accessor of a closed Segment, Region and Arena answers
// (a zero value or ErrClosed) instead of faulting.
func TestAccessorsAfterClose(t *testing.T) {
	t.Run("Segment", func(t *testing.T) {
		name := segName(t)
		s, err := shm.Create(name, shm.KindRaw, 1, 64, nil)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		assert.Equal(t, name, s.Name())
		assert.Equal(t, shm.KindRaw, s.Header().Kind)
		assert.True(t, s.Created())
		noPanic(t, "Payload after Close", func() { assert.Nil(t, s.Payload()) })
		assert.ErrorIs(t, s.Close(), shm.ErrClosed)
		assert.NoError(t, s.Unlink(), "unlink works by name after close, as in Python")
		assert.ErrorIs(t, s.Unlink(), shm.ErrNotExist, "unlink twice: FileNotFoundError")
	})
	t.Run("Region", func(t *testing.T) {
		name := segName(t)
		r, err := shm.CreateObject(name, shm.KindRaw, 1, 64, nil)
		require.NoError(t, err)
		h := r.Handle()
		require.NoError(t, r.Close())
		assert.NoError(t, r.Close())
		assert.Equal(t, h, r.Handle())
		assert.Equal(t, name, r.Segment().Name())
		noPanic(t, "Populate after Close", func() { assert.ErrorIs(t, r.Populate(), shm.ErrClosed) })
		noPanic(t, "Segment().Payload after Close", func() { assert.Nil(t, r.Segment().Payload()) })
		_, err = r.ReadAt(make([]byte, 1), 0)
		assert.ErrorIs(t, err, shm.ErrClosed)
		_, err = r.WriteAt([]byte{1}, 0)
		assert.ErrorIs(t, err, shm.ErrClosed)
		assert.NoError(t, r.Unlink())
	})
	t.Run("Arena", func(t *testing.T) {
		name := segName(t)
		a, err := shm.NewArena(name, 4096, nil)
		require.NoError(t, err)
		r, err := a.Alloc(shm.KindRaw, 1, 64, nil)
		require.NoError(t, err)
		h := r.Handle()
		require.NoError(t, r.Close())
		require.NoError(t, a.Close())
		assert.Equal(t, name, a.Name())
		assert.Equal(t, name, a.Segment().Name())
		noPanic(t, "Alloc after Close", func() {
			_, err := a.Alloc(shm.KindRaw, 1, 64, nil)
			assert.ErrorIs(t, err, shm.ErrClosed)
		})
		noPanic(t, "Attach after Close", func() {
			_, err := a.Attach(h, 1)
			assert.ErrorIs(t, err, shm.ErrClosed)
		})
		noPanic(t, "Blocks after Close", func() { assert.Nil(t, a.Blocks()) })
		assert.NoError(t, a.Close())
		assert.NoError(t, a.Unlink())
	})
	t.Run("Arena with a live Region", func(t *testing.T) {
		// The mapping stays (the Region holds it), but the closed Arena
		// itself no longer allocates, as Python refuses operations on a
		// closed object.
		a, err := shm.NewArena(segName(t), 4096, nil)
		require.NoError(t, err)
		r, err := a.Alloc(shm.KindRaw, 1, 64, nil)
		require.NoError(t, err)
		defer r.Close()
		require.NoError(t, a.Close())
		_, err = a.Alloc(shm.KindRaw, 1, 64, nil)
		assert.ErrorIs(t, err, shm.ErrClosed)
		_, err = a.Attach(r.Handle(), 1)
		assert.ErrorIs(t, err, shm.ErrClosed)
		assert.Nil(t, a.Blocks())
	})
}

// writeHeader writes a published header claiming payload bytes into a file
// of fileSize bytes named name.
func writeForeign(t *testing.T, name string, payload uint64, fileSize int) {
	t.Helper()
	buf := make([]byte, fileSize)
	copy(buf, "MPROC\x00\x01\x00") // the published magic, format 1
	binary.LittleEndian.PutUint32(buf[8:], 1)
	binary.LittleEndian.PutUint32(buf[12:], uint32(shm.KindRaw))
	binary.LittleEndian.PutUint64(buf[16:], payload)
	require.NoError(t, os.WriteFile(shm.Path(name), buf, 0o600))
}

// A header whose payload size overflows when the header size is added must
// be ErrShort, not a segment whose Payload panics.
func TestOpenHeaderPayloadOverflow(t *testing.T) {
	for _, payload := range []uint64{^uint64(0), ^uint64(0) - shm.HeaderSize + 1, 1 << 63} {
		t.Run(fmt.Sprint(payload), func(t *testing.T) {
			name := segName(t)
			writeForeign(t, name, payload, 256)
			var err error
			noPanic(t, "Open", func() {
				var s *shm.Segment
				s, err = shm.Open(name, shm.KindAny, 0)
				if err == nil {
					_ = s.Payload()
					s.Close()
				}
			})
			assert.ErrorIs(t, err, shm.ErrShort)
			info, err := shm.Stat(name)
			require.NoError(t, err)
			assert.ErrorIs(t, info.Err, shm.ErrShort)
		})
	}
	// The same header over a file that is long enough opens.
	name := segName(t)
	writeForeign(t, name, 128, 256)
	s, err := shm.Open(name, shm.KindRaw, 1)
	require.NoError(t, err)
	assert.Len(t, s.Payload(), 128)
	s.Close()
}

// A zero-filled file under an mproc name (what Python's
// SharedMemory(create=True) leaves, for one) records no creator: Open says
// so, and at once when the file has been that way for longer than a
// creator takes, rather than waiting the full publish timeout again for a
// creator that does not exist.
func TestOpenZeroFilledFile(t *testing.T) {
	name := segName(t)
	require.NoError(t, os.WriteFile(shm.Path(name), make([]byte, 4096), 0o600))
	old := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(shm.Path(name), old, old))
	start := time.Now()
	_, err := shm.Open(name, shm.KindAny, 0)
	elapsed := time.Since(start)
	assert.ErrorIs(t, err, shm.ErrIncomplete)
	assert.ErrorContains(t, err, "no creator recorded")
	assert.Less(t, elapsed, 2*time.Second, "Open waited for a creator that was never recorded")
	var se *shm.Error
	require.True(t, errors.As(err, &se))
	assert.Equal(t, "open", se.Op)
}

// A directory under a segment's name is not a segment: Open says
// ErrNotMproc, and Unlink refuses to remove it, as shm_unlink(3) (which
// Python's SharedMemory.unlink calls) fails on a directory.
func TestDirectoryUnderSegmentName(t *testing.T) {
	name := segName(t)
	require.NoError(t, os.Mkdir(shm.Path(name), 0o700))
	t.Cleanup(func() { _ = os.Remove(shm.Path(name)) })
	_, err := shm.Open(name, shm.KindAny, 0)
	assert.ErrorIs(t, err, shm.ErrNotMproc)
	err = shm.Unlink(name)
	assert.ErrorIs(t, err, shm.ErrNotMproc)
	fi, statErr := os.Stat(shm.Path(name))
	require.NoError(t, statErr, "Unlink removed a directory")
	assert.True(t, fi.IsDir())
}

// TestArenaCloseDuringAlloc: an Arena closed while other goroutines
// allocate from it and attach to it. Each call either fails with
// ErrClosed or returns a Region that stays mapped until it is closed
// (written and read back here); none reads a directory that Close
// unmapped under it (a fault that kills the process). Found in review:
// the closed check came before the reference was taken.
func TestArenaCloseDuringAlloc(t *testing.T) {
	for round := 0; round < 50; round++ {
		a, err := shm.NewArena(segName(t), 1<<16, nil)
		require.NoError(t, err)
		first, err := a.Alloc(shm.KindRaw, 1, 64, nil)
		require.NoError(t, err)
		h := first.Handle()
		require.NoError(t, first.Close())
		results := make(chan error, 8)
		for g := 0; g < 4; g++ {
			go func() {
				for i := 0; i < 2; i++ {
					var r *shm.Region
					var err error
					if i == 0 {
						r, err = a.Alloc(shm.KindRaw, 1, 64, nil)
					} else {
						r, err = a.Attach(h, 64)
					}
					if err != nil {
						if !errors.Is(err, shm.ErrClosed) {
							results <- err
							continue
						}
						results <- nil
						continue
					}
					atomic.StoreUint64(shm.Uint64(r.Bytes(), 0), uint64(round))
					if got := atomic.LoadUint64(shm.Uint64(r.Bytes(), 0)); got != uint64(round) {
						results <- fmt.Errorf("read back %d, wrote %d", got, round)
						r.Close()
						continue
					}
					results <- r.Close()
				}
			}()
		}
		require.NoError(t, a.Close())
		for i := 0; i < 8; i++ {
			assert.NoError(t, <-results)
		}
		require.NoError(t, shm.Unlink(h.Segment))
	}
}
