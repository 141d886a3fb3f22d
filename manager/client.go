//go:build linux

package manager

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/pickle"
	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/process"
)

// A Manager is a client of a manager server, Go or Python: Python's
// SyncManager after connect() (Connect) or start() (Start). It makes
// managed objects (Dict, List, Lock, ...) and returns proxies for them.
// A Manager is safe for concurrent use.
//
// Connections: to an mproc server the client opens a session (one
// connection kept for the client's life, plus pooled connections for
// concurrent calls), makes every call on one of them, and the server drops
// the client's references when its last connection closes, even if the
// client was killed. To a CPython server it speaks exactly what Python's
// proxies speak: a new connection for each create, incref and decref, and
// pooled accept_connection connections for method calls.
type Manager struct {
	addr    Address
	authkey []byte
	cfg     ClientConfig
	pipeCfg *pipe.Config
	decOpts *pickle.DecoderOptions

	session string // session id; "" when the server is not an mproc server
	ctrl    *clientConn
	ctrlMu  sync.Mutex

	poolMu sync.Mutex
	pool   []*clientConn

	closed   atomic.Bool
	shutdown atomic.Bool
	proc     *process.Process // the server's process, for Start

	peersMu sync.Mutex
	peers   map[Address]*Manager // managers at other addresses (nested proxies)

	liveMu sync.Mutex
	live   map[*clientConn]struct{} // every open connection, for Close

	decrefs chan Token // references of proxies collected without Close
	bgOnce  sync.Once
	bgDone  chan struct{}
}

// Connect connects to the manager server at address (ParseAddress's
// forms) with authkey, as Python's BaseManager(address, authkey).connect()
// does, and checks it answers. A nil cfg means DefaultClientConfig().
func Connect(ctx context.Context, address string, authkey []byte, cfg *ClientConfig) (*Manager, error) {
	a, err := ParseAddress(address)
	if err != nil {
		return nil, err
	}
	return connectAddr(ctx, a, authkey, cfg)
}

func connectAddr(ctx context.Context, a Address, authkey []byte, cfg *ClientConfig) (*Manager, error) {
	if cfg == nil {
		cfg = DefaultClientConfig()
	}
	if err := cfg.Verify(); err != nil {
		return nil, err
	}
	if authkey == nil {
		return nil, fmt.Errorf("%w: an authkey is required", ErrConfig)
	}
	m := &Manager{addr: a, authkey: append([]byte(nil), authkey...), cfg: *cfg}
	pc := pipe.DefaultConfig()
	pc.MaxMessageSize = cfg.MaxMessageSize
	pc.HandshakeTimeout = cfg.HandshakeTimeout
	pc.ReadBufferSize = 0 // the descriptor moves to a wireConn after the handshake
	m.pipeCfg = pc
	lim := cfg.Limits
	if lim.MaxInputSize <= 0 || lim.MaxInputSize > cfg.MaxMessageSize {
		lim.MaxInputSize = cfg.MaxMessageSize
	}
	m.decOpts = &pickle.DecoderOptions{Limits: lim}
	m.decrefs = make(chan Token, 1024)
	m.bgDone = make(chan struct{})
	if !cfg.NoSession {
		var b [16]byte
		rand.Read(b[:])
		sid := hex.EncodeToString(b[:])
		c, err := m.dial(ctx)
		if err != nil {
			return nil, err
		}
		kind, _, err := c.roundTrip(ctx, m, pickle.Tuple{pickle.None, callSession, pickle.Tuple{sid}, pickle.NewDict()})
		switch {
		case err != nil:
			c.close()
			return nil, err
		case kind == kindReturn:
			c.session = true
			m.session, m.ctrl = sid, c
			return m, nil
		}
		// A CPython server: it refused the call and closed the connection.
		c.close()
	}
	if _, err := m.public(ctx, callDummy); err != nil {
		return nil, err
	}
	return m, nil
}

// Address returns the server's address.
func (m *Manager) Address() Address { return m.addr }

// Authkey returns a copy of the authkey, to give to a child process.
func (m *Manager) Authkey() []byte { return append([]byte(nil), m.authkey...) }

// Session reports whether the server is an mproc server speaking sessions
// (false for CPython servers and with ClientConfig.NoSession).
func (m *Manager) Session() bool { return m.session != "" }

// clientConn is one client connection.
type clientConn struct {
	wc      *wireConn
	m       *Manager // the manager tracking it (nil: untracked)
	session bool     // a session connection: public calls allowed
	broken  bool
}

