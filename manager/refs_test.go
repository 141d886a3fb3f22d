//go:build linux

package manager_test

import (
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/pickle"
)

// Reference counting, nested proxies and the collector.

// TestNestedLifetime: an object held only by another managed object stays
// alive (not counted by number_of_objects, as in CPython) and is deleted
// once nothing referenced reaches it, cycles included.
func TestNestedLifetime(t *testing.T) {
	s := startServer(t, nil)
	m := connect(t, s, nil)
	ctx := ctxT(t)

	outer, err := m.List(ctx)
	must(t, err)
	inner, err := m.Dict(ctx, map[string]int{"x": 1})
	must(t, err)
	must(t, outer.Append(ctx, inner.Proxy))
	must(t, inner.Close())
	s.Collect()
	eq(t, "referenced objects", s.NumObjects(), 1)
	eq(t, "table entries", s.NumEntries(), 2)
	var p *manager.Proxy
	must(t, outer.Get(ctx, 0, &p)) // revives the inner dict's count
	eq(t, "referenced after reading it back", s.NumObjects(), 2)
	var x int
	must(t, (&manager.Dict{Proxy: p}).Get(ctx, "x", &x))
	eq(t, "inner value", x, 1)
	must(t, p.Close())
	must(t, outer.Close())
	s.Collect()
	eq(t, "entries after closing everything", s.NumEntries(), 0)

	// A list holding itself, and two dicts holding each other.
	self, err := m.List(ctx)
	must(t, err)
	must(t, self.Append(ctx, self.Proxy))
	a, err := m.Dict(ctx)
	must(t, err)
	b, err := m.Dict(ctx)
	must(t, err)
	must(t, a.Set(ctx, "b", b.Proxy))
	must(t, b.Set(ctx, "a", a.Proxy))
	must(t, self.Close())
	must(t, b.Close())
	s.Collect()
	eq(t, "a still reaches b", s.NumEntries(), 2)
	must(t, a.Close())
	s.Collect()
	eq(t, "cycles collected", s.NumEntries(), 0)
	eq(t, "referenced", s.NumObjects(), 0)
}

// TestConditionKeepsLock: a Condition made over a managed Lock keeps it
// alive after the lock's proxy is closed.
func TestConditionKeepsLock(t *testing.T) {
	s := startServer(t, nil)
	m := connect(t, s, nil)
	ctx := ctxT(t)
	lk, err := m.Lock(ctx)
	must(t, err)
	c, err := m.Condition(ctx, lk)
	must(t, err)
	must(t, lk.Close())
	s.Collect()
	eq(t, "entries", s.NumEntries(), 2)
	must(t, c.Acquire(ctx))
	must(t, c.Notify(ctx, 1))
	must(t, c.Release(ctx))
	must(t, c.Close())
	s.Collect()
	eq(t, "entries after closing", s.NumEntries(), 0)
}

// TestPinnedReply: a reply carrying a proxy keeps its object alive until
// the receiving client increfs it, even if every other reference goes in
// between.
func TestPinnedReply(t *testing.T) {
	s := startServer(t, nil)
	m := connect(t, s, nil)
	ctx := ctxT(t)
	d, err := m.Dict(ctx)
	must(t, err)
	inner, err := m.List(ctx, []int{7})
	must(t, err)
	must(t, d.Set(ctx, "l", inner.Proxy))
	must(t, inner.Close())

	// A raw client reads d["l"] (receiving a pickled proxy) but does not
	// incref it yet.
	c := accepted(t, s)
	kind, res := roundTrip(t, c, dumps(t, pickle.Tuple{d.Token().ID, "__getitem__", pickle.Tuple{"l"}, pickle.NewDict()}))
	eq(t, "reply", kind, "#RETURN")
	o, ok := res.(*pickle.Object)
	if !ok {
		t.Fatalf("reply %#v", res)
	}
	tokObj := o.Args[1].(*pickle.Object)
	id := tokObj.State.(pickle.Tuple)[2].(string)

	// Meanwhile the dict drops it, and the collector runs.
	must(t, d.Clear(ctx))
	s.Collect()
	eq(t, "entries while pinned", s.NumEntries(), 2)

	// The raw client's incref arrives: the list is alive and counted.
	c2 := rawConn(t, s)
	kind, _ = roundTrip(t, c2, dumps(t, pickle.Tuple{pickle.None, "incref", pickle.Tuple{id}, pickle.NewDict()}))
	eq(t, "incref", kind, "#RETURN")
	eq(t, "referenced", s.NumObjects(), 2)
	c3 := rawConn(t, s)
	kind, _ = roundTrip(t, c3, dumps(t, pickle.Tuple{pickle.None, "decref", pickle.Tuple{id}, pickle.NewDict()}))
	eq(t, "decref", kind, "#RETURN")
	s.Collect()
	eq(t, "entries after the decref", s.NumEntries(), 1)

	// A pin that is never followed by an incref ends with its connection.
	l2, err := m.List(ctx)
	must(t, err)
	must(t, d.Set(ctx, "l2", l2.Proxy))
	must(t, l2.Close())
	kind, _ = roundTrip(t, c, dumps(t, pickle.Tuple{d.Token().ID, "__getitem__", pickle.Tuple{"l2"}, pickle.NewDict()}))
	eq(t, "reply", kind, "#RETURN")
	must(t, d.Clear(ctx))
	s.Collect()
	eq(t, "entries while pinned", s.NumEntries(), 2)
	c.Close()
	waitFor(t, "the pin to go with its connection", 10*time.Second, func() bool {
		s.Collect()
		return s.NumEntries() == 1
	})
	must(t, d.Close())
}

// TestSessionRelease: closing a Go client (or losing it) releases every
// reference its unclosed proxies hold; a CPython-style client (no session)
// leaves them, as CPython does.
func TestSessionRelease(t *testing.T) {
	cfg := manager.DefaultServerConfig()
	cfg.SessionGrace = 0
	s := startServer(t, cfg)
	ctx := ctxT(t)
	m := connect(t, s, nil)
	for range 5 {
		_, err := m.Dict(ctx)
		must(t, err)
	}
	eq(t, "objects", s.NumObjects(), 5)
	must(t, m.Close())
	waitFor(t, "the session's references to go", 10*time.Second, func() bool { return s.NumObjects() == 0 })

	ncfg := manager.DefaultClientConfig()
	ncfg.NoSession = true
	m2 := connect(t, s, ncfg)
	d, err := m2.Dict(ctx)
	must(t, err)
	must(t, m2.Close())
	time.Sleep(50 * time.Millisecond) // nothing is expected to happen
	eq(t, "objects of a closed plain client", s.NumObjects(), 1)
	m3 := connect(t, s, nil)
	p, err := m3.Proxy(ctx, d.Token())
	must(t, err)
	must(t, p.Close())
	_ = d
}
