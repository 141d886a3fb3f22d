package process_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mproc/mproc/process"
)

// testTimeout bounds every wait in these tests: a broken child fails the
// test instead of hanging it.
const testTimeout = 10 * time.Second

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

// The helpers below run in child processes (re-executions of this test
// binary). Each reports back through its exit code or inherited files.
func init() {
	process.Register("exit-ok", func(*process.Args) error { return nil })
	process.Register("exit-error", func(*process.Args) error { return errors.New("boom") })
	process.Register("exit-3", func(*process.Args) error { os.Exit(3); return nil })
	process.Register("exit-panic", func(*process.Args) error { panic("kaboom") })
	process.Register("block", childBlock)
	process.Register("echo-args", childEchoArgs)
	process.Register("write-file", childWriteFile)
	process.Register("identity", childIdentity)
	process.Register("nested", childNested)
	process.Register("spawn-grandchild", childSpawnGrandchild)
	process.Register("hold", childHold)
	process.Register("env-out", childEnvOut)
}

// childBlock writes one byte to its inherited file 1 (to say it runs),
// then reads its file 0 (a pipe's read end) until EOF, that is until the
// parent closes the write end, and exits 0.
func childBlock(a *process.Args) error {
	if _, err := a.File(1).Write([]byte{'!'}); err != nil {
		return err
	}
	_, err := io.Copy(io.Discard, a.File(0))
	return err
}

// token is a TextMarshaler standing in for a shared-memory handle.
type token struct {
	seg string
	off int
}

func (t token) MarshalText() ([]byte, error) {
	return fmt.Appendf(nil, "%s@%d", t.seg, t.off), nil
}

func (t *token) UnmarshalText(b []byte) error {
	seg, off, ok := strings.Cut(string(b), "@")
	if !ok {
		return fmt.Errorf("bad token %q", b)
	}
	n, err := strconv.Atoi(off)
	t.seg, t.off = seg, n
	return err
}

type job struct {
	ID   int      `json:"id"`
	Tags []string `json:"tags"`
}

// echoReport is what childEchoArgs decoded, sent back to the test.
type echoReport struct {
	Len      int
	Str      string
	Int      int
	Job      job
	TokSeg   string
	TokOff   int
	Floats   []float64
	Flag     bool
	Missing  string // error text of Decode past the end
	NumFiles int
}

func childEchoArgs(a *process.Args) error {
	var r echoReport
	r.Len = a.Len()
	r.Str = a.String(0)
	r.Int = a.Int(1)
	var tok token
	for i, v := range []any{&r.Job, &tok, &r.Floats, &r.Flag} {
		if err := a.Decode(2+i, v); err != nil {
			return err
		}
	}
	r.TokSeg, r.TokOff = tok.seg, tok.off
	if err := a.Decode(a.Len(), new(string)); errors.Is(err, process.ErrNoArgument) {
		r.Missing = "ErrNoArgument"
	}
	r.NumFiles = a.NumFiles()
	return json.NewEncoder(a.File(0)).Encode(r)
}

// childWriteFile writes a greeting to inherited file 0 and reports whether
// File(1) is nil.
func childWriteFile(a *process.Args) error {
	_, err := fmt.Fprintf(a.File(0), "hello from %s, files=%d, file1nil=%t",
		process.Current().Name, a.NumFiles(), a.File(1) == nil)
	return err
}

type identityReport struct {
	Current   process.Info
	Parent    process.Info
	HasParent bool
	EnvLeft   []string // MPROC_PROCESS_ variables still visible
}

// childIdentity writes its identityReport as one JSON line to file 0.
func childIdentity(a *process.Args) error {
	var r identityReport
	r.Current = process.Current()
	r.Parent, r.HasParent = process.Parent()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "MPROC_PROCESS_") {
			r.EnvLeft = append(r.EnvLeft, kv)
		}
	}
	return json.NewEncoder(a.File(0)).Encode(r)
}