func (c *clientConn) close() {
	c.wc.close()
	if c.m != nil {
		c.m.liveMu.Lock()
		delete(c.m.live, c)
		c.m.liveMu.Unlock()
	}
}

// track records c as open, so that Close closes it even while a call
// uses it; it reports false (and c is not recorded) once m is closed.
func (m *Manager) track(c *clientConn) bool {
	m.liveMu.Lock()
	defer m.liveMu.Unlock()
	if m.closed.Load() {
		return false
	}
	if m.live == nil {
		m.live = make(map[*clientConn]struct{})
	}
	m.live[c] = struct{}{}
	c.m = m
	return true
}

// dial opens an authenticated connection.
func (m *Manager) dial(ctx context.Context) (*clientConn, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	c, err := m.pipeCfg.DialContext(ctx, m.addr.Network, m.addr.Addr, m.authkey)
	if err != nil {
		if errors.Is(err, pipe.ErrAuthentication) {
			return nil, authError(m.addr, err)
		}
		return nil, fmt.Errorf("%w: connect to %s: %w", ErrServerGone, m.addr, err)
	}
	wc, err := newWireConn(c, m.cfg.MaxMessageSize)
	if err != nil {
		return nil, fmt.Errorf("%w: connect to %s: %w", ErrServerGone, m.addr, err)
	}
	cc := &clientConn{wc: wc}
	if !m.track(cc) {
		cc.close()
		return nil, ErrClosed
	}
	return cc, nil
}

// authError is the error of a refused authkey: it matches
// pipe.ErrAuthentication and ErrAuthenticationErr (Python's
// multiprocessing.AuthenticationError).
func authError(a Address, err error) error {
	return &connectAuthError{fmt.Errorf("manager: connect to %s: %w", a, err)}
}

type connectAuthError struct{ err error }

func (e *connectAuthError) Error() string   { return e.err.Error() }
func (e *connectAuthError) Unwrap() []error { return []error{e.err, ErrAuthenticationErr} }

// conn returns a connection for method calls: an idle one, or a new one
// (a session connection, or an accept_connection one for CPython).
func (m *Manager) conn(ctx context.Context) (*clientConn, error) {
	if c := m.idle(); c != nil {
		return c, nil
	}
	return m.newConn(ctx)
}

// idle takes an idle connection from the pool, or returns nil.
func (m *Manager) idle() *clientConn {
	m.poolMu.Lock()
	defer m.poolMu.Unlock()
	if n := len(m.pool); n > 0 {
		c := m.pool[n-1]
		m.pool = m.pool[:n-1]
		return c
	}
	return nil
}

// newConn opens a connection for method calls.
func (m *Manager) newConn(ctx context.Context) (*clientConn, error) {
	c, err := m.dial(ctx)
	if err != nil {
		return nil, err
	}
	var req pickle.Tuple
	if m.session != "" {
		req = pickle.Tuple{pickle.None, callSession, pickle.Tuple{m.session}, pickle.NewDict()}
	} else {
		req = pickle.Tuple{pickle.None, callAcceptConnection, pickle.Tuple{m.name()}, pickle.NewDict()}
	}
	kind, res, err := c.roundTrip(ctx, m, req)
	if err == nil && kind != kindReturn {
		err = replyError(kind, res)
	}
	if err != nil {
		c.close()
		return nil, err
	}
	c.session = m.session != ""
	return c, nil
}

// put returns a connection to the pool (or closes it).
func (m *Manager) put(c *clientConn) {
	if c.broken || m.closed.Load() {
		c.close()
		return
	}
	m.poolMu.Lock()
	if len(m.pool) < m.cfg.MaxIdleConns {
		m.pool = append(m.pool, c)
		c = nil
	}
	m.poolMu.Unlock()
	if c != nil {
		c.close()
	}
}

func (m *Manager) name() string {
	if m.cfg.Name != "" {
		return m.cfg.Name
	}
	return "MainProcess"
}

// roundTrip sends one request and reads its reply on c. ctx bounds the
// call: its deadline becomes the connection's, and its cancellation breaks
// the connection (the reply can no longer be matched to a request). An
// error with sent == false means the request did not leave (a connection
// the server had closed): it is safe to retry on another connection.
func (c *clientConn) roundTrip(ctx context.Context, m *Manager, req any) (kind string, result any, err error) {
	kind, result, _, err = c.roundTripSent(ctx, m, req)
	return kind, result, err
}

