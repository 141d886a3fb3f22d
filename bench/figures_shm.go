package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/mproc/mproc/shm"
	"golang.org/x/sys/unix"
)

// shm/: named shared memory itself. mproc's side is the shm package
// (validated header, exclusive create, publish by one atomic store);
// Python's is multiprocessing.shared_memory; the limit is the bare system
// calls.

func init() {
	register(&Figure{
		Name:  "shm/create-open",
		Unit:  MicrosPerOp,
		Doc:   "create a named segment of `size` bytes, open it a second time by name, close both, unlink it; one process",
		Quick: Params{Ops: 1_000, Size: 4096},
		Full:  Params{Ops: 3_000, Size: 4096},
		Work:  perOp,
		Sides: []Side{
			{Name: "mproc shm", Kind: KindMproc, Run: shmCreateOpen},
			pySide("fig_shm.py"),
			{Name: "open+mmap", Kind: KindLimit, Run: rawCreateOpen},
		},
	})
	register(&Figure{
		Name:  "shm/fresh-write",
		Unit:  MBPerSec,
		Doc:   "create a fresh segment of `size` bytes, write every byte of it (one copy), close and unlink it; one process. mproc pre-faults the mapping (CreateOptions.Populate); Python and the limit fault page by page",
		Quick: Params{Ops: 4, Size: 16 << 20},
		Full:  Params{Ops: 12, Size: 16 << 20},
		Work:  perByte,
		Sides: []Side{
			{Name: "mproc shm", Kind: KindMproc, Run: shmFreshWrite},
			pySide("fig_shm.py"),
			{Name: "mmap+copy", Kind: KindLimit, Run: rawFreshWrite},
			{Name: "memcpy", Kind: KindLimit, Run: memcpyRun},
		},
	})
}

func shmCreateOpen(ctx context.Context, p Params) (time.Duration, error) {
	base := segName("co")
	t0 := time.Now()
	for i := range p.Ops {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		name := fmt.Sprintf("%s-%d", base, i)
		r, err := shm.CreateObject(name, shm.KindRaw, 1, p.Size, nil)
		if err != nil {
			return 0, err
		}
		r2, err := shm.OpenObject(name, shm.KindRaw, 1, p.Size)
		if err != nil {
			r.Unlink()
			r.Close()
			return 0, err
		}
		r2.Close()
		if err := r.Unlink(); err != nil {
			return 0, err
		}
		r.Close()
	}
	return time.Since(t0), nil
}

// rawCreateOpen is the same work on bare system calls: open O_CREAT|O_EXCL,
// ftruncate, mmap; open, mmap; munmap both, unlink.
func rawCreateOpen(ctx context.Context, p Params) (time.Duration, error) {
	base := shm.Path(segName("raw"))
	t0 := time.Now()
	for i := range p.Ops {
		path := fmt.Sprintf("%s-%d", base, i)
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return 0, err
		}
		if err := unix.Ftruncate(fd, int64(p.Size)); err != nil {
			unix.Close(fd)
			return 0, err
		}
		m1, err := unix.Mmap(fd, 0, p.Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		unix.Close(fd)
		if err != nil {
			return 0, err
		}
		fd2, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		m2, err := unix.Mmap(fd2, 0, p.Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		unix.Close(fd2)
		if err != nil {
			return 0, err
		}
		unix.Munmap(m2)
		unix.Munmap(m1)
		if err := unix.Unlink(path); err != nil {
			return 0, err
		}
	}
	return time.Since(t0), nil
}

// source returns a buffer of n bytes, faulted in.
func source(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i * 7)
	}
	return b
}

func shmFreshWrite(ctx context.Context, p Params) (time.Duration, error) {
	src := source(p.Size)
	base := segName("fw")
	t0 := time.Now()
	for i := range p.Ops {
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		r, err := shm.CreateObject(fmt.Sprintf("%s-%d", base, i), shm.KindRaw, 1, p.Size, &shm.CreateOptions{Populate: true})
		if err != nil {
			return 0, err
		}
		copy(r.Bytes(), src)
		r.Unlink()
		r.Close()
	}
	return time.Since(t0), nil
}

// rawFreshWrite: a fresh /dev/shm file, ftruncate, mmap, copy, munmap,
// unlink.
func rawFreshWrite(ctx context.Context, p Params) (time.Duration, error) {
	src := source(p.Size)
	base := shm.Path(segName("rawfw"))
	t0 := time.Now()
	for i := range p.Ops {
		path := fmt.Sprintf("%s-%d", base, i)
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return 0, err
		}
		if err := unix.Ftruncate(fd, int64(p.Size)); err != nil {
			unix.Close(fd)
			os.Remove(path)
			return 0, err
		}
		m, err := unix.Mmap(fd, 0, p.Size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
		unix.Close(fd)
		if err != nil {
			os.Remove(path)
			return 0, err
		}
		copy(m, src)
		unix.Munmap(m)
		unix.Unlink(path)
	}
	return time.Since(t0), nil
}
