//go:build linux

package manager

import (
	"fmt"
	"slices"

	"github.com/mproc/mproc/pickle"
)

// referent is a managed object inside the server: the value a proxy refers
// to. The SyncManager types are Go implementations of Python's (dict, list,
// threading.Lock, queue.Queue, ...); custom types are Objects wrapped by
// objectReferent.
type referent interface {
	// call runs one exposed method. It returns a value of pickle's value
	// model (or a referent, for methods in method_to_typeid), a *PyError
	// to raise in the client, a noAttrError when the method does not
	// exist, or the context's error when the connection went away.
	call(c *Call) (any, error)
	// repr is Python's repr(obj); id is the object's ident, shown as its
	// address where Python shows one.
	repr(id string) string
	// str is Python's str(obj).
	str(id string) string
	// value returns a copy of the referent for '#GETVALUE'.
	value() (any, error)
	// scan calls fn with the id of every proxy the referent's value holds
	// (nested proxies).
	scan(fn func(id string))
}

// methodTable maps method names to the implementations of a referent type.
type methodTable[T any] map[string]func(T, *Call) (any, error)

// dispatch runs c.Method from table on obj; typ names the Python type for
// the AttributeError of a missing method.
func dispatch[T any](table methodTable[T], obj T, c *Call, typ string) (any, error) {
	f, ok := table[c.Method]
	if !ok {
		return nil, errNoAttr(typ, c.Method)
	}
	return f(obj, c)
}

// noValue is embedded by referents whose '#GETVALUE' Python cannot pickle
// either (locks, conditions, queues): CPython answers '#UNSERIALIZABLE'.
type noValue struct{ typ string }

func (n noValue) value() (any, error) {
	return nil, fmt.Errorf("TypeError: cannot pickle '%s' object", n.typ)
}

func (noValue) scan(func(string)) {}

// scanValue calls fn with the id of every proxy (RebuildProxy object) in v.
func scanValue(v any, fn func(id string)) {
	var s valueScanner
	s.fn = fn
	s.walk(v)
}

type valueScanner struct {
	fn   func(string)
	seen map[any]bool
}

func (s *valueScanner) visit(p any) bool {
	if s.seen == nil {
		s.seen = make(map[any]bool)
	}
	if s.seen[p] {
		return false
	}
	s.seen[p] = true
	return true
}

func (s *valueScanner) walk(v any) {
	switch x := v.(type) {
	case pickle.Tuple:
		for _, it := range x {
			s.walk(it)
		}
	case *pickle.List:
		if s.visit(x) {
			for _, it := range x.Items {
				s.walk(it)
			}
		}
	case *pickle.Dict:
		if s.visit(x) {
			for k, val := range x.All() {
				s.walk(k)
				s.walk(val)
			}
		}
	case *pickle.Set:
		if s.visit(x) {
			for it := range x.All() {
				s.walk(it)
			}
		}
	case pickle.FrozenSet:
		for _, it := range x.Items() {
			s.walk(it)
		}
	case *pickle.Object:
		if !s.visit(x) {
			return
		}
		if ref, ok := proxyRefOf(x); ok {
			s.fn(ref.token.ID)
			return
		}
		s.walk(x.Callable)
		s.walk(x.Args)
		if x.Kwargs != nil {
			s.walk(x.Kwargs)
		}
		if x.State != nil {
			s.walk(x.State)
		}
		for _, it := range x.ListItems {
			s.walk(it)
		}
		for _, it := range x.DictItems {
			s.walk(it.Key)
			s.walk(it.Value)
		}
	}
}

// hasProxy reports whether v holds a proxy.
func hasProxy(v any) bool {
	found := false
	scanValue(v, func(string) { found = true })
	return found
}

// checkHashable returns Python's TypeError for a value that cannot be a
// dict key or set member.
func checkHashable(v any) error {
	switch x := v.(type) {
	case *pickle.List, *pickle.Dict, *pickle.Set, pickle.ByteArray:
		return pyErrf(excTypeError, "unhashable type: '%s'", typeName(v))
	case pickle.Tuple:
		for _, it := range x {
			if err := checkHashable(it); err != nil {
				return err
			}
		}
	}
	return nil
}

// iterate returns the items Python's iter(v) would produce for the value
// types that are iterable: sequences, sets, a dict's keys, a str's
// characters, a bytes' integers, and the values of managed dicts, lists
// and arrays of this server passed as proxies.
func (c *Call) iterate(v any) ([]any, error) {
	switch x := v.(type) {
	case pickle.Tuple:
		return x, nil
	case *pickle.List:
		return x.Items, nil
	case *pickle.Set:
		return x.Items(), nil
	case pickle.FrozenSet:
		return x.Items(), nil
	case *pickle.Dict:
		return x.Keys(), nil
	case string:
		out := make([]any, 0, len(x))
		for _, r := range x {
			out = append(out, string(r))
		}
		return out, nil
	case []byte:
		return bytesItems(x), nil
	case pickle.ByteArray:
		return bytesItems(x), nil
	case *pickle.Object:
		if e, ok := c.resolve(x); ok {
			if it, ok := e.obj.(interface{ snapshot() []any }); ok {
				return it.snapshot(), nil
			}
		}
		if items, ok, err := rangeItems(x); ok {
			return items, err
		}
		if g := x.Class(); g == (pickle.Global{Module: "array", Name: "array"}) {
			if a, err := arrayFromObject(x); err == nil {
				return a.items, nil
			}
		}
	}
	return nil, pyErrf(excTypeError, "'%s' object is not iterable", typeName(v))
}

func bytesItems(b []byte) []any {
	out := make([]any, len(b))
	for i, c := range b {
		out[i] = int64(c)
	}
	return out
}

// resolve returns the entry of this server that a proxy value refers to.
func (c *Call) resolve(v any) (*entry, bool) {
	o, ok := v.(*pickle.Object)
	if !ok || c.srv == nil {
		return nil, false
	}
	ref, ok := proxyRefOf(o)
	if !ok {
		return nil, false
	}
	return c.srv.table.get(ref.token.ID)
}

// copyItems returns a copy of a slice of values.
func copyItems(items []any) []any { return slices.Clone(items) }

// rangeItems expands a pickled range (builtins.range(start, stop, step)).
func rangeItems(o *pickle.Object) ([]any, bool, error) {
	if o.New || o.Class() != (pickle.Global{Module: "builtins", Name: "range"}) || len(o.Args) == 0 || len(o.Args) > 3 {
		return nil, false, nil
	}
	var n [3]int64
	n[2] = 1
	for i, a := range o.Args {
		v, big_, ok := asInt(a)
		if !ok || big_ {
			return nil, true, pyErrf(excTypeError, "'%s' object cannot be interpreted as an integer", typeName(a))
		}
		n[i] = v
	}
	start, stop, step := n[0], n[1], n[2]
	if len(o.Args) == 1 {
		start, stop = 0, n[0]
	}
	if step == 0 {
		return nil, true, pyErr(excValueError, "range() arg 3 must not be zero")
	}
	var count int64
	if step > 0 && start < stop {
		count = (stop-start-1)/step + 1
	} else if step < 0 && start > stop {
		count = (start-stop-1)/(-step) + 1
	}
	if count > maxListItems {
		return nil, true, pyErr(pickle.Global{Module: "builtins", Name: "MemoryError"})
	}
	out := make([]any, count)
	for i := range out {
		out[i] = start + int64(i)*step
	}
	return out, true, nil
}
