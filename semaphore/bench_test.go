package semaphore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// Benchmarks: each real one beside its baselines, in one run:
//
//	go test -bench . -run '^$' ./semaphore/
//
// Uncontended: a Lock/Unlock pair beside sync.Mutex and a bare CAS+store.
// Handoff: a round trip between two processes through two Events or two
// Semaphores, beside a raw futex ping-pong (both sides always sleep) and a
// spinning one (neither ever sleeps); the "nospin" variants turn spinning
// off, which is the cost when the peer is asleep. Contended: two processes
// (and, as a baseline, two goroutines) locking one lock. Condition: a
// notify/wait round trip between two processes. Barrier: one cycle of a
// Barrier(2) between two processes.

func BenchmarkUncontended(b *testing.B) {
	b.Run("impl=sync.Mutex", func(b *testing.B) {
		var mu struct {
			sync.Mutex
			_ [56]byte
		}
		for b.Loop() {
			mu.Lock()
			mu.Unlock()
		}
	})
	b.Run("impl=CAS+store", func(b *testing.B) {
		r, err := shm.CreateObject(segName(b), shm.KindRaw, 1, 64, nil)
		require.NoError(b, err)
		defer r.Close()
		w := shm.Uint32(r.Bytes(), 0)
		for b.Loop() {
			if !atomic.CompareAndSwapUint32(w, 0, 1) {
				b.Fatal("CAS failed")
			}
			atomic.StoreUint32(w, 0)
		}
	})
	b.Run("impl=Lock", func(b *testing.B) {
		l, err := semaphore.NewLock(segName(b))
		require.NoError(b, err)
		defer l.Close()
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	})
	b.Run("impl=RLock", func(b *testing.B) {
		l, err := semaphore.NewRLock(segName(b))
		require.NoError(b, err)
		defer l.Close()
		for b.Loop() {
			l.Lock()
			l.Unlock()
		}
	})
	b.Run("impl=Semaphore", func(b *testing.B) {
		s, err := semaphore.NewSemaphore(segName(b), 1)
		require.NoError(b, err)
		defer s.Close()
		ctx := context.Background()
		for b.Loop() {
			_ = s.Acquire(ctx)
			_ = s.Release()
		}
	})
}

func init() {
	process.Register("bench-echo", childBenchEcho)
	process.Register("bench-lock", childBenchLock)
	process.Register("bench-cond", childBenchCond)
	process.Register("bench-barrier", childBenchBarrier)
}

// pinger is one side of a hand-off: ping signals the peer, pong waits for
// its answer.
type pinger interface {
	ping()
	pong()
	close()
}

type eventPinger struct{ give, take *semaphore.Event }

func (p eventPinger) ping()  { p.give.Set() }
func (p eventPinger) pong()  { p.take.Wait(context.Background()); p.take.Clear() }
func (p eventPinger) close() { p.give.Close(); p.take.Close() }

type semPinger struct{ give, take *semaphore.Semaphore }

func (p semPinger) ping()  { _ = p.give.Release() }
func (p semPinger) pong()  { _ = p.take.Acquire(context.Background()) }
func (p semPinger) close() { p.give.Close(); p.take.Close() }

// wordPinger hands off through two raw words: by futex (both sides sleep
// every time) or by spinning.
type wordPinger struct {
	r          *shm.Region
	give, take *uint32
	spin       bool
}

func (p wordPinger) ping() {
	atomic.StoreUint32(p.give, 1)
	if !p.spin {
		futex.Wake(p.give, 1)
	}
}

func (p wordPinger) pong() {
	for atomic.LoadUint32(p.take) == 0 {
		if !p.spin {
			_ = futex.Wait(p.take, 0, 0)
		}
	}
	atomic.StoreUint32(p.take, 0)
}

func (p wordPinger) close() { p.r.Close() }