func (c *clientConn) roundTripSent(ctx context.Context, m *Manager, req any) (kind string, result any, sent bool, err error) {
	b, err := pickle.Dumps(req, pickleProtocol)
	if err != nil {
		return "", nil, false, fmt.Errorf("manager: cannot pickle request: %w", err)
	}
	stop := c.arm(ctx)
	defer stop()
	if err := c.wc.send(b); err != nil {
		return "", nil, false, c.ioError(ctx, err)
	}
	reply, err := c.wc.recv()
	if err != nil {
		return "", nil, true, c.ioError(ctx, err)
	}
	kind, result, err = m.decodeReply(reply)
	if err != nil {
		c.broken = true
	} else if kind == kindTraceback && isRefusal(result) {
		// The server closes a connection whose request it refused.
		c.broken = true
	}
	return kind, result, true, err
}

// isRefusal recognises the traceback of a request the server refused
// (after which it closes the connection).
func isRefusal(result any) bool {
	s, _ := result.(string)
	return strings.Contains(s, "\nUnpicklingError: ")
}

// arm applies ctx to the connection: its deadline, and a cancellation
// that breaks the connection at once.
func (c *clientConn) arm(ctx context.Context) func() {
	if ctx.Done() == nil {
		return noStop
	}
	dl, hasDeadline := ctx.Deadline()
	if hasDeadline {
		c.wc.setDeadline(dl.Add(deadlineGrace))
	}
	stop := context.AfterFunc(ctx, func() {
		// A deadline is the connection's own deadline (plus the grace):
		// the server answers a blocking call when its timeout expires.
		// A cancellation breaks the connection at once.
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			c.wc.close()
		}
	})
	return func() {
		stop()
		if hasDeadline {
			c.wc.setDeadline(time.Time{})
		}
	}
}

func noStop() {}

// deadlineGrace is added to a context deadline for the connection's
// deadline: a blocking call sends its remaining time as the Python timeout
// and the server answers when it expires, so the reply arrives a little
// after the deadline.
const deadlineGrace = 5 * time.Second

// ioError marks c broken and classifies err: a connection that Close
// closed under a call gives ErrClosed.
func (c *clientConn) ioError(ctx context.Context, err error) error {
	c.broken = true
	if c.m != nil && c.m.closed.Load() {
		return ErrClosed
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return ctx.Err()
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("manager: %w: no reply before the deadline: %w", context.DeadlineExceeded, err)
	}
	return fmt.Errorf("%w: %w", ErrServerGone, err)
}

// decodeReply parses a (kind, result) reply.
func (m *Manager) decodeReply(b []byte) (string, any, error) {
	v, err := pickle.LoadsWith(b, m.decOpts)
	if err != nil {
		return "", nil, fmt.Errorf("%w: undecodable reply: %w", ErrProtocol, err)
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return "", nil, fmt.Errorf("%w: reply is %s, not a (kind, result) tuple", ErrProtocol, pickle.TypeName(v))
	}
	kind, ok := t[0].(string)
	if !ok {
		return "", nil, fmt.Errorf("%w: reply kind is %s", ErrProtocol, pickle.TypeName(t[0]))
	}
	return kind, t[1], nil
}

// replyError returns the error a non-'#RETURN' reply carries.
func replyError(kind string, result any) error {
	switch kind {
	case kindError:
		return pyErrorFrom(result)
	case kindTraceback, kindUnserializable:
		s, ok := result.(string)
		if !ok {
			return fmt.Errorf("%w: %s result is %s, not str", ErrProtocol, kind, pickle.TypeName(result))
		}
		return &RemoteError{Kind: kind, Traceback: s}
	}
	return fmt.Errorf("%w: unrecognized message type %q", ErrProtocol, kind)
}

// public makes a server-level call: on the session connection, or on a
// connection of its own (CPython).
func (m *Manager) public(ctx context.Context, name string, args ...any) (any, error) {
	return m.publicKw(ctx, name, args, nil)
}

