//go:build linux

package pipe_test

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mproc/mproc/pipe"
)

// Interoperability with real CPython: every interpreter found (see
// interpreters) runs pythonScript twice, once as a
// Listener that Go dials and once as a Client that dials Go listeners, in
// both challenge styles and with a wrong key both ways.

// pythonScript is the Python side. It speaks only through the stdlib's
// multiprocessing.connection and reports on stdout, one line per event.
const pythonScript = `
import sys, os, json, struct, signal
from multiprocessing.connection import Listener, Client, wait
from multiprocessing import AuthenticationError

signal.alarm(90)  # never outlive a stuck test
V = sys.version_info[:2]

def pattern(n, seed):
    b = bytes((seed + i) % 256 for i in range(256))
    return (b * (n // 256 + 1))[:n]

def out(*a):
    print(*a, flush=True)

def expect(got, want, what):
    if got != want or type(got) is not type(want):
        raise AssertionError('%s: got %s %r, want %s %r' % (what, type(got).__name__, got if len(repr(got)) < 200 else repr(got)[:200], type(want).__name__, want if len(repr(want)) < 200 else repr(want)[:200]))

def converse(c, pickled):
    assert c.poll(30), 'poll'
    expect(c.recv_bytes(), b'', 'empty message from Go')
    c.send_bytes(b'')
    expect(c.recv_bytes(), pattern(1 << 20, 0), '1 MiB from Go')
    c.send_bytes(pattern(1 << 20, 1))
    if V >= (3, 8):
        expect(c.recv_bytes(), b'LONG!', 'long-form message from Go')
        os.write(c.fileno(), b'\xff\xff\xff\xff' + struct.pack('!Q', 6) + b'python')
    buf = bytearray(200000)
    n = c.recv_bytes_into(buf, 10)
    expect(bytes(buf[10:10 + n]), pattern(100000, 7), 'recv_bytes_into')
    c.send_bytes(pattern(150000, 8), 1000, 100000)
    if pickled:
        import datetime, decimal
        samples = [None, True, False, 0, -1, 2**31, 2**63, -2**100, 1.5, float('inf'), 'text', 'ünïcödé', '',
                   b'bytes', b'', bytearray(b'ba'), (), (1,), (1, 'two', 3.0), [], [1, [2, [3]]],
                   {}, {'a': 1, 2: 'b', (3, 4): [5]}, {1, 2, 3}, frozenset({'x'}),
                   datetime.datetime(2024, 2, 29, 12, 30, 15, 123456), decimal.Decimal('3.14159'),
                   KeyError('missing'), ('#RETURN', {'nested': [1, (2, {3})]}), 1j]
        shared = [1, 2]
        samples.append([shared, shared])
        c.send(len(samples))
        for obj in samples:
            c.send(obj)
            back = c.recv()
            if isinstance(obj, BaseException):
                expect((type(back), back.args), (type(obj), obj.args), 'pickled echo')
            else:
                expect(back, obj, 'pickled echo')
        if back[0] is not back[1]:  # the last sample, echoed
            raise AssertionError('shared reference not kept: %r' % (back,))
        got = c.recv()
        expect(got, {'int': 1, 'str': 's', 'list': [1, 2.5, 'x'], 'bytes': b'\x01\x02', 'none': None, 'bool': True}, 'typed value from Go')
        c.send('ok')
    expect(wait([c], 30), [c], 'wait')
    expect(c.recv_bytes(), b'last', 'last message')
    c.send_bytes(b'bye')
    c.close()

def attempt(connect, pickled):
    try:
        c = connect()
    except (AuthenticationError, EOFError, OSError) as e:
        out('AUTHFAIL', type(e).__name__, e)
        return
    converse(c, pickled)
    out('DONE')

def main():
    mode, arg = sys.argv[1], json.loads(sys.argv[2])
    pickled = arg['pickled']
    if mode == 'serve':
        l = Listener(arg['address'], 'AF_UNIX', authkey=bytes.fromhex(arg['key']))
        out('READY', json.dumps(l.address))
        for _ in range(arg['count']):
            attempt(l.accept, pickled)
        l.close()
    else:
        for tg in arg['targets']:
            addr = tuple(tg['address']) if tg['family'] == 'AF_INET' else tg['address']
            attempt(lambda: Client(addr, tg['family'], authkey=bytes.fromhex(tg['key'])), pickled)
    out('EXIT')

main()
`

type pyInterp struct {
	path         string
	version      string
	major, minor int
}

