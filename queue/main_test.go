package queue_test

import (
	"flag"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/mproc/mproc/process"
	"github.com/mproc/mproc/shm"
)

// soak runs the fault tests for many more rounds: go test -mproc.soak.
var soak = flag.Bool("mproc.soak", false, "run the queue's kill loops for many rounds")

func TestMain(m *testing.M) {
	process.Main()
	os.Exit(m.Run())
}

var unsafeChars = regexp.MustCompile(`[^A-Za-z0-9._-]`)

// segName returns a segment name unique to this test and process, and
// removes the segment when the test ends.
func segName(t testing.TB, suffix ...string) string {
	n := fmt.Sprintf("qt-%d-%s", os.Getpid(), unsafeChars.ReplaceAllString(t.Name(), "_"))
	for _, s := range suffix {
		n += "-" + s
	}
	if len(n) > 150 {
		n = n[:150]
	}
	t.Cleanup(func() { _ = shm.Unlink(n) })
	return n
}
