//go:build linux

package pipe

import (
	"errors"
	"fmt"
	"net"
)

// Errors returned by this package, each testable with errors.Is. Returned
// errors usually wrap one of them with the operation that failed. Besides
// these, a receive on a connection whose peer has closed returns io.EOF at a
// message boundary and an error matching io.ErrUnexpectedEOF inside a
// message, and an expired deadline returns an error matching
// os.ErrDeadlineExceeded.
var (
	// ErrClosed: the connection or listener was closed by this process. It
	// is net.ErrClosed, so code written for net.Conn recognises it.
	ErrClosed = net.ErrClosed

	// ErrAuthentication: the authkey handshake failed (Python's
	// AuthenticationError). The peer used another key, sent a malformed,
	// oversize or unexpected handshake message, named a digest that is not
	// allowed, or hung up during the handshake. The cause is wrapped too.
	ErrAuthentication = errors.New("pipe: authentication failed")

	// ErrMessageTooLarge: the incoming message is longer than the maximum
	// the receive allows (Python's OSError "bad message length"). As in
	// Python the message is not consumed and the connection can no longer
	// receive: a duplex connection becomes write-only, a read-only one is
	// closed.
	ErrMessageTooLarge = errors.New("pipe: message longer than the maximum length")

	// ErrBadLength: a frame header holds a negative length other than the
	// long-form marker -1. The stream is corrupt; the connection can no
	// longer receive.
	ErrBadLength = errors.New("pipe: invalid message length in frame header")

	// ErrBufferTooShort matches a *BufferTooShortError with errors.Is.
	ErrBufferTooShort = errors.New("pipe: buffer too short for message")

	// ErrNotReadable: a receive or poll on a write-only connection (the
	// second end of a one-way Pipe, or a connection that refused an oversize
	// message). Python: OSError "connection is write-only".
	ErrNotReadable = errors.New("pipe: connection is write-only")

	// ErrNotWritable: a send on a read-only connection (the first end of a
	// one-way Pipe). Python: OSError "connection is read-only".
	ErrNotWritable = errors.New("pipe: connection is read-only")

	// ErrRange: a negative length, offset or size, or an offset and size
	// outside the buffer (Python's ValueError in send_bytes/recv_bytes).
	ErrRange = errors.New("pipe: offset, size or length out of range")

	// ErrBuffered: File was called on a connection holding received data
	// that it has read ahead but not yet returned; a new owner of the
	// descriptor would never see that data.
	ErrBuffered = errors.New("pipe: connection holds unread buffered data")

	// ErrNotStream: FromFile was given something other than a pipe, a FIFO
	// or a stream socket.
	ErrNotStream = errors.New("pipe: file is not a pipe or stream socket")

	// ErrConfig: a Config field is out of range (see Config.Verify).
	ErrConfig = errors.New("pipe: invalid config")
)

// BufferTooShortError is returned by RecvBytesInto when the message does not
// fit in the buffer. Like Python's BufferTooShort it carries the whole
// message, which has been consumed: the connection stays usable.
type BufferTooShortError struct {
	Message []byte // the complete message
	BufLen  int    // length of the buffer that was too short
}

// Error says how long the message and the buffer were.
func (e *BufferTooShortError) Error() string {
	return fmt.Sprintf("pipe: buffer too short: message of %d bytes, buffer of %d", len(e.Message), e.BufLen)
}

// Is makes errors.Is(err, ErrBufferTooShort) true.
func (e *BufferTooShortError) Is(target error) bool { return target == ErrBufferTooShort }

// authError wraps cause with ErrAuthentication and a description.
func authError(what string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w: %s", ErrAuthentication, what)
	}
	return fmt.Errorf("%w: %s: %w", ErrAuthentication, what, cause)
}
