package queue

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/shm"
)

// ring is one process's handle on a queue's shared memory: the byte-level
// algorithm of layout.go (reserve, publish, claim, release, reap), blind
// to item types. Queue, SimpleQueue and JoinableQueue wrap it.
type ring struct {
	reg  *shm.Region
	data []byte   // the ring's bytes
	w    []uint64 // the same bytes as words, for record headers

	capacity, maxSize, maxInline, nonce uint64
	capMask                             uint64 // capacity-1 when a power of two, else 0 (see ringOff)
	tagKey                              uint64 // see tagOf
	kind                                shm.Kind
	blobBase                            string // blob segment names start with it

	plock, clock                                                        ownerLock
	tail, putCount, lastRec, readPos, getWord, head, lostGets, taskDone *uint64
	notEmpty, notFull, allDone                                          event

	tag uint64 // this process's owner tag

	// Process-local hints, each a value the shared word had at some
	// point. head and getCount only grow, so a stale hint errs on the
	// side of "no room"; tail likewise errs on "not committed yet". The
	// producer-side and consumer-side fields sit on separate cache lines,
	// so that a producer and a consumer goroutine of one process sharing
	// this handle do not bounce a line between them.
	_         [64]byte
	cHead     atomic.Uint64 // producers
	cGet      atomic.Uint64 // producers
	spinPut   spinner
	_         [64]byte
	cTail     atomic.Uint64 // consumers
	spinGet   spinner
	_         [64]byte
	fenceWord uint64      // target of fence's locked add, this process's own
	uses      usage       // calls in flight, open Reservations and Refs
	gone      atomic.Bool // Detach was called
	unmapOnce sync.Once
}

// tagMul is odd, so multiplying by it is a bijection modulo any power of
// two.
const tagMul = 0x9e3779b97f4a7c15

// tagOf returns the tag that the state word of the record at position p
// carries in its high 59 bits: p/32 times an odd constant, modulo 2^59,
// xor the queue's nonce. Distinct positions have distinct tags (positions
// below 2^64), so a CAS by tag is as ABA-free as a CAS by position; and
// bytes left in the ring by earlier records (a stale header, an item's
// payload) match a position's tag only by a 2^-59 accident, since the
// nonce is random per queue. That lets a consumer recognise the record at
// its read position from the state word alone, without reading tail
// (which lives on the producers' busiest cache line).
func (r *ring) tagOf(p uint64) uint64 { return positionTag(r.tagKey, p) }

// positionTag is tagOf for a queue whose nonce, with its low 5 bits
// cleared, is key.
func positionTag(key, p uint64) uint64 { return (p>>5*tagMul)<<5 ^ key }

const detachedBit = 1 << 62

// reapPoll is how often a waiter that may be blocked by a dead process
// (a reservation that is never published, a claim never released) looks
// again and checks the owner.
var reapPoll = 20 * time.Millisecond

// Test hooks, set only by tests: testHookReap runs in claimLocked just
// before it checks whether the reserver of a reserved record lives;
// testHookClaimOne in tryClaimOne right after its first load of the
// record's header.
var testHookReap, testHookClaimOne func()

type status uint8

const (
	statusOK      status = iota
	statusEmpty          // nothing to claim
	statusPending        // the next record is reserved, not yet published
	statusClosed         // closed, and (for consumers) drained
	statusNoSpace        // the ring has no room for the next record
	statusNoRoom         // maxsize items are in the queue
	statusCorrupt        // a record or position failed validation
)

