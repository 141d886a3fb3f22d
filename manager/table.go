//go:build linux

package manager

import (
	"slices"
	"strconv"
	"sync"
)

// The object table: CPython's id_to_obj / id_to_refcount /
// id_to_local_proxy_obj, kept as one map of entries.
//
// Reference counts follow CPython exactly as clients see them: create
// counts one reference, incref adds one, decref removes one, and
// number_of_objects counts the entries holding at least one reference.
// Three things are added:
//
//   - Holders. A reference taken over a session connection (Go clients) is
//     owned by that session; one taken by a process known through the Unix
//     socket's peer credentials is owned by that process. When the session's
//     last connection closes, or the process is found dead, the references
//     it still owns are dropped, so a killed client does not leak its
//     objects (CPython keeps them until shutdown). References from unknown
//     peers (TCP clients without a session) are unowned, as in CPython.
//
//   - Nested proxies. An entry whose value may contain proxies for other
//     entries (a dict holding a managed list) is flagged nested. An entry
//     whose count drops to zero is not deleted while it is reachable from a
//     referenced entry through such values: CPython keeps it in
//     id_to_local_proxy_obj, forever; here a mark-and-sweep collection
//     (collect) deletes it once it is unreachable. Like CPython, decref of
//     an entry at zero is ignored and incref revives it.
//
//   - Pins. A reply carrying a proxy (d['x'] returning a managed list) pins
//     the proxy's entry until the client's incref for it arrives (the
//     client increfs before it sends its next request) or the connection
//     closes, so a collection in between cannot delete it.
//
// Lock order: table.mu before any referent's own mutex. Referent methods
// never take table.mu while holding their own.
type objectTable struct {
	mu      sync.RWMutex
	objs    map[string]*entry
	next    uint64
	live    int             // entries with refs > 0: number_of_objects
	nested  int             // entries flagged nested
	zero    map[*entry]bool // entries with refs == 0 && pins == 0, kept while nested > 0
	holders map[string]*holder
	kick    chan struct{} // wakes the collector (capacity 1)
}

// entry is one managed object.
type entry struct {
	id      string
	typ     *Type
	obj     referent
	exposed map[string]bool
	expose  []string          // as returned by create (order and duplicates kept)
	mtt     map[string]string // method_to_typeid

	// Guarded by objectTable.mu.
	refs    int64
	pins    []*serverConn // connections whose replies carried a proxy for this entry
	held    map[*holder]int64
	nested  bool
	deleted bool
}

// holder owns references: a client session or a client process.
type holder struct {
	key   string
	conns int              // open connections attributed to it
	refs  map[*entry]int64 // references it owns, by entry
	alive func() bool      // process holders: is the process still alive
	watch bool             // in the server's watch list (process holders)
}

func newObjectTable() *objectTable {
	return &objectTable{
		objs:    make(map[string]*entry),
		next:    0x1000,
		zero:    make(map[*entry]bool),
		holders: make(map[string]*holder),
		kick:    make(chan struct{}, 1),
	}
}

// add enters a new object with one reference, owned by h (nil: unowned),
// and returns its entry. nested marks a value that may contain proxies.
func (t *objectTable) add(typ *Type, obj referent, exposed []string, mtt map[string]string, h *holder, nested bool) *entry {
	e := &entry{typ: typ, obj: obj, expose: exposed, mtt: mtt, refs: 1}
	e.exposed = make(map[string]bool, len(exposed))
	for _, m := range exposed {
		e.exposed[m] = true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.next++
	e.id = strconv.FormatUint(t.next, 16)
	t.objs[e.id] = e
	t.live++
	t.holdLocked(e, h, 1)
	if nested {
		e.nested = true
		t.nested++
	}
	return e
}

// get returns the entry for id, whatever its count (CPython looks in
// id_to_obj, then id_to_local_proxy_obj).
func (t *objectTable) get(id string) (*entry, bool) {
	t.mu.RLock()
	e, ok := t.objs[id]
	t.mu.RUnlock()
	return e, ok
}

// markNested flags e as possibly holding proxies.
func (t *objectTable) markNested(e *entry) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !e.nested && !e.deleted {
		e.nested = true
		t.nested++
	}
}

