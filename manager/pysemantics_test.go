//go:build linux

package manager_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/pickle"
)

// semantics checks the Go client's typed proxies against Python's
// documented semantics of the same calls, on m's server (Go or CPython).
func semantics(t *testing.T, m *manager.Manager) {
	ctx := ctxT(t)
	t.Run("dict", func(t *testing.T) {
		d, err := m.Dict(ctx, [][]any{{"z", 1}, {"a", 2}})
		must(t, err)
		defer d.Close()
		var x int
		err = d.Get(ctx, "missing", &x)
		isErr(t, "d['missing']", err, manager.ErrKeyError)
		var pe *manager.PyError
		if !errors.As(err, &pe) || pe.Name != "KeyError" || len(pe.Args) != 1 || pe.Args[0] != "missing" {
			t.Errorf("d['missing']: %#v", err)
		}
		isErr(t, "pop missing", d.Pop(ctx, "missing", &x), manager.ErrKeyError)
		isErr(t, "del missing", d.Delete(ctx, "missing"), manager.ErrKeyError)
		must(t, d.SetDefault(ctx, "z", 100, &x))
		eq(t, "setdefault existing", x, 1)
		must(t, d.Update(ctx, [][]any{{"m", 3}, {"b", 4}}))
		must(t, d.Update(ctx, map[string]int{"c": 5, "a": 20}))
		keys, err := d.Keys(ctx)
		must(t, err)
		eq(t, "keys in insertion order", keys, []any{"z", "a", "m", "b", "c"})
		vals, err := d.Values(ctx)
		must(t, err)
		eq(t, "values", vals, []any{int64(1), int64(20), int64(3), int64(4), int64(5)})
		items, err := d.Items(ctx)
		must(t, err)
		eq(t, "items[2]", items[2], pickle.Item{Key: "m", Value: int64(3)})
		isErr(t, "update with bad pairs", d.Update(ctx, [][]any{{"only"}}), manager.ErrValueError)
		isErr(t, "update with non-iterable", d.Update(ctx, 5), manager.ErrTypeError)
		found, err := d.Lookup(ctx, "z", &x)
		must(t, err)
		eq(t, "lookup", []any{found, x}, []any{true, 1})
		// Re-setting a key keeps its place; deleting and setting moves it
		// to the end.
		must(t, d.Set(ctx, "z", 0))
		must(t, d.Delete(ctx, "a"))
		must(t, d.Set(ctx, "a", 0))
		keys, err = d.Keys(ctx)
		must(t, err)
		eq(t, "keys after re-insertion", keys, []any{"z", "m", "b", "c", "a"})
		// update from another managed dict (a proxy argument).
		o, err := m.Dict(ctx, map[string]int{"o": 9})
		must(t, err)
		defer o.Close()
		must(t, d.Update(ctx, o))
		must(t, d.Get(ctx, "o", &x))
		eq(t, "updated from a proxy", x, 9)
		// d2.update(d.items()) and dict(d.items()), with Items' result.
		items, err = d.Items(ctx)
		must(t, err)
		d2, err := m.Dict(ctx, items)
		must(t, err)
		defer d2.Close()
		keys2, err := d2.Keys(ctx)
		must(t, err)
		eq(t, "Dict(d.Items())", keys2, []any{"z", "m", "b", "c", "a", "o"})
		must(t, d2.Clear(ctx))
		must(t, d2.Update(ctx, items[1:3]))
		items2, err := d2.Items(ctx)
		must(t, err)
		eq(t, "update(d.Items()[1:3])", items2, items[1:3])
		// An iterator sees a size change as Python's does.
		it, err := d.Iter(ctx)
		must(t, err)
		defer it.Close()
		var k string
		_, err = it.Next(ctx, &k)
		must(t, err)
		must(t, d.Set(ctx, "new", 1))
		_, err = it.Next(ctx, &k)
		isErr(t, "dict changed size during iteration", err, manager.ErrRuntimeError)
	})
	t.Run("list", func(t *testing.T) {
		l, err := m.List(ctx, []int{0, 1, 2, 3, 4, 5})
		must(t, err)
		defer l.Close()
		var x int
		must(t, l.Get(ctx, -6, &x))
		eq(t, "l[-6]", x, 0)
		isErr(t, "l[-7]", l.Get(ctx, -7, &x), manager.ErrIndexError)
		isErr(t, "l[6]=", l.Set(ctx, 6, 1), manager.ErrIndexError)
		var xs []int
		must(t, l.Slice(ctx, -2, manager.FullSlice, &xs))
		eq(t, "l[-2:]", xs, []int{4, 5})
		must(t, l.Slice(ctx, 4, 2, &xs))
		eq(t, "l[4:2]", xs, []int{})
		must(t, l.Slice(ctx, -100, 100, &xs))
		eq(t, "l[-100:100]", xs, []int{0, 1, 2, 3, 4, 5})
		must(t, l.Insert(ctx, 100, 6))
		must(t, l.Insert(ctx, -100, -1))
		must(t, l.Items(ctx, &xs))
		eq(t, "insert beyond ends", xs, []int{-1, 0, 1, 2, 3, 4, 5, 6})
		_, err = l.Index(ctx, 99)
		isErr(t, "index missing", err, manager.ErrValueError)
		isErr(t, "remove missing", l.Remove(ctx, 99), manager.ErrValueError)
		e, err := m.List(ctx)
		must(t, err)
		defer e.Close()
		isErr(t, "pop empty", e.Pop(ctx, -1, &x), manager.ErrIndexError)
		must(t, e.Append(ctx, 1))
		isErr(t, "pop out of range", e.Pop(ctx, 5, &x), manager.ErrIndexError)
		must(t, e.Append(ctx, pickle.None))
		isErr(t, "sort None and int", e.Sort(ctx, false), manager.ErrTypeError)
		var after []any
		must(t, e.Items(ctx, &after))
		eq(t, "failed sort leaves list", after, []any{int64(1), pickle.None})
		n := 0
		must(t, e.Range(ctx, func(i int, v any) bool { n++; return true }))
		eq(t, "range", n, 2)
		must(t, e.Extend(ctx, l))
		var all []any
		must(t, e.Items(ctx, &all))
		eq(t, "extend from a proxy", len(all), 10)
	})
	t.Run("namespace_value_array", func(t *testing.T) {
		ns, err := m.Namespace(ctx)
		must(t, err)
		defer ns.Close()
		var s string
		isErr(t, "missing attr", ns.Get(ctx, "nope", &s), manager.ErrAttributeError)
		isErr(t, "del missing attr", ns.Delete(ctx, "nope"), manager.ErrAttributeError)
		v, err := m.Value(ctx, "i", 1)
		must(t, err)
		defer v.Close()
		must(t, v.Set(ctx, "not checked"))
		must(t, v.Get(ctx, &s))
		eq(t, "value holds anything", s, "not checked")
		var n int
		isErr(t, "decode str into int", v.Get(ctx, &n), pickle.ErrTypeMismatch)
		a, err := m.Array(ctx, "d", []float64{1.5})
		must(t, err)
		defer a.Close()
		isErr(t, "a[1]", a.Get(ctx, 1, new(float64)), manager.ErrIndexError)
		isErr(t, "a[0]='x'", a.Set(ctx, 0, "x"), manager.ErrTypeError)
		var f float64
		must(t, a.Get(ctx, -1, &f))
		eq(t, "a[-1]", f, 1.5)
		ai, err := m.Array(ctx, "i", []int{1})
		must(t, err)
		defer ai.Close()
		isErr(t, "int array set float", ai.Set(ctx, 0, 1.5), manager.ErrTypeError)
		_, err = m.Array(ctx, "i", []string{"x"})
		isErr(t, "int array of str", err, manager.ErrTypeError)
		_, err = m.Semaphore(ctx, -1)
		isErr(t, "Semaphore(-1)", err, manager.ErrValueError)
	})
	t.Run("locks", func(t *testing.T) {
		lk, err := m.Lock(ctx)
		must(t, err)
		defer lk.Close()
		ok, err := lk.AcquireTimeout(ctx, 0)
		must(t, err)
		eq(t, "acquire(timeout=0) free", ok, true)
		ok, err = lk.AcquireTimeout(ctx, 0)
		must(t, err)
		eq(t, "acquire(timeout=0) held", ok, false)
		ok, err = lk.AcquireTimeout(ctx, -time.Second)
		must(t, err)
		eq(t, "acquire(negative) held", ok, false)
		// A context deadline shorter than the timeout bounds the wait.
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		start := time.Now()
		ok, err = lk.AcquireTimeout(dctx, 20*time.Second)
		cancel()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("AcquireTimeout(20s) with a 50ms context returned after %v", d)
		}
		eq(t, "acquire bounded by ctx", ok, false)
		isErr(t, "acquire bounded by ctx", err, context.DeadlineExceeded)
		must(t, lk.Release(ctx))
		ok, err = lk.TryAcquire(ctx)
		must(t, err)
		eq(t, "lock free after the bounded acquire", ok, true)
		must(t, lk.Release(ctx))

		s, err := m.Semaphore(ctx, 0)
		must(t, err)
		defer s.Close()
		ok, err = s.AcquireTimeout(ctx, 0)
		must(t, err)
		eq(t, "semaphore(0) acquire(0)", ok, false)
	})
	t.Run("queue_join_deadline", func(t *testing.T) {
		q, err := m.JoinableQueue(ctx, 0)
		must(t, err)
		defer q.Close()
		must(t, q.Put(ctx, 1))
		dctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		start := time.Now()
		err = q.Join(dctx)
		cancel()
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Join with a 50ms context returned after %v", d)
		}
		isErr(t, "join deadline", err, context.DeadlineExceeded)
		var x int
		must(t, q.Get(ctx, &x))
		must(t, q.TaskDone(ctx))
		must(t, q.Join(ctx))
	})
	t.Run("barrier", func(t *testing.T) {
		b, err := m.Barrier(ctx, 2, 0)
		must(t, err)
		defer b.Close()
		res := make(chan error, 1)
		go func() { _, err := b.Wait(ctx); res <- err }()
		waitFor(t, "a waiter", 10*time.Second, func() bool { n, _ := b.NWaiting(ctx); return n == 1 })
		must(t, b.Reset(ctx))
		isErr(t, "waiter at reset", <-res, manager.ErrBrokenBarrier)
		broken, err := b.Broken(ctx)
		must(t, err)
		eq(t, "broken after reset", broken, false)
		go func() { _, err := b.Wait(ctx); res <- err }()
		i, err := b.Wait(ctx)
		must(t, err)
		must(t, <-res)
		if i != 0 && i != 1 {
			t.Errorf("index %d", i)
		}
	})
	t.Run("condition_notify_n", func(t *testing.T) {
		c, err := m.Condition(ctx)
		must(t, err)
		defer c.Close()
		type result struct {
			ok  bool
			err error
		}
		res := make(chan result, 3)
		for range 3 {
			wp, err := c.Clone(ctx)
			must(t, err)
			w := &manager.Condition{Proxy: wp}
			defer w.Close()
			ready := make(chan struct{})
			go func() {
				if err := w.Acquire(ctx); err != nil {
					res <- result{err: err}
					return
				}
				close(ready)
				ok, err := w.Wait(ctx)
				if err == nil {
					err = w.Release(ctx)
				}
				res <- result{ok, err}
			}()
			<-ready
			must(t, c.Acquire(ctx)) // the waiter released the lock in wait
			must(t, c.Release(ctx))
		}
		must(t, c.Acquire(ctx))
		must(t, c.Notify(ctx, 2))
		must(t, c.Release(ctx))
		for range 2 {
			r := <-res
			must(t, r.err)
			eq(t, "notified", r.ok, true)
		}
		select {
		case r := <-res:
			t.Errorf("notify(2) woke a third waiter: %v", r)
		case <-time.After(100 * time.Millisecond):
		}
		must(t, c.Acquire(ctx))
		must(t, c.NotifyAll(ctx))
		must(t, c.Release(ctx))
		r := <-res
		must(t, r.err)
		eq(t, "notify_all", r.ok, true)
		isErr(t, "notify unowned", c.Notify(ctx, 1), manager.ErrRuntimeError)
	})
	t.Run("barrier_abort", func(t *testing.T) {
		b, err := m.Barrier(ctx, 3, 0)
		must(t, err)
		defer b.Close()
		res := make(chan error, 2)
		for range 2 {
			go func() { _, err := b.Wait(ctx); res <- err }()
		}
		waitFor(t, "two waiters", 10*time.Second, func() bool { n, _ := b.NWaiting(ctx); return n == 2 })
		must(t, b.Abort(ctx))
		isErr(t, "waiter at abort", <-res, manager.ErrBrokenBarrier)
		isErr(t, "waiter at abort", <-res, manager.ErrBrokenBarrier)
		broken, err := b.Broken(ctx)
		must(t, err)
		eq(t, "broken after abort", broken, true)
		_, err = b.Wait(ctx)
		isErr(t, "wait on a broken barrier", err, manager.ErrBrokenBarrier)
		must(t, b.Reset(ctx))
		n, err := b.NWaiting(ctx)
		must(t, err)
		eq(t, "n_waiting after reset", n, 0)
	})
	t.Run("concurrent", func(t *testing.T) {
		l, err := m.List(ctx)
		must(t, err)
		defer l.Close()
		d, err := m.Dict(ctx)
		must(t, err)
		defer d.Close()
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range 50 {
					if err := l.Append(ctx, g*1000+i); err != nil {
						t.Error(err)
						return
					}
					if err := d.Set(ctx, g*1000+i, i); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		n, err := l.Len(ctx)
		must(t, err)
		eq(t, "appends", n, 400)
		n, err = d.Len(ctx)
		must(t, err)
		eq(t, "sets", n, 400)
	})
}

