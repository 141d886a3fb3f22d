//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// server is a running "mproc manager serve".
type server struct {
	cmd     *exec.Cmd
	address string
	stderr  *safeBuffer
	done    chan error
}

// startServer runs "mproc manager serve" with args and waits for its
// "serving on" line.
func startServer(t *testing.T, args ...string) *server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, mprocBin, append([]string{"manager", "serve"}, args...)...)
	s := &server{cmd: cmd, stderr: &safeBuffer{}, done: make(chan error, 1)}
	cmd.Stderr = s.stderr
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err, "no address line; stderr: %s", s.stderr.String())
	require.True(t, strings.HasPrefix(line, "serving on "), line)
	s.address = strings.TrimSpace(strings.TrimPrefix(line, "serving on "))
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-s.done })
	return s
}

// wait returns the server's exit status once it has exited (bounded).
func (s *server) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-s.done:
		s.done <- nil // for the cleanup
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		t.Fatal("the manager server did not exit")
		return -1
	}
}

// python runs a Python script with the address, the authkey and more
// arguments in argv and returns its output.
func python(t *testing.T, script, address, key string, more ...string) (string, error) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	out, err := exec.Command(py, append([]string{"-c", script, address, key}, more...)...).CombinedOutput()
	return string(out), err
}

const pyClient = `
import sys
from multiprocessing.managers import SyncManager, dispatch
from multiprocessing.connection import Client
addr, key = sys.argv[1], sys.argv[2].encode()
if addr.startswith('@'):
    addr = '\0' + addr[1:]
elif ':' in addr and '/' not in addr:
    host, port = addr.rsplit(':', 1)
    addr = (host, int(port))
m = SyncManager(address=addr, authkey=key)
m.connect()
d = m.dict()
d['answer'] = 41
d['answer'] += 1
print(d['answer'])
if 'wrong-key' in sys.argv[3:]:
    from multiprocessing import AuthenticationError
    try:
        SyncManager(address=addr, authkey=b'not ' + key).connect()
        print('wrong key accepted')
    except AuthenticationError:
        print('wrong key refused')
if 'shutdown' in sys.argv[3:]:
    dispatch(Client(addr, authkey=key), None, 'shutdown')
`

func writeKey(t *testing.T, key string, mode os.FileMode) string {
	path := filepath.Join(t.TempDir(), "authkey")
	require.NoError(t, os.WriteFile(path, []byte(key), mode))
	require.NoError(t, os.Chmod(path, mode))
	return path
}

// A Python client uses the server over TCP, then shuts it down with the
// managers protocol's shutdown call.
func TestManagerServeTCP(t *testing.T) {
	keyFile := writeKey(t, "s3cret", 0o600)
	s := startServer(t, "--address", "127.0.0.1:0", "--authkey-file", keyFile)
	assert.Regexp(t, `^127\.0\.0\.1:[1-9][0-9]*$`, s.address)

	out, err := python(t, pyClient, s.address, "s3cret", "wrong-key", "shutdown")
	require.NoError(t, err, out)
	assert.Equal(t, "42\nwrong key refused\n", out)
	assert.Equal(t, exitOK, s.wait(t), s.stderr.String())
	assert.Contains(t, s.stderr.String(), "mproc manager: ", "the failed handshake was logged")
	assert.Contains(t, s.stderr.String(), "authentication failed")
}

// Over a Unix socket; SIGTERM stops the server cleanly and removes the
// socket.
func TestManagerServeUnixSIGTERM(t *testing.T) {
	keyFile := writeKey(t, "k", 0o400)
	sock := filepath.Join(t.TempDir(), "mgr.sock")
	s := startServer(t, "--authkey-file", keyFile, "--address", sock)
	assert.Equal(t, sock, s.address)
	s.roundTripThenStop(t, syscall.SIGTERM)
	_, err := os.Stat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestManagerServeRefuses(t *testing.T) {
	for _, c := range []struct {
		name, key string
		mode      os.FileMode
		address   string
		want      string
	}{
		{"readable key", "k", 0o644, "127.0.0.1:0", "others could read the key"},
		{"empty key", "", 0o600, "127.0.0.1:0", "is empty"},
		{"remote address", "k", 0o600, "0.0.0.0:0", "not a loopback address"},
		{"bad address", "k", 0o600, "nonsense", "neither HOST:PORT nor a socket path"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := mproc(t, "manager", "serve", "--address", c.address, "--authkey-file", writeKey(t, c.key, c.mode))
			assert.Equal(t, exitError, r.code, r)
			assert.Contains(t, r.stderr, c.want)
			assert.Empty(t, r.stdout)
		})
	}
	r := mproc(t, "manager", "serve", "--address", "127.0.0.1:0", "--authkey-file", "/nonexistent/key")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "no such file")
}