// incref is the public call incref: one more reference, owned by h. An
// unknown id is Python's KeyError.
func (t *objectTable) incref(id string, h *holder) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.objs[id]
	if !ok {
		return pyErr(excKeyError, id)
	}
	if e.refs == 0 {
		t.live++
		delete(t.zero, e)
	}
	e.refs++
	t.holdLocked(e, h, 1)
	if len(e.pins) > 0 {
		// The client that received this proxy has taken its reference.
		c := e.pins[0]
		e.pins = slices.Delete(e.pins, 0, 1)
		c.unpinLocked(e)
	}
	return nil
}

// decref is the public call decref. An unknown id is Python's KeyError; an
// entry with no references left is skipped (CPython's "DECREF skipping" of
// an object only the server itself references).
func (t *objectTable) decref(id string, h *holder) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.objs[id]
	if !ok {
		return pyErr(excKeyError, id)
	}
	if e.refs <= 0 {
		return nil
	}
	t.dropLocked(e, h, 1)
	return nil
}

// holdLocked records n references of e as h's.
func (t *objectTable) holdLocked(e *entry, h *holder, n int64) {
	if h == nil {
		return
	}
	if e.held == nil {
		e.held = make(map[*holder]int64, 1)
	}
	e.held[h] += n
	if h.refs == nil {
		h.refs = make(map[*entry]int64)
	}
	h.refs[e] += n
}

// dropLocked removes n references of e (which has some): first those h
// owns, then unowned ones, then other holders', and deletes e or queues it
// for collection when none are left.
func (t *objectTable) dropLocked(e *entry, h *holder, n int64) {
	n = min(n, e.refs)
	unowned := e.refs
	for _, k := range e.held {
		unowned -= k
	}
	if h != nil {
		k := min(n, e.held[h])
		t.releaseHeldLocked(e, h, k)
		n -= k
	}
	k := min(n, unowned)
	e.refs -= k
	n -= k
	for o := range e.held {
		if n == 0 {
			break
		}
		k := min(n, e.held[o])
		t.releaseHeldLocked(e, o, k)
		n -= k
	}
	if e.refs == 0 {
		t.live--
		t.zeroLocked(e)
	}
}

// releaseHeldLocked removes k of the references h owns on e.
func (t *objectTable) releaseHeldLocked(e *entry, h *holder, k int64) {
	if k <= 0 {
		return
	}
	e.refs -= k
	e.held[h] -= k
	h.refs[e] -= k
	if e.held[h] <= 0 {
		delete(e.held, h)
		delete(h.refs, e)
	}
}

// zeroLocked handles an entry that may have lost its last reference and pin:
// delete it at once when nothing can hold a proxy for it, else leave it to
// the collector.
func (t *objectTable) zeroLocked(e *entry) {
	if e.refs > 0 || len(e.pins) > 0 || e.deleted {
		return
	}
	if t.nested == 0 || (t.nested == 1 && e.nested) {
		t.deleteLocked(e)
		return
	}
	t.zero[e] = true
	select {
	case t.kick <- struct{}{}:
	default:
	}
}

func (t *objectTable) deleteLocked(e *entry) {
	if e.deleted {
		return
	}
	e.deleted = true
	delete(t.objs, e.id)
	delete(t.zero, e)
	if e.nested {
		t.nested--
	}
	for h, n := range e.held {
		h.refs[e] -= n
		if h.refs[e] <= 0 {
			delete(h.refs, e)
		}
	}
	e.held = nil
	if e.refs > 0 {
		t.live--
		e.refs = 0
	}
	if t.nested == 0 {
		// Nothing can reach the zero-count entries any more.
		for z := range t.zero {
			z.deleted = true
			delete(t.objs, z.id)
			delete(t.zero, z)
		}
	}
}

// pin records that c sent a reply carrying a proxy for e.
func (t *objectTable) pin(e *entry, c *serverConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e.deleted {
		return
	}
	e.pins = append(e.pins, c)
	delete(t.zero, e)
	c.pinLocked(e)
}

// unpinConn drops the pins c holds (its connection closed).
func (t *objectTable) unpinConn(c *serverConn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for e := range c.pinned {
		e.pins = slices.DeleteFunc(e.pins, func(x *serverConn) bool { return x == c })
		t.zeroLocked(e)
	}
	clear(c.pinned)
}

