//go:build linux

package shm

import (
	"fmt"
	"strconv"
	"strings"
)

// Handle names one shared object wherever it lives: the segment, the
// payload offset of the object (0 for an object that has a segment of its
// own; a block offset in an Arena), its kind and its layout version. A
// Handle is a plain value: pass it to another process as text (it
// implements encoding.TextMarshaler, so it travels in JSON, flags and
// environment variables) and Attach it there.
//
// The text form is "SEGMENT@OFFSET/KIND/vVERSION", for example
// "jobs@0/lock/v1" or "pool@4160/event/v1".
type Handle struct {
	Segment string
	Offset  uint64
	Kind    Kind
	Version uint32
}

// String returns the text form.
func (h Handle) String() string {
	return fmt.Sprintf("%s@%d/%v/v%d", h.Segment, h.Offset, h.Kind, h.Version)
}

// MarshalText implements encoding.TextMarshaler.
func (h Handle) MarshalText() ([]byte, error) {
	if err := h.validate(); err != nil {
		return nil, err
	}
	return []byte(h.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (h *Handle) UnmarshalText(b []byte) error {
	p, err := ParseHandle(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHandle parses the text form of a Handle.
func ParseHandle(s string) (Handle, error) {
	bad := func(why string) (Handle, error) {
		return Handle{}, withDetail(ErrHandle, fmt.Sprintf("%q: %s", s, why))
	}
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return bad("want SEGMENT@OFFSET/KIND/vVERSION")
	}
	parts := strings.Split(s[at+1:], "/")
	if len(parts) != 3 || !strings.HasPrefix(parts[2], "v") {
		return bad("want SEGMENT@OFFSET/KIND/vVERSION")
	}
	off, err := strconv.ParseUint(parts[0], 10, 64)
	if err != nil {
		return bad("offset is not a number")
	}
	kind, err := ParseKind(parts[1])
	if err != nil {
		return bad("unknown kind")
	}
	v, err := strconv.ParseUint(parts[2][1:], 10, 32)
	if err != nil {
		return bad("version is not a number")
	}
	h := Handle{Segment: s[:at], Offset: off, Kind: kind, Version: uint32(v)}
	if err := h.validate(); err != nil {
		return Handle{}, err
	}
	return h, nil
}

func (h Handle) validate() error {
	if err := ValidateName(h.Segment); err != nil {
		return withDetail(ErrHandle, err.Error())
	}
	if h.Kind == KindAny || h.Kind == KindArena {
		return withDetail(ErrHandle, fmt.Sprintf("a handle names an object, not %v", h.Kind))
	}
	if h.Offset%blockAlign != 0 {
		return withDetail(ErrHandle, fmt.Sprintf("offset %d is not %d-byte aligned", h.Offset, blockAlign))
	}
	return nil
}
