//go:build linux

package manager_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/process"
)

// Cross-process tests: clients and servers in child processes started with
// package process (the test binary re-executed).

func init() {
	process.Register("manager-test-dict-writer", childDictWriter)
	process.Register("manager-test-waiter", childWaiter)
}

// childDictWriter connects to the manager at args (address, authkey hex),
// takes the dict whose token is args[2], and sets d["child"] = its pid.
func childDictWriter(a *process.Args) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := hex.DecodeString(a.String(1))
	if err != nil {
		return err
	}
	m, err := manager.Connect(ctx, a.String(0), key, nil)
	if err != nil {
		return err
	}
	defer m.Close()
	var tok manager.Token
	if err := a.Decode(2, &tok); err != nil {
		return err
	}
	p, err := m.Proxy(ctx, tok)
	if err != nil {
		return err
	}
	d := &manager.Dict{Proxy: p}
	if err := d.Set(ctx, "child", os.Getpid()); err != nil {
		return err
	}
	return p.Close()
}

// childWaiter connects, makes objects of its own (a dict, a list, a
// queue), takes the Condition whose token is args[2], acquires it and
// waits on it forever. The parent kills it there.
func childWaiter(a *process.Args) error {
	ctx := context.Background()
	key, err := hex.DecodeString(a.String(1))
	if err != nil {
		return err
	}
	m, err := manager.Connect(ctx, a.String(0), key, nil)
	if err != nil {
		return err
	}
	for range 3 {
		d, err := m.Dict(ctx, map[string]int{"x": 1})
		if err != nil {
			return err
		}
		if _, err := m.List(ctx, []int{1, 2}); err != nil {
			return err
		}
		if _, err := m.Queue(ctx, 0); err != nil {
			return err
		}
		_ = d
	}
	var tok manager.Token
	if err := a.Decode(2, &tok); err != nil {
		return err
	}
	p, err := m.Proxy(ctx, tok)
	if err != nil {
		return err
	}
	c := &manager.Condition{Proxy: p}
	if err := c.Acquire(ctx); err != nil {
		return err
	}
	fmt.Println("acquired")
	_, err = c.Wait(ctx) // killed here
	return fmt.Errorf("wait returned: %v", err)
}

