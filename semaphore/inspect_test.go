package semaphore_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// inspectName returns a segment name unique to this test, removed (with a
// condition's lock) when the test ends.
func inspectName(t *testing.T, suffix string) string {
	n := fmt.Sprintf("test-%d-inspect-%s-%s", os.Getpid(), unsafeChars.ReplaceAllString(t.Name(), "_"), suffix)
	t.Cleanup(func() { _ = shm.Unlink(n); _ = shm.Unlink(n + ".lock") })
	return n
}

// inspect attaches h and decodes it, checking that decoding changed no
// byte of the object (nothing else may use the object meanwhile).
func inspect(t *testing.T, h shm.Handle) semaphore.State {
	t.Helper()
	return inspectObject(t, h, true)
}

// inspectObject attaches h and decodes it; quiet says nothing else uses
// the object, so its bytes must not change.
func inspectObject(t *testing.T, h shm.Handle, quiet bool) semaphore.State {
	t.Helper()
	r, err := shm.Attach(h, 0)
	require.NoError(t, err)
	defer r.Close()
	before := slices.Clone(r.Bytes())
	st, err := semaphore.Inspect(r)
	require.NoError(t, err)
	if quiet {
		require.Equal(t, before, r.Bytes(), "Inspect changed the object")
	}
	require.Equal(t, h.Kind, st.Kind)
	return st
}

// eventually polls the state of h, which other goroutines are using,
// until ok accepts it (bounded).
func eventually(t *testing.T, h shm.Handle, ok func(semaphore.State) bool) semaphore.State {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := inspectObject(t, h, false)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("state never reached: %+v", st)
		}
		time.Sleep(time.Millisecond)
	}
}

func init() {
	// Locks the Lock args[0] names, writes "ok" to fd 3, then blocks
	// until killed.
	process.Register("semaphore-inspect-hold", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		l, err := semaphore.AttachLock(h)
		if err != nil {
			return err
		}
		l.Lock()
		if _, err := a.File(0).Write([]byte("ok")); err != nil {
			return err
		}
		select {}
	})
}

func TestInspectLock(t *testing.T) {
	l, err := semaphore.NewLock(inspectName(t, "lock"))
	require.NoError(t, err)
	defer l.Close()
	me := shm.Self()

	st := inspect(t, l.Handle())
	require.NotNil(t, st.Lock)
	assert.Equal(t, semaphore.LockState{}, *st.Lock, "a new lock is unlocked and never owned")

	l.Lock()
	st = inspect(t, l.Handle())
	assert.True(t, st.Lock.Locked)
	assert.Equal(t, semaphore.Process{Identity: me, Alive: true}, st.Lock.Holder)
	assert.Equal(t, semaphore.Process{Identity: me, Alive: true}, st.Lock.LastOwner)
	assert.False(t, st.Lock.Waiters)
	l.Unlock()

	st = inspect(t, l.Handle())
	assert.False(t, st.Lock.Locked)
	assert.Zero(t, st.Lock.Holder)
	assert.Equal(t, me, st.Lock.LastOwner.Identity, "the owner word outlives the holding")

	// A waiter sets the waiters bit before it sleeps.
	l.Lock()
	got := make(chan struct{})
	go func() { l.Lock(); l.Unlock(); close(got) }()
	eventually(t, l.Handle(), func(s semaphore.State) bool { return s.Lock.Waiters })
	l.Unlock()
	<-got
}

func TestInspectLockDeadHolder(t *testing.T) {
	l, err := semaphore.NewLock(inspectName(t, "lock"))
	require.NoError(t, err)
	defer l.Close()
	ready, readyW, err := os.Pipe()
	require.NoError(t, err)
	p, err := process.Start("semaphore-inspect-hold", &process.Options{Args: []any{l.Handle()}, Files: []*os.File{readyW}})
	require.NoError(t, err)
	readyW.Close()
	var b [2]byte
	_, err = ready.Read(b[:])
	ready.Close()
	require.NoError(t, err)
	st := inspect(t, l.Handle())
	assert.True(t, st.Lock.Locked)
	assert.Equal(t, int32(p.Pid()), st.Lock.Holder.Pid)
	assert.True(t, st.Lock.Holder.Alive)

	require.NoError(t, p.Kill())
	require.NoError(t, p.Join(context.Background()))
	st = inspect(t, l.Handle())
	assert.True(t, st.Lock.Locked, "nobody took the lock over")
	assert.Equal(t, int32(p.Pid()), st.Lock.Holder.Pid)
	assert.NotZero(t, st.Lock.Holder.Start, "the owner word gives the start time")
	assert.False(t, st.Lock.Holder.Alive)
	assert.False(t, st.Lock.OwnerDied)
}

