//go:build linux

package ctypes_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	process.Register("ctypes-docs-modify", docsModify)
	process.Register("ctypes-locked-incr", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		v, err := ctypes.AttachValue[int64](h)
		if err != nil {
			return err
		}
		defer v.Close()
		for range a.Int(1) {
			if err := v.Do(func(p *int64) error { *p++; return nil }); err != nil {
				return err
			}
		}
		return nil
	})
	process.Register("ctypes-atomic-incr", func(a *process.Args) error {
		var h shm.Handle
		if err := a.Decode(0, &h); err != nil {
			return err
		}
		v, err := ctypes.AttachRawValue[int64](h)
		if err != nil {
			return err
		}
		defer v.Close()
		for range a.Int(1) {
			ctypes.AtomicAdd(v, 1)
		}
		return nil
	})
	process.Register("ctypes-die-holding", dieHolding)
	process.Register("ctypes-survivor", survivor)
}

// docsModify is the child of the Python documentation's sharedctypes
// example:
//
//	def modify(n, x, s, A):
//	    n.value **= 2
//	    x.value **= 2
//	    s.value = s.value.upper()
//	    for a in A:
//	        a.x **= 2
//	        a.y **= 2
func docsModify(a *process.Args) error {
	var hn, hx, hs, hA shm.Handle
	for i, h := range []*shm.Handle{&hn, &hx, &hs, &hA} {
		if err := a.Decode(i, h); err != nil {
			return err
		}
	}
	n, err := ctypes.AttachAnyValue(hn)
	if err != nil {
		return err
	}
	defer n.Close()
	x, err := ctypes.AttachValue[float64](hx)
	if err != nil {
		return err
	}
	defer x.Close()
	s, err := ctypes.AttachAnyArray(hs)
	if err != nil {
		return err
	}
	defer s.Close()
	A, err := ctypes.AttachArray[Point](hA)
	if err != nil {
		return err
	}
	defer A.Close()

	nv, err := n.Get()
	if err != nil {
		return err
	}
	if err := n.Set(nv.(int32) * nv.(int32)); err != nil {
		return err
	}
	if err := x.Do(func(p *float64) error { *p *= *p; return nil }); err != nil {
		return err
	}
	sv, err := s.Value()
	if err != nil {
		return err
	}
	if err := s.SetValue(bytes.ToUpper(sv.([]byte))); err != nil {
		return err
	}
	return A.Do(func(pts []Point) error {
		for i := range pts {
			pts[i].X *= pts[i].X
			pts[i].Y *= pts[i].Y
		}
		return nil
	})
}

// TestPythonDocsExample is the example of Python's sharedctypes
// documentation, across processes:
//
//	lock = Lock()
//	n = Value('i', 7)
//	x = Value(c_double, 1.0/3.0, lock=False)
//	s = Array('c', b'hello world', lock=lock)
//	A = Array(Point, [(1.875,-6.25), (-5.75,2.0), (2.375,9.5)], lock=lock)
//	p = Process(target=modify, args=(n, x, s, A)); p.start(); p.join()
//
// which prints 49, 0.1111111111111111, b'HELLO WORLD' and
// [(3.515625, 39.0625), (33.0625, 4.0), (5.640625, 90.25)].
func TestPythonDocsExample(t *testing.T) {
	t.Run("standalone", func(t *testing.T) {
		lock, err := semaphore.NewLock(segName(t, "lock"))
		require.NoError(t, err)
		defer lock.Close()
		n, err := ctypes.NewValueTypecode(segName(t, "n"), 'i', 7, nil)
		require.NoError(t, err)
		x, err := ctypes.NewValue(segName(t, "x"), 1.0/3.0, &ctypes.Options{NoLock: true})
		require.NoError(t, err)
		s, err := ctypes.NewArrayTypecode(segName(t, "s"), 'c', []byte("hello world"), &ctypes.Options{Lock: lock})
		require.NoError(t, err)
		A, err := ctypes.NewArrayFrom(segName(t, "A"), []Point{{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}}, &ctypes.Options{Lock: lock})
		require.NoError(t, err)
		docsExample(t, n, x, s, A)
	})
	t.Run("arena", func(t *testing.T) {
		ar, err := shm.NewArena(segName(t), 1<<16, nil)
		require.NoError(t, err)
		defer ar.Close()
		lock, err := semaphore.NewLockIn(ar)
		require.NoError(t, err)
		defer lock.Close()
		n, err := ctypes.NewValueTypecodeIn(ar, 'i', 7, nil)
		require.NoError(t, err)
		x, err := ctypes.NewValueIn(ar, 1.0/3.0, &ctypes.Options{NoLock: true})
		require.NoError(t, err)
		s, err := ctypes.NewArrayTypecodeIn(ar, 'c', "hello world", &ctypes.Options{Lock: lock})
		require.NoError(t, err)
		A, err := ctypes.NewArrayFromIn(ar, []Point{{1.875, -6.25}, {-5.75, 2.0}, {2.375, 9.5}}, &ctypes.Options{Lock: lock})
		require.NoError(t, err)
		docsExample(t, n, x, s, A)
	})
}

