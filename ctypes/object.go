//go:build linux

package ctypes

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// Layout of every value and array object (shm kind KindValue or KindArray,
// layout version 1), in its own segment or in an arena block. All words are
// little-endian; the header is written by the creator before the object is
// published (shm's Init or the arena block's init) and never changes after,
// except the suspect word.
//
//	offset size field       written by / states
//	     0    8 elemSize    creator: the element's size in bytes (≥ 1)
//	     8    4 elemAlign   creator: the element's alignment (1, 2, 4 or 8)
//	    12    4 typecode    creator: the Python typecode the object was made
//	                        with ('d' = 0x64), or 0 for a Go type
//	    16    8 layoutHash  creator: FNV-1a 64 of the canonical layout string
//	    24    8 count       creator: number of elements (1 for a value)
//	    32    4 suspect     lock holders: 0 = consistent; 1 = a process died
//	                        holding the lock, so the data may be half
//	                        written. Set (0 → 1) by the process whose lock
//	                        acquisition took the lock over from the dead
//	                        owner, with the lock held; cleared (→ 0) by
//	                        MarkConsistent, with the lock held.
//	    36    4 flags       creator: bit 0 ownLock = the lock was made with
//	                        the object, under the object's name + ".lock",
//	                        and is unlinked with it
//	    40    4 lockLen     creator: length of the lock handle text, 0 = the
//	                        object has no lock (raw)
//	    44    4 layoutLen   creator: length of the layout text
//	    48   16 reserved    0
//	    64   64 layout      creator: the canonical layout string (for
//	                        messages; cut to 64 bytes; the hash decides)
//	   128  256 lockHandle  creator: text of the lock's shm.Handle
//	                        ("name.lock@0/rlock/v1"), so that every process
//	                        that opens the object attaches the same lock
//	   384    … data        count elements, each elemSize bytes, C layout;
//	                        64-byte aligned, so the data never shares a
//	                        cache line with the header
//
// Opening checks the kind and version (shm), then size, alignment and
// layout hash against the Go type asked for (ErrMismatch), that count fits
// the block and the lock text is well-formed (ErrCorrupt).
const (
	layoutVersion = 1

	hElemSize   = 0
	hElemAlign  = 8
	hTypecode   = 12
	hLayoutHash = 16
	hCount      = 24
	hSuspect    = 32
	hFlags      = 36
	hLockLen    = 40
	hLayoutLen  = 44
	hLayout     = 64
	hLock       = 128
	headerSize  = 384

	layoutMax = 64
	lockMax   = 256

	flagOwnLock = 1 << 0

	// Largest object: shm's limit for a segment, and an arena block's.
	maxSegment = 1 << 40
	maxBlock   = 1<<32 - 1
)

// lockSuffix names the lock a standalone synchronized object makes for
// itself: object "jobs" has its RLock in segment "jobs.lock".
const lockSuffix = ".lock"

// Options adjusts the constructors. A nil *Options means the defaults: a
// segment of mode 0600, not populated, and (for Value and Array) a new
// RLock.
type Options struct {
	// Lock guards a Value or Array: a *semaphore.Lock or *semaphore.RLock
	// (Python's lock=lock). Nil means a new RLock, made beside the object
	// (in the same arena, or as the segment NAME.lock) and owned by it.
	// The object records the lock's handle, so that every process opening
	// the object attaches the same lock. The caller keeps ownership of a
	// lock it passes: closing the object does not close it.
	Lock Locker
	// NoLock makes a Value or Array without a lock (Python's lock=False):
	// its guarded operations are plain loads and stores, like a RawValue.
	NoLock bool
	// Mode is the segment's permission bits (standalone objects only; the
	// lock made for the object gets the same); 0 means 0600.
	Mode os.FileMode
	// Populate pre-faults the segment's pages (standalone objects only):
	// worth it for large arrays, whose first touch otherwise costs a page
	// fault per 4 KiB in every process.
	Populate bool
}

// object is what every value and array holds: the region, the header's
// immutable facts, and a view of the data.
type object struct {
	region  *shm.Region
	kind    shm.Kind
	elem    *elemInfo
	code    Typecode // as recorded (0 for a Go type)
	n       int
	flags   uint32
	lock    string // lock handle text, "" = none
	data    []byte
	suspect *uint32
	closed  atomic.Bool
}

