//go:build linux

package manager_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
)

// suiteAll runs the slow Python checks (CPython's own manager tests, spawn
// children) on every interpreter rather than the oldest and the newest.
var suiteAll = flag.Bool("mproc.python-all", false, "run the slow CPython checks on every interpreter found, not only the oldest and newest")

// pyLimit bounds the Python interpreters running at once (the machine has
// two cores).
var pyLimit = make(chan struct{}, 4)

// edge reports whether py is the oldest or newest of pys.
func edge(py python, pys []python) bool {
	return py == pys[0] || py == pys[len(pys)-1]
}

// TestPythonClients runs testdata/interop.py, an unmodified CPython
// SyncManager client exercising every type, against the Go server, once
// per interpreter found (in parallel), each with a server of its own; after
// the client exits, the server must hold no object. Children are started
// with fork and spawn on the oldest and newest interpreter, with fork on
// the others (all with -mproc.python-all).
func TestPythonClients(t *testing.T) {
	pys := pythons(t)
	for _, py := range pys {
		t.Run(py.version, func(t *testing.T) {
			t.Parallel()
			pyLimit <- struct{}{}
			defer func() { <-pyLimit }()
			s := startServer(t, nil)
			methods := "fork"
			if *suiteAll || edge(py, pys) {
				methods = "fork,spawn"
			}
			out := runPython(t, py, 100*time.Second, []string{"INTEROP_START_METHODS=" + methods}, "interop.py", s.Addr().Addr, hex.EncodeToString(s.Authkey()))
			if !strings.Contains(out, "checks: ") || strings.Contains(out, "FAIL") {
				t.Fatalf("interop.py:\n%s", out)
			}
			t.Logf("%s", strings.TrimSpace(out[strings.LastIndex(out, "checks: "):]))
			waitFor(t, "number_of_objects to reach 0", 10*time.Second, func() bool { return s.NumObjects() == 0 })
			s.Collect()
			if n := s.NumEntries(); n != 0 {
				t.Errorf("%d objects left in the server's table after the client exited", n)
			}
		})
	}
}

// cpythonSuite runs CPython's whole manager test suite on every
// interpreter (TestCPythonSuite); the default run takes a fast subset on
// the newest one.
var cpythonSuite = flag.Bool("mproc.cpython", false, "run CPython's whole manager test suite (testdata/cpython_suite.py) against the Go server on every interpreter found")

// knownSuiteFailures are the CPython manager tests the Go server cannot
// pass: they need the server to run Python code.
var knownSuiteFailures = map[string]string{
	"mproc_cpython_suite.WithManagerTestBarrier.test_action": "Barrier(action=callable): the server runs no Python code",
	"setUpClass (mproc_cpython_suite.WithManagerTestPool)":   "Pool runs Python functions: not served",
	"mproc_cpython_suite.TestSyncManagerTypes.test_pool":     "Pool runs Python functions: not served",
}

// quickSuite is the part of CPython's manager suite the default run takes:
// the containers (dict, list, Namespace, nested proxies), locks, a
// condition, a barrier, an event, a queue, a custom manager and the
// xmlrpclib serializer.
var quickSuite = []string{
	"TestSyncManagerTypes.test_dict", "WithManagerTestContainers", "WithManagerTestLock",
	"WithManagerTestCondition.test_notify_all", "WithManagerTestBarrier.test_abort_and_reset",
	"WithManagerTestEvent.test_event", "WithManagerTestQueue.test_get",
	"WithManagerTestMyManager.test_mymanager_context_prestarted", "WithManagerTestRemoteManager",
}