// holderFor returns the holder named key, made with alive (nil for
// sessions) if new, and counts one more connection for it.
func (t *objectTable) holderFor(key string, alive func() bool) *holder {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.holders[key]
	if !ok {
		h = &holder{key: key, alive: alive}
		t.holders[key] = h
	}
	h.conns++
	return h
}

// connClosed counts one connection of h gone. A process holder whose
// process is dead drops every reference it owns; one whose process lives
// is returned for watching (watch). A session holder with no connection
// left is returned for expiry (expire): its references are dropped after
// the server's grace period unless the session reconnects.
func (t *objectTable) connClosed(h *holder) (watch, expire bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h.conns--
	if h.conns > 0 {
		return false, false
	}
	if h.alive == nil {
		if len(h.refs) == 0 {
			delete(t.holders, h.key)
			return false, false
		}
		return false, true
	}
	if h.alive() {
		if len(h.refs) == 0 {
			delete(t.holders, h.key)
			return false, false
		}
		if !h.watch {
			h.watch = true
			return true, false
		}
		return false, false
	}
	t.holderGoneLocked(h)
	return false, false
}

// expireSession drops the references of a session holder that has had no
// connection for the grace period.
func (t *objectTable) expireSession(h *holder) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if h.conns == 0 && t.holders[h.key] == h {
		t.holderGoneLocked(h)
	}
}

// checkWatched drops the holders in watch whose processes have died and
// returns those still to watch.
func (t *objectTable) checkWatched(watch []*holder) []*holder {
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := watch[:0]
	for _, h := range watch {
		switch {
		case h.conns > 0 || len(h.refs) == 0:
			h.watch = false
			if h.conns == 0 {
				delete(t.holders, h.key)
			}
		case !h.alive():
			h.watch = false
			t.holderGoneLocked(h)
		default:
			kept = append(kept, h)
		}
	}
	clear(watch[len(kept):])
	return kept
}

func (t *objectTable) holderGoneLocked(h *holder) {
	delete(t.holders, h.key)
	for e, n := range h.refs {
		if e.deleted {
			continue
		}
		delete(e.held, h)
		if n > e.refs {
			n = e.refs
		}
		e.refs -= n
		if e.refs == 0 && n > 0 {
			t.live--
			t.zeroLocked(e)
		}
	}
	clear(h.refs)
}

// collect deletes the zero-count entries that no referenced entry reaches
// through proxies held in values. It holds the table lock throughout, and
// takes referents' locks to read their values.
func (t *objectTable) collect() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.zero) == 0 {
		return
	}
	marked := make(map[*entry]bool)
	var work []*entry
	for _, e := range t.objs {
		if e.refs > 0 || len(e.pins) > 0 {
			marked[e] = true
			if e.nested {
				work = append(work, e)
			}
		}
	}
	for len(work) > 0 {
		e := work[len(work)-1]
		work = work[:len(work)-1]
		e.obj.scan(func(id string) {
			r, ok := t.objs[id]
			if !ok || marked[r] {
				return
			}
			marked[r] = true
			if r.nested {
				work = append(work, r)
			}
		})
	}
	for e := range t.zero {
		if !marked[e] {
			t.deleteLocked(e)
		}
	}
}

// counts returns number_of_objects (entries with references) and the
// number of entries in the table (including those only the server's
// values hold).
func (t *objectTable) counts() (referenced, all int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return t.live, len(t.objs)
}

// referenced returns the referenced entries sorted by id, with their
// counts, for debug_info.
func (t *objectTable) referenced() []entryCount {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]entryCount, 0, t.live)
	for _, e := range t.objs {
		if e.refs > 0 {
			out = append(out, entryCount{e, e.refs})
		}
	}
	slices.SortFunc(out, func(a, b entryCount) int {
		switch {
		case a.e.id < b.e.id:
			return -1
		case a.e.id > b.e.id:
			return 1
		}
		return 0
	})
	return out
}

type entryCount struct {
	e    *entry
	refs int64
}

// all returns every entry (for shutdown).
func (t *objectTable) all() []*entry {
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]*entry, 0, len(t.objs))
	for _, e := range t.objs {
		out = append(out, e)
	}
	return out
}
