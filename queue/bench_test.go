package queue_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/queue"
	"github.com/mproc/mproc/shm"
)

// Benchmarks, each beside its baseline in the same run:
//
//	go test -run '^$' -bench . -benchtime 2000000x ./queue/   (64-byte items)
//
// Cross-process benchmarks start their children and wait until all of
// them block on a second queue (set up, mapped, waiting) before the
// timer starts, then release them with a go signal on that queue;
// throughput is reported as items/s and MB/s of item bytes.

func init() {
	// b-produce QUEUE GO N BATCH: puts N 64-byte recs after the go signal.
	process.Register("b-produce", func(a *process.Args) error {
		q, g, err := attachBench[rec](a, 0)
		if err != nil {
			return err
		}
		n, batch := a.Int(2), a.Int(3)
		ctx := context.Background()
		if _, err := g.Get(ctx); err != nil {
			return err
		}
		if batch <= 1 {
			for i := 0; i < n; i++ {
				if err := q.Put(ctx, rec{Seq: int64(i)}); err != nil {
					return err
				}
			}
			return nil
		}
		buf := make([]rec, batch)
		for i := 0; i < n; i += batch {
			m := min(batch, n-i)
			for j := range buf[:m] {
				buf[j].Seq = int64(i + j)
			}
			if _, err := q.PutMany(ctx, buf[:m]); err != nil {
				return err
			}
		}
		return nil
	})
	// b-consume QUEUE GO BATCH: gets recs until ErrClosed.
	process.Register("b-consume", func(a *process.Args) error {
		q, g, err := attachBench[rec](a, 0)
		if err != nil {
			return err
		}
		ctx := context.Background()
		if _, err := g.Get(ctx); err != nil {
			return err
		}
		buf := make([]rec, max(a.Int(2), 1))
		for {
			if _, err := q.GetMany(ctx, buf); err != nil {
				if errors.Is(err, queue.ErrClosed) {
					return nil
				}
				return err
			}
		}
	})
	// b-produce-big QUEUE GO N SIZE ZEROCOPY INLINE: puts N []byte items
	// of SIZE, with MaxInline INLINE.
	process.Register("b-produce-big", func(a *process.Args) error {
		q, g, err := attachBench[[]byte](a, a.Int(5))
		if err != nil {
			return err
		}
		n, size, zc := a.Int(2), a.Int(3), a.Int(4) != 0
		item := bigItem(size)
		ctx := context.Background()
		if _, err := g.Get(ctx); err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			if !zc {
				if err := q.Put(ctx, item); err != nil {
					return err
				}
				continue
			}
			res, err := q.Reserve(ctx, size)
			if err != nil {
				return err
			}
			copy(res.Bytes(), item) // the producer's one write of the item
			if err := res.Commit(); err != nil {
				return err
			}
		}
		return nil
	})
}

func attachBench[T any](a *process.Args, inline int) (*queue.Queue[T], *queue.Queue[int64], error) {
	var qh, gh shm.Handle
	if err := a.Decode(0, &qh); err != nil {
		return nil, nil, err
	}
	if err := a.Decode(1, &gh); err != nil {
		return nil, nil, err
	}
	cfg := queue.DefaultConfig[T]()
	cfg.MaxInline = inline
	q, err := queue.Attach(qh, cfg)
	if err != nil {
		return nil, nil, err
	}
	g, err := queue.Attach[int64](gh, nil)
	return q, g, err
}

