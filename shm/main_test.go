package shm_test

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
// removes the segment when the test ends.
func segName(t testing.TB, suffix ...string) string {
	n := fmt.Sprintf("test-%d-%s", os.Getpid(), unsafeChars.ReplaceAllString(t.Name(), "_"))
	for _, s := range suffix {
		n += "-" + s
	}
	t.Cleanup(func() { _ = shm.Unlink(n) })
	return n
}
