//go:build linux

package pipe

import "time"

// Test hooks.

// SetDirectWaits sets how many goroutines may wait in ppoll at once (0:
// every wait goes to the netpoller; -1: the default, GOMAXPROCS-1 up to 32)
// and how long one such wait may last. It returns a function that restores
// the previous values.
func SetDirectWaits(n int32, limit time.Duration) (restore func()) {
	on, ol := maxDirectWaiters.Swap(n), directWaitMax.Swap(int64(limit))
	return func() {
		maxDirectWaiters.Store(on)
		directWaitMax.Store(ol)
	}
}

// DirectWaitLimit returns how many goroutines may wait in ppoll now.
func DirectWaitLimit() int { return int(directWaitLimit()) }

// WakeFD returns c's wake-up eventfd, or -1 if it has none (never waited,
// or closed and no longer used).
func WakeFD(c *Conn) int {
	c.wake.mu.Lock()
	defer c.wake.mu.Unlock()
	return c.wake.fd
}

// SendLongForm sends p with the 12-byte long-form header whatever its
// length, through the same code path as large messages.
func SendLongForm(c *Conn, p []byte) error { return c.sendFrame(p, true) }

// Buffered returns how many read-ahead bytes c holds.
func Buffered(c *Conn) int64 { return c.buffered.Load() }

// DirectReceives returns how many receives of c tried to read a header and
// payload with one readv (RecvBytesInto after a large message).
func DirectReceives(c *Conn) int {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	return c.rdirect
}

// WaiterCount returns the number of Poll/Wait waiters registered on c.
func WaiterCount(c *Conn) int {
	c.waitMu.Lock()
	defer c.waitMu.Unlock()
	return len(c.waiters)
}

// PipeSendBuffer is the SO_SNDBUF Pipe(true) asks for.
const PipeSendBuffer = pipeSendBuffer
