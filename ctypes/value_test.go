//go:build linux

package ctypes_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestValueDefaultRLock(t *testing.T) {
	name := segName(t)
	v, err := ctypes.NewValue(name, Point{1, 2}, nil)
	require.NoError(t, err)
	defer v.Close()

	l, ok := v.GetLock().(*semaphore.RLock)
	require.True(t, ok, "default lock is an RLock, got %T", v.GetLock())
	assert.Equal(t, shm.Handle{Segment: name + ".lock", Kind: shm.KindRLock, Version: semaphore.LayoutVersion(shm.KindRLock)}, l.Handle())

	x, err := v.Get()
	require.NoError(t, err)
	assert.Equal(t, Point{1, 2}, x)
	require.NoError(t, v.Set(Point{3, 4}))
	require.NoError(t, v.Do(func(p *Point) error {
		assert.True(t, l.Locked(), "Do holds the lock")
		p.X *= 10
		// The default RLock is re-entrant, as in Python.
		y, err := v.Get()
		assert.NoError(t, err)
		assert.Equal(t, Point{30, 4}, y)
		return nil
	}))
	assert.False(t, l.Locked())
	boom := errors.New("boom")
	assert.Equal(t, boom, v.Do(func(*Point) error { return boom }))
	assert.Panics(t, func() { _ = v.Do(func(*Point) error { panic("in f") }) })
	assert.False(t, l.Locked(), "released after a panic in f")

	// Another opening attaches the same lock.
	w, err := ctypes.OpenValue[Point](name)
	require.NoError(t, err)
	defer w.Close()
	assert.Equal(t, l.Handle(), w.GetLock().Handle())
	wx, err := w.Get()
	require.NoError(t, err)
	assert.Equal(t, Point{30, 4}, wx)
	assert.Same(t, w.GetObj(), w.GetObj())
	assert.Equal(t, Point{30, 4}, w.GetObj().Load())

	// Unlink removes the value and the lock it made.
	require.NoError(t, v.Unlink())
	_, err = shm.Stat(name + ".lock")
	assert.ErrorIs(t, err, shm.ErrNotExist)
}

func TestValueExclusion(t *testing.T) {
	// Goroutines of one process exclude each other too (the RLock's owner
	// is a goroutine), so a read-modify-write under Do is exact.
	v, err := ctypes.NewValue(segName(t), int64(0), nil)
	require.NoError(t, err)
	defer v.Close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				assert.NoError(t, v.Do(func(p *int64) error { *p++; return nil }))
			}
		})
	}
	wg.Wait()
	x, err := v.Get()
	require.NoError(t, err)
	assert.Equal(t, int64(8000), x)
}

func TestValueCallerLockAndNoLock(t *testing.T) {
	lock, err := semaphore.NewLock(segName(t, "lock"))
	require.NoError(t, err)
	defer lock.Close()
	a, err := ctypes.NewValue(segName(t, "a"), int32(1), &ctypes.Options{Lock: lock})
	require.NoError(t, err)
	b, err := ctypes.NewArray[int32](segName(t, "b"), 4, &ctypes.Options{Lock: lock})
	require.NoError(t, err)
	assert.Same(t, lock, a.GetLock())
	assert.Same(t, lock, b.GetLock())
	lock.Lock()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	ran := false
	err = a.DoContext(ctx, func(*int32) error { ran = true; return nil })
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.False(t, ran, "f does not run without the lock")
	lock.Unlock()
	require.NoError(t, a.Close())
	require.NoError(t, b.Close())
	assert.True(t, lock.TryLock(), "closing the objects leaves the caller's lock open")
	lock.Unlock()

	// Reopened, they attach the caller's lock by its recorded handle.
	a2, err := ctypes.OpenValue[int32](segName(t, "a"))
	require.NoError(t, err)
	defer a2.Close()
	assert.Equal(t, lock.Handle(), a2.GetLock().Handle())
	_, isLock := a2.GetLock().(*semaphore.Lock)
	assert.True(t, isLock)

	n, err := ctypes.NewValue(segName(t, "n"), 2.5, &ctypes.Options{NoLock: true})
	require.NoError(t, err)
	defer n.Close()
	assert.Nil(t, n.GetLock())
	require.NoError(t, n.Set(3.5))
	x, err := n.Get()
	require.NoError(t, err)
	assert.Equal(t, 3.5, x)
	n2, err := ctypes.OpenValue[float64](segName(t, "n"))
	require.NoError(t, err)
	defer n2.Close()
	assert.Nil(t, n2.GetLock(), "a value made without a lock opens without one")
}

