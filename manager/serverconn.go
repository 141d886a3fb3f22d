//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mproc/mproc/pickle"
	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/shm"
)

// ownerID identifies a server connection: the owner of an RLock.
type ownerID uint64

// serverConn is one accepted connection. Its life: handshake, one public
// request; then, for accept_connection and mproc_session, a stream of
// requests served in order until the client closes it.
type serverConn struct {
	srv    *Server
	c      *pipe.Conn // the handshake's; closed once wc takes its descriptor
	wc     *wireConn  // the connection after the handshake (set under srv.mu)
	remote net.Addr
	id     ownerID
	ctx    context.Context // cancelled when the client goes away or the server shuts down
	cancel context.CancelFunc

	cctx *connCtx // ctx for calls
	in   inbox    // the receive side while a reader goroutine owns it

	holder  *holder // who owns the references this connection takes (nil: unowned)
	session bool

	// Guarded by srv.table.mu.
	pinned map[*entry]int

	// Only touched by the serving goroutine.
	locks map[condLock]bool // RLocks this connection may own, released when it closes
	name  string
}

// request is one decoded request.
type request struct {
	ident   string // "" for a public call
	public  bool
	method  string
	args    []any
	kwargs  []Kwarg
	proxies bool  // the arguments hold pickled proxies
	err     error // a request that could not be read or was refused
}

// serve runs the connection to its end.
func (sc *serverConn) serve() {
	s := sc.srv
	defer s.wg.Done()
	defer sc.close()
	if s.cfg.HandshakeTimeout > 0 {
		sc.c.SetDeadline(time.Now().Add(s.cfg.HandshakeTimeout))
	}
	err := sc.c.DeliverChallenge(s.authkey)
	if err == nil {
		err = sc.c.AnswerChallenge(s.authkey)
	}
	if err != nil {
		s.logf("connection from %s: %v", sc.peer(), err)
		return
	}
	if !sc.takeOver() {
		return
	}
	req := sc.read()
	if req.err != nil {
		sc.refuse(req.err)
		return
	}
	if s.shuttingDown() {
		// As in loop: nothing is served once the shutdown has begun.
		if testHookDropped != nil {
			testHookDropped()
		}
		return
	}
	// CPython: "ignore, funcname, args, kwds = request", then the
	// funcname check: the first request names a public function whatever
	// its ident (public's default answers any other name).
	switch req.method {
	case callAcceptConnection:
		a, err := bindSelf("accept_connection", req.args, req.kwargs, []string{"name"}, nil, false, 2)
		if err != nil {
			sc.fail(err)
			return
		}
		sc.name, _ = a[0].(string)
		sc.attribute()
		if sc.send(kindReturn, pickle.None) != nil {
			return
		}
		sc.loop(false)
	case callSession:
		a, err := bindSelf(callSession, req.args, req.kwargs, []string{"session"}, nil, false, 2)
		if err != nil {
			sc.fail(err)
			return
		}
		id, ok := a[0].(string)
		if !ok || id == "" || len(id) > 128 {
			sc.traceback("TypeError: mproc_session expects a non-empty str session id")
			return
		}
		sc.session = true
		sc.holder = s.table.holderFor("session:"+id, nil)
		info := pickle.NewDict()
		info.Set("server", "mproc")
		info.Set("version", int64(sessionVersion))
		info.Set("address", s.pyAddr)
		if sc.send(kindReturn, info) != nil {
			return
		}
		sc.loop(true)
	default:
		kind, result := sc.public(req)
		sc.send(kind, result)
		if req.method == callShutdown && kind == kindReturn {
			s.beginShutdown()
		}
	}
}

// attribute makes the connection's references owned by its process, when
// the peer is a process on this host (Unix socket peer credentials).
func (sc *serverConn) attribute() {
	if sc.holder != nil {
		return
	}
	fd := sc.fileno()
	if fd < 0 || sc.srv.addr.Network != "unix" {
		return
	}
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil || cred.Pid <= 0 {
		return
	}
	id, err := shm.IdentityOf(int(cred.Pid))
	if err != nil {
		return
	}
	sc.holder = sc.srv.table.holderFor("process:"+id.String(), id.Alive)
}

