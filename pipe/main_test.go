//go:build linux

package pipe_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/process"
)

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

// configs are the receive strategies every framing test runs under.
func configs() map[string]*pipe.Config {
	exact := pipe.DefaultConfig()
	exact.ReadBufferSize = 0
	small := pipe.DefaultConfig()
	small.ReadBufferSize = 64
	return map[string]*pipe.Config{"readahead": pipe.DefaultConfig(), "readahead64": small, "exact": exact}
}

// A transport makes a connected pair: r receives, w sends (w may also be
// able to receive, r to send, except for the one-way pipe).
type transport struct {
	name   string
	duplex bool
	pair   func(t testing.TB, cfg *pipe.Config) (r, w *pipe.Conn)
}

func transports() []transport {
	return []transport{
		{"socketpair", true, func(t testing.TB, cfg *pipe.Config) (*pipe.Conn, *pipe.Conn) {
			a, b, err := cfg.Pipe(true)
			must(t, err)
			closeAll(t, a, b)
			return a, b
		}},
		{"pipe", false, func(t testing.TB, cfg *pipe.Config) (*pipe.Conn, *pipe.Conn) {
			r, w, err := cfg.Pipe(false)
			must(t, err)
			closeAll(t, r, w)
			return r, w
		}},
		{"unix", true, func(t testing.TB, cfg *pipe.Config) (*pipe.Conn, *pipe.Conn) {
			return netPair(t, cfg, "unix", filepath.Join(t.TempDir(), "s"))
		}},
		{"tcp", true, func(t testing.TB, cfg *pipe.Config) (*pipe.Conn, *pipe.Conn) {
			return netPair(t, cfg, "tcp", "127.0.0.1:0")
		}},
	}
}

// netPair listens, dials and accepts (no authkey): r is the accepted end.
func netPair(t testing.TB, cfg *pipe.Config, network, addr string) (r, w *pipe.Conn) {
	l, err := cfg.ListenNetwork(network, addr, nil)
	must(t, err)
	defer l.Close()
	type res struct {
		c   *pipe.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := l.Accept(); ch <- res{c, err} }()
	w, err = cfg.DialNetwork(network, l.Addr().String(), nil)
	must(t, err)
	a := <-ch
	must(t, a.err)
	closeAll(t, a.c, w)
	return a.c, w
}

func closeAll(t testing.TB, cs ...*pipe.Conn) {
	t.Cleanup(func() {
		for _, c := range cs {
			if !c.Closed() {
				c.Close()
			}
		}
	})
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// rawWriter returns a function writing raw bytes on w's descriptor, and one
// closing w entirely (so that its peer sees end of file).
func rawWriter(t testing.TB, w *pipe.Conn) (write func(b []byte), hangUp func()) {
	t.Helper()
	f, err := w.File()
	must(t, err)
	t.Cleanup(func() { f.Close() })
	write = func(b []byte) {
		t.Helper()
		if _, err := f.Write(b); err != nil {
			t.Fatalf("raw write: %v", err)
		}
	}
	hangUp = func() {
		f.Close()
		if !w.Closed() {
			w.Close()
		}
	}
	return write, hangUp
}

// rawReader reads exactly n raw bytes from c's descriptor (bypassing its
// framing).
func rawRead(t testing.TB, c *pipe.Conn, n int) []byte {
	t.Helper()
	f, err := c.File()
	must(t, err)
	defer f.Close()
	must(t, f.SetReadDeadline(time.Now().Add(10*time.Second)))
	b := make([]byte, n)
	if _, err := io.ReadFull(f, b); err != nil {
		t.Fatalf("raw read of %d bytes: %v", n, err)
	}
	return b
}

// pattern returns n deterministic bytes depending on seed.
func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7) ^ seed + byte(i>>8)
	}
	return b
}

func expectBytes(t testing.TB, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		t.Fatalf("got %d bytes %s, want %d bytes %s", len(got), head(got), len(want), head(want))
	}
}

func head(b []byte) string {
	if len(b) > 16 {
		return fmt.Sprintf("%x...", b[:16])
	}
	return fmt.Sprintf("%x", b)
}

func expectErr(t testing.TB, err error, targets ...error) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want %v", targets)
	}
	for _, target := range targets {
		if !errors.Is(err, target) {
			t.Fatalf("got error %q, want one matching %q", err, target)
		}
	}
}

// A wait mode says how blocking calls wait (see wait.go): in ppoll first
// (direct), or in the netpoller only.
type waitMode struct {
	name   string
	direct bool
}

var waitModes = []waitMode{{"ppoll", true}, {"netpoll", false}}

// inModes runs f as a subtest in each wait mode. In "ppoll" mode a wait
// stays in ppoll for up to a minute, so that only a kick (Close, a deadline
// change) can end it early: a test that sees a prompt return proves the
// kick. In "netpoll" mode every wait goes to the netpoller.
func inModes(t *testing.T, f func(t *testing.T, m waitMode)) {
	for _, m := range waitModes {
		t.Run(m.name, func(t *testing.T) {
			n := int32(0)
			if m.direct {
				n = 32
			}
			t.Cleanup(pipe.SetDirectWaits(n, time.Minute))
			f(t, m)
		})
	}
}

// blockedStates are the goroutine states of a call blocked in this
// package: waiting in the netpoller, or in ppoll (a system call).
const (
	stateNetpoll = "[IO wait"
	stateSyscall = "[syscall"
)

// waitBlocked waits until some goroutine is blocked (in the netpoller or in
// ppoll) inside a function whose name contains fn, so that a test acts on a
// call that is really blocked rather than one that has not started.
func waitBlocked(t testing.TB, fn string) {
	t.Helper()
	waitGoroutines(t, 1, fn, stateNetpoll, stateSyscall)
}

// countBlocked counts the goroutines in one of states whose stack
// mentions every one of fns.
func countBlocked(fns []string, states ...string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		inState := false
		for _, st := range states {
			inState = inState || strings.Contains(header, st)
		}
		all := inState
		for _, fn := range fns {
			all = all && strings.Contains(g, fn)
		}
		if all {
			count++
		}
	}
	return count
}

// waitGoroutines waits until at least n goroutines are in one of states
// inside fn (a function name or a part of one).
func waitGoroutines(t testing.TB, n int, fn string, states ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if countBlocked([]string{fn}, states...) >= n {
			return
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d goroutines blocked in %s (states %q)", n, fn, states)
}

// waitInPpoll waits until n goroutines are blocked in ppoll inside fn.
func waitInPpoll(t testing.TB, n int, fn string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if countBlocked([]string{fn, "pipe.(*Conn).waitDirect", "unix.Ppoll"}, stateSyscall) >= n {
			return
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("fewer than %d goroutines in ppoll in %s", n, fn)
}
