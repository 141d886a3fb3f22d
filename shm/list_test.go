package shm_test

import (
	"os"
	"slices"
	"testing"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	// Creates a segment, reports through fd 3, then blocks reading fd 4
	// until the parent closes it (or kills the child).
	process.Register("shm-create-and-hold", func(a *process.Args) error {
		s, err := shm.Create(a.String(0), shm.KindEvent, 1, 64, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		if _, err := a.File(0).Write([]byte("ok")); err != nil {
			return err
		}
		var b [1]byte
		_, _ = a.File(1).Read(b[:])
		return nil
	})
}

// startHolder starts a child that creates name and holds it; it returns once
// the segment exists.
func startHolder(t *testing.T, name string) (p *process.Process, release func()) {
	ready, readyW, err := os.Pipe()
	require.NoError(t, err)
	holdR, hold, err := os.Pipe()
	require.NoError(t, err)
	p, err = process.Start("shm-create-and-hold", &process.Options{Args: []any{name}, Files: []*os.File{readyW, holdR}})
	require.NoError(t, err)
	readyW.Close()
	holdR.Close()
	var b [2]byte
	_, err = ready.Read(b[:])
	require.NoError(t, err, "child did not create the segment")
	ready.Close()
	t.Cleanup(func() { hold.Close(); _ = p.Kill(); _ = p.Join(t.Context()) })
	return p, func() { hold.Close() }
}

func TestLeakFinder(t *testing.T) {
	live, dead, reopened := segName(t, "live"), segName(t, "dead"), segName(t, "reopened")

	pl, _ := startHolder(t, live)
	pd, _ := startHolder(t, dead)
	pr, _ := startHolder(t, reopened)

	for _, p := range []*process.Process{pd, pr} {
		require.NoError(t, p.Kill())
		require.NoError(t, p.Join(t.Context()))
	}
	// The parent maps "reopened" after its creator died.
	s, err := shm.Open(reopened, shm.KindEvent, 1)
	require.NoError(t, err)
	defer s.Close()

	all, err := shm.List()
	require.NoError(t, err)
	byName := map[string]shm.Info{}
	for _, i := range all {
		byName[i.Name] = i
	}

	li := byName[live]
	assert.NoError(t, li.Err)
	assert.Equal(t, shm.KindEvent, li.Kind)
	assert.Equal(t, int32(pl.Pid()), li.Creator.Pid)
	assert.True(t, li.CreatorAlive)
	assert.Contains(t, li.MappedBy, pl.Pid())
	assert.False(t, li.Stale())

	di := byName[dead]
	assert.Equal(t, int32(pd.Pid()), di.Creator.Pid)
	assert.False(t, di.CreatorAlive)
	assert.Empty(t, di.MappedBy)
	assert.True(t, di.Stale(), "creator SIGKILLed and nobody maps it")

	ri := byName[reopened]
	assert.False(t, ri.CreatorAlive)
	assert.True(t, slices.Contains(ri.MappedBy, os.Getpid()))
	assert.False(t, ri.Stale(), "still mapped by a live process")

	one, err := shm.Stat(dead)
	require.NoError(t, err)
	assert.True(t, one.Stale())
	_, err = shm.Stat(segName(t, "missing"))
	assert.ErrorIs(t, err, shm.ErrNotExist)
}

func TestIdentity(t *testing.T) {
	me := shm.Self()
	assert.Equal(t, int32(os.Getpid()), me.Pid)
	assert.NotZero(t, me.Start)
	assert.True(t, me.Alive())
	reused := me
	reused.Start++ // same pid, other start time: a different process
	assert.False(t, reused.Alive())
	assert.False(t, shm.Identity{}.Alive())
	id, err := shm.IdentityOf(os.Getpid())
	require.NoError(t, err)
	assert.Equal(t, me, id)
}
