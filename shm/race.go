//go:build race

package shm

import (
	"runtime"
	"unsafe"
)

// RaceEnabled reports whether the race detector is compiled in.
const RaceEnabled = true

// Race annotations, as golang.org/x/sys/unix/race.go has them, for the
// synchronization that mproc builds out of shared words: the race detector
// cannot see a futex hand-off, so the primitives tell it.
//
// The detector ignores addresses outside Go's heap and data (a shared
// mapping is outside), so addr must be Go memory: a token that stands for
// the shared object in this process, not the shared word itself. Without
// the race detector these functions do nothing and cost nothing.

// RaceAcquire records that the caller has acquired what the last
// RaceReleaseMerge on addr released: a happens-before edge.
func RaceAcquire(addr *uint32) { runtime.RaceAcquire(unsafe.Pointer(addr)) }

// RaceReleaseMerge records a release on addr, merged with earlier ones, so
// that the next RaceAcquire on addr happens after all of them.
func RaceReleaseMerge(addr *uint32) { runtime.RaceReleaseMerge(unsafe.Pointer(addr)) }

// RaceDisable stops race checking for the calling goroutine until
// RaceEnable.
func RaceDisable() { runtime.RaceDisable() }

// RaceEnable undoes RaceDisable.
func RaceEnable() { runtime.RaceEnable() }
