//go:build linux

package manager

import (
	"crypto/rand"
	"fmt"
	"net"
	"time"

	"github.com/mproc/mproc/pickle"
)

// Defaults used by DefaultServerConfig and DefaultClientConfig.
const (
	// DefaultMaxMessageSize bounds one request or reply: 64 MiB. CPython
	// has no limit.
	DefaultMaxMessageSize = 64 << 20

	// DefaultHandshakeTimeout bounds the authkey handshake of a new
	// connection (CPython's connection timeout is 20 s too).
	DefaultHandshakeTimeout = 20 * time.Second

	// DefaultSessionGrace is how long a Go client's references outlive its
	// last connection.
	DefaultSessionGrace = 2 * time.Second

	// DefaultMaxConnections bounds the connections served at once; more
	// are accepted and closed at once.
	DefaultMaxConnections = 4096

	// AuthkeyLen is the length of a generated authkey, as Python's
	// process authkey (os.urandom(32)).
	AuthkeyLen = 32
)

// ServerConfig configures a manager server. A nil *ServerConfig means
// DefaultServerConfig(); change a copy of it rather than starting from a
// zero ServerConfig.
type ServerConfig struct {
	// Address to listen on, as ParseAddress reads it: "HOST:PORT" (port
	// 0 picks one), a Unix socket path, "@name" for a Linux abstract
	// socket. Empty means a new Unix socket in a private directory (0700)
	// under os.TempDir(), removed at shutdown, as Python's default
	// Listener address is.
	Address string

	// Authkey authenticates clients (HMAC challenge in both directions,
	// Python's handshake). Nil means AuthkeyLen random bytes, readable
	// with Server.Authkey. An empty, non-nil key is refused: a server
	// always requires a key.
	Authkey []byte

	// Registry holds the served types. Nil means SyncRegistry().
	Registry *Registry

	// AllowRemote permits a TCP address that is not a loopback address.
	// Anyone who can reach the port and holds the authkey can use the
	// server; the traffic is authenticated, not encrypted.
	AllowRemote bool

	// MaxMessageSize bounds one request (and one reply). A longer request
	// closes its connection.
	MaxMessageSize int64

	// Limits bound pickle decoding of requests (depth, container sizes,
	// integer size, memo). Zero fields take pickle.DefaultLimits().
	Limits pickle.Limits

	// AllowCall decides which globals a request may call (REDUCE, INST,
	// OBJ): the server never runs them, but relays stored values to
	// Python clients that would. Nil means DefaultAllowCall. A request
	// calling anything else is refused and its connection closed.
	AllowCall func(g pickle.Global) bool

	// TrustClients accepts any call in requests, as CPython's server does
	// (it runs them). Use it only when every client is trusted.
	TrustClients bool

	// HandshakeTimeout bounds the authkey handshake of each connection.
	HandshakeTimeout time.Duration

	// MaxConnections bounds the connections served at once.
	MaxConnections int

	// SessionGrace is how long the references of an mproc session (a Go
	// client) outlive its last connection: a client that reconnects
	// within it keeps its objects; one that was killed loses them after
	// it. Zero drops them at once.
	SessionGrace time.Duration

	// LegacyChallenge makes the server send Python 3.11's challenge
	// (HMAC-MD5) instead of 3.12's "{sha256}" one. Every Python 3 answers
	// the modern one, so this is only for unusual peers.
	LegacyChallenge bool

	// RefuseMD5 refuses clients that answer with HMAC-MD5 (Python 3.11
	// and earlier). Set it when every client runs Python 3.12+ or Go.
	RefuseMD5 bool

	// Serializer is the message encoding, as Python's BaseManager
	// serializer argument: "pickle" (empty means it too) or "xmlrpclib"
	// (XML-RPC, for Python managers made with serializer='xmlrpclib'; the
	// values are then those XML-RPC carries: no proxies, no Tokens).
	Serializer string

	// GrowProcs lets the server raise this process's GOMAXPROCS when every
	// P is held by a thread blocked reading a connection (many busy
	// clients: a request that arrives then waits for a P; 8 Python
	// clients on 2 cores went from 26.6k to 39.6k calls/s). GOMAXPROCS
	// belongs to the whole process, so set it only where the server is
	// the process's only work, as in Start's child and `mproc manager
	// serve`. It only grows, in doublings, up to its value at Listen plus
	// 256.
	GrowProcs bool

	// ErrorLog receives one line per connection that failed (bad authkey,
	// malformed frame, refused request). Nil discards them; the server
	// prints nothing itself.
	ErrorLog func(format string, args ...any)
}

