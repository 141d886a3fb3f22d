//go:build linux

package manager_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/pickle"
	"github.com/mproc/mproc/pipe"
)

// keepWorking runs a client doing dict set/get in a loop until the test
// ends, failing the test on any error and if it made no progress.
func keepWorking(t *testing.T, s *manager.Server) {
	m := connect(t, s, nil)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := m.Dict(ctx)
	must(t, err)
	var ops atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			if err := d.Set(ctx, "k", i); err != nil && ctx.Err() == nil {
				t.Errorf("the other client failed: %v", err)
				return
			}
			var back int
			if err := d.Get(ctx, "k", &back); err != nil && ctx.Err() == nil {
				t.Errorf("the other client failed: %v", err)
				return
			}
			ops.Add(1)
		}
	}()
	start := ops.Load()
	t.Cleanup(func() {
		waitFor(t, "the other client to make progress", 10*time.Second, func() bool { return ops.Load() > start+10 })
		cancel()
		wg.Wait()
	})
}

// rawConn opens an authenticated connection to s and sends nothing.
func rawConn(t *testing.T, s *manager.Server) *pipe.Conn {
	t.Helper()
	c, err := pipe.DialNetwork(s.Addr().Network, s.Addr().Addr, s.Authkey())
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip sends a raw request and decodes the reply.
func roundTrip(t *testing.T, c *pipe.Conn, payload []byte) (string, any) {
	t.Helper()
	must(t, c.SendBytes(payload))
	b, err := c.RecvBytes(0)
	must(t, err)
	v, err := pickle.Loads(b)
	must(t, err)
	tup, ok := v.(pickle.Tuple)
	if !ok || len(tup) != 2 {
		t.Fatalf("reply %#v", v)
	}
	kind, _ := tup[0].(string)
	return kind, tup[1]
}

func dumps(t *testing.T, v any) []byte {
	t.Helper()
	b, err := pickle.Dumps(v, 4)
	must(t, err)
	return b
}

// expectClosed checks that the server closed c.
func expectClosed(t *testing.T, c *pipe.Conn) {
	t.Helper()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	_, err := c.RecvBytes(0)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// accepted opens a connection serving method calls (accept_connection).
func accepted(t *testing.T, s *manager.Server) *pipe.Conn {
	t.Helper()
	c := rawConn(t, s)
	kind, _ := roundTrip(t, c, dumps(t, pickle.Tuple{pickle.None, "accept_connection", pickle.Tuple{"test"}, pickle.NewDict()}))
	eq(t, "accept_connection", kind, "#RETURN")
	return c
}

func TestBadInput(t *testing.T) {
	cfg := manager.DefaultServerConfig()
	cfg.MaxMessageSize = 1 << 20
	var logMu sync.Mutex
	var logged []string
	cfg.ErrorLog = func(format string, args ...any) {
		logMu.Lock()
		logged = append(logged, format)
		logMu.Unlock()
		t.Logf(format, args...)
	}
	s := startServer(t, cfg)
	keepWorking(t, s)
	m := connect(t, s, nil)
	ctx := ctxT(t)
	d, err := m.Dict(ctx)
	must(t, err)
	var re *manager.RemoteError

	t.Run("wrong authkey", func(t *testing.T) {
		_, err := manager.Connect(ctx, addrString(s.Addr()), []byte("wrong key"), nil)
		isErr(t, "connect", err, pipe.ErrAuthentication)
		_, err = pipe.DialNetwork(s.Addr().Network, s.Addr().Addr, []byte("wrong"))
		isErr(t, "dial", err, pipe.ErrAuthentication)
	})

	t.Run("no handshake", func(t *testing.T) {
		nc, err := net.Dial(s.Addr().Network, s.Addr().Addr)
		must(t, err)
		defer nc.Close()
		var hdr [4]byte
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = nc.Read(hdr[:]) // the challenge's header
		must(t, err)
		// Answer with garbage framed as a huge message.
		nc.Write([]byte{0x7f, 0xff, 0xff, 0xff, 1, 2, 3})
		buf := make([]byte, 4096)
		for {
			if _, err := nc.Read(buf); err != nil {
				if errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatal("server kept the connection")
				}
				break
			}
		}
	})

	t.Run("truncated frame", func(t *testing.T) {
		c := rawConn(t, s)
		f, err := c.File()
		must(t, err)
		defer f.Close()
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], 100)
		f.Write(append(hdr[:], "only ten b"...))
		f.Close()
		c.Close()
	})

	t.Run("bad length", func(t *testing.T) {
		c := rawConn(t, s)
		f, err := c.File()
		must(t, err)
		defer f.Close()
		f.Write([]byte{0xff, 0xff, 0xff, 0xf0}) // negative, not the long-form marker
		expectClosed(t, c)
	})

	t.Run("oversized frame", func(t *testing.T) {
		c := rawConn(t, s)
		if err := c.SendBytes(make([]byte, 2<<20)); err == nil {
			expectClosed(t, c)
		} else if !errors.Is(err, syscall.EPIPE) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("send: %v", err)
		}
	})

	t.Run("hostile pickle", func(t *testing.T) {
		marker := filepath.Join(t.TempDir(), "pwned")
		evil := pickle.NewObject("posix", "system", "touch "+marker)
		before := s.NumObjects()
		// As a create argument.
		c := rawConn(t, s)
		kind, res := roundTrip(t, c, dumps(t, pickle.Tuple{pickle.None, "create", pickle.Tuple{"dict", pickle.Tuple{pickle.Tuple{"k", evil}}}, pickle.NewDict()}))
		eq(t, "reply kind", kind, "#TRACEBACK")
		if tb, _ := res.(string); !strings.Contains(tb, "refused") || !strings.Contains(tb, "posix.system") {
			t.Errorf("traceback: %q", tb)
		}
		expectClosed(t, c)
		// As a method argument, nested in a list.
		c = accepted(t, s)
		kind, _ = roundTrip(t, c, dumps(t, pickle.Tuple{d.Token().ID, "__setitem__", pickle.Tuple{"k", pickle.NewList(int64(1), evil)}, pickle.NewDict()}))
		eq(t, "reply kind", kind, "#TRACEBACK")
		expectClosed(t, c)
		// Through the Go client: refused, and the client's connection is
		// replaced.
		err := d.Set(ctx, "evil", evil)
		if !errors.As(err, &re) || !errors.Is(err, manager.ErrRefused) {
			t.Errorf("client set of a hostile value: %v", err)
		}
		ok, err := d.Has(ctx, "evil")
		must(t, err)
		eq(t, "hostile value stored", ok, false)
		if _, err := os.Stat(marker); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("the hostile pickle ran: %v", err)
		}
		eq(t, "objects", s.NumObjects(), before)
		// A call of a computed callable (REDUCE of a REDUCE result).
		c = rawConn(t, s)
		computed := &pickle.Object{Callable: pickle.NewObject("builtins", "getattr", pickle.Global{Module: "builtins", Name: "__import__"}, "os"), Args: pickle.Tuple{"x"}}
		kind, _ = roundTrip(t, c, dumps(t, pickle.Tuple{pickle.None, "create", pickle.Tuple{"list", pickle.NewList(computed)}, pickle.NewDict()}))
		eq(t, "computed callable", kind, "#TRACEBACK")
		expectClosed(t, c)
	})

	t.Run("malformed pickles", func(t *testing.T) {
		deep := append([]byte{0x80, 2}, bytes.Repeat([]byte{']'}, 5000)...)
		deep = append(append(deep, bytes.Repeat([]byte{'a'}, 4999)...), '.')
		bigInt := append([]byte{0x80, 2, 0x8b}, binary.LittleEndian.AppendUint32(nil, 1<<20)...)
		bigInt = append(append(bigInt, make([]byte, 1<<20-16)...), '.')
		for name, payload := range map[string][]byte{
			"garbage":        []byte("\x00\x01 not a pickle"),
			"empty":          {},
			"truncated":      dumps(t, pickle.Tuple{pickle.None, "dummy", pickle.Tuple{}, pickle.NewDict()})[:10],
			"not a tuple":    dumps(t, "dummy"),
			"three elements": dumps(t, pickle.Tuple{pickle.None, "dummy", pickle.Tuple{}}),
			"int ident":      dumps(t, pickle.Tuple{int64(5), "dummy", pickle.Tuple{}, pickle.NewDict()}),
			"int args":       dumps(t, pickle.Tuple{pickle.None, "dummy", int64(3), pickle.NewDict()}),
			"int kwds keys":  dumps(t, pickle.Tuple{pickle.None, "dummy", pickle.Tuple{}, pickle.DictOf(int64(1), int64(2))}),
			"too deep":       deep,
			"huge int":       bigInt,
			"unknown opcode": {0x80, 4, 0xfe, '.'},
			"persistent id":  []byte("\x80\x02X\x01\x00\x00\x00aQ."),
		} {
			t.Run(name, func(t *testing.T) {
				c := rawConn(t, s)
				if err := c.SendBytes(payload); err != nil {
					return // the server may close before reading it all
				}
				c.SetDeadline(time.Now().Add(10 * time.Second))
				b, err := c.RecvBytes(0)
				if err == nil {
					v, _ := pickle.Loads(b)
					if tup, ok := v.(pickle.Tuple); !ok || len(tup) != 2 || tup[0] != "#TRACEBACK" {
						t.Fatalf("reply %#v", v)
					}
				}
				expectClosed(t, c)
			})
		}
	})

	t.Run("lists for tuples", func(t *testing.T) {
		// CPython unpacks any sequence: a request and its args may be
		// lists (the xmlrpclib serializer sends nothing else).
		c := rawConn(t, s)
		kind, res := roundTrip(t, c, dumps(t, pickle.NewList(pickle.None, "create", pickle.NewList("list", pickle.NewList(int64(1))), pickle.NewDict())))
		eq(t, "create with lists", kind, "#RETURN")
		id := res.(pickle.Tuple)[0]
		c = rawConn(t, s)
		kind, _ = roundTrip(t, c, dumps(t, pickle.Tuple{pickle.None, "decref", pickle.NewList(id), pickle.NewDict()}))
		eq(t, "decref with list args", kind, "#RETURN")
	})

	t.Run("unknown typeid, method, public call", func(t *testing.T) {
		_, err := m.Create(ctx, "NoSuchType", nil, nil)
		if !errors.As(err, &re) || !errors.Is(err, manager.ErrKeyError) {
			t.Errorf("unknown typeid: %v", err)
		}
		_, err = m.Create(ctx, "Iterator", nil, nil)
		if !errors.As(err, &re) {
			t.Errorf("create of a type clients cannot create: %v", err)
		}
		_, err = d.Call(ctx, "no_such_method")
		if !errors.As(err, &re) || !strings.Contains(re.Traceback, "not in exposed") {
			t.Errorf("unknown method: %v", err)
		}
		_, err = d.Call(ctx, "__getitem__") // missing argument: a Python TypeError
		isErr(t, "missing argument", err, manager.ErrTypeError)
		c := rawConn(t, s)
		kind, res := roundTrip(t, c, dumps(t, pickle.Tuple{pickle.None, "no_such_call", pickle.Tuple{}, pickle.NewDict()}))
		eq(t, "unknown public call", kind, "#TRACEBACK")
		if tb, _ := res.(string); !strings.Contains(tb, "AssertionError") {
			t.Errorf("traceback %q", tb)
		}
		c = rawConn(t, s)
		kind, _ = roundTrip(t, c, dumps(t, pickle.Tuple{d.Token().ID, "__len__", pickle.Tuple{}, pickle.NewDict()}))
		eq(t, "method call before accept_connection", kind, "#TRACEBACK")
	})

	t.Run("released objects", func(t *testing.T) {
		l, err := m.List(ctx, []int{1})
		must(t, err)
		tok := l.Token()
		must(t, l.Close())
		_, err = m.Proxy(ctx, tok) // incref of a deleted object
		if !errors.As(err, &re) || !errors.Is(err, manager.ErrKeyError) {
			t.Errorf("incref of a released object: %v", err)
		}
		c := accepted(t, s)
		kind, res := roundTrip(t, c, dumps(t, pickle.Tuple{tok.ID, "__len__", pickle.Tuple{}, pickle.NewDict()}))
		eq(t, "call on a released object", kind, "#TRACEBACK")
		if tb, _ := res.(string); !strings.Contains(tb, "KeyError") {
			t.Errorf("traceback %q", tb)
		}
		// The connection survives it, as in CPython.
		kind, _ = roundTrip(t, c, dumps(t, pickle.Tuple{d.Token().ID, "__len__", pickle.Tuple{}, pickle.NewDict()}))
		eq(t, "next call", kind, "#RETURN")
		c2 := rawConn(t, s)
		kind, _ = roundTrip(t, c2, dumps(t, pickle.Tuple{pickle.None, "decref", pickle.Tuple{tok.ID}, pickle.NewDict()}))
		eq(t, "decref of a released object", kind, "#TRACEBACK")
	})

	// Every refused connection was closed and logged; none is left open
	// but the clients'.
	waitFor(t, "bad connections to close", 10*time.Second, func() bool { return s.NumConns() <= 6 })
	logMu.Lock()
	n := len(logged)
	logMu.Unlock()
	if n == 0 {
		t.Error("nothing was logged")
	}
}