func (m *Manager) publicKw(ctx context.Context, name string, args []any, kwargs []Kwarg) (any, error) {
	if m.closed.Load() {
		return nil, ErrClosed
	}
	req := pickle.Tuple{pickle.None, name, pickle.Tuple(args), kwDict(kwargs)}
	var kind string
	var res any
	var err error
	if m.session != "" {
		m.ctrlMu.Lock()
		kind, res, err = m.ctrlRoundTrip(ctx, req)
		m.ctrlMu.Unlock()
	} else {
		var c *clientConn
		if c, err = m.dial(ctx); err == nil {
			kind, res, err = c.roundTrip(ctx, m, req)
			c.close()
		}
	}
	if err != nil {
		return nil, err
	}
	if kind != kindReturn {
		return nil, replyError(kind, res)
	}
	return res, nil
}

// ctrlRoundTrip makes a call on the session's control connection,
// reconnecting it (same session) if the server closed it. The caller holds
// ctrlMu.
func (m *Manager) ctrlRoundTrip(ctx context.Context, req any) (string, any, error) {
	for attempt := 0; ; attempt++ {
		if m.ctrl == nil || m.ctrl.broken {
			if m.ctrl != nil {
				m.ctrl.close()
				m.ctrl = nil
			}
			c, err := m.dial(ctx)
			if err != nil {
				return "", nil, err
			}
			kind, res, err := c.roundTrip(ctx, m, pickle.Tuple{pickle.None, callSession, pickle.Tuple{m.session}, pickle.NewDict()})
			if err == nil && kind != kindReturn {
				err = replyError(kind, res)
			}
			if err != nil {
				c.close()
				return "", nil, err
			}
			c.session = true
			m.ctrl = c
		}
		kind, res, sent, err := m.ctrl.roundTripSent(ctx, m, req)
		if err != nil && !sent && attempt == 0 && !m.closed.Load() {
			continue // the server had closed it: once more on a new one
		}
		return kind, res, err
	}
}

func kwDict(kwargs []Kwarg) *pickle.Dict {
	d := pickle.NewDict()
	for _, kw := range kwargs {
		d.Set(kw.Name, kw.Value)
	}
	return d
}

// NumObjects returns the server's number_of_objects (Python's
// BaseManager._number_of_objects).
func (m *Manager) NumObjects(ctx context.Context) (int, error) {
	v, err := m.public(ctx, callNumberOfObjects)
	if err != nil {
		return 0, err
	}
	n, _, ok := asInt(v)
	if !ok {
		return 0, fmt.Errorf("%w: number_of_objects returned %s", ErrProtocol, pickle.TypeName(v))
	}
	return int(n), nil
}

// DebugInfo returns the server's debug_info text (Python's
// BaseManager._debug_info): the referenced objects and their counts.
func (m *Manager) DebugInfo(ctx context.Context) (string, error) {
	v, err := m.public(ctx, callDebugInfo)
	if err != nil {
		return "", err
	}
	s, _ := v.(string)
	return s, nil
}

// Create makes a new object of a registered type with the given
// constructor arguments and returns a proxy holding one reference to it.
func (m *Manager) Create(ctx context.Context, typeid string, args []any, kwargs []Kwarg) (*Proxy, error) {
	v, err := m.publicKw(ctx, callCreate, append([]any{typeid}, args...), kwargs)
	if err != nil {
		return nil, err
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("%w: create returned %s", ErrProtocol, pickle.TypeName(v))
	}
	id, ok := t[0].(string)
	if !ok {
		return nil, fmt.Errorf("%w: create returned id %s", ErrProtocol, pickle.TypeName(t[0]))
	}
	exposed := stringsOf(t[1])
	return m.newProxy(Token{TypeID: typeid, Address: m.addr, ID: id}, exposed), nil
}

