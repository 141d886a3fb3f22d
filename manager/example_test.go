//go:build linux

package manager_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/pickle"
)

// exampleServer starts a server on a Unix socket in a temporary directory
// and returns a client of it, and a function that stops both.
func exampleServer(reg *manager.Registry) (*manager.Manager, func()) {
	dir, err := os.MkdirTemp("", "mproc-example-")
	if err != nil {
		log.Fatal(err)
	}
	cfg := manager.DefaultServerConfig()
	cfg.Address = filepath.Join(dir, "manager.sock")
	cfg.Registry = reg
	s, err := manager.NewServer(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Start(); err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	m, err := manager.Connect(ctx, "unix:"+s.Addr().Addr, s.Authkey(), nil)
	if err != nil {
		log.Fatal(err)
	}
	return m, func() {
		m.Close()
		s.Shutdown(ctx)
		os.RemoveAll(dir)
	}
}

// A server in this process, and a client using a managed dict.
func ExampleServer() {
	cfg := manager.DefaultServerConfig()
	cfg.Address = "127.0.0.1:0" // loopback, any port
	s, err := manager.NewServer(cfg)
	if err != nil {
		log.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		log.Fatal(err)
	}
	go s.Serve()
	defer s.Shutdown(context.Background())

	// A Python program would connect with
	//   SyncManager(address=(host, port), authkey=key).connect()
	ctx := context.Background()
	m, err := manager.Connect(ctx, s.Addr().String(), s.Authkey(), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	d, _ := m.Dict(ctx)
	d.Set(ctx, "answer", 42)
	var v int
	d.Get(ctx, "answer", &v)
	fmt.Println(v, s.NumObjects())
	// Output: 42 1
}

// Serve runs a server until the context ends or a client calls shutdown;
// the command line's "mproc manager serve" is built on it.
func ExampleServe() {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cfg := manager.DefaultServerConfig() // a Unix socket, a random authkey
	err := manager.Serve(ctx, cfg, func(s *manager.Server) {
		fmt.Println("listening on", s.Addr().Network, "with a", len(s.Authkey()), "byte authkey")
	})
	fmt.Println(err)
	// Output:
	// listening on unix with a 32 byte authkey
	// <nil>
}

// Start runs the server in a child process, as Python's Manager() does.
// The program must call process.Main() first thing in main.
func ExampleStart() {
	ctx := context.Background()
	m, err := manager.Start(ctx, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(ctx)
	l, _ := m.List(ctx, []string{"a", "b"})
	l.Append(ctx, "c")
	var items []string
	l.Items(ctx, &items)
	fmt.Println(items)
	// Output: [a b c]
}

func ExampleConnect() {
	// Connect to a server started elsewhere (Go or Python), given its
	// address and authkey.
	ctx := context.Background()
	key := []byte("the server's authkey")
	m, err := manager.Connect(ctx, "127.0.0.1:50000", key, nil)
	if err != nil {
		fmt.Println("no server there")
		return
	}
	defer m.Close()
}

func ExampleManager_Create() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	// Any registered type by its typeid, through a generic Proxy.
	p, err := m.Create(ctx, "dict", []any{map[string]int{"x": 1}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	n, _ := p.Call(ctx, "__len__")
	fmt.Println(p.TypeID(), n)
	// Output: dict 1
}

func ExampleProxy_Call() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	d, _ := m.Dict(ctx)
	defer d.Close()
	d.Set(ctx, "k", "v")
	v, _ := d.Call(ctx, "get", "k", "default") // d.get("k", "default")
	w, _ := d.Call(ctx, "get", "missing", "default")
	fmt.Println(v, w)
	// Output: v default
}

func ExampleDict() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	d, _ := m.Dict(ctx)
	defer d.Close()
	d.Set(ctx, "a", 1)
	d.Set(ctx, 2, []string{"x"})
	keys, _ := d.Keys(ctx)
	err := d.Get(ctx, "zz", nil)
	fmt.Println(keys, errors.Is(err, manager.ErrKeyError), err)
	// Output: [a 2] true KeyError: 'zz'
}

func ExampleIterator() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	d, _ := m.Dict(ctx, map[string]int{"a": 1, "b": 2})
	defer d.Close()
	it, _ := d.Iter(ctx)
	defer it.Close()
	for {
		var k string
		ok, err := it.Next(ctx, &k)
		if err != nil || !ok {
			break
		}
		fmt.Println(k)
	}
	// Output:
	// a
	// b
}

func ExampleList() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	l, _ := m.List(ctx, []int{3, 1, 2})
	defer l.Close()
	l.Sort(ctx, false)
	var first int
	l.Get(ctx, 0, &first)
	var rest []int
	l.Slice(ctx, 1, manager.FullSlice, &rest)
	fmt.Println(first, rest)
	// Output: 1 [2 3]
}