func TestValueInArena(t *testing.T) {
	ar, err := shm.NewArena(segName(t), 1<<16, nil)
	require.NoError(t, err)
	defer ar.Close()
	v, err := ctypes.NewValueIn(ar, uint64(7), nil)
	require.NoError(t, err)
	defer v.Close()
	assert.Equal(t, ar.Name(), v.GetLock().Handle().Segment, "the default lock lives in the same arena")
	w, err := ctypes.AttachValue[uint64](v.Handle())
	require.NoError(t, err)
	defer w.Close()
	require.NoError(t, w.Do(func(p *uint64) error { *p *= 6; return nil }))
	x, err := v.Get()
	require.NoError(t, err)
	assert.Equal(t, uint64(42), x)
}

func TestSynchronized(t *testing.T) {
	raw, err := ctypes.NewRawValue(segName(t), int64(10), nil)
	require.NoError(t, err)
	lock, err := semaphore.NewRLock(segName(t, "lock"))
	require.NoError(t, err)
	defer lock.Close()
	v, err := ctypes.Synchronized(raw, lock)
	require.NoError(t, err)
	assert.Same(t, raw, v.GetObj())
	require.NoError(t, v.Do(func(p *int64) error { *p++; return nil }))
	assert.Equal(t, int64(11), raw.Load())
	require.NoError(t, v.Close())
	assert.True(t, lock.TryLock(), "the caller's lock stays open")
	lock.Unlock()
	_, err = ctypes.Synchronized[int64](nil, lock)
	assert.ErrorIs(t, err, ctypes.ErrLock)

	rawA, err := ctypes.NewRawArray[int32](segName(t, "a"), 2, nil)
	require.NoError(t, err)
	a, err := ctypes.SynchronizedArray(rawA, lock)
	require.NoError(t, err)
	defer a.Close()
	require.NoError(t, a.Set(1, 5))
	assert.Equal(t, []int32{0, 5}, rawA.ToSlice())
	_, err = ctypes.SynchronizedArray(rawA, nil)
	assert.ErrorIs(t, err, ctypes.ErrLock)
}

func TestArray(t *testing.T) {
	name := segName(t)
	a, err := ctypes.NewArrayFrom(name, []Point{{1, 2}, {3, 4}, {5, 6}}, nil)
	require.NoError(t, err)
	defer a.Close()
	assert.Equal(t, 3, a.Len())
	p, err := a.Get(1)
	require.NoError(t, err)
	assert.Equal(t, Point{3, 4}, p)
	require.NoError(t, a.Set(2, Point{7, 8}))
	_, err = a.Get(3)
	assert.ErrorIs(t, err, ctypes.ErrIndex)
	assert.ErrorIs(t, a.Set(-1, Point{}), ctypes.ErrIndex)
	require.NoError(t, a.Do(func(s []Point) error {
		for i := range s {
			s[i].X = -s[i].X
		}
		return nil
	}))
	all, err := a.ToSlice()
	require.NoError(t, err)
	assert.Equal(t, []Point{{-1, 2}, {-3, 4}, {-7, 8}}, all)
	assert.ErrorIs(t, a.Assign(all[:2]), ctypes.ErrLength)
	require.NoError(t, a.Assign([]Point{{0, 0}, {1, 1}, {2, 2}}))

	b, err := ctypes.OpenArray[Point](name)
	require.NoError(t, err)
	defer b.Close()
	all, err = b.ToSlice()
	require.NoError(t, err)
	assert.Equal(t, []Point{{0, 0}, {1, 1}, {2, 2}}, all)
	assert.Equal(t, a.GetLock().Handle(), b.GetLock().Handle())

	ar, err := shm.NewArena(segName(t, "arena"), 1<<16, nil)
	require.NoError(t, err)
	defer ar.Close()
	z, err := ctypes.NewArrayIn[int16](ar, 10, nil)
	require.NoError(t, err)
	defer z.Close()
	f, err := ctypes.NewArrayFromIn(ar, []int16{1}, &ctypes.Options{NoLock: true})
	require.NoError(t, err)
	defer f.Close()
	assert.Nil(t, f.GetLock())
	assert.Equal(t, 10, z.Len())
}

