//go:build linux

package manager

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/mproc/mproc/pickle"
	"github.com/mproc/mproc/pipe"
)

// Token identifies a managed object: Python's multiprocessing.managers.Token
// (typeid, address, id). A proxy is a Token plus a connection to the server
// at Address; a Token is what travels when a proxy is handed to another
// process.
type Token struct {
	TypeID  string  // the registered type ("dict", "Lock", ...)
	Address Address // the server's address
	ID      string  // the object's ident in the server
}

// Address is a manager server's address: a TCP "host:port" or a Unix
// socket path ("@name" for a Linux abstract socket). Python writes the
// first as a (host, port) tuple and the second as a str.
type Address struct {
	Network string // "tcp" or "unix"
	Addr    string
}

// ParseAddress reads an address as the command line and Connect take it,
// which is pipe.ParseAddress's reading: "unix:PATH" or "tcp:HOST:PORT"
// explicitly, or a bare form: anything with a '/' or starting with '@' (or
// NUL, as Python writes an abstract name) is a Unix socket, anything else
// HOST:PORT. Errors match ErrConfig.
func ParseAddress(s string) (Address, error) {
	network, addr, err := pipe.ParseAddress(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: %v", ErrConfig, err)
	}
	return Address{Network: network, Addr: addr}, nil
}

// String returns the address in ParseAddress's bare form.
func (a Address) String() string { return a.Addr }

// python returns the address as Python writes it: (host, port) or a path.
func (a Address) python() any {
	if a.Network == "unix" {
		if strings.HasPrefix(a.Addr, "@") {
			return "\x00" + a.Addr[1:]
		}
		return a.Addr
	}
	host, port, err := net.SplitHostPort(a.Addr)
	if err != nil {
		return a.Addr
	}
	p, _ := strconv.ParseInt(port, 10, 64)
	return pickle.Tuple{host, p}
}

// addressOf reads a Python address value.
func addressOf(v any) (Address, bool) {
	switch x := v.(type) {
	case pickle.Tuple:
		if len(x) != 2 {
			return Address{}, false
		}
		host, ok1 := x[0].(string)
		port, _, ok2 := asInt(x[1])
		if !ok1 || !ok2 {
			return Address{}, false
		}
		return Address{Network: "tcp", Addr: net.JoinHostPort(host, strconv.FormatInt(port, 10))}, true
	case string:
		if strings.HasPrefix(x, "\x00") {
			return Address{Network: "unix", Addr: "@" + x[1:]}, true
		}
		return Address{Network: "unix", Addr: x}, true
	case []byte:
		return addressOf(string(x))
	}
	return Address{}, false
}

// object returns the Token as CPython pickles it: NEWOBJ, then BUILD with
// the (typeid, address, id) state of __getstate__.
func (t Token) object() *pickle.Object {
	return pickle.NewInstance(modManagers, nameToken, pickle.Tuple{t.TypeID, t.Address.python(), t.ID})
}

// tokenOf reads a Token in either of the forms Python loads: CPython's
// NEWOBJ + BUILD(state tuple), or a REDUCE Token(typeid, address, id).
func tokenOf(v any) (Token, bool) {
	o, ok := v.(*pickle.Object)
	if !ok || o.Class() != (pickle.Global{Module: modManagers, Name: nameToken}) {
		return Token{}, false
	}
	var parts pickle.Tuple
	if o.New {
		parts, ok = o.State.(pickle.Tuple)
	} else {
		parts, ok = o.Args, true
	}
	if !ok || len(parts) != 3 {
		return Token{}, false
	}
	typeid, ok1 := parts[0].(string)
	id, ok2 := parts[2].(string)
	addr, ok3 := addressOf(parts[1])
	if !ok1 || !ok2 || !ok3 {
		return Token{}, false
	}
	return Token{TypeID: typeid, Address: addr, ID: id}, true
}

// MarshalText encodes the token as JSON text, so that it can be passed to
// a child process as an argument (process.Options.Args) and read back with
// UnmarshalText.
func (t Token) MarshalText() ([]byte, error) {
	type plain Token
	return json.Marshal(plain(t))
}

// UnmarshalText decodes MarshalText's form.
func (t *Token) UnmarshalText(b []byte) error {
	type plain Token
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("manager: bad token text: %w", err)
	}
	if p.TypeID == "" || p.ID == "" || (p.Address.Network != "tcp" && p.Address.Network != "unix") {
		return fmt.Errorf("manager: bad token text %q", b)
	}
	*t = Token(p)
	return nil
}

// String returns Python's repr of the token.
func (t Token) String() string {
	return fmt.Sprintf("Token(typeid=%s, address=%s, id=%s)", reprStr(t.TypeID), reprValue(t.Address.python()), reprStr(t.ID))
}

// proxyRef is a pickled proxy found in a value: RebuildProxy(ProxyClass,
// token, serializer, kwds).
type proxyRef struct {
	class string // the proxy class name ("DictProxy", "AutoProxy", ...)
	token Token
	kwds  *pickle.Dict
}

// proxyRefOf recognises a pickled proxy.
func proxyRefOf(o *pickle.Object) (proxyRef, bool) {
	if o.New || o.Class() != (pickle.Global{Module: modManagers, Name: nameRebuild}) || len(o.Args) != 4 {
		return proxyRef{}, false
	}
	cls, ok := o.Args[0].(pickle.Global)
	if !ok {
		return proxyRef{}, false
	}
	tok, ok := tokenOf(o.Args[1])
	if !ok {
		return proxyRef{}, false
	}
	kw, _ := o.Args[3].(*pickle.Dict)
	return proxyRef{class: cls.Name, token: tok, kwds: kw}, true
}

// rebuildObject returns the pickled form of a proxy for token, as
// BaseProxy.__reduce__ writes it: RebuildProxy(ProxyClass, token,
// 'pickle', kwds), where AutoProxy types carry their exposed methods.
func rebuildObject(class string, tok Token, exposed []string) *pickle.Object {
	kw := pickle.NewDict()
	if class == nameAutoProxy || class == "" {
		class = nameAutoProxy
		ex := make(pickle.Tuple, len(exposed))
		for i, m := range exposed {
			ex[i] = m
		}
		kw.Set("exposed", ex)
	}
	return pickle.NewObject(modManagers, nameRebuild,
		pickle.Global{Module: modManagers, Name: class}, tok.object(), serializerName, kw)
}