func docsExample(t *testing.T, n *ctypes.AnyValue, x *ctypes.Value[float64], s *ctypes.AnyArray, A *ctypes.Array[Point]) {
	defer n.Close()
	defer x.Close()
	defer s.Close()
	defer A.Close()
	p, err := process.Start("ctypes-docs-modify", &process.Options{Args: []any{n.Handle(), x.Handle(), s.Handle(), A.Handle()}})
	require.NoError(t, err)
	require.NoError(t, p.Join(t.Context()))
	code, _ := p.ExitCode()
	require.Equal(t, 0, code)

	nv, err := n.Get()
	require.NoError(t, err)
	assert.Equal(t, int32(49), nv)
	xv, err := x.Get()
	require.NoError(t, err)
	assert.Equal(t, "0.1111111111111111", strconv.FormatFloat(xv, 'g', -1, 64))
	sv, err := s.Value()
	require.NoError(t, err)
	assert.Equal(t, []byte("HELLO WORLD"), sv)
	Av, err := A.ToSlice()
	require.NoError(t, err)
	assert.Equal(t, []Point{{3.515625, 39.0625}, {33.0625, 4.0}, {5.640625, 90.25}}, Av)
}

func TestIncrementsAcrossProcesses(t *testing.T) {
	const procs, per = 4, 100_000
	run := func(t *testing.T, fn string, h shm.Handle) {
		var ps []*process.Process
		for range procs {
			p, err := process.Start(fn, &process.Options{Args: []any{h, per}, Daemon: true})
			require.NoError(t, err)
			ps = append(ps, p)
		}
		for _, p := range ps {
			require.NoError(t, p.Join(t.Context()))
			code, _ := p.ExitCode()
			require.Equal(t, 0, code)
		}
	}
	t.Run("locked", func(t *testing.T) {
		v, err := ctypes.NewValue(segName(t), int64(0), nil)
		require.NoError(t, err)
		defer v.Close()
		start := time.Now()
		run(t, "ctypes-locked-incr", v.Handle())
		t.Logf("%d×%d locked increments (default RLock) in %v", procs, per, time.Since(start))
		x, err := v.Get()
		require.NoError(t, err)
		assert.Equal(t, int64(procs*per), x)
	})
	t.Run("atomic", func(t *testing.T) {
		v, err := ctypes.NewRawValue(segName(t), int64(0), nil)
		require.NoError(t, err)
		defer v.Close()
		start := time.Now()
		run(t, "ctypes-atomic-incr", v.Handle())
		t.Logf("%d×%d atomic increments in %v", procs, per, time.Since(start))
		assert.Equal(t, int64(procs*per), ctypes.AtomicLoad(v))
	})
}

// Account's invariant is A+B == 100; a transfer breaks it for a moment.
type Account struct {
	A, B   int64
	Visits int64
}

// dieHolding takes the lock, moves 30 from A (but not yet to B), tells the
// parent, and waits to be killed.
func dieHolding(a *process.Args) error {
	var h shm.Handle
	if err := a.Decode(0, &h); err != nil {
		return err
	}
	v, err := ctypes.AttachValue[Account](h)
	if err != nil {
		return err
	}
	return v.Do(func(p *Account) error {
		p.A -= 30
		if _, err := a.File(0).Write([]byte{1}); err != nil {
			return err
		}
		time.Sleep(time.Minute) // killed long before
		return errors.New("not killed")
	})
}

