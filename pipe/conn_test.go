//go:build linux

package pipe_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/process"
)

func TestPipeDuplex(t *testing.T) {
	a, b, err := pipe.Pipe(true)
	must(t, err)
	closeAll(t, a, b)
	for _, c := range []*pipe.Conn{a, b} {
		if !c.Readable() || !c.Writable() || c.Fileno() < 0 || c.LocalAddr() != nil {
			t.Fatalf("duplex end: readable %v writable %v fileno %d", c.Readable(), c.Writable(), c.Fileno())
		}
		expectFileType(t, c, unix.S_IFSOCK) // a socketpair, as Python's
	}
	must(t, a.SendBytes([]byte("ping")))
	got, err := b.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, []byte("ping"))
	must(t, b.SendBytes([]byte("pong")))
	got, err = a.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, []byte("pong"))
}

func TestPipeOneWay(t *testing.T) {
	r, w, err := pipe.Pipe(false)
	must(t, err)
	closeAll(t, r, w)
	if !r.Readable() || r.Writable() || w.Readable() || !w.Writable() {
		t.Fatal("one-way pipe: first end must only receive, second only send")
	}
	expectFileType(t, r, unix.S_IFIFO) // a pipe, as Python's
	expectFileType(t, w, unix.S_IFIFO)
	expectErr(t, r.SendBytes([]byte("x")), pipe.ErrNotWritable)
	_, err = w.RecvBytes(0)
	expectErr(t, err, pipe.ErrNotReadable)
	_, err = w.RecvBytesInto(make([]byte, 4))
	expectErr(t, err, pipe.ErrNotReadable)
	_, err = w.Poll(0)
	expectErr(t, err, pipe.ErrNotReadable)
	_, err = pipe.Wait([]*pipe.Conn{r, w}, 0)
	expectErr(t, err, pipe.ErrNotReadable)
	must(t, w.SendBytes([]byte("one way")))
	got, err := r.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, []byte("one way"))
	must(t, w.Close())
	_, err = r.RecvBytes(0)
	if err != io.EOF {
		t.Fatalf("after the writer closed: %v, want io.EOF", err)
	}
}

// expectFileType checks the type of c's descriptor (unix.S_IFSOCK, ...).
func expectFileType(t *testing.T, c *pipe.Conn, typ uint32) {
	t.Helper()
	var st unix.Stat_t
	must(t, unix.Fstat(c.Fileno(), &st))
	if st.Mode&unix.S_IFMT != typ {
		t.Fatalf("descriptor type %o, want %o", st.Mode&unix.S_IFMT, typ)
	}
}

func TestClose(t *testing.T) {
	a, b, err := pipe.Pipe(true)
	must(t, err)
	closeAll(t, b)
	must(t, a.Close())
	expectErr(t, a.Close(), pipe.ErrClosed)
	expectErr(t, a.SendBytes(nil), pipe.ErrClosed)
	_, err = a.RecvBytes(0)
	expectErr(t, err, pipe.ErrClosed)
	_, err = a.Poll(0)
	expectErr(t, err, pipe.ErrClosed)
	_, err = a.File()
	expectErr(t, err, pipe.ErrClosed)
	expectErr(t, a.SetDeadline(time.Now()), pipe.ErrClosed)
	if a.Fileno() != -1 || !a.Closed() {
		t.Fatalf("closed conn: Fileno %d Closed %v", a.Fileno(), a.Closed())
	}
	// The peer sees a clean end of file; sending to a closed peer fails.
	if _, err := b.RecvBytes(0); err != io.EOF {
		t.Fatalf("peer of a closed conn: %v, want io.EOF", err)
	}
	if err := b.SendBytes([]byte("x")); err == nil {
		t.Fatal("send to a closed peer succeeded")
	}
}

