//go:build linux

package pipe

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A Conn runs on a nonblocking descriptor held by an *os.File that the
// runtime's netpoller does not watch (made while the descriptor was still
// blocking, see unpolledFile): a descriptor in the netpoller wakes its
// polling thread at every edge (each batch of bytes arriving, each time
// room opens in the kernel buffer) whether or not a goroutine waits on it,
// and on a 2-core machine those wake-ups cost a streaming connection a
// fifth of its throughput. The *os.File still counts the calls in progress,
// so Close never lets the descriptor number be reused under one. A call
// that has to wait waits in ppoll for up to 20 ms, holding its thread as a
// blocking read would, and only then parks in the netpoller on a duplicate
// descriptor registered for that wait (wait.go). Deadlines and Close are
// this package's own: they wake those waits.

// A Conn is one end of a connection carrying Python multiprocessing
// messages: Python's multiprocessing.connection.Connection. See PROTOCOL.md
// for the framing.
//
// A Conn is safe for concurrent use: sends are serialized with each other
// and receives with each other, so each message is written and read whole.
// Close may be called at any time and unblocks pending sends, receives,
// Poll and Wait calls, which then return an error matching ErrClosed.
//
// Deadlines work as for net.Conn: after a deadline passes, sends or
// receives fail with an error matching os.ErrDeadlineExceeded until the
// deadline is extended. A receive that times out before any byte of the
// next message has arrived leaves the connection usable. A receive (or
// send) that times out in the middle of a message leaves the stream out of
// step, so every later receive (or send) returns that same error, as
// crypto/tls does.
type Conn struct {
	t        *os.File // not in the netpoller
	rc       syscall.RawConn
	fd       int // descriptor of t, fixed for the life of t
	cfg      *Config
	writable bool
	readable atomic.Bool // cleared by a message that was too long
	closed   atomic.Bool
	local    net.Addr
	remote   net.Addr

	// Receive side, guarded by rmu. The read-ahead buffer holds bytes
	// received but not yet returned: rbuf[rpos:rend]. buffered mirrors
	// rend-rpos for Poll and Wait, which do not take rmu.
	rmu        sync.Mutex
	rbuf       []byte
	rpos       int
	rend       int
	rerr       error       // sticky error after a receive failed mid-message
	rbroken    atomic.Bool // rerr != nil, for Poll and Wait
	buffered   atomic.Int64
	rlarge     bool               // the last payload was larger than the read-ahead size
	rlast      int                // length of the last payload
	rsize      int                // len(rbuf) as configured; stash may lengthen it
	rdirect    int                // recvDirect calls, for tests
	rdrained   bool               // the last read emptied the kernel's queue (short, or EAGAIN)
	rpollFirst bool               // wait in ppoll before the first read of this call
	rroom      int                // bytes riov can still take
	riov       [][]byte           // what readFn reads into
	rmin       int                // bytes readFn must get before returning
	rn         int                // bytes readFn got
	rerrno     error              // error of readFn
	readFn     func(uintptr) bool // c.doRead, bound once to avoid allocating
	rwaiter    *waiter            // kept between netpoller waits (waitNetpoll)

	// Send side, guarded by wmu.
	wmu     sync.Mutex
	whdr    [longHeaderLen]byte
	wiov    [][]byte
	wn      int
	werrno  error
	werr    error // sticky error after a send failed mid-message
	writeFn func(uintptr) bool
	wwaiter *waiter // kept between netpoller waits (waitNetpoll)

	// Poll and Wait calls in progress, cancelled by Close.
	waitMu  sync.Mutex
	waiters map[*waiter]struct{}

	// Waits in ppoll (wait.go): the wake-up eventfd, the deadlines as
	// UnixNano (0: none), and ppoll scratch space per direction.
	wake wakeFD
	rdl  atomic.Int64
	wdl  atomic.Int64
	rpfd [2]unix.PollFd // guarded by rmu
	wpfd [2]unix.PollFd // guarded by wmu
}

