//go:build linux

package pipe_test

import (
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/pipe"
)

// forEach runs f for every transport under every receive strategy, in
// every wait mode.
func forEach(t *testing.T, f func(t *testing.T, tr transport, cfg *pipe.Config)) {
	inModes(t, func(t *testing.T, _ waitMode) {
		for _, tr := range transports() {
			for name, cfg := range configs() {
				t.Run(tr.name+"/"+name, func(t *testing.T) { f(t, tr, cfg) })
			}
		}
	})
}

func shortHeader(n int32) []byte {
	return binary.BigEndian.AppendUint32(nil, uint32(n))
}

func longHeader(n uint64) []byte {
	return binary.BigEndian.AppendUint64([]byte{0xff, 0xff, 0xff, 0xff}, n)
}

// TestWireFormat checks the bytes SendBytes puts on the wire: a 4-byte
// big-endian length and the payload, or -1 and an 8-byte length.
func TestWireFormat(t *testing.T) {
	r, w, err := pipe.Pipe(false)
	must(t, err)
	closeAll(t, r, w)
	for _, n := range []int{0, 1, 255, 16384, 16385, 60000} {
		p := pattern(n, byte(n))
		done := make(chan error, 1)
		go func() { done <- w.SendBytes(p) }()
		expectBytes(t, rawRead(t, r, 4+n), append(shortHeader(int32(n)), p...))
		must(t, <-done)
	}
	must(t, pipe.SendLongForm(w, []byte("LONG!")))
	expectBytes(t, rawRead(t, r, 17), append(longHeader(5), "LONG!"...))
	must(t, pipe.SendLongForm(w, nil))
	expectBytes(t, rawRead(t, r, 12), longHeader(0))
}

// TestMessages sends messages of many sizes, including empty ones and ones
// longer than the read-ahead buffer and than the first allocation step,
// in both header forms, and receives them with RecvBytes and RecvBytesInto.
func TestMessages(t *testing.T) {
	sizes := []int{0, 1, 3, 4, 5, 12, 63, 64, 65, 511, 512, 513, 4096, 16383, 16384, 16385, 65536, 100000, 1<<20 + 1, 3<<20 + 17}
	msgs := make([][]byte, len(sizes))
	for i, n := range sizes {
		msgs[i] = pattern(n, byte(i))
	}
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		r, w := tr.pair(t, cfg)
		done := make(chan error, 1)
		go func() {
			for i := range sizes {
				var err error
				if i%3 == 2 {
					err = pipe.SendLongForm(w, msgs[i])
				} else {
					err = w.SendBytes(msgs[i])
				}
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		buf := make([]byte, 2<<20)
		for i, n := range sizes {
			if i%2 == 0 {
				got, err := r.RecvBytes(0)
				must(t, err)
				expectBytes(t, got, msgs[i])
				continue
			}
			k, err := r.RecvBytesInto(buf)
			if n > len(buf) {
				var e *pipe.BufferTooShortError
				if !errors.As(err, &e) {
					t.Fatalf("message of %d into %d bytes: got %v, want BufferTooShortError", n, len(buf), err)
				}
				expectErr(t, err, pipe.ErrBufferTooShort)
				expectBytes(t, e.Message, msgs[i])
				continue
			}
			must(t, err)
			expectBytes(t, buf[:k], msgs[i])
		}
		must(t, <-done)
		if ok, err := r.Poll(0); ok || err != nil {
			t.Fatalf("Poll after the last message = %v, %v; want false", ok, err)
		}
	})
}