// TestCloseUnblocks closes connections under blocked RecvBytes, SendBytes,
// Poll and Wait calls: each returns an error matching ErrClosed, promptly.
// In ppoll mode the call is seen waiting in ppoll first, whose own limit is
// a minute: only Close's kick can end it in time.
func TestCloseUnblocks(t *testing.T) {
	inModes(t, func(t *testing.T, m waitMode) {
		for _, tr := range transports() {
			t.Run(tr.name, func(t *testing.T) {
				block := map[string]func(r, w *pipe.Conn) error{
					"RecvBytes": func(r, w *pipe.Conn) error { _, err := r.RecvBytes(0); return err },
					"Poll": func(r, w *pipe.Conn) error {
						ok, err := r.Poll(-1)
						if ok {
							return errors.New("Poll reported data")
						}
						return err
					},
					"Wait": func(r, w *pipe.Conn) error {
						ready, err := pipe.Wait([]*pipe.Conn{r}, -1)
						if err == nil && len(ready) == 1 {
							_, err = r.RecvBytes(0) // closed: ErrClosed
						}
						return err
					},
					"SendBytes": func(r, w *pipe.Conn) error {
						big := make([]byte, 16<<20) // more than any socket buffer
						return w.SendBytes(big)
					},
				}
				// Where each call waits: Wait always in the netpoller.
				where := map[string]string{"RecvBytes": "RecvBytes", "Poll": "Poll", "Wait": "pipe.(*waiter).wait", "SendBytes": "SendBytes"}
				for name, call := range block {
					r, w := tr.pair(t, nil)
					target := r
					if name == "SendBytes" {
						target = w
					}
					done := make(chan error, 1)
					go func() { done <- call(r, w) }()
					if m.direct && name != "Wait" {
						waitInPpoll(t, 1, where[name])
					} else {
						waitGoroutines(t, 1, where[name], stateNetpoll)
					}
					start := time.Now()
					must(t, target.Close())
					select {
					case err := <-done:
						expectErr(t, err, pipe.ErrClosed)
					case <-time.After(10 * time.Second):
						t.Fatalf("%s not unblocked by Close", name)
					}
					if el := time.Since(start); m.direct && el > 5*time.Second {
						t.Fatalf("%s took %v to notice Close", name, el)
					}
					if n := pipe.WaiterCount(target); n != 0 {
						t.Fatalf("%d waiters left", n)
					}
					if fd := pipe.WakeFD(target); fd != -1 {
						t.Fatalf("wake-up eventfd %d still open after Close", fd)
					}
				}
			})
		}
	})
}

// TestDeadlineKicksWait changes deadlines under calls blocked in ppoll
// (whose own limit is a minute): the new deadline applies at once.
func TestDeadlineKicksWait(t *testing.T) {
	defer pipe.SetDirectWaits(32, time.Minute)()
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			r, w := tr.pair(t, nil)
			done := make(chan error, 1)
			go func() { _, err := r.RecvBytes(0); done <- err }()
			waitInPpoll(t, 1, "RecvBytes")
			must(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
			select {
			case err := <-done:
				expectErr(t, err, os.ErrDeadlineExceeded)
			case <-time.After(10 * time.Second):
				t.Fatal("RecvBytes did not see its new deadline")
			}
			// At a message boundary: the connection still works.
			must(t, r.SetReadDeadline(time.Time{}))
			must(t, w.SendBytes([]byte("after")))
			got, err := r.RecvBytes(0)
			must(t, err)
			expectBytes(t, got, []byte("after"))

			go func() { done <- w.SendBytes(make([]byte, 16<<20)) }()
			waitInPpoll(t, 1, "SendBytes")
			must(t, w.SetDeadline(time.Now()))
			select {
			case err := <-done:
				expectErr(t, err, os.ErrDeadlineExceeded)
			case <-time.After(10 * time.Second):
				t.Fatal("SendBytes did not see its new deadline")
			}
		})
	}
}

// TestDirectWaitersBound: no more goroutines than allowed wait in ppoll;
// the others wait in the netpoller, and all get their messages. By default
// the bound is GOMAXPROCS-1.
func TestDirectWaitersBound(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	t.Run("set", func(t *testing.T) {
		defer pipe.SetDirectWaits(2, time.Minute)()
		testDirectWaitersBound(t, 5, 2)
	})
	t.Run("GOMAXPROCS=3", func(t *testing.T) {
		defer pipe.SetDirectWaits(-1, time.Minute)()
		runtime.GOMAXPROCS(3)
		if n := pipe.DirectWaitLimit(); n != 2 {
			t.Fatalf("default limit with GOMAXPROCS=3: %d, want 2", n)
		}
		testDirectWaitersBound(t, 3, 2)
	})
	t.Run("GOMAXPROCS=1", func(t *testing.T) {
		defer pipe.SetDirectWaits(-1, time.Minute)()
		runtime.GOMAXPROCS(1)
		testDirectWaitersBound(t, 2, 0)
	})
}