func TestPythonSemanticsGoServer(t *testing.T) {
	s := startServer(t, nil)
	semantics(t, connect(t, s, nil))
}

func TestPythonSemanticsPythonServer(t *testing.T) {
	pys := pythons(t)
	py := pys[len(pys)-1]
	key := manager.NewAuthkey()
	addr := pyServer(t, py, key)
	m, err := manager.Connect(ctxT(t), addr, key, nil)
	must(t, err)
	defer m.Shutdown(ctxT(t))
	semantics(t, m)
}

// TestManagerCloseEndsCalls checks that Manager.Close ends every use of
// the client: a call blocked in the server returns ErrClosed, RLock and
// Condition proxies (which have connections of their own) fail with
// ErrClosed rather than keep working, and the server drops the client's
// references.
func TestManagerCloseEndsCalls(t *testing.T) {
	cfg := manager.DefaultServerConfig()
	cfg.SessionGrace = 0
	s := startServer(t, cfg)
	ctx := ctxT(t)
	m := connect(t, s, nil)
	rl, err := m.RLock(ctx)
	must(t, err)
	c, err := m.Condition(ctx)
	must(t, err)
	must(t, rl.Acquire(ctx))
	must(t, c.Acquire(ctx))
	q, err := m.Queue(ctx, 0)
	must(t, err)
	res := make(chan error, 1)
	go func() { var x any; res <- q.Get(ctx, &x) }()
	waitFor(t, "the get to block in the server", 10*time.Second, func() bool { return s.NumConns() >= 4 })
	must(t, m.Close())
	select {
	case err := <-res:
		isErr(t, "get blocked across Close", err, manager.ErrClosed)
	case <-time.After(10 * time.Second):
		t.Fatal("a get blocked in the server still blocks 10s after Close")
	}
	isErr(t, "rlock after Close", rl.Release(ctx), manager.ErrClosed)
	isErr(t, "condition after Close", c.Notify(ctx, 1), manager.ErrClosed)
	isErr(t, "queue after Close", q.Put(ctx, 1), manager.ErrClosed)
	_, err = m.Dict(ctx)
	isErr(t, "create after Close", err, manager.ErrClosed)
	waitFor(t, "the client's references dropped", 10*time.Second, func() bool { return s.NumObjects() == 0 })
	must(t, rl.Close())
	must(t, m.Close())
}

