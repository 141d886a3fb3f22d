//go:build linux

package pipe

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Sending and receiving frames (PROTOCOL.md §1).
//
// A frame is sent with one writev of header and payload, whatever its size,
// so the peer never waits on a half-sent small message (CPython writes
// messages up to 16 KiB with one write for the same reason).
//
// Receiving reads through a read-ahead buffer (Config.ReadBufferSize): a
// header and the payloads of small messages usually arrive with the read
// that fetched an earlier message. A payload that is not all buffered yet is
// read straight into its destination with readv, the second vector being the
// read-ahead buffer, which picks up the following header. After a large
// message RecvBytesInto goes further (recvDirect): with nothing buffered it
// reads the next header, the payload (into the caller's buffer) and a little
// read-ahead with one readv, so a stream of large messages costs one read
// per message even when the receiver keeps up with the sender; bytes past
// the message that land in the caller's buffer are moved to the read-ahead
// buffer. With read-ahead disabled every read stops exactly at the end of
// the header or payload it wants, as CPython's do.
//
// Nothing is allocated from a length read off the wire before it has been
// checked against the receive's maximum, and a large message (over
// allocStep) gets its buffer in doubling steps as its bytes actually arrive,
// so a peer announcing a huge message and sending little costs little.

const (
	// allocStep is the largest buffer allocated for a message before any
	// of its payload has arrived.
	allocStep = 1 << 20
	// aheadLarge limits the read-ahead taken together with the payload of a
	// large message: enough for the next header and a small message, little
	// enough that copying it out of the buffer costs nothing.
	aheadLarge = 512
	// exactBufLen is the header area used when read-ahead is off.
	exactBufLen = 16
)

// SendBytes sends b as one message (Python's send_bytes). An empty b sends
// an empty message.
func (c *Conn) SendBytes(b []byte) error {
	return c.sendFrame(b, false)
}

// SendBytesRange sends b[offset:offset+size] as one message (Python's
// send_bytes(buf, offset, size)). A negative offset or size, or a range
// outside b, fails with ErrRange and sends nothing.
func (c *Conn) SendBytesRange(b []byte, offset, size int) error {
	if offset < 0 || size < 0 || offset > len(b) || size > len(b)-offset {
		if err := c.sendable(); err != nil {
			return err // as Python, a closed or read-only connection says so first
		}
		return fmt.Errorf("%w: offset %d, size %d, buffer length %d", ErrRange, offset, size, len(b))
	}
	return c.sendFrame(b[offset:offset+size], false)
}

