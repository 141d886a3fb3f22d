package pickle

import (
	"bytes"
	"reflect"
)

// Equal reports whether a and b are equal model values, as Python's == would
// find them: numbers by value (1 == 1.0 == True), bytes equal to a bytearray
// with the same contents, a Tuple never equal to a *List, dicts equal
// regardless of order, sets equal to frozensets with the same members,
// Globals by name, Objects by their recorded construction (Callable, Args,
// Kwargs, New, State and items). Two differences from Python, both so that a
// value equals its own decoded copy: NaN equals NaN, and *Object compares by
// structure rather than by identity. Cyclic values are compared
// coinductively. Other Go values are compared with reflect.DeepEqual.
func Equal(a, b any) bool {
	c := comparer{seen: map[[2]any]bool{}}
	return c.eq(a, b, 0)
}

type comparer struct {
	seen map[[2]any]bool // pointer pairs being (or found) equal
}

const equalMaxDepth = 10000

func (c *comparer) pair(a, b any) bool {
	k := [2]any{a, b}
	if c.seen[k] {
		return true
	}
	c.seen[k] = true
	return false
}

func (c *comparer) eq(a, b any, depth int) bool {
	if depth > equalMaxDepth {
		return false
	}
	a, b = normalizeKey(a), normalizeKey(b)
	switch x := a.(type) {
	case NoneType:
		_, ok := b.(NoneType)
		return ok
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		switch y := b.(type) {
		case []byte:
			return bytes.Equal(x, y)
		case ByteArray:
			return bytes.Equal(x, y)
		}
		return false
	case ByteArray:
		switch y := b.(type) {
		case []byte:
			return bytes.Equal(x, y)
		case ByteArray:
			return bytes.Equal(x, y)
		}
		return false
	case Global:
		y, ok := b.(Global)
		return ok && x == y
	case Tuple:
		y, ok := b.(Tuple)
		if !ok || len(x) != len(y) {
			return false
		}
		if len(x) == 0 || &x[0] == &y[0] || c.pair(idOf(x), idOf(y)) {
			return true // shared sub-tuples are compared once
		}
		return c.seq(x, y, depth)
	case *List:
		y, ok := b.(*List)
		if !ok || x == nil || y == nil {
			return ok && x == y
		}
		return x == y || c.pair(x, y) || c.seq(x.Items, y.Items, depth)
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x == nil || y == nil {
			return ok && x == y
		}
		if x == y || c.pair(x, y) {
			return true
		}
		if x.Len() != y.Len() {
			return false
		}
		for k, v := range x.All() {
			w, found := y.Get(k)
			if !found || !c.eq(v, w, depth+1) {
				return false
			}
		}
		return true
	case *Set:
		if x == nil {
			return b == any((*Set)(nil))
		}
		return c.setEq(x.Items(), b, depth)
	case FrozenSet:
		return c.setEq(x.Items(), b, depth)
	case *Object:
		y, ok := b.(*Object)
		if !ok || x == nil || y == nil {
			return ok && x == y
		}
		if x == y || c.pair(x, y) {
			return true
		}
		if x.New != y.New || (x.Kwargs == nil) != (y.Kwargs == nil) || (x.State == nil) != (y.State == nil) ||
			len(x.DictItems) != len(y.DictItems) {
			return false
		}
		if !c.eq(x.Callable, y.Callable, depth+1) || !c.seq(x.Args, y.Args, depth) ||
			!c.seq(x.ListItems, y.ListItems, depth) {
			return false
		}
		if x.Kwargs != nil && !c.eq(x.Kwargs, y.Kwargs, depth+1) {
			return false
		}
		if x.State != nil && !c.eq(x.State, y.State, depth+1) {
			return false
		}
		for i := range x.DictItems {
			if !c.eq(x.DictItems[i].Key, y.DictItems[i].Key, depth+1) ||
				!c.eq(x.DictItems[i].Value, y.DictItems[i].Value, depth+1) {
				return false
			}
		}
		return true
	}
	if n, ok := toNum(a); ok {
		m, ok := toNum(b)
		if !ok {
			return false
		}
		if n.kind == numNaN && m.kind == numNaN {
			return true
		}
		return n.equal(m)
	}
	return reflect.DeepEqual(a, b)
}

func (c *comparer) seq(x, y []any, depth int) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if !c.eq(x[i], y[i], depth+1) {
			return false
		}
	}
	return true
}

func (c *comparer) setEq(items []any, b any, depth int) bool {
	var has func(any) bool
	var n int
	switch y := b.(type) {
	case *Set:
		if y == nil {
			return false
		}
		has, n = y.Has, y.Len()
	case FrozenSet:
		has, n = y.Has, y.Len()
	default:
		return false
	}
	if len(items) != n {
		return false
	}
	for _, it := range items {
		if !has(it) {
			return false
		}
	}
	return true
}