// interpreters finds the CPython 3.x interpreters: every
// ~/.pyenv/versions/3.*/bin/python3 and every python3 on $PATH, each
// distinct executable once. It skips the test if there is none.
func interpreters(t *testing.T) []pyInterp {
	home, _ := os.UserHomeDir()
	glob := filepath.Join(home, ".pyenv/versions/3.*/bin/python3")
	candidates, _ := filepath.Glob(glob)
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir != "" {
			candidates = append(candidates, filepath.Join(dir, "python3"))
		}
	}
	seen := make(map[string]bool) // real executables
	names := make(map[string]int)
	var out []pyInterp
	for _, p := range candidates {
		if st, err := os.Stat(p); err != nil || st.IsDir() {
			continue
		}
		// Ask the interpreter itself: pyenv's shims and distribution
		// links lead to the same executables.
		b, err := exec.Command(p, "-c", "import sys; print(sys.implementation.name, *sys.version_info[:3], sys.executable)").Output()
		f := strings.Fields(string(b))
		if err != nil || len(f) != 5 || f[0] != "cpython" || f[1] != "3" {
			continue
		}
		exe, err := filepath.EvalSymlinks(f[4])
		if err != nil || seen[exe] {
			continue
		}
		seen[exe] = true
		min, _ := strconv.Atoi(f[2])
		v := f[1] + "." + f[2] + "." + f[3]
		if names[v]++; names[v] > 1 {
			v = fmt.Sprintf("%s-%d", v, names[v])
		}
		out = append(out, pyInterp{exe, v, 3, min})
	}
	if len(out) == 0 {
		t.Skipf("no CPython 3.x interpreter (%s, python3 on $PATH): install some with pyenv to run the interop tests", glob)
	}
	slices.SortFunc(out, func(a, b pyInterp) int { return a.minor - b.minor })
	return out
}

func (p pyInterp) atLeast(minor int) bool { return p.major > 3 || p.minor >= minor }

// pickledExchange, set by pickled_test.go when package pickle is built,
// runs the pickled part of the conversation; nil skips it on both sides.
var pickledExchange func(t *testing.T, c *pipe.Conn)

// pyProc is a running pythonScript whose stdout lines arrive on lines.
type pyProc struct {
	cmd   *exec.Cmd
	lines chan string
	errb  *strings.Builder
}

func startPython(t *testing.T, py pyInterp, script, mode string, arg map[string]any) *pyProc {
	t.Helper()
	arg["pickled"] = pickledExchange != nil
	js, err := json.Marshal(arg)
	must(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, py.path, script, mode, string(js))
	p := &pyProc{cmd: cmd, lines: make(chan string, 16), errb: &strings.Builder{}}
	cmd.Stderr = p.errb
	stdout, err := cmd.StdoutPipe()
	must(t, err)
	must(t, cmd.Start())
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(func() {
		cancel()
		cmd.Wait()
	})
	return p
}

// expect waits for the next line from Python and checks its prefix.
func (p *pyProc) expect(t *testing.T, prefix string) string {
	t.Helper()
	select {
	case l, ok := <-p.lines:
		if !ok {
			p.cmd.Wait()
			t.Fatalf("python exited (%v) before %q; stderr:\n%s", p.cmd.ProcessState, prefix, p.errb)
		}
		if !strings.HasPrefix(l, prefix) {
			t.Fatalf("python said %q, want %q; stderr:\n%s", l, prefix, p.errb)
		}
		return l
	case <-time.After(60 * time.Second):
		t.Fatalf("python silent, waiting for %q; stderr:\n%s", prefix, p.errb)
	}
	return ""
}

func (p *pyProc) finish(t *testing.T) {
	t.Helper()
	p.expect(t, "EXIT")
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("python: %v; stderr:\n%s", err, p.errb)
	}
}

// pyPattern is the script's pattern(n, seed).
func pyPattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i)
	}
	return b
}

// goSide is the Go half of the script's converse.
func goSide(t *testing.T, py pyInterp, c *pipe.Conn) {
	t.Helper()
	must(t, c.SetDeadline(time.Now().Add(60*time.Second)))
	recvExpect := func(want []byte, what string) {
		t.Helper()
		got, err := c.RecvBytes(0)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if string(got) != string(want) {
			t.Fatalf("%s: got %d bytes %s, want %d bytes %s", what, len(got), head(got), len(want), head(want))
		}
	}
	must(t, c.SendBytes(nil))
	if ok, err := c.Poll(30 * time.Second); !ok || err != nil {
		t.Fatalf("Poll = %v, %v", ok, err)
	}
	recvExpect(nil, "empty message from Python")
	must(t, c.SendBytes(pyPattern(1<<20, 0)))
	recvExpect(pyPattern(1<<20, 1), "1 MiB from Python")
	if py.atLeast(8) { // 3.7 and older cannot read the long form
		must(t, pipe.SendLongForm(c, []byte("LONG!")))
		recvExpect([]byte("python"), "long-form message from Python")
	}
	big := append(append(make([]byte, 500), pyPattern(100000, 7)...), make([]byte, 700)...)
	must(t, c.SendBytesRange(big, 500, 100000))
	buf := make([]byte, 200000)
	n, err := c.RecvBytesInto(buf)
	must(t, err)
	expectBytes(t, buf[:n], pyPattern(150000, 8)[1000:101000])
	if pickledExchange != nil {
		pickledExchange(t, c)
	}
	must(t, c.SendBytes([]byte("last")))
	recvExpect([]byte("bye"), "last message from Python")
	if _, err := c.RecvBytes(0); err != io.EOF {
		t.Fatalf("after Python closed: %v, want io.EOF", err)
	}
	c.Close()
}