// childNested reports its own identity, then starts "identity" as a
// grandchild writing to the same file and waits for it.
func childNested(a *process.Args) error {
	if err := childIdentity(a); err != nil {
		return err
	}
	p, err := process.Start("identity", &process.Options{Files: []*os.File{a.File(0)}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	if err := p.Join(ctx); err != nil {
		return err
	}
	if code, _ := p.ExitCode(); code != 0 {
		return fmt.Errorf("grandchild exited %d", code)
	}
	return nil
}

// childSpawnGrandchild is child A of the daemon tests. Files: 0 = report
// pipe (write end), 1 = control pipe (read end). Args: 0 = daemon flag. It
// starts "hold" (B) with both files, waits until B's function runs, writes
// B's pid as a line to the report pipe and blocks on the control pipe.
func childSpawnGrandchild(a *process.Args) error {
	var daemon bool
	if err := a.Decode(0, &daemon); err != nil {
		return err
	}
	ready, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	b, err := process.Start("hold", &process.Options{
		Files:  []*os.File{a.File(0), a.File(1), readyW},
		Daemon: daemon,
	})
	readyW.Close()
	if err != nil {
		return err
	}
	if _, err := io.ReadFull(ready, make([]byte, 1)); err != nil {
		return fmt.Errorf("grandchild did not start: %w", err)
	}
	if _, err := fmt.Fprintf(a.File(0), "%d\n", b.Pid()); err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, a.File(1))
	return err
}

// childHold is grandchild B: it says it runs on file 2, blocks on the
// control pipe (file 1) until EOF, then writes "alive" to the report pipe
// (file 0).
func childHold(a *process.Args) error {
	if _, err := a.File(2).Write([]byte{'!'}); err != nil {
		return err
	}
	a.File(2).Close()
	if _, err := io.Copy(io.Discard, a.File(1)); err != nil {
		return err
	}
	_, err := io.WriteString(a.File(0), "alive\n")
	return err
}

// childEnvOut prints MPROC_TEST_VALUE to stdout and a line to stderr.
func childEnvOut(*process.Args) error {
	fmt.Print(os.Getenv("MPROC_TEST_VALUE"))
	fmt.Fprint(os.Stderr, "to stderr\n")
	return nil
}

// pipe returns a new pipe; both ends are closed when the test ends.
func pipe(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	must.NoError(t, err)
	t.Cleanup(func() {
		r.Close()
		w.Close()
	})
	return r, w
}

// readAll reads r until EOF, failing the test after testTimeout.
func readAll(t *testing.T, r *os.File) []byte {
	t.Helper()
	must.NoError(t, r.SetReadDeadline(time.Now().Add(testTimeout)))
	b, err := io.ReadAll(r)
	must.NoError(t, err)
	return b
}

// start starts fn and makes sure the child is gone when the test ends.
func start(t *testing.T, fn string, opts *process.Options) *process.Process {
	t.Helper()
	p, err := process.Start(fn, opts)
	must.NoError(t, err)
	t.Cleanup(func() {
		_ = p.Kill()
		p.JoinTimeout(testTimeout)
	})
	return p
}

// join waits for p to exit (failing the test after testTimeout) and
// returns its exit code.
func join(t *testing.T, p *process.Process) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	must.NoError(t, p.Join(ctx))
	code, done := p.ExitCode()
	must.True(t, done)
	return code
}

