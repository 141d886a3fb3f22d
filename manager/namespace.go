//go:build linux

package manager

import (
	"sync"

	"github.com/mproc/mproc/pickle"
)

// namespaceObj is the referent of a managed Namespace: an object whose
// attributes are its state (multiprocessing.managers.Namespace). Its
// proxy sends __getattribute__, __setattr__ and __delattr__ for names not
// starting with '_'. '#GETVALUE' returns a managers.Namespace instance,
// pickled as CPython pickles one (NEWOBJ, then BUILD with the attribute
// dict).
type namespaceObj struct {
	mu    sync.Mutex
	attrs *pickle.Dict // str -> value, in the order set
}

func newNamespace(c *Call) (referent, error) {
	if len(c.Args) > 0 {
		return nil, pyErrf(excTypeError, "Namespace.__init__() takes 1 positional argument but %d were given", len(c.Args)+1)
	}
	n := &namespaceObj{attrs: pickle.NewDict()}
	for _, kw := range c.Kwargs {
		n.attrs.Set(kw.Name, kw.Value)
	}
	return n, nil
}

var namespaceGlobal = pickle.Global{Module: modManagers, Name: nameNamespace}

var namespaceMethods = methodTable[*namespaceObj]{
	"__getattribute__": func(n *namespaceObj, c *Call) (any, error) {
		name, err := attrName(c, 1)
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if v, ok := n.attrs.Get(name); ok {
			return v, nil
		}
		switch name {
		case "__dict__":
			return cloneDict(n.attrs), nil
		case "__class__":
			return namespaceGlobal, nil
		case "__module__":
			return modManagers, nil
		}
		return nil, pyErrf(excAttributeError, "'Namespace' object has no attribute '%s'", name)
	},
	"__setattr__": func(n *namespaceObj, c *Call) (any, error) {
		name, err := attrName(c, 2)
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		n.attrs.Set(name, c.Args[1])
		return pickle.None, nil
	},
	"__delattr__": func(n *namespaceObj, c *Call) (any, error) {
		name, err := attrName(c, 1)
		if err != nil {
			return nil, err
		}
		n.mu.Lock()
		defer n.mu.Unlock()
		if !n.attrs.Delete(name) {
			return nil, pyErrf(excAttributeError, "'Namespace' object has no attribute '%s'", name)
		}
		return pickle.None, nil
	},
}

// attrName checks an attribute call's arguments (want of them, the first a
// str) and returns the name.
func attrName(c *Call, want int) (string, error) {
	if err := c.posOnlyCheck(); err != nil {
		return "", err
	}
	if len(c.Args) != want {
		return "", pyErrf(excTypeError, "expected %d arguments, got %d", want, len(c.Args))
	}
	name, ok := c.Args[0].(string)
	if !ok {
		return "", pyErrf(excTypeError, "attribute name must be string, not '%s'", typeName(c.Args[0]))
	}
	return name, nil
}

func (n *namespaceObj) call(c *Call) (any, error) {
	return dispatch(namespaceMethods, n, c, "Namespace")
}

func (n *namespaceObj) repr(string) string {
	v, _ := n.value()
	return reprValue(v)
}

func (n *namespaceObj) str(id string) string { return n.repr(id) }

func (n *namespaceObj) value() (any, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return pickle.NewInstance(modManagers, nameNamespace, cloneDict(n.attrs)), nil
}

func (n *namespaceObj) scan(fn func(string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	scanValue(n.attrs, fn)
}
