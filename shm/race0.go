//go:build !race

package shm

// RaceEnabled reports whether the race detector is compiled in.
const RaceEnabled = false

// RaceAcquire does nothing without the race detector; see race.go.
func RaceAcquire(addr *uint32) {}

// RaceReleaseMerge does nothing without the race detector; see race.go.
func RaceReleaseMerge(addr *uint32) {}

// RaceDisable does nothing without the race detector; see race.go.
func RaceDisable() {}

// RaceEnable does nothing without the race detector; see race.go.
func RaceEnable() {}