// peer describes the client for the error log: its address, or its pid
// on a Unix socket.
func (sc *serverConn) peer() string {
	if fd := sc.fileno(); fd >= 0 && sc.srv.addr.Network == "unix" {
		if cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil && cred.Pid > 0 {
			return "pid " + strconv.Itoa(int(cred.Pid))
		}
	}
	if sc.remote != nil {
		return sc.remote.String()
	}
	return "?"
}

// takeOver moves the connection from its pipe.Conn to a wireConn, unless
// the server is shutting down.
func (sc *serverConn) takeOver() bool {
	s := sc.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return false
	}
	wc, err := newWireConn(sc.c, s.cfg.MaxMessageSize)
	if err != nil {
		s.logf("connection from %s: %v", sc.peer(), err)
		return false
	}
	sc.wc = wc
	return true
}

// fileno returns the connection's descriptor (-1 once closed).
func (sc *serverConn) fileno() int {
	if sc.wc != nil {
		return sc.wc.fileno()
	}
	return sc.c.Fileno()
}

// shut closes the connection from another goroutine (the server shutting
// down); the caller holds srv.mu.
func (sc *serverConn) shut() {
	if sc.wc != nil {
		sc.wc.close()
	} else {
		sc.c.Close()
	}
}

// close ends the connection: its blocked calls return, its pins and RLocks
// are released, and its holder learns it is gone.
func (sc *serverConn) close() {
	sc.cancel()
	s := sc.srv
	s.mu.Lock()
	wc := sc.wc
	s.mu.Unlock()
	if wc != nil {
		wc.flush()
		wc.close()
	} else {
		sc.c.Close()
	}
	s.table.unpinConn(sc)
	for l := range sc.locks {
		l.ownerGone(sc.id)
	}
	if sc.holder != nil {
		watch, expire := s.table.connClosed(sc.holder)
		if watch {
			s.watchHolder(sc.holder)
		}
		if expire {
			h := sc.holder
			if s.cfg.SessionGrace <= 0 {
				s.table.expireSession(h)
			} else {
				time.AfterFunc(s.cfg.SessionGrace, func() { s.table.expireSession(h) })
			}
		}
	}
	s.removeConn(sc)
}

// holds records that the connection may own l (an RLock), to release it
// if the connection closes while owning it.
func (sc *serverConn) holds(l condLock) {
	if sc == nil {
		return
	}
	if _, ok := l.(*rlockObj); !ok {
		return
	}
	if sc.locks == nil {
		sc.locks = make(map[condLock]bool)
	}
	sc.locks[l] = true
}

// pinLocked and unpinLocked keep the set of entries this connection pins;
// the table's lock is held.
func (sc *serverConn) pinLocked(e *entry) {
	if sc.pinned == nil {
		sc.pinned = make(map[*entry]int)
	}
	sc.pinned[e]++
}

func (sc *serverConn) unpinLocked(e *entry) {
	if sc.pinned[e]--; sc.pinned[e] <= 0 {
		delete(sc.pinned, e)
	}
}

// read receives and decodes one request.
func (sc *serverConn) read() request {
	b, err := sc.wc.recv()
	if err != nil {
		return request{err: err}
	}
	return sc.srv.decode(b)
}

