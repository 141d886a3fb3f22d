//go:build linux

// Package manager is Python's multiprocessing.managers for Go: a manager
// server holding shared objects (dicts, lists, locks, queues, ...) and
// clients using them through proxies, speaking Python's managers protocol
// byte for byte. A Go client works with a Go or a CPython server; an
// unmodified Python SyncManager client works with the Go server.
//
// Server side:
//
//	s, _ := manager.NewServer(&manager.ServerConfig{Address: "127.0.0.1:50000", Authkey: key})
//	s.Listen()
//	go s.Serve()            // or manager.Serve(ctx, cfg, ready)
//	...
//	s.Shutdown(ctx)
//
// Client side:
//
//	m, _ := manager.Connect(ctx, "127.0.0.1:50000", key, nil) // or manager.Start(ctx, nil)
//	d, _ := m.Dict(ctx)
//	d.Set(ctx, "a", 1)
//	var n int
//	d.Get(ctx, "a", &n)
//
// Python, against the Go server:
//
//	m = SyncManager(address=("127.0.0.1", 50000), authkey=key); m.connect()
//	d = m.dict(); d["a"] = 1
//
// The server serves SyncManager's types (SyncRegistry) with Python's
// semantics and messages: exceptions raised by a method reach the client as
// Python exception objects ('#ERROR': KeyError, queue.Empty,
// threading.BrokenBarrierError, ...), other failures as traceback text
// ('#TRACEBACK'). Custom types are registered with Registry.Register
// (Python's BaseManager.register); Type.Shared gives every create one shared
// object, as register('get_queue', callable=lambda: q) does. Locks,
// conditions, events, barriers and queues are Go objects in the server; a
// blocking call blocks only the connection that made it, and is abandoned if
// that connection closes.
//
// Values are pickled with package pickle. Go clients pass Go values (or
// pickle's model values) and decode results into Go variables; a proxy is
// itself a value, so dicts and lists can hold proxies (nested proxies),
// and the objects they refer to stay alive while referenced.
//
// Both of Python's serializers are served: pickle, and xmlrpclib
// (ServerConfig.Serializer) for managers made with serializer='xmlrpclib'.
// The wire format is described in PROTOCOL.md next to this file; the
// constants are in wire.go.
//
// Security: a server always requires an authkey (a random one by default,
// readable with Server.Authkey), listens on a Unix socket or loopback
// address unless told otherwise, bounds messages and pickle decoding, and
// never runs anything it receives. A request that calls a global outside
// ServerConfig.AllowCall (REDUCE of os.system, say), a malformed frame or
// pickle, or a wrong authkey closes that client's connection; the server
// and its other clients are not affected.
package manager