func testDirectWaitersBound(t *testing.T, n, direct int) {
	var rs, ws []*pipe.Conn
	for range n {
		r, w, err := pipe.Pipe(true)
		must(t, err)
		closeAll(t, r, w)
		rs, ws = append(rs, r), append(ws, w)
	}
	got := make(chan []byte, n)
	for _, r := range rs {
		go func() {
			m, err := r.RecvBytes(0)
			if err != nil {
				t.Error(err)
			}
			got <- m
		}()
	}
	if direct > 0 {
		waitInPpoll(t, direct, "RecvBytes")
	}
	waitGoroutines(t, n-direct, "RecvBytes", stateNetpoll)
	if k := countBlocked([]string{"RecvBytes", "unix.Ppoll"}, stateSyscall); k != direct {
		t.Fatalf("%d goroutines in ppoll, want %d", k, direct)
	}
	for i, w := range ws {
		must(t, w.SendBytes([]byte{byte(i)}))
	}
	seen := make(map[byte]bool)
	for range n {
		select {
		case m := <-got:
			if len(m) != 1 || seen[m[0]] {
				t.Fatalf("unexpected message %v", m)
			}
			seen[m[0]] = true
		case <-time.After(10 * time.Second):
			t.Fatalf("only %d of %d receivers got their message", len(seen), n)
		}
	}
}

// TestNoDescriptorLeak: waiting makes a wake-up eventfd per connection;
// closing the connections closes every descriptor they made.
func TestNoDescriptorLeak(t *testing.T) {
	count := func() int {
		es, err := os.ReadDir("/proc/self/fd")
		must(t, err)
		return len(es)
	}
	before := count()
	for range 20 {
		a, b, err := pipe.Pipe(true)
		must(t, err)
		done := make(chan error, 1)
		go func() { _, err := a.RecvBytes(0); done <- err }()
		waitBlocked(t, "RecvBytes")
		if ok, err := b.Poll(time.Millisecond); ok || err != nil {
			t.Fatalf("Poll = %v, %v", ok, err)
		}
		must(t, b.SendBytes([]byte("x")))
		must(t, <-done)
		must(t, a.Close())
		must(t, b.Close())
	}
	if after := count(); after != before {
		t.Fatalf("%d descriptors open before, %d after", before, after)
	}
}

func TestDeadlines(t *testing.T) {
	inModes(t, func(t *testing.T, _ waitMode) { testDeadlines(t) })
}

func testDeadlines(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			r, w := tr.pair(t, nil)
			const d = 30 * time.Millisecond
			start := time.Now()
			must(t, r.SetReadDeadline(start.Add(d)))
			_, err := r.RecvBytes(0)
			expectErr(t, err, os.ErrDeadlineExceeded)
			if el := time.Since(start); el < d {
				t.Fatalf("deadline error after %v, before the deadline %v", el, d)
			}
			_, err = r.RecvBytesInto(make([]byte, 8))
			expectErr(t, err, os.ErrDeadlineExceeded)
			// A deadline at a message boundary leaves the connection usable.
			must(t, r.SetReadDeadline(time.Time{}))
			must(t, w.SendBytes([]byte("after")))
			got, err := r.RecvBytes(0)
			must(t, err)
			expectBytes(t, got, []byte("after"))

			// A write deadline in the past fails at once, sending nothing.
			must(t, w.SetWriteDeadline(time.Now().Add(-time.Second)))
			expectErr(t, w.SendBytes([]byte("late")), os.ErrDeadlineExceeded)
			must(t, w.SetDeadline(time.Time{}))
			must(t, w.SendBytes([]byte("on time")))
			got, err = r.RecvBytes(0)
			must(t, err)
			expectBytes(t, got, []byte("on time"))
		})
	}
}

// TestWriteDeadlineFullPipe fills a pipe until the write deadline stops
// the sender, then checks that every message that was reported sent
// arrives whole (writes of at most PIPE_BUF bytes are atomic).
func TestWriteDeadlineFullPipe(t *testing.T) {
	inModes(t, func(t *testing.T, _ waitMode) { testWriteDeadlineFullPipe(t) })
}

