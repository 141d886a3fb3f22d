package queue

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Reservation is space reserved in a []byte queue by Reserve: write the
// item into Bytes, then Commit it (or Abort). Until then consumers wait at
// this item, so keep it short. A Reservation must not be copied and is
// not safe for concurrent use.
//
// If the reserving process dies before Commit, the item is lost (see the
// package documentation); consumers move past it.
type Reservation struct {
	r     *ring
	pos   uint64
	flags uint64
	data  []byte
	blob  *blob
	done  atomic.Bool
}

// Bytes returns the reserved bytes, in shared memory, valid until Commit
// or Abort. Their initial content is unspecified.
func (s *Reservation) Bytes() []byte { return s.data }

// Commit publishes the item: the put's one atomic step. After it the
// bytes must not be touched.
func (s *Reservation) Commit() error {
	if s.done.Swap(true) {
		return ErrReleased
	}
	defer s.r.leave()
	if s.blob != nil {
		s.blob.close(false)
	}
	err := s.r.publish(s.pos, s.flags)
	s.r.notEmpty.signal()
	return err
}

// Abort gives the reservation up: consumers skip it, and it counts in
// Stats.LostPuts.
func (s *Reservation) Abort() error {
	if s.done.Swap(true) {
		return ErrReleased
	}
	defer s.r.leave()
	if s.blob != nil {
		s.blob.close(true)
	}
	s.r.abort(s.pos, s.flags)
	return nil
}

// Ref is an item of a []byte queue read in place, from GetRef: read Bytes,
// then Release. Until then the item's ring space stays in use. A Ref must
// not be copied and is not safe for concurrent use.
//
// If the process dies before Release, the item counts as lost (it is
// not delivered again) and its space is reclaimed.
type Ref struct {
	r    *ring
	c    claimed
	data []byte
	blob *blob
	done atomic.Bool
}

// Bytes returns the item's bytes, in shared memory, valid until Release.
// They must not be written.
func (f *Ref) Bytes() []byte { return f.data }

// Release ends the get: the item's space is freed.
func (f *Ref) Release() error {
	if f.done.Swap(true) {
		return ErrReleased
	}
	defer f.r.leave()
	if f.blob != nil {
		f.blob.close(true)
	}
	f.r.release([]claimed{f.c})
	return nil
}

func (q *base[T]) reserveBytes(ctx context.Context, dl int64, n int) (*Reservation, error) {
	if q.ic.mode != modeBytes {
		return nil, ErrNotBytes
	}
	if n < 0 {
		return nil, withDetail(ErrSize, fmt.Sprintf("reservation of %d bytes", n))
	}
	if err := q.r.enter(); err != nil {
		return nil, err
	}
	s := &Reservation{r: q.r}
	length := uint64(n)
	if length > q.r.maxInline {
		s.flags = blobFlag
		length = blobRecordLen
	}
	sp := [1]spec{{length: length, flags: s.flags}}
	var pos [1]uint64
	if _, err := q.r.reserve(ctx, dl, sp[:], pos[:], false); err != nil {
		q.r.leave()
		return nil, err
	}
	s.pos = pos[0]
	if s.flags == 0 {
		s.data = q.r.payload(s.pos, length)
		return s, nil
	}
	q.r.setBlobLength(s.pos, uint64(n))
	b, err := q.r.createBlob(s.pos, uint64(n))
	if err != nil {
		q.r.abort(s.pos, s.flags)
		q.r.leave()
		return nil, err
	}
	s.blob, s.data = b, b.data
	return s, nil
}

func (q *base[T]) getRef(ctx context.Context, dl int64) (*Ref, error) {
	if q.ic.mode != modeBytes {
		return nil, ErrNotBytes
	}
	if err := q.r.enter(); err != nil {
		return nil, err
	}
	var c [1]claimed
	if _, err := q.r.claim(ctx, dl, c[:], false); err != nil {
		q.r.leave()
		return nil, err
	}
	// The item no longer counts against MaxSize: signal a producer that
	// waits for room. The claim stored getWord with plain stores and the
	// unlock is a plain store too, so a full barrier must come first
	// (event.go: signallers change the condition with a sequentially
	// consistent write before they look for sleepers).
	q.r.fence()
	q.r.notFull.signal()
	f := &Ref{r: q.r, c: c[0]}
	if c[0].flags&blobFlag == 0 {
		f.data = q.r.payload(c[0].pos, c[0].length)
		return f, nil
	}
	b, err := q.r.openBlob(c[0].pos, q.r.blobLength(c[0].pos))
	if err != nil {
		q.r.release(c[:])
		q.r.leave()
		return nil, err
	}
	f.blob, f.data = b, b.data
	return f, nil
}

func (q *base[T]) getAppend(ctx context.Context, dl int64, buf []byte) ([]byte, error) {
	if q.ic.mode != modeBytes {
		return buf, ErrNotBytes
	}
	if err := q.r.enter(); err != nil {
		return buf, err
	}
	defer q.r.leave()
	var c [1]claimed
	if _, err := q.r.claim(ctx, dl, c[:], false); err != nil {
		return buf, err
	}
	defer q.r.release(c[:])
	if c[0].flags&blobFlag == 0 {
		return append(buf, q.r.payload(c[0].pos, c[0].length)...), nil
	}
	b, err := q.r.openBlob(c[0].pos, q.r.blobLength(c[0].pos))
	if err != nil {
		return buf, err
	}
	buf = append(buf, b.data...)
	b.close(true)
	return buf, nil
}
