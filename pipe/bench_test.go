//go:build linux

package pipe_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mproc/mproc/pipe"
	"github.com/mproc/mproc/process"
)

// Benchmarks between two processes, each beside its baseline in the same
// run: a raw socketpair driven with plain blocking read(2)/write(2) calls on
// both sides (the hardware floor), and Python's own multiprocessing Pipe
// when a CPython 3 is found. Compare ratios, not times.
//
//	go test -run '^$' -bench . -benchtime 2s -count 3 ./pipe/

const (
	rtSize = 64
	tpSize = 64 << 10
)

func init() {
	// Echo children for the round trip.
	process.Register("bench-echo-raw", func(a *process.Args) error {
		f := a.File(0)
		defer runtime.KeepAlive(f) // its finalizer would close fd
		fd := int(f.Fd())          // a blocking socket: plain syscalls
		buf := make([]byte, rtSize)
		for {
			if err := readFull(fd, buf); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
			if err := writeAll(fd, buf); err != nil {
				return err
			}
		}
	})
	process.Register("bench-echo-pipe", func(a *process.Args) error {
		c, err := pipe.FromFile(a.File(0))
		if err != nil {
			return err
		}
		for {
			m, err := c.RecvBytes(0)
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			if err := c.SendBytes(m); err != nil {
				return err
			}
		}
	})
	// Sinks for throughput: receive Args[0] messages (bytes for raw), then
	// acknowledge with one byte (one message).
	process.Register("bench-sink-raw", func(a *process.Args) error {
		f := a.File(0)
		defer runtime.KeepAlive(f) // its finalizer would close fd
		fd := int(f.Fd())
		unix.SetNonblock(fd, false)
		total := a.Int(0)
		buf := make([]byte, tpSize)
		if a.String(1) == "alloc" {
			// Go's floor for receiving each message as a new buffer.
			for ; total > 0; total -= tpSize {
				buf = make([]byte, tpSize)
				if err := readFull(fd, buf); err != nil {
					return err
				}
			}
			return writeAll(fd, buf[:1])
		}
		for total > 0 {
			n, err := unix.Read(fd, buf[:min(len(buf), total)])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			if n == 0 {
				return io.ErrUnexpectedEOF
			}
			total -= n
		}
		return writeAll(fd, []byte{1})
	})
	process.Register("bench-sink-pipe", func(a *process.Args) error {
		c, err := pipe.FromFile(a.File(0))
		if err != nil {
			return err
		}
		buf := make([]byte, tpSize)
		alloc := a.String(1) == "alloc"
		for range a.Int(0) {
			if alloc {
				_, err = c.RecvBytes(0)
			} else {
				_, err = c.RecvBytesInto(buf)
			}
			if err != nil {
				return err
			}
		}
		return c.SendBytes([]byte{1})
	})
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
			return io.EOF
		}
		b = b[n:]
	}
	return nil
}

func writeAll(fd int, b []byte) error {
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

// rawChild starts fn on one end of a blocking socketpair and returns the
// other end's descriptor.
func rawChild(b *testing.B, fn string, args ...any) (int, *process.Process) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	must(b, err)
	f := os.NewFile(uintptr(fds[1]), "raw")
	p, err := process.Start(fn, &process.Options{Files: []*os.File{f}, Args: args})
	must(b, err)
	f.Close()
	return fds[0], p
}

// pipeChild starts fn on one end of a Pipe and returns the other end.
func pipeChild(b *testing.B, fn string, args ...any) (*pipe.Conn, *process.Process) {
	c, peer, err := pipe.Pipe(true)
	must(b, err)
	f, err := peer.File()
	must(b, err)
	p, err := process.Start(fn, &process.Options{Files: []*os.File{f}, Args: args})
	must(b, err)
	f.Close()
	peer.Close()
	return c, p
}

// cpuMeter measures the CPU time (user + system) of this process and of its
// reaped children: with the child joined, cpu-ns/op covers both ends of the
// connection. Unlike ns/op it hardly moves when other work shares the
// machine.
type cpuMeter struct{ self, children int64 }

func cpuNow() cpuMeter {
	var s, c unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &s)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &c)
	ns := func(r *unix.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
	return cpuMeter{ns(&s), ns(&c)}
}

// report adds cpu-ns/op: this process's CPU from start to stop (the timed
// loop) plus the child's whole life (reaped by join before this call).
func (start cpuMeter) report(b *testing.B, stop cpuMeter) {
	end := cpuNow()
	b.ReportMetric(float64(stop.self-start.self+end.children-start.children)/float64(b.N), "cpu-ns/op")
}

