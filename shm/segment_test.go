package shm_test

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCreateOpenRoundTrip(t *testing.T) {
	name := segName(t)
	s, err := shm.Create(name, shm.KindRaw, 3, 100, &shm.CreateOptions{Init: func(p []byte) error {
		copy(p, "hello")
		return nil
	}})
	require.NoError(t, err)
	defer s.Close()
	assert.True(t, s.Created())
	assert.Len(t, s.Payload(), 100)
	h := s.Header()
	assert.Equal(t, shm.KindRaw, h.Kind)
	assert.Equal(t, uint32(3), h.Version)
	assert.Equal(t, shm.Self(), h.Creator)

	o, err := shm.Open(name, shm.KindRaw, 3)
	require.NoError(t, err)
	defer o.Close()
	assert.False(t, o.Created())
	assert.Equal(t, "hello", string(o.Payload()[:5]))
	o.Payload()[10] = 42
	assert.Equal(t, byte(42), s.Payload()[10], "two mappings of one segment share memory")

	fi, err := os.Stat(shm.Path(name))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}

func TestModeIsExact(t *testing.T) {
	name := segName(t)
	s, err := shm.Create(name, shm.KindRaw, 1, 8, &shm.CreateOptions{Mode: 0o666})
	require.NoError(t, err)
	defer s.Close()
	fi, err := os.Stat(shm.Path(name))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o666), fi.Mode().Perm(), "umask must not narrow the requested mode")
}

func TestOpenOrCreate(t *testing.T) {
	name := segName(t)
	opts := &shm.CreateOptions{OpenOrCreate: true}
	a, err := shm.Create(name, shm.KindRaw, 1, 64, opts)
	require.NoError(t, err)
	defer a.Close()
	b, err := shm.Create(name, shm.KindRaw, 1, 64, opts)
	require.NoError(t, err)
	defer b.Close()
	assert.True(t, a.Created())
	assert.False(t, b.Created())
	_, err = shm.Create(name, shm.KindRaw, 1, 128, opts)
	assert.ErrorIs(t, err, shm.ErrShort, "existing segment smaller than asked")
	_, err = shm.Create(name, shm.KindLock, 1, 64, opts)
	assert.ErrorIs(t, err, shm.ErrKind)
}

