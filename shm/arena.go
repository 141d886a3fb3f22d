//go:build linux

package shm

import (
	"fmt"
	"sort"
	"sync/atomic"
	"time"
)

// An Arena is one segment holding many small objects at 64-byte aligned
// offsets, so that a thousand locks do not cost a thousand files and
// mappings.
//
// Layout of the arena's payload (all words little-endian, atomic):
//
//	offset size field      written by / states
//	     0    8 count      any allocator: a hint, the number of directory
//	                       entries known to be claimed; it may lag the truth
//	                       by entries whose allocator has not bumped it yet
//	                       (or died first); allocators help it forward.
//	     8    8 capacity   creator: number of directory entries (immutable)
//	    16    8 dataOff    creator: payload offset of the first block
//	    24    8 dataEnd    creator: payload offset just past the last byte
//	    32   32 reserved
//	    64    … directory  capacity entries of 16 bytes:
//	                         word 0  place: block offset<<32 | block size
//	                                 (payload offsets and sizes in bytes).
//	                                 0 = free; set once, by the CAS that
//	                                 allocates, never changed again.
//	                         word 1  kind<<32 | version: 0 while the
//	                                 allocator initialises the block; set
//	                                 once, after the block's initial state
//	                                 is written (that store publishes it).
//	  dataOff   … blocks
//
// Allocation is lock-free and crash-safe. Entry i's block starts where entry
// i-1's ends, so claiming entry i with one CAS of word 0 (0 → place) both
// allocates the space and records it. An allocator killed before that CAS
// changed nothing; one killed after it leaves an allocated block whose word
// 1 stays 0, which attaching reports as ErrIncomplete and listing shows as
// incomplete (its space is lost, nothing overlaps). Blocks are never freed:
// an arena is sized for the objects of a program run and unlinked with it.
type Arena struct {
	seg    *Segment
	closed atomic.Bool
}

const (
	arenaVersion = 1

	blockAlign   = 64
	dirOff       = 64
	entrySize    = 16
	aCount       = 0
	aCapacity    = 8
	aDataOff     = 16
	aDataEnd     = 24
	maxArenaSize = 1<<32 - 1

	// DefaultArenaEntries is the directory size when ArenaOptions.Entries
	// is 0.
	DefaultArenaEntries = 1024
)

// ArenaOptions adjusts NewArena. A nil *ArenaOptions means the defaults.
type ArenaOptions struct {
	Create  CreateOptions // Mode, OpenOrCreate and Populate apply; Init is the arena's own
	Entries int           // directory entries (the most objects); 0 means DefaultArenaEntries
}

// NewArena creates an arena segment name with size bytes of object space.
func NewArena(name string, size int, opts *ArenaOptions) (*Arena, error) {
	if opts == nil {
		opts = &ArenaOptions{}
	}
	entries := opts.Entries
	if entries == 0 {
		entries = DefaultArenaEntries
	}
	if entries < 0 || entries > 1<<24 {
		return nil, &Error{"create", name, withDetail(ErrSize, fmt.Sprintf("%d directory entries", entries))}
	}
	dataOff := roundUp(dirOff+entries*entrySize, blockAlign)
	total := dataOff + roundUp(size, blockAlign)
	if size <= 0 || total > maxArenaSize {
		return nil, &Error{"create", name, withDetail(ErrSize, fmt.Sprintf("arena of %d bytes (1 to %d)", size, maxArenaSize-dataOff))}
	}
	co := opts.Create
	co.Init = func(p []byte) error {
		atomic.StoreUint64(Uint64(p, aCapacity), uint64(entries))
		atomic.StoreUint64(Uint64(p, aDataOff), uint64(dataOff))
		atomic.StoreUint64(Uint64(p, aDataEnd), uint64(total))
		return nil
	}
	s, err := Create(name, KindArena, arenaVersion, total, &co)
	if err != nil {
		return nil, err
	}
	if err := checkArena(s); err != nil {
		s.Close()
		return nil, &Error{"create", name, err}
	}
	return &Arena{seg: s}, nil
}

// OpenArena opens the arena segment name.
func OpenArena(name string) (*Arena, error) {
	s, err := Open(name, KindArena, arenaVersion)
	if err != nil {
		return nil, err
	}
	if err := checkArena(s); err != nil {
		s.Close()
		return nil, &Error{"open", name, err}
	}
	return &Arena{seg: s}, nil
}