// TestTruncated cuts the stream at every kind of place: a clean boundary is
// io.EOF, anything inside a message is io.ErrUnexpectedEOF. The peer hangs
// up before the first receive, so the end of file is already pending when a
// read returns the last bytes: in netpoll mode this is the case where
// waiting for a netpoller event after a short read would wait forever.
func TestTruncated(t *testing.T) {
	cases := []struct {
		name  string
		wire  []byte
		msgs  int // complete messages before the end
		clean bool
	}{
		{"nothing", nil, 0, true},
		{"after a message", append(shortHeader(3), "abc"...), 1, true},
		{"after an empty message", shortHeader(0), 1, true},
		{"inside header", []byte{0, 0}, 0, false},
		{"after header", shortHeader(5), 0, false},
		{"inside payload", append(shortHeader(5), "ab"...), 0, false},
		{"inside long header", []byte{0xff, 0xff, 0xff, 0xff, 0, 0}, 0, false},
		{"after long header", longHeader(7), 0, false},
		{"inside long payload", append(longHeader(7), "xyz"...), 0, false},
		{"message then partial header", append(append(shortHeader(1), 'x'), 0, 0, 0), 1, false},
	}
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		for _, tc := range cases {
			r, w := tr.pair(t, cfg)
			// A receive that misses the end of file fails here rather
			// than hanging (the netpoller reports only new events).
			must(t, r.SetReadDeadline(time.Now().Add(10*time.Second)))
			write, hangUp := rawWriter(t, w)
			if len(tc.wire) > 0 {
				write(tc.wire)
			}
			hangUp()
			for range tc.msgs {
				if _, err := r.RecvBytes(0); err != nil {
					t.Fatalf("%s: complete message: %v", tc.name, err)
				}
			}
			for range 2 { // the error repeats
				_, err := r.RecvBytes(0)
				if tc.clean {
					if err != io.EOF {
						t.Fatalf("%s: got %v, want io.EOF", tc.name, err)
					}
				} else {
					expectErr(t, err, io.ErrUnexpectedEOF)
				}
			}
		}
	})
}

// TestBadLength rejects negative lengths other than -1; the connection
// cannot receive afterwards.
func TestBadLength(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		for _, n := range []int32{-2, -100, math.MinInt32} {
			r, w := tr.pair(t, cfg)
			write, _ := rawWriter(t, w)
			write(append(shortHeader(n), "payload"...))
			_, err := r.RecvBytes(0)
			expectErr(t, err, pipe.ErrBadLength)
			write(append(shortHeader(1), 'x'))
			_, err = r.RecvBytes(0)
			expectErr(t, err, pipe.ErrBadLength)
		}
	})
}

// TestTooLarge refuses messages over the maximum without reading them, as
// Python does: a duplex connection becomes write-only, a one-way reader is
// closed.
func TestTooLarge(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		cases := []struct {
			name   string
			header []byte
			max    int
		}{
			{"over RecvBytes max", shortHeader(11), 10},
			{"over config max", shortHeader(math.MaxInt32), 0},
			{"long form over max", longHeader(1 << 40), 0},
			{"long form over MaxInt64", longHeader(math.MaxUint64), 0},
			{"long form MaxInt64", longHeader(math.MaxInt64), 0},
		}
		for _, tc := range cases {
			r, w := tr.pair(t, cfg)
			write, _ := rawWriter(t, w)
			write(append(tc.header, "0123456789x"...))
			_, err := r.RecvBytes(tc.max)
			expectErr(t, err, pipe.ErrMessageTooLarge)
			if r.Readable() {
				t.Fatalf("%s: still readable after a refused message", tc.name)
			}
			_, err = r.RecvBytes(0)
			if tr.duplex {
				expectErr(t, err, pipe.ErrNotReadable)
				// The send side still works.
				must(t, r.SendBytes([]byte("still here")))
				got, err := w.RecvBytes(0)
				must(t, err)
				expectBytes(t, got, []byte("still here"))
			} else {
				expectErr(t, err, pipe.ErrClosed)
				if !r.Closed() {
					t.Fatalf("%s: one-way reader not closed", tc.name)
				}
			}
		}
		// A message of exactly the maximum is accepted.
		r, w := tr.pair(t, cfg)
		must(t, w.SendBytes([]byte("0123456789")))
		got, err := r.RecvBytes(10)
		must(t, err)
		expectBytes(t, got, []byte("0123456789"))
	})
}

