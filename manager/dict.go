//go:build linux

package manager

import (
	"sync"

	"github.com/mproc/mproc/pickle"
)

// dictObj is the referent of a managed dict: Python's dict in the server,
// stored as a *pickle.Dict (insertion-ordered, Python key equality and
// hashing). Keys and values are kept as decoded; the server never changes
// a stored value in place, so a value may be encoded for a reply after the
// lock is released.
type dictObj struct {
	mu sync.Mutex
	d  *pickle.Dict
}

func newDict(c *Call) (referent, error) {
	d := &dictObj{d: pickle.NewDict()}
	if len(c.Args) > 1 {
		return nil, pyErrf(excTypeError, "dict expected at most 1 argument, got %d", len(c.Args))
	}
	if len(c.Args) == 1 {
		if err := d.updateFrom(c, c.Args[0]); err != nil {
			return nil, err
		}
	}
	for _, kw := range c.Kwargs {
		d.d.Set(kw.Name, kw.Value)
	}
	return d, nil
}

var dictMethods = methodTable[*dictObj]{
	"__contains__": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"key"})
		if err != nil {
			return nil, err
		}
		if err := checkHashable(a[0]); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.d.Has(a[0]), nil
	},
	"__getitem__": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"key"})
		if err != nil {
			return nil, err
		}
		if err := checkHashable(a[0]); err != nil {
			return nil, err
		}
		d.mu.Lock()
		v, ok := d.d.Get(a[0])
		d.mu.Unlock()
		if !ok {
			return nil, pyErr(excKeyError, a[0])
		}
		return v, nil
	},
	"__setitem__": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"key", "value"})
		if err != nil {
			return nil, err
		}
		if err := checkHashable(a[0]); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if err := d.d.Set(a[0], a[1]); err != nil {
			return nil, pyErrf(excTypeError, "unhashable type: '%s'", typeName(a[0]))
		}
		return pickle.None, nil
	},
	"__delitem__": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"key"})
		if err != nil {
			return nil, err
		}
		if err := checkHashable(a[0]); err != nil {
			return nil, err
		}
		d.mu.Lock()
		ok := d.d.Delete(a[0])
		d.mu.Unlock()
		if !ok {
			return nil, pyErr(excKeyError, a[0])
		}
		return pickle.None, nil
	},
	"__len__": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return int64(d.d.Len()), nil
	},
	"__iter__": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return d.iterator(false), nil
	},
	"__reversed__": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return d.iterator(true), nil
	},
	"clear": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		d.d = pickle.NewDict()
		return pickle.None, nil
	},
	"copy": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return d.copy(), nil
	},
	"get": func(d *dictObj, c *Call) (any, error) {
		if len(c.Args) == 0 && len(c.Kwargs) == 0 {
			return nil, pyErr(excTypeError, "get expected at least 1 argument, got 0")
		}
		if len(c.Args) > 2 {
			return nil, pyErrf(excTypeError, "get expected at most 2 arguments, got %d", len(c.Args))
		}
		a, err := c.posOnly([]string{"key", "default"}, pickle.None)
		if err != nil {
			return nil, err
		}
		if err := checkHashable(a[0]); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if v, ok := d.d.Get(a[0]); ok {
			return v, nil
		}
		return a[1], nil
	},
	"items": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		out := make([]any, 0, d.d.Len())
		for k, v := range d.d.All() {
			out = append(out, pickle.Tuple{k, v})
		}
		return pickle.NewList(out...), nil
	},
	"keys": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return pickle.NewList(d.d.Keys()...), nil
	},
	"values": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		return pickle.NewList(d.d.Values()...), nil
	},
	"pop": func(d *dictObj, c *Call) (any, error) {
		if len(c.Args) == 0 {
			return nil, pyErr(excTypeError, "pop expected at least 1 argument, got 0")
		}
		if len(c.Args) > 2 {
			return nil, pyErrf(excTypeError, "pop expected at most 2 arguments, got %d", len(c.Args))
		}
		if err := c.posOnlyCheck(); err != nil {
			return nil, err
		}
		key := c.Args[0]
		if err := checkHashable(key); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if v, ok := d.d.Get(key); ok {
			d.d.Delete(key)
			return v, nil
		}
		if len(c.Args) == 2 {
			return c.Args[1], nil
		}
		return nil, pyErr(excKeyError, key)
	},
	"popitem": func(d *dictObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		var lastK, lastV any
		found := false
		for k, v := range d.d.All() {
			lastK, lastV, found = k, v, true
		}
		if !found {
			return nil, pyErr(excKeyError, "popitem(): dictionary is empty")
		}
		d.d.Delete(lastK)
		return pickle.Tuple{lastK, lastV}, nil
	},
	"setdefault": func(d *dictObj, c *Call) (any, error) {
		if len(c.Args) == 0 {
			return nil, pyErr(excTypeError, "setdefault expected at least 1 argument, got 0")
		}
		a, err := c.posOnly([]string{"key", "default"}, pickle.None)
		if err != nil {
			return nil, err
		}
		if err := checkHashable(a[0]); err != nil {
			return nil, err
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		if v, ok := d.d.Get(a[0]); ok {
			return v, nil
		}
		d.d.Set(a[0], a[1])
		return a[1], nil
	},
	"update": func(d *dictObj, c *Call) (any, error) {
		if len(c.Args) > 1 {
			return nil, pyErrf(excTypeError, "update expected at most 1 argument, got %d", len(c.Args))
		}
		if len(c.Args) == 1 {
			if err := d.updateFrom(c, c.Args[0]); err != nil {
				return nil, err
			}
		}
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, kw := range c.Kwargs {
			d.d.Set(kw.Name, kw.Value)
		}
		return pickle.None, nil
	},
	// Python 3.14 additions (DictProxy exposes them there).
	"__or__": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"other"})
		if err != nil {
			return nil, err
		}
		pairs, ok := c.mapping(a[0])
		if !ok {
			return notImplemented(), nil
		}
		out := d.copy()
		for _, it := range pairs {
			out.Set(it.Key, it.Value)
		}
		return out, nil
	},
	"__ror__": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"other"})
		if err != nil {
			return nil, err
		}
		pairs, ok := c.mapping(a[0])
		if !ok {
			return notImplemented(), nil
		}
		out := pickle.NewDict()
		for _, it := range pairs {
			out.Set(it.Key, it.Value)
		}
		for k, v := range d.copy().All() {
			out.Set(k, v)
		}
		return out, nil
	},
	"__ior__": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"other"})
		if err != nil {
			return nil, err
		}
		if err := d.updateFrom(c, a[0]); err != nil {
			return nil, err
		}
		return d.copy(), nil
	},
	"fromkeys": func(d *dictObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"iterable", "value"}, pickle.None)
		if err != nil {
			return nil, err
		}
		keys, err := c.iterate(a[0])
		if err != nil {
			return nil, err
		}
		out := pickle.NewDict()
		for _, k := range keys {
			if err := checkHashable(k); err != nil {
				return nil, err
			}
			out.Set(k, a[1])
		}
		return out, nil
	},
}