func TestErrors(t *testing.T) {
	t.Run("not exist", func(t *testing.T) {
		_, err := shm.Open(segName(t), shm.KindAny, 0)
		assert.ErrorIs(t, err, shm.ErrNotExist)
		assert.ErrorIs(t, err, fs.ErrNotExist)
		var se *shm.Error
		require.ErrorAs(t, err, &se)
		assert.Equal(t, "open", se.Op)
	})
	t.Run("exist", func(t *testing.T) {
		name := segName(t)
		s, err := shm.Create(name, shm.KindRaw, 1, 8, nil)
		require.NoError(t, err)
		defer s.Close()
		_, err = shm.Create(name, shm.KindRaw, 1, 8, nil)
		assert.ErrorIs(t, err, shm.ErrExist)
		assert.ErrorIs(t, err, fs.ErrExist)
	})
	t.Run("bad magic", func(t *testing.T) {
		name := segName(t)
		require.NoError(t, os.WriteFile(shm.Path(name), []byte(strings.Repeat("garbage!", 64)), 0o600))
		_, err := shm.Open(name, shm.KindAny, 0)
		assert.ErrorIs(t, err, shm.ErrNotMproc)
	})
	t.Run("version", func(t *testing.T) {
		name := segName(t)
		s, err := shm.Create(name, shm.KindEvent, 1, 8, nil)
		require.NoError(t, err)
		defer s.Close()
		_, err = shm.Open(name, shm.KindEvent, 2)
		assert.ErrorIs(t, err, shm.ErrVersion)
	})
	t.Run("kind", func(t *testing.T) {
		name := segName(t)
		s, err := shm.Create(name, shm.KindLock, 1, 8, nil)
		require.NoError(t, err)
		defer s.Close()
		_, err = shm.Open(name, shm.KindEvent, 1)
		assert.ErrorIs(t, err, shm.ErrKind)
		_, err = shm.OpenObject(name, shm.KindEvent, 1, 8)
		assert.ErrorIs(t, err, shm.ErrKind)
	})
	t.Run("short", func(t *testing.T) {
		name := segName(t)
		s, err := shm.Create(name, shm.KindRaw, 1, 4096, nil)
		require.NoError(t, err)
		s.Close()
		require.NoError(t, os.Truncate(shm.Path(name), shm.HeaderSize+100))
		_, err = shm.Open(name, shm.KindRaw, 1)
		assert.ErrorIs(t, err, shm.ErrShort)
		require.NoError(t, os.Truncate(shm.Path(name), 20))
		_, err = shm.Open(name, shm.KindRaw, 1)
		assert.ErrorIs(t, err, shm.ErrShort)
	})
	t.Run("object too small", func(t *testing.T) {
		name := segName(t)
		s, err := shm.CreateObject(name, shm.KindRaw, 1, 8, nil)
		require.NoError(t, err)
		defer s.Close()
		_, err = shm.OpenObject(name, shm.KindRaw, 1, 64)
		assert.ErrorIs(t, err, shm.ErrShort)
	})
	t.Run("names", func(t *testing.T) {
		for _, bad := range []string{"", "a/b", "..", "../x", ".hidden", "nul\x00x", "sp ace", "at@x", strings.Repeat("x", shm.MaxNameLen+1)} {
			_, err := shm.Create(bad, shm.KindRaw, 1, 8, nil)
			assert.ErrorIs(t, err, shm.ErrName, "%q", bad)
			_, err = shm.Open(bad, shm.KindAny, 0)
			assert.ErrorIs(t, err, shm.ErrName, "%q", bad)
			assert.ErrorIs(t, shm.Unlink(bad), shm.ErrName, "%q", bad)
		}
		assert.NoError(t, shm.ValidateName(strings.Repeat("x", shm.MaxNameLen)))
	})
	t.Run("sizes and kinds", func(t *testing.T) {
		_, err := shm.Create(segName(t), shm.KindRaw, 1, 0, nil)
		assert.ErrorIs(t, err, shm.ErrSize)
		_, err = shm.Create(segName(t), shm.KindRaw, 1, -5, nil)
		assert.ErrorIs(t, err, shm.ErrSize)
		_, err = shm.Create(segName(t), shm.KindAny, 1, 8, nil)
		assert.ErrorIs(t, err, shm.ErrKind)
	})
	t.Run("incomplete", func(t *testing.T) {
		// A header whose magic was never published, by a creator that no
		// longer exists (pid above pid_max).
		name := segName(t)
		buf := make([]byte, 256)
		binary.LittleEndian.PutUint32(buf[24:], 1<<30)
		require.NoError(t, os.WriteFile(shm.Path(name), buf, 0o600))
		_, err := shm.Open(name, shm.KindAny, 0)
		assert.ErrorIs(t, err, shm.ErrIncomplete)
		// OpenOrCreate clears such a leftover and creates anew.
		s, err := shm.Create(name, shm.KindRaw, 1, 8, &shm.CreateOptions{OpenOrCreate: true})
		require.NoError(t, err)
		assert.True(t, s.Created())
		s.Close()
	})
	t.Run("init error", func(t *testing.T) {
		name := segName(t)
		boom := errors.New("boom")
		_, err := shm.Create(name, shm.KindRaw, 1, 8, &shm.CreateOptions{Init: func([]byte) error { return boom }})
		assert.ErrorIs(t, err, boom)
		_, err = os.Stat(shm.Path(name))
		assert.ErrorIs(t, err, fs.ErrNotExist, "a failed create leaves no file")
	})
	t.Run("close twice", func(t *testing.T) {
		s, err := shm.Create(segName(t), shm.KindRaw, 1, 8, nil)
		require.NoError(t, err)
		require.NoError(t, s.Close())
		assert.ErrorIs(t, s.Close(), shm.ErrClosed)
	})
}

func init() {
	process.Register("shm-open-as-nobody", func(a *process.Args) error {
		if err := setUID(65534); err != nil {
			return err
		}
		_, err := shm.Open(a.String(0), shm.KindAny, 0)
		if errors.Is(err, shm.ErrPermission) && errors.Is(err, fs.ErrPermission) {
			os.Exit(7)
		}
		return err
	})
}

func TestPermissionDenied(t *testing.T) {
	name := segName(t)
	s, err := shm.Create(name, shm.KindRaw, 1, 8, nil) // 0600, owned by us
	require.NoError(t, err)
	defer s.Close()
	if os.Geteuid() != 0 {
		require.NoError(t, os.Chmod(shm.Path(name), 0))
		_, err := shm.Open(name, shm.KindAny, 0)
		assert.ErrorIs(t, err, shm.ErrPermission)
		return
	}
	// root bypasses file modes: open from a child that dropped to nobody.
	p, err := process.Start("shm-open-as-nobody", &process.Options{Args: []any{name}})
	require.NoError(t, err)
	require.NoError(t, p.Join(t.Context()))
	code, _ := p.ExitCode()
	assert.Equal(t, 7, code, "child must see ErrPermission")
}

func TestSharedAcrossMappingsIsAtomic(t *testing.T) {
	name := segName(t)
	r, err := shm.CreateObject(name, shm.KindRaw, 1, 64, nil)
	require.NoError(t, err)
	defer r.Close()
	o, err := shm.Attach(r.Handle(), 8)
	require.NoError(t, err)
	defer o.Close()
	atomic.AddUint64(shm.Uint64(r.Bytes(), 0), 5)
	atomic.AddUint64(shm.Uint64(o.Bytes(), 0), 7)
	assert.Equal(t, uint64(12), atomic.LoadUint64(shm.Uint64(r.Bytes(), 0)))
}
