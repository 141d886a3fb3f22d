//go:build linux

package manager

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mproc/mproc/pipe"
)

// wireConn is a managers connection after its authkey handshake: messages
// in multiprocessing.connection's framing (a 4-byte big-endian length, or
// -1 and an 8-byte length, then the payload; pipe/PROTOCOL.md) on a socket
// descriptor of its own. pipe.Conn does the handshake; the connection then
// moves here (newWireConn), for three reasons, all measured on the 2-core
// development VM, where a context switch is the dominant cost of a call:
//
//   - A descriptor registered with the runtime's netpoller makes the
//     thread blocked in epoll_pwait wake for every message that arrives,
//     whether or not a goroutine waits for it; parking and readying
//     goroutines adds spinning threads (futex, nanosleep). A Go server on
//     pipe.Conn used 37 µs of CPU and 2.7 context switches per call of a
//     Python client, CPython's own server 23 µs and 1.8.
//   - Replies (and pipelined requests) are held and written together: a
//     batch of 1,000 small calls costs a few writes rather than 1,000.
//   - A receive is one read(2) that sleeps in the kernel until the message
//     arrives, as CPython's is: one thread wakes per message.
//
// Waiting. The descriptor is in blocking mode with a receive and send
// timeout of directWait (SO_RCVTIMEO, SO_SNDTIMEO). A receive blocks in
// read(2) for at most that long; one that would last longer (an idle
// connection, a deadline sooner than directWait, or more than
// maxDirectReaders threads already blocked in reads) waits in the
// netpoller instead, on a duplicate descriptor registered for that one wait
// (pollWait), so idle connections hold no thread. A send that finds the
// socket buffer full waits in ppoll(2), a slice of directWait at a time.
//
// Closing. close may be called from any goroutine, during a receive or a
// send: it shuts the socket down (shutdown(2)), which ends a blocked read,
// write or netpoller wait at once, and closes the descriptor when no call
// is using it any more (state counts the calls in progress), so the
// number is never reused under a call.
//
// A wireConn receives in one goroutine at a time and sends in one
// goroutine at a time; the two may run at once.
type wireConn struct {
	fd     int
	maxMsg int64

	// state: bit 0 = closed; the rest counts the calls using fd, in units
	// of 2. The descriptor is closed when state reaches 1 (closed, no
	// user).
	state atomic.Int64

	// deadline for receives and sends, Unix ns (0: none).
	deadline atomic.Int64

	// Receive side: rbuf[rpos:rend] holds bytes read and not yet returned.
	rbuf       []byte
	rpos, rend int

	// lastYield is when the receiving goroutine last went through the
	// scheduler (Unix ns); see read.
	lastYield int64

	// Send side: held messages, written by flush.
	wbuf []byte
}

const (
	// directWait bounds one wait of a blocked read(2) or write(2). Long
	// enough that a round trip with a busy peer never leaves it, short
	// enough that an idle connection soon gives its thread back.
	directWait = 20 * time.Millisecond

	// wireReadBuffer is the read-ahead buffer: one read takes every
	// message the kernel holds up to this size (a pipelined batch).
	wireReadBuffer = 32 << 10

	// yieldEvery is how often a receiving goroutine yields (see read).
	yieldEvery = 5 * time.Millisecond

	// maxHeldWrite is the size at which held messages are written out.
	maxHeldWrite = 64 << 10
)

// directReaders counts the threads blocked in read(2) on wireConns.
var directReaders atomic.Int32

// maxDirectReaders bounds the threads of the process blocked in read(2) on
// wireConns; receives beyond it wait in the netpoller. (A variable for the
// tests.)
var maxDirectReaders int32 = 256