func TestInspectRLock(t *testing.T) {
	l, err := semaphore.NewRLock(inspectName(t, "rlock"))
	require.NoError(t, err)
	defer l.Close()
	l.Lock()
	l.Lock()
	st := inspect(t, l.Handle())
	assert.True(t, st.Lock.Locked)
	assert.Equal(t, uint32(2), st.Lock.Depth)
	assert.NotZero(t, st.Lock.Goroutine)
	assert.Equal(t, int32(os.Getpid()), st.Lock.Holder.Pid)
	l.Unlock()
	l.Unlock()
	st = inspect(t, l.Handle())
	assert.False(t, st.Lock.Locked)
	assert.Zero(t, st.Lock.Depth)
	assert.Zero(t, st.Lock.Goroutine)
}

func TestInspectSemaphore(t *testing.T) {
	s, err := semaphore.NewSemaphore(inspectName(t, "sem"), 3)
	require.NoError(t, err)
	defer s.Close()
	require.True(t, s.TryAcquire())
	st := inspect(t, s.Handle())
	assert.Equal(t, semaphore.SemaphoreState{Value: 2}, *st.Semaphore)

	bs, err := semaphore.NewBoundedSemaphore(inspectName(t, "bounded"), 1)
	require.NoError(t, err)
	defer bs.Close()
	require.True(t, bs.TryAcquire())
	st = inspect(t, bs.Handle())
	assert.Equal(t, semaphore.SemaphoreState{Value: 0, Bound: 1}, *st.Semaphore)

	// An acquirer waiting for a permit shows as a sleeper.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- bs.Acquire(ctx) }()
	eventually(t, bs.Handle(), func(s semaphore.State) bool { return s.Semaphore.Sleepers == 1 })
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)
	st = inspect(t, bs.Handle())
	assert.Zero(t, st.Semaphore.Sleepers)
}

func TestInspectEvent(t *testing.T) {
	e, err := semaphore.NewEvent(inspectName(t, "event"))
	require.NoError(t, err)
	defer e.Close()
	assert.Equal(t, semaphore.EventState{}, *inspect(t, e.Handle()).Event)
	e.Set()
	e.Set() // setting a set event changes nothing
	assert.Equal(t, semaphore.EventState{Set: true, Generation: 1}, *inspect(t, e.Handle()).Event)
	e.Clear()
	assert.Equal(t, semaphore.EventState{Set: false, Generation: 1}, *inspect(t, e.Handle()).Event)
}

func TestInspectCondition(t *testing.T) {
	name := inspectName(t, "cond")
	c, err := semaphore.NewCondition(name, nil, semaphore.WithMaxWaiters(4))
	require.NoError(t, err)
	defer c.Close()
	st := inspect(t, c.Handle())
	require.NotNil(t, st.Condition)
	assert.Equal(t, c.Locker().Handle(), st.Condition.Lock)
	assert.Equal(t, shm.KindRLock, st.Condition.Lock.Kind)
	assert.True(t, st.Condition.OwnsLock)
	assert.Equal(t, uint32(4), st.Condition.Slots)
	assert.Empty(t, st.Condition.Waiters)

	woke := make(chan error)
	go func() {
		c.Lock()
		ok, err := c.Wait(context.Background())
		if err == nil && !ok {
			err = fmt.Errorf("Wait returned false")
		}
		if err == nil {
			err = c.Locker().(*semaphore.RLock).Release()
		}
		woke <- err
	}()
	st = eventually(t, c.Handle(), func(s semaphore.State) bool { return len(s.Condition.Waiters) == 1 })
	assert.Equal(t, uint32(1), st.Condition.Pending)
	assert.Equal(t, int32(os.Getpid()), st.Condition.Waiters[0].Pid)
	assert.True(t, st.Condition.Waiters[0].Alive)
	c.Lock()
	require.NoError(t, c.Notify(1))
	c.Unlock()
	require.NoError(t, <-woke)
	st = inspect(t, c.Handle())
	assert.Zero(t, st.Condition.Pending)
	assert.Empty(t, st.Condition.Waiters)
}