func testWriteDeadlineFullPipe(t *testing.T) {
	r, w, err := pipe.Pipe(false)
	must(t, err)
	closeAll(t, r, w)
	must(t, w.SetWriteDeadline(time.Now().Add(50*time.Millisecond)))
	sent := 0
	for {
		err := w.SendBytes(pattern(60, byte(sent)))
		if err != nil {
			expectErr(t, err, os.ErrDeadlineExceeded)
			break
		}
		sent++
	}
	if sent < 100 {
		t.Fatalf("only %d messages fit in a pipe", sent)
	}
	for i := range sent {
		got, err := r.RecvBytes(0)
		must(t, err)
		expectBytes(t, got, pattern(60, byte(i)))
	}
	if ok, _ := r.Poll(0); ok {
		t.Fatal("a timed-out send left bytes behind")
	}
	must(t, w.SetWriteDeadline(time.Time{}))
	must(t, w.SendBytes([]byte("again")))
	got, err := r.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, []byte("again"))
}

func TestPoll(t *testing.T) {
	inModes(t, func(t *testing.T, _ waitMode) { testPoll(t) })
}

func testPoll(t *testing.T) {
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			r, w := tr.pair(t, nil)
			if ok, err := r.Poll(0); ok || err != nil {
				t.Fatalf("Poll(0) on an idle conn = %v, %v", ok, err)
			}
			const d = 30 * time.Millisecond
			start := time.Now()
			if ok, err := r.Poll(d); ok || err != nil {
				t.Fatalf("Poll(%v) on an idle conn = %v, %v", d, ok, err)
			}
			if el := time.Since(start); el < d {
				t.Fatalf("Poll(%v) returned after %v", d, el)
			}
			// A blocked Poll wakes when a message arrives.
			done := make(chan error, 1)
			go func() {
				ok, err := r.Poll(-1)
				if err == nil && !ok {
					err = errors.New("Poll(-1) returned false")
				}
				done <- err
			}()
			waitBlocked(t, "Poll")
			must(t, w.SendBytes([]byte("a")))
			must(t, <-done)
			// Poll does not consume.
			must(t, w.SendBytes([]byte("b")))
			for _, want := range []string{"a", "b"} {
				if ok, err := r.Poll(0); !ok || err != nil {
					t.Fatalf("Poll before %q = %v, %v", want, ok, err)
				}
				got, err := r.RecvBytes(0)
				must(t, err)
				expectBytes(t, got, []byte(want))
			}
			if ok, _ := r.Poll(0); ok {
				t.Fatal("Poll true with nothing left")
			}
			// End of file is readable.
			must(t, w.Close())
			if ok, err := r.Poll(time.Second); !ok || err != nil {
				t.Fatalf("Poll after the peer closed = %v, %v", ok, err)
			}
			if n := pipe.WaiterCount(r); n != 0 {
				t.Fatalf("%d waiters left", n)
			}
		})
	}
}

// TestPollBuffered: data already read ahead counts, though the descriptor
// itself has nothing left.
func TestPollBuffered(t *testing.T) {
	a, b, err := pipe.Pipe(true)
	must(t, err)
	closeAll(t, a, b)
	must(t, a.SendBytes([]byte("one")))
	must(t, a.SendBytes([]byte("two")))
	got, err := b.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, []byte("one"))
	if pipe.Buffered(b) == 0 {
		t.Fatal("nothing read ahead")
	}
	if ok, err := b.Poll(0); !ok || err != nil {
		t.Fatalf("Poll with buffered data = %v, %v", ok, err)
	}
	ready, err := pipe.Wait([]*pipe.Conn{a, b}, time.Second)
	must(t, err)
	if len(ready) != 1 || ready[0] != b {
		t.Fatalf("Wait with buffered data = %v", ready)
	}
}