// decode parses a request: (ident, methodname, args, kwds).
func (s *Server) decode(b []byte) request {
	var v any
	var err error
	if s.xml {
		if v, err = xmlLoads(b); err != nil {
			return request{err: &refusedError{"xml.parsers.expat.ExpatError: " + err.Error()}}
		}
	} else if v, err = pickle.LoadsWith(b, s.decOpts); err != nil {
		return request{err: &refusedError{"UnpicklingError: " + err.Error()}}
	}
	// CPython unpacks any sequence of four (the xmlrpclib serializer
	// sends lists).
	if l, ok := v.(*pickle.List); ok {
		v = pickle.Tuple(l.Items)
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 4 {
		return request{err: &refusedError{fmt.Sprintf("ValueError: a request is a tuple (ident, methodname, args, kwds), not %s", pickle.TypeName(v))}}
	}
	var req request
	switch id := t[0].(type) {
	case pickle.NoneType:
		req.public = true
	case string:
		req.ident = id
	default:
		return request{err: &refusedError{"TypeError: request ident must be None or str, not " + typeName(t[0])}}
	}
	if req.method, ok = t[1].(string); !ok {
		return request{err: &refusedError{"TypeError: request method name must be a str, not " + typeName(t[1])}}
	}
	if l, ok := t[2].(*pickle.List); ok {
		t[2] = pickle.Tuple(l.Items)
	}
	args, ok := t[2].(pickle.Tuple)
	if !ok {
		return request{err: &refusedError{"TypeError: request args must be a tuple, not " + typeName(t[2])}}
	}
	req.args = args
	kw, ok := t[3].(*pickle.Dict)
	if !ok {
		return request{err: &refusedError{"TypeError: request kwds must be a dict, not " + typeName(t[3])}}
	}
	if req.kwargs, err = kwargsOf(kw); err != nil {
		return request{err: &refusedError{err.Error()}}
	}
	// Check calls and find proxies, unless every argument is a plain
	// value (the common case).
	plain := true
	for _, a := range args {
		if !scalar(a) {
			plain = false
			break
		}
	}
	for _, kw := range req.kwargs {
		if !scalar(kw.Value) {
			plain = false
			break
		}
	}
	if !plain {
		in := inspector{allow: s.allow}
		if err := in.walk(args); err != nil {
			return request{err: err}
		}
		if err := in.walk(kw); err != nil {
			return request{err: err}
		}
		req.proxies = in.proxies
	}
	return req
}

// loop serves requests on the connection until it closes, in order, in
// this goroutine: read a request, run it, hold its reply; the held replies
// are written when no further request is waiting (so a pipelined batch is
// answered with one write, and a lone request at once). One thread wakes per
// request, as in CPython's thread-per-connection server.
//
// A call that waits (Lock.acquire, Queue.get, ...) needs the connection
// watched while it waits, to see the client go away (its call is then
// abandoned) and to take the requests it pipelined: when it is about to
// sleep (connCtx.waiting) the held replies are written and a reader
// goroutine takes over the receive side until the call has returned and the
// reader has handed over one more request (see inbox). session allows public
// calls on the connection (mproc sessions).
func (sc *serverConn) loop(session bool) {
	defer sc.in.shutdown()
	for {
		req, ok := sc.next()
		if !ok {
			return
		}
		if req.err != nil {
			if !isEOF(req.err) {
				sc.refuse(req.err)
			}
			return
		}
		if sc.srv.shuttingDown() {
			// Shutdown shuts the connections one by one; a request read
			// on one not yet shut is not served, or a client that saw
			// its other calls fail with the server gone could find a
			// later call answered.
			if testHookDropped != nil {
				testHookDropped()
			}
			return
		}
		var kind string
		var result any
		if req.public {
			if !session || req.method == callAcceptConnection || req.method == callSession {
				kind, result = kindTraceback, tracebackText(fmt.Sprintf("AssertionError: %s unrecognized", reprStr(req.method)))
			} else {
				kind, result = sc.public(req)
			}
		} else {
			var gone bool
			kind, result, gone = sc.method(req)
			sc.in.release()
			if gone {
				return
			}
		}
		if sc.hold(kind, result) != nil {
			return
		}
		if req.public && req.method == callShutdown && kind == kindReturn {
			sc.wc.flush()
			sc.srv.beginShutdown()
			return
		}
	}
}

// next returns the next request: from the reader goroutine's queue while
// one runs, else read here. Before it may block, it writes the held
// replies (the client may be waiting for them to send more). ok is false
// when the connection is done.
func (sc *serverConn) next() (request, bool) {
	for {
		req, reading, ok := sc.in.take()
		if ok {
			return req, true
		}
		if !reading {
			if !sc.wc.buffered() && sc.wc.flush() != nil {
				return request{}, false
			}
			return sc.read(), true
		}
		// A reader runs and has nothing yet: write what is held, wait.
		if sc.wc.flush() != nil {
			return request{}, false
		}
		if !sc.in.wait() {
			return request{}, false
		}
	}
}

// inbox is the receive side of a connection while a reader goroutine owns
// it (during a call that waits, and until that reader has handed over the
// request after it). State, guarded by mu: q holds requests read and not yet
// taken; reading says a reader goroutine runs (only then may q grow, and
// only then does the serving goroutine not read itself); watch says a call
// is waiting, so the reader goes on after each request rather than stop.
// The reader stops (reading = false) after queueing a request while watch is
// false, or after an error (end of stream: it then cancels the connection's
// context so that no queued call waits).
type inbox struct {
	sc      *serverConn
	mu      sync.Mutex
	q       []request
	reading bool
	watch   bool
	closed  bool          // the serving loop has ended: the reader stops
	ready   chan struct{} // signalled (capacity 1) when q grows or the reader stops
	room    chan struct{} // signalled (capacity 1) when q shrinks
}

// maxAhead bounds the requests a reader queues.
const maxAhead = 64

// take returns the first queued request (ok), or reports whether a reader
// runs.
func (in *inbox) take() (req request, reading, ok bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.q) > 0 {
		req = in.q[0]
		in.q[0] = request{}
		in.q = in.q[1:]
		if len(in.q) == 0 {
			in.q = nil
		}
		select {
		case in.room <- struct{}{}:
		default:
		}
		return req, in.reading, true
	}
	return request{}, in.reading, false
}