func ExampleNamespace() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	ns, _ := m.Namespace(ctx, manager.Kwarg{Name: "x", Value: 1})
	defer ns.Close()
	ns.Set(ctx, "name", "Bob")
	r, _ := ns.Repr(ctx)
	fmt.Println(r)
	// Output: Namespace(name='Bob', x=1)
}

func ExampleValue() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	v, _ := m.Value(ctx, "d", 1.5)
	defer v.Close()
	v.Set(ctx, 2.5)
	var f float64
	v.Get(ctx, &f)
	fmt.Println(f)
	// Output: 2.5
}

func ExampleArray() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	a, _ := m.Array(ctx, "b", []int{1, 2})
	defer a.Close()
	err := a.Set(ctx, 0, 300) // a signed char cannot hold it
	var items []int
	a.Items(ctx, &items)
	fmt.Println(items, err)
	// Output: [1 2] OverflowError: signed char is greater than maximum
}

func ExampleAcquirer() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	lk, _ := m.Lock(ctx)
	defer lk.Close()
	lk.Acquire(ctx)
	tctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	err := lk.Acquire(tctx) // held: gives up at the deadline
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	lk.Release(ctx)
	// Output: true
}

func ExampleCondition() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	c, _ := m.Condition(ctx)
	defer c.Close()
	c.Acquire(ctx)
	tctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	notified, err := c.Wait(tctx) // nobody notifies
	c.Release(ctx)
	fmt.Println(notified, err)
	// Output: false <nil>
}

func ExampleEvent() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	e, _ := m.Event(ctx)
	defer e.Close()
	go e.Set(ctx)
	ok, _ := e.Wait(ctx)
	fmt.Println(ok)
	// Output: true
}

func ExampleBarrier() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	b, _ := m.Barrier(ctx, 2, 0)
	defer b.Close()
	done := make(chan int)
	go func() { i, _ := b.Wait(ctx); done <- i }()
	i, _ := b.Wait(ctx)
	fmt.Println(i + <-done) // the arrival indices are 0 and 1
	// Output: 1
}

func ExampleQueue() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	q, _ := m.Queue(ctx, 1)
	defer q.Close()
	q.Put(ctx, "job")
	err := q.PutNowait(ctx, "another")
	var job string
	q.Get(ctx, &job)
	fmt.Println(job, errors.Is(err, manager.ErrFull))
	// Output: job true
}

func ExamplePipeline() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	d, _ := m.Dict(ctx)
	defer d.Close()
	pl := m.Pipeline()
	for i := range 1000 {
		pl.Call(d.Proxy, "__setitem__", i, i*i)
	}
	sq := pl.Call(d.Proxy, "__getitem__", 12)
	if err := pl.Flush(ctx); err != nil { // 1,001 calls, one round trip
		log.Fatal(err)
	}
	var v int
	sq.Decode(&v)
	fmt.Println(v)
	// Output: 144
}

func ExamplePending() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	d, _ := m.Dict(ctx)
	defer d.Close()
	pl := m.Pipeline()
	missing := pl.Call(d.Proxy, "__getitem__", "nope")
	_, err := missing.Result()
	fmt.Println(err)
	pl.Flush(ctx)
	fmt.Println(missing.Err())
	// Output:
	// manager: pipeline not flushed
	// KeyError: 'nope'
}

