//go:build linux

package pipe

import (
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Waiting for a descriptor: ppoll first, then the netpoller (await).
//
// A receive that finds nothing to read (EAGAIN), or a send that finds the
// kernel buffer full, has to wait. Parking the goroutine in the runtime's
// netpoller is the Go way, and it holds no thread, but each such wait costs
// the scheduler two or three epoll_pwait calls and extra wake-ups on top of
// the failed read (measured in a 64-byte ping-pong between two processes:
// 2.1 epoll_pwait, 0.75 futex and 0.9 nanosleep per receive, and a round
// trip about 1.25 times a plain blocking read's). So a wait first blocks
// its thread in ppoll(2) on the descriptor, as a blocking read(2) would,
// for at most defaultDirectWaitMax; only a longer wait moves to the
// netpoller. At most GOMAXPROCS-1 goroutines of the process (and 32) wait
// in ppoll at once; the others go straight to the netpoller, so an idle
// server with many connections does not hold many threads, and other
// goroutines always have a P.
//
// The connection's own descriptor is never in the netpoller (see Conn): a
// netpoller wait parks on a waiter, a duplicate registered with the
// netpoller (poll.go), kept for the next wait until a wait ends in ppoll
// again. The duplicate is registered before its first readiness check, and
// epoll reports a descriptor that is ready when registered, so no edge is
// lost. I/O callbacks never hand a wait to RawConn (the file is not
// pollable): doRead and doWrite always return true.
//
// Deadlines and Close are this package's: the deadlines live in c.rdl and
// c.wdl, each wait checks them, ppoll's timeout stops at them and a
// waiter's file carries them. ppoll also watches the connection's wake-up
// eventfd (wakeFD). Close and every deadline change write to it, which ends
// every ppoll of the connection at once, and cancel the receive and send
// waiters; the waits then check again. ppoll is level-triggered, so it also
// reports an end of file or data that was already pending when the wait
// began.
//
// A receive whose last read emptied the kernel's queue (EAGAIN, or a read
// that did not fill its buffers) calls ppoll before reading (doRead's
// rpollFirst): a peer answering requests one at a time leaves nothing to
// read yet, nor does a sender that a receiver keeps up with, and a read
// that says EAGAIN is a system call for nothing.

const (
	// defaultDirectWaitMax bounds one wait in ppoll. Long enough that a
	// round trip with a busy peer never leaves ppoll (an early expiry
	// costs more than it saves), short enough that an idle connection soon
	// gives its thread back. Timers this far out are also cheap to arm,
	// where near ones cost measurably on virtual machines (with a 200 µs
	// bound a 64-byte round trip took 1.8 times as long as with 20 ms).
	defaultDirectWaitMax = 20 * time.Millisecond

	// defaultMaxDirectWaiters bounds the threads of the process blocked
	// in ppoll, and so does GOMAXPROCS-1: a goroutine in ppoll holds its P
	// until the runtime's sysmon takes it back (up to 10 ms when the
	// process is idle), so at least one P is always left for the other
	// goroutines, their timers and the netpoller. With GOMAXPROCS=1 every
	// wait goes to the netpoller.
	defaultMaxDirectWaiters = 32

	// sleptThreshold: a ppoll that took longer than this is taken to have
	// slept, i.e. the descriptor was not ready when it was called.
	sleptThreshold = 5 * time.Microsecond
)

var (
	// directWaiters counts the goroutines of the process inside ppoll.
	directWaiters atomic.Int32
	// maxDirectWaiters (-1: the default rule, see directWaitLimit) and
	// directWaitMax; tests change them (0 waiters: every wait goes to the
	// netpoller).
	maxDirectWaiters atomic.Int32
	directWaitMax    atomic.Int64
)

func init() {
	maxDirectWaiters.Store(-1)
	directWaitMax.Store(int64(defaultDirectWaitMax))
}

// directWaitLimit is how many goroutines may wait in ppoll at once.
func directWaitLimit() int32 {
	if n := maxDirectWaiters.Load(); n >= 0 {
		return n
	}
	return int32(min(defaultMaxDirectWaiters, runtime.GOMAXPROCS(0)-1))
}

// A wakeFD is the eventfd that interrupts a connection's ppoll waits. It is
// made on the first wait, so connections that never wait never make one.
//
// State, guarded by mu: fd is -1 until made and after it is closed; users
// counts the waits in ppoll now; kicked says fd has been written and not yet
// drained (its counter is non-zero: every ppoll on it returns at once).
// kick writes only while there are users, and fd is drained only when a wait
// begins with no other user, so a write is never drained before every wait
// it was meant for has seen it. close marks it closed and writes (if in use)
// or closes it; the last user out closes it then.
type wakeFD struct {
	mu     sync.Mutex
	fd     int
	users  int
	kicked bool
	closed bool
	failed bool // the eventfd could not be made: waits use the netpoller
}

// enter registers a wait and returns the eventfd, or -1 when the wait must
// use the netpoller (closed, or no eventfd).
func (w *wakeFD) enter() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.failed {
		return -1
	}
	if w.fd < 0 {
		fd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
		if err != nil {
			w.failed = true
			return -1
		}
		w.fd = fd
	}
	if w.users == 0 && w.kicked {
		var b [8]byte
		unix.Read(w.fd, b[:]) // nonblocking; resets the counter
		w.kicked = false
	}
	w.users++
	return w.fd
}

// leave ends a wait registered by enter.
func (w *wakeFD) leave() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.users--
	if w.closed && w.users == 0 && w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// kick ends every wait in progress (a deadline changed).
func (w *wakeFD) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.kickLocked()
}

