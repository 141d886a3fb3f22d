//go:build linux

package manager_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/pickle"
)

// exercise runs the Go client through every SyncManager type against m's
// server, Go or CPython: the same operations, the same results.
func exercise(t *testing.T, m *manager.Manager) {
	ctx := ctxT(t)
	t.Run("dict", func(t *testing.T) {
		d, err := m.Dict(ctx, map[string]int{"a": 1})
		must(t, err)
		defer d.Close()
		must(t, d.Set(ctx, "b", "two"))
		must(t, d.Set(ctx, 3, []int{3}))
		var a int
		must(t, d.Get(ctx, "a", &a))
		eq(t, "d['a']", a, 1)
		var three []int
		must(t, d.Get(ctx, 3.0, &three)) // 3.0 == 3: the same key
		eq(t, "d[3.0]", three, []int{3})
		n, err := d.Len(ctx)
		must(t, err)
		eq(t, "len", n, 3)
		ok, err := d.Has(ctx, "b")
		must(t, err)
		eq(t, "'b' in d", ok, true)
		isErr(t, "missing key", d.Get(ctx, "zz", &a), manager.ErrKeyError)
		found, err := d.Lookup(ctx, "zz", &a)
		eq(t, "lookup missing", found, false)
		must(t, err)
		keys, err := d.Keys(ctx)
		must(t, err)
		eq(t, "keys", keys, []any{"a", "b", int64(3)})
		items, err := d.Items(ctx)
		must(t, err)
		eq(t, "items length", len(items), 3)
		var cp map[string]any
		isErr(t, "copy into map[string]any with an int key", d.Copy(ctx, &cp), pickle.ErrTypeMismatch)
		must(t, d.Delete(ctx, 3))
		must(t, d.Copy(ctx, &cp))
		eq(t, "copy", cp, map[string]any{"a": int64(1), "b": "two"})
		must(t, d.Update(ctx, map[string]int{"u": 5}))
		var v int
		must(t, d.Pop(ctx, "u", &v))
		eq(t, "pop", v, 5)
		k, val, err := d.PopItem(ctx)
		must(t, err)
		eq(t, "popitem", []any{k, val}, []any{"b", "two"})
		must(t, d.SetDefault(ctx, "s", 7, &v))
		eq(t, "setdefault", v, 7)
		it, err := d.Iter(ctx)
		must(t, err)
		var got []string
		for {
			var key string
			ok, err := it.Next(ctx, &key)
			must(t, err)
			if !ok {
				break
			}
			got = append(got, key)
		}
		eq(t, "iteration", got, []string{"a", "s"})
		must(t, it.Close())
		r, err := d.Repr(ctx)
		must(t, err)
		eq(t, "repr", r, "{'a': 1, 's': 7}")
		must(t, d.Clear(ctx))
		_, _, err = d.PopItem(ctx)
		isErr(t, "popitem of empty dict", err, manager.ErrKeyError)
		isErr(t, "unhashable key", d.Set(ctx, []int{1}, 1), manager.ErrTypeError)
		// Values of every kind round-trip.
		big := new(big.Int).Lsh(big.NewInt(1), 100)
		vals := []any{pickle.None, true, int64(-5), big, 2.5, "ünïcode", []byte{0, 255}, pickle.ByteArray("ba"),
			pickle.Tuple{int64(1), "x"}, pickle.NewList(int64(1), pickle.NewList()), pickle.DictOf("k", int64(1)),
			pickle.SetOf(int64(1), int64(2)), pickle.FrozenSetOf("f"), complex(1, 2)}
		for i, x := range vals {
			must(t, d.Set(ctx, i, x))
		}
		for i, x := range vals {
			var back any
			must(t, d.Get(ctx, i, &back))
			if !pickle.Equal(back, x) {
				t.Errorf("value %d: got %#v, want %#v", i, back, x)
			}
		}
	})

	t.Run("list", func(t *testing.T) {
		l, err := m.List(ctx, []int{3, 1, 2})
		must(t, err)
		defer l.Close()
		must(t, l.Append(ctx, 4))
		must(t, l.Extend(ctx, []int{5, 6}))
		must(t, l.Insert(ctx, 0, 0))
		var xs []int
		must(t, l.Items(ctx, &xs))
		eq(t, "items", xs, []int{0, 3, 1, 2, 4, 5, 6})
		var x int
		must(t, l.Get(ctx, -1, &x))
		eq(t, "l[-1]", x, 6)
		isErr(t, "index out of range", l.Get(ctx, 100, &x), manager.ErrIndexError)
		must(t, l.Slice(ctx, 1, 3, &xs))
		eq(t, "l[1:3]", xs, []int{3, 1})
		must(t, l.SetSlice(ctx, 1, 3, []int{30, 10, 15}))
		must(t, l.DeleteSlice(ctx, 0, 1))
		must(t, l.Items(ctx, &xs))
		eq(t, "after slices", xs, []int{30, 10, 15, 2, 4, 5, 6})
		i, err := l.Index(ctx, 15)
		must(t, err)
		eq(t, "index", i, 2)
		_, err = l.Index(ctx, 99)
		isErr(t, "index of missing", err, manager.ErrValueError)
		c, err := l.Count(ctx, 4)
		must(t, err)
		eq(t, "count", c, 1)
		must(t, l.Remove(ctx, 4))
		isErr(t, "remove missing", l.Remove(ctx, 4), manager.ErrValueError)
		must(t, l.Sort(ctx, false))
		must(t, l.Items(ctx, &xs))
		eq(t, "sorted", xs, []int{2, 5, 6, 10, 15, 30})
		must(t, l.Sort(ctx, true))
		must(t, l.Reverse(ctx))
		must(t, l.Pop(ctx, -1, &x))
		eq(t, "pop", x, 30)
		must(t, l.Set(ctx, 0, 20))
		must(t, l.Delete(ctx, 1))
		n, err := l.Len(ctx)
		must(t, err)
		eq(t, "len", n, 4)
		ok, err := l.Contains(ctx, 20)
		must(t, err)
		eq(t, "contains", ok, true)
		var seen []int64
		must(t, l.Range(ctx, func(i int, v any) bool { seen = append(seen, v.(int64)); return true }))
		eq(t, "range", seen, []int64{20, 6, 10, 15})
		must(t, l.Append(ctx, "s"))
		isErr(t, "sort mixed", l.Sort(ctx, false), manager.ErrTypeError)
	})

	t.Run("nested", func(t *testing.T) {
		inner, err := m.List(ctx, []int{1})
		must(t, err)
		outer, err := m.Dict(ctx)
		must(t, err)
		defer outer.Close()
		must(t, outer.Set(ctx, "inner", inner.Proxy))
		must(t, inner.Close()) // the dict keeps the list alive
		var p *manager.Proxy
		must(t, outer.Get(ctx, "inner", &p))
		l := &manager.List{Proxy: p}
		must(t, l.Append(ctx, 2))
		var xs []int
		must(t, l.Items(ctx, &xs))
		eq(t, "nested list", xs, []int{1, 2})
		must(t, l.Close())
	})

	t.Run("namespace_value_array", func(t *testing.T) {
		ns, err := m.Namespace(ctx, manager.Kwarg{Name: "x", Value: 1})
		must(t, err)
		defer ns.Close()
		must(t, ns.Set(ctx, "y", "why"))
		var y string
		must(t, ns.Get(ctx, "y", &y))
		eq(t, "ns.y", y, "why")
		must(t, ns.Delete(ctx, "y"))
		isErr(t, "ns.y deleted", ns.Get(ctx, "y", &y), manager.ErrAttributeError)
		attrs, err := ns.Attrs(ctx)
		must(t, err)
		eq(t, "attrs", attrs, map[string]any{"x": int64(1)})
		r, err := ns.Repr(ctx)
		must(t, err)
		eq(t, "ns repr", r, "Namespace(x=1)")

		v, err := m.Value(ctx, "i", 5)
		must(t, err)
		defer v.Close()
		must(t, v.Set(ctx, 6))
		var n int
		must(t, v.Get(ctx, &n))
		eq(t, "value", n, 6)

		a, err := m.Array(ctx, "i", []int{1, 2, 3})
		must(t, err)
		defer a.Close()
		must(t, a.Set(ctx, 0, 10))
		isErr(t, "array overflow", a.Set(ctx, 0, int64(1)<<40), manager.ErrOverflowError)
		isErr(t, "array type", a.Set(ctx, 0, "x"), manager.ErrTypeError)
		var xs []int
		must(t, a.Items(ctx, &xs))
		eq(t, "array", xs, []int{10, 2, 3})
		ln, err := a.Len(ctx)
		must(t, err)
		eq(t, "array len", ln, 3)
	})

	t.Run("locks", func(t *testing.T) {
		lk, err := m.Lock(ctx)
		must(t, err)
		defer lk.Close()
		must(t, lk.Acquire(ctx))
		ok, err := lk.TryAcquire(ctx)
		must(t, err)
		eq(t, "try locked lock", ok, false)
		start := time.Now()
		ok, err = lk.AcquireTimeout(ctx, 50*time.Millisecond)
		must(t, err)
		eq(t, "timed acquire", ok, false)
		if d := time.Since(start); d < 45*time.Millisecond {
			t.Errorf("timed acquire returned after %v", d)
		}
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		isErr(t, "acquire with deadline", lk.Acquire(dctx), context.DeadlineExceeded)
		cancel()
		must(t, lk.Release(ctx))
		isErr(t, "release unlocked", lk.Release(ctx), manager.ErrRuntimeError)

		rl, err := m.RLock(ctx)
		must(t, err)
		defer rl.Close()
		must(t, rl.Acquire(ctx))
		must(t, rl.Acquire(ctx))
		other, err := rl.Clone(ctx) // another owner
		must(t, err)
		defer other.Close()
		ok, err = (&manager.Acquirer{Proxy: other}).TryAcquire(ctx)
		must(t, err)
		eq(t, "rlock held by another owner", ok, false)
		isErr(t, "release by non-owner", (&manager.Acquirer{Proxy: other}).Release(ctx), manager.ErrRuntimeError)
		must(t, rl.Release(ctx))
		must(t, rl.Release(ctx))

		s, err := m.Semaphore(ctx, 2)
		must(t, err)
		defer s.Close()
		must(t, s.Acquire(ctx))
		must(t, s.Acquire(ctx))
		ok, err = s.TryAcquire(ctx)
		must(t, err)
		eq(t, "semaphore exhausted", ok, false)
		must(t, s.Release(ctx))
		must(t, s.Release(ctx))
		must(t, s.Release(ctx)) // unbounded
		bs, err := m.BoundedSemaphore(ctx, 1)
		must(t, err)
		defer bs.Close()
		isErr(t, "bounded release", bs.Release(ctx), manager.ErrValueError)
	})

	t.Run("condition_event_barrier", func(t *testing.T) {
		c, err := m.Condition(ctx)
		must(t, err)
		defer c.Close()
		_, err = c.Wait(ctx)
		isErr(t, "wait unowned", err, manager.ErrRuntimeError)
		must(t, c.Acquire(ctx))
		dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		ok, err := c.Wait(dctx)
		cancel()
		must(t, err)
		eq(t, "wait timeout", ok, false)
		// A second owner waits; this one notifies.
		c2p, err := c.Clone(ctx)
		must(t, err)
		c2 := &manager.Condition{Proxy: c2p}
		defer c2.Close()
		must(t, c.Release(ctx))
		ready := make(chan struct{})
		res := make(chan error, 1)
		go func() {
			if err := c2.Acquire(ctx); err != nil {
				res <- err
				return
			}
			close(ready)
			ok, err := c2.Wait(ctx)
			if err == nil && !ok {
				err = errors.New("not notified")
			}
			if err == nil {
				err = c2.Release(ctx)
			}
			res <- err
		}()
		<-ready
		must(t, c.Acquire(ctx)) // c2 is waiting once we hold the lock
		must(t, c.Notify(ctx, 1))
		must(t, c.Release(ctx))
		must(t, <-res)

		e, err := m.Event(ctx)
		must(t, err)
		defer e.Close()
		dctx, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
		ok, err = e.Wait(dctx)
		cancel()
		must(t, err)
		eq(t, "event wait timeout", ok, false)
		go func() { time.Sleep(20 * time.Millisecond); e.Set(ctx) }()
		ok, err = e.Wait(ctx)
		must(t, err)
		eq(t, "event wait", ok, true)
		ok, err = e.IsSet(ctx)
		must(t, err)
		eq(t, "is_set", ok, true)
		must(t, e.Clear(ctx))

		b, err := m.Barrier(ctx, 3, 0)
		must(t, err)
		defer b.Close()
		var wg sync.WaitGroup
		idx := make(chan int, 3)
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				i, err := b.Wait(ctx)
				if err != nil {
					t.Error(err)
				}
				idx <- i
			}()
		}
		wg.Wait()
		close(idx)
		sum := 0
		for i := range idx {
			sum += i
		}
		eq(t, "barrier indices 0+1+2", sum, 3)
		p, err := b.Parties(ctx)
		must(t, err)
		eq(t, "parties", p, 3)
		dctx, cancel = context.WithTimeout(ctx, 30*time.Millisecond)
		_, err = b.Wait(dctx)
		cancel()
		isErr(t, "barrier timeout", err, manager.ErrBrokenBarrier)
		broken, err := b.Broken(ctx)
		must(t, err)
		eq(t, "broken", broken, true)
		must(t, b.Reset(ctx))
		must(t, b.Abort(ctx))
		_, err = b.Wait(ctx)
		isErr(t, "aborted", err, manager.ErrBrokenBarrier)
	})

	t.Run("queue", func(t *testing.T) {
		q, err := m.Queue(ctx, 2)
		must(t, err)
		defer q.Close()
		must(t, q.Put(ctx, 1))
		must(t, q.Put(ctx, "two"))
		isErr(t, "put_nowait full", q.PutNowait(ctx, 3), manager.ErrFull)
		dctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		err = q.Put(dctx, 3)
		cancel()
		isErr(t, "put timeout: Full", err, manager.ErrFull)
		isErr(t, "put timeout: deadline", err, context.DeadlineExceeded)
		full, err := q.Full(ctx)
		must(t, err)
		eq(t, "full", full, true)
		n, err := q.Qsize(ctx)
		must(t, err)
		eq(t, "qsize", n, 2)
		var x any
		must(t, q.Get(ctx, &x))
		eq(t, "get", x, int64(1))
		must(t, q.GetNowait(ctx, &x))
		eq(t, "get_nowait", x, "two")
		isErr(t, "get_nowait empty", q.GetNowait(ctx, &x), manager.ErrEmpty)
		go func() { time.Sleep(20 * time.Millisecond); q.Put(ctx, "late") }()
		must(t, q.Get(ctx, &x))
		eq(t, "blocking get", x, "late")

		jq, err := m.JoinableQueue(ctx, 0)
		must(t, err)
		defer jq.Close()
		must(t, jq.Put(ctx, 1))
		must(t, jq.Get(ctx, &x))
		must(t, jq.TaskDone(ctx))
		must(t, jq.Join(ctx))
		isErr(t, "task_done too often", jq.TaskDone(ctx), manager.ErrValueError)
	})

	t.Run("pipeline", func(t *testing.T) {
		d, err := m.Dict(ctx)
		must(t, err)
		defer d.Close()
		pl := m.Pipeline()
		for i := range 2000 {
			pl.Call(d.Proxy, "__setitem__", i, fmt.Sprint(i))
		}
		gets := make([]*manager.Pending, 0, 2000)
		for i := range 2000 {
			gets = append(gets, pl.Call(d.Proxy, "__getitem__", i))
		}
		bad := pl.Call(d.Proxy, "__getitem__", "missing")
		err = pl.Flush(ctx)
		isErr(t, "flush reports the failed call", err, manager.ErrKeyError)
		isErr(t, "pending error", bad.Err(), manager.ErrKeyError)
		for i, g := range gets {
			var s string
			must(t, g.Decode(&s))
			if s != fmt.Sprint(i) {
				t.Fatalf("pipelined get %d: %q", i, s)
			}
		}
		n, err := d.Len(ctx)
		must(t, err)
		eq(t, "len after pipeline", n, 2000)
	})

	t.Run("errors", func(t *testing.T) {
		_, err := m.Create(ctx, "NoSuchType", nil, nil)
		var re *manager.RemoteError
		if !errors.As(err, &re) || !errors.Is(err, manager.ErrKeyError) {
			t.Errorf("unknown typeid: %v", err)
		}
		d, err := m.Dict(ctx)
		must(t, err)
		_, err = d.Call(ctx, "no_such_method")
		if !errors.As(err, &re) {
			t.Errorf("unknown method: %v", err)
		}
		must(t, d.Close())
		_, err = d.Call(ctx, "__len__")
		isErr(t, "call on closed proxy", err, manager.ErrClosed)
	})
}

