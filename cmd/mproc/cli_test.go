//go:build linux

package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/mproc/mproc/semaphore"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHelp(t *testing.T) {
	r := mproc(t)
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, "Usage: mproc COMMAND")

	r = mproc(t, "--help")
	assert.Equal(t, exitOK, r.code, r)
	for name := range commands {
		assert.Contains(t, r.stdout, "\n  "+name+" ", "the command list names %s", name)
	}

	for name, c := range commands {
		for _, args := range [][]string{{name, "--help"}, {name, "-h"}, {"help", name}} {
			r := mproc(t, args...)
			assert.Equal(t, exitOK, r.code, "%q: %v", args, r)
			assert.True(t, strings.HasPrefix(r.stdout, "Usage: mproc "+name+" "+c.synopsis+"\n"), "%q: %v", args, r)
			assert.Empty(t, r.stderr)
		}
	}

	r = mproc(t, "frobnicate")
	assert.Equal(t, exitUsage, r.code, r)
	assert.Contains(t, r.stderr, `unknown command "frobnicate"`)
	r = mproc(t, "help", "frobnicate")
	assert.Equal(t, exitUsage, r.code, r)
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"ls", "--bogus"},
		{"ls", "[bad-pattern"},
		{"inspect"},
		{"inspect", "a", "b"},
		{"rm"},
		{"clean", "--dry-run=maybe"},
		{"manager"},
		{"manager", "run"},
		{"manager", "serve"},
		{"manager", "serve", "--address", "127.0.0.1:0"},
		{"manager", "serve", "--address", "127.0.0.1:0", "--authkey-file", "k", "extra"},
	} {
		r := mproc(t, args...)
		assert.Equal(t, exitUsage, r.code, "%q: %v", args, r)
		assert.Contains(t, r.stderr, "Usage: mproc "+args[0], "%q", args)
		assert.Empty(t, r.stdout, "%q", args)
	}
}

// Flags may follow the positional arguments, and "--" ends the flags.
func TestFlagsAnywhere(t *testing.T) {
	p := prefix(t)
	makeHere(t, "raw", p+"a")
	r := mproc(t, "ls", p+"*", "--json")
	require.Equal(t, exitOK, r.code, r)
	got := jsonOf[[]segmentJSON](t, r.stdout)
	require.Len(t, got, 1)
	assert.Equal(t, p+"a", got[0].Name)

	r = mproc(t, "ls", "--", "--json")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, []string{"NAME  KIND  SIZE  CREATOR  MAPPED BY  CREATED  STATUS"}, lines(r.stdout),
		"after --, --json is a pattern that matches nothing")
}

func TestNotAnMprocSegment(t *testing.T) {
	p := prefix(t)
	require.NoError(t, os.WriteFile(shm.Path(p+"junk"), []byte(strings.Repeat("not mproc ", 20)), 0o600))
	// A header written by a (hypothetical) newer mproc: format 2.
	newer := make([]byte, shm.HeaderSize+64)
	copy(newer, "MPROC\x00\x02\x00")
	require.NoError(t, os.WriteFile(shm.Path(p+"newer"), newer, 0o600))

	r := mproc(t, "inspect", p+"junk")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stdout, "not an mproc segment")

	r = mproc(t, "inspect", p+"newer")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stdout, "header format 2, newer than this mproc reads (1)")

	r = mproc(t, "ls", p+"*")
	require.Equal(t, exitOK, r.code, r)
	assert.Equal(t, "not-mproc", last(row(r.stdout, p+"junk")), r)
	assert.Equal(t, "newer", last(row(r.stdout, p+"newer")), r)

	// clean leaves what is not (readably) mproc's alone.
	r = mproc(t, "clean", p+"*")
	assert.Equal(t, exitOK, r.code, r)
	assert.Empty(t, r.stdout)
	assert.ElementsMatch(t, []string{p + "junk", p + "newer"}, segmentFiles(t, p))

	for _, args := range [][]string{
		{"inspect", p + "missing"}, {"rm", p + "missing"},
	} {
		r := mproc(t, args...)
		assert.Equal(t, exitError, r.code, r)
		assert.Contains(t, r.stderr, `no segment named "`+p+`missing" (mproc ls lists them)`)
	}
	for _, args := range [][]string{
		{"inspect", "../etc/passwd"}, {"inspect", "/etc/passwd"}, {"rm", "a b"}, {"inspect", "x@1/lock/v1"},
	} {
		r := mproc(t, args...)
		assert.Equal(t, exitError, r.code, "%q: %v", args, r)
		assert.NotEmpty(t, r.stderr)
		assert.NotContains(t, r.stderr, "panic")
	}
}

func TestPermissionDenied(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the command as another user")
	}
	p := prefix(t)
	makeHere(t, "raw", p+"private") // 0600, owned by root
	r := mprocAs(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "inspect", p+"private")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stdout+r.stderr, "permission denied")
	assert.Contains(t, r.stdout+r.stderr, "owned by uid 0, mode 0600")

	r = mprocAs(t, &syscall.Credential{Uid: 65534, Gid: 65534}, "rm", "--force", p+"private")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "permission denied")
	assert.Equal(t, []string{p + "private"}, segmentFiles(t, p))
}