func TestCharArrays(t *testing.T) {
	a, err := ctypes.NewArrayFrom(segName(t), []byte("hello"), nil)
	require.NoError(t, err)
	defer a.Close()
	c := ctypes.Chars(a)
	v, err := c.Value()
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), v)
	// Python: a.value = b"hi" writes "hi" and a NUL, the rest stays.
	require.NoError(t, c.SetValue([]byte("hi")))
	raw, err := c.Raw()
	require.NoError(t, err)
	assert.Equal(t, []byte("hi\x00lo"), raw)
	v, err = c.Value()
	require.NoError(t, err)
	assert.Equal(t, []byte("hi"), v)
	require.NoError(t, c.SetValue([]byte("12345")), "exactly the length: no NUL")
	v, _ = c.Value()
	assert.Equal(t, []byte("12345"), v)
	assert.ErrorIs(t, c.SetValue([]byte("123456")), ctypes.ErrTooLong)
	require.NoError(t, c.SetRaw([]byte("ab")))
	raw, _ = c.Raw()
	assert.Equal(t, []byte("ab345"), raw)
	assert.ErrorIs(t, c.SetRaw([]byte("abcdef")), ctypes.ErrTooLong)
	raw, _ = c.Raw()
	assert.Equal(t, []byte("ab345"), raw, "a refused SetRaw writes nothing")

	w, err := ctypes.NewArrayFrom(segName(t, "w"), []rune("abcd"), nil)
	require.NoError(t, err)
	defer w.Close()
	wc := ctypes.WChars(w)
	require.NoError(t, wc.SetValue("x"))
	s, err := wc.ToSlice()
	require.NoError(t, err)
	assert.Equal(t, []rune{'x', 0, 'c', 'd'}, s)
	ws, err := wc.Value()
	require.NoError(t, err)
	assert.Equal(t, "x", ws)
	require.NoError(t, wc.SetValue("äöü€"))
	ws, _ = wc.Value()
	assert.Equal(t, "äöü€", ws)
	assert.ErrorIs(t, wc.SetValue("abcde"), ctypes.ErrTooLong)
}

