package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/mproc/mproc/futex"
	"github.com/mproc/mproc/shm"
	"golang.org/x/sys/unix"
)

// The hardware and kernel limits that figures are compared with, written
// directly on atomics, futex words and raw socket system calls, without
// any of mproc's higher packages. They are the floors: what moving a cache
// line, waking a sleeping process or crossing a socket costs here.

// yieldEvery is how many failed spins a spinning waiter makes before it
// gives its core away once (sched_yield). On a machine with more runnable
// threads than cores, a pure spin can burn a whole time slice while the
// process it waits for is not running; yielding now and then keeps the
// figure the cache-line cost it is meant to be.
const yieldEvery = 4096

// spinUntil spins until *w == v, or until abort (if not nil, checked now
// and then) reports true.
func spinUntil(w *uint32, v uint32, abort func() bool) bool {
	for n := 1; atomic.LoadUint32(w) != v; n++ {
		if n%yieldEvery == 0 {
			if abort != nil && abort() {
				return false
			}
			schedYield()
		}
	}
	return true
}

// schedYield gives the processor away (sched_yield(2)).
func schedYield() { _, _, _ = unix.Syscall(unix.SYS_SCHED_YIELD, 0, 0, 0) }

// futexUntil sleeps on w until *w == v (the words only grow), or until
// abort (if not nil, checked after each wake-up or 100 ms) reports true.
func futexUntil(w *uint32, v uint32, abort func() bool) bool {
	for {
		cur := atomic.LoadUint32(w)
		if cur == v {
			return true
		}
		err := futex.Wait(w, cur, futex.DeadlineIn(100*time.Millisecond))
		if errors.Is(err, futex.ErrTimeout) && abort != nil && abort() {
			return false
		}
	}
}

// Ping-pong words in the team's user area, on separate cache lines.
const (
	ppPing = 0  // the parent's sequence number
	ppPong = 64 // the child's echo
)

func init() {
	// bench.pingpong: the child half of a cross-process round trip on two
	// shared words. Args: params, mode ("futex" or "spin").
	registerChild("bench.pingpong", func(m *member) (func() error, error) {
		var p Params
		var mode string
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		if err := m.Arg(1, &mode); err != nil {
			return nil, err
		}
		u := m.User()
		ping, pong := shm.Uint32(u, ppPing), shm.Uint32(u, ppPong)
		return func() error {
			for i := uint32(1); i <= uint32(p.Ops); i++ {
				if mode == "spin" {
					spinUntil(ping, i, nil)
					atomic.StoreUint32(pong, i)
				} else {
					futexUntil(ping, i, nil)
					atomic.StoreUint32(pong, i)
					futex.Wake(pong, 1)
				}
			}
			return nil
		}, nil
	})

	// bench.sock-echo: reads Size-byte messages from inherited socket 0 and
	// writes each back, Ops times. Args: params.
	registerChild("bench.sock-echo", func(m *member) (func() error, error) {
		var p Params
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		fd := int(m.Args.File(0).Fd())
		buf := make([]byte, max(p.Size, 1))
		return func() error {
			for range p.Ops {
				if err := readFull(fd, buf); err != nil {
					return err
				}
				if err := writeFull(fd, buf); err != nil {
					return err
				}
			}
			return nil
		}, nil
	})

	// bench.sock-sink: reads Ops*Size bytes from inherited socket 0 in
	// Size-byte reads. Args: params.
	registerChild("bench.sock-sink", func(m *member) (func() error, error) {
		var p Params
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		fd := int(m.Args.File(0).Fd())
		buf := make([]byte, max(p.Size, 1))
		return func() error {
			for range p.Ops {
				if err := readFull(fd, buf); err != nil {
					return err
				}
			}
			return nil
		}, nil
	})

	// bench.atomic-add: adds 1 to the user word at 0, Ops times.
	registerChild("bench.atomic-add", func(m *member) (func() error, error) {
		var p Params
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		w := shm.Uint64(m.User(), 0)
		return func() error {
			for range p.Ops {
				atomic.AddUint64(w, 1)
			}
			return nil
		}, nil
	})

	// bench.rawmutex: Ops lock/increment/unlock rounds on a rawMutex in
	// the user area, guarding a counter. Args: params.
	registerChild("bench.rawmutex", func(m *member) (func() error, error) {
		var p Params
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		mu := rawMutex{shm.Uint32(m.User(), 0)}
		counter := shm.Uint64(m.User(), 64)
		return func() error {
			for range p.Ops {
				mu.Lock()
				atomic.StoreUint64(counter, atomic.LoadUint64(counter)+1)
				mu.Unlock()
			}
			return nil
		}, nil
	})
}