// TestNoUnboundedAllocation announces huge messages under a maximum raised
// high, sends a few bytes and hangs up: the receiver must fail without
// allocating anything near the announced size.
func TestNoUnboundedAllocation(t *testing.T) {
	cfg := pipe.DefaultConfig()
	cfg.MaxMessageSize = 1 << 40
	for _, tr := range transports() {
		t.Run(tr.name, func(t *testing.T) {
			for _, into := range []bool{false, true} {
				r, w := tr.pair(t, cfg)
				write, hangUp := rawWriter(t, w)
				write(append(longHeader(1<<39), "only a few bytes"...))
				hangUp()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				var err error
				if into {
					_, err = r.RecvBytesInto(make([]byte, 10))
				} else {
					_, err = r.RecvBytes(0)
				}
				runtime.ReadMemStats(&after)
				expectErr(t, err, io.ErrUnexpectedEOF)
				if got := after.TotalAlloc - before.TotalAlloc; got > 4<<20 {
					t.Fatalf("allocated %d bytes for a message that never came", got)
				}
			}
		})
	}
}

// TestBufferTooShort: the whole message comes back in the error and the
// connection stays in step.
func TestBufferTooShort(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		r, w := tr.pair(t, cfg)
		must(t, w.SendBytes([]byte("0123456789")))
		must(t, w.SendBytes([]byte("next")))
		must(t, w.SendBytes(nil))
		buf := make([]byte, 9)
		_, err := r.RecvBytesInto(buf)
		var e *pipe.BufferTooShortError
		if !errors.As(err, &e) {
			t.Fatalf("got %v, want *BufferTooShortError", err)
		}
		expectBytes(t, e.Message, []byte("0123456789"))
		if e.BufLen != 9 {
			t.Fatalf("BufLen = %d", e.BufLen)
		}
		n, err := r.RecvBytesInto(buf)
		must(t, err)
		expectBytes(t, buf[:n], []byte("next"))
		n, err = r.RecvBytesInto(nil) // empty message into an empty buffer
		must(t, err)
		if n != 0 {
			t.Fatalf("empty message: n = %d", n)
		}
	})
}

// TestRanges checks argument validation: nothing is sent or consumed.
func TestRanges(t *testing.T) {
	a, b, err := pipe.Pipe(true)
	must(t, err)
	closeAll(t, a, b)
	data := []byte("0123456789")
	for _, bad := range [][2]int{{-1, 0}, {0, -1}, {11, 0}, {5, 6}, {math.MaxInt, 1}, {1, math.MaxInt}} {
		expectErr(t, a.SendBytesRange(data, bad[0], bad[1]), pipe.ErrRange)
	}
	if ok, _ := b.Poll(0); ok {
		t.Fatal("a refused send put bytes on the wire")
	}
	must(t, a.SendBytesRange(data, 3, 4))
	must(t, a.SendBytesRange(data, 10, 0))
	_, err = b.RecvBytes(-1)
	expectErr(t, err, pipe.ErrRange)
	got, err := b.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, []byte("3456"))
	got, err = b.RecvBytes(0)
	must(t, err)
	expectBytes(t, got, nil)
}

// TestConcurrentSenders: messages from many goroutines arrive whole.
func TestConcurrentSenders(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		r, w := tr.pair(t, cfg)
		const senders, each = 4, 80
		var wg sync.WaitGroup
		for g := range senders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					n := 2 + (i*977+g*31)%9000
					p := pattern(n, byte(g))
					p[0], p[1] = byte(g), byte(i)
					if err := w.SendBytes(p); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		next := make([]int, senders)
		for range senders * each {
			m, err := r.RecvBytes(0)
			must(t, err)
			g, i := int(m[0]), int(m[1])
			if g >= senders || i != next[g]%256 {
				t.Fatalf("message from sender %d numbered %d, want %d", g, i, next[g])
			}
			want := pattern(2+(next[g]*977+g*31)%9000, byte(g))
			want[0], want[1] = byte(g), byte(i)
			expectBytes(t, m, want)
			next[g]++
		}
		wg.Wait()
	})
}

