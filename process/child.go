//go:build linux

package process

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Info identifies a process: its name and its process id.
type Info struct {
	Name string
	Pid  int
}

// self describes this process when it is a child started by Start. It is
// written by Main before the child's function runs and only read after.
var self struct {
	child    bool
	name     string
	identity string // Python-style identity, "" in the main process
	parent   Info
}

// Main runs this process as a child if it was started by Start, and
// returns at once otherwise. Call it first thing in main (and in TestMain),
// after the Register calls and before anything that parses flags or starts
// work: in a child it runs the registered function and calls os.Exit with
// 0 if the function returned nil, or 1 (after printing the error to
// standard error) if it returned an error. A panic in the function is not
// recovered: the Go runtime prints it and exits 2.
//
// A daemon child whose parent has already died by the time Main runs kills
// itself with SIGKILL, as the parent-death signal would have.
func Main() {
	fn, ok := os.LookupEnv(envFunc)
	if !ok {
		return
	}
	env := takeEnv()
	if env[envDaemon] == "1" {
		// The parent may have died before the parent-death signal was
		// armed; then we were reparented and must not run.
		if ppid, _ := strconv.Atoi(env[envParent]); unix.Getppid() != ppid {
			_ = unix.Kill(os.Getpid(), unix.SIGKILL)
			os.Exit(1) // not reached
		}
	}
	args, err := childArgs(env)
	if err != nil {
		fmt.Fprintf(os.Stderr, "process: child %s: %v\n", fn, err)
		os.Exit(1)
	}
	f := lookup(fn)
	if f == nil {
		fmt.Fprintf(os.Stderr, "process: child: %v: %q\n", ErrNotRegistered, fn)
		os.Exit(1)
	}
	self.child = true
	self.name = env[envName]
	self.identity = env[envIdentity]
	self.parent.Name = env[envParentName]
	self.parent.Pid, _ = strconv.Atoi(env[envParent])

	if err := f(args); err != nil {
		fmt.Fprintf(os.Stderr, "process: %s (%s): %v\n", self.name, fn, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// takeEnv returns the MPROC_PROCESS_ variables and removes them from the
// environment, so that programs this child runs do not see them.
func takeEnv() map[string]string {
	env := make(map[string]string)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, envPrefix) {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
		os.Unsetenv(k)
	}
	return env
}

// childArgs decodes the arguments and adopts the inherited files.
func childArgs(env map[string]string) (*Args, error) {
	a := &Args{}
	if err := json.Unmarshal([]byte(env[envArgs]), &a.raw); err != nil {
		return nil, fmt.Errorf("decoding %s: %w", envArgs, err)
	}
	n, err := strconv.Atoi(env[envFiles])
	if err != nil || n < 0 {
		return nil, fmt.Errorf("bad %s %q", envFiles, env[envFiles])
	}
	a.files = make([]*os.File, n)
	for i := range a.files {
		fd := firstExtraFD + i
		// os/exec cleared close-on-exec on the inherited descriptors;
		// set it again so they do not leak into our own children
		// unless passed in Options.Files.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil {
			return nil, fmt.Errorf("inherited file %d (fd %d): %w", i, fd, err)
		}
		a.files[i] = os.NewFile(uintptr(fd), "mproc-file-"+strconv.Itoa(i))
	}
	return a, nil
}

// Args holds a child's arguments and inherited files, as passed to Start
// in Options.Args and Options.Files. Main creates it; its methods may be
// called from several goroutines at once.
type Args struct {
	raw   []json.RawMessage
	files []*os.File
}

// Len returns the number of arguments.
func (a *Args) Len() int { return len(a.raw) }

// Decode decodes argument i into v with encoding/json. A v implementing
// encoding.TextUnmarshaler receives the text form of an argument that
// implemented encoding.TextMarshaler in the parent. An index out of range
// returns an error matching ErrNoArgument.
func (a *Args) Decode(i int, v any) error {
	if i < 0 || i >= len(a.raw) {
		return fmt.Errorf("%w: index %d, have %d", ErrNoArgument, i, len(a.raw))
	}
	if err := json.Unmarshal(a.raw[i], v); err != nil {
		return fmt.Errorf("process: decoding argument %d: %w", i, err)
	}
	return nil
}

// String returns argument i, which must be a string. It panics with a
// "process: ..." message if i is out of range or the argument is not a
// string; use Decode to get an error instead.
func (a *Args) String(i int) string {
	var s string
	a.mustDecode(i, &s)
	return s
}

// Int returns argument i, which must be an integer. It panics with a
// "process: ..." message if i is out of range or the argument is not an
// integer that fits in an int; use Decode to get an error instead.
func (a *Args) Int(i int) int {
	var n int
	a.mustDecode(i, &n)
	return n
}

func (a *Args) mustDecode(i int, v any) {
	if err := a.Decode(i, v); err != nil {
		panic(err.Error())
	}
}

// File returns the i-th inherited file (Options.Files[i] in the parent,
// descriptor 3+i here), or nil if i is out of range. The same *os.File is
// returned on every call; closing it closes the descriptor.
func (a *Args) File(i int) *os.File {
	if i < 0 || i >= len(a.files) {
		return nil
	}
	return a.files[i]
}

// NumFiles returns the number of inherited files.
func (a *Args) NumFiles() int { return len(a.files) }

// Current returns this process's name and pid, like Python's
// current_process: the name given by the parent in a child started by
// Start, "MainProcess" otherwise.
func Current() Info {
	if self.child {
		return Info{Name: self.name, Pid: os.Getpid()}
	}
	return Info{Name: mainProcessName, Pid: os.Getpid()}
}

// Parent returns the process that started this one, like Python's
// parent_process, and true in a child started by Start; in any other
// process it returns false. The information is the parent's as it was at
// Start: the parent may have exited since.
func Parent() (Info, bool) {
	if !self.child {
		return Info{}, false
	}
	return self.parent, true
}

// CPUCount returns the number of CPUs this process may run on (its
// sched_getaffinity mask), at least 1. It is Python's
// os.process_cpu_count, which multiprocessing.cpu_count approximates.
func CPUCount() int {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err == nil {
		if n := set.Count(); n > 0 {
			return n
		}
	}
	// More CPUs than unix.CPUSet holds, or no affinity support: the
	// runtime's count is the next best answer.
	return max(runtime.NumCPU(), 1)
}
