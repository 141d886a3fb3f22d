package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

// queue/: queue.Queue between producer and consumer processes. The
// producers and consumers are all children; the parent starts the clock
// once every one of them is ready and stops it when the consumers have
// received every item.

func init() {
	register(&Figure{
		Name:  "queue/small-1p1c",
		Unit:  OpsPerSec,
		Doc:   "items/s: 1 producer process puts `ops` items of `size` bytes with Put, 1 consumer process takes them with Get (Go: [64]byte values)",
		Quick: Params{Ops: 100_000, Size: 64, Procs: 1},
		Full:  Params{Ops: 300_000, Size: 64, Procs: 1},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Queue", Kind: KindMproc, Run: mprocQueueRun("value")},
			pySide("fig_queue.py"),
			{Name: "chan", Kind: KindGo, Run: chanValueRun},
			{Name: "spsc ring", Kind: KindLimit, Run: ringRun},
			{Name: "socketpair", Kind: KindLimit, Run: socketRun(false)},
		},
	})
	register(&Figure{
		Name:  "queue/small-4p4c",
		Unit:  OpsPerSec,
		Doc:   "items/s: 4 producer processes put `ops`/4 items of `size` bytes each, 4 consumer processes get `ops`/4 each, all on one queue",
		Quick: Params{Ops: 100_000, Size: 64, Procs: 4},
		Full:  Params{Ops: 300_000, Size: 64, Procs: 4},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Queue", Kind: KindMproc, Run: mprocQueueRun("value")},
			pySide("fig_queue.py"),
			{Name: "chan", Kind: KindGo, Run: chanValueRun},
		},
	})
	register(&Figure{
		Name:  "queue/batched-1p1c",
		Unit:  OpsPerSec,
		Doc:   "items/s: 1 producer process puts `ops` items of `size` bytes with PutMany, `batch` at a time, 1 consumer process takes them with GetMany (Python: one put of a list per batch; chan: one item per send, and batches of `batch`)",
		Quick: Params{Ops: 409_600, Size: 64, Procs: 1, Batch: 64},
		Full:  Params{Ops: 1_228_800, Size: 64, Procs: 1, Batch: 64},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Queue", Kind: KindMproc, Run: mprocQueueRun("value")},
			pySide("fig_queue.py"),
			{Name: "chan", Kind: KindGo, Run: chanValueRun},
			{Name: "chan of batches", Kind: KindGo, Run: chanQueueRun},
			{Name: "spsc ring", Kind: KindLimit, Run: ringRun},
		},
	})
	register(&Figure{
		Name:  "queue/1mib-1p1c",
		Unit:  MBPerSec,
		Doc:   "MB/s: 1 producer process puts `ops` []byte items of 1 MiB with Put, 1 consumer process takes them with Get (a new slice per item)",
		Quick: Params{Ops: 256, Size: 1 << 20, Procs: 1},
		Full:  Params{Ops: 768, Size: 1 << 20, Procs: 1},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc Queue", Kind: KindMproc, Run: mprocQueueRun("bytes")},
			pySide("fig_queue.py"),
			{Name: "chan", Kind: KindGo, Run: chanQueueRun},
			{Name: "socketpair", Kind: KindLimit, Run: socketRun(false)},
			{Name: "memcpy", Kind: KindLimit, Run: memcpyRun},
		},
	})
	register(&Figure{
		Name:  "queue/1mib-into",
		Unit:  MBPerSec,
		Doc:   "MB/s: as queue/1mib-1p1c, but the consumer gets each item into one reused buffer (GetAppend), so each item is copied in and copied out, with no allocation",
		Quick: Params{Ops: 256, Size: 1 << 20, Procs: 1},
		Full:  Params{Ops: 768, Size: 1 << 20, Procs: 1},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc Queue", Kind: KindMproc, Run: mprocQueueRun("into")},
			pySide("fig_queue.py"),
			{Name: "chan", Kind: KindGo, Run: chanQueueRun},
			{Name: "memcpy", Kind: KindLimit, Run: memcpyRun},
		},
	})
	register(&Figure{
		Name:  "queue/1mib-zerocopy",
		Unit:  MBPerSec,
		Doc:   "MB/s: 1 producer process writes `ops` items of 1 MiB in place (Reserve, one copy from its buffer, Commit), 1 consumer process reads each in place (GetRef, one load per 64-byte line, Release)",
		Quick: Params{Ops: 256, Size: 1 << 20, Procs: 1},
		Full:  Params{Ops: 768, Size: 1 << 20, Procs: 1},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc Queue", Kind: KindMproc, Run: mprocQueueRun("zerocopy")},
			pySide("fig_queue.py"),
			{Name: "memcpy", Kind: KindLimit, Run: memcpyRun},
		},
	})

	// bench.ring: one end of the spsc ring. Args: params, role.
	registerChild("bench.ring", func(m *member) (func() error, error) {
		var p Params
		var role string
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		if err := m.Arg(1, &role); err != nil {
			return nil, err
		}
		r := ringOver(m.User(), p.Size)
		buf := make([]byte, p.Size)
		for i := range buf {
			buf[i] = byte(i)
		}
		return func() error {
			for range p.Ops {
				if role == "put" {
					r.put(buf)
				} else if r.get(buf) != p.Size {
					return fmt.Errorf("short item")
				}
			}
			return nil
		}, nil
	})
}