// place says where a new object goes: a segment of its own or an arena.
type place struct {
	name  string
	arena *shm.Arena
	in    bool // an arena form: arena must not be nil
	opts  *Options
}

// check rejects a nil arena and the options that only apply to standalone
// objects.
func (p place) check() error {
	if p.in && p.arena == nil {
		return &Error{"create", "in arena", withDetail(ErrOptions, "nil *shm.Arena")}
	}
	if p.arena != nil && p.opts != nil && (p.opts.Mode != 0 || p.opts.Populate) {
		return &Error{"create", p.String(), withDetail(ErrOptions, "Mode and Populate apply to an object with a segment of its own")}
	}
	return nil
}

func (p place) String() string {
	if p.arena != nil {
		return "in arena " + p.arena.Name()
	}
	return p.name
}

// checkLength rejects n elements of e: fewer than 1, or more than the
// largest segment (or arena block) holds.
func (p place) checkLength(e *elemInfo, n int) error {
	limit := maxSegment
	if p.arena != nil {
		limit = maxBlock
	}
	if n <= 0 || n > (limit-headerSize)/e.size {
		return &Error{"create", p.String(), withDetail(ErrLength,
			fmt.Sprintf("%d elements of %d bytes; an object holds 1 to %d", n, e.size, (limit-headerSize)/e.size))}
	}
	return nil
}

func (p place) options() *Options {
	if p.opts == nil {
		return &Options{}
	}
	return p.opts
}

// newObject creates an object of n elements; fill (if not nil) writes the
// initial data before anybody else can see the object.
func newObject(p place, kind shm.Kind, e *elemInfo, code Typecode, n int, lockText string, flags uint32, fill func(data []byte) error) (*object, error) {
	if err := p.check(); err != nil {
		return nil, err
	}
	fail := func(err error) (*object, error) { return nil, &Error{"create", p.String(), err} }
	if err := p.checkLength(e, n); err != nil {
		return nil, err
	}
	if len(lockText) > lockMax {
		return fail(withDetail(ErrLock, fmt.Sprintf("lock handle text of %d bytes, at most %d fit", len(lockText), lockMax)))
	}
	size := headerSize + n*e.size
	init := func(b []byte) error {
		atomic.StoreUint64(shm.Uint64(b, hElemSize), uint64(e.size))
		atomic.StoreUint32(shm.Uint32(b, hElemAlign), uint32(e.align))
		atomic.StoreUint32(shm.Uint32(b, hTypecode), uint32(code))
		atomic.StoreUint64(shm.Uint64(b, hLayoutHash), e.hash)
		atomic.StoreUint64(shm.Uint64(b, hCount), uint64(n))
		atomic.StoreUint32(shm.Uint32(b, hFlags), flags)
		layout := e.layout
		if len(layout) > layoutMax {
			layout = layout[:layoutMax]
		}
		atomic.StoreUint32(shm.Uint32(b, hLayoutLen), uint32(len(layout)))
		copy(b[hLayout:hLayout+layoutMax], layout)
		atomic.StoreUint32(shm.Uint32(b, hLockLen), uint32(len(lockText)))
		copy(b[hLock:hLock+lockMax], lockText)
		if fill != nil {
			return fill(b[headerSize:size:size])
		}
		return nil
	}
	var r *shm.Region
	var err error
	if p.arena != nil {
		r, err = p.arena.Alloc(kind, layoutVersion, size, init)
	} else {
		o := p.options()
		r, err = shm.CreateObject(p.name, kind, layoutVersion, size, &shm.CreateOptions{Mode: o.Mode, Populate: o.Populate, Init: init})
	}
	if err != nil {
		return fail(err)
	}
	return fromRegion(r, kind)
}

// attachObject attaches the object h names and checks its header against e
// (nil: any element type).
func attachObject(h shm.Handle, e *elemInfo) (*object, error) {
	what := h.Segment
	if h.Offset != 0 {
		what = h.String()
	}
	r, err := shm.Attach(h, headerSize)
	if err != nil {
		return nil, &Error{"open", what, err}
	}
	o, err := fromRegion(r, h.Kind)
	if err == nil && e != nil {
		err = o.match(e)
	}
	if err != nil {
		r.Close()
		return nil, &Error{"open", what, err}
	}
	return o, nil
}