// survivor waits for the lock, counts its visit, and succeeds only if it
// was told the value may be inconsistent.
func survivor(a *process.Args) error {
	var h shm.Handle
	if err := a.Decode(0, &h); err != nil {
		return err
	}
	v, err := ctypes.AttachValue[Account](h)
	if err != nil {
		return err
	}
	defer v.Close()
	err = v.Do(func(p *Account) error { p.Visits++; return nil })
	if !errors.Is(err, ctypes.ErrOwnerDied) || !v.Inconsistent() {
		return fmt.Errorf("survivor: got %v, inconsistent %v", err, v.Inconsistent())
	}
	return nil
}

func TestHolderKilled(t *testing.T) {
	v, err := ctypes.NewValue(segName(t), Account{A: 100}, nil)
	require.NoError(t, err)
	defer v.Close()

	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	holder, err := process.Start("ctypes-die-holding", &process.Options{Args: []any{v.Handle()}, Files: []*os.File{w}, Daemon: true})
	w.Close()
	require.NoError(t, err)
	require.NoError(t, r.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = r.Read(make([]byte, 1))
	require.NoError(t, err, "the holder took the lock")

	var survivors []*process.Process
	for range 2 {
		p, err := process.Start("ctypes-survivor", &process.Options{Args: []any{v.Handle()}, Daemon: true})
		require.NoError(t, err)
		survivors = append(survivors, p)
	}
	require.NoError(t, holder.Kill())
	require.NoError(t, holder.Join(t.Context()))
	code, _ := holder.ExitCode()
	require.Equal(t, -9, code)
	for _, p := range survivors {
		require.True(t, p.JoinTimeout(30*time.Second), "a survivor is stuck on the dead holder's lock")
		code, _ := p.ExitCode()
		assert.Equal(t, 0, code, "survivor %d was not told the value may be inconsistent", p.Pid())
	}

	// The parent is told too, and sees the half-done transfer.
	x, err := v.Get()
	require.ErrorIs(t, err, ctypes.ErrOwnerDied)
	assert.Contains(t, err.Error(), "may be inconsistent")
	assert.Equal(t, Account{A: 70, B: 0, Visits: 2}, x)
	assert.True(t, v.Inconsistent())

	// Repair, mark consistent: the errors stop, in every process.
	require.NoError(t, v.Do(func(p *Account) error {
		if v.Inconsistent() {
			p.B = 100 - p.A
			v.MarkConsistent()
		}
		return nil
	}))
	x, err = v.Get()
	require.NoError(t, err)
	assert.Equal(t, int64(100), x.A+x.B)
	w2, err := ctypes.AttachValue[Account](v.Handle())
	require.NoError(t, err)
	defer w2.Close()
	assert.False(t, w2.Inconsistent())
	assert.NoError(t, w2.Set(Account{A: 50, B: 50}))
}

// TestHolderKilledSilentTakeover: the survivor takes the lock with the
// plain Lock (which takes a dead holder's lock over without an error); the
// Value's operations inside that holding still report the death.
func TestHolderKilledSilentTakeover(t *testing.T) {
	v, err := ctypes.NewValue(segName(t), Account{A: 100}, nil)
	require.NoError(t, err)
	defer v.Close()
	r, w, err := os.Pipe()
	require.NoError(t, err)
	defer r.Close()
	holder, err := process.Start("ctypes-die-holding", &process.Options{Args: []any{v.Handle()}, Files: []*os.File{w}, Daemon: true})
	w.Close()
	require.NoError(t, err)
	require.NoError(t, r.SetReadDeadline(time.Now().Add(30*time.Second)))
	_, err = r.Read(make([]byte, 1))
	require.NoError(t, err)
	require.NoError(t, holder.Kill())
	require.NoError(t, holder.Join(t.Context()))

	l := v.GetLock()
	l.Lock() // silent takeover
	assert.True(t, l.OwnerDied())
	x, err := v.Get() // the RLock, re-entered
	assert.ErrorIs(t, err, ctypes.ErrOwnerDied)
	assert.Equal(t, int64(70), x.A)
	l.Unlock()
	assert.True(t, v.Inconsistent(), "the mark outlives the holding")
}
