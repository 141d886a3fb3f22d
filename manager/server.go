//go:build linux

package manager

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mproc/mproc/pickle"
	"github.com/mproc/mproc/pipe"
)

// A Server is a manager server: Python's multiprocessing.managers.Server,
// speaking its protocol to Python and Go clients alike. Make one with
// NewServer, then Listen and Serve (or Start, or the package function
// Serve); Shutdown stops it, as does a client's shutdown call.
//
// Each connection is served by its own goroutines: a blocking method
// (Lock.acquire, Queue.get, ...) blocks only the connection that called it,
// and is abandoned when that connection closes or the server shuts down.
type Server struct {
	cfg      ServerConfig
	authkey  []byte
	registry *Registry
	table    *objectTable
	pipeCfg  *pipe.Config
	decOpts  *pickle.DecoderOptions
	allow    func(pickle.Global) bool // nil: TrustClients
	xml      bool                     // the xmlrpclib serializer
	idPrefix uint64

	mu       sync.Mutex
	ln       *pipe.Listener
	addr     Address
	pyAddr   any // the address as Python writes it in Tokens
	tmpDir   string
	conns    map[*serverConn]struct{}
	nextConn uint64
	serving  bool
	closing  bool

	ctx    context.Context // cancelled at shutdown
	cancel context.CancelFunc
	done   chan struct{} // closed when shutdown has begun
	wg     sync.WaitGroup
	closed chan struct{} // closed when shutdown has finished

	sharedMu sync.Mutex
	shared   map[string]*entry // the objects of Shared types, by typeid

	watchMu sync.Mutex
	watch   []*holder
	watchCh chan struct{}
}

// NewServer returns a server for cfg (nil: DefaultServerConfig()). It does
// not listen yet.
func NewServer(cfg *ServerConfig) (*Server, error) {
	if cfg == nil {
		cfg = DefaultServerConfig()
	}
	if err := cfg.Verify(); err != nil {
		return nil, err
	}
	s := &Server{cfg: *cfg, table: newObjectTable(), conns: make(map[*serverConn]struct{})}
	s.authkey = append([]byte(nil), cfg.Authkey...)
	if cfg.Authkey == nil {
		s.authkey = NewAuthkey()
	}
	s.registry = cfg.Registry
	if s.registry == nil {
		s.registry = SyncRegistry()
	}
	pc := pipe.DefaultConfig()
	pc.MaxMessageSize = cfg.MaxMessageSize
	pc.LegacyChallenge = cfg.LegacyChallenge
	pc.RefuseMD5 = cfg.RefuseMD5
	pc.HandshakeTimeout = cfg.HandshakeTimeout
	// No read-ahead: after the handshake the descriptor moves to a
	// wireConn, and nothing may be left behind in the pipe.Conn.
	pc.ReadBufferSize = 0
	s.pipeCfg = pc
	lim := cfg.Limits
	if lim.MaxInputSize <= 0 || lim.MaxInputSize > cfg.MaxMessageSize {
		lim.MaxInputSize = cfg.MaxMessageSize
	}
	s.decOpts = &pickle.DecoderOptions{Limits: lim}
	if !cfg.TrustClients {
		s.allow = cfg.AllowCall
		if s.allow == nil {
			s.allow = DefaultAllowCall
		}
	}
	s.xml = cfg.Serializer == serializerXMLRPC
	var b [8]byte
	rand.Read(b[:])
	// Object ids look like CPython's (12 hex digits): a random 24-bit
	// prefix per server, so that ids of two servers never meet in one
	// value, then a counter.
	s.idPrefix = (binary.LittleEndian.Uint64(b[:])&0xffffff | 0x100000) << 24
	s.table.next = s.idPrefix
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.done = make(chan struct{})
	s.closed = make(chan struct{})
	s.watchCh = make(chan struct{}, 1)
	return s, nil
}

