//go:build linux

package manager

import (
	"sync"

	"github.com/mproc/mproc/pickle"
)

// valueObj is the referent of a managed Value: multiprocessing.managers.Value,
// a typecode and one value. As in Python the typecode is only recorded
// (Value('i', 'text') is accepted) and the lock argument is ignored.
// '#GETVALUE' returns a managers.Value instance (NEWOBJ, BUILD of
// {'_typecode': ..., '_value': ...}).
type valueObj struct {
	mu       sync.Mutex
	typecode any
	v        any
}

func newValue(c *Call) (referent, error) {
	a, err := bind("Value.__init__", c.Args, c.Kwargs, []string{"typecode", "value", "lock"}, []any{true}, false)
	if err != nil {
		return nil, err
	}
	return &valueObj{typecode: a[0], v: a[1]}, nil
}

var valueMethods = methodTable[*valueObj]{
	"get": func(v *valueObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		return v.v, nil
	},
	"set": func(v *valueObj, c *Call) (any, error) {
		a, err := c.Params([]string{"value"})
		if err != nil {
			return nil, err
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		v.v = a[0]
		return pickle.None, nil
	},
}

func (v *valueObj) call(c *Call) (any, error) { return dispatch(valueMethods, v, c, "Value") }

func (v *valueObj) repr(string) string {
	x, _ := v.value()
	return reprValue(x)
}

func (v *valueObj) str(id string) string { return v.repr(id) }

func (v *valueObj) value() (any, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	state := pickle.NewDict()
	state.Set("_typecode", v.typecode)
	state.Set("_value", v.v)
	return pickle.NewInstance(modManagers, nameValue, state), nil
}

func (v *valueObj) scan(fn func(string)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	scanValue(v.v, fn)
}