// posOnlyCheck refuses keyword arguments (methods of built-in types).
func (c *Call) posOnlyCheck() error {
	if len(c.Kwargs) > 0 {
		return pyErrf(excTypeError, "%s() takes no keyword arguments", c.Method)
	}
	return nil
}

// notImplemented is Python's NotImplemented singleton.
func notImplemented() any {
	return pickle.Global{Module: "builtins", Name: "NotImplemented"}
}

// mapping returns the items of a dict argument (a dict, or a managed dict
// of this server passed as a proxy).
func (c *Call) mapping(v any) ([]pickle.Item, bool) {
	switch x := v.(type) {
	case *pickle.Dict:
		return x.Items(), true
	case *pickle.Object:
		if e, ok := c.resolve(x); ok {
			if od, ok := e.obj.(*dictObj); ok {
				return od.copy().Items(), true
			}
		}
	}
	return nil, false
}

// updateFrom is dict.update(other): a mapping, or an iterable of pairs.
func (d *dictObj) updateFrom(c *Call, other any) error {
	if items, ok := c.mapping(other); ok {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, it := range items {
			d.d.Set(it.Key, it.Value)
		}
		return nil
	}
	seq, err := c.iterate(other)
	if err != nil {
		return err
	}
	pairs := make([]pickle.Item, 0, len(seq))
	for i, el := range seq {
		kv, err := c.iterate(el)
		if err != nil {
			return pyErrf(excTypeError, "cannot convert dictionary update sequence element #%d to a sequence", i)
		}
		if len(kv) != 2 {
			return pyErrf(excValueError, "dictionary update sequence element #%d has length %d; 2 is required", i, len(kv))
		}
		if err := checkHashable(kv[0]); err != nil {
			return err
		}
		pairs = append(pairs, pickle.Item{Key: kv[0], Value: kv[1]})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, it := range pairs {
		d.d.Set(it.Key, it.Value)
	}
	return nil
}

// copy returns a shallow copy of the dict.
func (d *dictObj) copy() *pickle.Dict {
	d.mu.Lock()
	defer d.mu.Unlock()
	return cloneDict(d.d)
}

func cloneDict(src *pickle.Dict) *pickle.Dict {
	out := pickle.NewDict()
	for k, v := range src.All() {
		out.Set(k, v)
	}
	return out
}

// iterator returns the referent of iter(d) (or reversed(d)).
func (d *dictObj) iterator(reverse bool) referent {
	d.mu.Lock()
	defer d.mu.Unlock()
	keys := d.d.Keys()
	if reverse {
		for i, j := 0, len(keys)-1; i < j; i, j = i+1, j-1 {
			keys[i], keys[j] = keys[j], keys[i]
		}
	}
	typ := "dict_keyiterator"
	if reverse {
		typ = "dict_reversekeyiterator"
	}
	return &iteratorObj{typ: typ, items: keys, size: func() int {
		d.mu.Lock()
		defer d.mu.Unlock()
		return d.d.Len()
	}, sizeAt: len(keys), changed: "dictionary changed size during iteration"}
}

// snapshot returns the keys, for iterate.
func (d *dictObj) snapshot() []any {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.d.Keys()
}

func (d *dictObj) call(c *Call) (any, error) { return dispatch(dictMethods, d, c, "dict") }

func (d *dictObj) repr(string) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return reprValue(d.d)
}

func (d *dictObj) str(id string) string { return d.repr(id) }

func (d *dictObj) value() (any, error) { return d.copy(), nil }

func (d *dictObj) scan(fn func(string)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	scanValue(d.d, fn)
}
