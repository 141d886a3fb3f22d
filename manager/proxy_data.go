//go:build linux

package manager

import (
	"context"
	"fmt"

	"github.com/mproc/mproc/pickle"
)

// Namespace is a proxy for a managed Namespace (Python's NamespaceProxy):
// an object whose attributes are shared.
type Namespace struct{ *Proxy }

// Namespace creates a managed Namespace with the given attributes.
func (m *Manager) Namespace(ctx context.Context, attrs ...Kwarg) (*Namespace, error) {
	p, err := m.Create(ctx, "Namespace", nil, attrs)
	if err != nil {
		return nil, err
	}
	return &Namespace{p}, nil
}

// Get stores the attribute name in out; a missing attribute is an error
// matching ErrAttributeError.
func (n *Namespace) Get(ctx context.Context, name string, out any) error {
	return n.call(ctx, out, "__getattribute__", name)
}

// Set sets the attribute name.
func (n *Namespace) Set(ctx context.Context, name string, value any) error {
	return n.call(ctx, nil, "__setattr__", name, value)
}

// Delete deletes the attribute name.
func (n *Namespace) Delete(ctx context.Context, name string) error {
	return n.call(ctx, nil, "__delattr__", name)
}

// Attrs returns the attributes (a copy of the namespace's __dict__).
func (n *Namespace) Attrs(ctx context.Context) (map[string]any, error) {
	v, err := n.Call(ctx, methodGetValue)
	if err != nil {
		return nil, err
	}
	o, ok := v.(*pickle.Object)
	if !ok {
		return nil, fmt.Errorf("%w: Namespace value is %s", ErrProtocol, pickle.TypeName(v))
	}
	out := map[string]any{}
	if d, ok := o.State.(*pickle.Dict); ok {
		for k, val := range d.All() {
			if s, ok := k.(string); ok {
				out[s] = val
			}
		}
	}
	return out, nil
}

// Value is a proxy for a managed Value (Python's ValueProxy): a typecode
// and one value, which the server does not check against the typecode.
type Value struct{ *Proxy }

// Value creates a managed Value (Python's manager.Value(typecode, value)).
func (m *Manager) Value(ctx context.Context, typecode string, value any) (*Value, error) {
	p, err := m.Create(ctx, "Value", []any{typecode, value}, nil)
	if err != nil {
		return nil, err
	}
	return &Value{p}, nil
}

// Get stores the value in out (Python's v.value).
func (v *Value) Get(ctx context.Context, out any) error { return v.call(ctx, out, "get") }

// Set sets the value (Python's v.value = x).
func (v *Value) Set(ctx context.Context, x any) error { return v.call(ctx, nil, "set", x) }

// Array is a proxy for a managed Array (Python's ArrayProxy): an
// array.array of one C type, checked by the server.
type Array struct{ *Proxy }

// Array creates a managed Array of typecode ("i", "d", "B", ...) holding
// items (a Go slice).
func (m *Manager) Array(ctx context.Context, typecode string, items any) (*Array, error) {
	p, err := m.Create(ctx, "Array", []any{typecode, items}, nil)
	if err != nil {
		return nil, err
	}
	return &Array{p}, nil
}

// Len returns len(a).
func (a *Array) Len(ctx context.Context) (int, error) {
	var n int
	err := a.call(ctx, &n, "__len__")
	return n, err
}

// Get stores a[i] in out.
func (a *Array) Get(ctx context.Context, i int, out any) error {
	return a.call(ctx, out, "__getitem__", i)
}

// Set does a[i] = v; a value the type cannot hold is an error matching
// ErrOverflowError or ErrTypeError.
func (a *Array) Set(ctx context.Context, i int, v any) error {
	return a.call(ctx, nil, "__setitem__", i, v)
}

// Items stores all items in out (a Go slice of a fitting type).
func (a *Array) Items(ctx context.Context, out any) error {
	v, err := a.Call(ctx, "__getitem__", sliceArg(0, FullSlice))
	if err != nil {
		return err
	}
	o, ok := v.(*pickle.Object)
	if !ok {
		return fmt.Errorf("%w: array slice is %s", ErrProtocol, pickle.TypeName(v))
	}
	arr, err := arrayFromObject(o)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrProtocol, err)
	}
	return decodeInto(pickle.NewList(arr.items...), out)
}