func TestPythonInterop(t *testing.T) {
	pys := interpreters(t)
	script := filepath.Join(t.TempDir(), "peer.py")
	must(t, os.WriteFile(script, []byte(pythonScript), 0o644))
	if pickledExchange == nil {
		t.Log("package pickle not built in: pickled values not exchanged")
	}
	for _, py := range pys {
		t.Run(py.version, func(t *testing.T) {
			t.Parallel()
			t.Run("python-listener", func(t *testing.T) { pythonListener(t, py, script) })
			t.Run("python-client", func(t *testing.T) { pythonClient(t, py, script) })
		})
	}
}

// pythonListener: Go dials a Python Listener (AF_UNIX path) with each
// challenge style, with MD5 refused, and with a wrong key.
func pythonListener(t *testing.T, py pyInterp, script string) {
	legacy := pipe.DefaultConfig()
	legacy.LegacyChallenge = true
	strict := pipe.DefaultConfig()
	strict.RefuseMD5 = true
	addr := filepath.Join(t.TempDir(), "py.sock")
	p := startPython(t, py, script, "serve", map[string]any{"address": addr, "key": hex.EncodeToString(key), "count": 4})
	var got string
	must(t, json.Unmarshal([]byte(strings.TrimPrefix(p.expect(t, "READY "), "READY ")), &got))
	if got != addr {
		t.Fatalf("python listens on %q", got)
	}
	for _, tc := range []struct {
		name string
		cfg  *pipe.Config
		ok   bool
	}{{"modern", nil, true}, {"legacy", legacy, true}, {"refuse-md5", strict, py.atLeast(12)}} {
		c, err := tc.cfg.DialNetwork("unix", addr, key)
		if !tc.ok {
			// Python 3.11 and older challenge with HMAC-MD5 only.
			expectErr(t, err, pipe.ErrAuthentication)
			p.expect(t, "AUTHFAIL EOFError")
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v; python stderr:\n%s", tc.name, err, p.errb)
		}
		goSide(t, py, c)
		p.expect(t, "DONE")
	}
	_, err := pipe.DialNetwork("unix", addr, []byte("wrong key"))
	expectErr(t, err, pipe.ErrAuthentication)
	if !strings.Contains(err.Error(), "digest sent was rejected") {
		t.Fatalf("wrong key: %v", err)
	}
	p.expect(t, "AUTHFAIL AuthenticationError digest received was wrong")
	p.finish(t)
}

// pythonClient: a Python Client dials Go listeners: modern over TCP, legacy
// on an abstract Unix name in Python's "\0" form, then a wrong key.
func pythonClient(t *testing.T, py pyInterp, script string) {
	legacy := pipe.DefaultConfig()
	legacy.LegacyChallenge = true
	modern, err := pipe.ListenNetwork("tcp", "127.0.0.1:0", key)
	must(t, err)
	defer modern.Close()
	abstract := fmt.Sprintf("\x00mproc-pipe-test-%d-%s", os.Getpid(), py.version)
	old, err := legacy.ListenNetwork("unix", abstract, key)
	must(t, err)
	defer old.Close()
	if got := old.Addr().String(); got != "@"+abstract[1:] {
		t.Fatalf("abstract listener address %q", got)
	}
	tcp := modern.Addr().(*net.TCPAddr)
	host, portNum := tcp.IP.String(), tcp.Port
	k := hex.EncodeToString(key)
	p := startPython(t, py, script, "connect", map[string]any{"targets": []map[string]any{
		{"family": "AF_INET", "address": []any{host, portNum}, "key": k},
		{"family": "AF_UNIX", "address": abstract, "key": k},
		{"family": "AF_INET", "address": []any{host, portNum}, "key": hex.EncodeToString([]byte("wrong key"))},
	}})
	for _, l := range []*pipe.Listener{modern, old} {
		c, err := l.Accept()
		if err != nil {
			t.Fatalf("accept: %v; python stderr:\n%s", err, p.errb)
		}
		goSide(t, py, c)
		p.expect(t, "DONE")
	}
	_, err = modern.Accept()
	expectErr(t, err, pipe.ErrAuthentication)
	if !strings.Contains(err.Error(), "digest received was wrong") {
		t.Fatalf("wrong key: %v", err)
	}
	p.expect(t, "AUTHFAIL AuthenticationError digest sent was rejected")
	p.finish(t)
}