func newRing(reg *shm.Region, id identity, maxInline uint64) *ring {
	unlockSetup.Do(setupUnlock)
	b := reg.Bytes()
	r := &ring{
		reg:       reg,
		data:      b[headerSize : headerSize+id.capacity : headerSize+id.capacity],
		capacity:  id.capacity,
		capMask:   powerOfTwoMask(id.capacity),
		maxSize:   id.maxSize,
		maxInline: maxInline,
		nonce:     id.nonce,
		tagKey:    id.nonce &^ lowBits,
		kind:      reg.Handle().Kind,
		plock:     ownerLock{shm.Uint64(b, offPlock), newEvent(b, offPlockEv, false)},
		clock:     ownerLock{shm.Uint64(b, offClock), newEvent(b, offClockEv, false)},
		tail:      shm.Uint64(b, offTail),
		putCount:  shm.Uint64(b, offPutCount),
		lastRec:   shm.Uint64(b, offLastRec),
		readPos:   shm.Uint64(b, offReadPos),
		getWord:   shm.Uint64(b, offGetWord),
		head:      shm.Uint64(b, offHead),
		lostGets:  shm.Uint64(b, offLostGets),
		taskDone:  shm.Uint64(b, offTaskDone),
		notEmpty:  newEvent(b, offNotEmpty, false),
		notFull:   newEvent(b, offNotFull, true),
		allDone:   newEvent(b, offAllDone, true),
		tag:       ownerTag(),
		uses:      newUsage(),
	}
	r.w = shm.Slice[uint64](r.data, 0, int(id.capacity/8))
	r.blobBase = blobBase(reg.Handle(), id.nonce)
	r.cHead.Store(atomic.LoadUint64(r.head))
	r.cGet.Store(atomic.LoadUint64(r.getWord))
	return r
}

// powerOfTwoMask returns c-1 if c is a power of two, else 0.
func powerOfTwoMask(c uint64) uint64 {
	if c != 0 && c&(c-1) == 0 {
		return c - 1
	}
	return 0
}

// ringOff returns the ring offset of position p: p % capacity, with a mask
// where the capacity is a power of two (the default's; a 64-bit division
// costs tens of cycles, and a Put and Get made several).
func (r *ring) ringOff(p uint64) uint64 {
	if r.capMask != 0 {
		return p & r.capMask
	}
	return p % r.capacity
}

// index returns the word index of the record header at position p.
func (r *ring) index(p uint64) int { return int(r.ringOff(p) / 8) }

// payload returns the n payload bytes of the record at position p.
func (r *ring) payload(p, n uint64) []byte {
	off := r.ringOff(p) + recHeader
	return r.data[off : off+n : off+n]
}

// validStride reports whether a record at p of stride bytes is well
// formed: aligned, at least a header, and not crossing the ring's end.
func (r *ring) validStride(p, stride uint64) bool {
	return stride >= recHeader && stride%recAlign == 0 && r.ringOff(p)+stride <= r.capacity
}

// strideFor returns the record size for a payload of n bytes.
func strideFor(n uint64) uint64 { return (recHeader + n + recAlign - 1) &^ (recAlign - 1) }

// --- handle lifetime -------------------------------------------------------

// enter counts a call in flight; it fails once the handle is detached.
// With leave and detach it is Dekker's protocol (see usage): enter counts,
// then looks at gone; detach sets gone, then sums the counts, so either
// detach sees the call or the call sees gone (and touches nothing shared).
func (r *ring) enter() error {
	r.uses.enter()
	if r.gone.Load() {
		r.leave()
		return ErrDetached
	}
	return nil
}

// leave ends a call; the last one out after Detach unmaps.
func (r *ring) leave() {
	r.uses.leave()
	if r.gone.Load() {
		r.unmapIfIdle()
	}
}

func (r *ring) unmapIfIdle() {
	if r.uses.idle() {
		r.unmapOnce.Do(func() { _ = r.reg.Close() })
	}
}

func (r *ring) detached() bool { return r.gone.Load() }

// fence is a full memory barrier (a locked add of zero to a word of this
// process's own): what an event's signaller needs between a plain store
// of the condition and its look at the sleepers.
func (r *ring) fence() { atomic.AddUint64(&r.fenceWord, 0) }

// detach marks the handle detached, wakes this process's sleepers (the
// others see a spurious wake-up) and unmaps once no call is in flight.
func (r *ring) detach() {
	r.uses.enter() // keep the mapping for the broadcasts
	if !r.gone.Swap(true) {
		for _, e := range []event{r.notEmpty, r.notFull, r.allDone, r.plock.ev, r.clock.ev} {
			e.broadcast()
		}
	}
	r.leave()
}

// waitErr turns a wait's failure into the call's error: a passed deadline
// becomes timeout (ErrFull or ErrEmpty plus DeadlineExceeded).
func waitErr(err, timeout error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return timeout
	}
	return err
}

// --- producers -----------------------------------------------------------

// spec describes one record to reserve.
type spec struct {
	length uint64 // payload bytes in the ring
	flags  uint64 // blobFlag or 0
}

func (s spec) stride() uint64 { return strideFor(s.length) }

