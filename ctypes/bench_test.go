//go:build linux

package ctypes_test

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
)

// The gate lets a benchmark time only the work of its children, not their
// start-up and exit: each child attaches, counts itself in ready, waits for
// go, works, and counts itself in done. The words sit on separate cache
// lines of a shared RawArray[uint32] and are waited on with futexes, so
// neither side burns a CPU the other needs.
const (
	gateReady = 0
	gateGo    = 16
	gateDone  = 32
	gateLen   = 48
)

type gate struct{ s []uint32 }

func attachGate(a *process.Args, i int) (*ctypes.RawArray[uint32], gate, error) {
	var h shm.Handle
	if err := a.Decode(i, &h); err != nil {
		return nil, gate{}, err
	}
	arr, err := ctypes.AttachRawArray[uint32](h)
	if err != nil {
		return nil, gate{}, err
	}
	return arr, gate{arr.Slice()}, nil
}

func (g gate) arrive(word int) {
	atomic.AddUint32(&g.s[word], 1)
	futex.Wake(&g.s[word], -1)
}

// await waits until word reaches n.
func (g gate) await(word int, n uint32) error {
	deadline := futex.DeadlineIn(2 * time.Minute)
	for {
		v := atomic.LoadUint32(&g.s[word])
		if v >= n {
			return nil
		}
		if err := futex.Wait(&g.s[word], v, deadline); err == futex.ErrTimeout {
			return err
		}
	}
}

// child runs work between the gate's go and done.
func (g gate) child(work func() error) error {
	g.arrive(gateReady)
	if err := g.await(gateGo, 1); err != nil {
		return err
	}
	err := work()
	g.arrive(gateDone)
	return err
}

