package queue

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// The shared layout of a queue: a 512-byte header of eight cache lines,
// then the ring. Every word is little-endian and read and written with
// sync/atomic only (item payloads excepted: see "Payload bytes" below).
// Words written by different sides sit on different 64-byte lines.
//
//	line  off size word        written by / meaning
//	0       0   8  magic       creator: qMagic
//	        8   8  capacity    creator: ring bytes (multiple of 64)
//	       16   8  maxsize     creator: item bound, 0 = ring only
//	       24   8  fingerprint creator: element type and codec (see Codec)
//	       32   8  itemSize    creator: raw item size, 0 for encoded items
//	       40   8  maxInline   creator: its MaxInline (informative)
//	       48   8  nonce       creator: random; keys record tags, names blobs
//	       56   8  check       creator: FNV-1a of bytes 0..55
//	1      64   8  plock       producers: reservation lock, 0 or owner tag
//	       72   8  tail        producers, under plock: next free position,
//	                           bit 0 = closed. Its store commits reservations.
//	       80   8  putCount    producers, under plock: items reserved ever
//	       88   8  lastRec     producers, under plock: newest record's position,
//	                           stored before its batch's headers
//	       96  12  plockEv     event: seq, sleepers, pending (uint32 each)
//	2     128   8  clock       consumers: claim lock, 0 or owner tag
//	      136   8  readPos     consumers, under clock: next record to claim
//	      144   8  getWord     consumers, under clock: low 32 bits = items
//	                           passed by readPos (claimed or skipped), high
//	                           32 bits = skipped (lost or aborted) puts
//	      152  12  clockEv     event
//	3     192   8  head        consumers (CAS): ring space before it is free
//	      200   8  lostGets    reapers: items lost by dead consumers
//	4     256  12  notEmpty    event: producers signal, consumers sleep
//	5     320  12  notFull     event: consumers signal, producers sleep
//	6     384   8  taskDone    TaskDone callers: tasks done ever
//	      392  12  allDone     event: TaskDone and reapers signal, Join sleeps
//	7     448      (reserved)
//	      512      ring        capacity bytes of records
//
// Positions are byte offsets into an infinite stream: 64-bit, multiples
// of 32, never reused. A position p lives at ring offset p % capacity.
// Always head <= readPos <= tail and tail - head <= capacity: [head,
// readPos) holds records claimed or skipped, [readPos, tail) records
// committed (reserved or published), [tail, head+capacity) free space.
//
// A record is a 32-byte header and its payload, padded to 32 bytes, and
// never wraps: a producer that would cross the ring's end first fills the
// rest of the ring with a PAD record.
//
//	+0  state   tag(p) | state (bits 0-2) | blobFlag (bit 3). tag(p) (see
//	            ring.tagOf) is a bijective, nonce-keyed hash of p in bits
//	            5-63: distinct positions have distinct tags, so a stale
//	            CAS fails (no ABA), and old ring bytes do not pass for a
//	            record's header (but with probability 2^-59).
//	+8  owner   tag of the reserving producer; the claiming consumer writes
//	            its own tag here before its claim CAS.
//	+16 size    stride (low 32 bits: record bytes) | payload length << 32
//	+24 seq     item number: putCount when reserved
//
// Record states and their transitions:
//
//	(free) --producer, under plock--> RESERVED --producer CAS--> PUBLISHED
//	PUBLISHED --consumer store, under clock--> CLAIMED --claimer--> DONE
//	RESERVED --consumer CAS under clock, committed and owner dead;
//	           or producer Abort--> LOST
//	CLAIMED --reaper CAS, claimer dead--> DONE (counted in lostGets)
//	(free) --producer, under plock--> PAD (final once committed)
//	DONE, LOST, PAD --head passes (CAS on head)--> (free)
//	CLAIMED at head --its claimer's head CAS--> (free), with no DONE store
//
// PUBLISHED, CLAIMED, DONE and LOST are only ever set on committed records
// (below tail). RESERVED and PAD are written before the commit, so a
// consumer, which finds the record at readPos by its state word alone,
// reads tail before it skips a PAD or declares a reservation lost, and
// then re-reads the header.
//
// An owner tag is pid<<32 | low 32 bits of the process start time, so a
// recycled pid is not taken for the dead owner (shm.Identity). Only tags
// are compared for liveness; a goroutine is never "dead" on its own.
//
// Crash safety. Each step that matters is one atomic write, and every
// other write either precedes it (invisible until then) or is repaired:
//
//   - Put. Under plock a producer writes lastRec (the newest record of its
//     batch), the records' headers (state RESERVED, its tag), then stores
//     tail (the reservations' commit), then putCount. Killed before the
//     tail store: nothing happened (the next holder writes over the
//     headers). Killed after it but before
//     putCount: the next plock holder, which takes the lock over from the
//     dead owner, sets putCount to seq(lastRec)+1 (lastRec < tail proves
//     that header whole and current). Killed holding plock: waiters find
//     the owner dead after a bounded wait and take the lock over with one
//     CAS. Outside the lock it copies the payload and publishes with one
//     CAS RESERVED -> PUBLISHED. Killed before that CAS: the record stays
//     RESERVED under a dead tag; the consumer that reaches it finds the
//     tag dead and CASes it to LOST (under clock) and skips it: that item
//     is lost, never shown torn. Killed after it: delivered.
//   - Get. Under clock a consumer writes its tag in owner and stores
//     PUBLISHED -> CLAIMED (one store: nobody else writes a PUBLISHED
//     record's state while clock is held): that store is the get. It then
//     stores getWord and readPos. A consumer taking over clock from a dead
//     owner walks readPos past any CLAIMED or LOST record there, fixing
//     getWord from the records' seq (idempotent), so nothing is claimed
//     twice or uncounted.
//     Outside the lock it copies the payload out and frees the record
//     (head CAS, or DONE). Killed between CLAIMED and that: the item is
//     lost (its Get never returned, so it is not delivered twice); the
//     record blocks head until a reaper (a producer short of space, a
//     Join, a blocked consumer's poll) finds the claimer dead, CASes
//     CLAIMED -> DONE and adds 1 to lostGets.
//   - head is advanced by CAS over DONE, LOST and PAD records by anyone;
//     positions never repeat, so a stale CAS fails.
//
// Counters: Qsize = putCount - getCount (mod 2^32). A JoinableQueue's
// unfinished count is putCount - skipped - lostGets - taskDone; lostGets is
// added just after its CAS, so a reaper killed between the two leaves one
// task unfinished forever (Join then waits for its context).
//
// Events (see event.go) are three uint32 words: seq (the futex word),
// sleepers, pending. A process killed while asleep leaves sleepers one too
// high; that costs nothing but a flag test.
//
// Payload bytes are written with plain copies by the one process that owns
// the record (the reserver before its publish CAS, the claimer after its
// claim CAS); the CAS orders them for the other side.
const (
	qMagic  = uint64('m') | uint64('p')<<8 | uint64('q')<<16 | uint64('u')<<24 | uint64('e')<<32 | uint64(1)<<56
	qLayout = 1 // layout version, checked by shm

	offMagic       = 0
	offCapacity    = 8
	offMaxSize     = 16
	offFingerprint = 24
	offItemSize    = 32
	offMaxInline   = 40
	offNonce       = 48
	offCheck       = 56

	offPlock    = 64
	offTail     = 72
	offPutCount = 80
	offLastRec  = 88
	offPlockEv  = 96

	offClock   = 128
	offReadPos = 136
	offGetWord = 144
	offClockEv = 152

	offHead     = 192
	offLostGets = 200

	offNotEmpty = 256
	offNotFull  = 320
	offTaskDone = 384
	offAllDone  = 392

	headerSize = 512

	// Record header.
	recHeader = 32
	recAlign  = 32
	recState  = 0 // word indexes within a record header
	recOwner  = 1
	recSize   = 2
	recSeq    = 3

	closedBit = 1 // in tail

	stMask     = 7
	stReserved = 1
	stPublish  = 2
	stClaimed  = 3
	stDone     = 4
	stLost     = 5
	stPad      = 6
	blobFlag   = 8
	lowBits    = recAlign - 1 // state word bits that are not the position
)