// lockProducer takes plock and repairs after a dead holder.
func (r *ring) lockProducer(ctx context.Context, dl int64) error {
	recovered, err := r.plock.lock(ctx, dl, r.tag)
	if err != nil {
		return err
	}
	if recovered {
		r.repairProducer()
	}
	return nil
}

// repairProducer runs under plock taken over from a dead holder, which
// may have committed records (stored tail) without counting them
// (putCount). A holder stores lastRec (the position of the newest record
// of its batch) before it writes any of the batch's headers, so lastRec <
// tail means the header at lastRec is the newest committed record's,
// whole, and not overwritten since (only a plock holder writes headers,
// and each stores lastRec first; a PAD written at that offset would carry
// another position's tag). putCount only grows here, so a
// repair that finds nothing to do changes nothing.
func (r *ring) repairProducer() {
	t := atomic.LoadUint64(r.tail) &^ closedBit
	lr := atomic.LoadUint64(r.lastRec)
	if lr >= t {
		return // the dead holder's last record was never committed
	}
	ix := r.index(lr)
	sw := atomic.LoadUint64(&r.w[ix+recState])
	if sw&^lowBits != r.tagOf(lr) || sw&stMask == stPad {
		return
	}
	if seq := atomic.LoadUint64(&r.w[ix+recSeq]); seq+1 > atomic.LoadUint64(r.putCount) {
		atomic.StoreUint64(r.putCount, seq+1)
	}
}

// reserveLocked reserves records for specs, in order, while they fit, and
// stores their positions in pos. It runs under plock. It stores lastRec
// once for the batch; each record's header is complete (state RESERVED
// with its tag, this process's owner tag) before the one store of tail
// that commits the lot; putCount follows. These stores are storeRel
// (release, a plain MOV on amd64): their order is all a consumer or a
// repair relies on. No full barrier follows before the publish CAS (the
// unlock is a plain store too, see ownerLock), and nothing needs one: no
// sleeper waits for a reservation.
func (r *ring) reserveLocked(specs []spec, pos []uint64) (int, status) {
	tw := atomic.LoadUint64(r.tail)
	if tw&closedBit != 0 {
		return 0, statusClosed
	}
	// First place the records (and the PADs before those that would cross
	// the ring's end) while they fit, touching only our hints and, when
	// those say no, head and getWord.
	t := tw
	put := atomic.LoadUint64(r.putCount)
	head := r.cHead.Load()
	k := 0
	st := statusOK
	for k < len(specs) {
		stride := specs[k].stride()
		off := r.ringOff(t)
		var pad uint64
		if off+stride > r.capacity {
			pad = r.capacity - off
		}
		if t+pad+stride > head+r.capacity {
			head = atomic.LoadUint64(r.head)
			r.cHead.Store(head)
			if head > t || t-head > r.capacity {
				st = statusCorrupt
				break
			}
			if t+pad+stride > head+r.capacity {
				st = statusNoSpace
				break
			}
		}
		if r.maxSize != 0 && uint32(put)-uint32(r.cGet.Load()) >= uint32(r.maxSize) {
			g := atomic.LoadUint64(r.getWord)
			r.cGet.Store(g)
			if n := int32(uint32(put) - uint32(g)); n >= int32(r.maxSize) {
				st = statusNoRoom
				break
			}
		}
		pos[k] = t + pad
		t += pad + stride
		put++
		k++
	}
	if k == 0 {
		return 0, st
	}
	// Then write them: lastRec first (the newest record, for a repair),
	// each header complete before the one store of tail that commits the
	// lot, putCount last.
	storeRel(r.lastRec, pos[k-1])
	t, put = tw, put-uint64(k)
	for i, p := range pos[:k] {
		if p != t {
			r.writeHeader(t, 0, p-t, put, stPad)
		}
		s := specs[i]
		stride := s.stride()
		r.writeHeader(p, r.tag, stride|s.length<<32, put, stReserved|s.flags)
		t = p + stride
		put++
	}
	storeRel(r.tail, t) // the commit
	storeRel(r.putCount, put)
	return k, st
}

// writeHeader writes the header of the record at position p, the state
// word last (tag(p) | state): a reader that recognises the record by its
// state finds the other words written. It runs under plock.
func (r *ring) writeHeader(p, owner, size, seq, state uint64) {
	ix := r.index(p)
	storeRel(&r.w[ix+recOwner], owner)
	storeRel(&r.w[ix+recSize], size)
	storeRel(&r.w[ix+recSeq], seq)
	storeRel(&r.w[ix+recState], r.tagOf(p)|state)
}