// wait waits for the reader to queue a request or stop; false means the
// server is shutting down.
func (in *inbox) wait() bool {
	select {
	case <-in.ready:
		return true
	case <-in.sc.srv.done:
		return false
	}
}

// watchWhileWaiting starts a reader (if none runs) that keeps reading
// until release: a call is about to wait.
func (in *inbox) watchWhileWaiting() {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.watch = true
	if in.reading || in.closed {
		return
	}
	in.reading = true
	if in.ready == nil {
		in.ready = make(chan struct{}, 1)
		in.room = make(chan struct{}, 1)
	}
	go in.read()
}

// release ends the watch of a call: the reader stops after its next
// request.
func (in *inbox) release() {
	in.mu.Lock()
	in.watch = false
	in.mu.Unlock()
}

// shutdown stops the reader at its next request.
func (in *inbox) shutdown() {
	in.mu.Lock()
	in.closed, in.watch = true, false
	in.mu.Unlock()
}

// read is the reader goroutine.
func (in *inbox) read() {
	sc := in.sc
	for {
		req := sc.read()
		in.mu.Lock()
		in.q = append(in.q, req)
		stop := req.err != nil || !in.watch || in.closed
		if stop {
			in.reading = false
		}
		full := len(in.q) >= maxAhead
		in.mu.Unlock()
		if req.err != nil {
			// The end of the stream: the queued calls run with a
			// cancelled context, so that none waits.
			sc.cancel()
		}
		select {
		case in.ready <- struct{}{}:
		default:
		}
		if stop {
			return
		}
		for full {
			select {
			case <-in.room:
			case <-sc.ctx.Done():
				in.mu.Lock()
				in.reading = false
				in.mu.Unlock()
				select {
				case in.ready <- struct{}{}:
				default:
				}
				return
			}
			in.mu.Lock()
			full = len(in.q) >= maxAhead
			in.mu.Unlock()
		}
	}
}

// connCtx is the context of the calls served on a connection: the
// connection's, plus the hook a waitList calls before a call sleeps.
type connCtx struct {
	context.Context
	sc *serverConn
}

// waiting is called by a call about to sleep, in the serving goroutine
// (with no object's mutex held): the replies held so far go out, and the
// connection is watched while the call sleeps.
func (c *connCtx) waiting() {
	c.sc.wc.flush()
	c.sc.in.watchWhileWaiting()
}

// waiter is what waitList.wait looks for in its context.
type waiter interface{ waiting() }

func isEOF(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, pipe.ErrClosed) ||
		errors.Is(err, unix.ECONNRESET)
}

// refuse answers a request that could not be accepted, if it can, and
// logs it; the caller then closes the connection.
func (sc *serverConn) refuse(err error) {
	if isEOF(err) {
		return
	}
	sc.srv.logf("connection from %s closed: %v", sc.peer(), err)
	var re *refusedError
	if errors.As(err, &re) {
		sc.traceback(re.msg)
	}
}

// fail sends a public call's error as a traceback.
func (sc *serverConn) fail(err error) {
	sc.send(kindTraceback, tracebackText(exceptionLine(err)))
}

func (sc *serverConn) traceback(line string) {
	sc.send(kindTraceback, tracebackText(line))
}

// send pickles and sends (kind, result) at once.
func (sc *serverConn) send(kind string, result any) error {
	if err := sc.hold(kind, result); err != nil {
		return err
	}
	return sc.wc.flush()
}