// stringsOf reads a tuple or list of str.
func stringsOf(v any) []string {
	var items []any
	switch x := v.(type) {
	case pickle.Tuple:
		items = x
	case *pickle.List:
		items = x.Items
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Proxy returns a new proxy, with a reference of its own, for the object
// tok names: a proxy handed over by another process as its Token (see
// Proxy.Token), which must still hold its reference while this one is
// taken. The object must be on this manager's server.
func (m *Manager) Proxy(ctx context.Context, tok Token) (*Proxy, error) {
	if _, err := m.public(ctx, callIncref, tok.ID); err != nil {
		return nil, err
	}
	var exposed []string
	if v, err := m.public(ctx, callGetMethods, tok.object()); err == nil {
		exposed = stringsOf(v)
	}
	tok.Address = m.addr
	return m.newProxy(tok, exposed), nil
}

// Shutdown asks the server to shut down (Python's manager.shutdown()) and,
// for a server started by Start, waits for its process to exit (killing it
// after ten seconds). Calling it again does nothing and returns nil. The
// Manager is closed; a Manager closed before still shuts its server down.
func (m *Manager) Shutdown(ctx context.Context) error {
	if m.shutdown.Swap(true) {
		return nil
	}
	var err error
	if m.closed.Load() {
		err = m.shutdownClosed(ctx)
	} else {
		_, err = m.public(ctx, callShutdown)
	}
	if errors.Is(err, ErrServerGone) || errors.Is(err, ErrClosed) {
		err = nil // already gone
	}
	m.Close()
	if m.proc != nil {
		jctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if jerr := m.proc.Join(jctx); jerr != nil {
			m.proc.Kill()
			m.proc.JoinTimeout(5 * time.Second)
		}
	}
	return err
}

// shutdownClosed sends the shutdown call of a Manager already closed, on
// a connection of its own, as Python's shutdown does.
func (m *Manager) shutdownClosed(ctx context.Context) error {
	pc, err := m.pipeCfg.DialContext(ctx, m.addr.Network, m.addr.Addr, m.authkey)
	if err != nil {
		if errors.Is(err, pipe.ErrAuthentication) {
			return authError(m.addr, err)
		}
		return fmt.Errorf("%w: connect to %s: %w", ErrServerGone, m.addr, err)
	}
	wc, err := newWireConn(pc, m.cfg.MaxMessageSize)
	if err != nil {
		return fmt.Errorf("%w: connect to %s: %w", ErrServerGone, m.addr, err)
	}
	c := &clientConn{wc: wc} // untracked: m is closed
	defer c.close()
	kind, res, err := c.roundTrip(ctx, m, pickle.Tuple{pickle.None, callShutdown, pickle.Tuple{}, pickle.NewDict()})
	if err == nil && kind != kindReturn {
		err = replyError(kind, res)
	}
	return err
}

// Close closes the client's connections. With an mproc server this drops
// every reference the client's proxies hold; with CPython, proxies not
// closed before stay referenced (Python clients decref at exit). The
// server keeps running. Calls in progress (a blocked Queue.Get, say) and
// later calls on its proxies return ErrClosed. Close is idempotent.
func (m *Manager) Close() error {
	if m.closed.Swap(true) {
		return nil
	}
	// Every connection, including those of calls in progress (which
	// return ErrClosed) and the dedicated ones of RLock and Condition
	// proxies (which would keep the session and its references alive).
	m.liveMu.Lock()
	live := m.live
	m.live = nil
	m.liveMu.Unlock()
	for c := range live {
		c.wc.close()
	}
	m.poolMu.Lock()
	pool := m.pool
	m.pool = nil
	m.poolMu.Unlock()
	for _, c := range pool {
		c.close()
	}
	if m.ctrl != nil {
		m.ctrlMu.Lock()
		m.ctrl.close()
		m.ctrlMu.Unlock()
	}
	m.peersMu.Lock()
	peers := m.peers
	m.peers = nil
	m.peersMu.Unlock()
	for _, p := range peers {
		p.Close()
	}
	close(m.bgDone)
	return nil
}

// peer returns the manager for another server's address (a nested proxy
// whose object lives elsewhere), connecting with this manager's authkey.
func (m *Manager) peer(ctx context.Context, a Address) (*Manager, error) {
	if a == m.addr {
		return m, nil
	}
	m.peersMu.Lock()
	defer m.peersMu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	if p, ok := m.peers[a]; ok {
		return p, nil
	}
	p, err := connectAddr(ctx, a, m.authkey, &m.cfg)
	if err != nil {
		return nil, err
	}
	if m.peers == nil {
		m.peers = make(map[Address]*Manager)
	}
	m.peers[a] = p
	return p, nil
}

// queueDecref drops the reference of a proxy the garbage collector found
// unreachable without Close.
func (m *Manager) queueDecref(tok Token) {
	if m.closed.Load() {
		return
	}
	m.bgOnce.Do(func() { go m.decrefLoop() })
	select {
	case m.decrefs <- tok:
	default:
		// Too many at once: drop it; the server releases the session's
		// references when the client closes.
	}
}

func (m *Manager) decrefLoop() {
	for {
		select {
		case tok := <-m.decrefs:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			m.public(ctx, callDecref, tok.ID)
			cancel()
		case <-m.bgDone:
			return
		}
	}
}
