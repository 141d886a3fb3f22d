//go:build linux

package process

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options configures Start. A nil *Options means the zero Options.
type Options struct {
	// Name is the child's name, returned by Name and, in the child, by
	// Current. The default is "Process-N", numbered as Python numbers
	// them: N counts the Start calls of this process, and in a child it is
	// prefixed by the child's own number ("Process-3:1").
	Name string

	// Args are the arguments the child reads through Args. Each is
	// encoded with encoding/json; a value implementing
	// encoding.TextMarshaler (a shared-memory handle, say) travels as its
	// text form. The encoded arguments must stay under about 100 KiB.
	Args []any

	// Files are inherited by the child: entry i becomes file descriptor
	// 3+i there and is returned by Args.File(i). Entries must not be nil.
	// The parent keeps its own copies; close them when the child alone
	// should hold them (a pipe's write end, for instance, so that EOF is
	// seen once the child exits).
	Files []*os.File

	// Daemon makes the child die (SIGKILL) when this process dies, even
	// when this process is killed with SIGKILL. It uses the Linux
	// parent-death signal, which follows the thread that started the
	// child, so each daemon child holds one locked OS thread of the parent
	// until it has exited.
	Daemon bool

	// Env holds extra environment entries ("KEY=value") appended to this
	// process's environment.
	Env []string

	// Stdout and Stderr receive the child's standard output and error.
	// Nil means this process's os.Stdout and os.Stderr at the time of
	// Start, passed through as file descriptors. Other writers are fed by
	// a copying goroutine; Join returns once the child has exited and the
	// copy is complete, or at most a second after the child exited if
	// a grandchild keeps the output open.
	Stdout, Stderr io.Writer
}

// waitDelay bounds how long the reaper waits, after the child exited, for
// output pipes (non-*os.File Stdout or Stderr) held open by grandchildren.
const waitDelay = time.Second

// A Process is a child started by Start. Its methods may be called from
// several goroutines at once.
//
// One goroutine per child owns the wait for it (exec.Cmd.Wait); the other
// methods read the recorded result once done is closed, so the child is
// reaped exactly once, whether or not anyone calls Join.
type Process struct {
	name   string
	seq    uint64 // Start order, for ActiveChildren
	daemon bool
	cmd    *exec.Cmd
	pid    int // set before Start returns

	done    chan struct{} // closed once the child has been reaped
	code    int           // exit code; written before done is closed
	waitErr error         // non-nil only if the child could not be waited for
}

// counter numbers this process's Start calls, as Python's
// multiprocessing.process._process_counter does (starting at 1).
var counter atomic.Uint64

// children holds the children of this process that have not been reaped
// yet (Python's _children).
var children struct {
	mu  sync.Mutex
	set map[*Process]struct{}
}