func TestGoClient(t *testing.T) {
	s := startServer(t, nil)
	m := connect(t, s, nil)
	exercise(t, m)
	waitFor(t, "objects released", 10*time.Second, func() bool { return s.NumObjects() == 0 })
	s.Collect()
	if n := s.NumEntries(); n != 0 {
		t.Errorf("%d objects left in the table", n)
	}
}

// TestGoClientNoSession speaks plain CPython to the Go server.
func TestGoClientNoSession(t *testing.T) {
	s := startServer(t, nil)
	cfg := manager.DefaultClientConfig()
	cfg.NoSession = true
	m := connect(t, s, cfg)
	if m.Session() {
		t.Fatal("session with NoSession")
	}
	exercise(t, m)
	waitFor(t, "objects released", 10*time.Second, func() bool { return s.NumObjects() == 0 })
}

// TestGoClientTCP runs over loopback TCP.
func TestGoClientTCP(t *testing.T) {
	cfg := manager.DefaultServerConfig()
	cfg.Address = "127.0.0.1:0"
	s := startServer(t, cfg)
	m := connect(t, s, nil)
	exercise(t, m)
	waitFor(t, "objects released", 10*time.Second, func() bool { return s.NumObjects() == 0 })
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func eq(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", what, got, want)
	}
}

func isErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: got error %v, want one matching %v", what, err, target)
	}
}
