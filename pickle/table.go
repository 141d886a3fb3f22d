package pickle

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"math"
	"math/big"
	"reflect"
	"slices"
)

// table is the insertion-ordered hash table behind Dict and Set.
//
// entries holds every entry in insertion order; deleted entries stay in place
// with a nil key (keys are never nil: normalizeKey makes nil None) until a
// compaction. Small tables (at most smallTable entries) are scanned
// linearly; larger ones keep an index (ix), which maps a hash to 1 + the
// index of the newest entry with that hash, and entries with equal hashes
// are chained through next, parallel to entries (1 + index, 0 ends the
// chain). An entry is 40 bytes; small tables, most of the dicts a request
// holds, have nothing else.
//
// Hashes are seeded per process (hash/maphash), so collisions cannot be
// planned by whoever writes the pickle.
type table struct {
	entries []entry
	ix      *tableIndex // nil for small tables
	live    int
}

// tableIndex is the index of a large table (see table).
type tableIndex struct {
	index map[uint64]int32
	next  []int32
}

type entry struct {
	key, value any // key == nil: deleted
	hash       uint64
}

func (e *entry) isLive() bool { return e.key != nil }

const smallTable = 8

// defaultHashDepth bounds the nesting of tuple keys hashed by the public
// Dict and Set methods.
const defaultHashDepth = 1000

var hashSeed = maphash.MakeSeed()

const (
	saltBytes  = 0x9e3779b97f4a7c15
	saltTuple  = 0xc2b2ae3d27d4eb4f
	saltFrozen = 0x165667b19e3779f9
	saltFloat  = 0x27d4eb2f165667c5
	hashNone   = 0x85ebca77c2b2ae63
	hashNaN    = 0x94d049bb133111eb
)

// mix is a 64-bit finaliser (splitmix64).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

func (t *table) find(key any) (int, error) {
	var h hasher
	h.maxDepth = defaultHashDepth
	k := normalizeKey(key)
	hv, err := h.hash(k, 0)
	if err != nil {
		return -1, err
	}
	return t.lookup(&h, k, hv), nil
}

// lookupStr is lookup for a str key of fewer than bigString bytes.
func (t *table) lookupStr(s string, hv uint64) int {
	if t.ix == nil {
		for i := range t.entries {
			if e := &t.entries[i]; e.hash == hv {
				if k, ok := e.key.(string); ok && k == s {
					return i
				}
			}
		}
		return -1
	}
	for j := t.ix.index[hv]; j != 0; j = t.ix.next[j-1] {
		if e := &t.entries[j-1]; e.hash == hv {
			if k, ok := e.key.(string); ok && k == s {
				return int(j - 1)
			}
		}
	}
	return -1
}

func (t *table) lookup(h *hasher, key any, hv uint64) int {
	if t.ix == nil {
		for i := range t.entries {
			e := &t.entries[i]
			if e.hash == hv && e.isLive() && h.equal(e.key, key, 0) {
				return i
			}
		}
		return -1
	}
	for j := t.ix.index[hv]; j != 0; j = t.ix.next[j-1] {
		e := &t.entries[j-1]
		if e.hash == hv && e.isLive() && h.equal(e.key, key, 0) {
			return int(j - 1)
		}
	}
	return -1
}

// insert adds key (or, when an equal key exists and setValue is true,
// replaces its value). It reports whether a new entry was added.
func (t *table) insert(key, value any, setValue bool, maxDepth int) (bool, error) {
	h := hasher{maxDepth: maxDepth}
	return t.insertWith(&h, key, value, setValue)
}