func (w *wakeFD) kickLocked() {
	if w.users > 0 && !w.kicked {
		one := [8]byte{1} // little-endian uint64 1
		unix.Write(w.fd, one[:])
		w.kicked = true
	}
}

// close ends every wait in progress and every later one; the eventfd is
// closed once no wait uses it.
func (w *wakeFD) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	if w.users > 0 {
		w.kickLocked()
	} else if w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}

// Directions of a wait (waiter.dir, deadlineChanged).
const (
	waitRecv = 1 << iota
	waitSend
)

// deadlinePassed reports whether the deadline in dl (UnixNano, 0 for none)
// has passed.
func deadlinePassed(dl *atomic.Int64) bool {
	d := dl.Load()
	return d != 0 && time.Now().UnixNano() >= d
}

// await blocks until c's descriptor fd can be read (dir waitRecv) or
// written (waitSend), or has an error or hang-up pending, and fails with
// os.ErrDeadlineExceeded once that direction's deadline has passed or
// ErrClosed once c is closed. It waits in ppoll first (waitDirect), then in
// the netpoller on a duplicate of fd (waitNetpoll). Close and deadline
// changes wake both kinds of wait, which then check again.
func (c *Conn) await(fd uintptr, dir int) error {
	events, dl, pfd, slot := int16(unix.POLLIN), &c.rdl, &c.rpfd, &c.rwaiter
	if dir == waitSend {
		events, dl, pfd, slot = unix.POLLOUT, &c.wdl, &c.wpfd, &c.wwaiter
	}
	for {
		if c.closed.Load() {
			return ErrClosed
		}
		if deadlinePassed(dl) {
			return os.ErrDeadlineExceeded
		}
		if c.waitDirect(fd, events, dl, pfd) >= waitReadyNow {
			if *slot != nil {
				// Waits end in ppoll again: take the descriptor
				// out of the netpoller.
				c.dropWaiter(*slot)
				*slot = nil
			}
			return nil
		}
		if c.closed.Load() {
			return ErrClosed
		}
		if deadlinePassed(dl) {
			return os.ErrDeadlineExceeded
		}
		ready, err := c.waitNetpoll(dir, events, dl, slot)
		if err != nil || ready {
			return err
		}
	}
}

// waitNetpoll waits for events on a waiter (a duplicate of the descriptor
// registered with the netpoller) until the deadline in dl. false: the
// deadline passed, or the wait was cancelled (Close, or a deadline change).
// The waiter is kept in *slot for the next wait of this direction (with
// GOMAXPROCS=1 every wait comes here) until a wait ends in ppoll again; a
// cancelled one is replaced.
func (c *Conn) waitNetpoll(dir int, events int16, dl *atomic.Int64, slot **waiter) (bool, error) {
	if w := *slot; w != nil && w.isCancelled() {
		c.dropWaiter(w)
		*slot = nil
	}
	if *slot == nil {
		w, err := c.newWaiter(dir)
		if err != nil {
			return false, err
		}
		*slot = w
	}
	return (*slot).waitFor(events, func() time.Time {
		if d := dl.Load(); d != 0 {
			return time.Unix(0, d)
		}
		return time.Time{}
	})
}

// The outcome of waitDirect.
type waitResult uint8

const (
	// waitSkipped: ppoll did not run (too many threads in ppoll already,
	// deadline passed, connection closing): nothing is known.
	waitSkipped waitResult = iota
	// waitIdle: the descriptor was not ready when ppoll returned (time
	// limit, deadline, or a kick); anything that happens later raises a
	// netpoller event.
	waitIdle
	// waitReadyNow: the descriptor was ready when ppoll was called.
	waitReadyNow
	// waitReadyLater: the descriptor became ready while ppoll slept.
	waitReadyLater
)

// waitDirect blocks in ppoll until fd reports one of events, or hang-up or
// an error, for at most directWaitMax and until the deadline in dl
// (UnixNano, 0 for none); a kick (Close, a deadline change) ends it early.
// The deadline is read after the wait is registered with c.wake, so a
// deadline set before that is seen and one set after it kicks. pfd is
// scratch space owned by the caller (one per direction, so no allocation).
func (c *Conn) waitDirect(fd uintptr, events int16, dl *atomic.Int64, pfd *[2]unix.PollFd) waitResult {
	if directWaiters.Add(1) > directWaitLimit() {
		directWaiters.Add(-1)
		return waitSkipped
	}
	defer directWaiters.Add(-1)
	wfd := c.wake.enter()
	if wfd < 0 {
		return waitSkipped
	}
	defer c.wake.leave()
	timeout := directWaitMax.Load()
	if deadline := dl.Load(); deadline != 0 {
		left := deadline - time.Now().UnixNano()
		if left <= 0 {
			return waitSkipped
		}
		timeout = min(timeout, left)
	}
	pfd[0] = unix.PollFd{Fd: int32(fd), Events: events}
	pfd[1] = unix.PollFd{Fd: int32(wfd), Events: unix.POLLIN}
	ts := unix.NsecToTimespec(timeout)
	for {
		// The ppoll system call writes the time it did not wait back
		// into ts.
		n, err := unix.Ppoll(pfd[:], &ts, nil)
		switch {
		case err == unix.EINTR:
			continue // a signal: wait for the rest of the timeout
		case err != nil:
			return waitSkipped
		case n == 0 || pfd[0].Revents == 0:
			return waitIdle // timed out, or kicked
		case timeout-ts.Nano() < int64(sleptThreshold):
			return waitReadyNow
		}
		return waitReadyLater
	}
}
