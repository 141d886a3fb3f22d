//go:build linux

package shm

import "fmt"

// Kind says what object a segment or arena block holds. Opening checks it,
// so a name holding a Lock is never read as a Queue. The numbers are part of
// the on-disk layout: never renumber, only append.
type Kind uint32

// The kinds mproc knows. KindAny is only a wildcard for Open; no segment has
// it.
const (
	KindAny              Kind = 0
	KindRaw              Kind = 1 // bytes with no further structure
	KindArena            Kind = 2 // an Arena of many small objects
	KindLock             Kind = 3
	KindRLock            Kind = 4
	KindSemaphore        Kind = 5
	KindBoundedSemaphore Kind = 6
	KindCondition        Kind = 7
	KindEvent            Kind = 8
	KindBarrier          Kind = 9
	KindValue            Kind = 10 // ctypes RawValue / Value
	KindArray            Kind = 11 // ctypes RawArray / Array
	KindQueue            Kind = 12
	KindSimpleQueue      Kind = 13
	KindJoinableQueue    Kind = 14
	KindBlob             Kind = 15 // out-of-line storage for large items
)

var kindNames = map[Kind]string{
	KindAny:              "any",
	KindRaw:              "raw",
	KindArena:            "arena",
	KindLock:             "lock",
	KindRLock:            "rlock",
	KindSemaphore:        "semaphore",
	KindBoundedSemaphore: "boundedsemaphore",
	KindCondition:        "condition",
	KindEvent:            "event",
	KindBarrier:          "barrier",
	KindValue:            "value",
	KindArray:            "array",
	KindQueue:            "queue",
	KindSimpleQueue:      "simplequeue",
	KindJoinableQueue:    "joinablequeue",
	KindBlob:             "blob",
}

// String returns the kind's lower-case name, or "kind(N)" for a number this
// build does not know.
func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", uint32(k))
}

// ParseKind is the inverse of String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return k, nil
		}
	}
	var n uint32
	if _, err := fmt.Sscanf(s, "kind(%d)", &n); err == nil {
		return Kind(n), nil
	}
	return 0, fmt.Errorf("shm: unknown kind %q", s)
}
