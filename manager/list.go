//go:build linux

package manager

import (
	"math"
	"slices"
	"sync"

	"github.com/mproc/mproc/pickle"
)

// listObj is the referent of a managed list: Python's list in the server.
// Items are kept as decoded and never changed in place (see dictObj).
//
// ListProxy has no __iter__: Python iterates a managed list with
// __getitem__(0), __getitem__(1), ... until IndexError, so a client sees
// changes made during its iteration, as test_list_iter expects.
type listObj struct {
	mu    sync.Mutex
	items []any
}

// maxListItems bounds the result of list repetition (l * n), which would
// otherwise let one small request allocate without limit: Python's
// MemoryError.
const maxListItems = 1 << 27

func newList(c *Call) (referent, error) {
	a, err := c.posOnly([]string{"iterable"}, missing)
	if err != nil {
		return nil, err
	}
	l := &listObj{}
	if a[0] != missing {
		items, err := c.iterate(a[0])
		if err != nil {
			return nil, err
		}
		l.items = copyItems(items)
	}
	return l, nil
}

var listMethods = methodTable[*listObj]{
	"__len__": func(l *listObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return int64(len(l.items)), nil
	},
	"__getitem__": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"index"})
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if s, ok := sliceOf(a[0]); ok {
			start, _, step, n, err := s.indices(len(l.items))
			if err != nil {
				return nil, err
			}
			out := make([]any, n)
			for i := range out {
				out[i] = l.items[start+i*step]
			}
			return pickle.NewList(out...), nil
		}
		i, err := l.index(a[0], "list index out of range")
		if err != nil {
			return nil, err
		}
		return l.items[i], nil
	},
	"__setitem__": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"index", "value"})
		if err != nil {
			return nil, err
		}
		if s, ok := sliceOf(a[0]); ok {
			vals, err := c.iterate(a[1])
			if err != nil {
				if _, isTE := err.(*PyError); isTE {
					return nil, pyErr(excTypeError, "must assign iterable to extended slice")
				}
				return nil, err
			}
			vals = copyItems(vals)
			l.mu.Lock()
			defer l.mu.Unlock()
			return pickle.None, l.assignSlice(s, vals)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		i, err := l.index(a[0], "list assignment index out of range")
		if err != nil {
			return nil, err
		}
		l.items[i] = a[1]
		return pickle.None, nil
	},
	"__delitem__": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"index"})
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if s, ok := sliceOf(a[0]); ok {
			start, _, step, n, err := s.indices(len(l.items))
			if err != nil {
				return nil, err
			}
			drop := make(map[int]bool, n)
			for i := 0; i < n; i++ {
				drop[start+i*step] = true
			}
			kept := l.items[:0]
			for i, it := range l.items {
				if !drop[i] {
					kept = append(kept, it)
				}
			}
			clear(l.items[len(kept):])
			l.items = kept
			return pickle.None, nil
		}
		i, err := l.index(a[0], "list assignment index out of range")
		if err != nil {
			return nil, err
		}
		l.items = slices.Delete(l.items, i, i+1)
		return pickle.None, nil
	},
	"__contains__": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"value"})
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for _, it := range l.items {
			if pickle.Equal(it, a[0]) {
				return true, nil
			}
		}
		return false, nil
	},
	"__add__": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"other"})
		if err != nil {
			return nil, err
		}
		other, ok := a[0].(*pickle.List)
		if !ok {
			return nil, pyErrf(excTypeError, "can only concatenate list (not \"%s\") to list", typeName(a[0]))
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		out := make([]any, 0, len(l.items)+len(other.Items))
		out = append(append(out, l.items...), other.Items...)
		return pickle.NewList(out...), nil
	},
	"__mul__":  listRepeat,
	"__rmul__": listRepeat,
	"__imul__": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"value"})
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		out, err := repeat(l.items, a[0])
		if err != nil {
			return nil, err
		}
		l.items = out
		return pickle.NewList(copyItems(out)...), nil
	},
	"__reversed__": func(l *listObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		// list_reverseiterator pickles as reversed(list).
		return pickle.NewObject("builtins", "reversed", pickle.NewList(copyItems(l.items)...)), nil
	},
	"append": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"object"})
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.items = append(l.items, a[0])
		return pickle.None, nil
	},
	"extend": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"iterable"})
		if err != nil {
			return nil, err
		}
		vals, err := c.iterate(a[0])
		if err != nil {
			return nil, err
		}
		vals = copyItems(vals)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.items = append(l.items, vals...)
		return pickle.None, nil
	},
	"insert": func(l *listObj, c *Call) (any, error) {
		if len(c.Args) != 2 {
			return nil, pyErrf(excTypeError, "insert expected 2 arguments, got %d", len(c.Args))
		}
		if err := c.posOnlyCheck(); err != nil {
			return nil, err
		}
		i, err := asIntArg(c.Args[0])
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		n := int64(len(l.items))
		if i < 0 {
			i = max(i+n, 0)
		}
		i = min(i, n)
		l.items = slices.Insert(l.items, int(i), c.Args[1])
		return pickle.None, nil
	},
	"pop": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"index"}, int64(-1))
		if err != nil {
			return nil, err
		}
		i, err := asIntArg(a[0])
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		n := int64(len(l.items))
		if n == 0 {
			return nil, pyErr(excIndexError, "pop from empty list")
		}
		if i < 0 {
			i += n
		}
		if i < 0 || i >= n {
			return nil, pyErr(excIndexError, "pop index out of range")
		}
		v := l.items[i]
		l.items = slices.Delete(l.items, int(i), int(i+1))
		return v, nil
	},
	"remove": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"value"})
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		for i, it := range l.items {
			if pickle.Equal(it, a[0]) {
				l.items = slices.Delete(l.items, i, i+1)
				return pickle.None, nil
			}
		}
		return nil, pyErr(excValueError, "list.remove(x): x not in list")
	},
	"index": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"value", "start", "stop"}, int64(0), int64(math.MaxInt64))
		if err != nil {
			return nil, err
		}
		start, err1 := asSliceIndex(a[1])
		stop, err2 := asSliceIndex(a[2])
		if err1 != nil || err2 != nil {
			return nil, pyErr(excTypeError, "slice indices must be integers or have an __index__ method")
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		n := int64(len(l.items))
		if start < 0 {
			start = max(start+n, 0)
		}
		if stop < 0 {
			stop = max(stop+n, 0)
		}
		for i := start; i < stop && i < n; i++ {
			if pickle.Equal(l.items[i], a[0]) {
				return i, nil
			}
		}
		return nil, pyErrf(excValueError, "%s is not in list", reprValue(a[0]))
	},
	"count": func(l *listObj, c *Call) (any, error) {
		a, err := c.posOnly([]string{"value"})
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		var n int64
		for _, it := range l.items {
			if pickle.Equal(it, a[0]) {
				n++
			}
		}
		return n, nil
	},
	"reverse": func(l *listObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		slices.Reverse(l.items)
		return pickle.None, nil
	},
	"sort": func(l *listObj, c *Call) (any, error) {
		if len(c.Args) > 0 {
			return nil, pyErr(excTypeError, "sort() takes no positional arguments")
		}
		a, err := bind("sort", nil, c.Kwargs, []string{"key", "reverse"}, []any{pickle.None, false}, false)
		if err != nil {
			return nil, err
		}
		if !isNone(a[0]) {
			return nil, pyErr(excTypeError, "sort(key=...) is not supported: the mproc manager server does not run Python callables")
		}
		rev := truth(a[1])
		l.mu.Lock()
		defer l.mu.Unlock()
		sorted := copyItems(l.items)
		var cmpErr error
		slices.SortStableFunc(sorted, func(x, y any) int {
			if cmpErr != nil {
				return 0
			}
			// Go's sort compares a later element with an earlier one,
			// as Python's does, so errors name the operands alike.
			r, err := compare(x, y)
			if err != nil {
				cmpErr = err
				return 0
			}
			if rev {
				r = -r
			}
			return r
		})
		if cmpErr != nil {
			return nil, cmpErr
		}
		l.items = sorted
		return pickle.None, nil
	},
	// Python 3.14 additions.
	"clear": func(l *listObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.items = nil
		return pickle.None, nil
	},
	"copy": func(l *listObj, c *Call) (any, error) {
		if err := c.noArgs(); err != nil {
			return nil, err
		}
		return pickle.NewList(l.snapshot()...), nil
	},
}