// newConn wraps t, which the netpoller must not watch (unpolledFile). On
// error t is closed.
func newConn(t *os.File, readable, writable bool, cfg *Config) (*Conn, error) {
	rc, err := t.SyscallConn()
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	c := &Conn{t: t, rc: rc, fd: -1, cfg: cfg, writable: writable}
	c.wake.fd = -1
	if err := rc.Control(func(fd uintptr) { c.fd = int(fd) }); err != nil {
		t.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	c.readable.Store(readable)
	c.readFn = c.doRead
	c.writeFn = c.doWrite
	c.riov = make([][]byte, 0, 3)
	c.wiov = make([][]byte, 0, 2)
	return c, nil
}

// newNetConn wraps a connection from Dial or Accept: it takes a duplicate
// of the descriptor and closes nc, which takes the descriptor out of the
// netpoller (Go deletes it from epoll before closing it; the socket lives
// on in the duplicate).
func newNetConn(nc net.Conn, cfg *Config) (*Conn, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("pipe: %T has no file descriptor", nc)
	}
	local, remote := nc.LocalAddr(), nc.RemoteAddr()
	rc, err := sc.SyscallConn()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("pipe: %w", err)
	}
	fd, err := dupOf(rc)
	nc.Close()
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	c, err := newFileConn(fd, "mproc-conn", true, true, cfg)
	if err != nil {
		return nil, err
	}
	c.local, c.remote = local, remote
	return c, nil
}

// newFileConn wraps a descriptor that this package owns (blocking or not)
// in an *os.File the netpoller does not watch. On error fd is closed.
func newFileConn(fd int, name string, readable, writable bool, cfg *Config) (*Conn, error) {
	f, err := unpolledFile(fd, name)
	if err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	return newConn(f, readable, writable, cfg)
}

// unpolledFile returns an *os.File for fd that the runtime's netpoller does
// not watch, with fd nonblocking: os.NewFile registers a descriptor with
// the netpoller only if it is nonblocking when called, so fd is made
// blocking for that call and nonblocking again after it. (The flag belongs
// to the open file description, which other holders of a duplicate share.)
// On error fd is closed.
func unpolledFile(fd int, name string) (*os.File, error) {
	if err := unix.SetNonblock(fd, false); err != nil {
		unix.Close(fd)
		return nil, err
	}
	f := os.NewFile(uintptr(fd), name)
	if err := unix.SetNonblock(fd, true); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// pipeSendBuffer is the SO_SNDBUF that Pipe(true) asks for on both ends of
// its socketpair; Linux doubles it (for its bookkeeping) and caps the request
// at net.core.wmem_max (212992 by default: 416 KiB then, twice the default
// buffer). A sender of 64 KiB messages that finds the buffer full sleeps
// until the receiver has drained three quarters of it, so a larger buffer
// means fewer sleeps and wake-ups per message on both sides: 64 KiB
// streaming went from 0.83-0.90 to 1.01-1.21 times a raw socketpair with
// the default buffer (docs/ARCHITECTURE.md, pipe/). Kernel memory is only
// used while bytes are queued.
const pipeSendBuffer = 256 << 10

// Pipe returns a pair of connected connections, as Python's Pipe does. With
// duplex, both ends can send and receive (a Unix socketpair). Without, the
// first can only receive and the second can only send (a pipe), as Python
// returns (reader, writer).
func Pipe(duplex bool) (*Conn, *Conn, error) {
	return (*Config)(nil).Pipe(duplex)
}

// Pipe is the package-level Pipe with this configuration.
func (cfg *Config) Pipe(duplex bool) (*Conn, *Conn, error) {
	cfg, err := cfg.orDefault()
	if err != nil {
		return nil, nil, err
	}
	var fds [2]int
	if duplex {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("pipe: socketpair: %w", err)
		}
		fds = p
		for _, fd := range fds {
			// Best effort: a kernel that refuses keeps its default.
			unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, pipeSendBuffer)
		}
	} else if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, fmt.Errorf("pipe: pipe2: %w", err)
	}
	c0, err := newFileConn(fds[0], "mproc-pipe", true, duplex, cfg)
	if err != nil {
		unix.Close(fds[1])
		return nil, nil, err
	}
	c1, err := newFileConn(fds[1], "mproc-pipe", duplex, true, cfg)
	if err != nil {
		c0.Close()
		return nil, nil, err
	}
	return c0, c1, nil
}

