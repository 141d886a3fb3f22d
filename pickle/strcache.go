package pickle

import "hash/maphash"

// strCache remembers the short strs a decoder made lately, already boxed as
// `any`, so that the method names, idents and dict keys that come back in
// every manager request and reply cost neither an allocation nor a UTF-8
// check after their first time.
//
// It is set-associative: a string's hash picks a set of strCacheWays
// entries, a hit is a tag and byte comparison, a miss replaces the set's
// entries in turn. The worst input only makes every lookup miss. The cache
// belongs to one pooled machine (used by one goroutine at a time) and lives
// as long as the pool keeps the machine; the strings it holds are
// immutable, so sharing them between decoded values is invisible.
type strCache [strCacheSets]strSet

type strSet struct {
	tags [strCacheWays]uint32 // hash bits of each entry; 0: empty
	vals [strCacheWays]any    // the boxed strings
	next uint8                // the way the next miss replaces
}

const (
	strCacheSets = 64 // a power of two
	strCacheWays = 4
	strCacheMax  = 32 // longest str cached, in bytes
)

// pushStr pushes the str whose UTF-8 bytes are b.
func (m *machine) pushStr(b []byte) error {
	if len(b) > strCacheMax || len(b) == 0 {
		s := string(b)
		if !validStr(s) {
			return m.fail(ErrInvalid, "str is not valid UTF-8")
		}
		return m.push(s, 0)
	}
	if m.strs == nil {
		m.strs = new(strCache)
	}
	var h uint64
	if len(b) <= 16 {
		h = shortHash(b)
	} else {
		h = maphash.Bytes(hashSeed, b)
	}
	set := &m.strs[h&(strCacheSets-1)]
	tag := uint32(h>>32) | 1
	for w := range strCacheWays {
		if set.tags[w] == tag {
			if s := set.vals[w].(string); s == string(b) {
				return m.push(set.vals[w], 0)
			}
		}
	}
	s := string(b)
	if !validStr(s) {
		return m.fail(ErrInvalid, "str is not valid UTF-8")
	}
	v := any(s)
	w := set.next % strCacheWays
	set.next++
	set.tags[w], set.vals[w] = tag, v
	return m.push(v, 0)
}

// shortSalt seeds shortHash per process.
var shortSalt = maphash.Comparable(hashSeed, uint64(0x9fb21c651e98df25))

// shortHash hashes a string or byte string of at most 16 bytes, more
// cheaply than maphash does, keyed by a per-process salt so that nobody can
// tell which strings collide. Up to 8 bytes, the bytes are packed into one
// word (two overlapping 4-byte words, or three bytes and the length for the
// shortest; only strings of different lengths, 4 to 8 bytes, can share a
// packing) that goes through one round of mix, a bijection; up to 16, the
// first and last 8 bytes go through two.
func shortHash[T string | []byte](s T) uint64 {
	h, _ := shortHashASCII(s)
	return h
}

// shortHashASCII is shortHash, and reports whether s is ASCII: the words it
// hashes hold every byte of s.
func shortHashASCII[T string | []byte](s T) (h uint64, ascii bool) {
	const high = 0x8080808080808080
	n := len(s)
	switch {
	case n > 8:
		a, z := le64(s[:8]), le64(s[n-8:])
		return mix(mix(a^shortSalt) ^ z ^ uint64(n)<<59), (a|z)&high == 0
	case n == 8:
		a := le64(s)
		return mix(a ^ shortSalt), a&high == 0
	case n >= 4:
		a := uint64(le32(s[:4])) | uint64(le32(s[n-4:]))<<32
		return mix(a ^ shortSalt), a&high == 0
	case n > 0:
		a := uint64(s[0])<<16 | uint64(s[n>>1])<<8 | uint64(s[n-1])
		return mix(a | uint64(n)<<24 ^ shortSalt), a&high == 0
	}
	return mix(shortSalt), true
}

func le64[T string | []byte](s T) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}

func le32[T string | []byte](s T) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