// hold pickles (kind, result) and holds it for the next flush. A result
// that cannot be pickled is replaced by '#UNSERIALIZABLE' and the error's
// text, as CPython does.
func (sc *serverConn) hold(kind string, result any) error {
	b, err := sc.srv.dumps(pickle.Tuple{kind, result})
	if err != nil {
		line := err.Error()
		if !sc.srv.xml {
			line = "TypeError: " + line
		}
		b, err = sc.srv.dumps(pickle.Tuple{kindUnserializable, tracebackText(line)})
		if err != nil {
			return err
		}
	}
	return sc.wc.add(b)
}

// dumps encodes a reply with the server's serializer.
func (s *Server) dumps(v any) ([]byte, error) {
	if s.xml {
		return xmlDumps(v)
	}
	return pickle.Dumps(v, pickleProtocol)
}

// tracebackText renders an exception line as the text of a '#TRACEBACK'
// (Python's format_exc()).
func tracebackText(line string) string {
	return "Traceback (most recent call last):\n  File \"<mproc manager server>\", in serve_client\n" + line + "\n"
}

// exceptionLine is the last line of a traceback for err.
func exceptionLine(err error) string {
	var pe *PyError
	if errors.As(err, &pe) {
		return pe.Error()
	}
	return err.Error()
}

// newCall returns the Call for a request.
func (sc *serverConn) newCall(method string, args []any, kwargs []Kwarg) *Call {
	return &Call{Method: method, Args: args, Kwargs: kwargs, ctx: sc.cctx, conn: sc, srv: sc.srv}
}

// public serves a public call and returns the reply. Errors are
// '#TRACEBACK's, as in CPython.
func (sc *serverConn) public(req request) (string, any) {
	s := sc.srv
	fail := func(err error) (string, any) { return kindTraceback, tracebackText(exceptionLine(err)) }
	params := func(names ...string) ([]any, error) {
		return bindSelf(req.method, req.args, req.kwargs, names, nil, false, 2)
	}
	switch req.method {
	case callDummy:
		if _, err := params(); err != nil {
			return fail(err)
		}
		return kindReturn, pickle.None
	case callCreate:
		if len(req.args) == 0 {
			return fail(pyErr(excTypeError, "create() missing 1 required positional argument: 'typeid'"))
		}
		typeid, ok := req.args[0].(string)
		if !ok {
			return fail(pyErrf(excTypeError, "typeid must be a str, not %s", typeName(req.args[0])))
		}
		sc.attribute()
		e, err := s.create(sc, typeid, req.args[1:], req.kwargs, req.proxies)
		if err != nil {
			return fail(err)
		}
		return kindReturn, pickle.Tuple{e.id, stringsTuple(e.expose)}
	case callIncref, callDecref:
		a, err := params("ident")
		if err != nil {
			return fail(err)
		}
		id, ok := a[0].(string)
		if !ok {
			return fail(pyErr(excKeyError, a[0]))
		}
		sc.attribute()
		if req.method == callIncref {
			err = s.table.incref(id, sc.holder)
		} else {
			err = s.table.decref(id, sc.holder)
		}
		if err != nil {
			return fail(err)
		}
		return kindReturn, pickle.None
	case callGetMethods:
		a, err := params("token")
		if err != nil {
			return fail(err)
		}
		tok, ok := tokenOf(a[0])
		if !ok {
			return fail(pyErrf(excAttributeError, "'%s' object has no attribute 'id'", typeName(a[0])))
		}
		e, ok := s.table.get(tok.ID)
		if !ok {
			return fail(pyErr(excKeyError, tok.ID))
		}
		names := make([]string, 0, len(e.exposed))
		for m := range e.exposed {
			names = append(names, m)
		}
		sort.Strings(names)
		return kindReturn, stringsTuple(names)
	case callNumberOfObjects:
		if _, err := params(); err != nil {
			return fail(err)
		}
		return kindReturn, int64(s.NumObjects())
	case callDebugInfo:
		if _, err := params(); err != nil {
			return fail(err)
		}
		return kindReturn, s.debugInfo()
	case callShutdown:
		if _, err := params(); err != nil {
			return fail(err)
		}
		return kindReturn, pickle.None
	}
	return kindTraceback, tracebackText(fmt.Sprintf("AssertionError: %s unrecognized", reprStr(req.method)))
}

