//go:build linux

package main

import (
	"fmt"

	"github.com/mproc/mproc/shm"
)

// A decoder reads one kind of object's state from its shared bytes,
// through the read-only inspection function of the package that owns the
// layout. Decoding only loads (sync/atomic): inspecting never changes an
// object.
type decoder struct {
	pkg     string                             // the package owning the layout, for messages
	version uint32                             // the layout version decode reads
	decode  func(*shm.Region) (*report, error) // nil: this build has no decoder
}

// decoders holds one entry per kind. The decode_*.go files fill in the
// decode functions of the packages they wire in.
var decoders = map[shm.Kind]*decoder{
	shm.KindRaw:              {pkg: "shm", version: 0, decode: decodeRaw},
	shm.KindLock:             {pkg: "semaphore"},
	shm.KindRLock:            {pkg: "semaphore"},
	shm.KindSemaphore:        {pkg: "semaphore"},
	shm.KindBoundedSemaphore: {pkg: "semaphore"},
	shm.KindCondition:        {pkg: "semaphore"},
	shm.KindEvent:            {pkg: "semaphore"},
	shm.KindBarrier:          {pkg: "semaphore"},
	shm.KindValue:            {pkg: "ctypes"},
	shm.KindArray:            {pkg: "ctypes"},
	shm.KindQueue:            {pkg: "queue"},
	shm.KindSimpleQueue:      {pkg: "queue"},
	shm.KindJoinableQueue:    {pkg: "queue"},
	shm.KindBlob:             {pkg: "queue"},
}

// setDecoder wires a package's decoder for kind (from an init function).
func setDecoder(kind shm.Kind, version uint32, decode func(*shm.Region) (*report, error)) {
	d := decoders[kind]
	d.version, d.decode = version, decode
}

// decodeRegion decodes the object r holds. Objects of a kind or layout
// version this build cannot read are errors wrapping errNoDecoder or
// errNewerLayout (or shm.ErrVersion for an older layout).
func decodeRegion(r *shm.Region) (*report, error) {
	h := r.Handle()
	d := decoders[h.Kind]
	if d == nil {
		return nil, fmt.Errorf("%w: %v is a kind this mproc does not know (made by a newer mproc?)", errNewerLayout, h.Kind)
	}
	if d.decode == nil {
		return nil, fmt.Errorf("%w: this mproc was built without the %s package's %v decoder", errNoDecoder, d.pkg, h.Kind)
	}
	if d.version != 0 && h.Version > d.version {
		return nil, fmt.Errorf("%w: %v layout version %d is newer than this mproc reads (%d)", errNewerLayout, h.Kind, h.Version, d.version)
	}
	if d.version != 0 && h.Version < d.version {
		return nil, fmt.Errorf("%w: %v layout version %d is older than this mproc reads (%d)", shm.ErrVersion, h.Kind, h.Version, d.version)
	}
	return d.decode(r)
}

// rawShown bounds the bytes inspect prints of a raw object.
const rawShown = 64

// decodeRaw shows the start of an object that has no structure.
func decodeRaw(r *shm.Region) (*report, error) {
	b := r.Bytes()
	n := min(len(b), rawShown)
	out := make([]byte, n)
	// A plain copy: raw bytes have no atomic words to respect, and the
	// copy only reads.
	copy(out, b[:n])
	rep := (&report{}).add("bytes", len(b))
	key := "content"
	if n < len(b) {
		key = fmt.Sprintf("first_%d_bytes", n)
	}
	return rep.add(key, hexBytes(out)), nil
}