// fromRegion reads and validates the header of a created or attached
// region.
func fromRegion(r *shm.Region, kind shm.Kind) (*object, error) {
	b := r.Bytes()
	bad := func(why string) (*object, error) { return nil, withDetail(ErrCorrupt, why) }
	if len(b) < headerSize {
		return bad(fmt.Sprintf("%d bytes, the header alone is %d", len(b), headerSize))
	}
	size := atomic.LoadUint64(shm.Uint64(b, hElemSize))
	align := atomic.LoadUint32(shm.Uint32(b, hElemAlign))
	count := atomic.LoadUint64(shm.Uint64(b, hCount))
	lockLen := atomic.LoadUint32(shm.Uint32(b, hLockLen))
	layoutLen := atomic.LoadUint32(shm.Uint32(b, hLayoutLen))
	switch {
	case size == 0 || size > maxBlock:
		return bad(fmt.Sprintf("element size %d", size))
	case align == 0 || align > 64 || align&(align-1) != 0:
		return bad(fmt.Sprintf("element alignment %d", align))
	case count == 0 || count > uint64(len(b)-headerSize)/size:
		return bad(fmt.Sprintf("%d elements of %d bytes do not fit in %d bytes", count, size, len(b)-headerSize))
	case kind == shm.KindValue && count != 1:
		return bad(fmt.Sprintf("a value with %d elements", count))
	case lockLen > lockMax || layoutLen > layoutMax:
		return bad("lock or layout text too long")
	}
	code := Typecode(atomic.LoadUint32(shm.Uint32(b, hTypecode)))
	if code != 0 && !code.Valid() {
		return bad(fmt.Sprintf("typecode %v", code))
	}
	lock := string(b[hLock : hLock+lockLen])
	if lockLen > 0 {
		if _, err := shm.ParseHandle(lock); err != nil {
			return bad(fmt.Sprintf("lock handle %q", lock))
		}
	}
	o := &object{
		region: r,
		kind:   kind,
		elem: &elemInfo{ // as stored; replaced by the caller's type once matched
			size:   int(size),
			align:  int(align),
			layout: string(b[hLayout : hLayout+layoutLen]),
			hash:   atomic.LoadUint64(shm.Uint64(b, hLayoutHash)),
		},
		code:    code,
		n:       int(count),
		flags:   atomic.LoadUint32(shm.Uint32(b, hFlags)),
		lock:    lock,
		data:    b[headerSize : headerSize+int(count*size) : headerSize+int(count*size)],
		suspect: shm.Uint32(b, hSuspect),
	}
	return o, nil
}

// match checks the stored element against e and adopts e.
func (o *object) match(e *elemInfo) error {
	s := o.elem
	if s.size != e.size || s.align != e.align || s.hash != e.hash {
		stored := s.layout
		if len(stored) == layoutMax {
			stored += "…"
		}
		if o.code != 0 {
			stored += fmt.Sprintf(", typecode %v", o.code)
		}
		return withDetail(ErrMismatch, fmt.Sprintf("the object holds %s (%d bytes, align %d), not %s = %s (%d bytes, align %d)",
			stored, s.size, s.align, e.name, e.layout, e.size, e.align))
	}
	o.elem = e
	return nil
}

// typecode is the recorded typecode, or that of a Go scalar element (0 if
// none): the typecode whose conversions AnyValue and AnyArray apply.
func (o *object) typecode() Typecode {
	if o.code != 0 {
		return o.code
	}
	return layoutTypecodes[o.elem.layout]
}

// name is the object's name for messages: the segment, or the handle of
// an arena object.
func (o *object) name() string {
	h := o.region.Handle()
	if h.Offset != 0 {
		return h.String()
	}
	return h.Segment
}

func (o *object) live(typ string) {
	if o.closed.Load() {
		panic("ctypes: " + typ + " used after Close")
	}
}

func (o *object) close() error {
	if o.closed.Swap(true) {
		return nil
	}
	return o.region.Close()
}

// unlink removes the object's segment, and its own lock's.
func (o *object) unlink() error {
	err := o.region.Unlink()
	if err == nil && o.flags&flagOwnLock != 0 && o.lock != "" {
		if h, perr := shm.ParseHandle(o.lock); perr == nil && h.Offset == 0 && strings.HasSuffix(h.Segment, lockSuffix) {
			if uerr := shm.Unlink(h.Segment); uerr != nil {
				err = uerr
			}
		}
	}
	return err
}
