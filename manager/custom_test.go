//go:build linux

package manager_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/pickle"
)

func init() {
	manager.RegisterRegistry("mproc-test", testRegistry)
}

// counter is a custom managed type: Counter(start) with incr(n=1),
// value(), and child(), which method_to_typeid turns into a proxy for a new
// Child holding the current value.
type counter struct {
	mu sync.Mutex
	n  int64
}

func (c *counter) CallMethod(call *manager.Call) (any, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch call.Method {
	case "incr":
		a, err := call.Params([]string{"n"}, int64(1))
		if err != nil {
			return nil, err
		}
		n, ok := a[0].(int64)
		if !ok {
			return nil, manager.NewPyError("builtins", "TypeError", "n must be an int")
		}
		c.n += n
		return pickle.None, nil
	case "value":
		return c.n, nil
	case "child":
		n := c.n
		return manager.Methods{"value": func(*manager.Call) (any, error) { return n, nil }}, nil
	}
	return nil, manager.ErrNoMethod
}

func (c *counter) PublicMethods() []string { return []string{"child", "incr", "value"} }
func (c *counter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("Counter(%d)", c.n)
}
func (c *counter) Value() (any, error) { c.mu.Lock(); defer c.mu.Unlock(); return c.n, nil }

// squares is baz(): an iterator over i*i for i in range(10).
type squares struct {
	mu sync.Mutex
	i  int64
}

