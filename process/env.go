//go:build linux

package process

// The parent describes a child to it through these environment variables.
// They are the whole "wire format" between a parent and a child, and both
// sides are the same binary, so it needs no versioning.
//
//	MPROC_PROCESS_FUNC        name of the registered function to run; its
//	                          presence is what makes Main treat the process
//	                          as a child
//	MPROC_PROCESS_NAME        the child's name (Current().Name)
//	MPROC_PROCESS_IDENTITY    the child's Python-style identity, colon
//	                          separated ("3" for the third child of the main
//	                          process, "3:1" for the first child of that
//	                          one); default names are "Process-" + identity
//	MPROC_PROCESS_PARENT      the parent's pid, decimal
//	MPROC_PROCESS_PARENT_NAME the parent's name (Parent().Name)
//	MPROC_PROCESS_ARGS        the arguments: a JSON array, one element per
//	                          Options.Args entry
//	MPROC_PROCESS_FILES       number of inherited files, decimal; file i is
//	                          descriptor 3+i
//	MPROC_PROCESS_DAEMON      "1" for a daemon child, absent otherwise
//
// Main removes every variable starting with envPrefix from its own
// environment, so the child's own children (started by Start, which sets
// fresh ones) and any program it executes never see them.
const (
	envPrefix     = "MPROC_PROCESS_"
	envFunc       = envPrefix + "FUNC"
	envName       = envPrefix + "NAME"
	envIdentity   = envPrefix + "IDENTITY"
	envParent     = envPrefix + "PARENT"
	envParentName = envPrefix + "PARENT_NAME"
	envArgs       = envPrefix + "ARGS"
	envFiles      = envPrefix + "FILES"
	envDaemon     = envPrefix + "DAEMON"
)

// maxEnvString bounds one "KEY=value" environment string we build, with
// room to spare under Linux's MAX_ARG_STRLEN (32 pages = 128 KiB).
const maxEnvString = 100 << 10

// firstExtraFD is the descriptor number of the first inherited file
// (after stdin, stdout and stderr), as in os/exec's ExtraFiles.
const firstExtraFD = 3

// mainProcessName is the name of a process not started by Start, as in
// Python.
const mainProcessName = "MainProcess"
