//go:build linux

package pipe

import (
	"fmt"
	"time"
)

// Defaults used by DefaultConfig.
const (
	// DefaultMaxMessageSize bounds RecvBytes(0), Recv and the allocation
	// RecvBytesInto makes for a message that does not fit: 1 GiB, the
	// limit encoding/gob uses. Python has no limit.
	DefaultMaxMessageSize = 1 << 30

	// DefaultReadBufferSize is the read-ahead buffer of a connection.
	DefaultReadBufferSize = 16 << 10

	// DefaultHandshakeTimeout bounds connecting plus the authkey handshake
	// in Dial, and the handshake in Accept. It is CPython's
	// CONNECTION_TIMEOUT, "a very generous timeout when it comes to local
	// connections".
	DefaultHandshakeTimeout = 20 * time.Second
)

// Config holds the knobs of connections and listeners. A nil *Config means
// DefaultConfig(); change a copy of DefaultConfig() rather than starting
// from a zero Config, whose zero MaxMessageSize is invalid.
type Config struct {
	// MaxMessageSize is the longest message RecvBytes(0) and Recv accept,
	// and the longest RecvBytesInto allocates for when the message does
	// not fit in the caller's buffer. Longer messages fail with
	// ErrMessageTooLarge before anything is allocated. Must be positive.
	MaxMessageSize int64

	// ReadBufferSize is the size of the read-ahead buffer: a receive reads
	// whatever the kernel has, up to this many bytes past the current
	// message, so a stream of small messages costs one read per batch
	// rather than two per message. Zero disables read-ahead: every read
	// then stops exactly at the end of a header or payload, as CPython's
	// do, so the descriptor can be shared by several processes that take
	// turns receiving (CPython's Queue does this). Must be zero or at
	// least 64; at most 16 MiB.
	ReadBufferSize int

	// LegacyChallenge makes this side deliver the authkey challenge of
	// Python 3.11 and earlier (20 random bytes, HMAC-MD5) instead of the
	// modern "{sha256}" one. Every Python 3 answers the modern challenge,
	// so this is only for peers that copy the 3.11 code.
	LegacyChallenge bool

	// RefuseMD5 refuses HMAC-MD5 in both handshake roles: as challenger,
	// a raw 16-byte or "{md5}" response is rejected; as answerer, a legacy
	// 20-byte challenge is not answered. Set it when every peer runs
	// Python 3.12 or later (or this package). The default accepts MD5, as
	// CPython 3.12 does, so that 3.11-and-earlier peers can connect.
	RefuseMD5 bool

	// HandshakeTimeout bounds Dial (connect and handshake) and the
	// handshake inside Accept. Zero means no limit (CPython's behaviour).
	HandshakeTimeout time.Duration
}

// DefaultConfig returns the configuration used when a nil *Config is given.
func DefaultConfig() *Config {
	return &Config{
		MaxMessageSize:   DefaultMaxMessageSize,
		ReadBufferSize:   DefaultReadBufferSize,
		HandshakeTimeout: DefaultHandshakeTimeout,
	}
}

// Bounds checked by Verify.
const (
	minReadBufferSize = 64
	maxReadBufferSize = 16 << 20
)

// Verify reports whether the configuration is usable; its error matches
// ErrConfig. A nil *Config is valid (it means the defaults).
func (c *Config) Verify() error {
	if c == nil {
		return nil
	}
	if c.MaxMessageSize <= 0 {
		return fmt.Errorf("%w: MaxMessageSize %d must be positive", ErrConfig, c.MaxMessageSize)
	}
	if c.ReadBufferSize != 0 && (c.ReadBufferSize < minReadBufferSize || c.ReadBufferSize > maxReadBufferSize) {
		return fmt.Errorf("%w: ReadBufferSize %d must be 0 or in [%d, %d]", ErrConfig, c.ReadBufferSize, minReadBufferSize, maxReadBufferSize)
	}
	if c.HandshakeTimeout < 0 {
		return fmt.Errorf("%w: HandshakeTimeout %v is negative", ErrConfig, c.HandshakeTimeout)
	}
	return nil
}

// orDefault returns c, or the defaults for a nil c, after verifying it. The
// result is a copy, so later changes to the caller's Config do not affect
// connections already made.
func (c *Config) orDefault() (*Config, error) {
	if c == nil {
		return DefaultConfig(), nil
	}
	if err := c.Verify(); err != nil {
		return nil, err
	}
	cp := *c
	return &cp, nil
}
