//go:build linux

package manager

import (
	"runtime"
	"testing"
	"time"
)

// TestProcsGrowth: GOMAXPROCS grows past the blocked readers by 2, at
// least doubling, never beyond base + maxDirectReaders, never down.
func TestProcsGrowth(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	g := newProcsGrowth()
	if g.base != 2 || g.cur != 2 {
		t.Fatalf("base %d cur %d, want 2 2", g.base, g.cur)
	}
	limit := 2 + int(maxDirectReaders)
	for _, step := range []struct{ readers, want int }{
		{1, 2},   // a P is free
		{2, 4},   // every P held: doubled
		{3, 4},   // a P is free
		{4, 8},   // doubled
		{20, 22}, // more than double
		{1, 22},  // fewer readers: no shrinking
		{10_000, limit},
		{20, limit},
	} {
		if got := g.grow(step.readers); got != step.want {
			t.Fatalf("grow(%d) = %d, want %d", step.readers, got, step.want)
		}
		if got := runtime.GOMAXPROCS(0); got != step.want {
			t.Fatalf("after grow(%d): GOMAXPROCS %d, want %d", step.readers, got, step.want)
		}
	}
}

// TestProcsGrowthReaders: once enabled, threads blocking in wireConn reads
// make GOMAXPROCS grow.
func TestProcsGrowthReaders(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	enableProcsGrowth()
	defer func() {
		procsGrowAt.Store(0)
		procsGrower.Store(nil)
	}()
	if at := procsGrowAt.Load(); at != 2 {
		t.Fatalf("procsGrowAt %d after enabling with GOMAXPROCS 2, want 2", at)
	}
	// Two connections with a receive blocked in each.
	done := make(chan error, 2)
	var peers []*wireConn
	for range 2 {
		a, b := wirePair(t, 1<<20)
		peers = append(peers, a)
		go func() {
			_, err := b.recv()
			done <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	// grow sets GOMAXPROCS, then procsGrowAt: wait for both.
	for runtime.GOMAXPROCS(0) < 4 || procsGrowAt.Load() < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("GOMAXPROCS %d, procsGrowAt %d with two receives blocked (directReaders %d)", runtime.GOMAXPROCS(0), procsGrowAt.Load(), directReaders.Load())
		}
		time.Sleep(time.Millisecond)
	}
	for _, a := range peers {
		if err := a.send([]byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
