package queue

import (
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/mproc/mproc/shm"
)

// Read-only inspection, for tools such as "mproc inspect": Inspect decodes
// a queue's shared state from its layout (see layout.go) with atomic loads
// only. It writes nothing, takes neither side's lock and wakes nobody, so
// it is safe on a live queue; the words are read one by one, so a
// snapshot of a busy queue mixes moments (a record walk that finds the
// ring moved under it stops and says so).

// Bounds of Inspect's walk over the ring's records.
const (
	// InspectRecords is the most records Inspect walks.
	InspectRecords = 1 << 16
	// InspectStuck is the most stuck records Inspect lists.
	InspectStuck = 16
)

// State is a snapshot of a Queue, SimpleQueue or JoinableQueue, as
// Inspect decodes it.
type State struct {
	Kind      shm.Kind
	Capacity  int // ring bytes
	MaxSize   int // item bound, 0 = ring only
	ItemSize  int // raw item size, 0 for encoded items
	MaxInline int // the creator's MaxInline: larger items travel in blobs
	Items     int // Qsize: items put and not yet taken
	Used      int // ring bytes holding records
	Closed    bool
	// Puts counts items ever reserved; LostPuts those skipped because
	// their producer died before publishing (or aborted); LostGets those
	// claimed by a consumer that died before finishing its get.
	Puts, LostPuts, LostGets uint64
	// TasksDone and Unfinished are a JoinableQueue's: TaskDone calls ever,
	// and items put and neither done nor lost.
	TasksDone  uint64
	Unfinished int
	// Waiting producers (Put blocked on a full queue), consumers (Get
	// blocked on an empty one) and joiners (Join): registered sleepers.
	// A process killed while asleep stays counted.
	WaitingProducers, WaitingConsumers, WaitingJoiners uint32
	// ProducerLock and ConsumerLock are the holders of the short locks of
	// each side (zero when free).
	ProducerLock, ConsumerLock Process
	// Records counts the ring's records, from head to tail, by state.
	Records RecordCounts
	// Stuck lists (up to InspectStuck) records held by dead processes: a
	// reservation never published (consumers will skip it as lost) or a
	// claim never finished (a reaper will free it).
	Stuck []Record
	// Partial reports that the walk stopped early: the ring moved under
	// it, or it had more than InspectRecords records.
	Partial bool
}

// Process is a process named by an owner tag (pid and low bits of its
// start time) and whether it still runs. The zero Process means none.
type Process struct {
	Pid   int32
	Alive bool
}

// RecordCounts counts records by state.
type RecordCounts struct {
	Reserved, Published, Claimed, Done, Lost, Pad int
	Blobs                                         int // published items stored out of line
}

// Record is one record of the ring.
type Record struct {
	Position uint64
	State    string  // "reserved", "published", "claimed", "done", "lost" or "pad"
	Owner    Process // the reserving producer, or the claiming consumer
	Seq      uint64  // item number
	Length   uint64  // payload bytes in the ring
	Blob     bool    // the item travels in a blob segment
}

var recordStates = [...]string{stReserved: "reserved", stPublish: "published", stClaimed: "claimed",
	stDone: "done", stLost: "lost", stPad: "pad"}

// LayoutVersion is the queue layout version this build reads and writes.
const LayoutVersion = qLayout

// Inspect decodes the queue r holds, reading it only. The region must be
// a queue kind of this build's layout version (else an error matching
// shm.ErrKind or shm.ErrVersion) with a valid header (else ErrCorrupt).
func Inspect(r *shm.Region) (State, error) {
	h := r.Handle()
	fail := func(err error) (State, error) { return State{}, fmt.Errorf("queue: inspect %v: %w", h, err) }
	switch h.Kind {
	case shm.KindQueue, shm.KindSimpleQueue, shm.KindJoinableQueue:
	default:
		return fail(withDetail(shm.ErrKind, fmt.Sprintf("a %v is not a queue", h.Kind)))
	}
	if h.Version != qLayout {
		return fail(withDetail(shm.ErrVersion, fmt.Sprintf("%v layout version %d, this build reads %d", h.Kind, h.Version, qLayout)))
	}
	b := r.Bytes()
	id, err := readIdentity(b)
	if err != nil {
		return fail(err)
	}
	load := func(off int) uint64 { return atomic.LoadUint64(shm.Uint64(b, off)) }
	sleepers := func(off int) uint32 { return atomic.LoadUint32(shm.Uint32(b, off+4)) }

	head := load(offHead)
	tw := load(offTail)
	tail := tw &^ closedBit
	put, gw, lost, done := load(offPutCount), load(offGetWord), load(offLostGets), load(offTaskDone)
	st := State{
		Kind:             h.Kind,
		Capacity:         int(id.capacity),
		MaxSize:          int(id.maxSize),
		ItemSize:         int(id.itemSize),
		MaxInline:        int(id.maxInline),
		Items:            int(max(int32(uint32(put)-uint32(gw)), 0)),
		Used:             int(max(int64(tail)-int64(head), 0)),
		Closed:           tw&closedBit != 0,
		Puts:             put,
		LostPuts:         gw >> 32,
		LostGets:         lost,
		WaitingProducers: sleepers(offNotFull),
		WaitingConsumers: sleepers(offNotEmpty),
		ProducerLock:     tagProcess(load(offPlock)),
		ConsumerLock:     tagProcess(load(offClock)),
	}
	if h.Kind == shm.KindJoinableQueue {
		st.TasksDone = done
		st.Unfinished = int(max(int32(uint32(put)-uint32(gw>>32)-uint32(lost)-uint32(done)), 0))
		st.WaitingJoiners = sleepers(offAllDone)
	}
	inspectRecords(&st, b[headerSize:headerSize+id.capacity], id.capacity, id.nonce&^lowBits, head, tail)
	return st, nil
}