func TestRm(t *testing.T) {
	p := prefix(t)
	makeHere(t, "raw", p+"mine") // created and mapped by this live process
	c := startMaker(t, objectSpec{p + "dead", "raw"})
	c.kill(t)

	r := mproc(t, "rm", p+"mine")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, p+"mine is in use (creator")
	assert.Contains(t, r.stderr, "--force")

	r = mproc(t, "rm", p+"mine@0/raw/v1")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stderr, "rm removes whole segments (mproc rm "+p+"mine)")

	r = mproc(t, "rm", shm.Path(p+"dead"), p+"missing")
	assert.Equal(t, exitError, r.code, r, "one of two failed")
	assert.Equal(t, "removed "+p+"dead\n", r.stdout)
	assert.Equal(t, []string{p + "mine"}, segmentFiles(t, p))

	r = mproc(t, "rm", "--force", p+"mine")
	assert.Equal(t, exitOK, r.code, r)
	assert.Empty(t, segmentFiles(t, p))
}

func TestInspectRaw(t *testing.T) {
	p := prefix(t)
	makeHere(t, "raw", p+"raw")
	r := mproc(t, "inspect", p+"raw")
	require.Equal(t, exitOK, r.code, r)
	assert.Contains(t, r.stdout, "kind       raw (layout v1)\n")
	assert.Contains(t, r.stdout, "creator    "+pidState(int32(os.Getpid()), true)+"\n")
	assert.Contains(t, r.stdout, "|hello, shared wo|")
	assert.Contains(t, r.stdout, "\n  bytes           100\n  first 64 bytes  00000000  68 65 6c 6c 6f")

	in := jsonOf[map[string]any](t, mproc(t, "inspect", "--json", p+"raw").stdout)
	state := in["state"].(map[string]any)
	assert.EqualValues(t, 100, state["bytes"])
	assert.True(t, strings.HasPrefix(state["first_64_bytes"].(string), "68656c6c6f"), state)
	seg := in["segment"].(map[string]any)
	assert.Equal(t, "raw", seg["kind"])
	assert.Equal(t, []any{float64(os.Getpid())}, seg["mapped_by"])
	assert.True(t, slices.Contains([]string{"live"}, seg["status"].(string)))
}

func TestNewerLayoutVersion(t *testing.T) {
	p := prefix(t)
	r0, err := shm.CreateObject(p+"lock-v9", shm.KindLock, 9, 64, nil)
	require.NoError(t, err)
	defer r0.Close()
	r := mproc(t, "inspect", p+"lock-v9")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stdout, "kind       lock (layout v9)\n")
	assert.Contains(t, r.stdout, "state: not shown: newer layout version: lock layout version 9 is newer than this mproc reads ("+fmt.Sprint(semaphore.LayoutVersion(shm.KindLock))+")")

	in := jsonOf[inspectionJSON](t, mproc(t, "inspect", "--json", p+"lock-v9").stdout)
	assert.Contains(t, in.StateError, "newer than this mproc reads")
	assert.Nil(t, in.State)

	future, err := shm.CreateObject(p+"future", shm.Kind(99), 1, 64, nil)
	require.NoError(t, err)
	defer future.Close()
	r = mproc(t, "inspect", p+"future")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stdout, "kind       kind(99) (layout v1)\n")
	assert.Contains(t, r.stdout, "kind(99) is a kind this mproc does not know")

	// The same in an arena: the other objects are still shown.
	a, err := shm.NewArena(p+"pool", 1024, nil)
	require.NoError(t, err)
	defer a.Close()
	_, err = a.Alloc(shm.KindEvent, 7, 128, nil)
	require.NoError(t, err)
	_, err = a.Alloc(shm.KindRaw, 1, 8, nil)
	require.NoError(t, err)
	r = mproc(t, "inspect", p+"pool")
	assert.Equal(t, exitError, r.code, r)
	assert.Contains(t, r.stdout, "/event/v7  (128 bytes)\n    newer layout version: event layout version 7 is newer than this mproc reads (1)\n")
	assert.Contains(t, r.stdout, "/raw/v1  (64 bytes)\n    bytes    64\n    content  (64 zero bytes)\n")
}

// run, in this process: what the binary runs.
func TestRunInProcess(t *testing.T) {
	p := prefix(t)
	makeHere(t, "event-set", p+"ev")
	var out, errb strings.Builder
	code := run(t.Context(), []string{"inspect", "--json", p + "ev"}, &out, &errb)
	require.Equal(t, exitOK, code, errb.String())
	in := jsonOf[inspectionJSON](t, out.String())
	assert.Equal(t, map[string]any{"set": true, "times_set": float64(1), "waiters": float64(0)}, in.State)

	out.Reset()
	assert.Equal(t, exitUsage, run(t.Context(), []string{"ls", "-x"}, &out, &errb))
	assert.Empty(t, out.String())
}