// claimAt claims the published record whose header is at word index ix
// (tag is its position's tag, flags its blobFlag): the claimer's tag, then
// the one store that is the get. It runs under clock and returns the
// record's seq.
func (r *ring) claimAt(ix int, tag, flags uint64) uint64 {
	storeRel(&r.w[ix+recOwner], r.tag)
	storeRel(&r.w[ix+recState], tag|stClaimed|flags)
	return atomic.LoadUint64(&r.w[ix+recSeq])
}

// tryReserveOne is Put's fast path: it reserves one record for an inline
// payload of n bytes if plock is free at the first try and the record fits
// as the hints say, with the stores of reserveLocked in the same order
// (lastRec, the header, tail, putCount). Anything else (a held or dead
// holder's lock, a PAD to write, no room by the hints, a MaxSize, a closed
// queue) reports false, and the caller takes the general path, reserve.
func (r *ring) tryReserveOne(n uint64) (uint64, bool) {
	if !atomic.CompareAndSwapUint64(r.plock.word, 0, r.tag) {
		return 0, false
	}
	tw := atomic.LoadUint64(r.tail)
	stride := strideFor(n)
	if tw&closedBit != 0 || r.maxSize != 0 || r.ringOff(tw)+stride > r.capacity || tw+stride > r.cHead.Load()+r.capacity {
		r.plock.unlock()
		return 0, false
	}
	put := atomic.LoadUint64(r.putCount)
	storeRel(r.lastRec, tw)
	r.writeHeader(tw, r.tag, stride|n<<32, put, stReserved)
	storeRel(r.tail, tw+stride) // the commit
	storeRel(r.putCount, put+1)
	r.plock.unlock()
	return tw, true
}

// reserve reserves records for a prefix of specs (at least one), blocking
// while there is no room. nowait fails with ErrFull instead.
func (r *ring) reserve(ctx context.Context, dl int64, specs []spec, pos []uint64, nowait bool) (int, error) {
	reap, spun := false, false
	stride := specs[0].stride()
	ready := func() bool { return r.readyPut(stride) }
	for {
		if r.detached() {
			return 0, ErrDetached
		}
		if err := r.lockProducer(ctx, dl); err != nil {
			return 0, waitErr(err, errPutTimeout)
		}
		k, st := r.reserveLocked(specs, pos)
		r.plock.unlock()
		switch {
		case k > 0:
			return k, nil
		case st == statusClosed:
			return 0, ErrClosed
		case st == statusCorrupt:
			return 0, withDetail(ErrCorrupt, "ring positions out of order")
		}
		if st == statusNoSpace && r.advanceHead(reap) {
			r.notFull.signal()
			continue
		}
		if nowait {
			if st == statusNoSpace && !reap {
				reap = true // one more try that reaps dead consumers' claims
				continue
			}
			return 0, ErrFull
		}
		if !spun {
			spun = true
			if r.spinPut.spin(ready) {
				continue
			}
		}
		ticket := r.notFull.prepare()
		if ready() {
			r.notFull.cancel()
			continue
		}
		var poll time.Duration
		if st == statusNoSpace {
			poll = reapPoll
		}
		if err := r.notFull.sleep(ctx, ticket, dl, poll); err != nil {
			return 0, waitErr(err, errPutTimeout)
		}
		reap = st == statusNoSpace
	}
}

// readyPut reports, without locking, whether a record of stride bytes may
// fit now (or the queue is closed or the handle detached: the caller must
// look).
func (r *ring) readyPut(stride uint64) bool {
	tw := atomic.LoadUint64(r.tail)
	if tw&closedBit != 0 || r.detached() {
		return true
	}
	if r.maxSize != 0 && int32(uint32(atomic.LoadUint64(r.putCount))-uint32(atomic.LoadUint64(r.getWord))) >= int32(r.maxSize) {
		return false
	}
	var pad uint64
	if off := r.ringOff(tw); off+stride > r.capacity {
		pad = r.capacity - off
	}
	return tw+pad+stride <= atomic.LoadUint64(r.head)+r.capacity
}