// sendFrame sends p with the short header, or the long one if p needs it or
// long is set (CPython reads the long form whatever the size).
func (c *Conn) sendFrame(p []byte, long bool) error {
	if err := c.sendable(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.werr != nil {
		return c.werr
	}
	var hdr []byte
	if long || uint64(len(p)) > maxShortLength {
		binary.BigEndian.PutUint32(c.whdr[0:], uint32(0xffffffff)) // int32(-1)
		binary.BigEndian.PutUint64(c.whdr[4:], uint64(len(p)))
		hdr = c.whdr[:longHeaderLen]
	} else {
		binary.BigEndian.PutUint32(c.whdr[0:], uint32(len(p)))
		hdr = c.whdr[:shortHeaderLen]
	}
	n, err := c.write(hdr, p)
	if err != nil && n > 0 {
		// Part of the frame is out: the peer will read the rest of
		// this stream as garbage, so no later send may go out.
		c.werr = fmt.Errorf("%w (after %d of %d bytes of a message; the connection can no longer send)", err, n, len(hdr)+len(p))
		return c.werr
	}
	return err
}

// RecvBytes receives one message (Python's recv_bytes). maxLength > 0
// bounds its length; 0 means the Config's MaxMessageSize; a negative
// maxLength fails with ErrRange. A longer message fails with
// ErrMessageTooLarge: it is not consumed and the connection can no longer
// receive (see ErrMessageTooLarge). At end of stream, RecvBytes returns
// io.EOF if the peer closed between messages and an error matching
// io.ErrUnexpectedEOF if it closed inside one.
func (c *Conn) RecvBytes(maxLength int) ([]byte, error) {
	if maxLength < 0 {
		if err := c.receivable(); err != nil {
			return nil, err // as Python, a closed or write-only connection says so first
		}
		return nil, fmt.Errorf("%w: negative maximum length %d", ErrRange, maxLength)
	}
	limit := c.cfg.MaxMessageSize
	if maxLength > 0 {
		limit = int64(maxLength)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	defer c.publish()
	size, err := c.recvHeader(limit)
	if err != nil {
		return nil, err
	}
	b, err := c.recvAlloc(size)
	if err != nil {
		return nil, c.broken(err)
	}
	return b, nil
}

// RecvBytesInto receives one message into buf and returns its length
// (Python's recv_bytes_into; pass buf[offset:] for an offset). A message
// longer than buf is consumed whole and returned in a *BufferTooShortError
// (matching ErrBufferTooShort); the connection stays usable. A message that
// fits is accepted whatever its length; one that does not fit and is longer
// than the Config's MaxMessageSize fails with ErrMessageTooLarge, as in
// RecvBytes.
//
// Unlike CPython's, RecvBytesInto may use buf past the message (and all of
// it when it fails) as scratch space: after a message longer than the
// read-ahead buffer it reads the next message with one readv whose payload
// vector is buf, up to the length of the last message, so the bytes of
// following messages may land there before they are moved to the read-ahead
// buffer. Their contents past the returned length are unspecified.
func (c *Conn) RecvBytesInto(buf []byte) (int, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	defer c.publish()
	limit := c.cfg.MaxMessageSize
	if int64(len(buf)) > limit {
		limit = int64(len(buf))
	}
	if err := c.recvReady(); err != nil {
		return 0, err
	}
	if c.rlarge && c.rpos == c.rend && len(buf) > c.rsize && c.cfg.ReadBufferSize > 0 {
		if n, done, err := c.recvDirect(buf, limit); done {
			return n, err
		}
	}
	size, err := c.readHeader(limit)
	if err != nil {
		return 0, err
	}
	if size <= int64(len(buf)) {
		if err := c.recvPayload(buf[:size], 0, int(size)); err != nil {
			return 0, c.broken(err)
		}
		return int(size), nil
	}
	msg, err := c.recvAlloc(size)
	if err != nil {
		return 0, c.broken(err)
	}
	return 0, &BufferTooShortError{Message: msg, BufLen: len(buf)}
}

// recvDirect is RecvBytesInto after a large message, with nothing buffered:
// one readv takes the next header into rbuf, the payload straight into buf
// and a little read-ahead into rbuf behind the header, so a stream of large
// messages costs one read per message (the kernel permitting), not a header
// read plus a payload read. The payload vector is as long as the last
// message (at most len(buf)): a message of the same size arrives whole and
// nothing beyond it is read into buf.
//
// With done, the message has been received (or the receive failed) and n,
// err are RecvBytesInto's results. Without, whatever was read is buffered
// in rbuf, header first, and the ordinary path takes it from there: a long
// or invalid header, a message longer than buf or the limit, or a header
// cut short by an error or end of file. Either way buf past the message may
// have been overwritten; bytes read into it that belong to later messages
// are moved into rbuf (stash).
func (c *Conn) recvDirect(buf []byte, limit int64) (n int, done bool, err error) {
	c.rdirect++
	want := min(len(buf), max(c.rlast, 1))
	ahead := c.rbuf[shortHeaderLen:min(len(c.rbuf), shortHeaderLen+aheadLarge)]
	c.rpos, c.rend = 0, 0
	got, err := c.read(c.rbuf[:shortHeaderLen], buf[:want], ahead, shortHeaderLen)
	if err != nil {
		return 0, true, err // nothing was read: the stream is in step
	}
	if got == 0 {
		return 0, true, io.EOF
	}
	if got < shortHeaderLen {
		c.rend = got // part of a header: fill reads the rest
		return 0, false, nil
	}
	inBuf := min(got-shortHeaderLen, want)
	inAhead := got - shortHeaderLen - inBuf // read-ahead bytes at rbuf[shortHeaderLen:]
	l := int32(binary.BigEndian.Uint32(c.rbuf))
	if l < 0 || int64(l) > limit || int(l) > len(buf) {
		c.stash(shortHeaderLen, buf[:inBuf], inAhead)
		return 0, false, nil
	}
	size := int(l)
	if inBuf > size {
		// The message is whole, and later ones began: buffer those.
		c.stash(0, buf[size:inBuf], inAhead)
	} else {
		// The read-ahead bytes follow buf[:inBuf] in the stream; if buf's
		// vector was filled, the first of them may still be payload.
		k := 0
		if inBuf == want {
			k = min(inAhead, size-inBuf)
			copy(buf[inBuf:], c.rbuf[shortHeaderLen:shortHeaderLen+k])
		}
		c.rpos, c.rend = shortHeaderLen+k, shortHeaderLen+inAhead
		if have := inBuf + k; have < size {
			if err := c.recvPayload(buf[have:size], have, size); err != nil {
				return 0, true, c.broken(err)
			}
		}
	}
	c.rlast, c.rlarge = size, size > c.rsize
	return size, true, nil
}

// stash makes rbuf hold, from its start, its first keep bytes, then mid,
// then the n read-ahead bytes that recvDirect left at
// rbuf[shortHeaderLen:]. rbuf is lengthened if they do not fit: it then
// keeps that capacity (recvReady shortens it again once it is empty), so
// its memory is bounded by the longest buffer passed to RecvBytesInto.
func (c *Conn) stash(keep int, mid []byte, n int) {
	end := keep + len(mid) + n
	if end > len(c.rbuf) {
		if end <= cap(c.rbuf) {
			c.rbuf = c.rbuf[:end]
		} else {
			nb := make([]byte, max(end, 2*len(c.rbuf)))
			copy(nb, c.rbuf[:shortHeaderLen+n])
			c.rbuf = nb
		}
	}
	copy(c.rbuf[keep+len(mid):], c.rbuf[shortHeaderLen:shortHeaderLen+n])
	copy(c.rbuf[keep:], mid)
	c.rpos, c.rend = 0, end
}

// sendable checks, in Python's order (_check_closed, _check_writable), that
// the connection can send.
func (c *Conn) sendable() error {
	if c.closed.Load() {
		return fmt.Errorf("pipe: send: %w", ErrClosed)
	}
	if !c.writable {
		return ErrNotWritable
	}
	return nil
}

// receivable checks, in Python's order (_check_closed, _check_readable),
// that the connection can receive; recvReady checks more, under rmu.
func (c *Conn) receivable() error {
	if c.closed.Load() {
		return fmt.Errorf("pipe: recv: %w", ErrClosed)
	}
	if !c.readable.Load() {
		return ErrNotReadable
	}
	return nil
}

// recvHeader checks that the connection can receive, reads the next frame
// header and checks its length against limit. The caller holds rmu and
// publishes the buffer state when done. Any error after the header was
// consumed has already been made sticky.
func (c *Conn) recvHeader(limit int64) (int64, error) {
	if err := c.recvReady(); err != nil {
		return 0, err
	}
	return c.readHeader(limit)
}

// recvReady checks that the connection can receive and sets up rbuf.
func (c *Conn) recvReady() error {
	if err := c.receivable(); err != nil {
		return err
	}
	if c.rerr != nil {
		return c.rerr
	}
	if c.rbuf == nil {
		n := c.cfg.ReadBufferSize
		if n == 0 {
			n = exactBufLen
		}
		c.rbuf = make([]byte, n)
		c.rsize = n
	} else if len(c.rbuf) > c.rsize && c.rpos == c.rend {
		c.rbuf = c.rbuf[:c.rsize] // lengthened by stash, now empty
		c.rpos, c.rend = 0, 0
	}
	return nil
}

// readHeader reads the next frame header and checks its length against
// limit (recvHeader after recvReady).
func (c *Conn) readHeader(limit int64) (int64, error) {
	// The header stays in the buffer until it is complete, so a deadline or
	// an interrupted read here leaves the stream in step.
	if err := c.fill(shortHeaderLen); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(c.rbuf[c.rpos:]))
	var size int64
	switch {
	case n >= 0:
		c.rpos += shortHeaderLen
		size = int64(n)
	case n == longFormMarker:
		if err := c.fill(longHeaderLen); err != nil {
			return 0, err
		}
		u := binary.BigEndian.Uint64(c.rbuf[c.rpos+shortHeaderLen:])
		c.rpos += longHeaderLen
		if u > math.MaxInt64 {
			return 0, c.tooLarge(u, limit)
		}
		size = int64(u)
	default:
		c.rpos += shortHeaderLen
		return 0, c.broken(fmt.Errorf("%w: %d", ErrBadLength, n))
	}
	if size > limit || uint64(size) > math.MaxInt {
		return 0, c.tooLarge(uint64(size), limit)
	}
	return size, nil
}

// fill makes at least need bytes available in rbuf[rpos:rend]. io.EOF means
// the stream ended with nothing buffered, i.e. at a message boundary.
func (c *Conn) fill(need int) error {
	for c.rend-c.rpos < need {
		have := c.rend - c.rpos
		if c.rpos > 0 && (have == 0 || len(c.rbuf)-c.rpos < need) {
			copy(c.rbuf, c.rbuf[c.rpos:c.rend])
			c.rpos, c.rend = 0, have
		}
		end := len(c.rbuf)
		if c.cfg.ReadBufferSize == 0 {
			end = c.rpos + need // never read past what is wanted
		} else if c.rlarge {
			// The last message was large and so may the next be: take
			// little of its payload into the buffer, so that most of it
			// is read straight into its destination, not copied.
			end = min(end, c.rpos+need+aheadLarge)
		}
		n, err := c.read(c.rbuf[c.rend:end], nil, nil, need-have)
		if err != nil {
			return err
		}
		if n == 0 {
			if have == 0 {
				return io.EOF
			}
			return unexpectedEOF("header", have, need)
		}
		c.rend += n
	}
	return nil
}

// recvPayload fills dst with the payload, from the buffer first. dst is
// the part of a payload of total bytes that begins after its first
// before bytes (for the error of a message cut short).
func (c *Conn) recvPayload(dst []byte, before, total int) error {
	c.rlast, c.rlarge = len(dst), len(dst) > c.rsize
	k := copy(dst, c.rbuf[c.rpos:c.rend])
	c.rpos += k
	for k < len(dst) {
		// The buffer is empty: read the rest straight into dst, and
		// read-ahead into the buffer behind it.
		c.rpos, c.rend = 0, 0
		var ahead []byte
		if c.cfg.ReadBufferSize > 0 {
			ahead = c.rbuf
			if len(dst)-k >= len(c.rbuf) && len(ahead) > aheadLarge {
				ahead = ahead[:aheadLarge]
			}
		}
		n, err := c.read(dst[k:], ahead, nil, len(dst)-k)
		if err != nil {
			return err
		}
		if n == 0 {
			return unexpectedEOF("payload", before+k, total)
		}
		t := min(n, len(dst)-k)
		k += t
		c.rend = n - t
	}
	return nil
}

// recvAlloc allocates a buffer for a payload of size bytes (already checked
// against the limit) and fills it. Past allocStep the buffer grows by
// doubling as the payload arrives.
func (c *Conn) recvAlloc(size int64) ([]byte, error) {
	n := int(size)
	if n <= allocStep {
		b := make([]byte, n)
		return b, c.recvPayload(b, 0, n)
	}
	b := make([]byte, allocStep)
	off := 0
	for {
		if err := c.recvPayload(b[off:], off, n); err != nil {
			return nil, err
		}
		off = len(b)
		if off == n {
			return b, nil
		}
		nb := make([]byte, min(2*len(b), n))
		copy(nb, b)
		b = nb
	}
}

// broken records err as the sticky receive error: the stream is out of step
// (part of a message was consumed), so no later receive can succeed.
func (c *Conn) broken(err error) error {
	if c.rerr == nil {
		c.rerr = fmt.Errorf("%w (inside a message; the connection can no longer receive)", err)
		c.rbroken.Store(true)
	}
	return c.rerr
}

// tooLarge refuses a message of size bytes as Python's _bad_message_length
// does: a duplex connection stops receiving, a read-only one is closed.
func (c *Conn) tooLarge(size uint64, limit int64) error {
	err := fmt.Errorf("%w: %d bytes, maximum %d", ErrMessageTooLarge, size, limit)
	c.rpos, c.rend = 0, 0
	c.readable.Store(false)
	if !c.writable {
		c.Close()
	}
	return err
}

// publish mirrors the buffered byte count for Poll and Wait.
func (c *Conn) publish() {
	c.buffered.Store(int64(c.rend - c.rpos))
}

func unexpectedEOF(part string, got, want int) error {
	return fmt.Errorf("pipe: recv: end of file inside a message %s (%d of %d bytes): %w", part, got, want, io.ErrUnexpectedEOF)
}
