//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"strings"
)

func init() {
	register(&command{
		name:     "manager",
		synopsis: "serve --address HOST:PORT|PATH|@NAME --authkey-file FILE [--allow-remote] [--serializer pickle|xmlrpclib] [--shared TYPEID=TYPE ...]",
		summary:  "run a manager server (Python's multiprocessing.managers protocol)",
		help: `
"mproc manager serve" runs a manager server in the foreground until SIGINT,
SIGTERM or a client's shutdown request, and prints the address it listens
on. Python clients connect with BaseManager/SyncManager(address, authkey).

The address is HOST:PORT for TCP (port 0 picks a free port; a host that is
not a loopback address needs --allow-remote: the traffic is authenticated,
not encrypted), a Unix socket PATH (anything with a '/'), @NAME for a Linux
abstract socket, or either form with a "tcp:" or "unix:" prefix. A socket
file nothing listens on (left by a killed server) is replaced; any other
file at PATH is refused. The socket file is removed on exit. The first
line on standard output is "serving on ADDRESS". Connection errors (a wrong
authkey, a malformed request) are logged to standard error, one a line.

The authentication key is the exact bytes of the authkey file (a trailing
newline is part of it: write the file with printf, not echo); the file must
not be empty or readable by group or others.

The server serves SyncManager's types (dict, list, Namespace, Value, Array,
Lock, RLock, Semaphore, BoundedSemaphore, Condition, Event, Barrier, Queue,
JoinableQueue). --shared TYPEID=TYPE (repeatable) adds a typeid whose every
create returns one shared object of a SyncManager TYPE, as a Python server
registering callable=lambda: obj does: with --shared get_queue=Queue, the
"remote manager" example of the multiprocessing documentation
(QueueManager.register('get_queue') on the clients) works unchanged.
--serializer xmlrpclib serves managers created with serializer='xmlrpclib'.`,
		run: runManager,
	})
}

// managerConfig is what "manager serve" was asked to do.
type managerConfig struct {
	address     string
	authkey     []byte
	allowRemote bool
	serializer  string
	shared      map[string]string // typeid -> SyncManager type
}

// serveManager runs a manager server until ctx is done or a client shuts
// it down, printing the address it listens on to c.stdout. It is nil in a
// build without the manager package.
var serveManager func(ctx context.Context, c *cli, cfg managerConfig) error

func runManager(c *cli, args []string) int {
	fs := c.flags()
	fs.Init("mproc manager serve", fs.ErrorHandling())
	address := fs.String("address", "", "`ADDRESS` to listen on: HOST:PORT (TCP), a Unix socket PATH or @NAME (abstract socket)")
	keyFile := fs.String("authkey-file", "", "`FILE` holding the authentication key")
	remote := fs.Bool("allow-remote", false, "allow a TCP address that is not a loopback address")
	serializer := fs.String("serializer", "pickle", "message `ENCODING`: pickle or xmlrpclib (Python's BaseManager serializer)")
	shared := map[string]string{}
	fs.Func("shared", "`TYPEID=TYPE`: a typeid whose creates all return one shared object of SyncManager type TYPE (repeatable)", func(v string) error {
		id, typ, ok := strings.Cut(v, "=")
		if !ok || id == "" || typ == "" {
			return fmt.Errorf("want TYPEID=TYPE, got %q", v)
		}
		shared[id] = typ
		return nil
	})
	switch {
	case len(args) == 0:
		return c.usageError(fs, "missing subcommand (serve)")
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		c.printHelp(c.stdout, fs)
		return exitOK
	case args[0] != "serve":
		return c.usageError(fs, "unknown subcommand %q (want serve)", args[0])
	}
	rest, code, done := c.parse(fs, args[1:])
	if done {
		return code
	}
	if len(rest) > 0 {
		return c.usageError(fs, "unexpected arguments %q", rest)
	}
	if *address == "" || *keyFile == "" {
		return c.usageError(fs, "--address and --authkey-file are required")
	}
	cfg := managerConfig{address: *address, allowRemote: *remote, serializer: *serializer, shared: shared}
	key, err := readAuthkey(*keyFile)
	if err != nil {
		return c.fail("%v", err)
	}
	cfg.authkey = key
	if serveManager == nil {
		return c.fail("this mproc was built without the manager package; the manager server is not available")
	}
	if err := serveManager(c.ctx, c, cfg); err != nil {
		return c.fail("%v", err)
	}
	return exitOK
}

// readAuthkey reads an authentication key file, refusing an empty key and
// a file others can read.
func readAuthkey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("authkey file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("authkey file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("authkey file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("authkey file %s has mode %04o: others could read the key; chmod 600 it", path, fi.Mode().Perm())
	}
	if fi.Size() > 1<<20 {
		return nil, fmt.Errorf("authkey file %s is %d bytes; a key is short", path, fi.Size())
	}
	key := make([]byte, fi.Size())
	if _, err := f.ReadAt(key, 0); err != nil && len(key) > 0 {
		return nil, fmt.Errorf("authkey file: %w", err)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("authkey file %s is empty", path)
	}
	return key, nil
}