func (s *squares) CallMethod(c *manager.Call) (any, error) {
	if c.Method != "__next__" {
		return nil, manager.ErrNoMethod
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.i >= 10 {
		return nil, manager.NewPyError("builtins", "StopIteration")
	}
	s.i++
	return (s.i - 1) * (s.i - 1), nil
}

// testRegistry is SyncManager's types plus the custom ones of
// CPython's _TestMyManager and a Counter.
func testRegistry() *manager.Registry {
	r := manager.SyncRegistry()
	fooBar := func(*manager.Call) (manager.Object, error) {
		return manager.Methods{
			"f":  func(*manager.Call) (any, error) { return "f()", nil },
			"g":  func(*manager.Call) (any, error) { return nil, manager.NewPyError("builtins", "ValueError") },
			"_h": func(*manager.Call) (any, error) { return "_h()", nil },
		}, nil
	}
	r.Register(manager.Type{TypeID: "Foo", New: fooBar})
	r.Register(manager.Type{TypeID: "Bar", New: fooBar, Exposed: []string{"f", "_h"}})
	r.Register(manager.Type{TypeID: "baz", Exposed: []string{"__next__"}, Proxy: "IteratorProxy",
		New: func(*manager.Call) (manager.Object, error) { return &squares{}, nil }})
	r.Register(manager.Type{TypeID: "Counter", MethodToTypeID: map[string]string{"child": "Child"},
		New: func(c *manager.Call) (manager.Object, error) {
			a, err := c.Params([]string{"start"}, int64(0))
			if err != nil {
				return nil, err
			}
			n, _ := a[0].(int64)
			return &counter{n: n}, nil
		}})
	r.Register(manager.Type{TypeID: "Child", Exposed: []string{"value"}, NoCreate: true})
	return r
}

// TestPythonCustomTypes runs testdata/mymanager.py (CPython's
// _TestMyManager checks and a method_to_typeid type) against Go-registered
// types.
func TestPythonCustomTypes(t *testing.T) {
	pys := pythons(t)
	py := pys[len(pys)-1]
	cfg := manager.DefaultServerConfig()
	cfg.Registry = testRegistry()
	s := startServer(t, cfg)
	out := runPython(t, py, 60*time.Second, nil, "mymanager.py", s.Addr().Addr, hex.EncodeToString(s.Authkey()))
	if !strings.Contains(out, "mymanager: ok") {
		t.Fatalf("mymanager.py:\n%s", out)
	}
	waitFor(t, "objects released", 10*time.Second, func() bool { return s.NumObjects() == 0 })
}

// TestGoCustomTypes uses the same types from Go through generic proxies.
func TestGoCustomTypes(t *testing.T) {
	cfg := manager.DefaultServerConfig()
	cfg.Registry = testRegistry()
	s := startServer(t, cfg)
	m := connect(t, s, nil)
	ctx := ctxT(t)
	foo, err := m.Create(ctx, "Foo", nil, nil)
	must(t, err)
	eq(t, "Foo exposed", foo.Exposed(), []string{"f", "g"})
	v, err := foo.Call(ctx, "f")
	must(t, err)
	eq(t, "f()", v, "f()")
	_, err = foo.Call(ctx, "g")
	isErr(t, "g() raises ValueError", err, manager.ErrValueError)
	_, err = foo.Call(ctx, "_h")
	var re *manager.RemoteError
	if !isRemote(err, &re) {
		t.Errorf("_h is not exposed: got %v", err)
	}
	c, err := m.Create(ctx, "Counter", []any{5}, nil)
	must(t, err)
	_, err = c.CallKw(ctx, "incr", nil, []manager.Kwarg{{Name: "n", Value: 3}})
	must(t, err)
	child, err := c.Call(ctx, "child")
	must(t, err)
	cp, ok := child.(*manager.Proxy)
	if !ok {
		t.Fatalf("child() returned %T, not a proxy", child)
	}
	eq(t, "child typeid", cp.TypeID(), "Child")
	v, err = cp.Call(ctx, "value")
	must(t, err)
	eq(t, "child value", v, int64(8))
	r, err := c.Repr(ctx)
	must(t, err)
	eq(t, "repr", r, "Counter(8)")
	var n int
	must(t, c.Value(ctx, &n))
	eq(t, "getvalue", n, 8)
	_, err = m.Create(ctx, "Child", nil, nil)
	if !isRemote(err, &re) {
		t.Errorf("create of a NoCreate type: %v", err)
	}
	for _, p := range []*manager.Proxy{foo, c, cp} {
		must(t, p.Close())
	}
	eq(t, "objects left", s.NumObjects(), 0)
}

func isRemote(err error, re **manager.RemoteError) bool {
	return err != nil && asRemote(err, re)
}

func asRemote(err error, re **manager.RemoteError) bool {
	return errors.As(err, re)
}

// TestSharedType checks Type.Base and Type.Shared, Python's
// register('get_queue', callable=lambda: queue): every create returns a
// reference to one queue (the same id while it is referenced), two
// clients share it, it outlives its references, and bad registrations
// are refused.
func TestSharedType(t *testing.T) {
	r := manager.SyncRegistry()
	must(t, r.Register(manager.Type{TypeID: "get_queue", Base: "Queue", Shared: true}))
	cfg := manager.DefaultServerConfig()
	cfg.Registry = r
	s := startServer(t, cfg)
	ctx := ctxT(t)
	m1, m2 := connect(t, s, nil), connect(t, s, nil)
	p1, err := m1.Create(ctx, "get_queue", nil, nil)
	must(t, err)
	p2, err := m2.Create(ctx, "get_queue", nil, nil)
	must(t, err)
	eq(t, "same object, same id", p2.Token().ID, p1.Token().ID)
	eq(t, "exposed, as Queue's", p1.Exposed(), []string{"empty", "full", "get", "get_nowait", "join", "put", "put_nowait", "qsize", "shutdown", "task_done"})
	eq(t, "objects", s.NumObjects(), 1)
	q1, q2 := &manager.Queue{Proxy: p1}, &manager.Queue{Proxy: p2}
	must(t, q1.Put(ctx, "from m1"))
	var got string
	must(t, q2.Get(ctx, &got))
	eq(t, "got", got, "from m1")
	must(t, q1.Put(ctx, "kept"))
	must(t, p1.Close())
	must(t, p2.Close())
	waitFor(t, "no object referenced", 10*time.Second, func() bool { return s.NumObjects() == 0 })
	p3, err := m1.Create(ctx, "get_queue", nil, nil)
	must(t, err)
	must(t, (&manager.Queue{Proxy: p3}).Get(ctx, &got))
	eq(t, "the queue outlived its references", got, "kept")
	must(t, p3.Close())

	for _, bad := range []manager.Type{
		{TypeID: "x", Base: "NoSuchType"},
		{TypeID: "x", Base: "Pool"},
		{TypeID: "x", Base: "Queue", New: func(*manager.Call) (manager.Object, error) { return nil, nil }},
	} {
		isErr(t, "register "+bad.Base, r.Register(bad), manager.ErrConfig)
	}
}
