//go:build linux

package ctypes_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os/exec"
	"testing"
	"unsafe"

	"github.com/mproc/mproc/ctypes"
	"github.com/mproc/mproc/shm"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPythonBenchScripts runs testdata/sharedctypes_bench.py (Python's side
// of this package's benchmarks, for bench/) on small inputs and checks that
// it prints one parseable JSON line with the documented keys and right
// results.
func TestPythonBenchScripts(t *testing.T) {
	py := python(t)
	run := func(args ...string) map[string]any {
		t.Helper()
		cmd := exec.CommandContext(t.Context(), py, append([]string{"testdata/sharedctypes_bench.py"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "%v: %s", args, stderr.String())
		lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
		require.Len(t, lines, 1, "one line of JSON: %q", out)
		var m map[string]any
		require.NoError(t, json.Unmarshal(lines[0], &m))
		assert.Equal(t, true, m["ok"])
		assert.Equal(t, args[0], m["bench"])
		assert.NotEmpty(t, m["python"])
		assert.NotEmpty(t, m["start"])
		assert.Greater(t, m["seconds"], 0.0)
		return m
	}
	m := run("locked", "--procs", "2", "--ops", "2000")
	assert.Equal(t, 4000.0, m["ops"])
	assert.Equal(t, 4000.0, m["total"])
	assert.Greater(t, m["ops_per_sec"], 0.0)
	m = run("unlocked", "--procs", "2", "--ops", "2000")
	assert.Equal(t, m["ops"].(float64)-m["total"].(float64), m["lost"])
	m = run("fillsum", "--n", "10000")
	assert.Equal(t, 0.5*10000*9999/2, m["sum"])
	for _, k := range []string{"create_s", "child_s", "sum_s"} {
		assert.Contains(t, m, k)
	}
	run("fillsum", "--n", "1000", "--method", "slice", "--start", "spawn")
}

// Record is testdata/layout_reader.py's ctypes.Structure, field for field.
type Record struct {
	Flag  int8
	ID    int64
	Tags  [3]uint16
	OK    bool
	Inner struct {
		F float32
		G int32
	}
	Score float64
}

// TestPythonReadsTheLayout: Python maps the segment of a RawArray[Record]
// and reads it through a ctypes.Structure with the same fields (so with
// C's layout rules), then writes into it; both sides see the same values.
func TestPythonReadsTheLayout(t *testing.T) {
	py := python(t)
	recs := []Record{
		{Flag: -1, ID: 1 << 40, Tags: [3]uint16{1, 2, 65535}, OK: true, Score: 1.5},
		{Flag: 7, ID: -9, Tags: [3]uint16{4, 5, 6}, Score: -2.25},
		{Flag: 0, ID: 3, OK: true, Score: 1e300},
	}
	recs[0].Inner.F, recs[0].Inner.G = 0.5, -100
	recs[2].Inner.F, recs[2].Inner.G = -3.75, 1<<30
	name := segName(t)
	a, err := ctypes.NewRawArrayFrom(name, recs, nil)
	require.NoError(t, err)
	defer a.Close()

	out, err := exec.CommandContext(t.Context(), py, "testdata/layout_reader.py", shm.Path(name)).Output()
	require.NoError(t, err, "%s", exitStderr(err))
	var got struct {
		Sizeof  int
		Offsets map[string]int
		Count   int
		Records []map[string]any
	}
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, int(unsafe.Sizeof(Record{})), got.Sizeof)
	assert.Equal(t, map[string]int{
		"flag": int(unsafe.Offsetof(Record{}.Flag)), "id": int(unsafe.Offsetof(Record{}.ID)),
		"tags": int(unsafe.Offsetof(Record{}.Tags)), "ok": int(unsafe.Offsetof(Record{}.OK)),
		"inner": int(unsafe.Offsetof(Record{}.Inner)), "score": int(unsafe.Offsetof(Record{}.Score)),
	}, got.Offsets)
	require.Len(t, got.Records, len(recs))
	for i, r := range recs {
		g := got.Records[i]
		assert.Equal(t, float64(r.Flag), g["flag"])
		assert.Equal(t, float64(r.ID), g["id"])
		assert.Equal(t, []any{float64(r.Tags[0]), float64(r.Tags[1]), float64(r.Tags[2])}, g["tags"])
		assert.Equal(t, r.OK, g["ok"])
		assert.Equal(t, float64(r.Inner.F), g["f"])
		assert.Equal(t, float64(r.Inner.G), g["g"])
		assert.Equal(t, r.Score, g["score"])
		assert.Equal(t, -r.Score, a.At(i).Score, "Python's write is seen by Go")
	}
}

// python returns the python3 interpreter itself (not a version-manager
// shim), or skips the test.
func python(t *testing.T) string {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not installed")
	}
	if out, err := exec.Command(py, "-c", "import sys; print(sys.executable)").Output(); err == nil {
		py = string(bytes.TrimSpace(out))
	}
	return py
}

func exitStderr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return string(ee.Stderr)
	}
	return ""
}
