//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/require"
)

// mprocBin is the real command, built once by TestMain. The tests run it
// as a user would, against segments made by child processes.
var mprocBin string

func TestMain(m *testing.M) {
	process.Main()
	dir, err := os.MkdirTemp("", "mproc-cmd-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// World-traversable, so the permission test can run the binary as
	// nobody.
	_ = os.Chmod(dir, 0o755)
	mprocBin = filepath.Join(dir, "mproc")
	// Built without -race even under -race: a race-enabled binary takes
	// seconds to start on a loaded machine, and the tests run it ~100
	// times. The command is one goroutine; the packages it decodes with
	// are race-tested in their own tests.
	if out, err := exec.Command(goTool(), "build", "-o", mprocBin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building mproc: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// goTool finds the go command that is running this test.
func goTool() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// result is one run of the binary.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// mproc runs the binary with args and returns what it printed and its
// exit status.
func mproc(t *testing.T, args ...string) result {
	t.Helper()
	return mprocAs(t, nil, args...)
}

// mprocAs runs the binary with the given credentials (nil: ours).
func mprocAs(t *testing.T, cred *syscall.Credential, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, mprocBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running mproc %q: %v", args, err)
	}
	return result{out.String(), errb.String(), code}
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// prefix returns a name prefix unique to this test and process; every
// segment under it is removed when the test ends. Tests pass prefix+"*"
// to ls and clean so they never touch anybody else's segments.
func prefix(t *testing.T) string {
	p := fmt.Sprintf("cmdtest-%d-%s-", os.Getpid(), unsafeChars.ReplaceAllString(t.Name(), "_"))
	t.Cleanup(func() {
		files, _ := filepath.Glob(shm.Path(p) + "*")
		for _, f := range files {
			_ = os.Remove(f)
		}
	})
	return p
}

// segmentFiles returns the names of the segments under prefix p.
func segmentFiles(t *testing.T, p string) []string {
	files, err := filepath.Glob(shm.Path(p) + "*")
	require.NoError(t, err)
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimPrefix(filepath.Base(f), shm.Prefix))
	}
	return names
}

// lines returns the non-empty lines of s.
func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			out = append(out, l)
		}
	}
	return out
}

// row returns the fields of the line of a table whose first field is
// name, or nil.
func row(out, name string) []string {
	for _, l := range lines(out) {
		if f := strings.Fields(l); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// last returns the last field of a row (the STATUS column of ls), or "".
func last(fields []string) string {
	if len(fields) == 0 {
		return ""
	}
	return fields[len(fields)-1]
}
