package pickle

import (
	"hash/maphash"
	"math/big"
	"reflect"
)

// memoTable is the encoder's memo for one kind of key (pointer identities,
// tuple identities, global names, long strs): key -> memo index.
//
// It is an open-addressing hash table built for the encoder's pattern of use,
// many lookups and inserts on a table that lives for one Dumps and is then
// emptied for the next: keys and vals hold the entries in insertion order;
// slots (a power of two long, at most half full) holds, per occupied slot,
// the key's 32-bit hash in the high word and 1 + the entry's position in the
// low word (0 marks an empty slot). Emptying clears only the entries used
// and the pointer-free slots, with no per-entry work, so a pooled encoder
// starts each Dumps with warm, empty tables. Hashes are seeded per process
// (hashSeed), so collisions cannot be planned by whoever chose the keys.
type memoTable[K comparable] struct {
	keys  []K
	vals  []uint32
	slots []uint64
}

// memoTableMin is the number of slots a table starts with.
const memoTableMin = 32

// get returns the memo index of k, whose hash is h.
func (t *memoTable[K]) get(k K, h uint32) (uint32, bool) {
	if len(t.keys) == 0 {
		return 0, false
	}
	mask := uint32(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return 0, false
		}
		if uint32(s>>32) == h {
			if p := uint32(s) - 1; t.keys[p] == k {
				return t.vals[p], true
			}
		}
	}
}

// getOrPut returns the memo index of k, whose hash is h, if k is present;
// otherwise it records k under v and returns false.
func (t *memoTable[K]) getOrPut(k K, h uint32, v uint32) (uint32, bool) {
	if 2*(len(t.keys)+1) > len(t.slots) {
		t.grow()
	}
	mask := uint32(len(t.slots) - 1)
	i := h & mask
	for ; t.slots[i] != 0; i = (i + 1) & mask {
		s := t.slots[i]
		if uint32(s>>32) == h {
			if p := uint32(s) - 1; t.keys[p] == k {
				return t.vals[p], true
			}
		}
	}
	t.keys = append(t.keys, k)
	t.vals = append(t.vals, v)
	t.slots[i] = uint64(h)<<32 | uint64(len(t.keys))
	return 0, false
}

// put records k (hash h, not present) under memo index v.
func (t *memoTable[K]) put(k K, h uint32, v uint32) {
	if 2*(len(t.keys)+1) > len(t.slots) {
		t.grow()
	}
	t.keys = append(t.keys, k)
	t.vals = append(t.vals, v)
	t.place(h, uint32(len(t.keys)))
}

func (t *memoTable[K]) place(h, pos uint32) {
	mask := uint32(len(t.slots) - 1)
	i := h & mask
	for t.slots[i] != 0 {
		i = (i + 1) & mask
	}
	t.slots[i] = uint64(h)<<32 | uint64(pos)
}

func (t *memoTable[K]) grow() {
	old := t.slots
	t.slots = make([]uint64, max(memoTableMin, 2*len(old)))
	for _, s := range old {
		if s != 0 {
			t.place(uint32(s>>32), uint32(s))
		}
	}
}

// reset empties t, dropping its references to keys. Tables that grew past
// keep entries are let go rather than kept in the pool.
func (t *memoTable[K]) reset(keep int) {
	if len(t.keys) == 0 {
		return
	}
	if cap(t.keys) > keep {
		*t = memoTable[K]{}
		return
	}
	clear(t.keys)
	clear(t.slots)
	t.keys, t.vals = t.keys[:0], t.vals[:0]
}

// strTable is the encoder's memo of short strs (at most strKeyMax bytes),
// by content: str -> memo index. It works as memoTable does, but keeps the
// keys' bytes in one pointer-free arena, data, rather than as strings: a
// request is mostly short strs, and a table without pointers costs the
// garbage collector nothing (no write barriers, nothing to scan, emptying
// it is a truncation and one memclr).
type strTable struct {
	data  []byte
	ents  []strEnt
	slots []uint64 // hash<<32 | 1+position in ents; 0 is empty
}

type strEnt struct {
	off, n, val uint32
}

// strKeyMax is the longest str kept in strTable; longer ones go to a
// memoTable[string] (copying them would cost more than the GC does).
const strKeyMax = 64

// getOrPut returns the memo index of s, whose hash is h, if s is present;
// otherwise it records s under v and returns false.
func (t *strTable) getOrPut(s string, h uint32, v uint32) (uint32, bool) {
	if 2*(len(t.ents)+1) > len(t.slots) {
		t.grow()
	}
	mask := uint32(len(t.slots) - 1)
	i := h & mask
	for ; t.slots[i] != 0; i = (i + 1) & mask {
		sl := t.slots[i]
		if uint32(sl>>32) == h {
			e := &t.ents[uint32(sl)-1]
			if int(e.n) == len(s) && string(t.data[e.off:e.off+e.n]) == s {
				return e.val, true
			}
		}
	}
	t.ents = append(t.ents, strEnt{uint32(len(t.data)), uint32(len(s)), v})
	t.data = append(t.data, s...)
	t.slots[i] = uint64(h)<<32 | uint64(len(t.ents))
	return 0, false
}

