package queue

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
)

// base is what the three queue types share: a ring and the item codec.
type base[T any] struct {
	r  *ring
	ic itemCodec[T]
}

// batchMax bounds the records moved under one lock by PutMany and
// GetMany (their stack buffers).
const batchMax = 64

// creator makes the object's region: a named segment or an arena block.
type creator func(size int, init func([]byte) error) (*shm.Region, error)

func namedCreator(name string, kind shm.Kind) creator {
	return func(size int, init func([]byte) error) (*shm.Region, error) {
		return shm.CreateObject(name, kind, qLayout, size, &shm.CreateOptions{Populate: true, Init: init})
	}
}

func arenaCreator(a *shm.Arena, kind shm.Kind) creator {
	return func(size int, init func([]byte) error) (*shm.Region, error) {
		if a == nil {
			return nil, withDetail(ErrConfig, "nil arena")
		}
		return a.Alloc(kind, qLayout, size, init)
	}
}

// create validates cfg, makes the region and opens it.
func create[T any](mk creator, cfg *Config[T], simple bool) (*base[T], error) {
	if cfg == nil {
		cfg = DefaultConfig[T]()
	}
	if simple && cfg.MaxSize > 0 {
		return nil, withDetail(ErrConfig, "a SimpleQueue has no maxsize")
	}
	s, err := cfg.verify()
	if err != nil {
		return nil, err
	}
	ic, err := resolveCodec(cfg.Codec)
	if err != nil {
		return nil, err
	}
	nonce := rand.Uint64()
	reg, err := mk(int(headerSize+s.capacity), layoutInit(s, ic.fingerprint, uint64(ic.size), nonce))
	if err != nil {
		return nil, err
	}
	id, err := readIdentity(reg.Bytes())
	if err != nil {
		reg.Close()
		return nil, err
	}
	return &base[T]{r: newRing(reg, id, s.maxInline), ic: ic}, nil
}

// attach opens the queue in reg, checking its header and item type.
func attach[T any](reg *shm.Region, err error, cfg *Config[T]) (*base[T], error) {
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		cfg = DefaultConfig[T]()
	}
	fail := func(err error) (*base[T], error) {
		reg.Close()
		return nil, fmt.Errorf("queue: open %v: %w", reg.Handle(), err)
	}
	id, err := readIdentity(reg.Bytes())
	if err != nil {
		return fail(err)
	}
	ic, err := resolveCodec(cfg.Codec)
	if err != nil {
		return fail(err)
	}
	if ic.mode == modeRaw && id.itemSize != uint64(ic.size) {
		return fail(withDetail(ErrType, fmt.Sprintf("the queue holds %d-byte items, this handle's are %d bytes (%s)", id.itemSize, ic.size, ic.desc)))
	}
	if id.fingerprint != ic.fingerprint {
		return fail(withDetail(ErrType, fmt.Sprintf("the queue was made for another item type or codec than %s", ic.desc)))
	}
	inline, err := cfg.inline(id.capacity)
	if err != nil {
		return fail(err)
	}
	// Map every page of the ring now, in one call, rather than fault them
	// in one by one (about 12 µs a page) during the first lap. The pages
	// exist already (the creator populated them), so this allocates
	// nothing. A failure only costs that speed-up.
	_ = reg.Populate()
	return &base[T]{r: newRing(reg, id, inline), ic: ic}, nil
}

func openNamed(name string, kind shm.Kind) (*shm.Region, error) {
	return shm.OpenObject(name, kind, qLayout, headerSize+MinCapacity)
}

func attachHandle(h shm.Handle, kind shm.Kind) (*shm.Region, error) {
	if h.Kind != kind {
		return nil, withDetail(ErrType, fmt.Sprintf("handle %v names a %v, not a %v", h, h.Kind, kind))
	}
	return shm.Attach(h, headerSize+MinCapacity)
}

// --- items ---------------------------------------------------------------

// encode returns v's encoded length and, unless T is copied raw, its bytes.
func (q *base[T]) encode(v T) (uint64, []byte, error) {
	switch q.ic.mode {
	case modeRaw:
		return uint64(q.ic.size), nil, nil
	case modeBytes:
		b := any(v).([]byte)
		return uint64(len(b)), b, nil
	}
	b, err := q.ic.codec.Encode(v)
	if err != nil {
		return 0, nil, withCause(ErrEncode, err)
	}
	return uint64(len(b)), b, nil
}

// write stores an encoded item into dst (exactly its length).
func (q *base[T]) write(dst []byte, v T, enc []byte) {
	if q.ic.mode == modeRaw {
		if q.ic.size > 0 {
			*shm.Pointer[T](dst, 0) = v
		}
		return
	}
	copy(dst, enc)
}