// FromFile returns a connection on a duplicate of f's descriptor, which must
// be a pipe, a FIFO or a stream socket, such as a file a child process
// inherited from (*Conn).File through process.Options.Files. As with
// net.FileConn, closing the connection does not close f and closing f does
// not close the connection. The connection can receive unless f was opened
// write-only and send unless it was opened read-only, so the ends of a
// one-way Pipe keep their direction.
//
// The duplicate shares f's open file description, which FromFile puts in
// nonblocking mode (every holder of the description sees that), after a
// moment in blocking mode (see unpolledFile): a read or write by another
// holder of the description (f itself, or a process sharing it) during
// that moment may block in the kernel, past its deadline.
func FromFile(f *os.File) (*Conn, error) {
	return (*Config)(nil).FromFile(f)
}

// FromFile is the package-level FromFile with this configuration.
func (cfg *Config) FromFile(f *os.File) (*Conn, error) {
	cfg, err := cfg.orDefault()
	if err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("pipe: from file: %w", os.ErrInvalid)
	}
	sc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("pipe: from file: %w", err)
	}
	fd, err := dupOf(sc)
	if err != nil {
		return nil, fmt.Errorf("pipe: from file: %w", err)
	}
	readable, writable, err := inspectStream(fd)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("pipe: from file %s: %w", f.Name(), err)
	}
	return newFileConn(fd, f.Name(), readable, writable, cfg)
}

// inspectStream checks that fd is a pipe, FIFO or stream socket and reports
// the directions its access mode allows.
func inspectStream(fd int) (readable, writable bool, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return false, false, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
	case unix.S_IFSOCK:
		typ, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_TYPE)
		if err != nil {
			return false, false, err
		}
		if typ != unix.SOCK_STREAM {
			return false, false, ErrNotStream
		}
	default:
		return false, false, ErrNotStream
	}
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return false, false, err
	}
	switch fl & unix.O_ACCMODE {
	case unix.O_RDONLY:
		return true, false, nil
	case unix.O_WRONLY:
		return false, true, nil
	}
	return true, true, nil
}

// dupOf duplicates the descriptor behind sc (close-on-exec).
func dupOf(sc syscall.RawConn) (int, error) {
	nfd, derr := -1, error(nil)
	if err := sc.Control(func(fd uintptr) {
		nfd, derr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, fmt.Errorf("dup: %w", derr)
	}
	return nfd, nil
}

// File returns a duplicate of the connection's descriptor as an *os.File,
// for handing the connection to a child process (process.Options.Files);
// the child rebuilds it with FromFile. The connection stays open; close it
// when only the child should hold the connection (so that the peer sees EOF
// once the child is gone). Close the returned file once handed over: it is
// an ordinary *os.File, in the netpoller while open.
//
// File fails with ErrBuffered if this connection has read ahead data that it
// has not yet returned: the new holder of the descriptor would never see it.
// Set Config.ReadBufferSize to 0 on connections whose descriptor is shared
// while in use.
func (c *Conn) File() (*os.File, error) {
	if c.closed.Load() {
		return nil, fmt.Errorf("pipe: file: %w", ErrClosed)
	}
	if c.buffered.Load() > 0 {
		return nil, fmt.Errorf("pipe: file: %w", ErrBuffered)
	}
	fd, err := dupOf(c.rc)
	if err != nil {
		return nil, c.ioError("file", err)
	}
	return os.NewFile(uintptr(fd), "mproc-conn"), nil
}

// Fileno returns the connection's file descriptor, as Python's fileno does,
// or -1 once the connection is closed. The descriptor belongs to the
// connection: do not close it or change its flags, and use File to hand the
// connection to another process.
func (c *Conn) Fileno() int {
	if c.closed.Load() {
		return -1
	}
	return c.fd
}

// Readable reports whether the connection can receive: false for the second
// end of a one-way Pipe, and after a message was refused as too long.
func (c *Conn) Readable() bool { return c.readable.Load() }

// Writable reports whether the connection can send: false for the first
// end of a one-way Pipe.
func (c *Conn) Writable() bool { return c.writable }

// Closed reports whether Close has been called.
func (c *Conn) Closed() bool { return c.closed.Load() }

// LocalAddr returns the local address of a connection made by Dial or
// Accept, and nil for other connections.
func (c *Conn) LocalAddr() net.Addr { return c.local }

// RemoteAddr returns the peer's address of a connection made by Dial or
// Accept (Python's Listener.last_accepted), and nil for other connections.
func (c *Conn) RemoteAddr() net.Addr { return c.remote }

// Close closes the connection. Pending sends, receives, Poll and Wait calls
// on it return at once. Closing an already closed connection returns an
// error matching ErrClosed.
func (c *Conn) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("pipe: close: %w", ErrClosed)
	}
	// End the waits of the calls in progress (in ppoll, in the
	// netpoller), which then see closed and return ErrClosed. t.Close does
	// not wait for them: the descriptor is closed when the last of them
	// has returned.
	c.cancelWaiters()
	c.wake.close()
	if err := c.t.Close(); err != nil {
		return fmt.Errorf("pipe: close: %w", err)
	}
	return nil
}