func listRepeat(l *listObj, c *Call) (any, error) {
	a, err := c.posOnly([]string{"value"})
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	out, err := repeat(l.items, a[0])
	if err != nil {
		return nil, err
	}
	return pickle.NewList(out...), nil
}

// repeat is items * n.
func repeat(items []any, nv any) ([]any, error) {
	n, big_, ok := asInt(nv)
	if !ok {
		return nil, pyErrf(excTypeError, "can't multiply sequence by non-int of type '%s'", typeName(nv))
	}
	if n <= 0 || len(items) == 0 {
		return []any{}, nil
	}
	if big_ || n > maxListItems/int64(len(items)) {
		return nil, pyErr(pickleGlobal("builtins", "MemoryError"))
	}
	out := make([]any, 0, int(n)*len(items))
	for range n {
		out = append(out, items...)
	}
	return out, nil
}

func pickleGlobal(module, name string) pickle.Global {
	return pickle.Global{Module: module, Name: name}
}

// index resolves a list index (negative from the end) or fails with
// IndexError(msg). The caller holds l.mu.
func (l *listObj) index(v any, msg string) (int, error) {
	i, big_, ok := asInt(v)
	if !ok {
		return 0, pyErrf(excTypeError, "list indices must be integers or slices, not %s", typeName(v))
	}
	if big_ {
		return 0, pyErr(excIndexError, "cannot fit 'int' into an index-sized integer")
	}
	n := int64(len(l.items))
	if i < 0 {
		i += n
	}
	if i < 0 || i >= n {
		return 0, pyErr(excIndexError, msg)
	}
	return int(i), nil
}

