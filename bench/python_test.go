package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// skipWithoutPython skips a test that needs the Python peers.
func skipWithoutPython(t *testing.T) {
	t.Helper()
	if why := needPython(); why != "" {
		t.Skipf("python3 is needed for the Python peers: %s", why)
	}
}

// TestPythonScripts runs every figure's Python side the way the harness
// does (the script started once, two "run" requests on its input, one JSON
// answer each), on tiny work, and checks each answer parses to a positive
// time. A script that does not do its figure's work, mis-names it, or
// prints something unparseable fails here.
func TestPythonScripts(t *testing.T) {
	skipWithoutPython(t)
	for _, f := range registry {
		for _, s := range f.Sides {
			if s.Script == "" || s.PyExtra != nil {
				continue // a Python client of mproc's server is the mproc side, tested with it
			}
			t.Run(f.Name+"/"+s.Name, func(t *testing.T) {
				w, err := startPy(s.Script, f.Name, tiny(f), nil)
				require.NoError(t, err)
				defer w.close()
				for range 2 {
					ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
					d, err := w.run(ctx)
					cancel()
					require.NoError(t, err)
					assert.Positive(t, d)
				}
			})
		}
	}
}

// TestPythonStartMethods runs one cross-process figure per script under
// the "spawn" start method (Python 3.14 makes "forkserver" the default on
// Linux; both re-import the script in the children), with --once.
func TestPythonStartMethods(t *testing.T) {
	skipWithoutPython(t)
	seen := map[string]bool{}
	for _, f := range registry {
		s := f.Sides[1]
		// The first figure of each script that starts children (few of them).
		if s.Kind != KindPython || s.Script == "" || seen[s.Script] || f.Quick.Procs < 1 || f.Quick.Procs > 2 {
			continue
		}
		seen[s.Script] = true
		t.Run(s.Script, func(t *testing.T) {
			t.Parallel()
			args := append([]string{filepath.Join(pyState.dir, s.Script), f.Name, "--once"}, tiny(f).pyArgs()...)
			cmd := exec.Command(pyState.path, args...)
			cmd.Env = append(os.Environ(), "MPROC_BENCH_START_METHOD=spawn")
			out, err := cmd.CombinedOutput()
			require.NoError(t, err, "%s", out)
			assert.Regexp(t, `^\{"seconds": [0-9.e-]+\}\n$`, string(out))
		})
	}
	t.Cleanup(func() { assert.GreaterOrEqual(t, len(seen), 7) })
}

// TestPythonErrors checks that a failing repetition is an error with the
// script's message, not a hang or a bogus time.
func TestPythonErrors(t *testing.T) {
	skipWithoutPython(t)
	w, err := startPy("fig_lock.py", "no/such-figure", Params{Ops: 1}, nil)
	require.NoError(t, err)
	defer w.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = w.run(ctx)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown figure no/such-figure")
}

func TestPyVersionOK(t *testing.T) {
	for v, ok := range map[string]bool{"3.8.0": true, "3.11.7": true, "3.14.0": true, "4.0": true, "3.7.16": false, "2.7.18": false, "": false} {
		assert.Equal(t, ok, pyVersionOK(v), v)
	}
}

// TestScriptsEmbedded checks that every script a figure names is embedded,
// and that each embedded figure script names its figures.
func TestScriptsEmbedded(t *testing.T) {
	for _, f := range registry {
		for _, s := range f.Sides {
			if s.Script == "" {
				continue
			}
			b, err := pyScripts.ReadFile("python/" + s.Script)
			require.NoError(t, err, "%s: %s", f.Name, s.Script)
			// The figure's name, or the pattern the script builds it from.
			group, _, _ := strings.Cut(f.Name, "/")
			assert.Contains(t, string(b), `"`+group+"/", "%s does not serve %s", s.Script, f.Name)
		}
	}
}
