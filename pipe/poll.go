//go:build linux

package pipe

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Poll and Wait: is there something to receive?
//
// A connection is ready when its read-ahead buffer holds bytes or its
// descriptor is readable, which includes end of file and errors, as for
// Python's wait, or when its receive side has failed for good: in every case
// a receive returns at once.
//
// Checking is one poll(2) with a zero timeout per connection. Poll first
// waits in ppoll, as receives do (wait.go); a longer wait, and Wait, go
// through the runtime's netpoller, where they park a goroutine rather than
// hold an OS thread, and Close can interrupt them. A waiter
// watches a duplicate of the connection's descriptor (its own *os.File,
// registered with the netpoller): its read deadline carries the timeout and
// the cancellation without touching the connection's own deadlines, and it
// does not contend with a receive in progress on the connection itself.

// Poll reports whether a message (or end of file) can be received without
// blocking, waiting up to timeout for one (Python's poll). A timeout of 0
// only checks; a negative timeout waits without limit. The connection's read
// deadline does not apply. Close interrupts a waiting Poll, which then
// returns an error matching ErrClosed.
func (c *Conn) Poll(timeout time.Duration) (bool, error) {
	if err := c.checkPoll(); err != nil {
		return false, err
	}
	deadline := deadlineAfter(timeout)
	if timeout != 0 && c.buffered.Load() == 0 && !c.rbroken.Load() {
		// Check and wait in ppoll first (wait.go).
		switch res, err := c.pollDirect(unixNano(deadline)); {
		case err != nil:
			return false, err
		case res >= waitReadyNow:
			return true, nil
		case res == waitIdle && c.closed.Load():
			return false, fmt.Errorf("pipe: poll: %w", ErrClosed)
		case res == waitIdle && timeout > 0 && !time.Now().Before(deadline):
			return false, nil
		}
	}
	if ready, err := c.readyNow(); ready || err != nil || timeout == 0 {
		return ready, err
	}
	w, err := c.newWaiter(0)
	if err != nil {
		return false, c.ioError("poll", err)
	}
	defer c.dropWaiter(w)
	ready, err := w.wait(deadline)
	if err != nil {
		return false, err
	}
	if c.closed.Load() {
		return false, fmt.Errorf("pipe: poll: %w", ErrClosed)
	}
	return ready, nil
}

// Wait returns the connections in conns that are ready to receive (see
// Poll), in the order given, waiting up to timeout for at least one: it is
// Python's multiprocessing.connection.wait. A timeout of 0 only checks; a
// negative timeout waits without limit. It returns an empty slice when the
// timeout passes. A connection closed while Wait runs is returned as ready
// (receiving from it reports ErrClosed). Every connection must be open and
// able to receive, else Wait fails with ErrClosed or ErrNotReadable.
func Wait(conns []*Conn, timeout time.Duration) ([]*Conn, error) {
	for _, c := range conns {
		if err := c.checkPoll(); err != nil {
			return nil, err
		}
	}
	ready, err := sweep(conns)
	if len(ready) > 0 || err != nil || timeout == 0 {
		return ready, err
	}
	if len(conns) == 0 {
		if timeout < 0 {
			return nil, fmt.Errorf("%w: Wait without connections or timeout would never return", ErrRange)
		}
		time.Sleep(timeout)
		return nil, nil
	}

	waiters := make([]*waiter, 0, len(conns))
	defer func() {
		for i, w := range waiters {
			conns[i].dropWaiter(w)
		}
	}()
	for _, c := range conns {
		w, err := c.newWaiter(0)
		if err != nil {
			if errors.Is(err, ErrClosed) {
				return []*Conn{c}, nil
			}
			return nil, c.ioError("poll", err)
		}
		waiters = append(waiters, w)
	}

	deadline := deadlineAfter(timeout)
	done := make(chan error, len(waiters))
	for _, w := range waiters {
		go func() {
			_, err := w.wait(deadline)
			done <- err
		}()
	}
	// The first waiter to return (ready, timed out or failed) ends the
	// wait for all; then sweep decides who is ready.
	first := <-done
	for _, w := range waiters {
		w.cancel()
	}
	for range len(waiters) - 1 {
		<-done
	}
	if first != nil && !errors.Is(first, ErrClosed) {
		return nil, first
	}
	return sweep(conns)
}

// checkPoll rejects closed and write-only connections.
func (c *Conn) checkPoll() error {
	if c == nil {
		return fmt.Errorf("pipe: poll: nil *Conn: %w", os.ErrInvalid)
	}
	if c.closed.Load() {
		return fmt.Errorf("pipe: poll: %w", ErrClosed)
	}
	if !c.readable.Load() {
		return ErrNotReadable
	}
	return nil
}

// sweep returns the ready connections of conns, closed ones included.
func sweep(conns []*Conn) ([]*Conn, error) {
	var ready []*Conn
	for _, c := range conns {
		r, err := c.readyNow()
		if errors.Is(err, ErrClosed) {
			r, err = true, nil
		}
		if err != nil {
			return nil, err
		}
		if r {
			ready = append(ready, c)
		}
	}
	return ready, nil
}

// readyNow reports whether c has buffered data or a readable descriptor, or
// has failed for good (a receive returns the error at once).
func (c *Conn) readyNow() (bool, error) {
	if c.closed.Load() {
		// Closed, maybe while its descriptor is still open.
		return false, fmt.Errorf("pipe: poll: %w", ErrClosed)
	}
	if c.buffered.Load() > 0 || c.rbroken.Load() {
		return true, nil
	}
	ready, perr := false, error(nil)
	if err := c.rc.Control(func(fd uintptr) { ready, perr = pollReady(fd, unix.POLLIN) }); err != nil {
		return false, c.ioError("poll", err)
	}
	if perr != nil {
		return false, fmt.Errorf("pipe: poll: %w", perr)
	}
	return ready, nil
}

