//go:build linux

package pipe

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"
)

// A Listener accepts connections on a Unix or TCP socket and authenticates
// them: Python's multiprocessing.connection.Listener. It is safe for
// concurrent use.
type Listener struct {
	l       net.Listener
	authkey []byte
	cfg     *Config
}

// Listen listens on address and returns a Listener whose Accept runs the
// authkey handshake: Python's Listener(address, authkey=authkey). The
// address is read as ParseAddress reads it: "HOST:PORT" for TCP, a path
// (with a "/") or "@name" (a Linux abstract name; Python writes
// "\x00name") for a Unix socket, or any of them prefixed with "tcp:" or
// "unix:". A Unix socket path is removed when the Listener is closed.
//
// A nil authkey means no handshake, as authkey=None in Python. Any other
// authkey, even empty, is used, as Python 3.13 does (3.12 and earlier skip
// the handshake for an empty key).
func Listen(address string, authkey []byte) (*Listener, error) {
	return (*Config)(nil).Listen(address, authkey)
}

// ListenNetwork is Listen with the network given apart, as net.Listen
// takes it: "unix" (address: a path, "@name" or "\x00name") or "tcp",
// "tcp4", "tcp6" ("host:port").
func ListenNetwork(network, address string, authkey []byte) (*Listener, error) {
	return (*Config)(nil).ListenNetwork(network, address, authkey)
}

// Listen is the package-level Listen with this configuration.
func (cfg *Config) Listen(address string, authkey []byte) (*Listener, error) {
	network, address, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	return cfg.ListenNetwork(network, address, authkey)
}

// ListenNetwork is the package-level ListenNetwork with this
// configuration.
func (cfg *Config) ListenNetwork(network, address string, authkey []byte) (*Listener, error) {
	cfg, err := cfg.orDefault()
	if err != nil {
		return nil, err
	}
	network, address, err = normalizeAddress(network, address)
	if err != nil {
		return nil, err
	}
	l, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("pipe: listen: %w", err)
	}
	return &Listener{l: l, authkey: cloneKey(authkey), cfg: cfg}, nil
}

// ParseAddress splits a Python-style address into the network and address
// that ListenNetwork and DialNetwork take: "unix:ADDR" and "tcp:HOST:PORT"
// say so; otherwise an address with a "/" or starting with "@" or "\x00"
// is a Unix socket, and "HOST:PORT" is TCP. Anything else is an error (a
// relative socket path needs "./" or "unix:").
func ParseAddress(s string) (network, address string, err error) {
	switch {
	case strings.HasPrefix(s, "unix:"):
		if s == "unix:" {
			return "", "", fmt.Errorf("pipe: address %q: empty socket path", s)
		}
		return "unix", strings.TrimPrefix(s, "unix:"), nil
	case strings.HasPrefix(s, "tcp:"):
		s = strings.TrimPrefix(s, "tcp:")
		if _, _, err := net.SplitHostPort(s); err != nil {
			return "", "", fmt.Errorf("pipe: address %q: %w", s, err)
		}
		return "tcp", s, nil
	case strings.ContainsRune(s, '/') || strings.HasPrefix(s, "@") || strings.HasPrefix(s, "\x00"):
		return "unix", s, nil
	case s == "":
		return "", "", fmt.Errorf("pipe: empty address")
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return "", "", fmt.Errorf("pipe: address %q is neither HOST:PORT nor a socket path: %w", s, err)
	}
	return "tcp", s, nil
}

// Accept waits for a connection and, if the Listener has an authkey, runs the
// handshake on it: challenge the client, then answer its challenge (Python's
// Listener.accept). The handshake is bounded by Config.HandshakeTimeout.
//
// A connection whose handshake fails is closed and its error returned; the
// Listener stays usable, so a server loop keeps accepting. Such errors match
// ErrAuthentication when the client was rejected (or rejected us), and wrap
// io.EOF, io.ErrUnexpectedEOF or os.ErrDeadlineExceeded when the client
// went away or was too slow. Once the Listener is closed, Accept returns an
// error matching ErrClosed.
func (l *Listener) Accept() (*Conn, error) {
	nc, err := l.l.Accept()
	if err != nil {
		return nil, fmt.Errorf("pipe: accept: %w", err)
	}
	c, err := newNetConn(nc, l.cfg)
	if err != nil {
		return nil, err
	}
	if l.authkey == nil {
		return c, nil
	}
	if l.cfg.HandshakeTimeout > 0 {
		c.SetDeadline(time.Now().Add(l.cfg.HandshakeTimeout))
	}
	err = c.DeliverChallenge(l.authkey)
	if err == nil {
		err = c.AnswerChallenge(l.authkey)
	}
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("pipe: accept from %v: %w", nc.RemoteAddr(), err)
	}
	return c, nil
}