// publish makes the reserved record at p visible to consumers: the put's
// one atomic step. It fails only if the record was declared lost by a
// process that took this one for dead.
func (r *ring) publish(p, flags uint64) error {
	tag := r.tagOf(p)
	if !atomic.CompareAndSwapUint64(&r.w[r.index(p)+recState], tag|stReserved|flags, tag|stPublish|flags) {
		return withDetail(ErrItemLost, "reservation was declared lost before it was published")
	}
	return nil
}

// abort gives a reservation up: consumers skip it as lost.
func (r *ring) abort(p, flags uint64) {
	tag := r.tagOf(p)
	if atomic.CompareAndSwapUint64(&r.w[r.index(p)+recState], tag|stReserved|flags, tag|stLost|flags) {
		r.notEmpty.signal()
	}
}

// close sets the closed bit under plock and wakes everybody.
func (r *ring) close() error {
	if err := r.lockProducer(context.Background(), 0); err != nil {
		return err
	}
	tw := atomic.LoadUint64(r.tail)
	atomic.StoreUint64(r.tail, tw|closedBit)
	r.plock.unlock()
	r.notEmpty.broadcast()
	r.notFull.broadcast()
	r.allDone.broadcast()
	return nil
}

// --- consumers -----------------------------------------------------------

// claimed is a record a consumer claimed.
type claimed struct {
	pos    uint64
	stride uint64 // record bytes
	length uint64 // payload bytes in the ring
	flags  uint64
}

