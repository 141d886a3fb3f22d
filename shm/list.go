//go:build linux

package shm

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Info describes one segment file in Dir, for finding leaks: what it is,
// who made it, and who still maps it.
type Info struct {
	Name         string // segment name
	Path         string // file path
	Size         int64  // file size in bytes
	Mode         os.FileMode
	Kind         Kind      // from the header (0 if unreadable or unpublished)
	Version      uint32    // layout version from the header
	Creator      Identity  // creator pid and start time
	Created      time.Time // creation time from the header
	CreatorAlive bool      // the creator process (same pid and start time) still runs
	MappedBy     []int     // pids of live processes that map the file (from /proc/*/maps)
	Err          error     // why the header could not be read or validated, if it could not
}

// Stale reports whether the segment is a leftover: its creator is dead and
// no live process maps it, so removing it cannot hurt anybody.
func (i Info) Stale() bool { return !i.CreatorAlive && len(i.MappedBy) == 0 }

// List returns every mproc segment in Dir, sorted by name. It reads the
// headers with pread (it maps nothing, so listing does not make a segment
// look in use) and scans /proc/*/maps once for mappers.
func List() ([]Info, error) {
	entries, err := os.ReadDir(Dir)
	if err != nil {
		return nil, err
	}
	mappers := scanMaps()
	var out []Info
	for _, e := range entries {
		name, ok := nameFromFile(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue
		}
		out = append(out, inspect(name, mappers))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Stat returns the Info of the segment name.
func Stat(name string) (Info, error) {
	if err := ValidateName(name); err != nil {
		return Info{}, &Error{"stat", name, err}
	}
	if _, err := os.Lstat(Path(name)); err != nil {
		return Info{}, &Error{"stat", name, osError(err)}
	}
	return inspect(name, scanMaps()), nil
}

func inspect(name string, mappers map[string][]int) Info {
	path := Path(name)
	info := Info{Name: name, Path: path, MappedBy: mappers[path]}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		info.Err = osError(err)
		return info
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil {
		info.Size, info.Mode = fi.Size(), fi.Mode()
	}
	buf := make([]byte, HeaderSize)
	if _, err := io.ReadFull(f, buf); err != nil {
		info.Err = withDetail(ErrShort, "no complete header")
		return info
	}
	h, ok, err := decodeHeader(buf)
	info.Creator = h.Creator
	info.CreatorAlive = h.Creator.Alive()
	switch {
	case err != nil:
		info.Err = err
	case !ok:
		info.Err = ErrIncomplete
	default:
		info.Kind, info.Version, info.Created = h.Kind, h.Version, h.Created
		if info.Size < HeaderSize || h.PayloadSize > uint64(info.Size)-HeaderSize {
			info.Err = ErrShort
		}
	}
	return info
}

// scanMaps maps each mproc segment path to the pids of live processes that
// map it. Processes whose maps this user cannot read are skipped; deleted
// (unlinked) files are not counted, since their names are free.
func scanMaps() map[string][]int {
	out := map[string][]int{}
	procs, _ := filepath.Glob("/proc/[0-9]*/maps")
	prefix := []byte(filepath.Join(Dir, Prefix))
	for _, m := range procs {
		pid, err := strconv.Atoi(strings.Split(m, "/")[2])
		if err != nil {
			continue
		}
		f, err := os.Open(m)
		if err != nil {
			continue
		}
		seen := map[string]bool{}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			i := bytes.Index(line, prefix)
			if i < 0 || bytes.HasSuffix(line, []byte(" (deleted)")) {
				continue
			}
			path := string(line[i:])
			if !seen[path] {
				seen[path] = true
				out[path] = append(out[path], pid)
			}
		}
		f.Close()
	}
	return out
}
