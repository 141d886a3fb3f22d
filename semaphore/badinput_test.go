package semaphore_test

import (
	"os"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// opener opens a name as one kind of object and closes it.
type opener struct {
	kind shm.Kind
	open func(name string) error
}

func closeIf[T interface{ Close() error }](v T, err error) error {
	if err == nil {
		v.Close()
	}
	return err
}

var openers = []opener{
	{shm.KindLock, func(n string) error { return closeIf(semaphore.OpenLock(n)) }},
	{shm.KindRLock, func(n string) error { return closeIf(semaphore.OpenRLock(n)) }},
	{shm.KindSemaphore, func(n string) error { return closeIf(semaphore.OpenSemaphore(n)) }},
	{shm.KindBoundedSemaphore, func(n string) error { return closeIf(semaphore.OpenBoundedSemaphore(n)) }},
	{shm.KindCondition, func(n string) error { return closeIf(semaphore.OpenCondition(n)) }},
	{shm.KindEvent, func(n string) error { return closeIf(semaphore.OpenEvent(n)) }},
	{shm.KindBarrier, func(n string) error { return closeIf(semaphore.OpenBarrier(n)) }},
}

// makers create one object of each kind under a name.
var makers = map[shm.Kind]func(name string) error{
	shm.KindLock:             func(n string) error { return closeIf(semaphore.NewLock(n)) },
	shm.KindRLock:            func(n string) error { return closeIf(semaphore.NewRLock(n)) },
	shm.KindSemaphore:        func(n string) error { return closeIf(semaphore.NewSemaphore(n, 1)) },
	shm.KindBoundedSemaphore: func(n string) error { return closeIf(semaphore.NewBoundedSemaphore(n, 1)) },
	shm.KindCondition:        func(n string) error { return closeIf(semaphore.NewCondition(n, nil)) },
	shm.KindEvent:            func(n string) error { return closeIf(semaphore.NewEvent(n)) },
	shm.KindBarrier:          func(n string) error { return closeIf(semaphore.NewBarrier(n, 2)) },
}

// Opening a name that holds another kind is shm.ErrKind, for every pair.
func TestWrongKind(t *testing.T) {
	for _, made := range openers {
		name := segName(t, made.kind.String())
		require.NoError(t, makers[made.kind](name))
		for _, o := range openers {
			err := o.open(name)
			if o.kind == made.kind {
				assert.NoError(t, err, "open a %v as itself", made.kind)
			} else {
				assert.ErrorIs(t, err, shm.ErrKind, "open a %v as a %v", made.kind, o.kind)
			}
		}
	}

	// The handle forms check the kind too: a handle of another kind, and
	// a handle that lies about what its segment holds.
	e, err := semaphore.NewEvent(segName(t, "ev"))
	require.NoError(t, err)
	defer e.Close()
	_, err = semaphore.AttachLock(e.Handle())
	assert.ErrorIs(t, err, shm.ErrKind)
	h := e.Handle()
	h.Kind, h.Version = shm.KindLock, semaphore.LayoutVersion(shm.KindLock)
	_, err = semaphore.AttachLock(h)
	assert.ErrorIs(t, err, shm.ErrKind)
}

func TestWrongVersion(t *testing.T) {
	for _, o := range openers {
		name := segName(t, o.kind.String())
		r, err := shm.CreateObject(name, o.kind, 99, 1<<12, nil)
		require.NoError(t, err)
		r.Close()
		assert.ErrorIs(t, o.open(name), shm.ErrVersion, "%v layout version 99", o.kind)
	}
	l, err := semaphore.NewLock(segName(t, "v"))
	require.NoError(t, err)
	defer l.Close()
	h := l.Handle()
	h.Version = semaphore.LayoutVersion(shm.KindLock) + 1
	_, err = semaphore.AttachLock(h)
	assert.ErrorIs(t, err, shm.ErrVersion)
}

func TestTruncated(t *testing.T) {
	// A segment whose payload is too small for the layout.
	for _, o := range openers {
		name := segName(t, o.kind.String())
		r, err := shm.CreateObject(name, o.kind, semaphore.LayoutVersion(o.kind), 8, nil)
		require.NoError(t, err)
		r.Close()
		assert.ErrorIs(t, o.open(name), shm.ErrShort, "%v in 8 bytes", o.kind)
	}
	// A segment file cut short after creation.
	name := segName(t, "cut")
	require.NoError(t, makers[shm.KindBarrier](name))
	require.NoError(t, os.Truncate(shm.Path(name), shm.HeaderSize+16))
	_, err := semaphore.OpenBarrier(name)
	assert.ErrorIs(t, err, shm.ErrShort)
}

func TestInvalidArguments(t *testing.T) {
	name := segName(t)
	for _, parties := range []int{0, -1, semaphore.MaxParties + 1} {
		_, err := semaphore.NewBarrier(name, parties)
		assert.ErrorIs(t, err, semaphore.ErrInvalid, "%d parties", parties)
	}
	for _, v := range []int{-1, -1 << 40, semaphore.SemValueMax + 1} {
		_, err := semaphore.NewSemaphore(name, v)
		assert.ErrorIs(t, err, semaphore.ErrInvalid, "value %d", v)
		_, err = semaphore.NewBoundedSemaphore(name, v)
		assert.ErrorIs(t, err, semaphore.ErrInvalid, "value %d", v)
	}
	_, err := shm.Stat(name)
	assert.ErrorIs(t, err, shm.ErrNotExist, "nothing was created")

	a, err := shm.NewArena(segName(t, "arena"), 4096, nil)
	require.NoError(t, err)
	defer a.Close()
	_, err = semaphore.NewSemaphoreIn(a, -1)
	assert.ErrorIs(t, err, semaphore.ErrInvalid)
	_, err = semaphore.NewBarrierIn(a, 0)
	assert.ErrorIs(t, err, semaphore.ErrInvalid)
	_, err = semaphore.NewLockIn(nil)
	assert.ErrorIs(t, err, semaphore.ErrInvalid)

	// Options a constructor does not take, and nil options.
	_, err = semaphore.NewLock(name, semaphore.WithAction(func() error { return nil }))
	assert.ErrorIs(t, err, semaphore.ErrInvalid)
	_, err = semaphore.OpenBarrier(name, semaphore.WithMode(0o644))
	assert.ErrorIs(t, err, semaphore.ErrInvalid)
	_, err = semaphore.NewEvent(name, nil)
	assert.ErrorIs(t, err, semaphore.ErrInvalid)

	// A typed nil lock for a Condition.
	_, err = semaphore.NewCondition(name, (*semaphore.Lock)(nil))
	assert.ErrorIs(t, err, semaphore.ErrInvalid)

	// Names.
	_, err = semaphore.NewLock("a/b")
	assert.ErrorIs(t, err, shm.ErrName)
	_, err = semaphore.OpenLock(segName(t, "missing"))
	assert.ErrorIs(t, err, shm.ErrNotExist)
	l, err := semaphore.NewLock(name, semaphore.WithMode(0o640))
	require.NoError(t, err)
	defer l.Close()
	fi, err := os.Stat(shm.Path(name))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o640), fi.Mode().Perm())
	_, err = semaphore.NewLock(name)
	assert.ErrorIs(t, err, shm.ErrExist)
}

