//go:build linux

package manager

import (
	"context"
	"errors"
	"fmt"

	"github.com/mproc/mproc/pickle"
)

// List is a proxy for a managed list (Python's ListProxy). Items are Go
// values pickled with pickle.Marshal and decoded with
// pickle.UnmarshalValue; indices may be negative, counting from the end.
type List struct{ *Proxy }

// List creates a managed list (Python's manager.list()), holding the items
// of initial if one is given (a Go slice, a *pickle.List, ...).
func (m *Manager) List(ctx context.Context, initial ...any) (*List, error) {
	if len(initial) > 1 {
		return nil, fmt.Errorf("%w: List takes at most one initial value", ErrConfig)
	}
	p, err := m.Create(ctx, "list", initial, nil)
	if err != nil {
		return nil, err
	}
	return &List{p}, nil
}

// Len returns len(l).
func (l *List) Len(ctx context.Context) (int, error) {
	var n int
	err := l.call(ctx, &n, "__len__")
	return n, err
}

// Get stores l[i] in out; an index out of range is an error matching
// ErrIndexError.
func (l *List) Get(ctx context.Context, i int, out any) error {
	return l.call(ctx, out, "__getitem__", i)
}

// Set does l[i] = value.
func (l *List) Set(ctx context.Context, i int, value any) error {
	return l.call(ctx, nil, "__setitem__", i, value)
}

// Delete does del l[i].
func (l *List) Delete(ctx context.Context, i int) error {
	return l.call(ctx, nil, "__delitem__", i)
}

// Slice stores l[start:stop] in out (a Go slice, say). Use FullSlice for
// an open end: Slice(ctx, 0, FullSlice, &all).
func (l *List) Slice(ctx context.Context, start, stop int, out any) error {
	return l.call(ctx, out, "__getitem__", sliceArg(start, stop))
}

// SetSlice does l[start:stop] = values.
func (l *List) SetSlice(ctx context.Context, start, stop int, values any) error {
	return l.call(ctx, nil, "__setitem__", sliceArg(start, stop), values)
}

// DeleteSlice does del l[start:stop].
func (l *List) DeleteSlice(ctx context.Context, start, stop int) error {
	return l.call(ctx, nil, "__delitem__", sliceArg(start, stop))
}

// FullSlice as a Slice bound means "to the end" (Python's omitted bound).
const FullSlice = int(^uint(0) >> 1)

func sliceArg(start, stop int) *pickle.Object {
	var b, e any = int64(start), int64(stop)
	if stop == FullSlice {
		e = pickle.None
	}
	return pickle.NewObject("builtins", "slice", b, e, pickle.None)
}

// Items stores all items (l[:]) in out.
func (l *List) Items(ctx context.Context, out any) error {
	return l.Slice(ctx, 0, FullSlice, out)
}

// Append does l.append(v).
func (l *List) Append(ctx context.Context, v any) error { return l.call(ctx, nil, "append", v) }

// Extend does l.extend(values): a Go slice, a *pickle.List, a *List...
func (l *List) Extend(ctx context.Context, values any) error {
	return l.call(ctx, nil, "extend", values)
}

// Insert does l.insert(i, v).
func (l *List) Insert(ctx context.Context, i int, v any) error {
	return l.call(ctx, nil, "insert", i, v)
}

// Index returns l.index(v); a value not in the list is an error matching
// ErrValueError.
func (l *List) Index(ctx context.Context, v any) (int, error) {
	var n int
	err := l.call(ctx, &n, "index", v)
	return n, err
}

// Count returns l.count(v).
func (l *List) Count(ctx context.Context, v any) (int, error) {
	var n int
	err := l.call(ctx, &n, "count", v)
	return n, err
}

// Contains reports v in l.
func (l *List) Contains(ctx context.Context, v any) (bool, error) {
	var ok bool
	err := l.call(ctx, &ok, "__contains__", v)
	return ok, err
}

// Remove does l.remove(v); a missing value is an error matching
// ErrValueError.
func (l *List) Remove(ctx context.Context, v any) error { return l.call(ctx, nil, "remove", v) }

// Pop removes l[i] and stores it in out (i = -1 for the last item).
func (l *List) Pop(ctx context.Context, i int, out any) error {
	return l.call(ctx, out, "pop", i)
}

// Reverse reverses the list in place.
func (l *List) Reverse(ctx context.Context) error { return l.call(ctx, nil, "reverse") }

// Sort sorts the list in place with Python's ordering (l.sort(reverse=r));
// unorderable items are an error matching ErrTypeError.
func (l *List) Sort(ctx context.Context, reverse bool) error {
	_, err := l.CallKw(ctx, "sort", nil, []Kwarg{{Name: "reverse", Value: reverse}})
	return err
}

// Range calls fn with each item in order, reading them one call at a time
// as Python's for loop over a managed list does (it sees changes made
// meanwhile), until fn returns false or the list ends.
func (l *List) Range(ctx context.Context, fn func(i int, v any) bool) error {
	for i := 0; ; i++ {
		v, err := l.Call(ctx, "__getitem__", i)
		if errors.Is(err, ErrIndexError) {
			return nil
		}
		if err != nil {
			return err
		}
		if !fn(i, v) {
			return nil
		}
	}
}