func benchQueues[T any](b *testing.B, capacity, maxInline int) (*queue.Queue[T], *queue.Queue[int64]) {
	cfg := queue.DefaultConfig[T]()
	cfg.Capacity = capacity
	cfg.MaxInline = maxInline
	q, err := queue.New(segName(b), cfg)
	if err != nil {
		b.Fatal(err)
	}
	g, err := queue.New[int64](segName(b, "go"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { q.Detach(); g.Detach() })
	return q, g
}

func benchStart(b *testing.B, fn string, args ...any) *process.Process {
	p, err := process.Start(fn, &process.Options{Args: args, Daemon: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { p.Kill(); p.JoinTimeout(5 * time.Second) })
	return p
}

// benchReady waits until n children are asleep on the go queue g.
func benchReady(b *testing.B, g *queue.Queue[int64], n int) {
	deadline := time.Now().Add(time.Minute)
	for {
		if c, _, _ := queue.Sleepers(g); c >= n {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("children not ready after a minute")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func benchJoin(b *testing.B, p *process.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := p.Join(ctx); err != nil {
		b.Fatal(err)
	}
	if code, _ := p.ExitCode(); code != 0 {
		b.Fatalf("child exit %d", code)
	}
}

func reportItems(b *testing.B, items int, size int64) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(items)/s, "items/s")
	b.SetBytes(size)
}

// BenchmarkCrossProcess1P1C: 64-byte items from a producer process to this
// one, one at a time (Put/Get) and in batches of 64 (PutMany/GetMany).
func BenchmarkCrossProcess1P1C(b *testing.B) {
	for _, batch := range []int{1, 64} {
		name := "Put-Get"
		if batch > 1 {
			name = "PutMany-GetMany"
		}
		b.Run(name, func(b *testing.B) {
			q, g := benchQueues[rec](b, 1<<20, 0)
			p := benchStart(b, "b-produce", q.Handle(), g.Handle(), b.N, batch)
			buf := make([]rec, batch)
			ctx := context.Background()
			benchReady(b, g, 1)
			b.ResetTimer()
			if err := g.Put(ctx, 1); err != nil {
				b.Fatal(err)
			}
			for got := 0; got < b.N; {
				if batch == 1 {
					if _, err := q.Get(ctx); err != nil {
						b.Fatal(err)
					}
					got++
					continue
				}
				n, err := q.GetMany(ctx, buf)
				if err != nil {
					b.Fatal(err)
				}
				got += n
			}
			b.StopTimer()
			reportItems(b, b.N, 64)
			benchJoin(b, p)
		})
	}
}

// BenchmarkCrossProcess4P4C: four producer and four consumer processes,
// 64-byte items, Put/Get and PutMany/GetMany.
func BenchmarkCrossProcess4P4C(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			q, g := benchQueues[rec](b, 1<<20, 0)
			var prods, cons []*process.Process
			for i := 0; i < 4; i++ {
				n := b.N / 4
				if i == 0 {
					n += b.N % 4
				}
				prods = append(prods, benchStart(b, "b-produce", q.Handle(), g.Handle(), n, batch))
				cons = append(cons, benchStart(b, "b-consume", q.Handle(), g.Handle(), batch))
			}
			benchReady(b, g, 8)
			b.ResetTimer()
			if _, err := g.PutMany(context.Background(), make([]int64, 8)); err != nil {
				b.Fatal(err)
			}
			for _, p := range prods {
				benchJoin(b, p)
			}
			if err := q.Close(); err != nil {
				b.Fatal(err)
			}
			for _, c := range cons {
				benchJoin(b, c)
			}
			b.StopTimer()
			reportItems(b, b.N, 64)
		})
	}
}

