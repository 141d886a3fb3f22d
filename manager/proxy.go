//go:build linux

package manager

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/pickle"
)

// A Proxy refers to a managed object and calls its methods: Python's
// BaseProxy. It holds one reference to the object, dropped by Close (or,
// as a safety net, when the garbage collector finds the proxy unreachable).
// The typed proxies (Dict, List, Lock, Queue, ...) embed a *Proxy; use
// Call for custom types and methods they do not wrap.
//
// A Proxy may be used from several goroutines. Calls go over pooled
// connections, except for RLock and Condition proxies, which make every
// call on one connection of their own: the server makes that connection
// the owner of the lock, as CPython makes the serving thread its owner, so
// all goroutines using one such proxy share ownership (make one proxy per
// owner with Clone).
//
// A Proxy pickles (pickle.Marshal, or as an argument of a call) as Python
// pickles a proxy, so it can be stored in a managed dict or list (a nested
// proxy) and read back by Go or Python clients. To hand it to a child
// process, pass its Token and the manager's authkey; the child calls
// Manager.Proxy.
type Proxy struct {
	s *proxyState
}

// proxyState is shared by copies of a Proxy (see UnmarshalPickle).
type proxyState struct {
	life    *proxyLife
	exposed []string
	owner   bool // calls go over one dedicated connection
}

// proxyLife is what the cleanup of a collected proxy needs; it does not
// point back to the proxy.
type proxyLife struct {
	m      *Manager
	tok    Token
	closed atomic.Bool
	mu     sync.Mutex  // serializes calls on conn
	conn   *clientConn // the dedicated connection of an owner proxy
}

// ownerTypes are the typeids whose proxies need a connection of their own.
var ownerTypes = map[string]bool{"RLock": true, "Condition": true}

func (m *Manager) newProxy(tok Token, exposed []string) *Proxy {
	life := &proxyLife{m: m, tok: tok}
	s := &proxyState{life: life, exposed: exposed, owner: ownerTypes[tok.TypeID]}
	runtime.AddCleanup(s, (*proxyLife).collected, life)
	return &Proxy{s: s}
}

// collected runs when a proxy's state became unreachable.
func (l *proxyLife) collected() {
	if l.closed.Swap(true) {
		return
	}
	if l.conn != nil {
		l.conn.close()
	}
	l.m.queueDecref(l.tok)
}

// errNilProxy is the error of a nil or zero Proxy (one not made by a
// Manager).
var errNilProxy = fmt.Errorf("%w: nil or zero Proxy", ErrClosed)

// valid reports whether p was made by a Manager.
func (p *Proxy) valid() bool { return p != nil && p.s != nil }

// Token returns the token of the referent (the zero Token for a nil or
// zero Proxy).
func (p *Proxy) Token() Token {
	if !p.valid() {
		return Token{}
	}
	return p.s.life.tok
}

// TypeID returns the referent's typeid ("" for a nil or zero Proxy).
func (p *Proxy) TypeID() string { return p.Token().TypeID }

// Exposed returns the methods the server exposes for the referent, as
// create or get_methods reported them (nil for a nil or zero Proxy).
func (p *Proxy) Exposed() []string {
	if !p.valid() {
		return nil
	}
	return append([]string(nil), p.s.exposed...)
}

// Manager returns the manager the proxy talks to (nil for a nil or zero
// Proxy).
func (p *Proxy) Manager() *Manager {
	if !p.valid() {
		return nil
	}
	return p.s.life.m
}