// Start runs the function registered as fn in a new child process and
// returns without waiting for it. A nil opts means the defaults. Start
// fails with ErrNotRegistered if no function is registered under fn in
// this process (parent and child are the same binary, so they register the
// same names), and with ErrArgsTooLarge if the encoded arguments are too
// large.
func Start(fn string, opts *Options) (*Process, error) {
	if opts == nil {
		opts = &Options{}
	}
	if lookup(fn) == nil {
		return nil, fmt.Errorf("%w: %q", ErrNotRegistered, fn)
	}
	for i, f := range opts.Files {
		if f == nil {
			return nil, fmt.Errorf("process: Options.Files[%d] is nil", i)
		}
	}
	args, err := encodeArgs(opts.Args)
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("process: cannot find own executable: %w", err)
	}

	seq := counter.Add(1)
	identity := strconv.FormatUint(seq, 10)
	if self.identity != "" {
		identity = self.identity + ":" + identity
	}
	name := opts.Name
	if name == "" {
		name = "Process-" + identity
	}
	env, err := childEnv(opts, fn, name, identity, args)
	if err != nil {
		return nil, err
	}

	cmd := &exec.Cmd{
		Path:       exe,
		Args:       []string{os.Args[0]},
		Env:        env,
		ExtraFiles: opts.Files,
		Stdout:     opts.Stdout,
		Stderr:     opts.Stderr,
		WaitDelay:  waitDelay,
	}
	if cmd.Stdout == nil {
		cmd.Stdout = os.Stdout
	}
	if cmd.Stderr == nil {
		cmd.Stderr = os.Stderr
	}
	p := &Process{
		name:   name,
		seq:    seq,
		daemon: opts.Daemon,
		cmd:    cmd,
		done:   make(chan struct{}),
	}

	if !opts.Daemon {
		if err := p.launch(); err != nil {
			return nil, err
		}
		go p.reap()
		return p, nil
	}

	// The parent-death signal is sent when the thread that forked the
	// child exits, not the process. Fork from a locked goroutine that
	// never unlocks: its thread then lives until the child has been
	// reaped, and exits with the goroutine afterwards.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		err := p.launch()
		started <- err
		if err == nil {
			p.reap()
		}
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// encodeArgs encodes args as a JSON array, one element per argument.
func encodeArgs(args []any) ([]byte, error) {
	raw := make([]json.RawMessage, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		if err != nil {
			return nil, fmt.Errorf("process: encoding argument %d (%T): %w", i, a, err)
		}
		raw[i] = b
	}
	return json.Marshal(raw)
}

// childEnv returns the child's environment: ours without the
// MPROC_PROCESS_ variables, then opts.Env, then the child's description
// (last, so that it wins over duplicates).
func childEnv(opts *Options, fn, name, identity string, args []byte) ([]string, error) {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, envPrefix)
	})
	env = append(env, opts.Env...)
	// Under the race detector every child that exits would sleep a second
	// in the race runtime's atexit hook (atexit_sleep_ms defaults to 1000);
	// mproc children are short-lived workers, so turn that off unless the
	// caller set it.
	if gorace := os.Getenv("GORACE"); !strings.Contains(gorace, "atexit_sleep_ms") {
		env = append(env, "GORACE="+strings.TrimSpace(gorace+" atexit_sleep_ms=0"))
	}
	own := []string{
		envFunc + "=" + fn,
		envName + "=" + name,
		envIdentity + "=" + identity,
		envParent + "=" + strconv.Itoa(os.Getpid()),
		envParentName + "=" + Current().Name,
		envArgs + "=" + string(args),
		envFiles + "=" + strconv.Itoa(len(opts.Files)),
	}
	if opts.Daemon {
		own = append(own, envDaemon+"=1")
	}
	for _, kv := range own {
		if len(kv) <= maxEnvString {
			continue
		}
		if strings.HasPrefix(kv, envArgs+"=") {
			return nil, fmt.Errorf("%w: %d bytes encoded, limit %d", ErrArgsTooLarge, len(args), maxEnvString-len(envArgs)-1)
		}
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrArgsTooLarge, kv[:strings.IndexByte(kv, '=')], len(kv), maxEnvString)
	}
	return append(env, own...), nil
}

// launch starts the child and records it among the children. It runs on
// the goroutine that will reap the child (which matters for daemons).
func (p *Process) launch() error {
	if err := p.cmd.Start(); err != nil {
		return fmt.Errorf("process: starting %s: %w", p.name, err)
	}
	p.pid = p.cmd.Process.Pid
	children.mu.Lock()
	if children.set == nil {
		children.set = make(map[*Process]struct{})
	}
	children.set[p] = struct{}{}
	children.mu.Unlock()
	return nil
}

// reap waits for the child, records its exit code, removes it from the
// children and closes done. It is the only caller of cmd.Wait.
func (p *Process) reap() {
	err := p.cmd.Wait()
	if st := p.cmd.ProcessState; st != nil {
		p.code = exitCode(st)
	} else {
		p.code = -1
		p.waitErr = fmt.Errorf("process: waiting for %s: %w", p.name, err)
	}
	children.mu.Lock()
	delete(children.set, p)
	children.mu.Unlock()
	close(p.done)
}