// TestReadAheadAndFile: with read-ahead, File refuses to hand over a
// descriptor while bytes are buffered; without, two connections on one
// descriptor can take turns receiving, as Python's Queue readers do.
func TestReadAheadAndFile(t *testing.T) {
	r, w, err := pipe.Pipe(false)
	must(t, err)
	closeAll(t, r, w)
	for i := range 3 {
		must(t, w.SendBytes([]byte{byte(i)}))
	}
	if _, err := r.RecvBytes(0); err != nil {
		t.Fatal(err)
	}
	if pipe.Buffered(r) == 0 {
		t.Fatal("read-ahead buffered nothing")
	}
	_, err = r.File()
	expectErr(t, err, pipe.ErrBuffered)

	exact := pipe.DefaultConfig()
	exact.ReadBufferSize = 0
	r1, w, err := exact.Pipe(false)
	must(t, err)
	closeAll(t, r1, w)
	f, err := r1.File()
	must(t, err)
	r2, err := exact.FromFile(f)
	must(t, err)
	f.Close()
	closeAll(t, r2)
	for i := range 10 {
		must(t, w.SendBytes(pattern(100+i, byte(i))))
	}
	for i := range 10 {
		c := r1
		if i%2 == 1 {
			c = r2
		}
		got, err := c.RecvBytes(0)
		must(t, err)
		expectBytes(t, got, pattern(100+i, byte(i)))
		if pipe.Buffered(c) != 0 {
			t.Fatal("exact reads buffered bytes")
		}
	}
}

// TestReadDeadlineInsideMessage: a deadline inside a header keeps the
// stream in step (the partial header stays buffered); a deadline inside a
// payload breaks the receive side for good.
func TestReadDeadlineInsideMessage(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		r, w := tr.pair(t, cfg)
		write, _ := rawWriter(t, w)
		write([]byte{0, 0})
		must(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err := r.RecvBytes(0)
		expectErr(t, err, os.ErrDeadlineExceeded)
		write([]byte{0, 3, 'a', 'b', 'c'})
		must(t, r.SetReadDeadline(time.Time{}))
		got, err := r.RecvBytes(0)
		must(t, err)
		expectBytes(t, got, []byte("abc"))

		write(append(shortHeader(100), "only ten b"...))
		must(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err = r.RecvBytes(0)
		expectErr(t, err, os.ErrDeadlineExceeded)
		// Nothing is pending, but a receive would return at once.
		if ok, err := r.Poll(0); !ok || err != nil {
			t.Fatalf("Poll on a broken connection = %v, %v", ok, err)
		}
		write(pattern(90, 0))
		must(t, r.SetReadDeadline(time.Time{}))
		_, err = r.RecvBytes(0)
		expectErr(t, err, os.ErrDeadlineExceeded) // sticky
	})
}

// A wireMsg is one message of a test stream: its payload, and whether it
// goes with the long-form header.
type wireMsg struct {
	p    []byte
	long bool
}

func (m wireMsg) frame() []byte {
	if m.long {
		return append(longHeader(uint64(len(m.p))), m.p...)
	}
	return append(shortHeader(int32(len(m.p))), m.p...)
}