// procsGrowth raises GOMAXPROCS as more threads block in wireConn reads, so
// that a P stays free for the next request to run on. In Go 1.26 a thread in
// a system call keeps its P; once every P is held by one, sysmon takes them
// back (handoffp), and a read that returns finds no P: its goroutine waits
// in the global run queue until one is free, a few thread wake-ups and up to
// a sysmon period (20 µs–10 ms) later. On the 2-core development VM with 8
// Python client processes that cost a third of the throughput (GOMAXPROCS
// 2: 26.6k calls/s; grown: 39.6k; grown with the connections rather than
// the blocked reads: 33.8k; a C server doing no work, in another run:
// 44.7k). With one client no P is short and nothing changes. GOMAXPROCS
// only grows, at least doubling each time, so the stop-the-world it costs
// happens a few times in a server's life; it stops at base +
// maxDirectReaders (more readers than that wait in the netpoller, holding no
// P).
//
// Only a server with ServerConfig.GrowProcs enables it (enableProcsGrowth, at
// Listen): GOMAXPROCS belongs to the whole process, so it is for a process
// that is the server alone (Start's child, `mproc manager serve`).
type procsGrowth struct {
	mu   sync.Mutex
	base int // GOMAXPROCS when enabled: the CPUs the process may use
	cur  int
}

var (
	// procsGrower is the enabled procsGrowth (nil: none).
	procsGrower atomic.Pointer[procsGrowth]
	// procsGrowAt is the number of threads blocked in reads at which
	// GOMAXPROCS grows (0: never): the current GOMAXPROCS.
	procsGrowAt atomic.Int32
)

// enableProcsGrowth makes this process's GOMAXPROCS follow the threads
// blocked in wireConn reads.
func enableProcsGrowth() {
	g := newProcsGrowth()
	procsGrower.Store(g)
	procsGrowAt.Store(int32(g.cur))
}

// newProcsGrowth starts from the current GOMAXPROCS.
func newProcsGrowth() *procsGrowth {
	n := runtime.GOMAXPROCS(0)
	return &procsGrowth{base: n, cur: n}
}

// grow makes GOMAXPROCS exceed readers (threads blocked in reads) by 2 if it
// does not already exceed them, at least doubling it, and returns the new
// value.
func (g *procsGrowth) grow(readers int) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if readers < g.cur {
		return g.cur
	}
	want := min(max(readers+2, 2*g.cur), g.base+int(maxDirectReaders))
	if want > g.cur {
		g.cur = want
		runtime.GOMAXPROCS(want)
	}
	if g == procsGrower.Load() {
		procsGrowAt.Store(int32(min(g.cur, math.MaxInt32)))
	}
	return g.cur
}

// errMessageTooLarge is a frame longer than the connection accepts.
var errMessageTooLarge = errors.New("message too large")

// newWireConn takes over the descriptor of c, which has done its handshake
// and holds no read-ahead data (its Config.ReadBufferSize is 0): c is
// closed, and the returned connection owns a duplicate of its descriptor.
func newWireConn(c *pipe.Conn, maxMsg int64) (*wireConn, error) {
	fd := c.Fileno()
	if fd < 0 {
		c.Close()
		return nil, fmt.Errorf("manager: %w", net.ErrClosed)
	}
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	c.Close()
	if err != nil {
		return nil, fmt.Errorf("manager: dup: %w", err)
	}
	if err := unix.SetNonblock(nfd, false); err != nil {
		unix.Close(nfd)
		return nil, fmt.Errorf("manager: %w", err)
	}
	tv := unix.NsecToTimeval(int64(directWait))
	unix.SetsockoptTimeval(nfd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	unix.SetsockoptTimeval(nfd, unix.SOL_SOCKET, unix.SO_SNDTIMEO, &tv)
	return &wireConn{fd: nfd, maxMsg: maxMsg}, nil
}

// acquire registers a call using fd; false means the connection is closed.
func (c *wireConn) acquire() bool {
	for {
		s := c.state.Load()
		if s&1 != 0 {
			return false
		}
		if c.state.CompareAndSwap(s, s+2) {
			return true
		}
	}
}

// release ends a call registered by acquire, closing fd if it was the last
// of a closed connection.
func (c *wireConn) release() {
	if c.state.Add(-2) == 1 {
		unix.Close(c.fd)
	}
}

// closed reports whether close was called.
func (c *wireConn) closed() bool { return c.state.Load()&1 != 0 }

// close shuts the connection down; calls in progress return at once. It
// is idempotent.
func (c *wireConn) close() {
	if !c.acquire() {
		return
	}
	if c.state.Or(1)&1 == 0 {
		unix.Shutdown(c.fd, unix.SHUT_RDWR)
	}
	c.release()
}

// setDeadline sets the deadline of receives and sends (zero: none). A
// deadline in the past also ends a wait in progress.
func (c *wireConn) setDeadline(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
		return
	}
	c.deadline.Store(t.UnixNano())
}