// exitCode converts a wait status to Python's convention: the exit status,
// or the negated signal number for a child killed by a signal.
func exitCode(st *os.ProcessState) int {
	if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return -int(ws.Signal())
	}
	return st.ExitCode()
}

// Pid returns the child's process id.
func (p *Process) Pid() int { return p.pid }

// Name returns the child's name (Options.Name or the default "Process-N").
func (p *Process) Name() string { return p.name }

// Daemon reports whether the child was started with Options.Daemon.
func (p *Process) Daemon() bool { return p.daemon }

// IsAlive reports whether the child has not been reaped yet. A child that
// has just exited may still be reported alive for a moment. A Process that
// Start did not return (the zero value) is not alive.
func (p *Process) IsAlive() bool {
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// ExitCode returns the child's exit code and true once it has exited, or
// 0 and false while it runs. The code is the exit status, or the negated
// signal number for a child killed by a signal (-9 for SIGKILL), as in
// Python; a child whose function returned an error exits 1, one that
// panicked exits 2.
func (p *Process) ExitCode() (code int, done bool) {
	select {
	case <-p.done:
		return p.code, true
	default:
		return 0, false
	}
}

// Join waits until the child has exited or ctx is done. It returns nil once
// the child has exited, whatever its exit code (see ExitCode). If ctx is
// done first, Join returns ctx.Err() (which matches
// context.DeadlineExceeded or context.Canceled with errors.Is) and the
// child keeps running. Join may be called any number of times, from any
// goroutine. Join of a Process that Start did not return (the zero value)
// returns ErrNotStarted at once.
func (p *Process) Join(ctx context.Context) error {
	if p.done == nil {
		return ErrNotStarted
	}
	select {
	case <-p.done:
		return p.waitErr
	default:
	}
	select {
	case <-p.done:
		return p.waitErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// JoinTimeout waits at most d for the child to exit and reports whether it
// has. A d of zero or less only checks. For a Process that Start did not
// return (the zero value) it returns false at once.
func (p *Process) JoinTimeout(d time.Duration) bool {
	if p.done == nil {
		return false
	}
	if d <= 0 {
		return !p.IsAlive()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Terminate sends SIGTERM to the child. Like Signal, it returns an error
// matching os.ErrProcessDone once the child has been reaped.
func (p *Process) Terminate() error { return p.Signal(syscall.SIGTERM) }

// Kill sends SIGKILL to the child. Like Signal, it returns an error
// matching os.ErrProcessDone once the child has been reaped.
func (p *Process) Kill() error { return p.Signal(syscall.SIGKILL) }

// Signal sends sig to the child. Once the child has been reaped it returns
// os.ErrProcessDone (a signal never reaches another process that reused
// the pid), and ExitCode then reports the exit. For a Process that Start did not return (the zero value) it
// returns ErrNotStarted.
func (p *Process) Signal(sig os.Signal) error {
	if p.cmd == nil || p.cmd.Process == nil {
		return ErrNotStarted
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		// Reaped: the reaping goroutine is about to record the exit code
		// (it closes done right after its wait returns). Wait for it, so
		// that ExitCode agrees with this error.
		<-p.done
	}
	return err
}

// ActiveChildren returns the children started by this process that are
// still alive, in the order they were started. Finished children are
// removed (reaped) as they exit, as Python's active_children does.
func ActiveChildren() []*Process {
	children.mu.Lock()
	live := make([]*Process, 0, len(children.set))
	for p := range children.set {
		live = append(live, p)
	}
	children.mu.Unlock()
	slices.SortFunc(live, func(a, b *Process) int { return cmp.Compare(a.seq, b.seq) })
	return live
}