func TestWait(t *testing.T) {
	var rs, ws []*pipe.Conn
	for i := range 4 {
		r, w := transports()[i%len(transports())].pair(t, nil)
		rs, ws = append(rs, r), append(ws, w)
	}
	base := runtime.NumGoroutine()
	ready, err := pipe.Wait(rs, 0)
	if len(ready) != 0 || err != nil {
		t.Fatalf("Wait(0) on idle conns = %v, %v", ready, err)
	}
	const d = 30 * time.Millisecond
	start := time.Now()
	ready, err = pipe.Wait(rs, d)
	if len(ready) != 0 || err != nil || time.Since(start) < d {
		t.Fatalf("Wait(%v) = %v, %v after %v", d, ready, err, time.Since(start))
	}

	must(t, ws[3].SendBytes([]byte("3")))
	must(t, ws[1].SendBytes([]byte("1")))
	ready, err = pipe.Wait(rs, -1)
	must(t, err)
	if !slices.Equal(ready, []*pipe.Conn{rs[1], rs[3]}) {
		t.Fatalf("Wait returned %d conns, want rs[1], rs[3]", len(ready))
	}
	for _, i := range []int{1, 3} {
		if _, err := rs[i].RecvBytes(0); err != nil {
			t.Fatal(err)
		}
	}

	// A blocked Wait wakes for the first message and reports exactly the
	// ready connections.
	done := make(chan []*pipe.Conn, 1)
	go func() {
		ready, err := pipe.Wait(rs, 10*time.Second)
		if err != nil {
			t.Error(err)
		}
		done <- ready
	}()
	waitBlocked(t, "pipe.(*waiter).wait")
	must(t, ws[2].SendBytes([]byte("2")))
	ready = <-done
	if !slices.Equal(ready, []*pipe.Conn{rs[2]}) {
		t.Fatalf("woken Wait returned %d conns, want rs[2]", len(ready))
	}
	for _, r := range rs {
		if n := pipe.WaiterCount(r); n != 0 {
			t.Fatalf("%d waiters left", n)
		}
	}
	// All waiter goroutines are gone.
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > base && time.Now().Before(deadline) {
		runtime.Gosched()
	}
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines after Wait, %d before", n, base)
	}

	// Closing a connection under Wait returns it as ready.
	go func() {
		ready, err := pipe.Wait(rs[3:], -1)
		if err != nil {
			t.Error(err)
		}
		done <- ready
	}()
	waitBlocked(t, "pipe.(*waiter).wait")
	must(t, rs[3].Close())
	if ready := <-done; !slices.Equal(ready, rs[3:]) {
		t.Fatalf("Wait after Close returned %v", ready)
	}
	_, err = pipe.Wait(rs, 0)
	expectErr(t, err, pipe.ErrClosed)
	_, err = pipe.Wait(nil, -1)
	expectErr(t, err, pipe.ErrRange)
}

// Child processes: a connection handed over in Options.Files keeps working.

func init() {
	process.Register("pipe-echo", func(a *process.Args) error {
		c, err := pipe.FromFile(a.File(0))
		if err != nil {
			return err
		}
		a.File(0).Close()
		defer c.Close()
		for {
			m, err := c.RecvBytes(0)
			if err != nil {
				return err
			}
			if string(m) == "quit" {
				return nil
			}
			slices.Reverse(m)
			if err := c.SendBytes(m); err != nil {
				return err
			}
		}
	})
	process.Register("pipe-writer", func(a *process.Args) error {
		c, err := pipe.FromFile(a.File(0))
		if err != nil {
			return err
		}
		a.File(0).Close()
		if c.Readable() || !c.Writable() {
			return fmt.Errorf("write end arrived as readable=%v writable=%v", c.Readable(), c.Writable())
		}
		for i := range a.Int(0) {
			if err := c.SendBytes(pattern(1000+i, byte(i))); err != nil {
				return err
			}
		}
		return nil // exiting closes the last write end: EOF
	})
}