// item64 is the 64-byte item of the small figures' Go sides: a value,
// copied whole, as a Go program moves fixed-size records.
type item64 [64]byte

// chanValueRun is the baseline the queue's small figures are held to: a
// buffered channel (1024 items) of 64-byte values between Procs producer
// and Procs consumer goroutines, one item per send and receive.
func chanValueRun(ctx context.Context, p Params) (time.Duration, error) {
	if p.Size != len(item64{}) {
		return 0, fmt.Errorf("chan of values: items of %d bytes, want %d", p.Size, len(item64{}))
	}
	ch := make(chan item64, 1024)
	var (
		prod, cons sync.WaitGroup
		got        atomic.Int64
		start      = make(chan struct{})
	)
	per := p.Ops / p.Procs
	for i := range p.Procs {
		prod.Go(func() {
			<-start
			it := item64{byte(i)}
			for range per {
				ch <- it
			}
		})
		cons.Go(func() {
			<-start
			n := 0
			for range per {
				it := <-ch
				n += int(it[1]) + 1
			}
			got.Add(int64(n))
		})
	}
	t0 := time.Now()
	close(start)
	prod.Wait()
	cons.Wait()
	d := time.Since(t0)
	return d, expectCount(uint64(got.Load()), uint64(per*p.Procs))
}

