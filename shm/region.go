//go:build linux

package shm

import (
	"fmt"
	"os"
	"sync/atomic"
	"unsafe"
)

// Region is one shared object's bytes: a whole segment's payload, or a
// block of an Arena. The typed objects of the higher packages (locks,
// values, queues) each hold a Region and take typed views of its bytes.
type Region struct {
	seg    *Segment
	data   []byte
	handle Handle
	closed atomic.Bool
}

// Bytes returns the object's shared bytes, valid until Close.
func (r *Region) Bytes() []byte { return r.data }

// Handle returns the handle that attaches to this object from any process.
func (r *Region) Handle() Handle { return r.handle }

// Populate pre-faults the object's pages for writing in this process, so
// that its first accesses to each page do not fault one by one (several
// microseconds a page): MADV_POPULATE_WRITE, then a touch of every page
// with an atomic add of zero, which changes no byte even while other
// processes use the memory (see populate). The pages at the object's ends
// may be shared with neighbouring objects of an arena; they are touched
// the same harmless way. The error is ErrClosed after Close, nil otherwise.
func (r *Region) Populate() error {
	if r.isClosed() {
		return &Error{"populate", r.seg.name, ErrClosed}
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(r.data)))
	page := uintptr(os.Getpagesize())
	lo := start &^ (page - 1)
	hi := (start + uintptr(len(r.data)) + page - 1) &^ (page - 1)
	seg := r.seg.mem
	base := uintptr(unsafe.Pointer(unsafe.SliceData(seg)))
	end := min(hi-base, uintptr(len(seg)))
	populate(seg[lo-base : end])
	return nil
}

// Segment returns the segment holding the object.
func (r *Region) Segment() *Segment { return r.seg }

// isClosed reports whether this Region was closed, or its segment unmapped
// under it (a Close of the Segment itself).
func (r *Region) isClosed() bool { return r.closed.Load() || r.seg.gone.Load() }

// Close unmaps this process's view of the object (once every other Region
// of the same segment is closed too). It does not remove anything.
// Closing twice is a no-op.
func (r *Region) Close() error {
	if r.closed.Swap(true) {
		return nil
	}
	return r.seg.Close()
}

// Unlink removes the name of a segment that holds this object alone. An
// object in an Arena has no name of its own: unlink the Arena.
func (r *Region) Unlink() error {
	if r.seg.hdr.Kind == KindArena {
		return &Error{"unlink", r.seg.name, withDetail(ErrKind, "the object lives in an arena; unlink the arena")}
	}
	return r.seg.Unlink()
}

// CreateObject creates a segment named name holding one object of the given
// kind, layout version and size, and returns its Region. opts.Init (if set)
// initialises the object before any other process can open it.
func CreateObject(name string, kind Kind, version uint32, size int, opts *CreateOptions) (*Region, error) {
	if kind == KindArena {
		return nil, &Error{"create", name, withDetail(ErrKind, "use NewArena")}
	}
	s, err := Create(name, kind, version, size, opts)
	if err != nil {
		return nil, err
	}
	return s.whole(), nil
}

// OpenObject opens the object held by the segment name, checking its kind
// and layout version, and that it has at least minSize bytes.
func OpenObject(name string, kind Kind, version uint32, minSize int) (*Region, error) {
	return Attach(Handle{Segment: name, Kind: kind, Version: version}, minSize)
}

func (s *Segment) whole() *Region {
	return &Region{seg: s, data: s.Payload(), handle: Handle{Segment: s.name, Kind: s.hdr.Kind, Version: s.hdr.Version}}
}

// Attach opens the object h names, in its own segment or in an Arena, and
// validates everything: the segment's header, the kind and layout version
// (for an arena block, the block's), and that the object has at least
// minSize bytes. A wrong kind is ErrKind, never a reinterpretation.
func Attach(h Handle, minSize int) (*Region, error) {
	if err := h.validate(); err != nil {
		return nil, &Error{"attach", h.Segment, err}
	}
	s, err := Open(h.Segment, KindAny, 0)
	if err != nil {
		return nil, err
	}
	r, err := s.attach(h, minSize)
	if err != nil {
		s.Close()
		return nil, &Error{"attach", h.Segment, err}
	}
	return r, nil
}

func (s *Segment) attach(h Handle, minSize int) (*Region, error) {
	if s.hdr.Kind == KindArena {
		return arenaAttach(s, h, minSize)
	}
	if h.Offset != 0 {
		return nil, withDetail(ErrHandle, fmt.Sprintf("offset %d in a segment holding one %v", h.Offset, s.hdr.Kind))
	}
	if s.hdr.Kind != h.Kind {
		return nil, withDetail(ErrKind, fmt.Sprintf("holds a %v, not a %v", s.hdr.Kind, h.Kind))
	}
	if h.Version != 0 && s.hdr.Version != h.Version {
		return nil, withDetail(ErrVersion, fmt.Sprintf("%v layout version %d, this build reads %d", h.Kind, s.hdr.Version, h.Version))
	}
	if int(s.hdr.PayloadSize) < minSize {
		return nil, withDetail(ErrShort, fmt.Sprintf("a %v needs %d bytes, the segment has %d", h.Kind, minSize, s.hdr.PayloadSize))
	}
	return s.whole(), nil
}
