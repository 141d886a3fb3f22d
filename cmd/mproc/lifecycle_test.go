//go:build linux

package main

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The acceptance test: a child holding a lock and a half-full
// queue is SIGKILLed; ls reports its objects stale with the right kinds,
// inspect shows the dead owner and the queue's length, clean --dry-run
// lists exactly them, and clean removes exactly them, leaving alone a
// segment of the dead child that a live process still maps and a segment
// whose creator lives.
func TestKilledChildLeftovers(t *testing.T) {
	p := prefix(t)
	lock, queue, shared, alive := p+"lock", p+"queue", p+"shared", p+"alive"
	dead := startMaker(t, objectSpec{lock, "lock-held"}, objectSpec{queue, "queue-half"}, objectSpec{shared, "raw"})
	live := startMaker(t, objectSpec{alive, "raw"})
	deadPid := int32(dead.p.Pid())
	dead.kill(t)

	// This (live) process maps the dead child's "shared" segment.
	s, err := shm.Open(shared, shm.KindAny, 0)
	require.NoError(t, err)
	defer s.Close()

	r := mproc(t, "ls", p+"*")
	require.Equal(t, exitOK, r.code, r)
	require.Len(t, lines(r.stdout), 5, r)
	for _, want := range []struct{ name, kind, creator, mappedBy, status string }{
		{lock, "lock", pidState(deadPid, false), "-", "stale"},
		{queue, "queue", pidState(deadPid, false), "-", "stale"},
		{shared, "raw", pidState(deadPid, false), fmt.Sprint(os.Getpid()), "live"},
		{alive, "raw", pidState(int32(live.p.Pid()), true), fmt.Sprint(live.p.Pid()), "live"},
	} {
		f := row(r.stdout, want.name)
		require.Len(t, f, 9, "NAME KIND SIZE PID (STATE) MAPPED DATE TIME STATUS: %q", f)
		assert.Equal(t, want.kind, f[1], want.name)
		assert.Equal(t, want.creator, f[3]+" "+f[4], want.name)
		assert.Equal(t, want.mappedBy, f[5], want.name)
		assert.Equal(t, want.status, f[8], want.name)
	}

	r = mproc(t, "ls", "--stale", "--json", p+"*")
	require.Equal(t, exitOK, r.code, r)
	var staleNames []string
	for _, s := range jsonOf[[]segmentJSON](t, r.stdout) {
		staleNames = append(staleNames, s.Name)
		assert.True(t, s.Stale)
		assert.Equal(t, &processJS{deadPid, false}, s.Creator)
	}
	assert.Equal(t, []string{lock, queue}, staleNames)

	checkDeadChildState(t, lock, queue, deadPid)

	r = mproc(t, "clean", "--dry-run", p+"*")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, []string{lock, queue}, cleaned(r.stdout, "would remove "))
	assert.ElementsMatch(t, []string{lock, queue, shared, alive}, segmentFiles(t, p), "--dry-run removes nothing")

	r = mproc(t, "clean", p+"*")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, []string{lock, queue}, cleaned(r.stdout, "removed "))
	assert.ElementsMatch(t, []string{shared, alive}, segmentFiles(t, p), "clean removes exactly the stale ones")

	r = mproc(t, "clean", p+"*")
	require.Equal(t, exitOK, r.code, r)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "mproc clean: no stale segments\n", r.stderr)
}

// cleaned returns the names clean printed after verb, sorted.
func cleaned(out, verb string) []string {
	var names []string
	for _, l := range lines(out) {
		if !strings.HasPrefix(l, verb) {
			return append(names, "unexpected line: "+l)
		}
		names = append(names, strings.Fields(strings.TrimPrefix(l, verb))[0])
	}
	sort.Strings(names)
	return names
}

// A large queue item lives in a blob segment of its own, which its
// producer made and no longer maps: it looks stale, but it is an item
// waiting in its queue. clean removes it only with its queue.
func TestBlobsFollowTheirQueue(t *testing.T) {
	p := prefix(t)
	keep, drop := p+"keep", p+"drop"
	c := startMaker(t, objectSpec{keep, "queue-blob"}, objectSpec{drop, "queue-blob"})
	c.kill(t)
	s, err := shm.Open(keep, shm.KindAny, 0) // a live process uses "keep"
	require.NoError(t, err)
	defer s.Close()

	files := segmentFiles(t, p)
	require.Len(t, files, 4, "two queues, two blobs")
	blobOf := func(q string) string {
		for _, f := range files {
			if strings.HasPrefix(f, q+".blob-") {
				return f
			}
		}
		t.Fatalf("no blob of %s in %q", q, files)
		return ""
	}
	keepBlob, dropBlob := blobOf(keep), blobOf(drop)

	r := mproc(t, "ls", p+"*")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, "queued", last(row(r.stdout, keepBlob)), r)
	assert.Equal(t, "queued", last(row(r.stdout, dropBlob)), r)
	assert.Equal(t, "stale", last(row(r.stdout, drop)), r)
	assert.Equal(t, "live", last(row(r.stdout, keep)), r)

	r = mproc(t, "inspect", keepBlob)
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "queue          "+keep+"@0/queue/v1\n")
	assert.Contains(t, r.stdout, "item bytes     1000\n")
	assert.Contains(t, r.stdout, "queue segment  exists")

	r = mproc(t, "rm", keepBlob)
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "an item waiting in queue "+keep)

	r = mproc(t, "clean", "--dry-run", p+"*")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, []string{drop, dropBlob}, cleaned(r.stdout, "would remove "))
	r = mproc(t, "clean", p+"*")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, []string{drop, dropBlob}, cleaned(r.stdout, "removed "))
	assert.ElementsMatch(t, []string{keep, keepBlob}, segmentFiles(t, p))
}