// checkArena validates the immutable words, so a corrupted arena header is
// an error rather than an out-of-range view later.
func checkArena(s *Segment) error {
	p := s.Payload()
	if len(p) < dirOff {
		return withDetail(ErrShort, "arena payload smaller than its header")
	}
	capacity := atomic.LoadUint64(Uint64(p, aCapacity))
	dataOff := atomic.LoadUint64(Uint64(p, aDataOff))
	dataEnd := atomic.LoadUint64(Uint64(p, aDataEnd))
	if capacity > 1<<24 || dataOff < dirOff+capacity*entrySize || dataOff%blockAlign != 0 ||
		dataEnd < dataOff || dataEnd > uint64(len(p)) || dataEnd > maxArenaSize {
		return withDetail(ErrNotMproc, "corrupted arena header")
	}
	return nil
}

func roundUp(n, a int) int { return (n + a - 1) / a * a }

// Name returns the arena's segment name.
func (a *Arena) Name() string { return a.seg.name }

// Segment returns the arena's segment.
func (a *Arena) Segment() *Segment { return a.seg }

// Close unmaps the arena once every Region allocated from or attached
// through it is closed too. Closing twice is a no-op, as with Region (and
// Python's SharedMemory.close). A closed Arena's Alloc and Attach return
// ErrClosed and its Blocks returns nil, even while Regions keep the
// segment mapped.
func (a *Arena) Close() error {
	if a.closed.Swap(true) {
		return nil
	}
	return a.seg.Close()
}

// Unlink removes the arena's name.
func (a *Arena) Unlink() error { return a.seg.Unlink() }

func (a *Arena) words() (p []byte, capacity, dataOff, dataEnd uint64) {
	p = a.seg.Payload()
	return p, atomic.LoadUint64(Uint64(p, aCapacity)), atomic.LoadUint64(Uint64(p, aDataOff)),
		atomic.LoadUint64(Uint64(p, aDataEnd))
}

func entryPlace(p []byte, i uint64) *uint64 { return Uint64(p, dirOff+int(i)*entrySize) }
func entryType(p []byte, i uint64) *uint64  { return Uint64(p, dirOff+int(i)*entrySize+8) }

// Alloc allocates a zeroed block of size bytes for an object of the given
// kind and layout version, runs init on it (if not nil), publishes it, and
// returns its Region. It is safe to call from any number of goroutines and
// processes at once.
func (a *Arena) Alloc(kind Kind, version uint32, size int, init func([]byte) error) (*Region, error) {
	fail := func(err error) (*Region, error) { return nil, &Error{"alloc", a.seg.name, err} }
	// Hold a reference while the directory is read and written, so that a
	// Close meanwhile cannot unmap it; it becomes the Region's.
	if !a.hold() {
		return fail(ErrClosed)
	}
	kept := false
	defer func() {
		if !kept {
			a.seg.Close()
		}
	}()
	if kind == KindAny || kind == KindArena {
		return fail(withDetail(ErrKind, fmt.Sprintf("cannot allocate a %v", kind)))
	}
	if size <= 0 || size > maxArenaSize {
		return fail(withDetail(ErrSize, fmt.Sprintf("block of %d bytes", size)))
	}
	n := uint64(roundUp(size, blockAlign))
	p, capacity, dataOff, dataEnd := a.words()
	count := Uint64(p, aCount)
	for {
		c := atomic.LoadUint64(count)
		if c >= capacity {
			return fail(withDetail(ErrArenaFull, fmt.Sprintf("all %d directory entries used", capacity)))
		}
		if atomic.LoadUint64(entryPlace(p, c)) != 0 {
			atomic.CompareAndSwapUint64(count, c, c+1) // help a slow or dead allocator
			continue
		}
		start := dataOff
		if c > 0 {
			prev := atomic.LoadUint64(entryPlace(p, c-1))
			start = prev>>32 + prev&0xffffffff
		}
		if start+n > dataEnd {
			return fail(withDetail(ErrArenaFull, fmt.Sprintf("%d bytes wanted, %d left", n, dataEnd-start)))
		}
		if !atomic.CompareAndSwapUint64(entryPlace(p, c), 0, start<<32|n) {
			continue
		}
		atomic.CompareAndSwapUint64(count, c, c+1)
		block := p[start : start+n : start+n]
		if init != nil {
			if err := init(block); err != nil {
				// The block stays allocated and unpublished (incomplete).
				return fail(err)
			}
		}
		atomic.StoreUint64(entryType(p, c), uint64(kind)<<32|uint64(version))
		kept = true
		return &Region{seg: a.seg, data: block, handle: Handle{Segment: a.seg.name, Offset: start, Kind: kind, Version: version}}, nil
	}
}

