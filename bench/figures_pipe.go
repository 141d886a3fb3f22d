package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mproc/mproc/pipe"
)

// pipe/: pipe.Conn between two processes, on a duplex Pipe (a Unix
// socketpair, as Python's default Pipe()), with multiprocessing's framing.

func init() {
	register(&Figure{
		Name:  "pipe/roundtrip",
		Unit:  MicrosPerOp,
		Doc:   "round trip of a `size`-byte message between 2 processes on a duplex Pipe: the parent sends, the child receives and sends it back (send_bytes/recv_bytes)",
		Quick: Params{Ops: 5_000, Size: 64, Procs: 2},
		Full:  Params{Ops: 15_000, Size: 64, Procs: 2},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc Conn", Kind: KindMproc, Run: pipeRun(pipeEcho)},
			pySide("fig_pipe.py"),
			{Name: "chan", Kind: KindGo, Run: chanPingPong},
			{Name: "socketpair", Kind: KindLimit, Run: socketRun(true)},
		},
	})
	register(&Figure{
		Name:  "pipe/throughput",
		Unit:  MBPerSec,
		Doc:   "MB/s: the parent sends `ops` messages of `size` bytes on a duplex Pipe, a child receives each into one reused buffer (send_bytes/recv_bytes_into), as the socketpair limit reads into one buffer",
		Quick: Params{Ops: 2_000, Size: 64 << 10, Procs: 2},
		Full:  Params{Ops: 6_000, Size: 64 << 10, Procs: 2},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc Conn", Kind: KindMproc, Run: pipeRun(pipeInto)},
			pySide("fig_pipe.py"),
			{Name: "chan", Kind: KindGo, Run: chanQueueRun},
			{Name: "socketpair", Kind: KindLimit, Run: socketRun(false)},
		},
	})
	register(&Figure{
		Name:  "pipe/throughput-alloc",
		Unit:  MBPerSec,
		Doc:   "MB/s: as pipe/throughput, but the child receives each message as a new buffer (send_bytes/recv_bytes). In Go a fresh 64 KiB buffer is a large object that the garbage collector recycles every few MB: its cost, not the connection's, is the gap to pipe/throughput",
		Quick: Params{Ops: 2_000, Size: 64 << 10, Procs: 2},
		Full:  Params{Ops: 6_000, Size: 64 << 10, Procs: 2},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc Conn", Kind: KindMproc, Run: pipeRun(pipeAlloc)},
			pySide("fig_pipe.py"),
			{Name: "socketpair", Kind: KindLimit, Run: socketRun(false)},
		},
	})

	// bench.pipe: the child end. Args: params, mode (pipeEcho, pipeInto,
	// pipeAlloc).
	registerChild("bench.pipe", func(m *member) (func() error, error) {
		var p Params
		var mode string
		if err := m.Arg(0, &p); err != nil {
			return nil, err
		}
		if err := m.Arg(1, &mode); err != nil {
			return nil, err
		}
		c, err := pipe.FromFile(m.Args.File(0))
		if err != nil {
			return nil, err
		}
		buf := make([]byte, p.Size)
		return func() error {
			defer c.Close()
			for range p.Ops {
				var n int
				if mode == pipeInto {
					if n, err = c.RecvBytesInto(buf); err != nil {
						return err
					}
				} else {
					msg, err := c.RecvBytes(0)
					if err != nil {
						return err
					}
					n = len(msg)
					if mode == pipeEcho {
						if err := c.SendBytes(msg); err != nil {
							return err
						}
					}
				}
				if n != p.Size {
					return fmt.Errorf("received %d bytes, want %d", n, p.Size)
				}
			}
			return nil
		}, nil
	})
}

// How the child of a pipe figure receives.
const (
	pipeEcho  = "echo"  // RecvBytes, then SendBytes it back
	pipeInto  = "into"  // RecvBytesInto one reused buffer
	pipeAlloc = "alloc" // RecvBytes: a new buffer per message
)

// pipeRun measures Ops messages over a pipe.Conn to a child: round trips
// (pipeEcho) or one-way throughput.
func pipeRun(mode string) RunFunc {
	echo := mode == pipeEcho
	return func(ctx context.Context, p Params) (time.Duration, error) {
		mine, theirs, err := pipe.Pipe(true)
		if err != nil {
			return 0, err
		}
		defer mine.Close()
		f, err := theirs.File()
		theirs.Close()
		if err != nil {
			return 0, err
		}
		t, err := startTeamFiles("bench.pipe", 1, 0, []*os.File{f}, p, mode)
		f.Close()
		if err != nil {
			return 0, err
		}
		defer t.close()
		msg := make([]byte, p.Size)
		return t.run(ctx, func() error {
			for range p.Ops {
				if err := mine.SendBytes(msg); err != nil {
					return err
				}
				if echo {
					back, err := mine.RecvBytes(0)
					if err != nil {
						return err
					}
					if len(back) != p.Size {
						return fmt.Errorf("echo of %d bytes, want %d", len(back), p.Size)
					}
				}
			}
			return nil
		})
	}
}