// create makes a new object of typeid with one reference owned by sc's
// holder (the public call create, and '#PROXY' results).
func (s *Server) create(sc *serverConn, typeid string, args []any, kwargs []Kwarg, nested bool) (*entry, error) {
	typ, ok := s.registry.Lookup(typeid)
	if !ok {
		return nil, pyErr(excKeyError, typeid)
	}
	if typ.New == nil && typ.builtin == nil && (len(args) != 1 || len(kwargs) > 0) {
		// CPython's create for a type registered without a callable.
		return nil, pyErr(excValueError, "Without callable, must have one non-keyword argument")
	}
	if typ.NoCreate || (typ.New == nil && typ.builtin == nil) {
		return nil, pyErrf(excTypeError, "objects of type %s cannot be created by clients", reprStr(typeid))
	}
	if typ.Shared {
		return s.createShared(sc, typ, args, kwargs, nested)
	}
	return s.createNew(sc, typ, args, kwargs, nested)
}

// createShared returns a new reference to the one object of a Shared
// type, making it at the first create.
func (s *Server) createShared(sc *serverConn, typ *Type, args []any, kwargs []Kwarg, nested bool) (*entry, error) {
	s.sharedMu.Lock()
	defer s.sharedMu.Unlock()
	e, ok := s.shared[typ.TypeID]
	if ok {
		var h *holder
		if sc != nil {
			h = sc.holder
		}
		if s.table.incref(e.id, h) == nil {
			return e, nil
		}
		// Its entry was deleted (no reference left): the same object,
		// under a new id.
		ne, err := s.enter(sc, typ, e.obj, nested)
		if err != nil {
			return nil, err
		}
		s.shared[typ.TypeID] = ne
		return ne, nil
	}
	e, err := s.createNew(sc, typ, args, kwargs, nested)
	if err != nil {
		return nil, err
	}
	if s.shared == nil {
		s.shared = make(map[string]*entry)
	}
	s.shared[typ.TypeID] = e
	return e, nil
}

// createNew makes a new object of typ.
func (s *Server) createNew(sc *serverConn, typ *Type, args []any, kwargs []Kwarg, nested bool) (*entry, error) {
	typeid := typ.TypeID
	c := sc.newCall(typeid, args, kwargs)
	var ref referent
	if typ.builtin != nil {
		r, err := typ.builtin(c)
		if err != nil {
			return nil, err
		}
		ref = r
	} else {
		c.fn = typeid + ".__init__"
		obj, err := typ.New(c)
		if err != nil {
			return nil, err
		}
		if obj == nil {
			return nil, pyErrf(excTypeError, "the constructor of %s returned no object", reprStr(typeid))
		}
		ref = &objectReferent{typeid: typeid, obj: obj}
	}
	return s.enter(sc, typ, ref, nested)
}

// enter puts a new referent in the table.
func (s *Server) enter(sc *serverConn, typ *Type, ref referent, nested bool) (*entry, error) {
	exposed, err := typ.exposedFor(ref)
	if err != nil {
		return nil, err
	}
	var h *holder
	if sc != nil {
		h = sc.holder
	}
	return s.table.add(typ, ref, exposed, typ.MethodToTypeID, h, nested), nil
}

// method serves a method call; gone reports that the connection went away
// during it (nothing is to be sent).
func (sc *serverConn) method(req request) (kind string, result any, gone bool) {
	s := sc.srv
	e, ok := s.table.get(req.ident)
	if !ok {
		return kindTraceback, tracebackText("KeyError: " + reprStr(req.ident)), false
	}
	if !e.exposed[req.method] {
		return sc.fallback(e, req)
	}
	if req.proxies {
		s.table.markNested(e)
	}
	if mayBlock(e.obj) {
		// A custom object's method may wait on anything: watch the
		// connection for the whole call.
		if sc.wc.flush() != nil {
			return "", nil, true
		}
		sc.in.watchWhileWaiting()
	}
	c := sc.newCall(req.method, req.args, req.kwargs)
	res, err := e.obj.call(c)
	if err != nil {
		var pe *PyError
		var na *noAttrError
		switch {
		case errors.As(err, &pe):
			return kindError, pe.object(), false
		case errors.As(err, &na):
			return kindTraceback, lookupFailed(na.Error(), req.method), false
		case sc.ctx.Err() != nil:
			return "", nil, true
		}
		return kindTraceback, tracebackText(exceptionLine(err)), false
	}
	if typeid, ok := e.mtt[req.method]; ok {
		return sc.proxyResult(typeid, res, e.nested)
	}
	if e.nested {
		sc.pinProxies(res)
	}
	return kindReturn, res, false
}

