package queue

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// An item whose encoded size exceeds the handle's MaxInline travels out of
// line, in a segment of its own (kind shm.KindBlob), so that no item is too
// large for a queue. The ring carries a small record (flag blobFlag, an
// 8-byte payload holding the item's length); the segment's name is derived
// from the queue's nonce and the record's position, both unique, so
// nothing else needs to travel and a reaper knows the name of any blob
// from its record alone:
//
//	<queue segment name, at most 64 bytes>.blob-<nonce hex>-<position hex>
//
// The producer reserves the record first, then creates, fills and unmaps
// the blob, then publishes the record. The consumer claims the record,
// maps the blob, reads it, unmaps and unlinks it, then marks the record
// DONE. The blob segment's payload starts with a 256-byte prefix:
//
//	off size field
//	  0    8 magic     blobMagic
//	  8    8 nonce     the queue's nonce
//	 16    8 position  the record's position
//	 24    8 length    item bytes
//	 32    8 ownerLen  length of the next field
//	 40  216 owner     the queue's handle, as text (for tools)
//	256      the item
//
// Deaths: a producer killed before publishing leaves a RESERVED record
// that a consumer declares LOST; that consumer first unlinks the blob (if
// the producer got as far as creating it), then changes the state. A
// consumer killed after its claim leaves a CLAIMED record that a reaper
// turns DONE, again unlinking the blob first. The owner is dead in both
// cases, so nobody reads the blob again; a process killed between the
// unlink and the state change leaves the record to the next one, which
// unlinks again (ENOENT, ignored). So kills leave no blob behind. A queue
// removed with published blobs still in it does: their creator may be
// dead and nobody maps them, so shm.List reports them Stale and the leak
// finder removes them. Caution: a published blob whose producer has
// exited normally and that no consumer has taken yet looks just as
// stale; do not clean blobs of a queue that is still in use (the owner
// field names the queue).
const (
	blobVersion   = 1
	blobPrefix    = 256
	blobMagic     = uint64('m') | uint64('p')<<8 | uint64('q')<<16 | uint64('b')<<24 | uint64('l')<<32 | uint64('o')<<40 | uint64('b')<<48 | uint64(1)<<56
	blobOwnerMax  = blobPrefix - 40
	blobRecordLen = 8 // a blob record's ring payload: the item length
)

// blobBase returns the start of the queue's blob names.
func blobBase(h shm.Handle, nonce uint64) string {
	seg := h.Segment
	if len(seg) > 64 {
		seg = seg[:64]
	}
	if h.Offset != 0 {
		seg += "." + strconv.FormatUint(h.Offset, 10)
	}
	return fmt.Sprintf("%s.blob-%016x-", seg, nonce)
}

func (r *ring) blobName(pos uint64) string { return r.blobBase + strconv.FormatUint(pos, 16) }

// blob is one mapped out-of-line item.
type blob struct {
	seg  *shm.Segment
	name string
	data []byte
}

// createBlob creates the blob of the record at pos for n item bytes.
func (r *ring) createBlob(pos, n uint64) (*blob, error) {
	name := r.blobName(pos)
	owner := r.reg.Handle().String()
	if len(owner) > blobOwnerMax {
		owner = owner[:blobOwnerMax]
	}
	seg, err := shm.Create(name, shm.KindBlob, blobVersion, int(blobPrefix+n), &shm.CreateOptions{
		Populate: true,
		Init: func(p []byte) error {
			atomic.StoreUint64(shm.Uint64(p, 8), r.nonce)
			atomic.StoreUint64(shm.Uint64(p, 16), pos)
			atomic.StoreUint64(shm.Uint64(p, 24), n)
			atomic.StoreUint64(shm.Uint64(p, 32), uint64(len(owner)))
			copy(p[40:blobPrefix], owner)
			atomic.StoreUint64(shm.Uint64(p, 0), blobMagic)
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("queue: out-of-line item of %d bytes: %w", n, err)
	}
	p := seg.Payload()
	return &blob{seg: seg, name: name, data: p[blobPrefix : blobPrefix+n : blobPrefix+n]}, nil
}

// openBlob maps the blob of the record at pos and checks that it is the
// one the record names.
func (r *ring) openBlob(pos, n uint64) (*blob, error) {
	name := r.blobName(pos)
	seg, err := shm.Open(name, shm.KindBlob, blobVersion)
	if err != nil {
		return nil, withCause(ErrItemLost, err)
	}
	p := seg.Payload()
	if uint64(len(p)) < blobPrefix+n ||
		atomic.LoadUint64(shm.Uint64(p, 0)) != blobMagic ||
		atomic.LoadUint64(shm.Uint64(p, 8)) != r.nonce ||
		atomic.LoadUint64(shm.Uint64(p, 16)) != pos ||
		atomic.LoadUint64(shm.Uint64(p, 24)) != n {
		seg.Close()
		return nil, withDetail(ErrCorrupt, "out-of-line item "+name+" does not match its record")
	}
	return &blob{seg: seg, name: name, data: p[blobPrefix : blobPrefix+n : blobPrefix+n]}, nil
}

// close unmaps the blob; remove also unlinks it.
func (b *blob) close(remove bool) {
	_ = b.seg.Close()
	if remove {
		_ = shm.Unlink(b.name)
	}
}

// blobLength reads a blob record's item length from its ring payload.
func (r *ring) blobLength(pos uint64) uint64 {
	return binary.LittleEndian.Uint64(r.payload(pos, blobRecordLen))
}

// setBlobLength writes a blob record's item length (before publishing).
func (r *ring) setBlobLength(pos, n uint64) {
	binary.LittleEndian.PutUint64(r.payload(pos, blobRecordLen), n)
}