// pingPongRun is the parent half of a cross-process round trip: Ops round
// trips with one child, sleeping on futex words ("futex") or spinning
// ("spin").
func pingPongRun(mode string) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		t, err := startTeam("bench.pingpong", 1, 128, p, mode)
		if err != nil {
			return 0, err
		}
		defer t.close()
		u := t.user()
		ping, pong := shm.Uint32(u, ppPing), shm.Uint32(u, ppPong)
		abort := t.abort(ctx)
		return t.run(ctx, func() error {
			for i := uint32(1); i <= uint32(p.Ops); i++ {
				atomic.StoreUint32(ping, i)
				ok := false
				if mode == "spin" {
					ok = spinUntil(pong, i, abort)
				} else {
					futex.Wake(ping, 1)
					ok = futexUntil(pong, i, abort)
				}
				if !ok {
					return t.why(ctx)
				}
			}
			return nil
		})
	}
}

// socketpair returns a connected pair of Unix stream sockets as files.
func socketpair() (a, b *os.File, err error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("socketpair: %w", err)
	}
	return os.NewFile(uintptr(fds[0]), "sock0"), os.NewFile(uintptr(fds[1]), "sock1"), nil
}

func readFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if n == 0 {
			return io.ErrUnexpectedEOF
		}
		b = b[n:]
	}
	return nil
}

func writeFull(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// socketRun measures Ops Size-byte messages over a raw socketpair to a
// child: round trips (echo) or one-way throughput (sink).
func socketRun(echo bool) RunFunc {
	return func(ctx context.Context, p Params) (time.Duration, error) {
		mine, theirs, err := socketpair()
		if err != nil {
			return 0, err
		}
		defer mine.Close()
		fn := "bench.sock-sink"
		if echo {
			fn = "bench.sock-echo"
		}
		t, err := startTeamFiles(fn, 1, 0, []*os.File{theirs}, p)
		theirs.Close()
		if err != nil {
			return 0, err
		}
		defer t.close()
		fd := int(mine.Fd())
		buf := make([]byte, max(p.Size, 1))
		return t.run(ctx, func() error {
			for range p.Ops {
				if err := writeFull(fd, buf); err != nil {
					return err
				}
				if echo {
					if err := readFull(fd, buf); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
}

// atomicAddRun: Procs children each add 1 to one shared word Ops times.
func atomicAddRun(ctx context.Context, p Params) (time.Duration, error) {
	t, err := startTeam("bench.atomic-add", p.Procs, 64, p)
	if err != nil {
		return 0, err
	}
	defer t.close()
	w := shm.Uint64(t.user(), 0)
	d, err := t.run(ctx, nil)
	if err == nil {
		err = expectCount(atomic.LoadUint64(w), uint64(p.Procs*p.Ops))
	}
	return d, err
}

// rawMutexRun: Procs children each take a rawMutex Ops times to bump a
// counter.
func rawMutexRun(ctx context.Context, p Params) (time.Duration, error) {
	t, err := startTeam("bench.rawmutex", p.Procs, 128, p)
	if err != nil {
		return 0, err
	}
	defer t.close()
	w := shm.Uint64(t.user(), 64)
	d, err := t.run(ctx, nil)
	if err == nil {
		err = expectCount(atomic.LoadUint64(w), uint64(p.Procs*p.Ops))
	}
	return d, err
}

// expectCount checks a shared counter after a run: a lost update means
// the side did not do the work it claims (or its lock is broken).
func expectCount(got, want uint64) error {
	if got != want {
		return fmt.Errorf("counter is %d, want %d", got, want)
	}
	return nil
}

// rawMutex is the classic three-state futex mutex (Drepper, "Futexes Are
// Tricky", mutex 2), on one shared word: 0 unlocked, 1 locked, 2 locked
// with (possible) waiters. It is the floor for a cross-process lock: one
// CAS to lock, one exchange to unlock, a futex wake only when someone
// sleeps.
type rawMutex struct{ w *uint32 }

func (m rawMutex) Lock() {
	if atomic.CompareAndSwapUint32(m.w, 0, 1) {
		return
	}
	for n := 0; n < 100; n++ { // a short spin first, as mproc's locks do
		if atomic.LoadUint32(m.w) == 0 && atomic.CompareAndSwapUint32(m.w, 0, 1) {
			return
		}
	}
	for atomic.SwapUint32(m.w, 2) != 0 {
		_ = futex.Wait(m.w, 2, 0)
	}
}

func (m rawMutex) Unlock() {
	if atomic.SwapUint32(m.w, 0) == 2 {
		futex.Wake(m.w, 1)
	}
}

// memcpyRun copies Size bytes Ops times between two buffers of this
// process: the memory bandwidth that any copy of the data is bound by.
func memcpyRun(ctx context.Context, p Params) (time.Duration, error) {
	src, dst := make([]byte, p.Size), make([]byte, p.Size)
	for i := range src {
		src[i] = byte(i)
	}
	copy(dst, src) // fault both in before the clock starts
	t0 := time.Now()
	for range p.Ops {
		copy(dst, src)
	}
	return time.Since(t0), nil
}