func join(b *testing.B, p *process.Process) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	must(b, p.Join(ctx))
	if code, _ := p.ExitCode(); code != 0 {
		b.Fatalf("child exited %d", code)
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	b.Run(fmt.Sprintf("size=%d/impl=raw-socketpair", rtSize), func(b *testing.B) {
		fd, p := rawChild(b, "bench-echo-raw")
		buf := make([]byte, rtSize)
		for range 100 {
			must(b, writeAll(fd, buf))
			must(b, readFull(fd, buf))
		}
		cpu := cpuNow()
		b.ResetTimer()
		for range b.N {
			if err := writeAll(fd, buf); err != nil {
				b.Fatal(err)
			}
			if err := readFull(fd, buf); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		stop := cpuNow()
		unix.Close(fd)
		join(b, p)
		cpu.report(b, stop)
	})
	b.Run(fmt.Sprintf("size=%d/impl=pipe", rtSize), func(b *testing.B) {
		c, p := pipeChild(b, "bench-echo-pipe")
		msg := make([]byte, rtSize)
		for range 100 {
			must(b, c.SendBytes(msg))
			_, err := c.RecvBytes(0)
			must(b, err)
		}
		cpu := cpuNow()
		b.ResetTimer()
		for range b.N {
			if err := c.SendBytes(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := c.RecvBytes(0); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		stop := cpuNow()
		c.Close()
		join(b, p)
		cpu.report(b, stop)
	})
	b.Run(fmt.Sprintf("size=%d/impl=python-pipe", rtSize), func(b *testing.B) { pythonBench(b, "rt") })
}

func BenchmarkThroughput(b *testing.B) {
	for _, recv := range []string{"into", "alloc"} {
		b.Run("size=64KiB/impl=raw-socketpair/recv="+recv, func(b *testing.B) { rawThroughput(b, recv) })
	}
	for _, recv := range []string{"into", "alloc"} {
		b.Run("size=64KiB/impl=pipe/recv="+recv, func(b *testing.B) {
			c, p := pipeChild(b, "bench-sink-pipe", b.N, recv)
			msg := make([]byte, tpSize)
			b.SetBytes(tpSize)
			cpu := cpuNow()
			b.ResetTimer()
			for range b.N {
				if err := c.SendBytes(msg); err != nil {
					b.Fatal(err)
				}
			}
			_, err := c.RecvBytes(0)
			must(b, err)
			b.StopTimer()
			stop := cpuNow()
			c.Close()
			join(b, p)
			cpu.report(b, stop)
		})
	}
	b.Run("size=64KiB/impl=python-pipe", func(b *testing.B) { b.SetBytes(tpSize); pythonBench(b, "tp") })
}

// rawThroughput sends b.N 64 KiB blocks on a blocking socketpair to a child
// that reads them into one buffer (into) or into a new buffer each (alloc).
func rawThroughput(b *testing.B, recv string) {
	fd, p := rawChild(b, "bench-sink-raw", b.N*tpSize, recv)
	buf := make([]byte, tpSize)
	b.SetBytes(tpSize)
	cpu := cpuNow()
	b.ResetTimer()
	for range b.N {
		if err := writeAll(fd, buf); err != nil {
			b.Fatal(err)
		}
	}
	must(b, readFull(fd, buf[:1]))
	b.StopTimer()
	stop := cpuNow()
	unix.Close(fd)
	join(b, p)
	cpu.report(b, stop)
}

// pythonBenchScript times n round trips (rt) or n 64 KiB messages (tp)
// between two Python processes over multiprocessing.Pipe and prints
// nanoseconds per operation.
const pythonBenchScript = `
import sys, time
from multiprocessing import Pipe, Process

def echo(c):
    while True:
        m = c.recv_bytes()
        if m == b'stop':
            return
        c.send_bytes(m)

def sink(c, n):
    buf = bytearray(65536)
    for _ in range(n):
        c.recv_bytes_into(buf)
    c.send_bytes(b'k')

if __name__ == '__main__':
    mode, n = sys.argv[1], int(sys.argv[2])
    a, b = Pipe()
    if mode == 'rt':
        p = Process(target=echo, args=(b,))
        p.start()
        msg = bytes(64)
        for _ in range(100):
            a.send_bytes(msg); a.recv_bytes()
        t = time.perf_counter()
        for _ in range(n):
            a.send_bytes(msg); a.recv_bytes()
        el = time.perf_counter() - t
        a.send_bytes(b'stop')
    else:
        p = Process(target=sink, args=(b, n))
        p.start()
        msg = bytes(65536)
        t = time.perf_counter()
        for _ in range(n):
            a.send_bytes(msg)
        a.recv_bytes()
        el = time.perf_counter() - t
    p.join()
    print(el / n * 1e9)
`

// pythonBench runs pythonBenchScript under the newest CPython found and
// reports its time as this benchmark's ns/op.
func pythonBench(b *testing.B, mode string) {
	home, _ := os.UserHomeDir()
	paths, _ := filepath.Glob(filepath.Join(home, ".pyenv/versions/3.*/bin/python3"))
	if len(paths) == 0 {
		b.Skip("no CPython 3 under ~/.pyenv/versions: no Python baseline")
	}
	best, bestMinor := "", -1
	for _, p := range paths {
		v := strings.Split(filepath.Base(filepath.Dir(filepath.Dir(p))), ".")
		if len(v) > 1 {
			if m, err := strconv.Atoi(v[1]); err == nil && m > bestMinor {
				best, bestMinor = p, m
			}
		}
	}
	script := filepath.Join(b.TempDir(), "bench.py")
	must(b, os.WriteFile(script, []byte(pythonBenchScript), 0o644))
	out, err := exec.Command(best, script, mode, strconv.Itoa(b.N)).Output()
	if err != nil {
		b.Fatalf("%s: %v", best, err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	must(b, err)
	b.ReportMetric(ns, "ns/op")
	if mode == "tp" {
		b.ReportMetric(tpSize/ns*1e3, "MB/s")
	}
}