// DefaultServerConfig returns the configuration a nil *ServerConfig means.
func DefaultServerConfig() *ServerConfig {
	return &ServerConfig{
		MaxMessageSize:   DefaultMaxMessageSize,
		HandshakeTimeout: DefaultHandshakeTimeout,
		MaxConnections:   DefaultMaxConnections,
		SessionGrace:     DefaultSessionGrace,
	}
}

// Verify reports whether the configuration is usable; its error matches
// ErrConfig. A nil *ServerConfig is valid.
func (c *ServerConfig) Verify() error {
	if c == nil {
		return nil
	}
	if c.Authkey != nil && len(c.Authkey) == 0 {
		return fmt.Errorf("%w: empty Authkey (use nil for a random one)", ErrConfig)
	}
	if c.MaxMessageSize <= 0 {
		return fmt.Errorf("%w: MaxMessageSize %d must be positive", ErrConfig, c.MaxMessageSize)
	}
	if c.HandshakeTimeout < 0 {
		return fmt.Errorf("%w: negative HandshakeTimeout", ErrConfig)
	}
	if c.SessionGrace < 0 {
		return fmt.Errorf("%w: negative SessionGrace", ErrConfig)
	}
	switch c.Serializer {
	case "", serializerName, serializerXMLRPC:
	default:
		return fmt.Errorf("%w: Serializer %q (want %q or %q)", ErrConfig, c.Serializer, serializerName, serializerXMLRPC)
	}
	if c.MaxConnections <= 0 {
		return fmt.Errorf("%w: MaxConnections %d must be positive", ErrConfig, c.MaxConnections)
	}
	if c.Address != "" {
		a, err := ParseAddress(c.Address)
		if err != nil {
			return err
		}
		if a.Network == "tcp" && !c.AllowRemote {
			host, _, _ := net.SplitHostPort(a.Addr)
			if !isLoopback(host) {
				return fmt.Errorf("%w: %q is not a loopback address; set AllowRemote to listen on it", ErrConfig, a.Addr)
			}
		}
	}
	return nil
}

// isLoopback reports whether host names a loopback address.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewAuthkey returns AuthkeyLen random bytes.
func NewAuthkey() []byte {
	k := make([]byte, AuthkeyLen)
	if _, err := rand.Read(k); err != nil {
		panic("manager: crypto/rand failed: " + err.Error())
	}
	return k
}

// ClientConfig configures a client (Connect, Start). A nil *ClientConfig
// means DefaultClientConfig().
type ClientConfig struct {
	// MaxMessageSize bounds one reply.
	MaxMessageSize int64

	// Limits bound pickle decoding of replies.
	Limits pickle.Limits

	// HandshakeTimeout bounds connecting plus the authkey handshake.
	HandshakeTimeout time.Duration

	// MaxIdleConns is the number of idle method-call connections kept for
	// reuse.
	MaxIdleConns int

	// NoSession makes the client speak plain CPython even to an mproc
	// server: one connection per create/incref/decref, and references not
	// released if the client dies.
	NoSession bool

	// Name is sent in accept_connection (Python sends the process name).
	// Empty means "MainProcess".
	Name string
}

// DefaultClientConfig returns the configuration a nil *ClientConfig means.
func DefaultClientConfig() *ClientConfig {
	return &ClientConfig{
		MaxMessageSize:   DefaultMaxMessageSize,
		HandshakeTimeout: DefaultHandshakeTimeout,
		MaxIdleConns:     16,
	}
}

// Verify reports whether the configuration is usable; its error matches
// ErrConfig.
func (c *ClientConfig) Verify() error {
	if c == nil {
		return nil
	}
	if c.MaxMessageSize <= 0 {
		return fmt.Errorf("%w: MaxMessageSize %d must be positive", ErrConfig, c.MaxMessageSize)
	}
	if c.HandshakeTimeout < 0 {
		return fmt.Errorf("%w: negative HandshakeTimeout", ErrConfig)
	}
	if c.MaxIdleConns < 0 {
		return fmt.Errorf("%w: negative MaxIdleConns", ErrConfig)
	}
	return nil
}