// TestShutdownAfterClose: Shutdown stops the server even when the
// Manager was closed first (it used to return nil and leave it running).
func TestShutdownAfterClose(t *testing.T) {
	s := startServer(t, nil)
	ctx := ctxT(t)
	m := connect(t, s, nil)
	must(t, m.Close())
	must(t, m.Shutdown(ctx))
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown after Close returned nil but the server runs on")
	}
	must(t, m.Shutdown(ctx))
}

// TestShutdownOtherClient: after one client shuts the server down, another
// client's calls fail with ErrServerGone, at once, and its Shutdown and
// Close are no-ops.
func TestShutdownOtherClient(t *testing.T) {
	s := startServer(t, nil)
	ctx := ctxT(t)
	m := connect(t, s, nil)
	m2 := connect(t, s, nil)
	d, err := m2.Dict(ctx)
	must(t, err)
	rl, err := m2.RLock(ctx)
	must(t, err)
	must(t, rl.Acquire(ctx))
	q, err := m2.Queue(ctx, 0)
	must(t, err)
	res := make(chan error, 1)
	go func() { var x any; res <- q.Get(ctx, &x) }()
	waitFor(t, "the get to block in the server", 10*time.Second, func() bool { return s.NumConns() >= 4 })
	must(t, m.Shutdown(ctx))
	must(t, m.Shutdown(ctx))
	<-s.Done()
	isErr(t, "blocked get", <-res, manager.ErrServerGone)
	isErr(t, "dict", d.Set(ctx, 1, 1), manager.ErrServerGone)
	isErr(t, "rlock", rl.Release(ctx), manager.ErrServerGone)
	_, err = m2.Dict(ctx)
	isErr(t, "create", err, manager.ErrServerGone)
	must(t, m2.Shutdown(ctx))
	must(t, d.Close())
	must(t, m2.Close())
}

