package semaphore

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// A spec describes one kind of shared object: its kind, layout version and
// the bytes its layout needs (for objects of variable size, the least).
type spec struct {
	kind    shm.Kind
	version uint32
	size    int
}

// object is what every primitive holds: its shared bytes, a race-detector
// token and a closed flag.
type object struct {
	r      *shm.Region
	race   *uint32 // Go memory standing for the shared object; nil without -race
	closed atomic.Bool
}

func (o *object) init(r *shm.Region) {
	o.r = r
	o.race = raceToken(r.Handle())
}

func (o *object) bytes() []byte { return o.r.Bytes() }

func (o *object) handle() shm.Handle { return o.r.Handle() }

// close unmaps this process's view; closing twice is a no-op.
func (o *object) close() error {
	if o.closed.Swap(true) {
		return nil
	}
	return o.r.Close()
}

func (o *object) unlink() error { return o.r.Unlink() }

func (o *object) check() error {
	if o.closed.Load() {
		return ErrClosed
	}
	return nil
}

// createRegion makes a standalone object (its own segment) named name.
func createRegion(name string, sp spec, size int, o *options, init func([]byte) error) (*shm.Region, error) {
	return shm.CreateObject(name, sp.kind, sp.version, size, &shm.CreateOptions{Mode: o.mode, Init: init})
}

// allocRegion places a new object in an arena.
func allocRegion(a *shm.Arena, sp spec, size int, init func([]byte) error) (*shm.Region, error) {
	if a == nil {
		return nil, fmt.Errorf("%w: nil *shm.Arena", ErrInvalid)
	}
	return a.Alloc(sp.kind, sp.version, size, init)
}

// openRegion opens the standalone object name, checking kind, version and
// size.
func openRegion(name string, sp spec) (*shm.Region, error) {
	return shm.OpenObject(name, sp.kind, sp.version, sp.size)
}

// attachRegion attaches the object h names, which must be of sp's kind and
// layout version (a zero Version in h means this build's).
func attachRegion(h shm.Handle, sp spec) (*shm.Region, error) {
	if h.Kind != sp.kind {
		return nil, &shm.Error{Op: "attach", Name: h.Segment, Err: fmt.Errorf("%w: handle names a %v, not a %v", shm.ErrKind, h.Kind, sp.kind)}
	}
	if h.Version == 0 {
		h.Version = sp.version
	}
	if h.Version != sp.version {
		return nil, &shm.Error{Op: "attach", Name: h.Segment, Err: fmt.Errorf("%w: %v layout version %d, this build reads %d", shm.ErrVersion, sp.kind, h.Version, sp.version)}
	}
	return shm.Attach(h, sp.size)
}

// corrupt closes r and reports a damaged object.
func corrupt(r *shm.Region, format string, args ...any) error {
	h := r.Handle()
	r.Close()
	return &shm.Error{Op: "open", Name: h.Segment, Err: fmt.Errorf("%w: %v at offset %d: %s", ErrCorrupt, h.Kind, h.Offset, fmt.Sprintf(format, args...))}
}

// Race-detector tokens. The detector ignores addresses in shared mappings,
// so each shared object gets a word of Go memory that stands for it in this
// process; every handle to the same object (segment and offset) shares the
// token, so two Lock values opened on one name synchronize for the detector
// as they do for real.
var raceTokens sync.Map // string → *uint32

func raceToken(h shm.Handle) *uint32 {
	if !shm.RaceEnabled {
		return nil
	}
	key := h.Segment + "@" + strconv.FormatUint(h.Offset, 10)
	if t, ok := raceTokens.Load(key); ok {
		return t.(*uint32)
	}
	t, _ := raceTokens.LoadOrStore(key, new(uint32))
	return t.(*uint32)
}