// read decodes an item from src, a view of shared memory.
func (q *base[T]) read(src []byte) (T, error) {
	var zero T
	switch q.ic.mode {
	case modeRaw:
		if len(src) != q.ic.size {
			return zero, withDetail(ErrCorrupt, fmt.Sprintf("a %d-byte record in a queue of %d-byte items", len(src), q.ic.size))
		}
		if q.ic.size == 0 {
			return zero, nil
		}
		return *shm.Pointer[T](src, 0), nil
	case modeBytes:
		// make then copy, in this form: the compiler turns the pair into
		// one allocation that is not zeroed first (makeslicecopy), so a
		// large item costs one pass over its bytes, not two. Never nil.
		out := make([]byte, len(src))
		copy(out, src)
		return any(out).(T), nil
	}
	v, err := q.ic.codec.Decode(src)
	if err != nil {
		return zero, withCause(ErrEncode, err)
	}
	return v, nil
}

// take decodes a claimed record's item, from the ring or its blob.
func (q *base[T]) take(c claimed) (T, error) {
	if c.flags&blobFlag == 0 {
		return q.read(q.r.payload(c.pos, c.length))
	}
	b, err := q.r.openBlob(c.pos, q.r.blobLength(c.pos))
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := q.read(b.data)
	b.close(true)
	return v, err
}

// --- put -----------------------------------------------------------------

func (q *base[T]) put(ctx context.Context, dl int64, v T, nowait bool) error {
	if err := q.r.enter(); err != nil {
		return err
	}
	defer q.r.leave()
	n, enc, err := q.encode(v)
	if err != nil {
		return err
	}
	if n > q.r.maxInline {
		return q.putBlob(ctx, dl, v, enc, n, nowait)
	}
	var pos [1]uint64
	if p, ok := q.r.tryReserveOne(n); ok {
		pos[0] = p
	} else {
		sp := [1]spec{{length: n}}
		if _, err := q.r.reserve(ctx, dl, sp[:], pos[:], nowait); err != nil {
			return err
		}
	}
	q.write(q.r.payload(pos[0], n), v, enc)
	err = q.r.publish(pos[0], 0)
	q.r.notEmpty.signal()
	return err
}

func (q *base[T]) putBlob(ctx context.Context, dl int64, v T, enc []byte, n uint64, nowait bool) error {
	sp := [1]spec{{length: blobRecordLen, flags: blobFlag}}
	var pos [1]uint64
	if _, err := q.r.reserve(ctx, dl, sp[:], pos[:], nowait); err != nil {
		return err
	}
	p := pos[0]
	q.r.setBlobLength(p, n)
	b, err := q.r.createBlob(p, n)
	if err != nil {
		q.r.abort(p, blobFlag)
		return err
	}
	q.write(b.data, v, enc)
	b.close(false)
	err = q.r.publish(p, blobFlag)
	q.r.notEmpty.signal()
	return err
}

func (q *base[T]) putMany(ctx context.Context, dl int64, vs []T) (int, error) {
	if err := q.r.enter(); err != nil {
		return 0, err
	}
	defer q.r.leave()
	var (
		sp   [batchMax]spec
		pos  [batchMax]uint64
		encs [batchMax][]byte
	)
	done := 0
	for done < len(vs) {
		m := 0
		for m < batchMax && done+m < len(vs) {
			n, enc, err := q.encode(vs[done+m])
			if err != nil {
				if m == 0 {
					return done, err
				}
				break // put what is encoded; this item fails next round
			}
			if n > q.r.maxInline {
				if m == 0 {
					if err := q.putBlob(ctx, dl, vs[done], enc, n, false); err != nil {
						return done, err
					}
					done++
					m = -1
				}
				break
			}
			sp[m], encs[m] = spec{length: n}, enc
			m++
		}
		if m <= 0 {
			continue
		}
		k, err := q.r.reserve(ctx, dl, sp[:m], pos[:m], false)
		if err != nil {
			return done, err
		}
		for i := 0; i < k; i++ {
			q.write(q.r.payload(pos[i], sp[i].length), vs[done+i], encs[i])
		}
		// Publish the batch last record first: a consumer waiting at the
		// first record then finds the whole batch published when it
		// wakes, and claims it in one go, instead of chasing the
		// producer record by record (each step a cache line moving
		// between the two). Consumers still take the records in ring
		// order, so the items keep their order.
		var perr error
		for i := k - 1; i >= 0; i-- {
			if err := q.r.publish(pos[i], 0); err != nil {
				perr = err
			}
		}
		q.r.notEmpty.signal()
		if perr != nil {
			return done, perr
		}
		done += k
		clear(encs[:m])
	}
	return done, nil
}