// startBlocked starts "block" and waits until its function runs; the
// child exits 0 once release is called.
func startBlocked(t *testing.T) (p *process.Process, release func()) {
	t.Helper()
	r, w := pipe(t)
	ready, readyW := pipe(t)
	p = start(t, "block", &process.Options{Files: []*os.File{r, readyW}})
	r.Close()
	readyW.Close()
	must.NoError(t, ready.SetReadDeadline(time.Now().Add(testTimeout)))
	_, err := io.ReadFull(ready, make([]byte, 1))
	must.NoError(t, err, "child did not start")
	return p, func() { w.Close() }
}

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		fn   string
		want int
	}{
		{"exit-ok", 0},
		{"exit-error", 1},
		{"exit-3", 3},
		{"exit-panic", 2},
	} {
		t.Run(tc.fn, func(t *testing.T) {
			var stderr bytes.Buffer
			p := start(t, tc.fn, &process.Options{Stderr: &stderr})
			check.Equal(t, tc.want, join(t, p))
			check.False(t, p.IsAlive())
			switch tc.fn {
			case "exit-error":
				check.Equal(t, "process: "+p.Name()+" (exit-error): boom\n", stderr.String())
			case "exit-panic":
				check.Contains(t, stderr.String(), "panic: kaboom")
			}
		})
	}
	t.Run("SIGKILL", func(t *testing.T) {
		p, _ := startBlocked(t)
		must.NoError(t, p.Kill())
		check.Equal(t, -9, join(t, p))
	})
	t.Run("SIGTERM", func(t *testing.T) {
		p, _ := startBlocked(t)
		must.NoError(t, p.Terminate())
		check.Equal(t, -15, join(t, p))
	})
	t.Run("Signal", func(t *testing.T) {
		p, _ := startBlocked(t)
		must.NoError(t, p.Signal(syscall.SIGINT))
		check.Equal(t, -int(syscall.SIGINT), join(t, p))
		check.ErrorIs(t, p.Kill(), os.ErrProcessDone)
	})
	t.Run("released", func(t *testing.T) {
		p, release := startBlocked(t)
		release()
		check.Equal(t, 0, join(t, p))
	})
}