func (t *strTable) grow() {
	old := t.slots
	t.slots = make([]uint64, max(memoTableMin, 2*len(old)))
	mask := uint32(len(t.slots) - 1)
	for _, s := range old {
		if s != 0 {
			i := uint32(s>>32) & mask
			for t.slots[i] != 0 {
				i = (i + 1) & mask
			}
			t.slots[i] = s
		}
	}
}

func (t *strTable) reset(keep int) {
	if len(t.ents) == 0 {
		return
	}
	if len(t.ents) > keep {
		*t = strTable{}
		return
	}
	clear(t.slots)
	t.ents, t.data = t.ents[:0], t.data[:0]
}

// Hashes of the memo keys (32 bits: see memoTable). Strings and names are
// hashed with the process's seed; identities by their address, mixed with a
// per-process salt (an address is not the input's to choose).
func fold(h uint64) uint32 { return uint32(h ^ h>>32) }

var addrSalt = maphash.Comparable(hashSeed, uint64(0x2545f4914f6cdd1d))

func hashAddr(p uintptr, n int) uint32 {
	return fold(mix(uint64(p) ^ addrSalt ^ uint64(n)<<48))
}

func hashStr(s string) uint32 {
	if len(s) <= 16 {
		return fold(shortHash(s))
	}
	return fold(maphash.String(hashSeed, s))
}

func hashGlobal(g Global) uint32 { return fold(maphash.Comparable(hashSeed, g)) }
func hashTupleID(id tupleID) uint32 {
	return hashAddr(reflect.ValueOf(id.p).Pointer(), id.n)
}

// hashIdent hashes an identity key of ptrMemo: a pointer, or one of the
// small structs naming a value without a pointer of its own. It keeps k
// from escaping, so that a key made for a lookup needs no allocation.
func hashIdent(k any) uint32 {
	switch x := k.(type) {
	case *List:
		return hashPtr(x, 0)
	case *Dict:
		return hashPtr(x, 0)
	case *Set:
		return hashPtr(x, 0)
	case *Object:
		return hashPtr(x, 0)
	case *big.Int:
		return hashPtr(x, 0)
	case frozenKey:
		return hashPtr(x.s, 1)
	case baKey:
		return hashPtr(x.p, x.n)
	case refKey:
		return hashAddr(x.p, x.n)
	}
	return 0 // not a key type: correct, if slow
}

// hashPtr hashes a pointer (and a length) by address.
func hashPtr[T any](p *T, n int) uint32 {
	return hashAddr(reflect.ValueOf(p).Pointer(), n)
}

// progKey names a value whose encoding is in progress: an immutable (tuple,
// frozenset, object, Go pointer) that may be reached again through its own
// items. Tuples are named by identity (tup), everything else by key.
type progKey struct {
	key any
	tup tupleID
}

// progSet tracks the immutables being encoded on the current path, each
// with the depth of its innermost entry (see encoder). The path is short in
// practice: the first progShort entries sit in a stack searched linearly;
// entries beyond go to a map, so a deeply nested value costs a map operation
// per level rather than a scan of the whole path.
type progSet struct {
	stack []progEnt
	deep  map[progKey]int // k -> depth of its innermost entry beyond the stack
	ndeep int             // entries (pushes) that went to deep and are not popped
}

type progEnt struct {
	k     progKey
	depth int
}

// progMark is what pop needs to undo a push.
type progMark struct {
	deep, deepHad bool
	deepPrev      int
}

const progShort = 16

// find returns the depth of the innermost entry of k, if k is in progress.
func (p *progSet) find(k progKey) (depth int, ok bool) {
	if p.ndeep > 0 {
		if depth, ok = p.deep[k]; ok {
			return depth, true
		}
	}
	for i := len(p.stack) - 1; i >= 0; i-- {
		if p.stack[i].k == k {
			return p.stack[i].depth, true
		}
	}
	return 0, false
}

// push marks k as in progress at depth.
func (p *progSet) push(k progKey, depth int) progMark {
	if p.ndeep == 0 && len(p.stack) < progShort {
		p.stack = append(p.stack, progEnt{k, depth})
		return progMark{}
	}
	if p.deep == nil {
		p.deep = make(map[progKey]int)
	}
	m := progMark{deep: true}
	m.deepPrev, m.deepHad = p.deep[k]
	p.deep[k] = depth
	p.ndeep++
	return m
}

// pop undoes the latest push not yet undone, which was of k.
func (p *progSet) pop(k progKey, m progMark) {
	if !m.deep {
		p.stack[len(p.stack)-1] = progEnt{}
		p.stack = p.stack[:len(p.stack)-1]
		return
	}
	p.ndeep--
	if m.deepHad {
		p.deep[k] = m.deepPrev
	} else {
		delete(p.deep, k)
	}
}

func (p *progSet) reset() {
	if len(p.stack) > 0 {
		clear(p.stack)
		p.stack = p.stack[:0]
	}
	if p.ndeep > 0 || len(p.deep) > 0 {
		p.deep, p.ndeep = nil, 0
	}
}