// --- get -----------------------------------------------------------------

func (q *base[T]) get(ctx context.Context, dl int64, nowait bool) (T, error) {
	var zero T
	if err := q.r.enter(); err != nil {
		return zero, err
	}
	defer q.r.leave()
	var c [1]claimed
	if cl, ok := q.r.tryClaimOne(); ok {
		c[0] = cl
	} else if _, err := q.r.claim(ctx, dl, c[:], nowait); err != nil {
		return zero, err
	}
	v, err := q.take(c[0])
	q.r.release(c[:])
	return v, err
}

func (q *base[T]) getMany(ctx context.Context, dl int64, dst []T) (int, error) {
	if len(dst) == 0 {
		return 0, nil
	}
	if err := q.r.enter(); err != nil {
		return 0, err
	}
	defer q.r.leave()
	var cs [batchMax]claimed
	n := 0
	var firstErr error
	for first := true; n < len(dst); first = false {
		// The first claim blocks; later ones take only what is there.
		m := min(len(dst)-n, batchMax)
		k, err := q.r.claim(ctx, dl, cs[:m], !first)
		if err != nil {
			if first {
				return 0, err
			}
			break
		}
		for i := 0; i < k; i++ {
			v, err := q.take(cs[i])
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			dst[n] = v
			n++
		}
		q.r.release(cs[:k])
		if k < m {
			break
		}
	}
	return n, firstErr
}

// --- queries -------------------------------------------------------------

func (q *base[T]) close() error {
	if err := q.r.enter(); err != nil {
		return err
	}
	defer q.r.leave()
	return q.r.close()
}

// query runs a read of shared state inside the handle, as the calls do
// (enter, leave), so that it never reads a ring that Detach unmapped (a
// fault that kills the process); on a detached handle it returns gone. A
// detached handle holds nothing, is not full and counts as closed:
// nothing can be put or got through it any more.
func query[V any](r *ring, gone V, read func() V) V {
	if r.enter() != nil {
		return gone
	}
	defer r.leave()
	return read()
}

func (q *base[T]) qsize() int { return query(q.r, 0, q.r.qsize) }

func (q *base[T]) closed() bool {
	return query(q.r, true, func() bool { return loadU64(q.r.tail)&closedBit != 0 })
}

func (q *base[T]) unfinished() int { return query(q.r, 0, q.r.unfinished) }

func (q *base[T]) full() bool {
	r := q.r
	return query(r, false, func() bool {
		if r.maxSize != 0 && uint64(r.qsize()) >= r.maxSize {
			return true
		}
		return !r.readyPut(strideFor(uint64(max(q.ic.size, 1))))
	})
}

// Stats is a snapshot of a queue's counters, for monitoring and tests.
// Counts are taken one by one, not atomically together.
type Stats struct {
	Capacity int  // ring bytes
	MaxSize  int  // item bound, 0 = ring only
	Items    int  // Qsize: items put and not yet taken
	Used     int  // ring bytes holding records (reserved, published or being read)
	Closed   bool // Close was called
	// Puts counts items ever reserved (mod 2^64); LostPuts those skipped
	// because their producer died before publishing them or aborted
	// the reservation (mod 2^32); LostGets those claimed by a consumer
	// that died before finishing its get (see the package documentation).
	Puts, LostPuts, LostGets uint64
}

func (q *base[T]) stats() Stats {
	r := q.r
	return query(r, Stats{Capacity: int(r.capacity), MaxSize: int(r.maxSize), Closed: true}, r.stats)
}

func (r *ring) stats() Stats {
	tw := loadU64(r.tail)
	return Stats{
		Capacity: int(r.capacity),
		MaxSize:  int(r.maxSize),
		Items:    r.qsize(),
		Used:     int(max(int64(tw&^closedBit)-int64(loadU64(r.head)), 0)),
		Closed:   tw&closedBit != 0,
		Puts:     loadU64(r.putCount),
		LostPuts: loadU64(r.getWord) >> 32,
		LostGets: loadU64(r.lostGets),
	}
}

// --- deadlines -------------------------------------------------------------

func ctxDeadline(ctx context.Context) (context.Context, int64) {
	if ctx == nil {
		ctx = context.Background()
	}
	return ctx, futex.DeadlineFrom(ctx)
}

// timeoutDeadline: d <= 0 means now (do not wait); a d too large for the
// clock is a deadline that never comes (futex.DeadlineIn), as Python's
// threading.TIMEOUT_MAX, and the waits' polls for dead processes go on.
func timeoutDeadline(d time.Duration) (context.Context, int64) {
	return context.Background(), futex.DeadlineIn(d)
}
