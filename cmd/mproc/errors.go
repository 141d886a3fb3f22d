//go:build linux

package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"syscall"

	"github.com/mproc/mproc/shm"
)

// Errors the command line reports on top of shm's.
var (
	// errNewerLayout: the object's layout version is newer than this
	// build can decode.
	errNewerLayout = errors.New("newer layout version")
	// errNoDecoder: this build has no decoder for the object's kind.
	errNoDecoder = errors.New("no decoder for this kind")
)

// segmentName turns a command-line NAME into a segment name: a name as ls
// prints it, or the segment's file path (/dev/shm/mproc.NAME).
func segmentName(arg string) (string, error) {
	name := arg
	if p := shm.Path(""); strings.HasPrefix(arg, p) {
		name = strings.TrimPrefix(arg, p)
	} else if strings.HasPrefix(arg, "/") {
		return "", fmt.Errorf("%s is not an mproc segment: mproc segments are files %s*", arg, p)
	}
	if err := shm.ValidateName(name); err != nil {
		return "", fmt.Errorf("%q is not a valid segment name: %v", arg, strings.TrimPrefix(err.Error(), shm.ErrName.Error()+": "))
	}
	return name, nil
}

// describe turns an error about the segment name into a sentence for a
// person: what is wrong and, where there is one, what to do.
func describe(name string, err error) string {
	switch {
	case errors.Is(err, shm.ErrNotExist):
		return fmt.Sprintf("no segment named %q (mproc ls lists them)", name)
	case errors.Is(err, shm.ErrPermission):
		return fmt.Sprintf("%s: permission denied%s", shm.Path(name), ownerHint(name))
	case errors.Is(err, shm.ErrName):
		return fmt.Sprintf("%q is not a valid segment name", name)
	case errors.Is(err, errNewerLayout):
		return fmt.Sprintf("%s: %v; inspect it with a newer mproc", name, err)
	case errors.Is(err, shm.ErrNotMproc):
		if f := headerFormat(name); f > 1 {
			return fmt.Sprintf("%s has header format %d, newer than this mproc reads (1); use a newer mproc", name, f)
		}
		return fmt.Sprintf("%s is not an mproc segment (%s)", shm.Path(name), reason(err))
	case errors.Is(err, shm.ErrIncomplete):
		return fmt.Sprintf("%s was never finished: %s", name, reason(err))
	case errors.Is(err, shm.ErrVersion), errors.Is(err, shm.ErrKind), errors.Is(err, shm.ErrHandle),
		errors.Is(err, shm.ErrShort):
		return fmt.Sprintf("%s: %s", name, reason(err))
	}
	return reason(err)
}

// reason strips shm's "shm: op name: " prefix, which the command line
// replaces with its own context.
func reason(err error) string {
	var se *shm.Error
	if errors.As(err, &se) {
		return se.Err.Error()
	}
	return err.Error()
}

// ownerHint says who owns the segment file and with which mode, when that
// can be found out, so a permission error says whom to run as.
func ownerHint(name string) string {
	fi, err := os.Lstat(shm.Path(name))
	if err != nil {
		return ""
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return ""
	}
	return fmt.Sprintf(" (owned by uid %d, mode %04o; mproc maps segments read-write and removes them as their owner: run it as that user or as root)", st.Uid, fi.Mode().Perm())
}

// headerFormat returns the header format number of a file whose first
// bytes spell mproc's magic, or 0 if they do not. A format above 1 was
// written by a newer mproc; shm reports it as not an mproc segment.
func headerFormat(name string) int {
	f, err := os.Open(shm.Path(name))
	if err != nil {
		return 0
	}
	defer f.Close()
	var b [8]byte
	if _, err := io.ReadFull(f, b[:]); err != nil || string(b[:6]) != "MPROC\x00" || b[7] != 0 {
		return 0
	}
	return int(b[6])
}

// matchAny reports whether name matches one of the shell patterns (all
// names match when there are none).
func matchAny(patterns []string, name string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok {
			return true
		}
	}
	return false
}

// checkPatterns reports the first malformed pattern.
func checkPatterns(patterns []string) error {
	for _, p := range patterns {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("bad pattern %q: %v", p, err)
		}
	}
	return nil
}
