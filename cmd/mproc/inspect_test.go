//go:build linux

package main

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInspectArena(t *testing.T) {
	p := prefix(t)
	c := startMaker(t, objectSpec{p + "pool", "arena"})
	c.kill(t)
	name := p + "pool"

	r := mproc(t, "inspect", name)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "kind       arena (layout v1)\n")
	assert.Contains(t, r.stdout, "status     stale\n")
	assert.Contains(t, r.stdout, "objects: 3\n")
	a, err := shm.OpenArena(name)
	require.NoError(t, err)
	blocks := a.Blocks()
	a.Close()
	require.Len(t, blocks, 3)
	assert.Contains(t, r.stdout, fmt.Sprintf("  %s  (64 bytes)\n    bytes    64\n    content  00000000  66 69 72 73 74", blocks[0].Handle))
	assert.Contains(t, r.stdout, fmt.Sprintf("  %s  (64 bytes)\n    bytes    64\n    content  00000000  73 65 63 6f 6e 64", blocks[1].Handle))
	assert.Contains(t, r.stdout, fmt.Sprintf("  %s@%d  (64 bytes)\n    incomplete: ", name, blocks[2].Handle.Offset))

	in := jsonOf[inspectionJSON](t, mproc(t, "inspect", "--json", name).stdout)
	require.Len(t, in.Objects, 3)
	assert.Equal(t, "raw", in.Objects[1].Kind)
	assert.True(t, in.Objects[1].Complete)
	assert.False(t, in.Objects[2].Complete)
	assert.Equal(t, blocks[1].Handle.Offset, in.Objects[1].Offset)

	// One object by its handle.
	r = mproc(t, "inspect", blocks[1].Handle.String())
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "handle     "+blocks[1].Handle.String()+"\n")
	assert.Contains(t, r.stdout, "|second")
	assert.NotContains(t, r.stdout, "|first")

	// Handles that name nothing.
	for _, h := range []string{
		fmt.Sprintf("%s@%d/raw/v1", name, blocks[1].Handle.Offset+64*100),
		fmt.Sprintf("%s@%d/lock/v1", name, blocks[1].Handle.Offset),
	} {
		r = mproc(t, "inspect", h)
		assert.Equal(t, exitError, r.code, r)
		assert.Contains(t, r.stdout, "state: not shown: ")
	}
}

// inspectionJSON is inspect's JSON output, as a reader decodes it.
type inspectionJSON struct {
	Segment    segmentJSON      `json:"segment"`
	Handle     string           `json:"handle"`
	State      map[string]any   `json:"state"`
	StateError string           `json:"state_error"`
	Objects    []objectJSONRead `json:"objects"`
}

type objectJSONRead struct {
	Handle   string         `json:"handle"`
	Kind     string         `json:"kind"`
	Version  uint32         `json:"version"`
	Offset   uint64         `json:"offset"`
	Size     uint64         `json:"size"`
	Complete bool           `json:"complete"`
	State    map[string]any `json:"state"`
	Error    string         `json:"error"`
}

// Inspecting (and listing) reads objects without changing a byte of them.
func TestInspectChangesNothing(t *testing.T) {
	p := prefix(t)
	var specs []objectSpec
	for kind := range makers {
		specs = append(specs, objectSpec{p + kind, kind})
	}
	c := startMaker(t, specs...)
	c.kill(t)
	names := segmentFiles(t, p) // with the locks of values and conditions, and blobs
	require.Greater(t, len(names), len(specs))
	for _, name := range names {
		t.Run(strings.TrimPrefix(name, p), func(t *testing.T) {
			before, err := os.ReadFile(shm.Path(name))
			require.NoError(t, err)
			for _, args := range [][]string{{"inspect", name}, {"inspect", "--json", name}, {"ls", name}} {
				r := mproc(t, args...)
				require.Equal(t, exitOK, r.code, "%q: %v", args, r)
				require.NotContains(t, r.stdout, "not shown", "every kind has a decoder")
			}
			after, err := os.ReadFile(shm.Path(name))
			require.NoError(t, err)
			require.Equal(t, before, after, "inspect changed the segment")
		})
	}
}