// claimLocked runs under clock. It claims up to len(out) published
// records from readPos on, walking past PAD and LOST records, and past
// CLAIMED ones left at readPos by a dead clock holder (fixing getWord from
// their seq, which makes the walk idempotent). With reap, a committed
// record reserved by a dead producer is declared LOST. With len(out) == 0
// it only walks past what can be skipped. With quick, a read position
// where nothing has been reserved yet is reported as statusEmpty without
// reading tail: tail sits on the producers' busiest cache line, and a
// consumer that has caught up with the producers would otherwise pull
// that line over once per item. A quick call cannot tell a closed queue
// from an empty one; the caller makes a full call before it sleeps.
//
// The record at readPos is recognised by its state word's tag alone.
// PUBLISHED, CLAIMED, DONE and LOST are only ever set on committed records;
// RESERVED and PAD are written before the commit, so skipping a PAD or
// declaring a reservation lost first checks tail, and then re-reads the
// header, which is final once committed.
//
// Its stores (the claimer's tag, then the claim, getWord, readPos) are
// storeRel: their order is what other consumers rely on. No full barrier
// follows (the unlock is a plain store): a caller that signals notFull
// after a claim fences first (getRef), or frees the record with a CAS
// before it signals (release); lost records counted out are stored with
// a full barrier here, and signalled.
func (r *ring) claimLocked(out []claimed, reap, quick bool) (int, status) {
	rp := atomic.LoadUint64(r.readPos)
	rp0 := rp
	gw := atomic.LoadUint64(r.getWord)
	gw0 := gw
	k := 0
	st := statusOK
	// committed reports whether rp is below tail, refreshing the hint.
	committed := func() (bool, bool) {
		if rp < r.cTail.Load() {
			return true, false
		}
		tw := atomic.LoadUint64(r.tail)
		r.cTail.Store(tw &^ closedBit)
		return rp < tw&^closedBit, tw&closedBit != 0
	}
	known := false   // rp is known to be committed
	skipped := false // a LOST record was counted out
loop:
	for {
		tag := r.tagOf(rp)
		ix := r.index(rp)
		sw := atomic.LoadUint64(&r.w[ix+recState])
		if sw&^lowBits != tag {
			if quick && !known {
				st = statusEmpty
				break
			}
			// Nothing was reserved at rp yet, unless tail says so (a
			// header written just now, between our two loads).
			ok, closed := committed()
			switch {
			case ok && !known:
				known = true
				continue
			case ok, rp > r.cTail.Load(): // (the hint is fresh here)
				st = statusCorrupt // a record that is not there, or readPos past tail
			case closed:
				st = statusClosed
			default:
				st = statusEmpty
			}
			break
		}
		sz := atomic.LoadUint64(&r.w[ix+recSize])
		stride := sz & 0xffffffff
		if !r.validStride(rp, stride) {
			st = statusCorrupt
			break
		}
		switch sw & stMask {
		case stPad:
			if !known {
				ok, closed := committed()
				if !ok {
					st = statusPending
					if closed {
						st = statusClosed // a dead reserver's PAD; nothing follows
					}
					break loop
				}
				known = true
				continue // re-read the committed header
			}
		case stPublish:
			if k == len(out) {
				break loop
			}
			// The claim: one store, not a CAS. Nobody else writes the state
			// of a PUBLISHED record while we hold clock (producers write only
			// RESERVED records and free space, reapers only CLAIMED ones,
			// other consumers wait for clock), and an aligned 8-byte store
			// is as atomic a step as a CAS for a process killed around it.
			seq := r.claimAt(ix, tag, sw&blobFlag)
			gw = gw&^0xffffffff | uint64(uint32(seq+1))
			out[k] = claimed{pos: rp, stride: stride, length: sz >> 32, flags: sw & blobFlag}
			k++
			if k == len(out) {
				rp += stride
				break loop
			}
		case stLost:
			seq := atomic.LoadUint64(&r.w[ix+recSeq])
			if uint32(gw) != uint32(seq+1) {
				gw = (gw>>32+1)<<32 | uint64(uint32(seq+1))
				if sw&blobFlag != 0 {
					_ = shm.Unlink(r.blobName(rp))
				}
				skipped = true
			}
		case stClaimed, stDone:
			seq := atomic.LoadUint64(&r.w[ix+recSeq])
			gw = gw&^0xffffffff | uint64(uint32(seq+1))
		case stReserved:
			if reap {
				ok, closed := committed()
				if !ok {
					st = statusPending
					if closed {
						st = statusClosed // a dead reserver's record; never committed
					}
					break loop
				}
				if !known {
					known = true
					continue
				}
				if testHookReap != nil {
					testHookReap()
				}
				if !tagAlive(atomic.LoadUint64(&r.w[ix+recOwner])) {
					// The reserver is dead and will never publish. But it
					// may have published after sw was read and died since:
					// read the state again, now that its death is seen
					// (a publish made before the death is visible here).
					if atomic.LoadUint64(&r.w[ix+recState]) != sw {
						continue // published (or declared lost) meanwhile: look again
					}
					// Its blob (if it got as far as making one) goes
					// before the record is declared lost, so that no
					// process killed in between leaves the blob behind.
					if sw&blobFlag != 0 {
						_ = shm.Unlink(r.blobName(rp))
					}
					if atomic.CompareAndSwapUint64(&r.w[ix+recState], sw, tag|stLost|sw&blobFlag) {
						continue // counted as LOST on the next turn
					}
				}
			}
			st = statusPending
			break loop
		default:
			st = statusCorrupt
			break loop
		}
		rp += stride
		known = false
	}
	if skipped {
		// Lost items left the count: producers waiting for MaxSize room
		// and Join may go on. The store is a full barrier, as the
		// events' signallers need (see event.go); the unlock is not.
		atomic.StoreUint64(r.getWord, gw)
		r.notFull.signal()
		r.allDone.signal()
	} else if gw != gw0 {
		storeRel(r.getWord, gw)
	}
	if rp != rp0 {
		storeRel(r.readPos, rp)
	}
	return k, st
}

// tryClaimOne is Get's fast path: if clock is free at the first try and
// the record at readPos is published (inline, well formed), it claims it
// with the stores of claimLocked in the same order (the claimer's tag, the
// claim, getWord, readPos). Anything else (a held lock, nothing published
// there, a record to skip or reap, a blob) reports false, and the caller
// takes the general path, claim.
func (r *ring) tryClaimOne() (claimed, bool) {
	if !atomic.CompareAndSwapUint64(r.clock.word, 0, r.tag) {
		return claimed{}, false
	}
	rp := atomic.LoadUint64(r.readPos)
	tag := r.tagOf(rp)
	ix := r.index(rp)
	// The state first, then the size: the header is current only once its
	// state word says so (a size read before it may be the previous
	// lap's record's).
	sw := atomic.LoadUint64(&r.w[ix+recState])
	if testHookClaimOne != nil {
		testHookClaimOne()
	}
	if sw != tag|stPublish {
		r.clock.unlock()
		return claimed{}, false
	}
	sz := atomic.LoadUint64(&r.w[ix+recSize])
	stride := sz & 0xffffffff
	if !r.validStride(rp, stride) {
		r.clock.unlock()
		return claimed{}, false
	}
	seq := r.claimAt(ix, tag, 0)
	gw := atomic.LoadUint64(r.getWord)
	storeRel(r.getWord, gw&^0xffffffff|uint64(uint32(seq+1)))
	storeRel(r.readPos, rp+stride)
	r.clock.unlock()
	return claimed{pos: rp, stride: stride, length: sz >> 32}, true
}