// Close drops the proxy's reference (a decref); the server deletes the
// object when no reference is left. Calls after Close fail with ErrClosed.
// Close is idempotent.
func (p *Proxy) Close() error {
	if !p.valid() {
		return errNilProxy
	}
	l := p.s.life
	if l.closed.Swap(true) {
		return nil
	}
	l.mu.Lock()
	if l.conn != nil {
		l.conn.close()
		l.conn = nil
	}
	l.mu.Unlock()
	if l.m.closed.Load() {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := l.m.public(ctx, callDecref, l.tok.ID)
	return err
}

// Clone returns a new proxy for the same referent, with a reference (and,
// for RLock and Condition, a connection and thus an ownership) of its own.
func (p *Proxy) Clone(ctx context.Context) (*Proxy, error) {
	if !p.valid() {
		return nil, errNilProxy
	}
	l := p.s.life
	if l.closed.Load() {
		return nil, ErrClosed
	}
	if _, err := l.m.public(ctx, callIncref, l.tok.ID); err != nil {
		return nil, err
	}
	return l.m.newProxy(l.tok, p.s.exposed), nil
}

// Call calls method on the referent with positional arguments and returns
// the result in pickle's value model, with pickled proxies in it turned
// into *Proxy values (each holding a reference). Arguments may be model
// values, ordinary Go values (as pickle.Marshal takes them) or proxies.
// A method raising an exception returns a *PyError; a server-side failure
// a *RemoteError.
func (p *Proxy) Call(ctx context.Context, method string, args ...any) (any, error) {
	return p.CallKw(ctx, method, args, nil)
}

// CallKw is Call with keyword arguments.
func (p *Proxy) CallKw(ctx context.Context, method string, args []any, kwargs []Kwarg) (any, error) {
	kind, res, err := p.roundTrip(ctx, method, args, kwargs)
	if err != nil {
		return nil, err
	}
	m := p.s.life.m
	switch kind {
	case kindReturn:
		return m.adopt(ctx, res)
	case kindProxy:
		return m.proxyFromReply(res)
	}
	return nil, replyError(kind, res)
}

// call is Call decoding into out (nil: discard).
func (p *Proxy) call(ctx context.Context, out any, method string, args ...any) error {
	v, err := p.Call(ctx, method, args...)
	if err != nil || out == nil {
		return err
	}
	return decodeInto(v, out)
}

// decodeInto stores a result in out as pickle.UnmarshalValue does.
func decodeInto(v, out any) error {
	if err := pickle.UnmarshalValue(v, out); err != nil {
		return fmt.Errorf("manager: %w", err)
	}
	return nil
}

// roundTrip sends one method call and returns the raw reply.
func (p *Proxy) roundTrip(ctx context.Context, method string, args []any, kwargs []Kwarg) (string, any, error) {
	if !p.valid() {
		return "", nil, errNilProxy
	}
	l := p.s.life
	if l.closed.Load() || l.m.closed.Load() {
		return "", nil, ErrClosed
	}
	req := pickle.Tuple{l.tok.ID, method, pickle.Tuple(args), kwDict(kwargs)}
	if p.s.owner {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.conn == nil || l.conn.broken {
			if l.conn != nil {
				l.conn.close()
			}
			c, err := l.m.conn(ctx)
			if err != nil {
				return "", nil, err
			}
			l.conn = c
		}
		return l.conn.roundTrip(ctx, l.m, req)
	}
	if c := l.m.idle(); c != nil {
		kind, res, sent, err := c.roundTripSent(ctx, l.m, req)
		l.m.put(c)
		if err == nil || sent {
			return kind, res, err
		}
		// The idle connection was dead (the server closed it): the
		// request did not leave; send it on a new connection.
	}
	c, err := l.m.newConn(ctx)
	if err != nil {
		return "", nil, err
	}
	kind, res, err := c.roundTrip(ctx, l.m, req)
	l.m.put(c)
	return kind, res, err
}

// Value returns a copy of the referent (Python's _getvalue()) decoded into
// out as pickle.UnmarshalValue does.
func (p *Proxy) Value(ctx context.Context, out any) error {
	return p.call(ctx, out, methodGetValue)
}

// Repr returns the referent's repr, as str(proxy) shows it in Python.
func (p *Proxy) Repr(ctx context.Context) (string, error) {
	var s string
	err := p.call(ctx, &s, "__repr__")
	return s, err
}

// String describes the proxy as Python's repr(proxy) does (it does not
// call the server; see Repr).
func (p *Proxy) String() string {
	if !p.valid() {
		return "<invalid manager proxy>"
	}
	return fmt.Sprintf("<%s object, typeid %s at %#x>", p.proxyClass(), reprStr(p.TypeID()), p.addr())
}

func (p *Proxy) addr() uint64 { return idAddr(p.s.life.tok.ID) }

// pythonProxyClass maps SyncManager's typeids to their Python proxy class.
var pythonProxyClass = map[string]string{}

func init() {
	for _, t := range syncTypes() {
		if t.Proxy != "" {
			pythonProxyClass[t.TypeID] = t.Proxy
		}
	}
}

func (p *Proxy) proxyClass() string {
	if c, ok := pythonProxyClass[p.TypeID()]; ok {
		return c
	}
	return nameAutoProxy
}

// MarshalPickle pickles the proxy as Python's BaseProxy.__reduce__ does:
// RebuildProxy(ProxyClass, token, 'pickle', kwds).
func (p *Proxy) MarshalPickle() (any, error) {
	if p == nil || p.s == nil {
		return pickle.None, nil
	}
	return rebuildObject(p.proxyClass(), p.s.life.tok, p.s.exposed), nil
}

// UnmarshalPickle makes the proxy share a proxy decoded by this package
// (a *Proxy in a call's result); it fails for other values, and for a nil
// *Proxy (the one a zero Dict, List... embeds: decode into a *Proxy
// variable and wrap it, &List{Proxy: p}).
func (p *Proxy) UnmarshalPickle(v any) error {
	src, ok := v.(*Proxy)
	if !ok {
		return fmt.Errorf("manager: cannot unmarshal %s into a Proxy", pickle.TypeName(v))
	}
	if p == nil {
		return fmt.Errorf("manager: cannot unmarshal a proxy into a nil *Proxy (decode into a *Proxy variable)")
	}
	p.s = src.s
	return nil
}

// proxyFromReply builds the proxy of a '#PROXY' reply: (exposed, token).
// The server made the object with one reference, which the proxy takes
// over (Python's client increfs and then decrefs it: the same count).
func (m *Manager) proxyFromReply(res any) (*Proxy, error) {
	t, ok := res.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return nil, fmt.Errorf("%w: '#PROXY' result is %s", ErrProtocol, pickle.TypeName(res))
	}
	tok, ok := tokenOf(t[1])
	if !ok {
		return nil, fmt.Errorf("%w: '#PROXY' result holds no Token", ErrProtocol)
	}
	tok.Address = m.addr
	return m.newProxy(tok, stringsOf(t[0])), nil
}

