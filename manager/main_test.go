//go:build linux

package manager_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/process"
)

func TestMain(m *testing.M) {
	process.Main()
	if os.Getenv(serveEnv) != "" {
		// syscall.Exit: without the race detector's exit work, which takes
		// a second, longer than Python's manager waits for its server to
		// exit after a shutdown before it sends SIGTERM. (A race is still
		// reported on stderr when it happens, which the Python tests show.)
		syscall.Exit(serveForPython(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// serveEnv makes the test binary a manager server, for
// testdata/cpython_suite.py: it serves suiteRegistry with the arguments of
// "mproc manager serve" (--address, --authkey-file, --serializer), prints
// "serving on ADDRESS" and runs until a shutdown call or SIGTERM.
const serveEnv = "MPROC_TEST_MANAGER_SERVE"

func serveForPython(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	address := fs.String("address", "", "address to listen on")
	keyFile := fs.String("authkey-file", "", "file holding the authkey")
	serializer := fs.String("serializer", "pickle", "pickle or xmlrpclib")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	key, err := os.ReadFile(*keyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mproc test server:", err)
		return 1
	}
	cfg := manager.DefaultServerConfig()
	cfg.Address, cfg.Authkey, cfg.Serializer = *address, key, *serializer
	cfg.Registry = suiteRegistry()
	cfg.ErrorLog = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "mproc test server: "+strings.TrimSuffix(format, "\n")+"\n", args...)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = manager.Serve(ctx, cfg, func(s *manager.Server) { fmt.Printf("serving on %s\n", s.Addr()) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "mproc test server:", err)
		return 1
	}
	return 0
}

// suiteRegistry is SyncManager's types plus those CPython's manager tests
// register on their own managers: _TestMyManager's Foo, Bar and baz, and
// the get_queue of _TestRemoteManager and _TestManagerRestart (one shared
// queue, as their callable returns one queue.Queue).
func suiteRegistry() *manager.Registry {
	r := testRegistry()
	if err := r.Register(manager.Type{TypeID: "get_queue", Base: "Queue", Shared: true}); err != nil {
		panic(err)
	}
	return r
}

// startServer runs a server for the test with cfg's address and registry
// (nil: a Unix socket in the test's temp dir, SyncManager's types) and
// shuts it down at the end of the test.
func startServer(t testing.TB, cfg *manager.ServerConfig) *manager.Server {
	t.Helper()
	if cfg == nil {
		cfg = manager.DefaultServerConfig()
	}
	if cfg.Address == "" {
		cfg.Address = filepath.Join(t.TempDir(), "m.sock")
	}
	s, err := manager.NewServer(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	go s.Serve()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return s
}

// connect returns a client of s, closed at the end of the test.
func connect(t testing.TB, s *manager.Server, cfg *manager.ClientConfig) *manager.Manager {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	m, err := manager.Connect(ctx, addrString(s.Addr()), s.Authkey(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func addrString(a manager.Address) string { return a.Network + ":" + a.Addr }

// ctxT returns a context for one step of a test.
func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// python is one CPython interpreter found on the machine.
type python struct {
	version string // "3.13"
	path    string
}

// pythons returns the CPython 3 interpreters under ~/.pyenv/versions,
// oldest first; the test is skipped, naming what is missing, if there are
// none.
func pythons(t testing.TB) []python {
	t.Helper()
	home, _ := os.UserHomeDir()
	paths, _ := filepath.Glob(filepath.Join(home, ".pyenv/versions/3.*/bin/python3"))
	var out []python
	for _, p := range paths {
		v := filepath.Base(filepath.Dir(filepath.Dir(p))) // 3.13.0
		parts := strings.Split(v, ".")
		if len(parts) < 2 {
			continue
		}
		out = append(out, python{version: parts[0] + "." + parts[1], path: p})
	}
	sort.Slice(out, func(i, j int) bool {
		mi, _ := strconv.Atoi(strings.Split(out[i].version, ".")[1])
		mj, _ := strconv.Atoi(strings.Split(out[j].version, ".")[1])
		return mi < mj
	})
	if len(out) == 0 {
		t.Skip("no CPython 3 interpreter under ~/.pyenv/versions/3.*/bin/python3: the interop tests need one")
	}
	return out
}

// runPython runs a script of testdata with args (and extra environment)
// and returns its combined
// output; it fails the test if the script fails.
func runPython(t testing.TB, py python, timeout time.Duration, env []string, script string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, py.path, append([]string{filepath.Join("testdata", script)}, args...)...)
	cmd.Env = append(append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("python %s %s: %v\n%s", py.version, script, err, out)
	}
	return string(out)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