// Listen binds the server's address. After it, Addr returns the address
// clients use (with the port picked for "HOST:0").
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return ErrShutdown
	}
	if s.ln != nil {
		return fmt.Errorf("%w: already listening on %s", ErrConfig, s.addr)
	}
	if s.cfg.GrowProcs {
		enableProcsGrowth()
	}
	var a Address
	if s.cfg.Address == "" {
		dir, err := os.MkdirTemp("", "mproc-manager-")
		if err != nil {
			return fmt.Errorf("manager: listen: %w", err)
		}
		s.tmpDir = dir
		a = Address{Network: "unix", Addr: filepath.Join(dir, "listener.sock")}
	} else {
		var err error
		if a, err = ParseAddress(s.cfg.Address); err != nil {
			return err
		}
	}
	ln, err := s.pipeCfg.ListenNetwork(a.Network, a.Addr, nil)
	if err != nil {
		if s.tmpDir != "" {
			os.RemoveAll(s.tmpDir)
			s.tmpDir = ""
		}
		return fmt.Errorf("manager: %w", err)
	}
	if a.Network == "tcp" {
		a.Addr = ln.Addr().String()
	}
	s.ln, s.addr, s.pyAddr = ln, a, a.python()
	return nil
}

// Addr returns the address the server listens on (zero before Listen).
func (s *Server) Addr() Address {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Authkey returns a copy of the authkey clients must present (the random
// one when the configuration gave none).
func (s *Server) Authkey() []byte { return append([]byte(nil), s.authkey...) }

// Registry returns the server's type registry.
func (s *Server) Registry() *Registry { return s.registry }

// Done is closed when the server begins shutting down (Shutdown, a
// client's shutdown call, or Serve's context).
func (s *Server) Done() <-chan struct{} { return s.done }

// NumObjects returns what number_of_objects returns: the objects some
// client holds a reference to.
func (s *Server) NumObjects() int {
	n, _ := s.table.counts()
	return n
}

// NumEntries returns the objects in the server's table: the referenced ones
// plus those only other managed objects hold (nested proxies).
func (s *Server) NumEntries() int {
	_, n := s.table.counts()
	return n
}

// NumConns returns the connections being served.
func (s *Server) NumConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Collect deletes, at once, the objects that only unreachable managed
// objects still hold (the server does it by itself shortly after a
// reference count drops to zero).
func (s *Server) Collect() { s.table.collect() }

// Serve accepts and serves connections until the server shuts down, then
// returns ErrShutdown. It calls Listen first if needed.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.ln == nil && !s.closing {
		s.mu.Unlock()
		if err := s.Listen(); err != nil {
			return err
		}
		s.mu.Lock()
	}
	if s.closing {
		s.mu.Unlock()
		return ErrShutdown
	}
	if s.serving {
		s.mu.Unlock()
		return fmt.Errorf("%w: Serve called twice", ErrConfig)
	}
	s.serving = true
	ln := s.ln
	s.wg.Add(2)
	s.mu.Unlock()
	go s.collector()
	go s.watcher()

	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-s.done:
				return ErrShutdown
			default:
			}
			if errors.Is(err, pipe.ErrClosed) {
				return ErrShutdown
			}
			// Out of descriptors and the like: back off, as net/http does.
			if delay == 0 {
				delay = 5 * time.Millisecond
			} else if delay *= 2; delay > time.Second {
				delay = time.Second
			}
			s.logf("accept: %v", err)
			select {
			case <-time.After(delay):
			case <-s.done:
				return ErrShutdown
			}
			continue
		}
		delay = 0
		s.mu.Lock()
		if s.closing || len(s.conns) >= s.cfg.MaxConnections {
			s.mu.Unlock()
			c.Close()
			continue
		}
		s.nextConn++
		sc := &serverConn{srv: s, c: c, remote: c.RemoteAddr(), id: ownerID(s.nextConn + 1)}
		sc.ctx, sc.cancel = context.WithCancel(s.ctx)
		sc.cctx = &connCtx{Context: sc.ctx, sc: sc}
		sc.in.sc = sc
		s.conns[sc] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go sc.serve()
	}
}