func TestInspectBarrier(t *testing.T) {
	b, err := semaphore.NewBarrier(inspectName(t, "barrier"), 3, semaphore.WithTimeout(time.Minute))
	require.NoError(t, err)
	defer b.Close()
	st := inspect(t, b.Handle())
	assert.Equal(t, uint32(3), st.Barrier.Parties)
	assert.Equal(t, time.Minute, st.Barrier.Timeout)
	assert.Zero(t, st.Barrier.Waiting)
	assert.False(t, st.Barrier.Broken)

	done := make(chan error)
	go func() { _, err := b.Wait(context.Background()); done <- err }()
	st = eventually(t, b.Handle(), func(s semaphore.State) bool { return s.Barrier.Waiting == 1 })
	require.Len(t, st.Barrier.Arrived, 1)
	assert.Equal(t, semaphore.Process{Identity: shm.Self(), Alive: true}, st.Barrier.Arrived[0])
	assert.Zero(t, st.Barrier.Generation)

	require.NoError(t, b.Abort())
	require.ErrorIs(t, <-done, semaphore.ErrBrokenBarrier)
	st = inspect(t, b.Handle())
	assert.True(t, st.Barrier.Broken)
	assert.Equal(t, uint32(1), st.Barrier.Generation, "the break ended generation 0")
	assert.False(t, st.Barrier.Lock.Locked)
}

func TestInspectWrongObject(t *testing.T) {
	r, err := shm.CreateObject(inspectName(t, "raw"), shm.KindRaw, 1, 64, nil)
	require.NoError(t, err)
	defer r.Close()
	_, err = semaphore.Inspect(r)
	assert.ErrorIs(t, err, shm.ErrKind)

	v2, err := shm.CreateObject(inspectName(t, "v2"), shm.KindLock, semaphore.LayoutVersion(shm.KindLock)+1, 64, nil)
	require.NoError(t, err)
	defer v2.Close()
	_, err = semaphore.Inspect(v2)
	assert.ErrorIs(t, err, shm.ErrVersion)

	short, err := shm.CreateObject(inspectName(t, "short"), shm.KindBarrier, semaphore.LayoutVersion(shm.KindBarrier), 64, nil)
	require.NoError(t, err)
	defer short.Close()
	_, err = semaphore.Inspect(short)
	assert.ErrorIs(t, err, shm.ErrShort)

	zero, err := shm.CreateObject(inspectName(t, "zero"), shm.KindBarrier, semaphore.LayoutVersion(shm.KindBarrier), 4096, nil)
	require.NoError(t, err)
	defer zero.Close()
	_, err = semaphore.Inspect(zero)
	assert.ErrorIs(t, err, semaphore.ErrCorrupt, "a barrier of 0 parties")

	assert.Zero(t, semaphore.LayoutVersion(shm.KindQueue))
}

// Inspect shows who holds a lock, without touching it.
func ExampleInspect() {
	name := fmt.Sprintf("example-inspect-%d", os.Getpid())
	l, err := semaphore.NewLock(name)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Unlink()
	defer l.Close()
	l.Lock()
	defer l.Unlock()

	r, err := shm.Attach(l.Handle(), 0) // what a tool does, from any process
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()
	st, err := semaphore.Inspect(r)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Kind, st.Lock.Locked, st.Lock.Holder.Pid == int32(os.Getpid()), st.Lock.Holder.Alive)
	fmt.Println("layout version", semaphore.LayoutVersion(shm.KindLock))
	// Output:
	// lock true true true
	// layout version 2
}