// openPinger opens the pair of objects impl uses; the parent gives on a
// and takes on b, the child the other way round.
func openPinger(impl, a, b string, child bool) (pinger, error) {
	if child && impl != "futex" && impl != "spin" {
		a, b = b, a
	}
	switch impl {
	case "Event", "Event-nospin", "Event-spin16":
		give, err := semaphore.OpenEvent(a)
		if err != nil {
			return nil, err
		}
		take, err := semaphore.OpenEvent(b)
		if err != nil {
			return nil, err
		}
		return eventPinger{give, take}, nil
	case "Semaphore", "Semaphore-nospin":
		give, err := semaphore.OpenSemaphore(a)
		if err != nil {
			return nil, err
		}
		take, err := semaphore.OpenSemaphore(b)
		if err != nil {
			return nil, err
		}
		return semPinger{give, take}, nil
	case "futex", "spin":
		r, err := shm.OpenObject(a, shm.KindRaw, 1, 64)
		if err != nil {
			return nil, err
		}
		give, take := shm.Uint32(r.Bytes(), 0), shm.Uint32(r.Bytes(), 32)
		if child {
			give, take = take, give
		}
		return wordPinger{r, give, take, impl == "spin"}, nil
	}
	return nil, fmt.Errorf("unknown impl %q", impl)
}

// setSpinFor sets the spin budget an impl's name asks for: "-nospin" none,
// "-spin16" always 16 µs (no adaptation); it returns the restore.
func setSpinFor(impl string) func() {
	switch {
	case strings.HasSuffix(impl, "-nospin"):
		return semaphore.SetSpin(0, 0)
	case strings.HasSuffix(impl, "-spin16"):
		return semaphore.SetSpin(16*time.Microsecond, 16*time.Microsecond)
	}
	return func() {}
}

// childBenchEcho: args impl, a, b, n. Answers n pings.
func childBenchEcho(a *process.Args) error {
	impl := a.String(0)
	setSpinFor(impl)
	p, err := openPinger(impl, a.String(1), a.String(2), true)
	if err != nil {
		return err
	}
	defer p.close()
	for range a.Int(3) {
		p.pong()
		p.ping()
	}
	return nil
}

func BenchmarkHandoff(b *testing.B) {
	for _, impl := range []string{"spin", "futex", "Event", "Semaphore", "Event-nospin", "Semaphore-nospin", "Event-spin16"} {
		b.Run("impl="+impl, func(b *testing.B) {
			na, nb := segName(b, "a"), segName(b, "b")
			switch impl {
			case "Event", "Event-nospin", "Event-spin16":
				for _, n := range []string{na, nb} {
					e, err := semaphore.NewEvent(n)
					require.NoError(b, err)
					defer e.Close()
				}
			case "Semaphore", "Semaphore-nospin":
				for _, n := range []string{na, nb} {
					s, err := semaphore.NewSemaphore(n, 0)
					require.NoError(b, err)
					defer s.Close()
				}
			default:
				r, err := shm.CreateObject(na, shm.KindRaw, 1, 64, nil)
				require.NoError(b, err)
				defer r.Close()
			}
			defer setSpinFor(impl)()
			p, err := openPinger(impl, na, nb, false)
			require.NoError(b, err)
			defer p.close()
			child := start(b, "bench-echo", impl, na, nb, b.N+1)
			p.ping() // the first round trip includes the child's start
			p.pong()
			b.ResetTimer()
			for range b.N {
				p.ping()
				p.pong()
			}
			b.StopTimer()
			require.Equal(b, 0, join(b, child))
		})
	}
}

// childBenchLock: args lock name, counter name, n. Locks n times,
// incrementing counter word 0, after the start gun (word 1).
func childBenchLock(a *process.Args) error {
	l, err := semaphore.OpenLock(a.String(0))
	if err != nil {
		return err
	}
	defer l.Close()
	c, err := openCounter(a.String(1))
	if err != nil {
		return err
	}
	atomic.StoreUint64(c.word(2), 1) // ready
	for atomic.LoadUint64(c.word(1)) == 0 {
	}
	countLoop(l, c, 1, a.Int(2))
	return nil
}