func TestChildProcess(t *testing.T) {
	t.Run("duplex", func(t *testing.T) {
		a, b, err := pipe.Pipe(true)
		must(t, err)
		closeAll(t, a)
		f, err := b.File()
		must(t, err)
		p, err := process.Start("pipe-echo", &process.Options{Files: []*os.File{f}})
		must(t, err)
		f.Close()
		b.Close()
		for _, m := range [][]byte{[]byte("hello"), {}, pattern(1<<20, 9)} {
			must(t, a.SendBytes(m))
			got, err := a.RecvBytes(0)
			must(t, err)
			want := slices.Clone(m)
			slices.Reverse(want)
			expectBytes(t, got, want)
		}
		must(t, a.SendBytes([]byte("quit")))
		if _, err := a.RecvBytes(0); err != io.EOF {
			t.Fatalf("after the child exited: %v, want io.EOF", err)
		}
		joinOK(t, p)
	})
	t.Run("authenticated-socket", func(t *testing.T) {
		// A Conn from Dial, after its handshake, handed to a child.
		l, err := pipe.ListenNetwork("unix", filepath.Join(t.TempDir(), "s"), key)
		must(t, err)
		defer l.Close()
		ch := acceptOne(l)
		d, err := pipe.DialNetwork("unix", l.Addr().String(), key)
		must(t, err)
		s := <-ch
		must(t, s.err)
		closeAll(t, s.c)
		f, err := d.File()
		must(t, err)
		p, err := process.Start("pipe-echo", &process.Options{Files: []*os.File{f}})
		must(t, err)
		f.Close()
		d.Close()
		for _, m := range [][]byte{[]byte("over a socket"), pattern(100000, 3)} {
			must(t, s.c.SendBytes(m))
			got, err := s.c.RecvBytes(0)
			must(t, err)
			want := slices.Clone(m)
			slices.Reverse(want)
			expectBytes(t, got, want)
		}
		must(t, s.c.SendBytes([]byte("quit")))
		if _, err := s.c.RecvBytes(0); err != io.EOF {
			t.Fatalf("after the child exited: %v, want io.EOF", err)
		}
		joinOK(t, p)
	})
	t.Run("one-way", func(t *testing.T) {
		r, w, err := pipe.Pipe(false)
		must(t, err)
		closeAll(t, r)
		f, err := w.File()
		must(t, err)
		p, err := process.Start("pipe-writer", &process.Options{Files: []*os.File{f}, Args: []any{50}})
		must(t, err)
		f.Close()
		w.Close()
		for i := range 50 {
			got, err := r.RecvBytes(0)
			must(t, err)
			expectBytes(t, got, pattern(1000+i, byte(i)))
		}
		if _, err := r.RecvBytes(0); err != io.EOF {
			t.Fatalf("after the child exited: %v, want io.EOF", err)
		}
		joinOK(t, p)
	})
}

func joinOK(t testing.TB, p *process.Process) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(t, p.Join(ctx))
	if code, _ := p.ExitCode(); code != 0 {
		t.Fatalf("child exited %d", code)
	}
}

func TestFromFileRejects(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "regular")
	must(t, err)
	defer f.Close()
	_, err = pipe.FromFile(f)
	expectErr(t, err, pipe.ErrNotStream)
	_, err = pipe.FromFile(nil)
	expectErr(t, err, os.ErrInvalid)
	bad := pipe.DefaultConfig()
	bad.MaxMessageSize = 0
	_, _, err = bad.Pipe(true)
	expectErr(t, err, pipe.ErrConfig)
	bad = pipe.DefaultConfig()
	bad.ReadBufferSize = 10
	expectErr(t, bad.Verify(), pipe.ErrConfig)
}

// TestWaitMovesToNetpoller: a wait longer than the ppoll limit carries on in
// the netpoller, where a message still wakes it.
func TestWaitMovesToNetpoller(t *testing.T) {
	defer pipe.SetDirectWaits(32, 5*time.Millisecond)()
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			r, w := tr.pair(t, nil)
			got := make(chan error, 1)
			go func() {
				m, err := r.RecvBytes(0)
				if err == nil && string(m) != "late" {
					err = fmt.Errorf("got %q", m)
				}
				got <- err
			}()
			waitGoroutines(t, 1, "RecvBytes", stateNetpoll)
			must(t, w.SendBytes([]byte("late")))
			must(t, <-got)

			polled := make(chan error, 1)
			go func() {
				ok, err := r.Poll(-1)
				if err == nil && !ok {
					err = errors.New("Poll(-1) returned false")
				}
				polled <- err
			}()
			waitGoroutines(t, 1, "pipe.(*waiter).wait", stateNetpoll)
			must(t, w.SendBytes([]byte("x")))
			must(t, <-polled)
		})
	}
}

// netpollerFDs returns the descriptors registered with any epoll instance of
// this process (the runtime's netpoller is one), from /proc/self/fdinfo.
func netpollerFDs(t *testing.T) map[int]bool {
	t.Helper()
	fds := map[int]bool{}
	entries, err := os.ReadDir("/proc/self/fd")
	must(t, err)
	found := false
	for _, e := range entries {
		target, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err != nil || target != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		found = true
		for _, line := range strings.Split(string(info), "\n") {
			var fd int
			if _, err := fmt.Sscanf(line, "tfd: %d", &fd); err == nil {
				fds[fd] = true
			}
		}
	}
	if !found {
		t.Fatal("no epoll instance in /proc/self/fd: is the netpoller not running?")
	}
	return fds
}