// TestCPythonSuite runs CPython's own manager tests (Lib/test/
// _test_multiprocessing.py: the WithManager* classes, TestSyncManagerTypes,
// TestInitializers, TestManagerExceptions, with their child processes)
// with every manager server they start being this test binary serving
// (testdata/cpython_suite.py replaces BaseManager._run_server): every test
// must pass but the known ones, and no test class may leave objects
// behind. The default run takes quickSuite on the newest interpreter;
// -mproc.cpython runs everything on every interpreter.
func TestCPythonSuite(t *testing.T) {
	pys := pythons(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	server, _ := json.Marshal([]string{exe})
	for i, py := range pys {
		if !*cpythonSuite && i != len(pys)-1 {
			continue
		}
		t.Run(py.version, func(t *testing.T) {
			t.Parallel()
			pyLimit <- struct{}{}
			defer func() { <-pyLimit }()
			if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(py.path)), "lib", "python"+py.version, "test", "_test_multiprocessing.py")); err != nil {
				t.Skipf("python %s has no test package (Lib/test/_test_multiprocessing.py): %v", py.version, err)
			}
			args := []string{filepath.Join("testdata", "cpython_suite.py")}
			if !*cpythonSuite {
				args = append(args, quickSuite...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 280*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, py.path, args...)
			cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1", "MPROC_SERVER="+string(server), serveEnv+"=1")
			outb, _ := cmd.CombinedOutput()
			out := string(outb)
			i := strings.LastIndex(out, "SUITE ")
			if i < 0 {
				t.Fatalf("cpython_suite.py did not finish:\n%s", out)
			}
			var run, failures, errs, skipped int
			fmt.Sscanf(out[i:], "SUITE run=%d failures=%d errors=%d skipped=%d", &run, &failures, &errs, &skipped)
			known := 0
			for _, line := range strings.Split(out[i:], "\n") {
				if name, ok := strings.CutPrefix(line, "FAILED "); ok {
					if _, ok := knownSuiteFailures[name]; ok {
						known++
					} else {
						t.Errorf("CPython test failed against the Go server: %s", name)
					}
				}
			}
			t.Logf("python %s: %d tests run, %d passed, %d skipped by CPython, %d failed (%d known: need Python code in the server)",
				py.version, run, run-failures-errs-skipped, skipped, failures+errs, known)
			if run == 0 {
				t.Errorf("no test ran")
			}
			if strings.Contains(out, "WARNING: DATA RACE") {
				t.Errorf("the race detector reported a race in the server")
			}
			if strings.Contains(out, "\nLEFT ") {
				t.Errorf("a test class left objects in the server")
			}
			if t.Failed() {
				t.Logf("output:\n%s", out)
			}
		})
	}
}

// pyServer runs testdata/pyserver.py, a CPython SyncManager server, and
// returns its address; it is killed at the end of the test.
func pyServer(t *testing.T, py python, authkey []byte) string {
	return pyServerB(t, py, authkey)
}

// pyServerB is pyServer for tests and benchmarks.
func pyServerB(t testing.TB, py python, authkey []byte) string {
	return pyScriptServer(t, py, "pyserver.py", func(sock string) []string {
		return []string{sock, hex.EncodeToString(authkey)}
	})
}

// pyScriptServer runs testdata/script, a CPython manager server listening
// on the socket path it is given (args builds its arguments around it),
// waits for its "ADDRESS ..." line and returns the address; the server is
// killed at the end of the test.
func pyScriptServer(t testing.TB, py python, script string, args func(sock string) []string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	sock := filepath.Join(t.TempDir(), "py.sock")
	cmd := exec.CommandContext(ctx, py.path, append([]string{filepath.Join("testdata", script)}, args(sock)...)...)
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDRESS ") {
		t.Fatalf("python %s server: %q %v", py.version, line, err)
	}
	return strings.TrimSpace(strings.TrimPrefix(line, "ADDRESS "))
}

// TestGoClientPythonServer runs the Go client through every type against
// CPython's own SyncManager server, for each interpreter.
func TestGoClientPythonServer(t *testing.T) {
	for _, py := range pythons(t) {
		t.Run(py.version, func(t *testing.T) {
			t.Parallel()
			pyLimit <- struct{}{}
			defer func() { <-pyLimit }()
			key := manager.NewAuthkey()
			addr := pyServer(t, py, key)
			ctx := ctxT(t)
			m, err := manager.Connect(ctx, addr, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			if m.Session() {
				t.Fatal("a CPython server accepted an mproc session")
			}
			exercise(t, m)
			n, err := m.NumObjects(ctx)
			if err != nil || n != 0 {
				info, _ := m.DebugInfo(ctx)
				t.Errorf("number_of_objects = %d, %v after the client released everything:\n%s", n, err, info)
			}
			if err := m.Shutdown(ctx); err != nil {
				t.Errorf("shutdown: %v", err)
			}
			if err := m.Shutdown(ctx); err != nil {
				t.Errorf("second shutdown: %v", err)
			}
		})
	}
}
