//go:build linux

package shm

import (
	"encoding/binary"
	"sync/atomic"
	"time"
)

// The header at the start of every segment. All words are little-endian
// (the machine's order; mproc is Linux on x86-64 and arm64) and read and
// written with sync/atomic.
//
//	offset size field     written by / states
//	     0    8 magic     creator, LAST: 0 while the creator initialises,
//	                      then headerMagic ("MPROC" 0 hdrFormat 0). Openers
//	                      wait (bounded) while it is 0; any other value is
//	                      ErrNotMproc.
//	     8    4 version   creator, before magic: the object's layout version
//	    12    4 kind      creator, before magic: a Kind
//	    16    8 payload   creator, before magic: payload bytes after the header
//	    24    4 pid       creator, first of all: creator pid
//	    28    4 (zero)
//	    32    8 start     creator, first of all: creator start time (ticks)
//	    40    8 created   creator, before magic: creation time, Unix ns
//	    48   80 reserved  zero
//	   128      payload   64-byte aligned
//
// Creation publishes with one atomic store of magic: everything written
// before it (header fields and the object's initial state, see
// CreateOptions.Init) is visible to whoever loads a non-zero magic.
const (
	HeaderSize = 128

	offMagic   = 0
	offVersion = 8
	offKind    = 12
	offPayload = 16
	offPid     = 24
	offStart   = 32
	offCreated = 40

	hdrFormat   = 1
	headerMagic = uint64('M') | uint64('P')<<8 | uint64('R')<<16 | uint64('O')<<24 |
		uint64('C')<<32 | uint64(hdrFormat)<<48
)

// Header is a decoded segment header.
type Header struct {
	Kind        Kind
	Version     uint32
	PayloadSize uint64
	Creator     Identity
	Created     time.Time
}

// readHeader decodes a published header from b (atomic loads, since the
// creator may still be writing when magic is 0). ok is false while magic is
// 0; err is ErrNotMproc for any other value that is not headerMagic.
func readHeader(b []byte) (h Header, ok bool, err error) {
	magic := atomic.LoadUint64(Uint64(b, offMagic))
	h.Creator = Identity{
		Pid:   int32(atomic.LoadUint32(Uint32(b, offPid))),
		Start: atomic.LoadUint64(Uint64(b, offStart)),
	}
	if magic == 0 {
		return h, false, nil
	}
	if magic != headerMagic {
		return h, false, ErrNotMproc
	}
	h.Version = atomic.LoadUint32(Uint32(b, offVersion))
	h.Kind = Kind(atomic.LoadUint32(Uint32(b, offKind)))
	h.PayloadSize = atomic.LoadUint64(Uint64(b, offPayload))
	h.Created = time.Unix(0, int64(atomic.LoadUint64(Uint64(b, offCreated))))
	return h, true, nil
}

// decodeHeader decodes a header read from a file (not a mapping), for
// listing segments without mapping them.
func decodeHeader(b []byte) (h Header, ok bool, err error) {
	if len(b) < HeaderSize {
		return h, false, ErrShort
	}
	le := binary.LittleEndian
	magic := le.Uint64(b[offMagic:])
	h.Creator = Identity{Pid: int32(le.Uint32(b[offPid:])), Start: le.Uint64(b[offStart:])}
	if magic == 0 {
		return h, false, nil
	}
	if magic != headerMagic {
		return h, false, ErrNotMproc
	}
	h.Version = le.Uint32(b[offVersion:])
	h.Kind = Kind(le.Uint32(b[offKind:]))
	h.PayloadSize = le.Uint64(b[offPayload:])
	h.Created = time.Unix(0, int64(le.Uint64(b[offCreated:])))
	return h, true, nil
}

// writeIdentity records the creator before anything else, so that an opener
// finding an unpublished header can tell whether its creator still lives.
func writeIdentity(b []byte, id Identity) {
	atomic.StoreUint32(Uint32(b, offPid), uint32(id.Pid))
	atomic.StoreUint64(Uint64(b, offStart), id.Start)
}

func writeHeader(b []byte, kind Kind, version uint32, payload uint64) {
	atomic.StoreUint32(Uint32(b, offVersion), version)
	atomic.StoreUint32(Uint32(b, offKind), uint32(kind))
	atomic.StoreUint64(Uint64(b, offPayload), payload)
	atomic.StoreUint64(Uint64(b, offCreated), uint64(time.Now().UnixNano()))
}

func publishHeader(b []byte) { atomic.StoreUint64(Uint64(b, offMagic), headerMagic) }