// afterLarge is a stream in groups, for RecvBytesInto with a 3*l buffer
// after a message of l bytes, more than the read-ahead buffer holds. Each
// group starts after a large message, so its first receive reads header
// and payload with one readv (recvDirect) when the group is written only
// once the ones before it were received: every way the next frame can
// differ from the last one.
func afterLarge(l int) [][]wireMsg {
	var s [][]wireMsg
	seed := byte(0)
	msg := func(n int, long bool) wireMsg {
		seed++
		return wireMsg{pattern(n, seed), long}
	}
	group := func(m ...wireMsg) { s = append(s, m) }
	short := func(k, n int) []wireMsg {
		var g []wireMsg
		for range k {
			g = append(g, msg(n, false))
		}
		return g
	}
	group(msg(l, false))
	group(msg(l, false))       // same size: read whole by one readv
	group(msg(l+l/2, false))   // longer: continues in the read-ahead area
	group(msg(l+l/2+1, false)) // and longer than the last one again
	// Short ones: bytes of later messages land in buf.
	group(append(short(10, 7), msg(l, false))...)
	// More short ones than the read-ahead buffer holds.
	group(append(short(l/20, 50), msg(l, false))...)
	group(msg(l, true), msg(l, false))    // long-form header
	group(msg(4*l, false), msg(l, false)) // does not fit: BufferTooShortError
	group(msg(0, false), msg(l, false))
	group(msg(3*l, false), msg(1, false)) // fills buf exactly
	return s
}

// TestRecvIntoAfterLarge receives afterLarge streams, each group written
// once the ones before it were received, or the whole stream written in
// uneven pieces while the receiver reads. Every third message after the
// first of its group is received with RecvBytes.
func TestRecvIntoAfterLarge(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		l := max(cfg.ReadBufferSize, 64) + 200
		for _, grouped := range []bool{true, false} {
			groups := afterLarge(l)
			r, w := tr.pair(t, cfg)
			must(t, r.SetReadDeadline(time.Now().Add(20*time.Second)))
			f, err := w.File()
			must(t, err)
			must(t, w.Close())
			defer f.Close()
			writer := func(wire []byte, piece int) chan error {
				done := make(chan error, 1)
				go func() {
					for len(wire) > 0 {
						n := min(len(wire), piece)
						if _, err := f.Write(wire[:n]); err != nil {
							done <- err
							return
						}
						wire = wire[n:]
						piece = 1 + (piece*7)%(3*l+17)
					}
					done <- nil
				}()
				return done
			}
			var all []byte
			for _, g := range groups {
				for _, m := range g {
					all = append(all, m.frame()...)
				}
			}
			var done chan error
			if !grouped {
				done = writer(all, 1)
			}
			buf := make([]byte, 3*l)
			for gi, g := range groups {
				if grouped {
					var wire []byte
					for _, m := range g {
						wire = append(wire, m.frame()...)
					}
					done = writer(wire, len(wire))
				}
				for i, m := range g {
					if i%3 == 2 {
						got, err := r.RecvBytes(0)
						if err != nil {
							t.Fatalf("grouped=%v group %d message %d (%d bytes): %v", grouped, gi, i, len(m.p), err)
						}
						expectBytes(t, got, m.p)
						continue
					}
					n, err := r.RecvBytesInto(buf)
					if len(m.p) > len(buf) {
						var e *pipe.BufferTooShortError
						if !errors.As(err, &e) {
							t.Fatalf("grouped=%v group %d message %d (%d bytes into %d): got %v, want BufferTooShortError", grouped, gi, i, len(m.p), len(buf), err)
						}
						expectBytes(t, e.Message, m.p)
						continue
					}
					if err != nil {
						t.Fatalf("grouped=%v group %d message %d (%d bytes): %v", grouped, gi, i, len(m.p), err)
					}
					expectBytes(t, buf[:n], m.p)
				}
				if grouped {
					must(t, <-done)
					if b := pipe.Buffered(r); b != 0 {
						t.Fatalf("group %d: %d bytes still buffered", gi, b)
					}
				}
			}
			if !grouped {
				must(t, <-done)
			}
			f.Close()
			_, err = r.RecvBytesInto(buf)
			if err != io.EOF {
				t.Fatalf("grouped=%v: after the stream: %v, want io.EOF", grouped, err)
			}
			if !grouped {
				continue
			}
			want := len(groups) - 1
			if cfg.ReadBufferSize == 0 {
				want = 0
			}
			if d := pipe.DirectReceives(r); d != want {
				t.Fatalf("%d direct receives, want %d (one per group after the first)", d, want)
			}
		}
	})
}