// chanQueueRun is Go's in-process queue: a buffered channel of []byte
// between Procs producer and Procs consumer goroutines. Each item is
// copied into a buffer of its own on its way in, as a queue owns its items
// (buffers are recycled through a sync.Pool, as a careful Go program
// would); a batched figure sends slices of Batch items.
func chanQueueRun(ctx context.Context, p Params) (time.Duration, error) {
	batch := max(p.Batch, 1)
	ch := make(chan [][]byte, 1024)
	item := make([]byte, p.Size)
	pool := sync.Pool{New: func() any { return make([]byte, p.Size) }}
	var (
		wg    sync.WaitGroup
		got   atomic.Int64
		start = make(chan struct{})
	)
	per := p.Ops / p.Procs
	for range p.Procs {
		wg.Go(func() {
			<-start
			for range per / batch {
				b := make([][]byte, batch)
				for j := range b {
					buf := pool.Get().([]byte)
					copy(buf, item)
					b[j] = buf
				}
				ch <- b
			}
		})
	}
	var cons sync.WaitGroup
	for range p.Procs {
		cons.Go(func() {
			<-start
			for n := 0; n < per; {
				b := <-ch
				for _, it := range b {
					if len(it) != p.Size {
						panic("short item")
					}
					pool.Put(it) //nolint:staticcheck // a []byte in the pool is fine here
				}
				n += len(b)
				got.Add(int64(len(b)))
			}
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	cons.Wait()
	d := time.Since(t0)
	return d, expectCount(uint64(got.Load()), uint64(per*p.Procs))
}

// ring is the floor of a cross-process queue: a single-producer
// single-consumer ring of fixed slots in shared memory, written directly
// on atomics, its two ends spinning (and yielding now and then) instead of
// sleeping. Each end keeps its own copy of the other's index and rereads
// the shared one only when the ring looks full (or empty), so an item
// costs one slot copy and one store in the common case.
//
// Layout (the team's user area):
//
//	offset size word  written by
//	     0    4 head  consumer: slots taken so far
//	    64    4 tail  producer: slots filled so far
//	   128    … slots ringSlots slots of size bytes
type ring struct {
	head, tail *uint32
	slots      []byte
	size       int
	seen       uint32 // the other end's index, as last read
	mine       uint32 // this end's index
}

const ringSlots = 256

func ringBytes(size int) int { return 128 + ringSlots*size }

func ringOver(b []byte, size int) *ring {
	return &ring{head: shm.Uint32(b, 0), tail: shm.Uint32(b, 64), slots: b[128 : 128+ringSlots*size], size: size}
}

func (r *ring) put(item []byte) {
	for n := 1; r.mine-r.seen == ringSlots; n++ {
		if r.seen = atomic.LoadUint32(r.head); r.mine-r.seen < ringSlots {
			break
		}
		if n%yieldEvery == 0 {
			schedYield()
		}
	}
	i := int(r.mine%ringSlots) * r.size
	copy(r.slots[i:i+r.size], item)
	r.mine++
	atomic.StoreUint32(r.tail, r.mine)
}

func (r *ring) get(buf []byte) int {
	for n := 1; r.seen == r.mine; n++ {
		if r.seen = atomic.LoadUint32(r.tail); r.seen != r.mine {
			break
		}
		if n%yieldEvery == 0 {
			schedYield()
		}
	}
	i := int(r.mine%ringSlots) * r.size
	n := copy(buf, r.slots[i:i+r.size])
	r.mine++
	atomic.StoreUint32(r.head, r.mine)
	return n
}

// ringRun: a producer child and a consumer child move Ops items of Size
// bytes through the ring.
func ringRun(ctx context.Context, p Params) (time.Duration, error) {
	t, err := startTeamArgs("bench.ring", ringBytes(p.Size), nil, [][]any{{p, "put"}, {p, "get"}})
	if err != nil {
		return 0, err
	}
	defer t.close()
	return t.run(ctx, nil)
}

// The mproc side of the queue figures: a queue made with the default
// Config (a 4 MiB ring; items up to 1 MiB travel in it), what a user gets
// by default, as Python's users get mp.Queue(). Its items are item64
// values for the small figures (copied raw, as a Go program would move
// 64-byte records) and []byte for the 1 MiB ones.
//
// Modes: "value" puts item64 values (Put, or PutMany with Batch) and gets
// them (Get, or GetMany); "bytes" puts []byte items with Put and gets
// them with Get (a new slice each); "into" gets them into one reused
// buffer with GetAppend; "zerocopy" writes each item in place (Reserve,
// Commit) and reads it in place (GetRef, a load per 64-byte line,
// Release).

func init() {
	// bench.queue: a producer or consumer of the mproc queue figures.
	// Args: params, mode, role ("put" or "get"), the queue's handle.
	registerChild("bench.queue", func(m *member) (func() error, error) {
		var (
			p          Params
			mode, role string
			h          shm.Handle
		)
		if err := errors.Join(m.Arg(0, &p), m.Arg(1, &mode), m.Arg(2, &role), m.Arg(3, &h)); err != nil {
			return nil, err
		}
		per := p.Ops / p.Procs
		// The timed work is moving the items, nothing else: the handles
		// are not detached in it (Detach unmaps the ring, 0.5-0.7 ms for
		// the default 4 MiB here, once in a handle's life; the process's
		// exit does it), as Python's side does not time its queue's
		// teardown either.
		if mode == "value" {
			q, err := queue.Attach[item64](h, nil)
			if err != nil {
				return nil, err
			}
			if role == "put" {
				return func() error { return produceValues(q, per, p) }, nil
			}
			return func() error { return consumeValues(q, per, p) }, nil
		}
		q, err := queue.Attach[[]byte](h, nil)
		if err != nil {
			return nil, err
		}
		item := make([]byte, p.Size)
		for i := range item {
			item[i] = byte(i)
		}
		buf := make([]byte, p.Size) // touched here, before the clock
		copy(buf, item)
		if role == "put" {
			return func() error { return produceBytes(q, per, item, mode == "zerocopy") }, nil
		}
		return func() error { return consumeBytes(q, per, p.Size, mode, buf) }, nil
	})
}

// produceValues puts n item64 values, one by one or p.Batch at a time.
func produceValues(q *queue.Queue[item64], n int, p Params) error {
	ctx := context.Background()
	if p.Batch <= 1 {
		for i := range n {
			if err := q.Put(ctx, item64{byte(i)}); err != nil {
				return err
			}
		}
		return nil
	}
	batch := make([]item64, p.Batch)
	for left := n; left > 0; {
		k, err := q.PutMany(ctx, batch[:min(len(batch), left)])
		if err != nil {
			return err
		}
		left -= k
	}
	return nil
}

// consumeValues takes n item64 values, one by one or up to p.Batch at a
// time.
func consumeValues(q *queue.Queue[item64], n int, p Params) error {
	ctx := context.Background()
	sum := 0
	if p.Batch <= 1 {
		for range n {
			it, err := q.Get(ctx)
			if err != nil {
				return err
			}
			sum += int(it[1]) + 1
		}
		return expectCount(uint64(sum), uint64(n))
	}
	dst := make([]item64, p.Batch)
	for left := n; left > 0; {
		k, err := q.GetMany(ctx, dst[:min(len(dst), left)])
		if err != nil {
			return err
		}
		for _, it := range dst[:k] {
			sum += int(it[1]) + 1
		}
		left -= k
	}
	return expectCount(uint64(sum), uint64(n))
}

// produceBytes puts n copies of item, with Put or written in place.
func produceBytes(q *queue.Queue[[]byte], n int, item []byte, inPlace bool) error {
	ctx := context.Background()
	for range n {
		if !inPlace {
			if err := q.Put(ctx, item); err != nil {
				return err
			}
			continue
		}
		res, err := q.Reserve(ctx, len(item))
		if err != nil {
			return err
		}
		copy(res.Bytes(), item)
		if err := res.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// consumeBytes takes n items of size bytes as mode says, and checks each
// (its size, and the bytes it reads).
func consumeBytes(q *queue.Queue[[]byte], n, size int, mode string, buf []byte) error {
	ctx := context.Background()
	for range n {
		var (
			it  []byte
			err error
			ref *queue.Ref
		)
		switch mode {
		case "bytes":
			it, err = q.Get(ctx)
		case "into":
			it, err = q.GetAppend(ctx, buf[:0])
		default:
			if ref, err = q.GetRef(ctx); err == nil {
				it = ref.Bytes()
			}
		}
		if err != nil {
			return err
		}
		if len(it) != size {
			return fmt.Errorf("item of %d bytes, want %d", len(it), size)
		}
		if ref != nil {
			// Read the item where it lies: one load per cache line.
			var x byte
			for i := 0; i < len(it); i += 64 {
				x ^= it[i] ^ byte(i)
			}
			if err := ref.Release(); err != nil {
				return err
			}
			if x != 0 {
				return fmt.Errorf("item bytes differ from the producer's")
			}
		} else if it[size-1] != byte(size-1) {
			return fmt.Errorf("item bytes differ from the producer's")
		}
	}
	return nil
}

// mprocQueueRun: Procs producer and Procs consumer children on one queue
// made here; the parent only times them.
func mprocQueueRun(mode string) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		var (
			h      shm.Handle
			finish func()
		)
		if mode == "value" {
			q, err := queue.New[item64](segName("q"), nil)
			if err != nil {
				return 0, err
			}
			h, finish = q.Handle(), func() { q.Detach(); q.Unlink() }
		} else {
			q, err := queue.New[[]byte](segName("q"), nil)
			if err != nil {
				return 0, err
			}
			h, finish = q.Handle(), func() { q.Detach(); q.Unlink() }
		}
		defer finish()
		var roles [][]any
		for range p.Procs {
			roles = append(roles, []any{p, mode, "put", h})
		}
		for range p.Procs {
			roles = append(roles, []any{p, mode, "get", h})
		}
		t, err := startTeamArgs("bench.queue", 0, nil, roles)
		if err != nil {
			return 0, err
		}
		defer t.close()
		return t.run(ctx, nil)
	}
}
