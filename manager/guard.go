//go:build linux

package manager

import (
	"fmt"
	"strings"

	"github.com/mproc/mproc/pickle"
)

// What the server accepts in a request.
//
// Decoding a pickle in Go runs nothing (package pickle records a call as an
// *Object instead of making it). But the server hands stored values to
// other clients, and a Python client that unpickles REDUCE os.system(...)
// runs it. So the server refuses, and closes the connection of, a request
// holding a call (REDUCE, INST, OBJ) of a global that AllowCall does not
// allow. Instances built with NEWOBJ (how Python pickles ordinary class
// instances, dataclasses, namedtuples, Namespace, Token) are accepted: they
// call no function, only cls.__new__.

// defaultCalls are the globals a request may call by default: constructors
// of built-in value types and of the standard library's plain data types,
// and the managers protocol's own.
var defaultCalls = map[pickle.Global]bool{}

// defaultExceptionModules are the modules whose exception classes a request
// may call (an exception put in a Queue, say).
var defaultExceptionModules = map[string]bool{
	"builtins": true, "queue": true, "_queue": true, "threading": true,
	"multiprocessing": true, "multiprocessing.context": true,
	"multiprocessing.managers": true, "multiprocessing.pool": true,
	"concurrent.futures._base": true, "subprocess": true, "json.decoder": true,
	"socket": true, "asyncio.exceptions": true,
}

func init() {
	for mod, names := range map[string]string{
		"builtins":                 "set frozenset bytearray bytes complex slice range list dict tuple int float str bool object reversed",
		"copyreg":                  "_reconstructor",
		"collections":              "OrderedDict deque Counter",
		"datetime":                 "date time datetime timedelta timezone",
		"decimal":                  "Decimal",
		"fractions":                "Fraction",
		"uuid":                     "UUID",
		"array":                    "array _array_reconstructor",
		"_codecs":                  "encode",
		"pathlib":                  "PurePath PurePosixPath PureWindowsPath Path PosixPath WindowsPath",
		"ipaddress":                "IPv4Address IPv6Address IPv4Network IPv6Network IPv4Interface IPv6Interface",
		"zoneinfo":                 "ZoneInfo._unpickle",
		"multiprocessing.managers": "RebuildProxy Token",
		"numpy":                    "dtype ndarray",
		"numpy.core.multiarray":    "_reconstruct scalar",
		"numpy._core.multiarray":   "_reconstruct scalar",
	} {
		for _, n := range strings.Fields(names) {
			defaultCalls[pickle.Global{Module: mod, Name: n}] = true
		}
	}
}

// DefaultAllowCall is the server's default policy for calls in requests
// (ServerConfig.AllowCall): the constructors of built-in value types
// (set, frozenset, bytearray, complex, slice, ...), of the standard
// library's data types (datetime, Decimal, Fraction, UUID, OrderedDict,
// deque, array, pathlib paths, ipaddress), numpy's array reconstructors,
// the managers protocol's RebuildProxy and Token, and exception classes of
// builtins, queue, threading, multiprocessing and a few other standard
// modules.
func DefaultAllowCall(g pickle.Global) bool {
	if defaultCalls[g] {
		return true
	}
	if defaultExceptionModules[g.Module] || strings.HasPrefix(g.Module, "multiprocessing.") {
		o := pickle.NewObject(g.Module, g.Name)
		return pickle.IsException(o)
	}
	return false
}

// inspector walks a decoded request, checking its calls and finding
// proxies.
type inspector struct {
	allow   func(pickle.Global) bool // nil: allow everything
	proxies bool
	seen    map[any]bool
}

// refusedError is a request refused by the call policy or a malformed
// proxy.
type refusedError struct{ msg string }

// Error returns the reason, as the traceback's last line.
func (e *refusedError) Error() string { return e.msg }

// Is matches ErrRefused.
func (e *refusedError) Is(target error) bool { return target == ErrRefused }

func (in *inspector) visit(p any) bool {
	if in.seen == nil {
		in.seen = make(map[any]bool)
	}
	if in.seen[p] {
		return false
	}
	in.seen[p] = true
	return true
}

func (in *inspector) walk(v any) error {
	switch x := v.(type) {
	case pickle.Tuple:
		for _, it := range x {
			if err := in.walk(it); err != nil {
				return err
			}
		}
	case *pickle.List:
		if in.visit(x) {
			for _, it := range x.Items {
				if err := in.walk(it); err != nil {
					return err
				}
			}
		}
	case *pickle.Dict:
		if in.visit(x) {
			for k, val := range x.All() {
				if err := in.walk(k); err != nil {
					return err
				}
				if err := in.walk(val); err != nil {
					return err
				}
			}
		}
	case *pickle.Set:
		if in.visit(x) {
			for it := range x.All() {
				if err := in.walk(it); err != nil {
					return err
				}
			}
		}
	case pickle.FrozenSet:
		for _, it := range x.Items() {
			if err := in.walk(it); err != nil {
				return err
			}
		}
	case *pickle.Object:
		if in.visit(x) {
			return in.object(x)
		}
	}
	return nil
}

func (in *inspector) object(o *pickle.Object) error {
	g, isGlobal := o.Callable.(pickle.Global)
	if !isGlobal {
		if in.allow == nil {
			return in.walkParts(o)
		}
		return &refusedError{fmt.Sprintf("UnpicklingError: refused a call of a computed callable (%s)", pickle.TypeName(o.Callable))}
	}
	if g == (pickle.Global{Module: modManagers, Name: nameRebuild}) && !o.New {
		if _, ok := proxyRefOf(o); !ok {
			return &refusedError{"UnpicklingError: malformed RebuildProxy (a pickled proxy) in request"}
		}
		in.proxies = true
		return nil
	}
	if !o.New && in.allow != nil && !in.allow(g) {
		return &refusedError{fmt.Sprintf("UnpicklingError: refused to accept a call of %s: the server does not relay calls of globals it does not allow (ServerConfig.AllowCall)", g)}
	}
	return in.walkParts(o)
}

func (in *inspector) walkParts(o *pickle.Object) error {
	if err := in.walk(o.Args); err != nil {
		return err
	}
	if o.Kwargs != nil {
		if err := in.walk(o.Kwargs); err != nil {
			return err
		}
	}
	if o.State != nil {
		if err := in.walk(o.State); err != nil {
			return err
		}
	}
	for _, it := range o.ListItems {
		if err := in.walk(it); err != nil {
			return err
		}
	}
	for _, it := range o.DictItems {
		if err := in.walk(it.Key); err != nil {
			return err
		}
		if err := in.walk(it.Value); err != nil {
			return err
		}
	}
	return nil
}

// scalar reports whether v cannot hold objects (the common case, which
// skips the walk).
func scalar(v any) bool {
	switch v.(type) {
	case nil, pickle.NoneType, bool, int64, float64, string, []byte, pickle.ByteArray, complex128, pickle.Global:
		return true
	}
	return false
}