// Start listens (if needed) and serves in a new goroutine.
func (s *Server) Start() error {
	s.mu.Lock()
	need := s.ln == nil
	s.mu.Unlock()
	if need {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	go s.Serve()
	return nil
}

// Shutdown stops the server: it stops accepting, closes every connection
// (clients blocked in a call get an error at once) and waits, until ctx is
// done, for the connections' goroutines to finish. It may be called more
// than once and from several goroutines; every call waits the same way.
func (s *Server) Shutdown(ctx context.Context) error {
	s.beginShutdown()
	select {
	case <-s.closed:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// shuttingDown reports whether the shutdown has begun.
func (s *Server) shuttingDown() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// testHookShutdown, when set (by tests), runs in beginShutdown once the
// shutdown has begun (done is closed) and before any connection is shut.
var testHookShutdown func()

// testHookDropped, when set (by tests), runs when a serving goroutine drops
// a request because the shutdown has begun.
var testHookDropped func()

// beginShutdown starts the shutdown once and returns at once.
func (s *Server) beginShutdown() {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return
	}
	s.closing = true
	close(s.done)
	if testHookShutdown != nil {
		testHookShutdown()
	}
	s.cancel()
	if s.ln != nil {
		s.ln.Close()
	}
	for sc := range s.conns {
		sc.shut()
	}
	tmp := s.tmpDir
	s.mu.Unlock()
	go func() {
		s.wg.Wait()
		if tmp != "" {
			os.RemoveAll(tmp)
		}
		close(s.closed)
	}()
}

// Serve runs a manager server with cfg until ctx is done or a client calls
// shutdown. ready, if not nil, is called with the server once it listens
// (to print or publish its address and authkey). Serve returns nil after an
// orderly stop.
func Serve(ctx context.Context, cfg *ServerConfig, ready func(*Server)) error {
	s, err := NewServer(cfg)
	if err != nil {
		return err
	}
	if err := s.Listen(); err != nil {
		return err
	}
	if ready != nil {
		ready(s)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	select {
	case <-ctx.Done():
	case <-s.Done():
	case err = <-errc:
		if errors.Is(err, ErrShutdown) {
			err = nil
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if serr := s.Shutdown(sctx); err == nil {
		err = serr
	}
	return err
}

func (s *Server) logf(format string, args ...any) {
	if s.cfg.ErrorLog != nil {
		s.cfg.ErrorLog(format, args...)
	}
}

// collector runs the table's collection when an entry may have become
// unreachable.
func (s *Server) collector() {
	defer s.wg.Done()
	for {
		select {
		case <-s.table.kick:
			s.table.collect()
		case <-s.done:
			return
		}
	}
}

// watcher polls the processes that hold references but have no open
// connection, and drops the references of those that died.
func (s *Server) watcher() {
	defer s.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		select {
		case <-s.done:
			t.Stop()
			return
		case <-s.watchCh:
		case <-t.C:
		}
		s.watchMu.Lock()
		s.watch = s.table.checkWatched(s.watch)
		n := len(s.watch)
		s.watchMu.Unlock()
		if n > 0 {
			t.Reset(watchInterval)
		}
	}
}

// watchInterval is how often the processes in the watch list are checked.
const watchInterval = 500 * time.Millisecond

// watchHolder adds h to the watch list.
func (s *Server) watchHolder(h *holder) {
	s.watchMu.Lock()
	s.watch = append(s.watch, h)
	s.watchMu.Unlock()
	select {
	case s.watchCh <- struct{}{}:
	default:
	}
}

// removeConn forgets sc.
func (s *Server) removeConn(sc *serverConn) {
	s.mu.Lock()
	delete(s.conns, sc)
	s.mu.Unlock()
}

// isOwnAddress reports whether a is this server's address.
func (s *Server) isOwnAddress(a Address) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a == s.addr {
		return true
	}
	if a.Network != "tcp" || s.addr.Network != "tcp" {
		return false
	}
	h1, p1, _ := net.SplitHostPort(a.Addr)
	h2, p2, _ := net.SplitHostPort(s.addr.Addr)
	return p1 == p2 && isLoopback(h1) && isLoopback(h2)
}