// BenchmarkContended: two lockers, each locking b.N times around an
// increment of a shared word; ns/op is per lock acquisition (elapsed /
// 2N), ops/s counts both.
func BenchmarkContended(b *testing.B) {
	b.Run("impl=sync.Mutex-2goroutines", func(b *testing.B) {
		var mu sync.Mutex
		var n uint64
		benchTwo(b, func() {
			for range b.N {
				mu.Lock()
				increment(&n)
				mu.Unlock()
			}
		}, nil)
	})
	b.Run("impl=Lock-2goroutines", func(b *testing.B) {
		l, err := semaphore.NewLock(segName(b))
		require.NoError(b, err)
		defer l.Close()
		c := newCounter(b, segName(b, "c"))
		benchTwo(b, func() { countLoop(l, c, 1, b.N) }, nil)
	})
	b.Run("impl=Lock-2processes", func(b *testing.B) {
		name, cname := segName(b), segName(b, "c")
		l, err := semaphore.NewLock(name)
		require.NoError(b, err)
		defer l.Close()
		c := newCounter(b, cname)
		child := start(b, "bench-lock", name, cname, b.N)
		waitFor(b, "the child", func() bool { return c.load(2) == 1 })
		b.ResetTimer()
		t0 := time.Now()
		atomic.StoreUint64(c.word(1), 1)
		countLoop(l, c, 1, b.N)
		require.Equal(b, 0, join(b, child))
		el := time.Since(t0)
		b.StopTimer()
		require.Equal(b, uint64(2*b.N), c.load(0))
		b.ReportMetric(float64(el.Nanoseconds())/float64(2*b.N), "ns/op")
		b.ReportMetric(float64(2*b.N)/el.Seconds(), "ops/s")
	})
}

// benchTwo runs f in two goroutines and reports per-operation figures for
// 2N operations.
func benchTwo(b *testing.B, f func(), _ any) {
	b.ResetTimer()
	t0 := time.Now()
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); f() }()
	}
	wg.Wait()
	el := time.Since(t0)
	b.StopTimer()
	b.ReportMetric(float64(el.Nanoseconds())/float64(2*b.N), "ns/op")
	b.ReportMetric(float64(2*b.N)/el.Seconds(), "ops/s")
}

// childBenchCond: args condition name, counter name, n. The turn is
// counter word 0: the parent sets 1 and notifies, the child sets 0 and
// notifies.
func childBenchCond(a *process.Args) error {
	c, err := semaphore.OpenCondition(a.String(0))
	if err != nil {
		return err
	}
	defer c.Close()
	ctr, err := openCounter(a.String(1))
	if err != nil {
		return err
	}
	turn := ctr.word(0)
	c.Lock()
	defer c.Unlock()
	for range a.Int(2) {
		for atomic.LoadUint64(turn) != 1 {
			if _, err := c.Wait(context.Background()); err != nil {
				return err
			}
		}
		atomic.StoreUint64(turn, 0)
		if err := c.Notify(1); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkCondition(b *testing.B) {
	for _, kind := range []string{"Lock", "RLock"} {
		b.Run("lock="+kind, func(b *testing.B) {
			name, cname := segName(b), segName(b, "c")
			var lock semaphore.Locker
			if kind == "Lock" {
				l, err := semaphore.NewLock(segName(b, "l"))
				require.NoError(b, err)
				defer l.Close()
				lock = l
			}
			c, err := semaphore.NewCondition(name, lock)
			require.NoError(b, err)
			defer c.Close()
			turn := newCounter(b, cname).word(0)
			child := start(b, "bench-cond", name, cname, b.N)
			b.ResetTimer()
			c.Lock()
			for range b.N {
				atomic.StoreUint64(turn, 1)
				_ = c.Notify(1)
				for atomic.LoadUint64(turn) != 0 {
					if _, err := c.Wait(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			}
			c.Unlock()
			require.Equal(b, 0, join(b, child))
		})
	}
}

// childBenchBarrier: args barrier name, n.
func childBenchBarrier(a *process.Args) error {
	br, err := semaphore.OpenBarrier(a.String(0))
	if err != nil {
		return err
	}
	defer br.Close()
	for range a.Int(1) {
		if _, err := br.Wait(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

func BenchmarkBarrier(b *testing.B) {
	b.Run("parties=2", func(b *testing.B) {
		name := segName(b)
		br, err := semaphore.NewBarrier(name, 2)
		require.NoError(b, err)
		defer br.Close()
		child := start(b, "bench-barrier", name, b.N+1)
		_, err = br.Wait(context.Background()) // includes the child's start
		require.NoError(b, err)
		b.ResetTimer()
		for range b.N {
			if _, err := br.Wait(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		require.Equal(b, 0, join(b, child))
	})
}