// TestStart runs the server in a child process (Python's manager.start()),
// hands a proxy to another child, and shuts the server down twice.
func TestStart(t *testing.T) {
	ctx := ctxT(t)
	m, err := manager.Start(ctx, &manager.StartConfig{Registry: "mproc-test"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Process() == nil || !m.Process().IsAlive() {
		t.Fatal("no live server process")
	}
	d, err := m.Dict(ctx)
	must(t, err)
	foo, err := m.Create(ctx, "Foo", nil, nil) // a type of the named registry
	must(t, err)
	v, err := foo.Call(ctx, "f")
	must(t, err)
	eq(t, "Foo.f()", v, "f()")

	child, err := process.Start("manager-test-dict-writer", &process.Options{
		Args: []any{addrString(m.Address()), hex.EncodeToString(m.Authkey()), d.Token()},
	})
	must(t, err)
	must(t, child.Join(ctx))
	if code, _ := child.ExitCode(); code != 0 {
		t.Fatalf("child exit code %d", code)
	}
	var pid int
	must(t, d.Get(ctx, "child", &pid))
	eq(t, "pid written by the child", pid, child.Pid())
	must(t, d.Close())
	must(t, foo.Close())
	n, err := m.NumObjects(ctx)
	must(t, err)
	eq(t, "objects after closing", n, 0)

	srv := m.Process()
	must(t, m.Shutdown(ctx))
	must(t, m.Shutdown(ctx)) // a second shutdown does nothing
	if !srv.JoinTimeout(10 * time.Second) {
		t.Fatal("server process still alive after shutdown")
	}
	if code, _ := srv.ExitCode(); code != 0 {
		t.Errorf("server exit code %d", code)
	}
	_, err = m.Dict(ctx)
	isErr(t, "call after shutdown", err, manager.ErrClosed)
}

// TestClientKilledMidCall kills a client process while it is blocked in a
// call on the server: the server and another client carry on, the killed
// client's objects are released, and the lock it was waiting for is not
// taken by the dead waiter.
func TestClientKilledMidCall(t *testing.T) {
	s := startServer(t, nil)
	m := connect(t, s, nil)
	ctx := ctxT(t)
	cond, err := m.Condition(ctx)
	must(t, err)
	d, err := m.Dict(ctx)
	must(t, err)
	before := s.NumObjects()

	rd, wr, err := os.Pipe()
	must(t, err)
	child, err := process.Start("manager-test-waiter", &process.Options{
		Args:   []any{addrString(s.Addr()), hex.EncodeToString(s.Authkey()), cond.Token()},
		Stdout: wr,
	})
	wr.Close()
	must(t, err)
	defer child.Kill()
	if line, err := bufio.NewReader(rd).ReadString('\n'); line != "acquired\n" {
		t.Fatalf("child: %q %v", line, err)
	}
	// The child holds the condition's lock until it is inside wait, which
	// releases it: acquiring it here proves the child is blocked in the
	// server.
	waitFor(t, "the child to wait on the condition", 30*time.Second, func() bool {
		ok, err := (&manager.Acquirer{Proxy: cond.Proxy}).TryAcquire(ctx)
		must(t, err)
		return ok
	})
	eq(t, "objects with the child's", s.NumObjects(), before+9)
	must(t, cond.Release(ctx))

	// Another client keeps working while the child dies.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	var ops int
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := d.Set(ctx, "k", i); err != nil {
				t.Error(err)
				return
			}
			ops++
		}
	}()

	must(t, child.Kill())
	child.JoinTimeout(10 * time.Second)
	if code, _ := child.ExitCode(); code != -9 {
		t.Errorf("child exit code %d, want -9", code)
	}
	waitFor(t, "the killed client's objects to be released", 10*time.Second, func() bool { return s.NumObjects() == before })
	close(stop)
	wg.Wait()
	if ops == 0 {
		t.Error("the other client made no progress")
	}
	// The dead waiter did not take the condition's lock back.
	must(t, cond.Acquire(ctx))
	must(t, cond.Notify(ctx, 1))
	must(t, cond.Release(ctx))
	s.Collect()
	eq(t, "table entries", s.NumEntries(), before)
}

// TestPythonClientKilled kills a Python client holding proxies (SIGKILL:
// no finalizers run); the server releases what it held, found through the
// Unix socket's peer credentials.
func TestPythonClientKilled(t *testing.T) {
	pys := pythons(t)
	py := pys[len(pys)-1]
	s := startServer(t, nil)
	script := `
import sys, time, multiprocessing
from multiprocessing.managers import SyncManager
key = bytes.fromhex(sys.argv[2])
multiprocessing.current_process().authkey = key
m = SyncManager(address=sys.argv[1], authkey=key); m.connect()
objs = [m.dict(a=1), m.list([1]), m.Lock(), m.Queue()]
objs[0]['x'] = 2
print("ready", flush=True)
time.sleep(600)
`
	cmd := exec.Command(py.path, "-c", script, s.Addr().Addr, hex.EncodeToString(s.Authkey()))
	out, err := cmd.StdoutPipe()
	must(t, err)
	cmd.Stderr = os.Stderr
	must(t, cmd.Start())
	defer cmd.Process.Kill()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("python client: %q %v", line, err)
	}
	eq(t, "objects held by the Python client", s.NumObjects(), 4)
	must(t, cmd.Process.Signal(syscall.SIGKILL))
	cmd.Wait()
	waitFor(t, "the killed Python client's objects to be released", 10*time.Second, func() bool { return s.NumObjects() == 0 })
}

func init() {
	process.Register("manager-test-blocked-client", childBlockedClient)
}