// fileno returns the descriptor (for getsockopt), or -1 once closed.
func (c *wireConn) fileno() int {
	if c.closed() {
		return -1
	}
	return c.fd
}

// buffered reports whether received bytes wait in the read-ahead buffer
// (the start of another message).
func (c *wireConn) buffered() bool { return c.rend > c.rpos }

// recv returns the next message's payload (a new slice).
func (c *wireConn) recv() ([]byte, error) {
	if !c.acquire() {
		return nil, fmt.Errorf("manager: recv: %w", net.ErrClosed)
	}
	defer c.release()
	if err := c.fill(4); err != nil {
		return nil, err
	}
	n := int64(int32(binary.BigEndian.Uint32(c.rbuf[c.rpos:])))
	hdr := 4
	if n == -1 {
		if err := c.fill(12); err != nil {
			return nil, err
		}
		u := binary.BigEndian.Uint64(c.rbuf[c.rpos+4:])
		if u > uint64(c.maxMsg) {
			return nil, fmt.Errorf("manager: recv: %w: %d bytes (the limit is %d)", errMessageTooLarge, u, c.maxMsg)
		}
		n, hdr = int64(u), 12
	} else if n < 0 {
		return nil, fmt.Errorf("manager: recv: %w: negative frame length %d", ErrProtocol, n)
	}
	if n > c.maxMsg {
		return nil, fmt.Errorf("manager: recv: %w: %d bytes (the limit is %d)", errMessageTooLarge, n, c.maxMsg)
	}
	c.rpos += hdr
	out := make([]byte, n)
	k := copy(out, c.rbuf[c.rpos:c.rend])
	c.rpos += k
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
	}
	for k < len(out) {
		// The rest of a message larger than what was buffered: straight
		// into the result.
		m, err := c.read(out[k:])
		if err != nil {
			return nil, c.eof(err, "payload", k, len(out))
		}
		k += m
	}
	return out, nil
}