// proxyResult makes a new object of typeid from a method's result and
// returns the '#PROXY' reply for it.
func (sc *serverConn) proxyResult(typeid string, res any, nested bool) (string, any, bool) {
	s := sc.srv
	typ, ok := s.registry.Lookup(typeid)
	if !ok {
		return kindTraceback, tracebackText("KeyError: " + reprStr(typeid)), false
	}
	var ref referent
	switch r := res.(type) {
	case referent:
		ref = r
	case Object:
		if typ.New == nil {
			ref = &objectReferent{typeid: typeid, obj: r}
		}
	}
	if ref == nil {
		c := sc.newCall(typeid, []any{res}, nil)
		var err error
		switch {
		case typ.builtin != nil:
			ref, err = typ.builtin(c)
		case typ.New != nil:
			var obj Object
			c.fn = typeid + ".__init__"
			if obj, err = typ.New(c); err == nil {
				ref = &objectReferent{typeid: typeid, obj: obj}
			}
		default:
			err = pyErrf(excTypeError, "cannot make a %s from a %s", reprStr(typeid), typeName(res))
		}
		if err != nil {
			return kindTraceback, tracebackText(exceptionLine(err)), false
		}
	}
	e, err := s.enter(sc, typ, ref, nested)
	if err != nil {
		return kindTraceback, tracebackText(exceptionLine(err)), false
	}
	tok := Token{TypeID: typeid, Address: s.Addr(), ID: e.id}
	return kindProxy, pickle.Tuple{stringsTuple(e.expose), tok.object()}, false
}

// fallback serves a method that is not exposed: Python's fallback_mapping
// (__str__, __repr__, #GETVALUE), else the AttributeError traceback.
func (sc *serverConn) fallback(e *entry, req request) (string, any, bool) {
	switch req.method {
	case "__str__":
		return kindReturn, e.obj.str(e.id), false
	case "__repr__":
		return kindReturn, e.obj.repr(e.id), false
	case methodGetValue:
		v, err := e.obj.value()
		if err != nil {
			return kindUnserializable, tracebackText(exceptionLine(err)), false
		}
		if e.nested {
			sc.pinProxies(v)
		}
		return kindReturn, v, false
	}
	names := make([]string, 0, len(e.exposed))
	for m := range e.exposed {
		names = append(names, reprStr(m))
	}
	sort.Strings(names)
	set := "set()" // repr of an empty set
	if len(names) > 0 {
		set = "{" + strings.Join(names, ", ") + "}"
	}
	return kindTraceback, lookupFailed(fmt.Sprintf("AttributeError: method %s of <class '%s'> object is not in exposed=%s",
		reprStr(req.method), e.typ.TypeID, set), req.method), false
}

// pinProxies pins the entries of this server that proxies in v refer to,
// until the client increfs them.
func (sc *serverConn) pinProxies(v any) {
	if scalar(v) {
		return
	}
	scanValue(v, func(id string) {
		if e, ok := sc.srv.table.get(id); ok {
			sc.srv.table.pin(e, sc)
		}
	})
}

// debugInfo is the public call debug_info: one entry per referenced object,
// sorted by id, as CPython formats them.
func (s *Server) debugInfo() string {
	var lines []string
	for _, ec := range s.table.referenced() {
		str := ec.e.obj.str(ec.e.id)
		if r := []rune(str); len(r) > 75 {
			str = string(r[:75])
		}
		lines = append(lines, "  "+ec.e.id+":       refcount="+strconv.FormatInt(ec.refs, 10)+"\n    "+str)
	}
	return strings.Join(lines, "\n")
}

func stringsTuple(s []string) pickle.Tuple {
	t := make(pickle.Tuple, len(s))
	for i, x := range s {
		t[i] = x
	}
	return t
}

// mayBlock reports whether methods of ref may block on anything other than
// a waitList (which calls connCtx.waiting before it sleeps): the custom
// objects, whose methods may wait on their Call's Context.
func mayBlock(ref referent) bool {
	_, custom := ref.(*objectReferent)
	return custom
}
