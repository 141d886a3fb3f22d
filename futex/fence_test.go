//go:build linux

package futex_test

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/assert"

	"github.com/mproc/mproc/futex"
	"golang.org/x/sys/unix"
)

// Where membarrier works (this project's machines), an amd64 process may
// release with plain stores; elsewhere it must not.
func TestEnablePlainRelease(t *testing.T) {
	if !futex.CanFence() {
		assert.False(t, futex.EnablePlainRelease(), "plain releases without the waiters' fence")
		t.Skip("membarrier(MEMBARRIER_CMD_GLOBAL_EXPEDITED) is not available here")
	}
	assert.Equal(t, runtime.GOARCH == "amd64", futex.EnablePlainRelease())
	assert.Equal(t, runtime.GOARCH == "amd64", futex.EnablePlainRelease(), "idempotent")
	futex.Fence()
}

// The protocol on a word in this process: a releaser stores 0 with a plain
// store (via a non-atomic write) and then loads the sleeper count; a
// waiter counts itself, sleeps at most FenceDelay until it has fenced.
// 4 goroutines hand a token around 2,000 times; none may be left asleep
// (the test would time out).
func TestPlainReleaseHandOff(t *testing.T) {
	futex.EnablePlainRelease()
	// The words live outside Go's heap, as they do in shared memory (the
	// race detector does not watch such memory; the plain store is
	// deliberate).
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	word, sleepers := (*uint32)(unsafe.Pointer(&mem[0])), (*uint32)(unsafe.Pointer(&mem[64]))
	var held atomic.Int64
	var mu sync.Mutex // only to check exclusion, never contended for long
	acquire := func() {
		fenced, fenceAt := !futex.CanFence(), futex.Now()+futex.FenceDelay
		for {
			if atomic.CompareAndSwapUint32(word, 0, 1) {
				return
			}
			atomic.AddUint32(sleepers, 1)
			for atomic.LoadUint32(word) != 0 {
				if !fenced && futex.Now() >= fenceAt {
					futex.Fence()
					fenced = true
					continue
				}
				dl := int64(0)
				if !fenced {
					dl = fenceAt
				}
				futex.Wait(word, 1, dl)
			}
			atomic.AddUint32(sleepers, ^uint32(0))
		}
	}
	release := func() {
		*word = 0 // the plain store (amd64 keeps it ordered; see fence.go)
		if atomic.LoadUint32(sleepers) != 0 {
			futex.Wake(word, 1)
		}
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				acquire()
				if !mu.TryLock() {
					t.Error("two holders at once")
				}
				held.Add(1)
				mu.Unlock()
				release()
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatalf("a waiter was never woken: %d of 8000 hand-offs", held.Load())
	}
	assert.Equal(t, int64(8000), held.Load())
}

// Waking a word whose memory is gone (a releaser that wakes after another
// goroutine unmapped the object) wakes nobody and does not fail.
func TestWakeUnmapped(t *testing.T) {
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	word := (*uint32)(unsafe.Pointer(&mem[0]))
	if err := unix.Munmap(mem); err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, 0, futex.Wake(word, 1))
}
