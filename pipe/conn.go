//go:build linux

package pipe

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// transport is what a Conn runs on: an *os.File (pipes, socketpairs,
// inherited descriptors) or a *net.UnixConn / *net.TCPConn (Dial, Accept).
// All of them are registered with the runtime's netpoller, whose deadlines
// and Close end a blocked call. A call that has to wait first waits in
// ppoll for up to 20 ms, holding its thread as a blocking read would, and
// only then parks in the netpoller (wait.go).
type transport interface {
	syscall.Conn
	io.Closer
	SetDeadline(t time.Time) error
	SetReadDeadline(t time.Time) error
	SetWriteDeadline(t time.Time) error
}

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
	t        transport
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
	rlarge     bool               // the last payload was larger than rbuf
	rwaited    bool               // the last read found nothing (EAGAIN) or slept in ppoll
	rpollFirst bool               // wait in ppoll before the first read of this call
	riov       [][]byte           // what readFn reads into
	rmin       int                // bytes readFn must get before returning
	rn         int                // bytes readFn got
	rerrno     error              // error of readFn
	readFn     func(uintptr) bool // c.doRead, bound once to avoid allocating

	// Send side, guarded by wmu.
	wmu     sync.Mutex
	whdr    [longHeaderLen]byte
	wiov    [][]byte
	wn      int
	werrno  error
	werr    error // sticky error after a send failed mid-message
	writeFn func(uintptr) bool

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

// newConn wraps t. On error t is closed.
func newConn(t transport, readable, writable bool, cfg *Config) (*Conn, error) {
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
	c.riov = make([][]byte, 0, 2)
	c.wiov = make([][]byte, 0, 2)
	if nc, ok := t.(net.Conn); ok {
		c.local, c.remote = nc.LocalAddr(), nc.RemoteAddr()
	}
	return c, nil
}

// newNetConn wraps a connection from Dial or Accept.
func newNetConn(nc net.Conn, cfg *Config) (*Conn, error) {
	t, ok := nc.(transport)
	if !ok {
		nc.Close()
		return nil, fmt.Errorf("pipe: %T has no file descriptor", nc)
	}
	return newConn(t, true, true, cfg)
}

// newFileConn wraps a nonblocking descriptor that this package owns.
func newFileConn(fd int, name string, readable, writable bool, cfg *Config) (*Conn, error) {
	// The descriptor is already nonblocking, so os.NewFile registers it
	// with the netpoller and its Fd method will not make it blocking.
	return newConn(os.NewFile(uintptr(fd), name), readable, writable, cfg)
}

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
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("pipe: socketpair: %w", err)
		}
		fds = p
	} else if err := unix.Pipe2(fds[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
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
// nonblocking mode (every holder of the description sees that).
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
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
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
// once the child is gone).
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
	c.cancelWaiters()
	// Before t.Close, which waits for the I/O callbacks in progress to
	// return: end their ppoll waits.
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
	err := c.t.SetDeadline(t)
	c.rdl.Store(unixNano(t))
	c.wdl.Store(unixNano(t))
	c.wake.kick()
	return c.deadlineError(err)
}

// SetReadDeadline sets the deadline of receives (RecvBytes, RecvBytesInto,
// Recv). Poll and Wait have their own timeout and ignore it.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.closed.Load() {
		return fmt.Errorf("pipe: set deadline: %w", ErrClosed)
	}
	err := c.t.SetReadDeadline(t)
	c.rdl.Store(unixNano(t))
	c.wake.kick()
	return c.deadlineError(err)
}

// SetWriteDeadline sets the deadline of sends.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.closed.Load() {
		return fmt.Errorf("pipe: set deadline: %w", ErrClosed)
	}
	err := c.t.SetWriteDeadline(t)
	c.wdl.Store(unixNano(t))
	c.wake.kick()
	return c.deadlineError(err)
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

func (c *Conn) deadlineError(err error) error {
	if err == nil {
		return nil
	}
	return c.ioError("set deadline", err)
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
// error. When the kernel has nothing more, it waits in ppoll and reads again
// (waitDirect); returning false hands the wait to the netpoller, which calls
// it again once the descriptor is readable (or a deadline passes, or the
// connection is closed).
//
// The netpoller is edge-triggered: it reports only what happens after the
// call began (RawConn.Read resets its state). So doRead hands over only
// after a read said EAGAIN or a ppoll found nothing pending, never right
// after a short read: an end of file that came with the bytes just read
// would raise no new event, and the wait would last forever.
func (c *Conn) doRead(fd uintptr) bool {
	if c.rpollFirst {
		// The last receive had to wait: the peer is probably answering
		// requests one at a time, so wait before reading rather than
		// paying for a read that only says EAGAIN.
		c.rpollFirst = false
		switch c.waitDirect(fd, unix.POLLIN, &c.rdl, &c.rpfd) {
		case waitReadyNow:
			c.rwaited = false // data was there: read first next time
		case waitIdle:
			return false
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
			c.rwaited = true
			if c.waitDirect(fd, unix.POLLIN, &c.rdl, &c.rpfd) >= waitReadyNow {
				continue
			}
			return false
		default:
			c.rerrno = err
			return true
		}
		if n == 0 {
			return true // end of file
		}
		c.rn += n
		if c.rn >= c.rmin {
			return true
		}
		c.riov = advance(c.riov, n)
		// A short read: the kernel has nothing more for now.
		if c.waitDirect(fd, unix.POLLIN, &c.rdl, &c.rpfd) == waitIdle {
			return false
		}
		// Ready, or ppoll could not run: read again.
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

// read reads into a, then b (b may be nil), until at least min bytes have
// come in or the stream ends, and returns the byte count; 0 with a nil error
// is end of file. Bytes that arrived before an error are returned first; the
// error comes back on the next call.
func (c *Conn) read(a, b []byte, min int) (int, error) {
	c.riov = append(c.riov[:0:cap(c.riov)], a)
	if len(b) > 0 {
		c.riov = append(c.riov, b)
	}
	base := c.riov
	c.rn, c.rmin, c.rerrno = 0, min, nil
	c.rpollFirst = c.rwaited
	err := c.rc.Read(c.readFn)
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
// written, recording progress in c.wn. When the kernel buffer is full (a
// short write, or EAGAIN) it waits in ppoll (waitDirect) and writes again;
// returning false hands the wait to the netpoller. Unlike a receive, a send
// may hand over right after a short write: the buffer is full then, and the
// room that opens later raises a netpoller event.
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
		if c.waitDirect(fd, unix.POLLOUT, &c.wdl, &c.wpfd) < waitReadyNow {
			return false
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
	err := c.rc.Write(c.writeFn)
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
