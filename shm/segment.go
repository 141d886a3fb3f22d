//go:build linux

package shm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/edsrzf/mmap-go"
	"golang.org/x/sys/unix"
)

// Segment is a named shared-memory segment: a file in Dir, mapped into this
// process. It starts with a Header and holds one object, or an Arena of
// many. A Segment is safe for concurrent use; Close it when done (after
// every view of its memory is dead).
type Segment struct {
	name    string
	mem     mmap.MMap
	hdr     Header
	created bool
	refs    atomic.Int32 // Close unmaps when it reaches 0
	gone    atomic.Bool  // set by the Close that unmaps, before it unmaps

	fileMu    sync.Mutex // guards file and fileTried (see fileio.go)
	file      *os.File
	fileTried bool
}

// CreateOptions adjusts Create. A nil *CreateOptions means the defaults.
type CreateOptions struct {
	// Mode is the file's permission bits; 0 means 0600. It is applied
	// exactly (the umask does not narrow it).
	Mode os.FileMode
	// OpenOrCreate opens the segment if the name is taken instead of
	// failing with ErrExist. The existing segment must have the same kind
	// and version and at least the requested payload. A leftover that its
	// creator never finished (creator dead) is removed and created anew.
	OpenOrCreate bool
	// Populate pre-faults the whole mapping (MADV_POPULATE_WRITE), which
	// makes first writes to each page ~6x cheaper. Worth it for rings and
	// large arrays.
	Populate bool
	// Init, if set, runs on the zeroed payload before the segment is
	// published: no other process can open the segment until it returns.
	// An error aborts the creation (the file is removed) and is returned.
	Init func(payload []byte) error
}

// How long Open waits for a creator to publish a segment it is still
// initialising, and for a brand-new file to reach its header size.
var (
	publishWait = 5 * time.Second
	sizeWait    = 200 * time.Millisecond
)

// Create makes a new segment of the given kind and layout version with a
// payload of size bytes (zeroed), maps it, and publishes it. The name must
// pass ValidateName. Without OpenOrCreate an existing name is ErrExist.
func Create(name string, kind Kind, version uint32, size int, opts *CreateOptions) (*Segment, error) {
	if opts == nil {
		opts = &CreateOptions{}
	}
	if err := ValidateName(name); err != nil {
		return nil, &Error{"create", name, err}
	}
	if kind == KindAny {
		return nil, &Error{"create", name, withDetail(ErrKind, "a segment needs a concrete kind")}
	}
	if size <= 0 || uint64(size) > 1<<40 {
		return nil, &Error{"create", name, withDetail(ErrSize, fmt.Sprintf("payload of %d bytes", size))}
	}
	mode := opts.Mode.Perm()
	if mode == 0 {
		mode = 0o600
	}
	for attempt := 0; ; attempt++ {
		s, err := create(name, kind, version, size, mode, opts)
		if !errors.Is(err, ErrExist) || !opts.OpenOrCreate {
			return s, err
		}
		s, err = Open(name, kind, version)
		if err == nil {
			if s.hdr.PayloadSize < uint64(size) {
				s.Close()
				return nil, &Error{"create", name, withDetail(ErrShort,
					fmt.Sprintf("existing payload %d bytes, wanted %d", s.hdr.PayloadSize, size))}
			}
			return s, nil
		}
		if errors.Is(err, ErrIncomplete) && attempt < 3 {
			// A creator died half-way: clear its leftover and try again.
			_ = os.Remove(Path(name))
			continue
		}
		if errors.Is(err, ErrNotExist) && attempt < 3 {
			continue // unlinked between our create and open: race again
		}
		return nil, err
	}
}

func create(name string, kind Kind, version uint32, size int, mode os.FileMode, opts *CreateOptions) (*Segment, error) {
	path := Path(name)
	f, err := openFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, mode)
	if err != nil {
		return nil, &Error{"create", name, osError(err)}
	}
	defer f.Close()
	fail := func(err error) (*Segment, error) {
		_ = os.Remove(path)
		return nil, &Error{"create", name, err}
	}
	if err := f.Chmod(mode); err != nil {
		return fail(osError(err))
	}
	total := HeaderSize + size
	if err := f.Truncate(int64(total)); err != nil {
		return fail(err)
	}
	mem, err := mmap.MapRegion(f, total, mmap.RDWR, 0, 0)
	if err != nil {
		return fail(err)
	}
	writeIdentity(mem, Self())
	if opts.Populate {
		populate(mem)
	}
	writeHeader(mem, kind, version, uint64(size))
	if opts.Init != nil {
		if err := opts.Init(mem[HeaderSize:total:total]); err != nil {
			_ = mem.Unmap()
			return fail(err)
		}
	}
	publishHeader(mem)
	h, _, _ := readHeader(mem)
	s := &Segment{name: name, mem: mem, hdr: h, created: true}
	s.refs.Store(1)
	return s, nil
}