// inspectRecords walks the records in [head, tail), as the consumers and
// head's advance do, stopping at the first one that does not fit (the
// ring moved under the walk).
func inspectRecords(st *State, data []byte, capacity, key, head, tail uint64) {
	if tail < head || tail-head > capacity {
		st.Partial = true
		return
	}
	w := shm.Slice[uint64](data, 0, int(capacity/8))
	for p, n := head, 0; p < tail; n++ {
		if n == InspectRecords {
			st.Partial = true
			return
		}
		ix := int(p % capacity / 8)
		sw := atomic.LoadUint64(&w[ix+recState])
		sz := atomic.LoadUint64(&w[ix+recSize])
		stride := sz & 0xffffffff
		if sw&^lowBits != positionTag(key, p) || stride < recHeader || stride%recAlign != 0 || p%capacity+stride > capacity {
			st.Partial = true
			return
		}
		state := sw & stMask
		owner := tagProcess(atomic.LoadUint64(&w[ix+recOwner]))
		switch state {
		case stReserved:
			st.Records.Reserved++
		case stPublish:
			st.Records.Published++
			if sw&blobFlag != 0 {
				st.Records.Blobs++
			}
		case stClaimed:
			st.Records.Claimed++
		case stDone:
			st.Records.Done++
		case stLost:
			st.Records.Lost++
		case stPad:
			st.Records.Pad++
		default:
			st.Partial = true
			return
		}
		if (state == stReserved || state == stClaimed) && owner.Pid != 0 && !owner.Alive && len(st.Stuck) < InspectStuck {
			st.Stuck = append(st.Stuck, Record{
				Position: p,
				State:    recordStates[state],
				Owner:    owner,
				Seq:      atomic.LoadUint64(&w[ix+recSeq]),
				Length:   sz >> 32,
				Blob:     sw&blobFlag != 0,
			})
		}
		p += stride
	}
}

// tagProcess decodes an owner tag (0: none).
func tagProcess(tag uint64) Process {
	if tag == 0 {
		return Process{}
	}
	return Process{Pid: int32(tag >> 32), Alive: tagAlive(tag)}
}

// Blob describes a blob segment (kind shm.KindBlob): the out-of-line
// storage of one large item, named after its queue.
type Blob struct {
	// Queue is the queue the item was put in (only its Segment, if its
	// handle was too long to record whole).
	Queue    shm.Handle
	Nonce    uint64 // the queue's nonce
	Position uint64 // the item's record in the queue's ring
	Length   uint64 // item bytes
}

// InspectBlob decodes the prefix of a blob segment's payload (its first
// 256 bytes at least, read from a mapping or from the file after the
// segment header). The prefix is written before the blob is published and
// never changes, so plain reads are safe. A prefix that is not a blob's
// is ErrCorrupt.
func InspectBlob(payload []byte) (Blob, error) {
	if len(payload) < blobPrefix {
		return Blob{}, withDetail(ErrCorrupt, fmt.Sprintf("blob prefix of %d bytes, want %d", len(payload), blobPrefix))
	}
	le := binary.LittleEndian
	if le.Uint64(payload[0:]) != blobMagic {
		return Blob{}, withDetail(ErrCorrupt, "bad blob magic")
	}
	n := le.Uint64(payload[32:])
	if n == 0 || n > blobOwnerMax {
		return Blob{}, withDetail(ErrCorrupt, fmt.Sprintf("blob owner of %d bytes", n))
	}
	text := string(payload[40 : 40+n])
	h, err := shm.ParseHandle(text)
	if err != nil {
		// A handle longer than the field was cut; its segment name, which
		// comes first and is at most shm.MaxNameLen bytes, is whole.
		seg, _, found := strings.Cut(text, "@")
		if !found || shm.ValidateName(seg) != nil {
			return Blob{}, withDetail(ErrCorrupt, fmt.Sprintf("blob owner: %v", err))
		}
		h = shm.Handle{Segment: seg}
	}
	return Blob{Queue: h, Nonce: le.Uint64(payload[8:]), Position: le.Uint64(payload[16:]), Length: le.Uint64(payload[24:])}, nil
}