// A custom type, Python's BaseManager.register('Greeter', Greeter).
func ExampleRegistry() {
	reg := manager.SyncRegistry()
	reg.Register(manager.Type{
		TypeID: "Greeter",
		New: func(c *manager.Call) (manager.Object, error) {
			a, err := c.Params([]string{"greeting"}, "Hello")
			if err != nil {
				return nil, err
			}
			return manager.Methods{
				"greet": func(c *manager.Call) (any, error) {
					b, err := c.Params([]string{"name"})
					if err != nil {
						return nil, err
					}
					return fmt.Sprintf("%v, %v!", a[0], b[0]), nil
				},
			}, nil
		},
	})
	m, stop := exampleServer(reg)
	defer stop()
	ctx := context.Background()
	g, _ := m.Create(ctx, "Greeter", []any{"Hi"}, nil)
	defer g.Close()
	s, _ := g.Call(ctx, "greet", "Ada")
	fmt.Println(s, g.Exposed())
	// Output: Hi, Ada! [greet]
}

func ExampleType() {
	// A type whose method returns another managed object
	// (method_to_typeid), and that type, which clients cannot create.
	reg := manager.NewRegistry()
	reg.Register(manager.Type{
		TypeID:         "Factory",
		MethodToTypeID: map[string]string{"make": "Product"},
		New: func(*manager.Call) (manager.Object, error) {
			return manager.Methods{"make": func(*manager.Call) (any, error) {
				return manager.Methods{"name": func(*manager.Call) (any, error) { return "widget", nil }}, nil
			}}, nil
		},
	})
	reg.Register(manager.Type{TypeID: "Product", Exposed: []string{"name"}, NoCreate: true})
	m, stop := exampleServer(reg)
	defer stop()
	ctx := context.Background()
	f, _ := m.Create(ctx, "Factory", nil, nil)
	defer f.Close()
	v, _ := f.Call(ctx, "make")
	p := v.(*manager.Proxy)
	defer p.Close()
	name, _ := p.Call(ctx, "name")
	fmt.Println(p.TypeID(), name)
	// Output: Product widget
}

func ExampleType_shared() {
	// Python's QueueManager.register('get_queue', callable=lambda: queue):
	// every create of get_queue returns the one shared queue, so clients
	// that only know the typeid (BaseManager.register('get_queue')) meet
	// on it.
	reg := manager.SyncRegistry()
	reg.Register(manager.Type{TypeID: "get_queue", Base: "Queue", Shared: true})
	m, stop := exampleServer(reg)
	defer stop()
	ctx := context.Background()
	p1, _ := m.Create(ctx, "get_queue", nil, nil)
	p2, _ := m.Create(ctx, "get_queue", nil, nil)
	defer p1.Close()
	defer p2.Close()
	(&manager.Queue{Proxy: p1}).Put(ctx, "hello")
	var s string
	(&manager.Queue{Proxy: p2}).Get(ctx, &s)
	fmt.Println(s, p1.Token().ID == p2.Token().ID)
	// Output: hello true
}

func ExampleMethods() {
	obj := manager.Methods{
		"ping":   func(*manager.Call) (any, error) { return "pong", nil },
		"_inner": func(*manager.Call) (any, error) { return nil, nil },
	}
	fmt.Println(obj.PublicMethods())
	// Output: [ping]
}

func ExampleObject() {
	// Any type with CallMethod is an Object; PublicMethods, String and
	// Value are optional.
	var _ manager.Object = manager.Methods{}
	fmt.Println("ok")
	// Output: ok
}

func ExampleCall_Params() {
	reg := manager.NewRegistry()
	reg.Register(manager.Type{
		TypeID:  "Adder",
		Exposed: []string{"add"},
		New: func(*manager.Call) (manager.Object, error) {
			return manager.Methods{"add": func(c *manager.Call) (any, error) {
				a, err := c.Params([]string{"x", "y"}, int64(10)) // add(x, y=10)
				if err != nil {
					return nil, err
				}
				return a[0].(int64) + a[1].(int64), nil
			}}, nil
		},
	})
	m, stop := exampleServer(reg)
	defer stop()
	ctx := context.Background()
	p, _ := m.Create(ctx, "Adder", nil, nil)
	defer p.Close()
	r1, _ := p.Call(ctx, "add", 1)
	r2, _ := p.CallKw(ctx, "add", []any{1}, []manager.Kwarg{{Name: "y", Value: 2}})
	_, err := p.Call(ctx, "add")
	fmt.Println(r1, r2, err)
	// Output: 11 3 TypeError: add() missing 1 required positional argument: 'x'
}

