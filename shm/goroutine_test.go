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

func TestRegionPopulate(t *testing.T) {
	a, err := shm.NewArena(segName(t), 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	r, err := a.Alloc(shm.KindRaw, 1, 300<<10, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	r.Bytes()[5] = 9
	if err := r.Populate(); err != nil {
		t.Fatal(err)
	}
	assert.Equal(t, byte(9), r.Bytes()[5], "populating keeps the contents")
}