// Fixed fields that no creator writes are ErrCorrupt, not a crash.
func TestCorrupt(t *testing.T) {
	poke := func(name string, off int, v uint32) {
		s, err := shm.Open(name, shm.KindAny, 0)
		require.NoError(t, err)
		atomic.StoreUint32(shm.Uint32(s.Payload(), off), v)
		s.Close()
	}
	name := segName(t, "barrier")
	require.NoError(t, makers[shm.KindBarrier](name))
	poke(name, 80, 0) // parties
	_, err := semaphore.OpenBarrier(name)
	assert.ErrorIs(t, err, semaphore.ErrCorrupt)
	poke(name, 80, 1000) // more parties than the segment holds
	_, err = semaphore.OpenBarrier(name)
	assert.ErrorIs(t, err, semaphore.ErrCorrupt)

	name = segName(t, "sem")
	require.NoError(t, makers[shm.KindSemaphore](name))
	poke(name, 4, 3) // a limit word in an unbounded semaphore
	_, err = semaphore.OpenSemaphore(name)
	assert.ErrorIs(t, err, semaphore.ErrCorrupt)

	name = segName(t, "cond")
	require.NoError(t, makers[shm.KindCondition](name))
	poke(name, 16, 'x') // the lock handle text
	_, err = semaphore.OpenCondition(name)
	assert.ErrorIs(t, err, semaphore.ErrCorrupt)
	poke(name, 0, 1<<20) // waiter slots
	_, err = semaphore.OpenCondition(name)
	assert.ErrorIs(t, err, semaphore.ErrCorrupt)
}
