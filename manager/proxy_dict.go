//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/mproc/mproc/pickle"
)

// Dict is a proxy for a managed dict (Python's DictProxy). Keys and values
// are Go values pickled with pickle.Marshal (ints, strings, floats, byte
// slices, slices, maps, structs, pickle's model values, proxies) and
// decoded into the caller's variables with pickle.UnmarshalValue. Keys
// follow Python's equality: 1, 1.0 and true are one key.
type Dict struct{ *Proxy }

// Dict creates a managed dict (Python's manager.dict()), holding the items
// of initial if one is given (a Go map, a *pickle.Dict, or a sequence of
// key/value pairs such as Items' []pickle.Item), and returns its proxy.
func (m *Manager) Dict(ctx context.Context, initial ...any) (*Dict, error) {
	if len(initial) > 1 {
		return nil, fmt.Errorf("%w: Dict takes at most one initial value", ErrConfig)
	}
	p, err := m.Create(ctx, "dict", initial, nil)
	if err != nil {
		return nil, err
	}
	return &Dict{p}, nil
}

// Get stores d[key] in out; a missing key is an error matching
// ErrKeyError.
func (d *Dict) Get(ctx context.Context, key, out any) error {
	return d.call(ctx, out, "__getitem__", key)
}

// Lookup stores d[key] in out and reports whether the key was present.
func (d *Dict) Lookup(ctx context.Context, key, out any) (bool, error) {
	err := d.call(ctx, out, "__getitem__", key)
	if errors.Is(err, ErrKeyError) {
		return false, nil
	}
	return err == nil, err
}

// Set does d[key] = value.
func (d *Dict) Set(ctx context.Context, key, value any) error {
	return d.call(ctx, nil, "__setitem__", key, value)
}

// Delete does del d[key]; a missing key is an error matching ErrKeyError.
func (d *Dict) Delete(ctx context.Context, key any) error {
	return d.call(ctx, nil, "__delitem__", key)
}

// Has reports key in d.
func (d *Dict) Has(ctx context.Context, key any) (bool, error) {
	var ok bool
	err := d.call(ctx, &ok, "__contains__", key)
	return ok, err
}

// Len returns len(d).
func (d *Dict) Len(ctx context.Context) (int, error) {
	var n int
	err := d.call(ctx, &n, "__len__")
	return n, err
}

// Keys returns d.keys(), in insertion order.
func (d *Dict) Keys(ctx context.Context) ([]any, error) {
	var out []any
	err := d.call(ctx, &out, "keys")
	return out, err
}

// Values returns d.values(), in insertion order.
func (d *Dict) Values(ctx context.Context) ([]any, error) {
	var out []any
	err := d.call(ctx, &out, "values")
	return out, err
}

// Items returns d.items(), in insertion order.
func (d *Dict) Items(ctx context.Context) ([]pickle.Item, error) {
	v, err := d.Call(ctx, "items")
	if err != nil {
		return nil, err
	}
	l, ok := v.(*pickle.List)
	if !ok {
		return nil, fmt.Errorf("%w: items() returned %s", ErrProtocol, pickle.TypeName(v))
	}
	out := make([]pickle.Item, 0, len(l.Items))
	for _, it := range l.Items {
		t, ok := it.(pickle.Tuple)
		if !ok || len(t) != 2 {
			return nil, fmt.Errorf("%w: items() holds %s", ErrProtocol, pickle.TypeName(it))
		}
		out = append(out, pickle.Item{Key: t[0], Value: t[1]})
	}
	return out, nil
}

// Update does d.update(other): other is a mapping (a Go map, a
// *pickle.Dict, a *Dict) or a sequence of pairs (such as Items'
// []pickle.Item).
func (d *Dict) Update(ctx context.Context, other any) error {
	return d.call(ctx, nil, "update", other)
}

// Pop removes key and stores its value in out; a missing key is an error
// matching ErrKeyError.
func (d *Dict) Pop(ctx context.Context, key, out any) error {
	return d.call(ctx, out, "pop", key)
}

// PopItem removes and returns the last inserted item; an empty dict is an
// error matching ErrKeyError.
func (d *Dict) PopItem(ctx context.Context) (key, value any, err error) {
	v, err := d.Call(ctx, "popitem")
	if err != nil {
		return nil, nil, err
	}
	t, ok := v.(pickle.Tuple)
	if !ok || len(t) != 2 {
		return nil, nil, fmt.Errorf("%w: popitem() returned %s", ErrProtocol, pickle.TypeName(v))
	}
	return t[0], t[1], nil
}

// SetDefault does d.setdefault(key, def) and stores the result in out.
func (d *Dict) SetDefault(ctx context.Context, key, def, out any) error {
	return d.call(ctx, out, "setdefault", key, def)
}

// Clear empties the dict.
func (d *Dict) Clear(ctx context.Context) error { return d.call(ctx, nil, "clear") }

// Copy stores a copy of the dict (d.copy()) in out: a Go map, a
// *pickle.Dict, a struct...
func (d *Dict) Copy(ctx context.Context, out any) error { return d.call(ctx, out, "copy") }

// Iter returns an iterator over the keys (Python's iter(d): a managed
// Iterator object on the server).
func (d *Dict) Iter(ctx context.Context) (*Iterator, error) {
	v, err := d.Call(ctx, "__iter__")
	if err != nil {
		return nil, err
	}
	p, ok := v.(*Proxy)
	if !ok {
		return nil, fmt.Errorf("%w: __iter__ returned %s, not a proxy", ErrProtocol, pickle.TypeName(v))
	}
	return &Iterator{p}, nil
}

// Iterator is a proxy for a managed iterator (Python's IteratorProxy),
// such as the one Dict.Iter returns.
type Iterator struct{ *Proxy }

// Next stores the next item in out and reports whether there was one
// (false once the iterator is exhausted: Python's StopIteration).
func (it *Iterator) Next(ctx context.Context, out any) (bool, error) {
	err := it.call(ctx, out, "__next__")
	if errors.Is(err, ErrStopIteration) {
		return false, nil
	}
	return err == nil, err
}