func ExampleKwarg() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	q, _ := m.Queue(ctx, 0)
	defer q.Close()
	// q.put("x", block=False)
	_, err := q.CallKw(ctx, "put", []any{"x"}, []manager.Kwarg{{Name: "block", Value: false}})
	fmt.Println(err)
	// Output: <nil>
}

func ExampleToken() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	d, _ := m.Dict(ctx)
	defer d.Close()
	// Hand the token (and the authkey) to another process, which calls
	// Manager.Proxy with it; here, the same client takes a second proxy.
	text, _ := d.Token().MarshalText()
	var tok manager.Token
	tok.UnmarshalText(text)
	p, _ := m.Proxy(ctx, tok)
	defer p.Close()
	(&manager.Dict{Proxy: p}).Set(ctx, "via", "token")
	var v string
	d.Get(ctx, "via", &v)
	fmt.Println(tok.TypeID, v)
	// Output: dict token
}

func ExampleParseAddress() {
	for _, s := range []string{"127.0.0.1:50000", "/run/app/manager.sock", "@abstract", "unix:relative.sock"} {
		a, _ := manager.ParseAddress(s)
		fmt.Println(a.Network, a.Addr)
	}
	// Output:
	// tcp 127.0.0.1:50000
	// unix /run/app/manager.sock
	// unix @abstract
	// unix relative.sock
}

func ExampleAddress() {
	a := manager.Address{Network: "tcp", Addr: "127.0.0.1:50000"}
	fmt.Println(a)
	// Output: 127.0.0.1:50000
}

func ExamplePyError() {
	// A custom method raises a Python exception; the caller, Go or Python,
	// gets that exception.
	err := manager.NewPyError("builtins", "ValueError", "bad input")
	fmt.Println(err, errors.Is(err, manager.ErrValueError))
	// Output: ValueError: bad input true
}

func ExampleRemoteError() {
	m, stop := exampleServer(nil)
	defer stop()
	ctx := context.Background()
	_, err := m.Create(ctx, "NoSuchType", nil, nil)
	var re *manager.RemoteError
	fmt.Println(errors.As(err, &re), errors.Is(err, manager.ErrKeyError))
	// Output: true true
}

func ExampleServerConfig() {
	cfg := manager.DefaultServerConfig()
	cfg.Address = "0.0.0.0:50000" // not loopback
	fmt.Println(cfg.Verify() != nil)
	cfg.AllowRemote = true // anyone with the authkey who can reach the port
	fmt.Println(cfg.Verify())
	// Output:
	// true
	// <nil>
}

func ExampleClientConfig() {
	cfg := manager.DefaultClientConfig()
	cfg.NoSession = true // speak exactly what a CPython client speaks
	fmt.Println(cfg.Verify())
	// Output: <nil>
}

func ExampleStartConfig() {
	// StartConfig.Registry names a registry registered in init with
	// RegisterRegistry, so that the child process has it too.
	cfg := &manager.StartConfig{Registry: "mproc-test", Server: manager.DefaultServerConfig()}
	ctx := context.Background()
	m, err := manager.Start(ctx, cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Shutdown(ctx)
	foo, _ := m.Create(ctx, "Foo", nil, nil)
	defer foo.Close()
	v, _ := foo.Call(ctx, "f")
	fmt.Println(v)
	// Output: f()
}

func ExampleDefaultAllowCall() {
	fmt.Println(manager.DefaultAllowCall(pickle.Global{Module: "datetime", Name: "datetime"}),
		manager.DefaultAllowCall(pickle.Global{Module: "os", Name: "system"}))
	// Output: true false
}
