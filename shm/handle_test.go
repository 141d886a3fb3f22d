package shm_test

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHandleText(t *testing.T) {
	h := shm.Handle{Segment: "pool", Offset: 4160, Kind: shm.KindEvent, Version: 2}
	assert.Equal(t, "pool@4160/event/v2", h.String())
	b, err := json.Marshal(map[string]shm.Handle{"h": h})
	require.NoError(t, err)
	assert.JSONEq(t, `{"h":"pool@4160/event/v2"}`, string(b))
	var back map[string]shm.Handle
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, h, back["h"])

	for _, bad := range []string{"", "pool", "pool@x/event/v1", "pool@0/nokind/v1", "pool@0/event/1",
		"po/ol@0/event/v1", "@0/event/v1", "pool@0/arena/v1", "pool@0/any/v1", "pool@3/lock/v1", "pool@0/lock/v1/x"} {
		_, err := shm.ParseHandle(bad)
		assert.ErrorIs(t, err, shm.ErrHandle, "%q", bad)
	}
}

func init() {
	// The child attaches by handle, checks the parent's bytes, writes its
	// own and bumps a counter the parent reads.
	process.Register("shm-attach", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		r, err := shm.Attach(h, 64)
		if err != nil {
			return err
		}
		defer r.Close()
		b := r.Bytes()
		if string(b[8:14]) != "parent" {
			return fmt.Errorf("child read %q", b[8:14])
		}
		copy(b[16:21], "child")
		atomic.AddUint64(shm.Uint64(b, 0), 1)
		return nil
	})
}

func TestAttachByHandleAcrossProcesses(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		r, err := shm.CreateObject(segName(t), shm.KindRaw, 1, 64, nil)
		require.NoError(t, err)
		defer r.Close()
		attachChild(t, r)
	})
	t.Run("arena", func(t *testing.T) {
		a, err := shm.NewArena(segName(t), 4096, nil)
		require.NoError(t, err)
		defer a.Close()
		_, err = a.Alloc(shm.KindRaw, 1, 100, nil) // so the object is not at offset 0 of the data
		require.NoError(t, err)
		r, err := a.Alloc(shm.KindRaw, 1, 64, nil)
		require.NoError(t, err)
		defer r.Close()
		attachChild(t, r)
	})
}

func attachChild(t *testing.T, r *shm.Region) {
	copy(r.Bytes()[8:14], "parent")
	p, err := process.Start("shm-attach", &process.Options{Args: []any{r.Handle()}})
	require.NoError(t, err)
	require.NoError(t, p.Join(t.Context()))
	code, _ := p.ExitCode()
	require.Equal(t, 0, code)
	assert.Equal(t, "child", string(r.Bytes()[16:21]))
	assert.Equal(t, uint64(1), atomic.LoadUint64(shm.Uint64(r.Bytes(), 0)))
}

func TestAttachValidates(t *testing.T) {
	a, err := shm.NewArena(segName(t), 4096, nil)
	require.NoError(t, err)
	defer a.Close()
	r, err := a.Alloc(shm.KindLock, 1, 64, nil)
	require.NoError(t, err)
	defer r.Close()
	h := r.Handle()

	wrongKind := h
	wrongKind.Kind = shm.KindEvent
	_, err = shm.Attach(wrongKind, 8)
	assert.ErrorIs(t, err, shm.ErrKind)

	wrongVersion := h
	wrongVersion.Version = 9
	_, err = shm.Attach(wrongVersion, 8)
	assert.ErrorIs(t, err, shm.ErrVersion)

	wrongOffset := h
	wrongOffset.Offset += 64 * 10
	_, err = shm.Attach(wrongOffset, 8)
	assert.ErrorIs(t, err, shm.ErrHandle)

	_, err = shm.Attach(h, 65)
	assert.ErrorIs(t, err, shm.ErrShort)

	o, err := shm.Attach(h, 64)
	require.NoError(t, err)
	o.Close()

	_, err = a.Attach(shm.Handle{Segment: "other", Kind: shm.KindLock}, 8)
	assert.ErrorIs(t, err, shm.ErrHandle)
}

func TestViewsCheckBoundsAndAlignment(t *testing.T) {
	r, err := shm.CreateObject(segName(t), shm.KindRaw, 1, 64, nil)
	require.NoError(t, err)
	defer r.Close()
	b := r.Bytes()
	assert.PanicsWithValue(t, "shm: view at offset 4 is not 8-byte aligned", func() { shm.Uint64(b, 4) })
	assert.Panics(t, func() { shm.Uint32(b, 64) })
	assert.Panics(t, func() { shm.Uint64(b, -8) })
	assert.Panics(t, func() { shm.Slice[uint64](b, 0, 9) })
	assert.Len(t, shm.Slice[uint64](b, 0, 8), 8)
	type pair struct{ A, B int64 }
	p := shm.Pointer[pair](b, 16)
	p.B = 7
	assert.Equal(t, int64(7), *shm.Int64(b, 24))
}