func TestJoinTimeout(t *testing.T) {
	p, _ := startBlocked(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	check.ErrorIs(t, p.Join(ctx), context.DeadlineExceeded)
	check.True(t, p.IsAlive())
	check.False(t, p.JoinTimeout(20*time.Millisecond))
	check.False(t, p.JoinTimeout(0))
	code, done := p.ExitCode()
	check.Equal(t, 0, code)
	check.False(t, done)

	canceled, cancel2 := context.WithCancel(context.Background())
	cancel2()
	check.ErrorIs(t, p.Join(canceled), context.Canceled)

	must.NoError(t, p.Kill())
	check.Equal(t, -9, join(t, p))
	check.True(t, p.JoinTimeout(testTimeout))
	check.True(t, p.JoinTimeout(0))
	check.NoError(t, p.Join(canceled), "Join of an exited child succeeds even with a done context")
}

func TestArgs(t *testing.T) {
	r, w := pipe(t)
	p := start(t, "echo-args", &process.Options{
		Files: []*os.File{w},
		Args: []any{
			"héllo \"world\"\n",
			-42,
			job{ID: 7, Tags: []string{"a", "b"}},
			token{seg: "mproc-jobs", off: 4096},
			[]float64{1.5, -2.25},
			true,
		},
	})
	w.Close()
	check.Equal(t, 0, join(t, p))
	var got echoReport
	must.NoError(t, json.Unmarshal(readAll(t, r), &got))
	check.Equal(t, echoReport{
		Len:      6,
		Str:      "héllo \"world\"\n",
		Int:      -42,
		Job:      job{ID: 7, Tags: []string{"a", "b"}},
		TokSeg:   "mproc-jobs",
		TokOff:   4096,
		Floats:   []float64{1.5, -2.25},
		Flag:     true,
		Missing:  "ErrNoArgument",
		NumFiles: 1,
	}, got)
}

func TestArgsErrors(t *testing.T) {
	_, err := process.Start("exit-ok", &process.Options{Args: []any{strings.Repeat("x", 200<<10)}})
	check.ErrorIs(t, err, process.ErrArgsTooLarge)

	_, err = process.Start("exit-ok", &process.Options{Args: []any{"ok", make(chan int)}})
	check.ErrorContains(t, err, "process: encoding argument 1 (chan int)")

	_, err = process.Start("exit-ok", &process.Options{Files: []*os.File{nil}})
	check.EqualError(t, err, "process: Options.Files[0] is nil")

	// Just under the limit still works.
	p := start(t, "exit-ok", &process.Options{Args: []any{strings.Repeat("x", 90<<10)}})
	check.Equal(t, 0, join(t, p))
}

func TestFile(t *testing.T) {
	r, w := pipe(t)
	p := start(t, "write-file", &process.Options{Name: "writer", Files: []*os.File{w}})
	w.Close()
	check.Equal(t, 0, join(t, p))
	check.Equal(t, "hello from writer, files=1, file1nil=true", string(readAll(t, r)))
}

func TestEnvAndOutput(t *testing.T) {
	var stdout, stderr bytes.Buffer
	p := start(t, "env-out", &process.Options{
		Env:    []string{"MPROC_TEST_VALUE=from parent", "MPROC_PROCESS_FUNC=ignored"},
		Stdout: &stdout,
		Stderr: &stderr,
	})
	check.Equal(t, 0, join(t, p))
	check.Equal(t, "from parent", stdout.String())
	check.Equal(t, "to stderr\n", stderr.String())
}

// readIdentity decodes one identityReport line.
func readIdentity(t *testing.T, dec *json.Decoder) identityReport {
	t.Helper()
	var r identityReport
	must.NoError(t, dec.Decode(&r))
	return r
}

func TestCurrentParent(t *testing.T) {
	check.Equal(t, process.Info{Name: "MainProcess", Pid: os.Getpid()}, process.Current())
	_, ok := process.Parent()
	check.False(t, ok)
	main := process.Current()

	t.Run("named", func(t *testing.T) {
		r, w := pipe(t)
		p := start(t, "identity", &process.Options{Name: "worker-1", Files: []*os.File{w}})
		w.Close()
		check.Equal(t, "worker-1", p.Name())
		check.Equal(t, 0, join(t, p))
		got := readIdentity(t, json.NewDecoder(bytes.NewReader(readAll(t, r))))
		check.Equal(t, identityReport{
			Current:   process.Info{Name: "worker-1", Pid: p.Pid()},
			Parent:    main,
			HasParent: true,
		}, got)
	})

	t.Run("default names", func(t *testing.T) {
		p1 := start(t, "exit-ok", nil)
		p2 := start(t, "exit-ok", nil)
		n1, err := strconv.Atoi(strings.TrimPrefix(p1.Name(), "Process-"))
		must.NoError(t, err, p1.Name())
		check.Equal(t, fmt.Sprintf("Process-%d", n1+1), p2.Name())
		join(t, p1)
		join(t, p2)
	})

	t.Run("grandchild", func(t *testing.T) {
		r, w := pipe(t)
		p := start(t, "nested", &process.Options{Files: []*os.File{w}})
		w.Close()
		check.Equal(t, 0, join(t, p))
		dec := json.NewDecoder(bytes.NewReader(readAll(t, r)))
		child := readIdentity(t, dec)
		grand := readIdentity(t, dec)
		check.Equal(t, identityReport{
			Current:   process.Info{Name: p.Name(), Pid: p.Pid()},
			Parent:    main,
			HasParent: true,
		}, child)
		// Python numbers a child's children "Process-<child>:<n>".
		check.Equal(t, p.Name()+":1", grand.Current.Name)
		check.True(t, grand.Current.Pid > 0)
		check.NotEqual(t, p.Pid(), grand.Current.Pid)
		check.Equal(t, child.Current, grand.Parent)
		check.True(t, grand.HasParent)
		check.Empty(t, grand.EnvLeft)
	})
}

func TestActiveChildren(t *testing.T) {
	done := start(t, "exit-ok", nil)
	join(t, done)
	blocked, release := startBlocked(t)
	blocked2, release2 := startBlocked(t)

	active := process.ActiveChildren()
	check.NotContains(t, active, done)
	check.Contains(t, active, blocked)
	check.Contains(t, active, blocked2)
	check.True(t, indexOf(active, blocked) < indexOf(active, blocked2), "start order")

	release()
	join(t, blocked)
	active = process.ActiveChildren()
	check.NotContains(t, active, blocked)
	check.Contains(t, active, blocked2)

	release2()
	join(t, blocked2)
	check.NotContains(t, process.ActiveChildren(), blocked2)
}

func indexOf(ps []*process.Process, p *process.Process) int {
	for i, q := range ps {
		if q == p {
			return i
		}
	}
	return -1
}

func TestCPUCount(t *testing.T) {
	n := process.CPUCount()
	check.True(t, n >= 1 && n <= runtime.NumCPU(), "CPUCount() = %d, NumCPU() = %d", n, runtime.NumCPU())
}

func TestStartUnknown(t *testing.T) {
	p, err := process.Start("no-such-function", nil)
	check.Nil(t, p)
	check.ErrorIs(t, err, process.ErrNotRegistered)
	check.ErrorContains(t, err, `"no-such-function"`)
}

func TestRegisterPanics(t *testing.T) {
	check.PanicsWithValue(t, "process: Register called twice for exit-ok", func() {
		process.Register("exit-ok", func(*process.Args) error { return nil })
	})
	check.PanicsWithValue(t, "process: Register with an empty name", func() {
		process.Register("", func(*process.Args) error { return nil })
	})
	check.PanicsWithValue(t, "process: Register of a nil Func for x", func() {
		process.Register("x", nil)
	})
}

// procState returns the state letter of pid from /proc/<pid>/stat, or 0
// if the process no longer exists.
func procState(t *testing.T, pid int) byte {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ESRCH) {
		return 0
	}
	must.NoError(t, err)
	// "pid (comm) S ...": comm may contain spaces and parentheses.
	i := bytes.LastIndexByte(b, ')')
	must.True(t, i >= 0 && i+2 < len(b), "bad stat %q", b)
	return b[i+2]
}

