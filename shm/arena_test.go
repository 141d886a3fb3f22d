package shm_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Every block in these tests is filled with a pattern that names its
// writer: word 0 = writer tag, word 1 = block index, word 2 = size, and
// every later word = tag ^ index. checkBlocks verifies them all and that no
// two blocks overlap.

func fill(b []byte, tag, idx uint64) {
	binary.LittleEndian.PutUint64(b[0:], tag)
	binary.LittleEndian.PutUint64(b[8:], idx)
	binary.LittleEndian.PutUint64(b[16:], uint64(len(b)))
	for o := 24; o+8 <= len(b); o += 8 {
		binary.LittleEndian.PutUint64(b[o:], tag^idx)
	}
}

func blockSize(i int) int { return 24 + 8*(i%37) }

// allocLoop allocates n blocks (n < 0: until the arena is full) from the
// arena named name, filling each.
func allocLoop(name string, tag uint64, n int) (int, error) {
	a, err := shm.OpenArena(name)
	if err != nil {
		return 0, err
	}
	defer a.Close()
	i := 0
	for ; n < 0 || i < n; i++ {
		r, err := a.Alloc(shm.KindRaw, 1, blockSize(i), func(b []byte) error {
			fill(b[:blockSize(i)], tag, uint64(i))
			return nil
		})
		if err != nil {
			if n < 0 {
				return i, nil
			}
			return i, err
		}
		r.Close()
	}
	return i, nil
}

func init() {
	process.Register("shm-alloc", func(a *process.Args) error {
		_, err := allocLoop(a.String(0), uint64(os.Getpid()), a.Int(1))
		return err
	})
}

type region struct{ off, size uint64 }

func checkBlocks(t *testing.T, a *shm.Arena) (perTag map[uint64]int, incomplete int) {
	t.Helper()
	perTag = map[uint64]int{}
	var regions []region
	for _, blk := range a.Blocks() {
		regions = append(regions, region{blk.Handle.Offset, blk.Size})
		if !blk.Complete {
			incomplete++
			continue
		}
		r, err := shm.Attach(blk.Handle, 24)
		require.NoError(t, err)
		b := r.Bytes()
		tag, idx := binary.LittleEndian.Uint64(b[0:]), binary.LittleEndian.Uint64(b[8:])
		size := int(binary.LittleEndian.Uint64(b[16:]))
		require.Equal(t, blockSize(int(idx)), size, "block at %d: size word", blk.Handle.Offset)
		for o := 24; o+8 <= size; o += 8 {
			require.Equal(t, tag^idx, binary.LittleEndian.Uint64(b[o:]), "block at %d word %d overwritten", blk.Handle.Offset, o)
		}
		perTag[tag]++
		r.Close()
	}
	sort.Slice(regions, func(i, j int) bool { return regions[i].off < regions[j].off })
	for i := 1; i < len(regions); i++ {
		require.LessOrEqual(t, regions[i-1].off+regions[i-1].size, regions[i].off, "blocks overlap")
	}
	return perTag, incomplete
}

func TestArenaConcurrentGoroutines(t *testing.T) {
	name := segName(t)
	a, err := shm.NewArena(name, 1<<20, &shm.ArenaOptions{Entries: 4096})
	require.NoError(t, err)
	defer a.Close()
	var wg sync.WaitGroup
	for g := 1; g <= 8; g++ {
		wg.Go(func() {
			n, err := allocLoop(name, uint64(g), 300)
			assert.NoError(t, err)
			assert.Equal(t, 300, n)
		})
	}
	wg.Wait()
	perTag, incomplete := checkBlocks(t, a)
	assert.Zero(t, incomplete)
	assert.Len(t, perTag, 8)
	for tag, n := range perTag {
		assert.Equal(t, 300, n, "writer %d", tag)
	}
}