func (t *table) insertWith(h *hasher, key, value any, setValue bool) (bool, error) {
	var hv uint64
	i := -1
	if s, ok := key.(string); ok && len(s) < bigString {
		// The common key, without the general machinery: a str only
		// equals a str, and short ones are not cached by identity.
		hv = hashString(s)
		i = t.lookupStr(s, hv)
	} else {
		key = normalizeKey(key)
		var err error
		if hv, err = h.hash(key, 0); err != nil {
			return false, err
		}
		i = t.lookup(h, key, hv)
	}
	if i >= 0 {
		if setValue {
			t.entries[i].value = value
		}
		return false, nil
	}
	if len(t.entries) >= math.MaxInt32-1 {
		return false, ErrTooManyItems
	}
	t.entries = append(t.entries, entry{key: key, value: value, hash: hv})
	t.live++
	n := int32(len(t.entries))
	if ix := t.ix; ix != nil {
		ix.next = append(ix.next, ix.index[hv])
		ix.index[hv] = n
	} else if n > smallTable {
		t.reindex()
	}
	return true, nil
}

// reserve makes room for n more entries.
func (t *table) reserve(n int) {
	if n <= 0 || n > 1<<16 {
		return // large batches grow as they go: n is not trusted
	}
	if t.entries == nil {
		t.entries = make([]entry, 0, n)
	} else {
		t.entries = slices.Grow(t.entries, n)
	}
	if t.ix == nil && len(t.entries)+n > smallTable {
		t.reindexCap(len(t.entries) + n)
	} else if t.ix != nil {
		t.ix.next = slices.Grow(t.ix.next, n)
	}
}

func (t *table) reindex() { t.reindexCap(len(t.entries)) }

// reindexCap builds index and next for the entries, with room for n.
func (t *table) reindexCap(n int) {
	ix := &tableIndex{
		index: make(map[uint64]int32, n),
		next:  make([]int32, len(t.entries), max(n, len(t.entries))),
	}
	for i := range t.entries {
		if e := &t.entries[i]; e.isLive() {
			ix.next[i] = ix.index[e.hash]
			ix.index[e.hash] = int32(i + 1)
		}
	}
	t.ix = ix
}

func (t *table) remove(key any) bool {
	i, err := t.find(key)
	if err != nil || i < 0 {
		return false
	}
	e := &t.entries[i]
	e.key, e.value = nil, nil
	t.live--
	if dead := len(t.entries) - t.live; dead > 16 && dead > t.live {
		kept := t.entries[:0]
		for _, e := range t.entries {
			if e.isLive() {
				kept = append(kept, e)
			}
		}
		clear(t.entries[len(kept):])
		t.entries = kept
		if len(kept) > smallTable {
			t.reindex()
		} else {
			t.ix = nil
		}
	}
	return true
}

// normalizeKey turns Go numeric types into the model's int64 / *big.Int /
// float64 / complex128, and nil into None.
func normalizeKey(k any) any {
	switch x := k.(type) {
	case nil:
		return None
	case int:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case uint:
		return uintValue(uint64(x))
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		return uintValue(x)
	case float32:
		return float64(x)
	case complex64:
		return complex128(x)
	case *big.Int:
		if x != nil && x.IsInt64() {
			return x.Int64()
		}
	}
	return k
}

func uintValue(u uint64) any {
	if u <= math.MaxInt64 {
		return int64(u)
	}
	return new(big.Int).SetUint64(u)
}

// num is a number in canonical form: integral values are ints whatever
// their Go type, so that 1 == 1.0 == True == (1+0j) compare and hash alike.
type num struct {
	kind uint8
	i    int64
	b    *big.Int
	f    float64
	c    complex128
}

const (
	numInt = iota + 1
	numBig
	numFloat // non-integral or infinite
	numComplex
	numNaN
)

func toNum(v any) (num, bool) {
	switch x := v.(type) {
	case bool:
		if x {
			return num{kind: numInt, i: 1}, true
		}
		return num{kind: numInt}, true
	case int64:
		return num{kind: numInt, i: x}, true
	case int:
		return num{kind: numInt, i: int64(x)}, true
	case int32:
		return num{kind: numInt, i: int64(x)}, true
	case int16:
		return num{kind: numInt, i: int64(x)}, true
	case int8:
		return num{kind: numInt, i: int64(x)}, true
	case uint8:
		return num{kind: numInt, i: int64(x)}, true
	case uint16:
		return num{kind: numInt, i: int64(x)}, true
	case uint32:
		return num{kind: numInt, i: int64(x)}, true
	case uint:
		return bigNum(new(big.Int).SetUint64(uint64(x))), true
	case uint64:
		return bigNum(new(big.Int).SetUint64(x)), true
	case *big.Int:
		if x == nil {
			return num{}, false
		}
		return bigNum(x), true
	case float64:
		return floatNum(x), true
	case float32:
		return floatNum(float64(x)), true
	case complex128:
		return complexNum(x), true
	case complex64:
		return complexNum(complex128(x)), true
	}
	return num{}, false
}

