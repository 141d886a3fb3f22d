//go:build linux

// Package process starts child processes that run a registered Go function,
// the Go counterpart of Python's multiprocessing.Process with the "spawn"
// start method.
//
// Go cannot fork a running program, so a child is the same executable run
// again: the parent execs os.Executable() with only argv[0] and tells the
// child, through environment variables (see env.go), which registered
// function to run, under which name, with which arguments and how many
// inherited files. The child's main function calls Main first thing; Main
// recognises the child, runs the function and exits, so the rest of main
// (flag parsing, servers, tests) never runs in the child.
//
//	func init() {
//		process.Register("worker", worker)
//	}
//
//	func main() {
//		process.Main() // returns at once in the parent
//		p, err := process.Start("worker", &process.Options{Args: []any{"jobs", 4}})
//		...
//		p.Join(ctx)
//	}
//
// Register must run in both processes (an init function or the start of
// main, before Main), so that the parent and the child agree on names.
// Tests do the same from TestMain (the os/exec helper-process pattern).
//
// Arguments are encoded with encoding/json; values implementing
// encoding.TextMarshaler (shared-memory handles, for instance) travel as
// their text form and are decoded in the child with Args.Decode. Open files
// (pipes, sockets, shared-memory file descriptors) travel in Options.Files:
// entry i becomes file descriptor 3+i in the child, returned by Args.File(i).
//
// A daemon child (Options.Daemon) is killed with SIGKILL when its parent
// dies, however the parent dies (including SIGKILL), through the Linux
// parent-death signal. Unlike Python, a process does not wait for its
// non-daemon children when it exits, and a daemon child may start children
// of its own.
//
// Exit codes follow Python: 0 when the function returns nil, 1 when it
// returns an error (printed to the child's standard error), the argument of
// os.Exit, 2 for an unrecovered panic (the Go runtime's code), and the
// negated signal number for a child killed by a signal (SIGKILL gives -9).
package process