// TestHandshakeTimeout checks that a client that connects and says nothing
// is dropped after the handshake timeout, without holding up others.
func TestHandshakeTimeout(t *testing.T) {
	cfg := manager.DefaultServerConfig()
	cfg.HandshakeTimeout = 200 * time.Millisecond
	s := startServer(t, cfg)
	keepWorking(t, s)
	nc, err := net.Dial(s.Addr().Network, s.Addr().Addr)
	must(t, err)
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 256)
	start := time.Now()
	for {
		if _, err := nc.Read(buf); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("idle connection kept past the handshake timeout")
			}
			break
		}
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("dropped after %v, before the timeout", d)
	}
}

// TestConfig checks the server configuration's validation.
func TestConfig(t *testing.T) {
	for name, cfg := range map[string]*manager.ServerConfig{
		"empty authkey":     {Authkey: []byte{}, MaxMessageSize: 1, MaxConnections: 1},
		"remote address":    {Address: "192.0.2.1:5000", MaxMessageSize: 1, MaxConnections: 1},
		"zero message size": {MaxConnections: 1},
		"bad address":       {Address: "nonsense", MaxMessageSize: 1, MaxConnections: 1},
	} {
		if _, err := manager.NewServer(cfg); !errors.Is(err, manager.ErrConfig) {
			t.Errorf("%s: got %v, want ErrConfig", name, err)
		}
	}
	cfg := manager.DefaultServerConfig()
	cfg.Address = "192.0.2.1:5000"
	cfg.AllowRemote = true
	if err := cfg.Verify(); err != nil {
		t.Errorf("AllowRemote: %v", err)
	}
	s, err := manager.NewServer(nil)
	must(t, err)
	eq(t, "default authkey length", len(s.Authkey()), manager.AuthkeyLen)
	must(t, s.Listen())
	a := s.Addr()
	eq(t, "default network", a.Network, "unix")
	must(t, s.Shutdown(ctxT(t)))
	if _, err := os.Stat(filepath.Dir(a.Addr)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("default socket directory left behind: %v", err)
	}
}