// claim claims at least one record (up to len(out)), blocking while there
// is none. nowait fails with ErrEmpty instead.
func (r *ring) claim(ctx context.Context, dl int64, out []claimed, nowait bool) (int, error) {
	reap, spun, slept := false, false, false
	quick := !nowait // see claimLocked; a nowait call must tell closed from empty
	for {
		if r.detached() {
			return 0, ErrDetached
		}
		if _, err := r.clock.lock(ctx, dl, r.tag); err != nil {
			return 0, waitErr(err, errGetTimeout)
		}
		k, st := r.claimLocked(out, reap, quick)
		quick = false
		r.clock.unlock()
		switch {
		case k > 0:
			if slept && r.readyGet(true) {
				r.notEmpty.signal() // pass the wake-up on to another sleeper
			}
			return k, nil
		case st == statusClosed:
			return 0, ErrClosed
		case st == statusCorrupt:
			return 0, withDetail(ErrCorrupt, "bad record at the read position")
		}
		if nowait {
			if st == statusPending && !reap {
				reap = true // one more try that reaps a dead producer's reservation
				continue
			}
			return 0, ErrEmpty
		}
		if !spun {
			spun = true
			if r.spinGet.spin(r.readyGetSpin) {
				quick = true // a record is there: no need to read tail
				continue
			}
		}
		ticket := r.notEmpty.prepare()
		if r.readyGet(true) {
			r.notEmpty.cancel()
			continue
		}
		var poll time.Duration
		if st == statusPending {
			poll = reapPoll
		}
		if err := r.notEmpty.sleep(ctx, ticket, dl, poll); err != nil {
			return 0, waitErr(err, errGetTimeout)
		}
		slept = true
		reap = st == statusPending
	}
}

// readyGet reports, without locking, whether the record at readPos can be
// claimed or skipped. The spinning form (full == false) reads only the
// state word; the full form, used just before sleeping, also reports a
// closed and drained queue and a detached handle (the caller must look).
func (r *ring) readyGet(full bool) bool {
	rp := atomic.LoadUint64(r.readPos)
	sw := atomic.LoadUint64(&r.w[r.index(rp)+recState])
	if sw&^lowBits == r.tagOf(rp) {
		switch sw & stMask {
		case stReserved:
			return full && r.detached()
		case stPad:
			if !full {
				return false
			}
			return rp < atomic.LoadUint64(r.tail)&^closedBit || r.detached()
		}
		return true
	}
	if !full {
		return false
	}
	// rp != tail: a record to claim, or (rp > tail) shared state that
	// does not add up, which the caller's full claim reports.
	tw := atomic.LoadUint64(r.tail)
	return rp != tw&^closedBit || tw&closedBit != 0 || r.detached()
}

func (r *ring) readyGetSpin() bool { return r.readyGet(false) }

// finish marks claimed records DONE (their payload is no longer read).
func (r *ring) finish(cs []claimed) {
	for _, c := range cs {
		atomic.StoreUint64(&r.w[r.index(c.pos)+recState], r.tagOf(c.pos)|stDone|c.flags)
	}
}

// release finishes claimed records (in position order), frees what it
// can and wakes a producer that may wait for room. A record at head is
// freed by moving head past it, without its DONE store: nothing ever
// reads a record behind head.
//
// Records claimed together under clock usually sit end to end, so one CAS
// frees a whole run of them.
func (r *ring) release(cs []claimed) {
	i := 0
	for i < len(cs) {
		j := i + 1 // cs[i:j] is a run of adjacent records
		for j < len(cs) && cs[j].pos == cs[j-1].pos+cs[j-1].stride {
			j++
		}
		if !atomic.CompareAndSwapUint64(r.head, cs[i].pos, cs[j-1].pos+cs[j-1].stride) {
			break
		}
		i = j
	}
	r.finish(cs[i:])
	r.advanceHead(false) // past records other consumers finished meanwhile
	r.notFull.signal()
}

