//go:build linux && (amd64 || arm64)

package shm

// getg returns the address of the calling goroutine's runtime g structure
// (goroutine_amd64.s, goroutine_arm64.s).
func getg() uintptr

// Goroutine returns a token that identifies the calling goroutine among the
// goroutines alive in this process: two goroutines running at the same time
// never share it, and it costs about a nanosecond (it is the address of the
// runtime's g structure, read from the register or thread-local slot that
// holds it). Like Python's threading.get_ident, a token may be reused by a
// new goroutine once its goroutine has exited.
//
// RLock uses it as the per-goroutine owner, which is what Python's RLock
// does with thread idents; runtime.Stack parsing gives a never-reused id
// but costs microseconds.
func Goroutine() uint64 { return uint64(getg()) }