// runGang starts n children of fn with args (the gate's handle is added
// first), and times from go to the last done.
func runGang(b *testing.B, n int, fn string, args ...any) {
	b.StopTimer()
	ctl, err := ctypes.NewRawArray[uint32](segName(b, "gate"), gateLen, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer ctl.Close()
	g := gate{ctl.Slice()}
	var ps []*process.Process
	for range n {
		p, err := process.Start(fn, &process.Options{Args: append([]any{ctl.Handle()}, args...), Daemon: true})
		if err != nil {
			b.Fatal(err)
		}
		ps = append(ps, p)
	}
	if err := g.await(gateReady, uint32(n)); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	g.arrive(gateGo)
	if err := g.await(gateDone, uint32(n)); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	for _, p := range ps {
		if err := p.Join(b.Context()); err != nil {
			b.Fatal(err)
		}
		if code, _ := p.ExitCode(); code != 0 {
			b.Fatalf("child %d exited %d", p.Pid(), code)
		}
	}
}

func init() {
	process.Register("ctypes-bench-locked", func(a *process.Args) error {
		ctl, g, err := attachGate(a, 0)
		if err != nil {
			return err
		}
		defer ctl.Close()
		var h shm.Handle
		if err := a.Decode(1, &h); err != nil {
			return err
		}
		v, err := ctypes.AttachValue[int64](h)
		if err != nil {
			return err
		}
		defer v.Close()
		n := a.Int(2)
		return g.child(func() error {
			for range n {
				if err := v.Do(func(p *int64) error { *p++; return nil }); err != nil {
					return err
				}
			}
			return nil
		})
	})
	process.Register("ctypes-bench-atomic", func(a *process.Args) error {
		ctl, g, err := attachGate(a, 0)
		if err != nil {
			return err
		}
		defer ctl.Close()
		var h shm.Handle
		if err := a.Decode(1, &h); err != nil {
			return err
		}
		v, err := ctypes.AttachRawValue[int64](h)
		if err != nil {
			return err
		}
		defer v.Close()
		n := a.Int(2)
		return g.child(func() error {
			for range n {
				ctypes.AtomicAdd(v, 1)
			}
			return nil
		})
	})
	process.Register("ctypes-bench-fill", func(a *process.Args) error {
		var h, ht shm.Handle
		var way string
		if err := errors.Join(a.Decode(0, &h), a.Decode(1, &ht), a.Decode(2, &way)); err != nil {
			return err
		}
		arr, err := ctypes.AttachRawArray[float64](h)
		if err != nil {
			return err
		}
		defer arr.Close()
		took, err := ctypes.AttachRawValue[int64](ht)
		if err != nil {
			return err
		}
		defer took.Close()
		start := time.Now()
		if way == "mapped" {
			arr.Populate()
			fill(arr.Slice())
		} else if err := fillByChunks(arr, 8192); err != nil {
			return err
		}
		took.Store(int64(time.Since(start)))
		return nil
	})
}

// sumOf is a function of its own: the body of a b.Loop loop is compiled
// to keep its assignments alive, which would slow a loop written inline
// there ten times. Four accumulators let the additions overlap (one
// running sum waits an add latency per element); the sums here are of
// halves of integers below 2^53, exact in any order.
func sumOf(s []float64) float64 {
	var a, b, c, d float64
	i := 0
	for ; i+4 <= len(s); i += 4 {
		a += s[i]
		b += s[i+1]
		c += s[i+2]
		d += s[i+3]
	}
	for ; i < len(s); i++ {
		a += s[i]
	}
	return (a + b) + (c + d)
}

func fill(s []float64) {
	for i := range s {
		s[i] = float64(i) * 0.5
	}
}

// BenchmarkLockedIncrement: 2 processes increment one Value[int64] under
// its lock (Python: "with v.get_lock(): v.value += 1"). ns/op is per
// increment, both processes together.
func BenchmarkLockedIncrement(b *testing.B) {
	const procs = 2
	for _, kind := range []string{"rlock", "lock"} {
		b.Run(fmt.Sprintf("procs=%d/lock=%s", procs, kind), func(b *testing.B) {
			opts := &ctypes.Options{}
			if kind == "lock" {
				l, err := semaphore.NewLock(segName(b, "lock"))
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				opts.Lock = l
			}
			v, err := ctypes.NewValue(segName(b), int64(0), opts)
			if err != nil {
				b.Fatal(err)
			}
			defer v.Close()
			per := (b.N + procs - 1) / procs
			runGang(b, procs, "ctypes-bench-locked", v.Handle(), per)
			if x, _ := v.Get(); x != int64(per*procs) {
				b.Fatalf("total %d, want %d", x, per*procs)
			}
		})
	}
	// Baseline: two goroutines of one process and a sync.Mutex.
	b.Run("baseline=sync.Mutex/goroutines=2", func(b *testing.B) {
		var mu sync.Mutex
		var x int64
		var wg sync.WaitGroup
		per := (b.N + 1) / 2
		for range 2 {
			wg.Go(func() {
				for range per {
					mu.Lock()
					x++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	})
}

// BenchmarkAtomicIncrement: 2 processes increment one RawValue[int64] with
// AtomicAdd (Python has no equivalent without a lock).
func BenchmarkAtomicIncrement(b *testing.B) {
	const procs = 2
	b.Run(fmt.Sprintf("procs=%d", procs), func(b *testing.B) {
		v, err := ctypes.NewRawValue(segName(b), int64(0), nil)
		if err != nil {
			b.Fatal(err)
		}
		defer v.Close()
		per := (b.N + procs - 1) / procs
		runGang(b, procs, "ctypes-bench-atomic", v.Handle(), per)
		if x := ctypes.AtomicLoad(v); x != int64(per*procs) {
			b.Fatalf("total %d, want %d", x, per*procs)
		}
	})
}

// BenchmarkRawArrayFillSum: a child process fills a RawArray of 1,000,000
// float64 (a[i] = i/2) and the parent sums it. One op is the whole job:
// creating the array, starting the child, its fill, its exit, and the
// sum: what testdata/sharedctypes_bench.py fillsum times for Python. The
// metrics split it: create-ms, fill-ms (timed in the child) and sum-ms;
// the rest is process start and exit.
//
// Two ways: "mapped" goes through the mappings (the parent creates the
// array populated, the child Populates and fills its Slice, the parent
// sums its Slice); "copy" never touches the pages through a mapping (the
// child fills 64 KiB chunks with WriteAt, the parent reads them back with
// ReadAt), which skips the page fault per page and process.
func BenchmarkRawArrayFillSum(b *testing.B) {
	const n = 1_000_000
	const want = 0.5 * float64(n) * float64(n-1) / 2
	for _, way := range []string{"mapped", "copy"} {
		b.Run(way, func(b *testing.B) {
			took, err := ctypes.NewRawValue(segName(b, "took"), int64(0), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer took.Close()
			var createTime, fillTime, sumTime time.Duration
			for i := 0; b.Loop(); i++ {
				name := segName(b, fmt.Sprint(i))
				tc := time.Now()
				arr, err := ctypes.NewRawArray[float64](name, n, &ctypes.Options{Populate: way == "mapped"})
				if err != nil {
					b.Fatal(err)
				}
				createTime += time.Since(tc)
				p, err := process.Start("ctypes-bench-fill", &process.Options{Args: []any{arr.Handle(), took.Handle(), way}, Daemon: true})
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Join(b.Context()); err != nil {
					b.Fatal(err)
				}
				if code, _ := p.ExitCode(); code != 0 {
					b.Fatalf("child exited %d", code)
				}
				fillTime += time.Duration(took.Load())
				t0 := time.Now()
				var sum float64
				if way == "mapped" {
					sum = sumOf(arr.Slice())
				} else if sum, err = sumByChunks(arr); err != nil {
					b.Fatal(err)
				}
				sumTime += time.Since(t0)
				if sum != want {
					b.Fatalf("sum %v, want %v", sum, want)
				}
				arr.Close()
				arr.Unlink()
			}
			b.ReportMetric(createTime.Seconds()*1000/float64(b.N), "create-ms")
			b.ReportMetric(fillTime.Seconds()*1000/float64(b.N), "fill-ms")
			b.ReportMetric(sumTime.Seconds()*1000/float64(b.N), "sum-ms")
		})
	}
}

// sumByChunks sums a RawArray read with ReadAt, 64 KiB at a time.
func sumByChunks(arr *ctypes.RawArray[float64]) (float64, error) {
	buf := make([]float64, 8192)
	sum := 0.0
	for at := 0; at < arr.Len(); at += len(buf) {
		m := min(len(buf), arr.Len()-at)
		if err := arr.ReadAt(buf[:m], at); err != nil {
			return 0, err
		}
		sum += sumOf(buf[:m])
	}
	return sum, nil
}