// advanceHead moves head past DONE, LOST and PAD records below readPos, by
// CAS (positions never repeat, so a stale CAS fails harmlessly). With
// reap, a CLAIMED record whose claimer is dead is turned DONE and counted
// in lostGets. It reports whether head moved.
func (r *ring) advanceHead(reap bool) bool {
	moved := false
	for {
		h := atomic.LoadUint64(r.head)
		rp := atomic.LoadUint64(r.readPos)
		end := h
	scan:
		for end < rp {
			ix := r.index(end)
			sw := atomic.LoadUint64(&r.w[ix+recState])
			stride := atomic.LoadUint64(&r.w[ix+recSize]) & 0xffffffff
			tag := r.tagOf(end)
			if sw&^lowBits != tag || !r.validStride(end, stride) {
				break // stale: head moved under us
			}
			switch sw & stMask {
			case stDone, stLost, stPad:
			case stClaimed:
				if !reap || tagAlive(atomic.LoadUint64(&r.w[ix+recOwner])) {
					break scan
				}
				// The claimer is dead, so nobody reads the item again:
				// its blob goes first, then the record. A reaper killed
				// in between leaves the record to the next one, which
				// unlinks again (harmlessly): no blob is left behind.
				if sw&blobFlag != 0 {
					_ = shm.Unlink(r.blobName(end))
				}
				if !atomic.CompareAndSwapUint64(&r.w[ix+recState], sw, tag|stDone|sw&blobFlag) {
					break scan
				}
				atomic.AddUint64(r.lostGets, 1)
				r.allDone.signal()
			default:
				break scan
			}
			end += stride
		}
		if end == h {
			return moved
		}
		if atomic.CompareAndSwapUint64(r.head, h, end) {
			moved = true
		}
	}
}

// reap does what a dead process left undone: it declares reservations of
// dead producers lost, walks readPos past them, and frees the claims of
// dead consumers. Join and blocked waiters call it now and then.
func (r *ring) reap(ctx context.Context, dl int64) error {
	if err := r.lockProducer(ctx, dl); err != nil { // repairs putCount after a dead holder
		return err
	}
	r.plock.unlock()
	if _, err := r.clock.lock(ctx, dl, r.tag); err != nil {
		return err
	}
	r.claimLocked(nil, true, false)
	r.clock.unlock()
	if r.advanceHead(true) {
		r.notFull.signal()
	}
	return nil
}

// --- counters ------------------------------------------------------------

// qsize is the number of items put (reserved) and not yet claimed.
func (r *ring) qsize() int {
	n := int32(uint32(atomic.LoadUint64(r.putCount)) - uint32(atomic.LoadUint64(r.getWord)))
	return int(max(n, 0))
}

// unfinished is a JoinableQueue's count of items put and neither marked
// done nor lost.
func (r *ring) unfinished() int { return r.unfinishedWith(atomic.LoadUint64(r.taskDone)) }

func (r *ring) unfinishedWith(done uint64) int {
	put := uint32(atomic.LoadUint64(r.putCount))
	skipped := uint32(atomic.LoadUint64(r.getWord) >> 32)
	lost := uint32(atomic.LoadUint64(r.lostGets))
	return int(max(int32(put-skipped-lost-uint32(done)), 0))
}

// taskDoneOne counts one finished task, refusing to go below zero.
func (r *ring) taskDoneOne() error {
	for {
		d := atomic.LoadUint64(r.taskDone)
		if r.unfinishedWith(d) <= 0 {
			return ErrTaskDone
		}
		if atomic.CompareAndSwapUint64(r.taskDone, d, d+1) {
			if r.unfinishedWith(d+1) == 0 {
				r.allDone.signal()
			}
			return nil
		}
	}
}

// join blocks until every item put is done (or lost).
func (r *ring) join(ctx context.Context, dl int64) error {
	ready := func() bool { return r.unfinished() == 0 || r.detached() }
	for {
		if r.detached() {
			return ErrDetached
		}
		if ready() {
			return nil
		}
		ticket := r.allDone.prepare()
		if ready() {
			r.allDone.cancel()
			continue
		}
		if err := r.allDone.sleep(ctx, ticket, dl, reapPoll); err != nil {
			return err
		}
		if !ready() {
			if err := r.reap(ctx, dl); err != nil {
				return err
			}
		}
	}
}

func loadU64(p *uint64) uint64 { return atomic.LoadUint64(p) }
