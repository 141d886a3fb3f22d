package shm_test

import (
	"sync"
	"testing"

	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
)

func TestGoroutineTokens(t *testing.T) {
	me := shm.Goroutine()
	assert.NotZero(t, me)
	assert.Equal(t, me, shm.Goroutine(), "stable within a goroutine")

	// 100 goroutines alive at the same time have 100 distinct tokens.
	const n = 100
	tokens := make([]uint64, n)
	var started, release sync.WaitGroup
	started.Add(n)
	release.Add(1)
	var done sync.WaitGroup
	for i := range n {
		done.Go(func() {
			tokens[i] = shm.Goroutine()
			started.Done()
			release.Wait()
			assert.Equal(t, tokens[i], shm.Goroutine())
		})
	}
	started.Wait()
	seen := map[uint64]bool{me: true}
	for _, tok := range tokens {
		assert.False(t, seen[tok], "token shared by two live goroutines")
		seen[tok] = true
	}
	release.Done()
	done.Wait()
}

func BenchmarkGoroutine(b *testing.B) {
	for b.Loop() {
		_ = shm.Goroutine()
	}
}

// Populate touches every page of the object (and the shared pages at its
// ends) with atomic adds of zero: no byte of it or of its arena
// neighbours changes.
func TestRegionPopulate(t *testing.T) {
	a, err := shm.NewArena(segName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var rs []*shm.Region
	for _, size := range []int{1000, 300 << 10, 5000} { // the middle one spans pages both ends share
		r, err := a.Alloc(shm.KindRaw, 1, size, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		for i := range r.Bytes() {
			r.Bytes()[i] = byte(i*7 + 1)
		}
		rs = append(rs, r)
	}
	if err := rs[1].Populate(); err != nil {
		t.Fatal(err)
	}
	for k, r := range rs {
		for i, b := range r.Bytes() {
			if b != byte(i*7+1) {
				t.Fatalf("object %d byte %d is %d after Populate, want %d", k, i, b, byte(i*7+1))
			}
		}
	}
}
