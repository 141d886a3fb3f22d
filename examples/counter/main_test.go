package main

import (
	"github.com/mproc/mproc/process"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

func TestCounterIsExact(t *testing.T) {
	total, err := run(3)
	if err != nil {
		t.Fatal(err)
	}
	if total != 3*perChild {
		t.Fatalf("total = %d, want %d", total, 3*perChild)
	}
}
