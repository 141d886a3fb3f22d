//go:build linux

package manager

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mproc/mproc/pickle"
)

// Errors returned by this package, each testable with errors.Is. Errors that
// a Python manager reports as exceptions arrive as *RemoteError (a
// '#TRACEBACK' or '#UNSERIALIZABLE' reply) or *PyError (an '#ERROR' reply
// carrying a Python exception); PyError values also match the sentinels
// below that name their Python class (ErrKeyError, ErrEmpty, ...).
var (
	// ErrClosed: the client, proxy or server was closed by this process.
	ErrClosed = errors.New("manager: closed")

	// ErrServerGone: the connection to the manager broke (the server shut
	// down or died, or the network failed) during a call. Calls on the
	// connection fail at once with it; a blocking call (Lock.Acquire,
	// Queue.Get, Event.Wait, ...) returns it rather than hang.
	ErrServerGone = errors.New("manager: connection to the server lost")

	// ErrProtocol: the peer sent something the managers protocol does not
	// allow (a reply that is not a (kind, result) tuple, an unknown kind,
	// a '#PROXY' result without a Token, ...).
	ErrProtocol = errors.New("manager: protocol error")

	// ErrUnknownType: a create for a typeid that is not registered.
	ErrUnknownType = errors.New("manager: unknown typeid")

	// ErrRefused: the server refused a request: a hostile or oversized
	// pickle, a global that is not allowed, a limit. The connection that
	// carried it is closed.
	ErrRefused = errors.New("manager: request refused")

	// ErrConfig: a ServerConfig or ClientConfig field is invalid.
	ErrConfig = errors.New("manager: invalid config")

	// ErrShutdown: the server was shut down (Serve's result after a
	// shutdown call or Shutdown).
	ErrShutdown = errors.New("manager: server shut down")

	// ErrNoMethod is returned by Object.CallMethod for a method the object
	// does not have (Python's AttributeError from getattr).
	ErrNoMethod = errors.New("manager: no such method")

	// ErrNotFlushed is returned by a Pending's methods before its
	// pipeline was flushed.
	ErrNotFlushed = errors.New("manager: pipeline not flushed")

	// Python exceptions, matched by a *PyError of that class.
	// ErrAuthenticationErr also matches a connection refused for its
	// authkey (Connect's error; Python raises AuthenticationError).
	ErrKeyError          = errors.New("manager: KeyError")
	ErrIndexError        = errors.New("manager: IndexError")
	ErrAttributeError    = errors.New("manager: AttributeError")
	ErrValueError        = errors.New("manager: ValueError")
	ErrTypeError         = errors.New("manager: TypeError")
	ErrRuntimeError      = errors.New("manager: RuntimeError")
	ErrStopIteration     = errors.New("manager: StopIteration")
	ErrEmpty             = errors.New("manager: queue.Empty")
	ErrFull              = errors.New("manager: queue.Full")
	ErrQueueShutDown     = errors.New("manager: queue.ShutDown")
	ErrBrokenBarrier     = errors.New("manager: threading.BrokenBarrierError")
	ErrOverflowError     = errors.New("manager: OverflowError")
	ErrNotImplemented    = errors.New("manager: NotImplementedError")
	ErrAssertionError    = errors.New("manager: AssertionError")
	ErrAuthenticationErr = errors.New("manager: AuthenticationError")
)

// PyError is a Python exception: what a server sends in an '#ERROR' reply
// (a method of the referent raised it) and what a Go referent returns to
// have one sent. Module and Name give its class ("builtins", "KeyError";
// "_queue", "Empty"), Args its arguments.
//
// errors.Is matches a PyError against the sentinel of its class
// (ErrKeyError, ErrEmpty, ErrBrokenBarrier, ...), so a Go client checks
// errors.Is(err, manager.ErrEmpty) whether the server is Go or Python.
type PyError struct {
	Module string
	Name   string
	Args   []any
}

// NewPyError returns the exception module.name(*args); a method of a custom
// referent returns it to raise that exception in the caller:
// NewPyError("builtins", "ValueError", "bad value").
func NewPyError(module, name string, args ...any) *PyError {
	return &PyError{Module: module, Name: name, Args: args}
}

// Error renders the exception as Python prints its last traceback line:
// "KeyError: 'k'", "queue.Full", "ValueError: bad value".
func (e *PyError) Error() string {
	name := e.Name
	if e.Module != "builtins" && e.Module != "" {
		name = strings.TrimPrefix(e.Module, "_") + "." + e.Name
	}
	switch len(e.Args) {
	case 0:
		return name
	case 1:
		if s, ok := e.Args[0].(string); ok && e.Name != "KeyError" {
			return name + ": " + s
		}
		return name + ": " + reprValue(e.Args[0])
	}
	return name + ": " + reprValue(pickle.Tuple(e.Args))
}

// Is matches the sentinel of the exception's class.
func (e *PyError) Is(target error) bool {
	s, ok := pySentinels[pickle.Global{Module: e.Module, Name: e.Name}]
	return ok && s == target
}

// object returns the exception as the pickle value CPython sends.
func (e *PyError) object() *pickle.Object {
	return pickle.Exception(e.Module, e.Name, e.Args...)
}

