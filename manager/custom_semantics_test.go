//go:build linux

package manager_test

import (
	"encoding/hex"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/manager"
	"github.com/mproc/mproc/pickle"
)

// store is the Store of testdata/custom_semantics.py: Store(name="") with
// put(key, value=None), get(key), echo(a, b=2, c=3), fail(kind), sub()
// (method_to_typeid: a Sub holding the name) and a method _hidden that is
// not exposed.
type store struct {
	mu   sync.Mutex
	name string
	d    map[string]any
}

func (s *store) CallMethod(c *manager.Call) (any, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch c.Method {
	case "put":
		a, err := c.Params([]string{"key", "value"}, pickle.None)
		if err != nil {
			return nil, err
		}
		k, ok := a[0].(string)
		if !ok {
			return nil, manager.NewPyError("builtins", "TypeError", "Store keys are str")
		}
		s.d[k] = a[1]
		return pickle.None, nil
	case "get":
		a, err := c.Params([]string{"key"})
		if err != nil {
			return nil, err
		}
		k, _ := a[0].(string)
		v, ok := s.d[k]
		if !ok {
			return nil, manager.NewPyError("builtins", "KeyError", a[0])
		}
		return v, nil
	case "echo":
		a, err := c.Params([]string{"a", "b", "c"}, int64(2), int64(3))
		if err != nil {
			return nil, err
		}
		return pickle.NewList(a...), nil
	case "fail":
		a, err := c.Params([]string{"kind"})
		if err != nil {
			return nil, err
		}
		kind, _ := a[0].(string)
		switch kind {
		case "value":
			return nil, manager.NewPyError("builtins", "ValueError", "bad value")
		case "type":
			return nil, manager.NewPyError("builtins", "TypeError", "bad type")
		case "key":
			return nil, manager.NewPyError("builtins", "KeyError", "k")
		case "index":
			return nil, manager.NewPyError("builtins", "IndexError", "i")
		case "zero":
			return nil, manager.NewPyError("builtins", "ZeroDivisionError", "division by zero")
		case "runtime":
			return nil, manager.NewPyError("builtins", "RuntimeError", "r", int64(2))
		case "empty":
			return nil, manager.NewPyError("queue", "Empty")
		case "none":
			return nil, manager.NewPyError("builtins", "ValueError")
		}
		return nil, manager.NewPyError("builtins", "KeyError", a[0])
	case "sub":
		return s.name, nil
	case "_hidden":
		return "hidden", nil
	}
	return nil, manager.ErrNoMethod
}

func (s *store) PublicMethods() []string { return []string{"echo", "fail", "get", "put", "sub"} }
func (s *store) String() string          { return "Store(" + s.name + ")" }
func (s *store) Repr() string            { return "<Store " + s.name + ">" }

// customSemanticsRegistry is the Go registration of the types that
// testdata/custom_semantics.py registers on CPython's server.
func customSemanticsRegistry() *manager.Registry {
	r := manager.NewRegistry()
	str := func(v any) string { s, _ := v.(string); return s }
	for _, t := range []manager.Type{
		{TypeID: "Store", MethodToTypeID: map[string]string{"sub": "Sub"},
			New: func(c *manager.Call) (manager.Object, error) {
				a, err := c.Params([]string{"name"}, "")
				if err != nil {
					return nil, err
				}
				return &store{name: str(a[0]), d: map[string]any{}}, nil
			}},
		// create_method=False in Python only hides the manager's method:
		// the server creates a Sub by name too.
		{TypeID: "Sub", New: func(c *manager.Call) (manager.Object, error) {
			a, err := c.Params([]string{"value"})
			if err != nil {
				return nil, err
			}
			v := a[0]
			return manager.Methods{"value": func(*manager.Call) (any, error) { return v, nil }}, nil
		}},
		{TypeID: "Opaque", New: func(c *manager.Call) (manager.Object, error) {
			if _, err := c.Params(nil); err != nil {
				return nil, err
			}
			return manager.Methods{"ping": func(*manager.Call) (any, error) { return "pong", nil }}, nil
		}},
		{TypeID: "Pair", New: func(c *manager.Call) (manager.Object, error) {
			a, err := c.Params([]string{"a", "b"})
			if err != nil {
				return nil, err
			}
			return manager.Methods{"sum": func(*manager.Call) (any, error) {
				if x, ok := a[0].(int64); ok {
					y, _ := a[1].(int64)
					return x + y, nil
				}
				return str(a[0]) + str(a[1]), nil
			}}, nil
		}},
		// register('Raw', create_method=False): no callable.
		{TypeID: "Raw", Exposed: []string{}},
	} {
		if err := r.Register(t); err != nil {
			panic(err)
		}
	}
	return r
}

// TestPythonCustomSemantics runs testdata/custom_semantics.py, an
// unmodified CPython client of custom types, against the Go server with
// customSemanticsRegistry, on the oldest and newest interpreter, with the
// pickle and xmlrpclib serializers; and, so that its checks state what
// CPython does, against CPython's own server with the same types (the
// newest interpreter). Afterwards the Go server must hold no object.
func TestPythonCustomSemantics(t *testing.T) {
	pys := pythons(t)
	targets := []python{pys[0]}
	if len(pys) > 1 {
		targets = append(targets, pys[len(pys)-1])
	}
	for _, serializer := range []string{"pickle", "xmlrpclib"} {
		t.Run("cpython-server/"+serializer, func(t *testing.T) {
			t.Parallel()
			pyLimit <- struct{}{}
			defer func() { <-pyLimit }()
			py := pys[len(pys)-1]
			key := manager.NewAuthkey()
			addr := pyCustomServer(t, py, key, serializer)
			out := runPython(t, py, 60*time.Second, nil, "custom_semantics.py", "check", addr, hex.EncodeToString(key), serializer)
			checkOutput(t, out)
		})
		for _, py := range targets {
			t.Run("go-server/"+serializer+"/"+py.version, func(t *testing.T) {
				t.Parallel()
				pyLimit <- struct{}{}
				defer func() { <-pyLimit }()
				cfg := manager.DefaultServerConfig()
				cfg.Registry = customSemanticsRegistry()
				cfg.Serializer = serializer
				s := startServer(t, cfg)
				out := runPython(t, py, 60*time.Second, nil, "custom_semantics.py", "check", s.Addr().Addr, hex.EncodeToString(s.Authkey()), serializer)
				checkOutput(t, out)
				waitFor(t, "number_of_objects to reach 0", 10*time.Second, func() bool { return s.NumObjects() == 0 })
			})
		}
	}
}

func checkOutput(t *testing.T, out string) {
	t.Helper()
	if !strings.Contains(out, "checks: ") || strings.Contains(out, "FAIL") {
		t.Fatalf("custom_semantics.py:\n%s", out)
	}
	t.Logf("%s", strings.TrimSpace(out[strings.LastIndex(out, "checks: "):]))
}

// pyCustomServer runs testdata/custom_semantics.py's CPython server and
// returns its address; it is killed at the end of the test.
func pyCustomServer(t *testing.T, py python, authkey []byte, serializer string) string {
	return pyScriptServer(t, py, "custom_semantics.py", func(sock string) []string {
		return []string{"serve", sock, hex.EncodeToString(authkey), serializer}
	})
}