// fill makes the buffer hold at least need bytes.
func (c *wireConn) fill(need int) error {
	if c.rbuf == nil {
		c.rbuf = make([]byte, wireReadBuffer)
	}
	if c.rend-c.rpos >= need {
		return nil
	}
	if c.rpos > 0 {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	for c.rend < need {
		m, err := c.read(c.rbuf[c.rend:])
		if err != nil {
			return c.eof(err, "header", c.rend, need)
		}
		c.rend += m
	}
	return nil
}

// eof turns the end of the stream inside a message into
// io.ErrUnexpectedEOF (io.EOF only between messages).
func (c *wireConn) eof(err error, part string, got, want int) error {
	if err == io.EOF && (got > 0 || part == "payload") {
		return fmt.Errorf("manager: recv: %w: %s cut at %d of %d bytes", io.ErrUnexpectedEOF, part, got, want)
	}
	return err
}

// read reads at least one byte into p: io.EOF at the end of the stream.
func (c *wireConn) read(p []byte) (int, error) {
	for {
		if c.closed() {
			return 0, fmt.Errorf("manager: recv: %w", net.ErrClosed)
		}
		dl := c.deadline.Load()
		direct := true
		if dl != 0 {
			left := time.Until(time.Unix(0, dl))
			if left <= 0 {
				return 0, fmt.Errorf("manager: recv: %w", os.ErrDeadlineExceeded)
			}
			direct = left > directWait
		}
		if direct {
			n := directReaders.Add(1)
			if n > maxDirectReaders {
				directReaders.Add(-1)
				direct = false
			} else if at := procsGrowAt.Load(); at > 0 && n >= at {
				if g := procsGrower.Load(); g != nil {
					g.grow(int(n))
				}
			}
		}
		if !direct {
			return c.pollRead(p, dl)
		}
		// A goroutine that only ever blocks in system calls never passes
		// through the scheduler, so after forcePreemptNS (10 ms) the
		// runtime's sysmon takes it for one running too long: it preempts
		// it (a signal that interrupts the read), retakes its P, and polls
		// every 20 µs again for the next millisecond or more, which on the
		// development VM cost a context switch per call. Yielding now and
		// then keeps sysmon asleep.
		if now := time.Now().UnixNano(); now-c.lastYield > int64(yieldEvery) {
			c.lastYield = now
			runtime.Gosched()
		}
		n, err := unix.Read(c.fd, p)
		directReaders.Add(-1)
		switch {
		case err == nil && n > 0:
			return n, nil
		case err == nil:
			if c.closed() {
				return 0, fmt.Errorf("manager: recv: %w", net.ErrClosed)
			}
			return 0, io.EOF
		case err == unix.EINTR:
			continue
		case err == unix.EAGAIN:
			// directWait passed without a message: wait in the
			// netpoller (this connection is idle).
			if c.closed() {
				return 0, fmt.Errorf("manager: recv: %w", net.ErrClosed)
			}
			return c.pollRead(p, c.deadline.Load())
		default:
			if c.closed() {
				return 0, fmt.Errorf("manager: recv: %w", net.ErrClosed)
			}
			return 0, fmt.Errorf("manager: recv: %w", err)
		}
	}
}

// pollRead reads into p, waiting in the runtime's netpoller until the
// descriptor is readable or the deadline dl (Unix ns, 0: none) passes. The
// descriptor is made non-blocking and a duplicate registered with the
// netpoller for this wait only.
func (c *wireConn) pollRead(p []byte, dl int64) (int, error) {
	if err := unix.SetNonblock(c.fd, true); err != nil {
		return 0, fmt.Errorf("manager: recv: %w", err)
	}
	defer unix.SetNonblock(c.fd, false)
	dfd, err := unix.FcntlInt(uintptr(c.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("manager: recv: %w", err)
	}
	f := os.NewFile(uintptr(dfd), "manager") // non-blocking: registered with the netpoller
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, fmt.Errorf("manager: recv: %w", err)
	}
	if dl != 0 {
		f.SetReadDeadline(time.Unix(0, dl))
	}
	// close shuts the socket down, which makes it readable and ends the
	// wait.
	var n int
	var rerr error
	err = rc.Read(func(fd uintptr) bool {
		n, rerr = unix.Read(int(fd), p)
		return rerr != unix.EAGAIN
	})
	if errors.Is(err, os.ErrDeadlineExceeded) && c.closed() {
		return 0, fmt.Errorf("manager: recv: %w", net.ErrClosed)
	}
	switch {
	case err != nil:
		return 0, fmt.Errorf("manager: recv: %w", err)
	case rerr != nil:
		if c.closed() {
			return 0, fmt.Errorf("manager: recv: %w", net.ErrClosed)
		}
		return 0, fmt.Errorf("manager: recv: %w", rerr)
	case n == 0:
		if c.closed() {
			return 0, fmt.Errorf("manager: recv: %w", net.ErrClosed)
		}
		return 0, io.EOF
	}
	return n, nil
}

// add holds one message for the next flush (writing what is held first
// if it grew large).
func (c *wireConn) add(p []byte) error {
	if len(p) > maxHeldWrite {
		// Large: write what is held, then header and payload without
		// copying the payload.
		if err := c.flush(); err != nil {
			return err
		}
		hdr := appendHeader(nil, len(p))
		return c.write(hdr, p)
	}
	c.wbuf = appendHeader(c.wbuf, len(p))
	c.wbuf = append(c.wbuf, p...)
	if len(c.wbuf) >= maxHeldWrite {
		return c.flush()
	}
	return nil
}

// send writes one message (after any held ones) at once.
func (c *wireConn) send(p []byte) error {
	if err := c.add(p); err != nil {
		return err
	}
	return c.flush()
}

// pending reports whether messages are held.
func (c *wireConn) pending() bool { return len(c.wbuf) > 0 }

// flush writes the held messages.
func (c *wireConn) flush() error {
	if len(c.wbuf) == 0 {
		return nil
	}
	err := c.write(c.wbuf, nil)
	c.wbuf = c.wbuf[:0]
	if cap(c.wbuf) > 4*maxHeldWrite {
		c.wbuf = nil
	}
	return err
}

// write writes a then b, whole.
func (c *wireConn) write(a, b []byte) error {
	if !c.acquire() {
		return fmt.Errorf("manager: send: %w", net.ErrClosed)
	}
	defer c.release()
	iov := [][]byte{a, b}
	if len(b) == 0 {
		iov = iov[:1]
	}
	for len(iov) > 0 {
		if c.closed() {
			return fmt.Errorf("manager: send: %w", net.ErrClosed)
		}
		var n int
		var err error
		if len(iov) == 1 {
			n, err = unix.Write(c.fd, iov[0])
		} else {
			n, err = unix.Writev(c.fd, iov)
		}
		switch err {
		case nil:
			iov = advanceIov(iov, n)
			continue
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			// The socket buffer is full (SO_SNDTIMEO passed, or the
			// descriptor is non-blocking for a pollRead): wait until it
			// drains, a slice at a time.
			if err := c.waitWritable(); err != nil {
				return err
			}
			continue
		}
		if c.closed() {
			return fmt.Errorf("manager: send: %w", net.ErrClosed)
		}
		return fmt.Errorf("manager: send: %w", err)
	}
	return nil
}

// waitWritable waits up to directWait for the socket to be writable,
// failing once the deadline has passed.
func (c *wireConn) waitWritable() error {
	wait := directWait
	if dl := c.deadline.Load(); dl != 0 {
		left := time.Until(time.Unix(0, dl))
		if left <= 0 {
			return fmt.Errorf("manager: send: %w", os.ErrDeadlineExceeded)
		}
		wait = min(wait, left)
	}
	pfd := []unix.PollFd{{Fd: int32(c.fd), Events: unix.POLLOUT}}
	ts := unix.NsecToTimespec(int64(wait))
	_, err := unix.Ppoll(pfd, &ts, nil)
	if err != nil && err != unix.EINTR {
		return fmt.Errorf("manager: send: %w", err)
	}
	return nil
}

// advanceIov drops the first n bytes of v.
func advanceIov(v [][]byte, n int) [][]byte {
	for n > 0 && len(v) > 0 {
		if n < len(v[0]) {
			v[0] = v[0][n:]
			return v
		}
		n -= len(v[0])
		v = v[1:]
	}
	for len(v) > 0 && len(v[0]) == 0 {
		v = v[1:]
	}
	return v
}

// appendHeader appends the frame header for a payload of n bytes.
func appendHeader(b []byte, n int) []byte {
	if uint64(n) > 0x7fffffff {
		b = binary.BigEndian.AppendUint32(b, 0xffffffff)
		return binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return binary.BigEndian.AppendUint32(b, uint32(n))
}