func bigNum(b *big.Int) num {
	if b.IsInt64() {
		return num{kind: numInt, i: b.Int64()}
	}
	return num{kind: numBig, b: b}
}

func floatNum(f float64) num {
	switch {
	case math.IsNaN(f):
		return num{kind: numNaN}
	case math.IsInf(f, 0) || f != math.Trunc(f):
		return num{kind: numFloat, f: f}
	case f >= -(1<<63) && f < 1<<63:
		return num{kind: numInt, i: int64(f)}
	}
	b, _ := big.NewFloat(f).Int(nil)
	return num{kind: numBig, b: b}
}

func complexNum(c complex128) num {
	if math.IsNaN(real(c)) || math.IsNaN(imag(c)) {
		return num{kind: numNaN}
	}
	if imag(c) == 0 {
		return floatNum(real(c))
	}
	return num{kind: numComplex, c: c}
}

func (n num) hash() uint64 {
	switch n.kind {
	case numInt:
		return maphash.Comparable(hashSeed, n.i)
	case numBig:
		h := maphash.Bytes(hashSeed, n.b.Bytes())
		if n.b.Sign() < 0 {
			h = ^h
		}
		return h
	case numFloat:
		return maphash.Comparable(hashSeed, n.f) ^ saltFloat
	case numComplex:
		return maphash.Comparable(hashSeed, n.c)
	}
	return hashNaN
}

func (n num) equal(m num) bool {
	if n.kind != m.kind {
		return false
	}
	switch n.kind {
	case numInt:
		return n.i == m.i
	case numBig:
		return n.b.Cmp(m.b) == 0
	case numFloat:
		return n.f == m.f
	case numComplex:
		return n.c == m.c
	}
	return false // NaN
}

// tupleID identifies a non-empty Tuple by its backing array and length.
type tupleID struct {
	p *any
	n int
}

func idOf(t Tuple) tupleID { return tupleID{&t[0], len(t)} }

// strID identifies a string by its data pointer and length. The cache entry
// that uses it also holds the string, so the memory cannot be reused for
// another string while the entry exists.
type strID struct {
	p uintptr
	n int
}

// bytesID identifies a []byte key.
type bytesID struct {
	p *byte
	n int
}

// Values at least this long get their hash cached, and their equality with
// another value remembered, by identity.
const (
	bigString = 64
	bigTuple  = 8
)

// hasher hashes and compares keys. A hasher that lives for a whole decode
// caches the hashes of long strings, bytes and tuples by identity, and
// remembers which pairs of them were found equal, so that a pickle cannot
// make the decoder hash or compare the same large key over and over (a key
// fetched from the memo a million times), nor expand a key built from shared
// sub-tuples (a "billion laughs" tuple): decoding stays linear in the input.
type hasher struct {
	maxDepth int
	hashes   map[any]cachedHash
	equals   map[[2]any]bool
}

type cachedHash struct {
	keep any // keeps the identified memory alive
	h    uint64
}

// identityOf returns a cache key for a value worth caching, or nil.
func identityOf(v any, depth int) any {
	switch x := v.(type) {
	case string:
		if len(x) >= bigString {
			return strID{reflect.ValueOf(x).Pointer(), len(x)}
		}
	case []byte:
		if len(x) >= bigString {
			return bytesID{&x[0], len(x)}
		}
	case Tuple:
		if len(x) >= bigTuple || (depth > 0 && len(x) > 0) {
			return idOf(x)
		}
	case FrozenSet:
		if x.s != nil && x.s.Len() >= bigTuple {
			return frozenKey{x.s}
		}
	}
	return nil
}

