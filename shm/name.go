//go:build linux

package shm

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Dir is where segments live, and Prefix starts every mproc file name in it,
// so that everything mproc made can be listed and cleaned.
const (
	Dir    = "/dev/shm"
	Prefix = "mproc."
)

// MaxNameLen bounds a segment name (the file name adds len(Prefix); NAME_MAX
// is 255).
const MaxNameLen = 200

// ValidateName reports whether name can name a segment: 1 to MaxNameLen
// bytes of ASCII letters, digits, '.', '_' and '-', not starting with '.'
// (so no "..", no hidden files, no '/', no NUL). The characters of a handle's
// text form ('@', '/') cannot occur.
func ValidateName(name string) error {
	if name == "" {
		return withDetail(ErrName, "empty name")
	}
	if len(name) > MaxNameLen {
		return withDetail(ErrName, fmt.Sprintf("%d bytes, the limit is %d", len(name), MaxNameLen))
	}
	if name[0] == '.' {
		return withDetail(ErrName, fmt.Sprintf("%q starts with '.'", name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '_' || c == '-'
		if !ok {
			return withDetail(ErrName, fmt.Sprintf("%q has %q at byte %d (allowed: letters, digits, '.', '_', '-')", name, c, i))
		}
	}
	return nil
}

// Path returns the file that holds the segment named name.
func Path(name string) string { return filepath.Join(Dir, Prefix+name) }

// nameFromFile returns the segment name of a file in Dir, and whether the
// file is one of mproc's.
func nameFromFile(file string) (string, bool) {
	if !strings.HasPrefix(file, Prefix) {
		return "", false
	}
	name := strings.TrimPrefix(file, Prefix)
	return name, ValidateName(name) == nil
}
