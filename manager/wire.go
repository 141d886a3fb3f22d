//go:build linux

package manager

// Wire constants of Python's managers protocol (multiprocessing/managers.py),
// all in one place. PROTOCOL.md, next to this file, describes the messages
// they belong to.

// Reply kinds: the first element of every (kind, result) reply.
const (
	kindReturn         = "#RETURN"         // result is the value
	kindError          = "#ERROR"          // result is an exception instance
	kindTraceback      = "#TRACEBACK"      // result is a traceback text (str)
	kindUnserializable = "#UNSERIALIZABLE" // the reply could not be pickled; result is a traceback text
	kindProxy          = "#PROXY"          // result is (exposed, Token): a new managed object
)

// methodGetValue is the method name of BaseProxy._getvalue: a copy of the
// referent, served by the fallback whatever the exposed list says.
const methodGetValue = "#GETVALUE"

// Server-level ("public") requests: (None, name, args, kwds). CPython's
// Server.public lists exactly these nine.
const (
	callShutdown         = "shutdown"
	callCreate           = "create"
	callAcceptConnection = "accept_connection"
	callGetMethods       = "get_methods"
	callDebugInfo        = "debug_info"
	callNumberOfObjects  = "number_of_objects"
	callDummy            = "dummy"
	callIncref           = "incref"
	callDecref           = "decref"
)

// callSession is mproc's one extension of the public calls: a Go client
// opens a session with it (see PROTOCOL.md §"Sessions"). A CPython server
// answers it with a '#TRACEBACK' AssertionError ("'mproc_session'
// unrecognized"), which tells the client to speak plain CPython.
const callSession = "mproc_session"

// sessionVersion is the session protocol version a Go server speaks.
const sessionVersion = 1

// Globals that appear in managers traffic.
const (
	modManagers    = "multiprocessing.managers"
	nameToken      = "Token"
	nameRebuild    = "RebuildProxy"
	nameAutoProxy  = "AutoProxy"
	nameNamespace  = "Namespace"
	nameValue      = "Value"
	serializerName = "pickle"
)

// reservedID is the ident CPython reserves in its object table ('0').
const reservedID = "0"

// pickleProtocol is the protocol replies are pickled with: 4 is what CPython
// 3.8-3.13 send by default and what every Python 3.4+ loads; 3.6 and 3.7
// clients send protocol 3 and load 4.
const pickleProtocol = 4