// BenchmarkCrossProcess1MiB: 1 MiB []byte items from a producer process
// to this one, in the ring (a 4 MiB ring, as by default) and out of line
// (blob/: MaxInline 64 KiB, a segment per item): Put/Get (copied in, then
// copied out into a new slice: 1 MiB of garbage per item, so the Go
// runtime's allocator and GC weigh in); Reserve/GetRef (the producer
// writes each item once, in place; this process reads its first and last
// byte in place); and Put/GetAppend (copied in, copied out into a reused
// buffer). BenchmarkBaselineMemcpy/1048576 is the yardstick.
func BenchmarkCrossProcess1MiB(b *testing.B) {
	const size = 1 << 20
	for i, name := range []string{"Put-Get", "Reserve-GetRef", "Put-GetAppend", "blob/Put-Get", "blob/Reserve-GetRef", "blob/Put-GetAppend"} {
		zc := i % 3
		inline := 2 << 20
		if i >= 3 {
			inline = 64 << 10 // out of line
		}
		b.Run(name, func(b *testing.B) {
			q, g := benchQueues[[]byte](b, 4<<20, inline)
			p := benchStart(b, "b-produce-big", q.Handle(), g.Handle(), b.N, size, zc&1, inline)
			ctx := context.Background()
			var sink byte
			buf := make([]byte, size) // touched before the clock
			benchReady(b, g, 1)
			b.ResetTimer()
			if err := g.Put(ctx, 1); err != nil {
				b.Fatal(err)
			}
			for i := 0; i < b.N; i++ {
				if zc == 2 {
					v, err := q.GetAppend(ctx, buf[:0])
					if err != nil || len(v) != size {
						b.Fatal(err)
					}
					sink ^= v[0] ^ v[size-1]
					continue
				}
				if zc == 0 {
					v, err := q.Get(ctx)
					if err != nil || len(v) != size {
						b.Fatal(err)
					}
					sink ^= v[0] ^ v[size-1]
					continue
				}
				ref, err := q.GetRef(ctx)
				if err != nil || len(ref.Bytes()) != size {
					b.Fatal(err)
				}
				sink ^= ref.Bytes()[0] ^ ref.Bytes()[size-1]
				ref.Release()
			}
			b.StopTimer()
			reportItems(b, b.N, size)
			benchJoin(b, p)
			_ = sink
		})
	}
}

// BenchmarkInProcess: the queue between two goroutines of this process.
func BenchmarkInProcess(b *testing.B) {
	q, _ := benchQueues[rec](b, 1<<20, 0)
	ctx := context.Background()
	b.ResetTimer()
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; i < b.N; i++ {
			if err := q.Put(ctx, rec{Seq: int64(i)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	for i := 0; i < b.N; i++ {
		if _, err := q.Get(ctx); err != nil {
			b.Fatal(err)
		}
	}
	wg.Wait()
	reportItems(b, b.N, 64)
}

// BenchmarkBaselineChannel: a buffered Go channel of 64-byte items between
// two goroutines, one item at a time.
func BenchmarkBaselineChannel(b *testing.B) {
	ch := make(chan rec, 1024)
	b.ResetTimer()
	go func() {
		for i := 0; i < b.N; i++ {
			ch <- rec{Seq: int64(i)}
		}
	}()
	for i := 0; i < b.N; i++ {
		<-ch
	}
	reportItems(b, b.N, 64)
}

// BenchmarkBaselineMemcpy: copying the same bytes within one process.
func BenchmarkBaselineMemcpy(b *testing.B) {
	for _, size := range []int{64, 1 << 20} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			src, dst := bigItem(size), make([]byte, size)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				copy(dst, src)
			}
			reportItems(b, b.N, int64(size))
		})
	}
}

// BenchmarkOpCost: the CPU cost of one Put and one Get with no other
// party (a burst of puts, then the burst of gets, one goroutine): the
// floor under the cross-process figures.
func BenchmarkOpCost(b *testing.B) {
	const burst = 4096
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch%d", batch), func(b *testing.B) {
			q, _ := benchQueues[rec](b, 1<<20, 0)
			ctx := context.Background()
			buf := make([]rec, batch)
			b.ResetTimer()
			for done := 0; done < b.N; done += burst {
				for i := 0; i < burst; i += batch {
					if batch == 1 {
						q.Put(ctx, rec{Seq: int64(i)})
					} else {
						q.PutMany(ctx, buf)
					}
				}
				for i := 0; i < burst; i += batch {
					if batch == 1 {
						q.Get(ctx)
					} else {
						q.GetMany(ctx, buf)
					}
				}
			}
			reportItems(b, b.N, 64)
		})
	}
}
