//go:build linux

package shm

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"syscall"
	"unsafe"
)

// Copying through the segment file.
//
// A process's first access to each page of a mapping costs a page fault,
// and on the VM this was measured on (paravirtualised, shadow page tables)
// even a page already mapped by MADV_POPULATE_WRITE costs ~4 µs on its
// first touch: 8 MiB is 2,048 pages, 8-26 ms before any byte moves. A
// process that only fills a large object once, or reads it once, does not
// need the pages in its own page tables: pwrite(2) and pread(2) on the
// segment's file copy through the kernel's own mapping of the same page
// cache pages, at memory speed (8 MiB in 64 KiB chunks: 1.2-2.9 ms to
// write, new pages included; ~5 ms to read). The bytes are the same ones
// the mappings show, in every process.
//
// The segment keeps no descriptor after mapping (a process with many
// small objects would hold one each), so the first ReadAt or WriteAt
// opens the file by name again, and keeps that descriptor until the
// segment is closed. The name may since have been unlinked, or reused by
// another segment: the reopened file is used only if its first 48 header
// bytes (magic, kind, version, size, creator pid and start time, creation
// time in ns) equal the mapping's; otherwise the copy goes through the
// mapping, which is always right, only slower.
const identityBytes = 48

// ioFile returns the segment file for pread and pwrite, or nil when the
// name no longer leads to this segment.
func (s *Segment) ioFile() *os.File {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.file != nil || s.fileTried {
		return s.file
	}
	s.fileTried = true
	f, err := openFile(Path(s.name), os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	var hdr [identityBytes]byte
	if n, _ := f.ReadAt(hdr[:], 0); n != len(hdr) || !bytes.Equal(hdr[:], s.mem[:identityBytes]) {
		f.Close()
		return nil
	}
	s.file = f
	return f
}

// closeFile closes the descriptor ioFile opened, if any.
func (s *Segment) closeFile() {
	s.fileMu.Lock()
	defer s.fileMu.Unlock()
	if s.file != nil {
		s.file.Close()
		s.file = nil
	}
}

// fileOffset returns where the region's bytes start in the segment file.
func (r *Region) fileOffset() int64 {
	return int64(uintptr(unsafe.Pointer(unsafe.SliceData(r.data))) - uintptr(unsafe.Pointer(unsafe.SliceData(r.seg.mem))))
}

// ReadAt copies the object's bytes from offset off into p, as
// io.ReaderAt does: it returns the number of bytes read, and io.EOF when
// the object ends before p is full. It reads through the segment's file
// (see above), so this process need not have touched the pages; the
// result is the same as copying from Bytes. Concurrent writers may leave a
// torn mix of old and new bytes, as with any plain copy. ErrClosed after
// Close.
func (r *Region) ReadAt(p []byte, off int64) (int, error) {
	if r.isClosed() {
		return 0, &Error{"read", r.seg.name, ErrClosed}
	}
	if off < 0 || off > int64(len(r.data)) {
		return 0, &Error{"read", r.seg.name, withDetail(ErrSize, fmt.Sprintf("offset %d outside the object's %d bytes", off, len(r.data)))}
	}
	n := min(len(p), len(r.data)-int(off))
	if err := r.copyFile(p[:n], off, false); err != nil {
		return 0, err
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// WriteAt copies p into the object's bytes at offset off, through the
// segment's file like ReadAt. Bytes that would not fit are an error
// matching ErrSize, and nothing is written then. ErrClosed after Close.
func (r *Region) WriteAt(p []byte, off int64) (int, error) {
	if r.isClosed() {
		return 0, &Error{"write", r.seg.name, ErrClosed}
	}
	if off < 0 || off > int64(len(r.data)) || int64(len(p)) > int64(len(r.data))-off {
		return 0, &Error{"write", r.seg.name, withDetail(ErrSize, fmt.Sprintf("%d bytes at offset %d do not fit the object's %d bytes", len(p), off, len(r.data)))}
	}
	if err := r.copyFile(p, off, true); err != nil {
		return 0, err
	}
	return len(p), nil
}

// copyFile moves p to or from the object at off (in bounds) with pwrite or
// pread, or through the mapping when the file is not usable.
func (r *Region) copyFile(p []byte, off int64, write bool) error {
	if len(p) == 0 {
		return nil
	}
	f := r.seg.ioFile()
	if f == nil {
		if write {
			copy(r.data[off:], p)
		} else {
			copy(p, r.data[off:])
		}
		return nil
	}
	at := r.fileOffset() + off
	for len(p) > 0 {
		var n int
		var err error
		if write {
			n, err = f.WriteAt(p, at)
		} else {
			n, err = f.ReadAt(p, at)
		}
		if n == 0 && err != nil {
			op := "read"
			if write {
				op = "write"
			}
			return &Error{op, r.seg.name, err}
		}
		p, at = p[n:], at+int64(n)
	}
	return nil
}