// openFile opens path with open(2) and wraps the descriptor without
// os.OpenFile's poller registration and its fcntl calls: a segment file is
// only mapped, never read through the poller, and creating and opening
// segments is on the path of every object's constructor.
func openFile(path string, flag int, mode os.FileMode) (*os.File, error) {
	fd, err := unix.Open(path, flag, uint32(mode.Perm()))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// populate pre-faults mem, which starts on a page boundary, for writing in
// this process. MADV_POPULATE_WRITE allocates the pages (kernels before
// 5.14 lack it, which only costs the speed-up), but on the kernels we
// measured (6.18, in a VM) it leaves the first access of every page to
// fault again: 8 MiB took 3 ms to populate and then 4-8 ms for a first
// pass reading one byte a page, 0.03 ms once each page had been written.
// So every page is then also touched with an atomic add of zero, which
// installs a writable mapping without changing a byte, even while other
// processes use the memory (the read-modify-write is one locked
// instruction).
func populate(mem []byte) {
	_ = unix.Madvise(mem, unix.MADV_POPULATE_WRITE)
	page := os.Getpagesize()
	for i := 0; i+4 <= len(mem); i += page {
		atomic.AddUint32((*uint32)(unsafe.Pointer(&mem[i])), 0)
	}
}

// Open maps the existing segment name and validates its header: kind must
// equal kind (KindAny accepts any) and the layout version must equal
// version (0 accepts any). If the creator is still initialising the segment,
// Open waits for it (bounded); a segment whose creator died first is
// ErrIncomplete.
func Open(name string, kind Kind, version uint32) (*Segment, error) {
	if err := ValidateName(name); err != nil {
		return nil, &Error{"open", name, err}
	}
	s, err := open(name, kind, version)
	if err != nil {
		return nil, &Error{"open", name, err}
	}
	return s, nil
}

func open(name string, kind Kind, version uint32) (*Segment, error) {
	path := Path(name)
	start := time.Now()
	pause := 50 * time.Microsecond
	for {
		s, retry, err := tryOpen(path, name, start)
		if err != nil {
			return nil, err
		}
		if retry {
			time.Sleep(pause)
			pause = min(2*pause, 10*time.Millisecond)
			continue
		}
		if kind != KindAny && s.hdr.Kind != kind {
			s.Close()
			return nil, withDetail(ErrKind, fmt.Sprintf("holds a %v, not a %v", s.hdr.Kind, kind))
		}
		if version != 0 && s.hdr.Version != version {
			s.Close()
			return nil, withDetail(ErrVersion, fmt.Sprintf("%v layout version %d, this build reads %d", s.hdr.Kind, s.hdr.Version, version))
		}
		return s, nil
	}
}

// tryOpen makes one attempt; retry says the creator is not done yet.
func tryOpen(path, name string, start time.Time) (*Segment, bool, error) {
	f, err := openFile(path, os.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, false, osError(err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if !fi.Mode().IsRegular() {
		return nil, false, withDetail(ErrNotMproc, "not a regular file")
	}
	size := fi.Size()
	if size < HeaderSize {
		if time.Since(start) < sizeWait {
			return nil, true, nil // a creator between create and truncate
		}
		return nil, false, withDetail(ErrShort, fmt.Sprintf("%d bytes, a header alone is %d", size, HeaderSize))
	}
	mem, err := mmap.MapRegion(f, int(size), mmap.RDWR, 0, 0)
	if err != nil {
		return nil, false, err
	}
	h, ok, err := readHeader(mem)
	if err != nil {
		_ = mem.Unmap()
		return nil, false, err
	}
	if !ok {
		_ = mem.Unmap()
		if h.Creator.Pid != 0 && !h.Creator.Alive() {
			return nil, false, withDetail(ErrIncomplete, fmt.Sprintf("creator pid %d died during creation", h.Creator.Pid))
		}
		if h.Creator.Pid == 0 && (time.Since(fi.ModTime()) >= publishWait || time.Since(start) >= publishWait) {
			// A creator records itself right after sizing the file
			// (which sets its mtime), so a file that has had no
			// creator for publishWait will get none: a creator that
			// died at once, or a zero-filled foreign file. Say so,
			// without waiting publishWait again for an old file.
			return nil, false, withDetail(ErrIncomplete, "no creator recorded in the header (its creator died before writing it, or the file is not an mproc segment)")
		}
		if time.Since(start) < publishWait {
			return nil, true, nil
		}
		return nil, false, withDetail(ErrIncomplete, fmt.Sprintf("creator pid %d has not finished after %v", h.Creator.Pid, publishWait))
	}
	if h.PayloadSize == 0 || h.PayloadSize > uint64(size)-HeaderSize {
		// (Compared without adding HeaderSize, which a corrupt payload
		// size near 2^64 would wrap past.)
		_ = mem.Unmap()
		return nil, false, withDetail(ErrShort, fmt.Sprintf("%d bytes, the header says %d of payload after its %d", size, h.PayloadSize, HeaderSize))
	}
	s := &Segment{name: name, mem: mem, hdr: h} // Payload slices off any tail
	s.refs.Store(1)
	return s, false, nil
}

// osError maps the errors of open(2) and friends onto this package's
// sentinels, keeping the OS error inside.
func osError(err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%w (%v)", ErrNotExist, err)
	case errors.Is(err, fs.ErrExist):
		return fmt.Errorf("%w (%v)", ErrExist, err)
	case errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("%w (%v)", ErrPermission, err)
	case errors.Is(err, syscall.ELOOP):
		return withDetail(ErrNotMproc, "a symbolic link")
	case errors.Is(err, syscall.EISDIR):
		return withDetail(ErrNotMproc, "a directory")
	}
	return err
}

// Name returns the segment's name (without Dir and Prefix).
func (s *Segment) Name() string { return s.name }

// Header returns the segment's header.
func (s *Segment) Header() Header { return s.hdr }

// Created reports whether this Segment value created the segment (as
// opposed to opening an existing one, also through OpenOrCreate).
func (s *Segment) Created() bool { return s.created }

// Payload returns the shared bytes after the header. They are valid until
// Close unmaps them; read and write shared words with sync/atomic. Once
// the segment is unmapped Payload returns nil.
func (s *Segment) Payload() []byte {
	if s.gone.Load() {
		return nil
	}
	end := HeaderSize + int(s.hdr.PayloadSize)
	return s.mem[HeaderSize:end:end]
}

// tryRetain adds a reference (Close unmaps only when every holder closed)
// unless the last one is gone (the segment unmapped, or about to be): a
// reference is never taken back from zero.
func (s *Segment) tryRetain() bool {
	for {
		n := s.refs.Load()
		if n <= 0 {
			return false
		}
		if s.refs.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Close drops this holder's reference and unmaps the segment when it was
// the last. It does not remove the name (see Unlink). Closing more times
// than the segment was opened and retained returns ErrClosed.
func (s *Segment) Close() error {
	n := s.refs.Add(-1)
	if n < 0 {
		s.refs.Add(1)
		return &Error{"close", s.name, ErrClosed}
	}
	if n == 0 {
		s.gone.Store(true)
		s.closeFile()
		return s.mem.Unmap()
	}
	return nil
}

// Unlink removes the segment's name; processes that have it mapped keep
// using it until they close it.
func (s *Segment) Unlink() error { return Unlink(s.name) }

// Unlink removes the segment named name. Like shm_unlink(3), it removes
// only a file: a directory under that name is ErrNotMproc and stays.
func Unlink(name string) error {
	if err := ValidateName(name); err != nil {
		return &Error{"unlink", name, err}
	}
	// unlink(2), not os.Remove, which would also rmdir an empty directory.
	if err := unix.Unlink(Path(name)); err != nil {
		return &Error{"unlink", name, osError(&os.PathError{Op: "unlink", Path: Path(name), Err: err})}
	}
	return nil
}