func TestTypecodeObjects(t *testing.T) {
	n, err := ctypes.NewValueTypecode(segName(t, "n"), 'i', 7, nil)
	require.NoError(t, err)
	defer n.Close()
	x, err := n.Get()
	require.NoError(t, err)
	assert.Equal(t, int32(7), x)
	require.NoError(t, n.Set(int64(49)))
	x, _ = n.Get()
	assert.Equal(t, int32(49), x)
	assert.ErrorIs(t, n.Set(1.5), ctypes.ErrMismatch, "Python: int expected instead of float")
	assert.ErrorIs(t, n.Set(1<<40), ctypes.ErrMismatch, "does not fit in a C int")
	assert.IsType(t, &ctypes.Value[int32]{}, n.Typed())
	_, isRLock := n.GetLock().(*semaphore.RLock)
	assert.True(t, isRLock)

	d, err := ctypes.NewRawValueTypecode(segName(t, "d"), 'd', nil, nil)
	require.NoError(t, err)
	defer d.Close()
	assert.Nil(t, d.GetLock())
	x, _ = d.Get()
	assert.Equal(t, 0.0, x)
	require.NoError(t, d.Set(3))
	x, _ = d.Get()
	assert.Equal(t, 3.0, x)

	c, err := ctypes.NewValueTypecode(segName(t, "c"), 'c', "x", nil)
	require.NoError(t, err)
	defer c.Close()
	x, _ = c.Get()
	assert.Equal(t, byte('x'), x)
	assert.ErrorIs(t, c.Set("xy"), ctypes.ErrMismatch, "Python: one character bytes expected")
	u, err := ctypes.NewValueTypecode(segName(t, "u"), 'u', "€", nil)
	require.NoError(t, err)
	defer u.Close()
	x, _ = u.Get()
	assert.Equal(t, '€', x)

	// Opening without knowing the type: the typecode comes from the header.
	o, err := ctypes.OpenAnyValue(segName(t, "n"))
	require.NoError(t, err)
	defer o.Close()
	assert.Equal(t, ctypes.Typecode('i'), o.Typecode())
	x, _ = o.Get()
	assert.Equal(t, int32(49), x)
	// A Go-typed scalar opens under its typecode too.
	g, err := ctypes.NewValue(segName(t, "g"), uint16(3), nil)
	require.NoError(t, err)
	defer g.Close()
	og, err := ctypes.OpenAnyValue(segName(t, "g"))
	require.NoError(t, err)
	defer og.Close()
	assert.Equal(t, ctypes.Typecode('H'), og.Typecode())
	// A struct has no typecode.
	p, err := ctypes.NewValue(segName(t, "p"), Point{}, nil)
	require.NoError(t, err)
	defer p.Close()
	_, err = ctypes.OpenAnyValue(segName(t, "p"))
	assert.ErrorIs(t, err, ctypes.ErrType)

	arr, err := ctypes.NewArrayTypecode(segName(t, "arr"), 'd', []int{1, 2, 3}, nil)
	require.NoError(t, err)
	defer arr.Close()
	assert.Equal(t, 3, arr.Len())
	require.NoError(t, arr.Set(0, 0.5))
	e, err := arr.Get(0)
	require.NoError(t, err)
	assert.Equal(t, 0.5, e)
	all, err := arr.ToSlice()
	require.NoError(t, err)
	assert.Equal(t, []float64{0.5, 2, 3}, all)
	require.NoError(t, arr.Assign([]any{1, 2.5, uint8(3)}))
	all, _ = arr.ToSlice()
	assert.Equal(t, []float64{1, 2.5, 3}, all)
	assert.ErrorIs(t, arr.Assign([]float64{1}), ctypes.ErrLength)
	_, err = arr.Value()
	assert.ErrorIs(t, err, ctypes.ErrType, "only char arrays have a value")
	_, err = arr.Raw()
	assert.ErrorIs(t, err, ctypes.ErrType)

	s, err := ctypes.NewArrayTypecode(segName(t, "s"), 'c', "hello world", nil)
	require.NoError(t, err)
	defer s.Close()
	sv, err := s.Value()
	require.NoError(t, err)
	assert.Equal(t, []byte("hello world"), sv)
	require.NoError(t, s.SetValue("HELLO"))
	sr, err := s.Raw()
	require.NoError(t, err)
	assert.Equal(t, []byte("HELLO\x00world"), sr)
	assert.ErrorIs(t, s.SetValue("hello world!"), ctypes.ErrTooLong)
	assert.ErrorIs(t, s.SetRaw([]byte("hello world!")), ctypes.ErrTooLong)
	assert.ErrorIs(t, s.SetValue(3), ctypes.ErrMismatch)

	ws, err := ctypes.NewRawArrayTypecode(segName(t, "ws"), 'u', 4, nil)
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.SetValue("ab"))
	wv, err := ws.Value()
	require.NoError(t, err)
	assert.Equal(t, "ab", wv)
	assert.ErrorIs(t, ws.SetValue("abcde"), ctypes.ErrTooLong)

	oa, err := ctypes.OpenAnyArray(segName(t, "s"))
	require.NoError(t, err)
	defer oa.Close()
	assert.Equal(t, ctypes.Typecode('c'), oa.Typecode())
	sv, _ = oa.Value()
	assert.Equal(t, []byte("HELLO"), sv)
}