// SetDeadline sets the read and write deadlines, as net.Conn does. A zero
// time means no deadline.
func (c *Conn) SetDeadline(t time.Time) error {
	if c.closed.Load() {
		return fmt.Errorf("pipe: set deadline: %w", ErrClosed)
	}
	c.rdl.Store(unixNano(t))
	c.wdl.Store(unixNano(t))
	c.deadlineChanged(waitRecv | waitSend)
	return nil
}

// SetReadDeadline sets the deadline of receives (RecvBytes, RecvBytesInto,
// Recv). Poll and Wait have their own timeout and ignore it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return fmt.Errorf("pipe: set deadline: %w", ErrClosed)
	}
	c.rdl.Store(unixNano(t))
	c.deadlineChanged(waitRecv)
	return nil
}

// SetWriteDeadline sets the deadline of sends.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return fmt.Errorf("pipe: set deadline: %w", ErrClosed)
	}
	c.wdl.Store(unixNano(t))
	c.deadlineChanged(waitSend)
	return nil
}

// deadlineChanged wakes the waits of the calls in progress, in ppoll and
// in the netpoller (of sends, receives or both, as dirs says), which then
// apply the new deadline.
func (c *Conn) deadlineChanged(dirs int) {
	c.wake.kick()
	c.kickWaiters(dirs)
}

// unixNano is t as a deadline for waitDirect: 0 for none.
func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	if n := t.UnixNano(); n > 0 {
		return n
	}
	return 1 // long ago
}

// ioError names the operation and turns the poller's "closed" errors into
// ErrClosed.
func (c *Conn) ioError(op string, err error) error {
	if c.closed.Load() || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("pipe: %s: %w", op, ErrClosed)
	}
	return fmt.Errorf("pipe: %s: %w", op, err)
}

// doRead is the RawConn read callback: read or readv into c.riov until at
// least c.rmin bytes have come in (counted in c.rn), end of file or an
// error (c.rerrno). When the kernel has nothing more, it waits (await) and
// reads again. It always returns true: the descriptor is not in the
// netpoller, so RawConn.Read cannot wait for it.
func (c *Conn) doRead(fd uintptr) bool {
	if c.rpollFirst {
		// The last read emptied the kernel's queue: the next one would
		// most likely say EAGAIN (a peer answering requests one at a
		// time, or a receiver keeping up with a stream), so wait first.
		c.rpollFirst = false
		if err := c.await(fd, waitRecv); err != nil {
			c.rerrno = err
			return true
		}
	}
	for {
		var n int
		var err error
		if len(c.riov) == 1 {
			n, err = unix.Read(int(fd), c.riov[0])
		} else {
			n, err = unix.Readv(int(fd), c.riov)
		}
		switch err {
		case nil:
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			c.rdrained = true
			if err := c.await(fd, waitRecv); err != nil {
				c.rerrno = err
				return true
			}
			continue
		default:
			c.rerrno = err
			return true
		}
		if n == 0 {
			return true // end of file
		}
		// A read that did not fill its vectors took all the kernel had.
		c.rdrained = n < c.rroom
		c.rroom -= n
		c.rn += n
		if c.rn >= c.rmin {
			return true
		}
		c.riov = advance(c.riov, n)
		// A short read: the kernel has nothing more for now.
		if err := c.await(fd, waitRecv); err != nil {
			c.rerrno = err
			return true
		}
	}
}