var pySentinels = map[pickle.Global]error{
	{Module: "builtins", Name: "KeyError"}:                           ErrKeyError,
	{Module: "builtins", Name: "IndexError"}:                         ErrIndexError,
	{Module: "builtins", Name: "AttributeError"}:                     ErrAttributeError,
	{Module: "builtins", Name: "ValueError"}:                         ErrValueError,
	{Module: "builtins", Name: "TypeError"}:                          ErrTypeError,
	{Module: "builtins", Name: "RuntimeError"}:                       ErrRuntimeError,
	{Module: "builtins", Name: "StopIteration"}:                      ErrStopIteration,
	{Module: "builtins", Name: "OverflowError"}:                      ErrOverflowError,
	{Module: "builtins", Name: "NotImplementedError"}:                ErrNotImplemented,
	{Module: "builtins", Name: "AssertionError"}:                     ErrAssertionError,
	{Module: "_queue", Name: "Empty"}:                                ErrEmpty,
	{Module: "queue", Name: "Empty"}:                                 ErrEmpty,
	{Module: "queue", Name: "Full"}:                                  ErrFull,
	{Module: "queue", Name: "ShutDown"}:                              ErrQueueShutDown,
	{Module: "threading", Name: "BrokenBarrierError"}:                ErrBrokenBarrier,
	{Module: "multiprocessing.context", Name: "AuthenticationError"}: ErrAuthenticationErr,
}

// RemoteError is Python's multiprocessing.managers.RemoteError: the server
// failed outside the referent's method (unknown object, method not
// exposed, bad request, a public call that raised) and sent the text of
// the traceback ('#TRACEBACK'), or could not pickle its reply
// ('#UNSERIALIZABLE').
type RemoteError struct {
	Kind      string // "#TRACEBACK" or "#UNSERIALIZABLE"
	Traceback string
}

// Error returns the traceback's last line, the exception.
func (e *RemoteError) Error() string {
	tb := strings.TrimRight(e.Traceback, "\n")
	if i := strings.LastIndexByte(tb, '\n'); i >= 0 {
		tb = tb[i+1:]
	}
	if e.Kind == kindUnserializable {
		return "manager: remote error: unserializable reply: " + tb
	}
	return "manager: remote error: " + tb
}

// Is matches the sentinel of the exception named on the traceback's last
// line ("KeyError: '7f'" matches ErrKeyError).
func (e *RemoteError) Is(target error) bool {
	tb := strings.TrimRight(e.Traceback, "\n")
	if i := strings.LastIndexByte(tb, '\n'); i >= 0 {
		tb = tb[i+1:]
	}
	name, _, _ := strings.Cut(tb, ":")
	if target == ErrRefused {
		return name == "UnpicklingError"
	}
	for g, s := range pySentinels {
		if s == target && (name == g.Name || name == g.Module+"."+g.Name) {
			return true
		}
	}
	return false
}

// Exception classes the server raises.
var (
	excKeyError           = pickle.Global{Module: "builtins", Name: "KeyError"}
	excIndexError         = pickle.Global{Module: "builtins", Name: "IndexError"}
	excAttributeError     = pickle.Global{Module: "builtins", Name: "AttributeError"}
	excValueError         = pickle.Global{Module: "builtins", Name: "ValueError"}
	excTypeError          = pickle.Global{Module: "builtins", Name: "TypeError"}
	excRuntimeError       = pickle.Global{Module: "builtins", Name: "RuntimeError"}
	excStopIteration      = pickle.Global{Module: "builtins", Name: "StopIteration"}
	excOverflowError      = pickle.Global{Module: "builtins", Name: "OverflowError"}
	excAssertionError     = pickle.Global{Module: "builtins", Name: "AssertionError"}
	excNotImplemented     = pickle.Global{Module: "builtins", Name: "NotImplementedError"}
	excEmpty              = pickle.Global{Module: "queue", Name: "Empty"} // _queue.Empty on 3.7+, which 3.6 cannot import
	excFull               = pickle.Global{Module: "queue", Name: "Full"}
	excShutDown           = pickle.Global{Module: "queue", Name: "ShutDown"}
	excBrokenBarrierError = pickle.Global{Module: "threading", Name: "BrokenBarrierError"}
)

// pyErr returns the exception class(*args).
func pyErr(class pickle.Global, args ...any) *PyError {
	return &PyError{Module: class.Module, Name: class.Name, Args: args}
}

// pyErrf returns class(message) with a formatted message.
func pyErrf(class pickle.Global, format string, args ...any) *PyError {
	return pyErr(class, fmt.Sprintf(format, args...))
}

// pyErrorFrom turns an '#ERROR' result into a Go error: a *PyError for an
// exception object, else a protocol error.
func pyErrorFrom(v any) error {
	class, args, ok := pickle.ExceptionInfo(v)
	if !ok {
		if o, isObj := v.(*pickle.Object); isObj {
			if g := o.Class(); g.Name != "" {
				return &PyError{Module: g.Module, Name: g.Name, Args: []any(o.Args)}
			}
		}
		return fmt.Errorf("%w: '#ERROR' result is not an exception: %s", ErrProtocol, pickle.TypeName(v))
	}
	return &PyError{Module: class.Module, Name: class.Name, Args: []any(args)}
}