// layoutInit returns the Init function that writes a new queue's header.
func layoutInit(s settings, fp, itemSize, nonce uint64) func([]byte) error {
	return func(b []byte) error {
		if uint64(len(b)) < headerSize+s.capacity {
			return withDetail(ErrConfig, "block smaller than the queue")
		}
		var id [offCheck]byte
		binary.LittleEndian.PutUint64(id[offMagic:], qMagic)
		binary.LittleEndian.PutUint64(id[offCapacity:], s.capacity)
		binary.LittleEndian.PutUint64(id[offMaxSize:], s.maxSize)
		binary.LittleEndian.PutUint64(id[offFingerprint:], fp)
		binary.LittleEndian.PutUint64(id[offItemSize:], itemSize)
		binary.LittleEndian.PutUint64(id[offMaxInline:], s.maxInline)
		binary.LittleEndian.PutUint64(id[offNonce:], nonce)
		for off := 0; off < offCheck; off += 8 {
			atomic.StoreUint64(shm.Uint64(b, off), binary.LittleEndian.Uint64(id[off:]))
		}
		atomic.StoreUint64(shm.Uint64(b, offCheck), checksum(id[:]))
		return nil
	}
}

func checksum(b []byte) uint64 {
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// identity is a queue header's immutable line, decoded and validated.
type identity struct {
	capacity, maxSize, fingerprint, itemSize, maxInline, nonce uint64
}

// readIdentity validates the header of a queue in b (the object's bytes):
// the immutable line's magic and checksum, the ring's fit, and the
// positions' invariants. Anything off is ErrCorrupt.
func readIdentity(b []byte) (identity, error) {
	if len(b) < headerSize {
		return identity{}, withDetail(ErrCorrupt, fmt.Sprintf("object of %d bytes, the header alone is %d", len(b), headerSize))
	}
	var raw [offCheck]byte
	for off := 0; off < offCheck; off += 8 {
		binary.LittleEndian.PutUint64(raw[off:], atomic.LoadUint64(shm.Uint64(b, off)))
	}
	if binary.LittleEndian.Uint64(raw[offMagic:]) != qMagic {
		return identity{}, withDetail(ErrCorrupt, "bad queue magic")
	}
	if checksum(raw[:]) != atomic.LoadUint64(shm.Uint64(b, offCheck)) {
		return identity{}, withDetail(ErrCorrupt, "header checksum mismatch")
	}
	id := identity{
		capacity:    binary.LittleEndian.Uint64(raw[offCapacity:]),
		maxSize:     binary.LittleEndian.Uint64(raw[offMaxSize:]),
		fingerprint: binary.LittleEndian.Uint64(raw[offFingerprint:]),
		itemSize:    binary.LittleEndian.Uint64(raw[offItemSize:]),
		maxInline:   binary.LittleEndian.Uint64(raw[offMaxInline:]),
		nonce:       binary.LittleEndian.Uint64(raw[offNonce:]),
	}
	if id.capacity < MinCapacity || id.capacity > MaxCapacity || id.capacity%64 != 0 ||
		uint64(len(b)) < headerSize+id.capacity || id.maxSize > MaxMaxSize {
		return identity{}, withDetail(ErrCorrupt, fmt.Sprintf("capacity %d or maxsize %d out of range", id.capacity, id.maxSize))
	}
	// Read in the order the positions advance past each other, so that
	// concurrent progress never looks like corruption: head, then readPos,
	// then tail, then head again for the span.
	head := atomic.LoadUint64(shm.Uint64(b, offHead))
	rp := atomic.LoadUint64(shm.Uint64(b, offReadPos))
	tail := atomic.LoadUint64(shm.Uint64(b, offTail)) &^ closedBit
	head2 := atomic.LoadUint64(shm.Uint64(b, offHead))
	if head%recAlign != 0 || rp%recAlign != 0 || tail%recAlign != 0 ||
		head > rp || rp > tail || tail > head2 && tail-head2 > id.capacity {
		return identity{}, withDetail(ErrCorrupt, fmt.Sprintf("positions head %d, read %d, tail %d break the ring's invariants", head, rp, tail))
	}
	return id, nil
}