// TestSemaphoreConcurrent: a Semaphore(3) shared by many goroutines
// through one proxy admits at most 3 at once, and every acquire is
// matched.
func TestSemaphoreConcurrent(t *testing.T) {
	s := startServer(t, nil)
	ctx := ctxT(t)
	m := connect(t, s, nil)
	sem, err := m.BoundedSemaphore(ctx, 3)
	must(t, err)
	defer sem.Close()
	var mu sync.Mutex
	in, most, total := 0, 0, 0
	var wg sync.WaitGroup
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if err := sem.Acquire(ctx); err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				in++
				total++
				most = max(most, in)
				mu.Unlock()
				time.Sleep(time.Millisecond)
				mu.Lock()
				in--
				mu.Unlock()
				if err := sem.Release(ctx); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	eq(t, "acquires", total, 120)
	if most > 3 {
		t.Errorf("%d holders at once of a Semaphore(3)", most)
	}
	isErr(t, "release above the bound", sem.Release(ctx), manager.ErrValueError)
}

// TestWrongAuthkey: a wrong authkey is Python's AuthenticationError, which
// the package names ErrAuthenticationErr, for Go and CPython servers.
func TestWrongAuthkey(t *testing.T) {
	ctx := ctxT(t)
	s := startServer(t, nil)
	_, err := manager.Connect(ctx, addrString(s.Addr()), []byte("wrong key"), nil)
	isErr(t, "Go server", err, manager.ErrAuthenticationErr)
	pys := pythons(t)
	addr := pyServer(t, pys[len(pys)-1], manager.NewAuthkey())
	_, err = manager.Connect(ctx, addr, []byte("wrong key"), nil)
	isErr(t, "CPython server", err, manager.ErrAuthenticationErr)
}

