//go:build linux

package manager

import (
	"context"
	"fmt"
	"strings"

	"github.com/mproc/mproc/pickle"
)

// Kwarg is one keyword argument of a call, in the order the caller gave it.
type Kwarg struct {
	Name  string
	Value any
}

// A Call is one request to a managed object as its methods see it: a
// method call (Method, Args, Kwargs as the client sent them, in pickle's
// value model), or the arguments of create for a Type's New.
//
// Blocking methods must wait with Context: it is done when the client's
// connection closes or the server shuts down, and the method should then
// return its error (nothing is sent back).
type Call struct {
	Method string
	Args   []any
	Kwargs []Kwarg

	ctx  context.Context
	conn *serverConn // nil for calls made by the server itself
	srv  *Server
	fn   string // the function named in Params' errors ("" means Method)
}

// Context returns the context of the serving connection.
func (c *Call) Context() context.Context {
	if c.ctx == nil {
		return context.Background()
	}
	return c.ctx
}

// owner identifies the caller's connection: an RLock's owner, as the
// serving thread is in CPython.
func (c *Call) owner() ownerID {
	if c.conn == nil {
		return 1
	}
	return c.conn.id
}

// Params binds the call's arguments to parameters as Python binds those of
// a def: positional arguments first, then keyword arguments by name; the
// last len(defaults) parameters have defaults. It returns one value per
// name, or Python's TypeError for too many, missing, repeated or unknown
// arguments (naming the method, or "TypeID.__init__" in a Type's New).
func (c *Call) Params(names []string, defaults ...any) ([]any, error) {
	return bind(c.funcName(), c.Args, c.Kwargs, names, defaults, false)
}

// funcName is the function Params' errors name: the method, or
// "TypeID.__init__" for a custom type's New, as Python 3.10+ names a
// class's constructor.
func (c *Call) funcName() string {
	if c.fn != "" {
		return c.fn
	}
	return c.Method
}

// posOnly binds like Params but refuses keyword arguments, as methods of
// Python's built-in types do.
func (c *Call) posOnly(names []string, defaults ...any) ([]any, error) {
	return bind(c.Method, c.Args, c.Kwargs, names, defaults, true)
}

// noArgs checks that the call has no arguments.
func (c *Call) noArgs() error {
	_, err := bind(c.Method, c.Args, c.Kwargs, nil, nil, false)
	return err
}

// missing marks a parameter without a value while binding.
type missingT struct{}

var missing = missingT{}

func bind(fn string, args []any, kwargs []Kwarg, names []string, defaults []any, posOnly bool) ([]any, error) {
	return bindSelf(fn, args, kwargs, names, defaults, posOnly, 1)
}

// bindSelf is bind for a function whose first self parameters the caller
// does not pass, which Python counts in "takes N positional arguments": 1
// for a method (self), 2 for the server's public functions (self, c).
func bindSelf(fn string, args []any, kwargs []Kwarg, names []string, defaults []any, posOnly bool, self int) ([]any, error) {
	fn = strings.Trim(fn, "#")
	if posOnly && len(kwargs) > 0 {
		return nil, pyErrf(excTypeError, "%s() takes no keyword arguments", fn)
	}
	if len(args) > len(names) {
		return nil, pyErrf(excTypeError, "%s() %s", fn, countMessage(len(names), len(defaults), len(args), self))
	}
	out := make([]any, len(names))
	for i := range out {
		out[i] = missing
	}
	copy(out, args)
	for _, kw := range kwargs {
		i := indexOf(names, kw.Name)
		if i < 0 {
			return nil, pyErrf(excTypeError, "%s() got an unexpected keyword argument '%s'", fn, kw.Name)
		}
		if out[i] != missing {
			return nil, pyErrf(excTypeError, "%s() got multiple values for argument '%s'", fn, kw.Name)
		}
		out[i] = kw.Value
	}
	firstDefault := len(names) - len(defaults)
	var absent []string
	for i := range out {
		if out[i] != missing {
			continue
		}
		if i >= firstDefault {
			out[i] = defaults[i-firstDefault]
			continue
		}
		absent = append(absent, "'"+names[i]+"'")
	}
	if len(absent) > 0 {
		plural := "argument"
		if len(absent) > 1 {
			plural = "arguments"
		}
		list := strings.Join(absent, ", ")
		if len(absent) > 1 {
			list = strings.Join(absent[:len(absent)-1], ", ") + " and " + absent[len(absent)-1]
		}
		return nil, pyErrf(excTypeError, "%s() missing %d required positional %s: %s", fn, len(absent), plural, list)
	}
	return out, nil
}

// countMessage is Python's "takes N positional arguments but M were given",
// counting the self parameters (self, and c for the server's public
// functions) as Python does.
func countMessage(n, ndefault, given, self int) string {
	switch {
	case ndefault == 0 && n+self == 1:
		return fmt.Sprintf("takes 1 positional argument but %d were given", given+self)
	case ndefault == 0:
		return fmt.Sprintf("takes %d positional arguments but %d were given", n+self, given+self)
	}
	return fmt.Sprintf("takes from %d to %d positional arguments but %d were given", n-ndefault+self, n+self, given+self)
}

func indexOf(names []string, name string) int {
	for i, n := range names {
		if n == name {
			return i
		}
	}
	return -1
}

// kwargsOf converts a request's kwds dict: Python requires str keys.
func kwargsOf(d *pickle.Dict) ([]Kwarg, error) {
	if d == nil || d.Len() == 0 {
		return nil, nil
	}
	out := make([]Kwarg, 0, d.Len())
	for k, v := range d.All() {
		name, ok := k.(string)
		if !ok {
			return nil, pyErr(excTypeError, "keywords must be strings")
		}
		out = append(out, Kwarg{Name: name, Value: v})
	}
	return out, nil
}

// noAttrError is an AttributeError raised by looking a method up rather
// than by running it: CPython reports it in a '#TRACEBACK', not an '#ERROR'.
type noAttrError struct {
	typ, name string
}

// Error returns Python's message.
func (e *noAttrError) Error() string {
	return fmt.Sprintf("AttributeError: '%s' object has no attribute '%s'", e.typ, e.name)
}

// lookupFailed is the '#TRACEBACK' text CPython's serve_client sends when
// looking method up raised an AttributeError (attrLine) and the method is
// not one of its fallbacks: the KeyError of fallback_mapping[method],
// raised while handling the AttributeError, so format_exc() shows both,
// the KeyError last.
func lookupFailed(attrLine, method string) string {
	return tracebackText(attrLine) + "\nDuring handling of the above exception, another exception occurred:\n\n" +
		tracebackText("KeyError: "+reprStr(method))
}

// errNoAttr returns the noAttrError for method name of a referent of type
// typ.
func errNoAttr(typ, name string) error { return &noAttrError{typ: typ, name: name} }