// Close stops listening and removes a Unix socket path. Accept calls
// blocked in it return an error matching ErrClosed; accepted connections
// stay open.
func (l *Listener) Close() error {
	if err := l.l.Close(); err != nil {
		return fmt.Errorf("pipe: close listener: %w", err)
	}
	return nil
}

// Addr returns the listening address (Python's Listener.address): for
// "tcp" the port actually bound, for an abstract Unix name "@name".
func (l *Listener) Addr() net.Addr { return l.l.Addr() }

// Dial connects to a Listener (Python's or this package's) at address, as
// Listen reads it, and, if authkey is not nil, runs the handshake: answer
// the server's challenge, then challenge it (Python's Client(address,
// authkey=authkey)). Connecting and the handshake are bounded by
// Config.HandshakeTimeout. A rejected handshake fails with
// ErrAuthentication.
func Dial(address string, authkey []byte) (*Conn, error) {
	return (*Config)(nil).Dial(address, authkey)
}

// DialNetwork is Dial with the network given apart, as for ListenNetwork.
func DialNetwork(network, address string, authkey []byte) (*Conn, error) {
	return (*Config)(nil).DialContext(context.Background(), network, address, authkey)
}

// Dial is the package-level Dial with this configuration.
func (cfg *Config) Dial(address string, authkey []byte) (*Conn, error) {
	network, address, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	return cfg.DialContext(context.Background(), network, address, authkey)
}

// DialNetwork is the package-level DialNetwork with this configuration.
func (cfg *Config) DialNetwork(network, address string, authkey []byte) (*Conn, error) {
	return cfg.DialContext(context.Background(), network, address, authkey)
}

// DialContext is DialNetwork with a context that bounds connecting and the
// handshake (together with Config.HandshakeTimeout, whichever ends first).
// Once the connection is returned, the context no longer matters.
func (cfg *Config) DialContext(ctx context.Context, network, address string, authkey []byte) (*Conn, error) {
	cfg, err := cfg.orDefault()
	if err != nil {
		return nil, err
	}
	network, address, err = normalizeAddress(network, address)
	if err != nil {
		return nil, err
	}
	if cfg.HandshakeTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cfg.HandshakeTimeout)
		defer cancel()
	}
	var d net.Dialer
	nc, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, fmt.Errorf("pipe: dial: %w", err)
	}
	c, err := newNetConn(nc, cfg)
	if err != nil {
		return nil, err
	}
	if authkey == nil {
		return c, nil
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(aLongTimeAgo) })
	err = c.AnswerChallenge(authkey)
	if err == nil {
		err = c.DeliverChallenge(authkey)
	}
	if !stop() && err != nil && ctx.Err() != nil {
		err = fmt.Errorf("%w (%w)", err, ctx.Err())
	}
	if err == nil {
		err = c.SetDeadline(time.Time{})
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("pipe: dial %s: %w", address, err)
	}
	return c, nil
}

// normalizeAddress checks the network and turns Python's "\x00name" form of
// an abstract Unix address into Go's "@name".
func normalizeAddress(network, address string) (string, string, error) {
	switch network {
	case "unix":
		if strings.HasPrefix(address, "\x00") {
			address = "@" + address[1:]
		}
	case "tcp", "tcp4", "tcp6":
	default:
		return "", "", fmt.Errorf("pipe: %w", net.UnknownNetworkError(network))
	}
	return network, address, nil
}

func cloneKey(k []byte) []byte {
	if k == nil {
		return nil
	}
	return append([]byte{}, k...)
}