// pollDirect waits in ppoll for c's descriptor to be readable, until the
// deadline (UnixNano, 0 for none) or for directWaitMax at most.
func (c *Conn) pollDirect(deadline int64) (waitResult, error) {
	var pfd [2]unix.PollFd
	var dl atomic.Int64
	dl.Store(deadline)
	res := waitSkipped
	if err := c.rc.Control(func(fd uintptr) { res = c.waitDirect(fd, unix.POLLIN, &dl, &pfd) }); err != nil {
		return waitSkipped, c.ioError("poll", err)
	}
	return res, nil
}

// pollReady is one poll(2) for events with a zero timeout. Hang-up and
// error conditions count as ready: a receive or send returns at once.
func pollReady(fd uintptr, events int16) (bool, error) {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: events}}
	for {
		n, err := unix.Poll(pfd, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return false, err
		}
		return n > 0, nil
	}
}

// deadlineAfter turns a timeout (negative: none) into a deadline (zero:
// none).
func deadlineAfter(timeout time.Duration) time.Time {
	if timeout < 0 {
		return time.Time{}
	}
	return time.Now().Add(timeout)
}

// aLongTimeAgo is a deadline in the past, which wakes a waiter at once.
var aLongTimeAgo = time.Unix(1, 0)

// A waiter waits in the netpoller for a connection to become readable (for
// Poll and Wait, or a receive) or writable (a send), on its own duplicate
// of the connection's descriptor, registered with the netpoller while the
// waiter lives: the connection's own descriptor is not in the netpoller
// (see Conn). Poll and Wait make one per call; receives and sends keep
// theirs between waits (waitNetpoll). A receive's or send's waiter is woken
// when the connection's deadline changes (and is then replaced by one that
// applies the new deadline); every waiter is woken for good by Close.
type waiter struct {
	f   *os.File
	rc  syscall.RawConn
	dir int // 0 (Poll, Wait), waitRecv or waitSend

	mu        sync.Mutex // orders wait's deadline before cancel's
	cancelled bool
}

// newWaiter duplicates c's descriptor and registers the waiter with c, so
// that Close (and, for dir waitRecv or waitSend, a deadline change) cancels
// it.
func (c *Conn) newWaiter(dir int) (*waiter, error) {
	fd, err := dupOf(c.rc)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "mproc-wait") // nonblocking: netpoller-registered
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	w := &waiter{f: f, rc: rc, dir: dir}
	c.waitMu.Lock()
	if c.closed.Load() {
		c.waitMu.Unlock()
		f.Close()
		return nil, ErrClosed
	}
	if c.waiters == nil {
		c.waiters = make(map[*waiter]struct{})
	}
	c.waiters[w] = struct{}{}
	c.waitMu.Unlock()
	return w, nil
}

// dropWaiter unregisters and closes w.
func (c *Conn) dropWaiter(w *waiter) {
	c.waitMu.Lock()
	delete(c.waiters, w)
	c.waitMu.Unlock()
	w.f.Close()
}

// cancelWaiters wakes every waiter of c and closes the descriptors of the
// receive and send waiters, which a connection keeps between waits (Close
// calls it). A waiter's descriptor closed while it waits makes the wait
// fail (the caller sees c closed and returns ErrClosed), and dropWaiter
// closing it again does no harm.
func (c *Conn) cancelWaiters() {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	for w := range c.waiters {
		w.cancel()
		if w.dir != 0 {
			w.f.Close()
			delete(c.waiters, w)
		}
	}
}

// kickWaiters wakes the waiters of c whose direction is in dirs (-1: all).
func (c *Conn) kickWaiters(dirs int) {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	for w := range c.waiters {
		if dirs == -1 || w.dir&dirs != 0 {
			w.cancel()
		}
	}
}

// wait blocks until the descriptor is readable (true), the deadline passes
// or the waiter is cancelled (false).
func (w *waiter) wait(deadline time.Time) (bool, error) {
	ready, err := w.waitFor(unix.POLLIN, func() time.Time { return deadline })
	if err != nil {
		return false, fmt.Errorf("pipe: poll: %w", err)
	}
	return ready, nil
}

// waitFor blocks until the descriptor reports events (true), the deadline
// that deadline returns passes or the waiter is cancelled (false). The
// deadline is read once the waiter is registered, so a deadline changed
// before that is seen and one changed after it cancels the wait.
func (w *waiter) waitFor(events int16, deadline func() time.Time) (bool, error) {
	w.mu.Lock()
	if w.cancelled {
		w.mu.Unlock()
		return false, nil
	}
	err := w.f.SetDeadline(deadline())
	w.mu.Unlock()
	if err != nil {
		return false, err
	}
	var perr error
	check := func(fd uintptr) bool {
		var ready bool
		ready, perr = pollReady(fd, events)
		return ready || perr != nil
	}
	if events == unix.POLLOUT {
		err = w.rc.Write(check)
	} else {
		err = w.rc.Read(check)
	}
	switch {
	case err == nil && perr == nil:
		return true, nil
	case err == nil:
		return false, perr
	case errors.Is(err, os.ErrDeadlineExceeded):
		return false, nil
	}
	return false, err
}

// isCancelled reports whether cancel has been called.
func (w *waiter) isCancelled() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.cancelled
}

// cancel makes a pending or future wait return false at once.
func (w *waiter) cancel() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.cancelled = true
	w.f.SetDeadline(aLongTimeAgo)
}