// TestNilProxy: a nil or zero Proxy, and decoding a nested proxy into a
// typed proxy's nil embedded *Proxy, give errors rather than panics.
func TestNilProxy(t *testing.T) {
	s := startServer(t, nil)
	m := connect(t, s, nil)
	ctx := ctxT(t)
	d, err := m.Dict(ctx)
	must(t, err)
	defer d.Close()
	inner, err := m.List(ctx)
	must(t, err)
	defer inner.Close()
	must(t, d.Set(ctx, "inner", inner))
	var l manager.List // embeds a nil *Proxy
	if err := d.Get(ctx, "inner", &l); err == nil {
		t.Errorf("decoding into a List with a nil *Proxy succeeded: %v", l.Proxy)
	}
	isErr(t, "call on a nil Proxy", (&manager.List{}).Append(ctx, 1), manager.ErrClosed)
	var z manager.Proxy
	_, err = z.Call(ctx, "x")
	isErr(t, "call on a zero Proxy", err, manager.ErrClosed)
	isErr(t, "close a zero Proxy", z.Close(), manager.ErrClosed)
	_, err = z.Clone(ctx)
	isErr(t, "clone a zero Proxy", err, manager.ErrClosed)
	pl := m.Pipeline()
	isErr(t, "pipeline call on a nil Proxy", pl.Call(nil, "x").Err(), manager.ErrClosed)
	// The accessors answer zero values, nil or zero proxy alike.
	for _, zp := range []*manager.Proxy{nil, &z} {
		if zp.Token() != (manager.Token{}) || zp.TypeID() != "" || zp.Exposed() != nil || zp.Manager() != nil || zp.String() == "" {
			t.Errorf("accessors of an invalid proxy: %v %q %v %v %q", zp.Token(), zp.TypeID(), zp.Exposed(), zp.Manager(), zp.String())
		}
	}
	var p *manager.Proxy
	must(t, d.Get(ctx, "inner", &p))
	must(t, (&manager.List{Proxy: p}).Append(ctx, 1))
	must(t, p.Close())
}