// advance drops the first n bytes from the vectors v.
func advance(v [][]byte, n int) [][]byte {
	for n > 0 {
		if n < len(v[0]) {
			v[0] = v[0][n:]
			break
		}
		n -= len(v[0])
		v[0] = nil
		v = v[1:]
	}
	return v
}

// read reads into a, then b, then d (b and d may be empty), until at least
// min bytes have come in or the stream ends, and returns the byte count; 0
// with a nil error is end of file. Bytes that arrived before an error are
// returned first; the error comes back on the next call.
func (c *Conn) read(a, b, d []byte, min int) (int, error) {
	c.riov = append(c.riov[:0:cap(c.riov)], a)
	if len(b) > 0 {
		c.riov = append(c.riov, b)
	}
	if len(d) > 0 {
		c.riov = append(c.riov, d)
	}
	base := c.riov
	c.rn, c.rmin, c.rerrno = 0, min, nil
	c.rroom = len(a) + len(b) + len(d)
	c.rpollFirst = c.rdrained
	var err error
	if deadlinePassed(&c.rdl) {
		err = os.ErrDeadlineExceeded // as net.Conn: even if bytes are there
	} else {
		err = c.rc.Read(c.readFn)
	}
	for i := range base {
		base[i] = nil // do not keep the caller's buffer alive
	}
	c.riov = base[:0]
	if c.rn > 0 {
		return c.rn, nil
	}
	if err == nil {
		err = c.rerrno
	}
	if err != nil {
		return 0, c.ioError("recv", err)
	}
	return 0, nil
}

// doWrite is the RawConn write callback: writev c.wiov until it is all
// written, recording progress in c.wn, or an error (c.werrno). When the
// kernel buffer is full (a short write, or EAGAIN) it waits (await) and
// writes again. It always returns true, as doRead does.
func (c *Conn) doWrite(fd uintptr) bool {
	for len(c.wiov) > 0 {
		var n int
		var err error
		if len(c.wiov) == 1 {
			n, err = unix.Write(int(fd), c.wiov[0])
		} else {
			n, err = unix.Writev(int(fd), c.wiov)
		}
		switch err {
		case nil:
			c.wn += n
			c.wiov = advance(c.wiov, n)
			if len(c.wiov) == 0 {
				return true
			}
		case unix.EINTR:
			continue
		case unix.EAGAIN:
		default:
			c.werrno = err
			return true
		}
		if err := c.await(fd, waitSend); err != nil {
			c.werrno = err
			return true
		}
	}
	return true
}

// write writes hdr then p (one writev) and returns how many bytes went out.
func (c *Conn) write(hdr, p []byte) (int, error) {
	c.wiov = append(c.wiov[:0:cap(c.wiov)], hdr)
	if len(p) > 0 {
		c.wiov = append(c.wiov, p)
	}
	base := c.wiov
	c.wn, c.werrno = 0, nil
	var err error
	if deadlinePassed(&c.wdl) {
		err = os.ErrDeadlineExceeded
	} else {
		err = c.rc.Write(c.writeFn)
	}
	for i := range base {
		base[i] = nil // do not keep the caller's buffer alive
	}
	c.wiov = base[:0]
	if err == nil {
		err = c.werrno
	}
	if err != nil {
		return c.wn, c.ioError("send", err)
	}
	return c.wn, nil
}
