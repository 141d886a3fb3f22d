//go:build linux

package manager

import (
	"sync"

	"github.com/mproc/mproc/pickle"
)

// iteratorObj is the referent of an Iterator: what iter(d) on a managed
// dict returns, as a '#PROXY' whose IteratorProxy calls __next__ until
// StopIteration. It walks the keys the dict had when the iterator was
// made; like Python's dict iterator it raises RuntimeError ("dictionary
// changed size during iteration", again on every later call) once the
// dict's length differs from that, and StopIteration forever once
// exhausted.
//
// Python's IteratorProxy also exposes send, throw and close, which a dict
// iterator does not have: calling them is an AttributeError, as in CPython.
type iteratorObj struct {
	mu      sync.Mutex
	typ     string
	items   []any
	pos     int
	size    func() int // current length of the container, nil if none
	sizeAt  int
	changed string // the RuntimeError message when the size changed
	broken  bool
	done    bool
}

func (it *iteratorObj) call(c *Call) (any, error) {
	if c.Method != "__next__" {
		return nil, errNoAttr(it.typ, c.Method)
	}
	if err := c.noArgs(); err != nil {
		return nil, err
	}
	var size = -1
	if it.size != nil {
		size = it.size() // outside it.mu: takes the container's lock
	}
	it.mu.Lock()
	defer it.mu.Unlock()
	if it.done {
		return nil, pyErr(excStopIteration)
	}
	if it.broken || (size >= 0 && size != it.sizeAt) {
		it.broken = true
		return nil, pyErr(excRuntimeError, it.changed)
	}
	if it.pos >= len(it.items) {
		it.done, it.items = true, nil
		return nil, pyErr(excStopIteration)
	}
	v := it.items[it.pos]
	it.items[it.pos] = nil
	it.pos++
	return v, nil
}

func (it *iteratorObj) repr(id string) string {
	return "<" + it.typ + " object at 0x" + id + ">"
}

func (it *iteratorObj) str(id string) string { return it.repr(id) }

func (it *iteratorObj) value() (any, error) {
	return nil, pyErrf(excTypeError, "cannot pickle '%s' object", it.typ)
}

func (it *iteratorObj) scan(fn func(string)) {
	it.mu.Lock()
	defer it.mu.Unlock()
	scanValue(pickle.Tuple(it.items[it.pos:]), fn)
}
