package main

import (
	"os"
	"testing"

	"github.com/mproc/mproc/process"
)

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

// The tour runs as the README shows it, and its own checks hold: every job
// is counted exactly once although a process died holding the lock.
func TestTour(t *testing.T) {
	if err := run(3, 2_000); err != nil {
		t.Fatal(err)
	}
}
