package main

import (
	"os"
	"testing"

	"github.com/mproc/mproc/process"
)

func TestMain(m *testing.M) {
	process.Main() // the figures' children are this test binary run again
	code := m.Run()
	pyCleanup()
	os.Exit(code)
}

// tiny returns Params for f small enough for a test: a few operations,
// at most 1 MiB items, and the divisibility the figure needs (Ops a
// multiple of Procs and Batch).
func tiny(f *Figure) Params {
	p := f.Quick
	unit := max(p.Procs, 1) * max(p.Batch, 1)
	ops := 64
	if p.Size >= 64<<10 {
		ops = 4
	}
	p.Ops = min(p.Ops, max(ops/unit, 2)*unit)
	p.Size = min(p.Size, 1<<20)
	return p
}

// byName returns the registered figure named name.
func byName(t *testing.T, name string) *Figure {
	t.Helper()
	for _, f := range registry {
		if f.Name == name {
			return f
		}
	}
	t.Fatalf("no figure %q", name)
	return nil
}
