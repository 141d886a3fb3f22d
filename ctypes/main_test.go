//go:build linux

package ctypes_test

import (
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
)

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// segName returns a segment name unique to this test and process, and
// removes the segment (and the lock a synchronized object made beside it)
// when the test ends.
func segName(t testing.TB, suffix ...string) string {
	n := fmt.Sprintf("test-%d-%s", os.Getpid(), unsafeChars.ReplaceAllString(t.Name(), "_"))
	for _, s := range suffix {
		n += "-" + s
	}
	if len(n) > 180 {
		n = n[len(n)-180:]
	}
	t.Cleanup(func() {
		_ = shm.Unlink(n)
		_ = shm.Unlink(n + ".lock")
	})
	return n
}