func TestArenaConcurrentProcesses(t *testing.T) {
	name := segName(t)
	a, err := shm.NewArena(name, 4<<20, &shm.ArenaOptions{Entries: 8192})
	require.NoError(t, err)
	defer a.Close()
	const perChild = 2000
	var procs []*process.Process
	for i := 0; i < 3; i++ {
		p, err := process.Start("shm-alloc", &process.Options{Args: []any{name, perChild}})
		require.NoError(t, err)
		procs = append(procs, p)
	}
	n, err := allocLoop(name, 1, perChild) // the parent allocates at the same time
	require.NoError(t, err)
	require.Equal(t, perChild, n)
	for _, p := range procs {
		require.NoError(t, p.Join(t.Context()))
		code, _ := p.ExitCode()
		require.Equal(t, 0, code)
	}
	perTag, incomplete := checkBlocks(t, a)
	assert.Zero(t, incomplete)
	assert.Equal(t, perChild, perTag[1])
	for _, p := range procs {
		assert.Equal(t, perChild, perTag[uint64(p.Pid())], "child %d", p.Pid())
	}
}

func TestArenaSurvivesKilledAllocator(t *testing.T) {
	name := segName(t)
	a, err := shm.NewArena(name, 8<<20, &shm.ArenaOptions{Entries: 1 << 16})
	require.NoError(t, err)
	defer a.Close()
	for round := 0; round < 5; round++ {
		before := len(a.Blocks())
		p, err := process.Start("shm-alloc", &process.Options{Args: []any{name, -1}})
		require.NoError(t, err)
		// Kill it in the middle of its allocation loop: once it has made
		// progress, at whatever instruction it is on.
		deadline := time.Now().Add(10 * time.Second)
		for len(a.Blocks()) < before+50+round*37 && time.Now().Before(deadline) {
			if !p.IsAlive() {
				break
			}
		}
		require.True(t, p.IsAlive(), "child finished before it could be killed")
		require.NoError(t, p.Kill())
		require.NoError(t, p.Join(t.Context()))
		code, _ := p.ExitCode()
		require.Equal(t, -9, code)
	}
	_, incomplete := checkBlocks(t, a)
	assert.LessOrEqual(t, incomplete, 5, "at most one block per killed allocator")
	// The arena stays usable for everyone else.
	n, err := allocLoop(name, 2, 100)
	require.NoError(t, err)
	assert.Equal(t, 100, n)
	perTag, _ := checkBlocks(t, a)
	assert.Equal(t, 100, perTag[2])
}

func TestArenaLimits(t *testing.T) {
	a, err := shm.NewArena(segName(t), 256, &shm.ArenaOptions{Entries: 3})
	require.NoError(t, err)
	defer a.Close()
	_, err = a.Alloc(shm.KindRaw, 1, 0, nil)
	assert.ErrorIs(t, err, shm.ErrSize)
	_, err = a.Alloc(shm.KindArena, 1, 8, nil)
	assert.ErrorIs(t, err, shm.ErrKind)
	_, err = a.Alloc(shm.KindRaw, 1, 300, nil)
	assert.ErrorIs(t, err, shm.ErrArenaFull)
	for i := 0; i < 3; i++ {
		r, err := a.Alloc(shm.KindRaw, 1, 8, nil)
		require.NoError(t, err)
		r.Close()
	}
	_, err = a.Alloc(shm.KindRaw, 1, 8, nil)
	assert.ErrorIs(t, err, shm.ErrArenaFull)
	_, err = shm.NewArena(segName(t, "neg"), -1, nil)
	assert.ErrorIs(t, err, shm.ErrSize)

	// A failed init leaves an incomplete block that attaching reports.
	b, err := shm.NewArena(segName(t, "init"), 256, nil)
	require.NoError(t, err)
	defer b.Close()
	_, err = b.Alloc(shm.KindRaw, 1, 8, func([]byte) error { return fmt.Errorf("no") })
	require.Error(t, err)
	blocks := b.Blocks()
	require.Len(t, blocks, 1)
	assert.False(t, blocks[0].Complete)
}

func TestArenaCorruptedHeader(t *testing.T) {
	name := segName(t)
	a, err := shm.NewArena(name, 256, nil)
	require.NoError(t, err)
	binary.LittleEndian.PutUint64(a.Segment().Payload()[8:], 1<<40) // capacity
	a.Close()
	_, err = shm.OpenArena(name)
	assert.ErrorIs(t, err, shm.ErrNotMproc)
}