// The "remote manager" example of Python's multiprocessing documentation,
// unchanged on the client side (QueueManager.register('get_queue')),
// against "mproc manager serve --shared get_queue=Queue": one client puts,
// another gets from the same queue; then the same with the xmlrpclib
// serializer.
func TestManagerServeSharedQueue(t *testing.T) {
	const script = `
import sys
from multiprocessing.managers import BaseManager
class QueueManager(BaseManager): pass
QueueManager.register('get_queue')
addr, key = sys.argv[1], sys.argv[2].encode()
host, port = addr.rsplit(':', 1)
ser = sys.argv[4]
m = QueueManager(address=(host, int(port)), authkey=key, serializer=ser)
m.connect()
q = m.get_queue()
if sys.argv[3] == 'put':
    q.put(['hello', 42, 2.5, None, b'bytes'])
else:
    print(q.get(timeout=10))
`
	for _, ser := range []string{"pickle", "xmlrpclib"} {
		t.Run(ser, func(t *testing.T) {
			keyFile := writeKey(t, "k", 0o600)
			s := startServer(t, "--address", "127.0.0.1:0", "--authkey-file", keyFile, "--shared", "get_queue=Queue", "--serializer", ser)
			out, err := python(t, script, s.address, "k", "put", ser)
			require.NoError(t, err, out)
			out, err = python(t, script, s.address, "k", "get", ser)
			require.NoError(t, err, out)
			want := "['hello', 42, 2.5, None, b'bytes']\n"
			if ser == "xmlrpclib" {
				want = "['hello', 42, 2.5, None, <xmlrpc.client.Binary object at "
			}
			assert.Contains(t, out, want)
		})
	}
	r := mproc(t, "manager", "serve", "--address", "127.0.0.1:0", "--authkey-file", writeKey(t, "k", 0o600), "--shared", "q=NoSuchType")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "not a SyncManager type")
	r = mproc(t, "manager", "serve", "--address", "127.0.0.1:0", "--authkey-file", writeKey(t, "k", 0o600), "--serializer", "json")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "Serializer")
}

// Address forms the server must refuse, with a message a command-line
// user can act on.
func TestManagerServeAddressErrors(t *testing.T) {
	keyFile := writeKey(t, "k", 0o600)
	for _, c := range []struct{ address, want string }{
		// An empty socket path made an autobound abstract socket whose
		// name nobody could learn ("serving on " and an empty address).
		{"unix:", "empty"},
		// The library's message named the Go field (AllowRemote).
		{"0.0.0.0:0", "--allow-remote"},
		{":0", "--allow-remote"},
		{"tcp::0", "--allow-remote"},
	} {
		t.Run(c.address, func(t *testing.T) {
			r := mproc(t, "manager", "serve", "--address", c.address, "--authkey-file", keyFile)
			assert.Equal(t, exitError, r.code, r)
			assert.Contains(t, r.stderr, c.want)
			assert.NotContains(t, r.stderr, "AllowRemote")
			assert.Empty(t, r.stdout)
		})
	}
}

// An authkey file this user cannot read is an error, not a crash or an
// empty key.
func TestManagerServeUnreadableKey(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the command as nobody")
	}
	dir, err := os.MkdirTemp("", "mproc-key-")
	require.NoError(t, err)
	t.Cleanup(func() { os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	keyFile := filepath.Join(dir, "authkey")
	require.NoError(t, os.WriteFile(keyFile, []byte("k"), 0o600))
	r := mprocAs(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "manager", "serve", "--address", "127.0.0.1:0", "--authkey-file", keyFile)
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "permission denied")
	assert.Empty(t, r.stdout)
}

// staleSocket leaves a Unix socket file that nothing listens on, as a
// killed server does.
func staleSocket(t *testing.T, path string) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	require.NoError(t, err)
	l.SetUnlinkOnClose(false)
	require.NoError(t, l.Close())
	fi, err := os.Lstat(path)
	require.NoError(t, err)
	require.Equal(t, os.ModeSocket, fi.Mode().Type())
}

// A socket file left by a killed server is replaced, so the server can be
// restarted; SIGINT stops it cleanly and removes the socket.
func TestManagerServeStaleSocket(t *testing.T) {
	keyFile := writeKey(t, "k", 0o600)
	sock := filepath.Join(t.TempDir(), "mgr.sock")
	staleSocket(t, sock)
	s := startServer(t, "--address", sock, "--authkey-file", keyFile)
	assert.Equal(t, sock, s.address)
	s.roundTripThenStop(t, os.Interrupt)
	_, err := os.Stat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// What is at a socket path and is not a stale socket is left alone: a
// live server's socket, a regular file.
func TestManagerServeOccupiedPath(t *testing.T) {
	keyFile := writeKey(t, "k", 0o600)
	dir := t.TempDir()

	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("data"), 0o600))
	r := mproc(t, "manager", "serve", "--address", file, "--authkey-file", keyFile)
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "not a socket")
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	assert.Equal(t, "data", string(data))

	sock := filepath.Join(dir, "live.sock")
	s := startServer(t, "--address", sock, "--authkey-file", keyFile)
	r = mproc(t, "manager", "serve", "--address", sock, "--authkey-file", keyFile)
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "in use")
	out, err := python(t, pyClient, s.address, "k", "shutdown")
	require.NoError(t, err, out)
	assert.Equal(t, "42\n", out)
	assert.Equal(t, exitOK, s.wait(t), s.stderr.String())
	_, err = os.Stat(sock)
	assert.ErrorIs(t, err, os.ErrNotExist, "the shutdown call removed the socket")
}

// A Linux abstract socket (@NAME; pyClient passes Python '\0NAME');
// SIGINT stops the server cleanly.
func TestManagerServeAbstractSIGINT(t *testing.T) {
	keyFile := writeKey(t, "k", 0o600)
	name := fmt.Sprintf("@mproc-cmdtest-%d", os.Getpid())
	s := startServer(t, "--address", name, "--authkey-file", keyFile)
	assert.Equal(t, name, s.address)
	s.roundTripThenStop(t, os.Interrupt)
}

// roundTripThenStop runs pyClient (authkey file "k") against s, which
// must answer 42, then stops s with sig: it must exit 0.
func (s *server) roundTripThenStop(t *testing.T, sig os.Signal) {
	t.Helper()
	out, err := python(t, pyClient, s.address, "k")
	require.NoError(t, err, out)
	assert.Equal(t, "42\n", out)
	require.NoError(t, s.cmd.Process.Signal(sig))
	assert.Equal(t, exitOK, s.wait(t), s.stderr.String())
}