func unhashable(v any) error {
	return fmt.Errorf("%w: %s", ErrUnhashable, TypeName(v))
}

func (h *hasher) hash(v any, depth int) (uint64, error) {
	id := identityOf(v, depth)
	if id != nil {
		if c, ok := h.hashes[id]; ok {
			return c.h, nil
		}
	}
	hv, err := h.hashOnce(v, depth)
	if err == nil && id != nil {
		if h.hashes == nil {
			h.hashes = make(map[any]cachedHash)
		}
		h.hashes[id] = cachedHash{v, hv}
	}
	return hv, err
}

// hashString is the hash of a str key.
func hashString(s string) uint64 {
	if len(s) <= 16 {
		return shortHash(s)
	}
	return maphash.String(hashSeed, s)
}

func (h *hasher) hashOnce(v any, depth int) (uint64, error) {
	switch x := v.(type) {
	case string:
		return hashString(x), nil
	case []byte:
		return maphash.Bytes(hashSeed, x) ^ saltBytes, nil
	case nil, NoneType:
		return hashNone, nil
	case Global:
		return maphash.Comparable(hashSeed, x), nil
	case *Object:
		return maphash.Comparable(hashSeed, x), nil
	case Tuple:
		if depth >= h.maxDepth {
			return 0, ErrTooDeep
		}
		hv := uint64(saltTuple)
		for _, e := range x {
			eh, err := h.hash(e, depth+1)
			if err != nil {
				return 0, err
			}
			hv = mix(hv ^ eh)
		}
		return hv, nil
	case FrozenSet:
		if x.s == nil {
			return saltFrozen, nil
		}
		return x.s.fhash ^ saltFrozen, nil
	case *List, *Dict, *Set, ByteArray:
		return 0, unhashable(v)
	}
	if n, ok := toNum(v); ok {
		return n.hash(), nil
	}
	return 0, unhashable(v)
}

// equal is Python's == restricted to hashable values (already hashed, so
// depth has been checked).
func (h *hasher) equal(a, b any, depth int) bool {
	ia := identityOf(a, depth)
	if ia == nil {
		return h.equalOnce(a, b, depth)
	}
	ib := identityOf(b, depth)
	if ib == nil {
		return h.equalOnce(a, b, depth)
	}
	if ia == ib {
		return true
	}
	key := [2]any{ia, ib}
	if eq, ok := h.equals[key]; ok {
		return eq
	}
	eq := h.equalOnce(a, b, depth)
	if h.equals == nil {
		h.equals = make(map[[2]any]bool)
	}
	h.equals[key] = eq
	return eq
}

func (h *hasher) equalOnce(a, b any, depth int) bool {
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case nil, NoneType:
		switch b.(type) {
		case nil, NoneType:
			return true
		}
		return false
	case Global:
		y, ok := b.(Global)
		return ok && x == y
	case *Object:
		y, ok := b.(*Object)
		return ok && x == y
	case Tuple:
		y, ok := b.(Tuple)
		if !ok || len(x) != len(y) {
			return false
		}
		if len(x) == 0 || &x[0] == &y[0] {
			return true
		}
		if depth > h.maxDepth {
			return false
		}
		for i := range x {
			if !h.equal(x[i], y[i], depth+1) {
				return false
			}
		}
		return true
	case FrozenSet:
		y, ok := b.(FrozenSet)
		if !ok || x.Len() != y.Len() {
			return false
		}
		if x.s == y.s || x.s == nil {
			return true
		}
		if x.s.fhash != y.s.fhash {
			return false
		}
		for _, e := range x.s.t.entries {
			if e.isLive() && y.s.t.lookup(h, e.key, e.hash) < 0 {
				return false
			}
		}
		return true
	}
	n, ok := toNum(a)
	if !ok {
		return false
	}
	m, ok := toNum(b)
	return ok && n.equal(m)
}