// Attach returns the Region of the object h names in this arena, sharing
// the arena's mapping.
func (a *Arena) Attach(h Handle, minSize int) (*Region, error) {
	if h.Segment != a.seg.name {
		return nil, &Error{"attach", h.Segment, withDetail(ErrHandle, "handle names another segment than "+a.seg.name)}
	}
	if err := h.validate(); err != nil {
		return nil, &Error{"attach", h.Segment, err}
	}
	if !a.hold() { // a reference for the lookup, then the Region's
		return nil, &Error{"attach", a.seg.name, ErrClosed}
	}
	r, err := arenaAttach(a.seg, h, minSize)
	if err != nil {
		a.seg.Close()
		return nil, &Error{"attach", h.Segment, err}
	}
	return r, nil
}

// hold takes a reference on the arena's segment for a call, unless the
// Arena is closed or its segment unmapped (then false).
func (a *Arena) hold() bool {
	if a.closed.Load() || !a.seg.tryRetain() {
		return false
	}
	if a.closed.Load() { // Close came in between: give the reference back
		a.seg.Close()
		return false
	}
	return true
}

// Block describes one allocated block of an arena.
type Block struct {
	Handle   Handle // Kind and Version are 0 while the block is incomplete
	Size     uint64 // bytes reserved (a multiple of 64)
	Complete bool   // false: its allocator has not published it (or died first)
}

// Blocks lists the arena's allocated blocks in address order, or returns
// nil once the Arena is closed.
func (a *Arena) Blocks() []Block {
	if a.closed.Load() {
		return nil
	}
	p, capacity, _, _ := a.words()
	var out []Block
	for i := uint64(0); i < capacity; i++ {
		place := atomic.LoadUint64(entryPlace(p, i))
		if place == 0 {
			break
		}
		t := atomic.LoadUint64(entryType(p, i))
		out = append(out, Block{
			Handle:   Handle{Segment: a.seg.name, Offset: place >> 32, Kind: Kind(t >> 32), Version: uint32(t)},
			Size:     place & 0xffffffff,
			Complete: t != 0,
		})
	}
	return out
}

// blockWait bounds how long attaching waits for a block's allocator to
// publish it.
var blockWait = 2 * time.Second

func arenaAttach(s *Segment, h Handle, minSize int) (*Region, error) {
	if err := checkArena(s); err != nil {
		return nil, err
	}
	a := &Arena{seg: s}
	p, capacity, _, dataEnd := a.words()
	// Entries are claimed in address order; find the used prefix, then
	// binary-search it for the offset.
	used := sort.Search(int(capacity), func(i int) bool { return atomic.LoadUint64(entryPlace(p, uint64(i))) == 0 })
	i := sort.Search(used, func(i int) bool { return atomic.LoadUint64(entryPlace(p, uint64(i)))>>32 >= h.Offset })
	if i == used || atomic.LoadUint64(entryPlace(p, uint64(i)))>>32 != h.Offset {
		return nil, withDetail(ErrHandle, fmt.Sprintf("no object at offset %d", h.Offset))
	}
	place := atomic.LoadUint64(entryPlace(p, uint64(i)))
	off, size := place>>32, place&0xffffffff
	if off+size > dataEnd {
		return nil, withDetail(ErrNotMproc, "corrupted arena directory")
	}
	var t uint64
	for start, pause := time.Now(), 50*time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
		if t = atomic.LoadUint64(entryType(p, uint64(i))); t != 0 {
			break
		}
		if time.Since(start) > blockWait {
			return nil, withDetail(ErrIncomplete, fmt.Sprintf("block at offset %d was never published", h.Offset))
		}
		time.Sleep(pause)
	}
	kind, version := Kind(t>>32), uint32(t)
	if kind != h.Kind {
		return nil, withDetail(ErrKind, fmt.Sprintf("block at offset %d holds a %v, not a %v", h.Offset, kind, h.Kind))
	}
	if h.Version != 0 && version != h.Version {
		return nil, withDetail(ErrVersion, fmt.Sprintf("%v layout version %d, this build reads %d", kind, version, h.Version))
	}
	if size < uint64(minSize) {
		return nil, withDetail(ErrShort, fmt.Sprintf("a %v needs %d bytes, the block has %d", kind, minSize, size))
	}
	h.Version = version
	return &Region{seg: s, data: p[off : off+size : off+size], handle: h}, nil
}