// TestNotInNetpoller: a connection's descriptor stays out of the runtime's
// netpoller, whatever made it (a netpoller-registered descriptor wakes the
// polling thread at every edge), also after waits that went through the
// netpoller on a duplicate; Poll's duplicates are registered while they
// wait, as a check that netpollerFDs sees registrations.
func TestNotInNetpoller(t *testing.T) {
	inModes(t, func(t *testing.T, m waitMode) {
		for _, tr := range transports() {
			r, w := tr.pair(t, pipe.DefaultConfig())
			done := make(chan error, 1)
			go func() {
				_, err := r.RecvBytes(0)
				done <- err
			}()
			time.Sleep(30 * time.Millisecond) // past the ppoll limit in netpoll mode
			must(t, w.SendBytes([]byte("x")))
			must(t, <-done)
			before := netpollerFDs(t)
			polling := make(chan bool, 1)
			go func() { ok, _ := r.Poll(-1); polling <- ok }()
			waitBlocked(t, "Poll")
			reg := netpollerFDs(t)
			for _, c := range []*pipe.Conn{r, w} {
				if reg[c.Fileno()] {
					t.Fatalf("%s: descriptor %d is in the netpoller", tr.name, c.Fileno())
				}
			}
			if !m.direct {
				n := 0
				for fd := range reg {
					if !before[fd] {
						n++
					}
				}
				if n == 0 {
					t.Fatalf("%s: Poll's duplicate not seen in the netpoller", tr.name)
				}
			}
			must(t, w.SendBytes([]byte("y")))
			if !<-polling {
				t.Fatalf("%s: Poll returned false", tr.name)
			}
		}
	})
}

// TestPipeSendBuffer: Pipe(true) enlarges the socket send buffers, as far as
// net.core.wmem_max allows (Linux doubles the value set).
func TestPipeSendBuffer(t *testing.T) {
	b, err := os.ReadFile("/proc/sys/net/core/wmem_max")
	must(t, err)
	var wmemMax int
	_, err = fmt.Sscan(string(b), &wmemMax)
	must(t, err)
	a, c, err := pipe.Pipe(true)
	must(t, err)
	closeAll(t, a, c)
	for _, x := range []*pipe.Conn{a, c} {
		got, err := unix.GetsockoptInt(x.Fileno(), unix.SOL_SOCKET, unix.SO_SNDBUF)
		must(t, err)
		if want := 2 * min(pipe.PipeSendBuffer, wmemMax); got != want {
			t.Fatalf("SO_SNDBUF = %d, want %d", got, want)
		}
	}
}

// TestClosedCheckedFirst: as in Python, where every Connection method calls
// _check_closed before anything else (connection.py, send_bytes,
// recv_bytes, send), a closed connection reports ErrClosed ("handle is
// closed") whatever else is wrong with the call: direction, range or value.
func TestClosedCheckedFirst(t *testing.T) {
	r, w, err := pipe.Pipe(false)
	must(t, err)
	must(t, r.Close())
	must(t, w.Close())
	expectErr(t, r.SendBytes([]byte("x")), pipe.ErrClosed)
	expectErr(t, r.SendBytesRange([]byte("x"), 0, 1), pipe.ErrClosed)
	expectErr(t, r.Send(1), pipe.ErrClosed)
	_, err = w.RecvBytes(0)
	expectErr(t, err, pipe.ErrClosed)
	_, err = w.RecvBytesInto(make([]byte, 1))
	expectErr(t, err, pipe.ErrClosed)
	_, err = w.Poll(0)
	expectErr(t, err, pipe.ErrClosed)

	a, b, err := pipe.Pipe(true)
	must(t, err)
	must(t, a.Close())
	must(t, b.Close())
	_, err = a.RecvBytes(-1)
	expectErr(t, err, pipe.ErrClosed)
	expectErr(t, a.SendBytesRange([]byte("x"), -1, 0), pipe.ErrClosed)
	expectErr(t, a.SendBytesRange([]byte("x"), 0, 2), pipe.ErrClosed)
	expectErr(t, a.Send(make(chan int)), pipe.ErrClosed)

	// Open, the direction comes next, then the arguments (Python:
	// _check_writable / _check_readable before the ValueError checks).
	r, w, err = pipe.Pipe(false)
	must(t, err)
	closeAll(t, r, w)
	expectErr(t, r.SendBytesRange([]byte("x"), -1, 0), pipe.ErrNotWritable)
	_, err = w.RecvBytes(-1)
	expectErr(t, err, pipe.ErrNotReadable)
}