// waitDead polls until pid is gone or a zombie, failing after testTimeout.
func waitDead(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		switch procState(t, pid) {
		case 0, 'Z', 'X':
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d still alive (state %c) after %v", pid, procState(t, pid), testTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reapOrphan waits for pid, an orphaned descendant adopted by this
// process (a child subreaper), and returns its wait status; it fails the
// test after testTimeout.
func reapOrphan(t *testing.T, pid int) unix.WaitStatus {
	t.Helper()
	deadline := time.Now().Add(testTimeout)
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(pid, &ws, unix.WNOHANG, nil)
		if wpid == pid {
			return ws
		}
		if err != nil && err != unix.EINTR {
			t.Fatalf("wait4(%d): %v", pid, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d not reaped after %v", pid, testTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDaemon: child A starts grandchild B and is SIGKILLed. A daemon B dies
// with A; a non-daemon B survives, as the negative control. The test makes
// itself a child subreaper so that orphaned B is reparented to it (rather
// than to an init that may never reap it) and it can read B's exit status.
func TestDaemon(t *testing.T) {
	must.NoError(t, unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0))
	t.Cleanup(func() { _ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })

	for _, daemon := range []bool{true, false} {
		t.Run(fmt.Sprintf("daemon=%t", daemon), func(t *testing.T) {
			report, reportW := pipe(t)
			ctl, ctlW := pipe(t)
			a := start(t, "spawn-grandchild", &process.Options{
				Args:  []any{daemon},
				Files: []*os.File{reportW, ctl},
			})
			// Only A and B hold the report pipe's write end and the
			// control pipe's read end from now on.
			reportW.Close()
			ctl.Close()

			must.NoError(t, report.SetReadDeadline(time.Now().Add(testTimeout)))
			br := bufio.NewReader(report)
			line, err := br.ReadString('\n')
			must.NoError(t, err)
			bpid, err := strconv.Atoi(strings.TrimSpace(line))
			must.NoError(t, err)
			reaped := false
			t.Cleanup(func() {
				if reaped {
					return
				}
				// Kill A first so that B is our (adopted) child.
				_ = a.Kill()
				a.JoinTimeout(testTimeout)
				_ = unix.Kill(bpid, unix.SIGKILL)
				reapOrphan(t, bpid)
			})
			if s := procState(t, bpid); s == 0 || s == 'Z' {
				t.Fatalf("grandchild %d not running (state %c)", bpid, s)
			}

			must.NoError(t, a.Kill())
			check.Equal(t, -9, join(t, a))

			if daemon {
				waitDead(t, bpid)
				ws := reapOrphan(t, bpid)
				reaped = true
				check.True(t, ws.Signaled() && ws.Signal() == unix.SIGKILL, "daemon B: wait status %#x, want SIGKILL", ws)
				// B died without reaching its report: EOF, no data.
				rest, err := io.ReadAll(br)
				must.NoError(t, err)
				check.Equal(t, "", string(rest))
				return
			}
			// B outlived A: it still answers once released, and exits 0.
			s := procState(t, bpid)
			check.True(t, s != 0 && s != 'Z', "non-daemon grandchild died with its parent (state %c)", s)
			ctlW.Close()
			rest, err := io.ReadAll(br)
			must.NoError(t, err)
			check.Equal(t, "alive\n", string(rest))
			ws := reapOrphan(t, bpid)
			reaped = true
			check.True(t, ws.Exited() && ws.ExitStatus() == 0, "non-daemon B: wait status %#x, want exit 0", ws)
		})
	}
}

// A Process that was never started (its zero value; Start is the only way
// to make a started one) behaves as Python's Process before start(): it is
// not alive, has no exit code, and join or a signal is an error
// (Python's AssertionError "can only join a started process") instead of
// a hang or a nil-pointer panic.
func TestZeroProcess(t *testing.T) {
	var p process.Process
	check.False(t, p.IsAlive())
	code, done := p.ExitCode()
	check.Equal(t, 0, code)
	check.False(t, done)
	check.Equal(t, 0, p.Pid())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	start := time.Now()
	check.ErrorIs(t, p.Join(ctx), process.ErrNotStarted)
	check.False(t, p.JoinTimeout(testTimeout))
	check.True(t, time.Since(start) < testTimeout/2, "Join of a process never started must not wait")
	for name, f := range map[string]func() error{"Terminate": p.Terminate, "Kill": p.Kill, "Signal": func() error { return p.Signal(syscall.SIGINT) }} {
		var err error
		func() {
			defer func() {
				if v := recover(); v != nil {
					t.Errorf("%s of a process never started panicked: %v", name, v)
				}
			}()
			err = f()
		}()
		check.ErrorIs(t, err, process.ErrNotStarted, name)
	}
}

// TestSignalDoneAgreesWithExitCode: once Signal (or Kill) reports
// os.ErrProcessDone, ExitCode reports the exit too. The child is reaped by
// a goroutine that records the exit code just after its wait returns;
// Signal used to see the reaped process in between and return
// ErrProcessDone while ExitCode still said "running" (a flake of the
// queue's kill loop).
func TestSignalDoneAgreesWithExitCode(t *testing.T) {
	for i := 0; i < 30; i++ {
		p := start(t, "exit-ok", nil)
		for {
			err := p.Signal(syscall.Signal(0))
			if err == nil {
				continue // still running (or not yet reaped)
			}
			if !errors.Is(err, os.ErrProcessDone) {
				t.Fatalf("Signal: %v", err)
			}
			code, done := p.ExitCode()
			if !done {
				t.Fatalf("round %d: Signal said the child is done, ExitCode says it runs", i)
			}
			check.Equal(t, 0, code)
			break
		}
	}
}