// assignSlice is l[s] = vals. The caller holds l.mu.
func (l *listObj) assignSlice(s pySlice, vals []any) error {
	start, stop, step, n, err := s.indices(len(l.items))
	if err != nil {
		return err
	}
	if step == 1 {
		if stop < start {
			stop = start
		}
		l.items = slices.Replace(l.items, start, stop, vals...)
		return nil
	}
	if len(vals) != n {
		return pyErrf(excValueError, "attempt to assign sequence of size %d to extended slice of size %d", len(vals), n)
	}
	for i := 0; i < n; i++ {
		l.items[start+i*step] = vals[i]
	}
	return nil
}

// snapshot returns a copy of the items (for iterate).
func (l *listObj) snapshot() []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return copyItems(l.items)
}

func (l *listObj) call(c *Call) (any, error) { return dispatch(listMethods, l, c, "list") }

func (l *listObj) repr(string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return reprValue(pickle.NewList(l.items...))
}

func (l *listObj) str(id string) string { return l.repr(id) }

func (l *listObj) value() (any, error) { return pickle.NewList(l.snapshot()...), nil }

func (l *listObj) scan(fn func(string)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	scanValue(pickle.Tuple(l.items), fn)
}

// pySlice is a Python slice object: builtins.slice(start, stop, step),
// which a client sends as a REDUCE.
type pySlice struct {
	start, stop, step any
}

// sliceOf recognises a slice argument.
func sliceOf(v any) (pySlice, bool) {
	o, ok := v.(*pickle.Object)
	if !ok || o.New || o.Class() != (pickle.Global{Module: "builtins", Name: "slice"}) {
		return pySlice{}, false
	}
	s := pySlice{start: pickle.None, stop: pickle.None, step: pickle.None}
	switch len(o.Args) {
	case 1:
		s.stop = o.Args[0]
	case 2:
		s.start, s.stop = o.Args[0], o.Args[1]
	case 3:
		s.start, s.stop, s.step = o.Args[0], o.Args[1], o.Args[2]
	default:
		return pySlice{}, false
	}
	return s, true
}

// asSliceIndex converts a slice bound, clamping big ints as Python does.
func asSliceIndex(v any) (int64, error) {
	n, _, ok := asInt(v)
	if !ok {
		return 0, pyErr(excTypeError, "slice indices must be integers or None or have an __index__ method")
	}
	return n, nil
}

// indices is PySlice_Unpack plus PySlice_AdjustIndices: the first index,
// the (adjusted) stop, the step and the number of items selected.
func (s pySlice) indices(length int) (start, stop, step, n int, err error) {
	st := int64(1)
	if !isNone(s.step) {
		if st, err = asSliceIndex(s.step); err != nil {
			return
		}
		if st == 0 {
			err = pyErr(excValueError, "slice step cannot be zero")
			return
		}
	}
	var b, e int64
	if isNone(s.start) {
		if st < 0 {
			b = math.MaxInt64
		}
	} else if b, err = asSliceIndex(s.start); err != nil {
		return
	}
	if isNone(s.stop) {
		e = math.MaxInt64
		if st < 0 {
			e = math.MinInt64
		}
	} else if e, err = asSliceIndex(s.stop); err != nil {
		return
	}
	ln := int64(length)
	adjust := func(x int64) int64 {
		if x < 0 {
			x += ln
			if x < 0 {
				if st < 0 {
					return -1
				}
				return 0
			}
		} else if x >= ln {
			if st < 0 {
				return ln - 1
			}
			return ln
		}
		return x
	}
	b, e = adjust(b), adjust(e)
	var cnt int64
	if st < 0 {
		if e < b {
			cnt = (b-e-1)/(-st) + 1
		}
	} else if b < e {
		cnt = (e-b-1)/st + 1
	}
	return int(b), int(e), int(st), int(cnt), nil
}