// TestRecvIntoAfterLargeEnds: the ends and failures of a receive that reads
// header and payload with one readv (after a large message) are those of
// any receive: end of file clean or inside a message, a deadline before or
// inside the header (in step) or inside the payload (sticky), a message over
// the maximum.
func TestRecvIntoAfterLargeEnds(t *testing.T) {
	forEach(t, func(t *testing.T, tr transport, cfg *pipe.Config) {
		l := max(cfg.ReadBufferSize, 64) + 200
		big := pattern(l, 1)
		buf := make([]byte, 3*l)
		start := func() (r *pipe.Conn, write func([]byte), hangUp func()) {
			r, w := tr.pair(t, cfg)
			must(t, r.SetReadDeadline(time.Now().Add(20*time.Second)))
			write, hangUp = rawWriter(t, w)
			write(append(shortHeader(int32(l)), big...))
			n, err := r.RecvBytesInto(buf)
			must(t, err)
			expectBytes(t, buf[:n], big)
			return r, write, hangUp
		}
		ends := []struct {
			name string
			wire []byte
			want error
		}{
			{"clean", nil, io.EOF},
			{"inside header", []byte{0, 0}, io.ErrUnexpectedEOF},
			{"after header", shortHeader(int32(l)), io.ErrUnexpectedEOF},
			{"inside payload", append(shortHeader(int32(l)), big[:l/2]...), io.ErrUnexpectedEOF},
			{"inside long header", longHeader(uint64(l))[:7], io.ErrUnexpectedEOF},
		}
		for _, tc := range ends {
			r, write, hangUp := start()
			if len(tc.wire) > 0 {
				write(tc.wire)
			}
			hangUp()
			for range 2 { // the error repeats
				_, err := r.RecvBytesInto(buf)
				if err != tc.want && (tc.want == io.EOF || !errors.Is(err, tc.want)) {
					t.Fatalf("%s: got %v, want %v", tc.name, err, tc.want)
				}
			}
		}

		// Deadlines: before anything, inside the header, inside the payload.
		r, write, _ := start()
		for _, wire := range [][]byte{nil, {0, 0}} {
			if wire != nil {
				write(wire)
			}
			must(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
			_, err := r.RecvBytesInto(buf)
			expectErr(t, err, os.ErrDeadlineExceeded)
		}
		write(append(binary.BigEndian.AppendUint16(nil, uint16(l)), big...))
		must(t, r.SetReadDeadline(time.Time{}))
		n, err := r.RecvBytesInto(buf)
		must(t, err)
		expectBytes(t, buf[:n], big)
		write(append(shortHeader(int32(l)), big[:10]...))
		must(t, r.SetReadDeadline(time.Now().Add(20*time.Millisecond)))
		_, err = r.RecvBytesInto(buf)
		expectErr(t, err, os.ErrDeadlineExceeded)
		write(big[10:])
		must(t, r.SetReadDeadline(time.Time{}))
		_, err = r.RecvBytesInto(buf)
		expectErr(t, err, os.ErrDeadlineExceeded) // sticky

		// Over the maximum: refused, not consumed.
		small := *cfg
		small.MaxMessageSize = int64(2 * l)
		r, w := tr.pair(t, &small)
		write, _ = rawWriter(t, w)
		write(append(shortHeader(int32(l)), big...))
		n, err = r.RecvBytesInto(buf[:2*l])
		must(t, err)
		expectBytes(t, buf[:n], big)
		write(append(shortHeader(int32(2*l+1)), big...))
		_, err = r.RecvBytesInto(buf[:2*l])
		expectErr(t, err, pipe.ErrMessageTooLarge)
	})
}