// adopt turns the pickled proxies in a result into *Proxy values, taking a
// reference for each (Python's RebuildProxy increfs).
func (m *Manager) adopt(ctx context.Context, v any) (any, error) {
	if scalar(v) {
		return v, nil
	}
	a := adopter{m: m, ctx: ctx}
	out := a.walk(v)
	return out, a.err
}

type adopter struct {
	m    *Manager
	ctx  context.Context
	err  error
	seen map[any]bool
}

func (a *adopter) visit(p any) bool {
	if a.seen == nil {
		a.seen = make(map[any]bool)
	}
	if a.seen[p] {
		return false
	}
	a.seen[p] = true
	return true
}

func (a *adopter) walk(v any) any {
	if a.err != nil {
		return v
	}
	switch x := v.(type) {
	case pickle.Tuple:
		for i, it := range x {
			x[i] = a.walk(it)
		}
	case *pickle.List:
		if a.visit(x) {
			for i, it := range x.Items {
				x.Items[i] = a.walk(it)
			}
		}
	case *pickle.Dict:
		if a.visit(x) {
			for _, it := range x.Items() {
				if nv := a.walk(it.Value); nv != it.Value {
					x.Set(it.Key, nv)
				}
			}
		}
	case *pickle.Object:
		if !a.visit(x) {
			return v
		}
		if ref, ok := proxyRefOf(x); ok {
			p, err := a.m.rebuild(a.ctx, ref)
			if err != nil {
				a.err = err
				return v
			}
			return p
		}
		for i, it := range x.Args {
			x.Args[i] = a.walk(it)
		}
		if x.State != nil {
			x.State = a.walk(x.State)
		}
		for i, it := range x.ListItems {
			x.ListItems[i] = a.walk(it)
		}
		for i, it := range x.DictItems {
			x.DictItems[i].Value = a.walk(it.Value)
		}
	}
	return v
}

// rebuild makes a proxy for a pickled one, on the manager of its address.
func (m *Manager) rebuild(ctx context.Context, ref proxyRef) (*Proxy, error) {
	target := m
	if ref.token.Address != m.addr && !m.sameServer(ref.token.Address) {
		var err error
		if target, err = m.peer(ctx, ref.token.Address); err != nil {
			return nil, err
		}
	}
	if _, err := target.public(ctx, callIncref, ref.token.ID); err != nil {
		return nil, err
	}
	var exposed []string
	if ref.kwds != nil {
		if ex, ok := ref.kwds.Get("exposed"); ok {
			exposed = stringsOf(ex)
		}
	}
	tok := ref.token
	tok.Address = target.addr
	return target.newProxy(tok, exposed), nil
}

// sameServer reports whether a names this manager's server by another
// spelling (localhost for 127.0.0.1, say).
func (m *Manager) sameServer(a Address) bool {
	if a.Network != m.addr.Network {
		return false
	}
	if a.Network == "unix" {
		return a.Addr == m.addr.Addr
	}
	h1, p1, err1 := net.SplitHostPort(a.Addr)
	h2, p2, err2 := net.SplitHostPort(m.addr.Addr)
	return err1 == nil && err2 == nil && p1 == p2 && (h1 == h2 || (isLoopback(h1) && isLoopback(h2)))
}