// childBlockedClient connects and blocks in four calls at once (queue get,
// lock acquire, event wait, barrier wait), then reports on stdout how each
// ended and how long it took after the first "go" line on stdin... it
// writes "blocked" once the calls are made.
func childBlockedClient(a *process.Args) error {
	ctx := context.Background()
	key, _ := hex.DecodeString(a.String(1))
	m, err := manager.Connect(ctx, a.String(0), key, nil)
	if err != nil {
		return err
	}
	q, err := m.Queue(ctx, 0)
	if err != nil {
		return err
	}
	lk, err := m.Lock(ctx)
	if err != nil {
		return err
	}
	if err := lk.Acquire(ctx); err != nil {
		return err
	}
	ev, err := m.Event(ctx)
	if err != nil {
		return err
	}
	b, err := m.Barrier(ctx, 5, 0)
	if err != nil {
		return err
	}
	calls := map[string]func() error{
		"queue.get":    func() error { return q.Get(ctx, nil) },
		"lock.acquire": func() error { return lk.Acquire(ctx) },
		"event.wait":   func() error { _, err := ev.Wait(ctx); return err },
		"barrier.wait": func() error { _, err := b.Wait(ctx); return err },
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	results := map[string]error{}
	for name, f := range calls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f()
			mu.Lock()
			results[name] = err
			mu.Unlock()
		}()
	}
	// Wait until the barrier call is inside the server (NWaiting), as a
	// sign the others, sent at the same time, have been sent too.
	for {
		n, err := b.NWaiting(ctx)
		if err != nil {
			return err
		}
		if n == 1 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the other three calls reach the server
	fmt.Println("blocked")
	wg.Wait()
	for name, err := range results {
		if !errors.Is(err, manager.ErrServerGone) {
			fmt.Printf("%s: %v\n", name, err)
			return fmt.Errorf("%s ended with %v, not ErrServerGone", name, err)
		}
	}
	// Later calls fail at once.
	if _, err := m.Dict(ctx); !errors.Is(err, manager.ErrServerGone) {
		return fmt.Errorf("call after the server stopped: %v", err)
	}
	fmt.Println("all ended with ErrServerGone")
	return nil
}

// TestServerStoppedWhileBlocked stops the server (a shutdown call from
// another client, or SIGKILL of the server process) while a client process
// is blocked in four calls: each returns ErrServerGone at once.
func TestServerStoppedWhileBlocked(t *testing.T) {
	for _, how := range []string{"shutdown", "sigkill"} {
		t.Run(how, func(t *testing.T) {
			ctx := ctxT(t)
			m, err := manager.Start(ctx, nil)
			must(t, err)
			defer m.Close()
			srv := m.Process()
			defer srv.Kill()
			rd, wr, err := os.Pipe()
			must(t, err)
			child, err := process.Start("manager-test-blocked-client", &process.Options{
				Args:   []any{addrString(m.Address()), hex.EncodeToString(m.Authkey())},
				Stdout: wr,
			})
			wr.Close()
			must(t, err)
			defer child.Kill()
			br := bufio.NewReader(rd)
			line, err := br.ReadString('\n')
			if err != nil || line != "blocked\n" {
				t.Fatalf("child: %q %v", line, err)
			}
			start := time.Now()
			if how == "shutdown" {
				must(t, m.Shutdown(ctx))
				must(t, m.Shutdown(ctx))
			} else {
				must(t, srv.Kill())
			}
			if err := child.Join(ctx); err != nil {
				t.Fatalf("client still blocked %v after the server stopped: %v", time.Since(start), err)
			}
			rest, _ := br.ReadString(0)
			if code, _ := child.ExitCode(); code != 0 {
				t.Fatalf("child exit code %d:\n%s", code, rest)
			}
			if !strings.Contains(rest, "all ended with ErrServerGone") {
				t.Fatalf("child output: %q", rest)
			}
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("blocked calls took %v to fail", d)
			}
		})
	}
}

// TestServerShutdownTwice shuts an in-process server down twice, from two
// goroutines, with a client connected.
func TestServerShutdownTwice(t *testing.T) {
	cfg := manager.DefaultServerConfig()
	cfg.Address = filepath.Join(t.TempDir(), "s.sock")
	s, err := manager.NewServer(cfg)
	must(t, err)
	must(t, s.Start())
	m := connect(t, s, nil)
	ctx := ctxT(t)
	q, err := m.Queue(ctx, 0)
	must(t, err)
	got := make(chan error, 1)
	go func() { got <- q.Get(ctx, nil) }()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); must(t, s.Shutdown(ctx)) }()
	}
	wg.Wait()
	must(t, s.Shutdown(ctx))
	isErr(t, "blocked get at shutdown", <-got, manager.ErrServerGone)
	isErr(t, "serve after shutdown", s.Serve(), manager.ErrShutdown)
	if _, err := os.Stat(cfg.Address); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket file left behind: %v", err)
	}
}
