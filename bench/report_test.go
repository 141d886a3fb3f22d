package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// sampleReport is a run with a measured figure (mproc 4× faster than
// Python, half as fast as a Go baseline, one peer skipped with a long
// message), a latency figure, and a pending one.
func sampleReport() *Report {
	side := func(name string, k SideKind, xs ...float64) SideResult {
		return SideResult{Name: name, Kind: k, Status: "ok", Values: xs, Summary: Summarize(xs)}
	}
	thr := FigureResult{Name: "queue/small-1p1c", Unit: OpsPerSec, Doc: "items/s", Params: Params{Ops: 100, Size: 64, Procs: 1},
		Sides: []SideResult{
			side("mproc Queue", KindMproc, 380, 400, 420),
			side("python", KindPython, 100, 100, 100),
			side("chan", KindGo, 800, 800, 800),
			{Name: "redis", Kind: KindRedis, Status: "skipped: no redis-server on PATH, so this peer could not be measured at all"},
		}}
	lat := FigureResult{Name: "pipe/roundtrip", Unit: MicrosPerOp, Doc: "round trip", Params: Params{Ops: 10, Size: 64, Procs: 2},
		Sides: []SideResult{
			side("mproc Conn", KindMproc, 10, 10, 10),
			side("python", KindPython, 50, 50, 50),
		}}
	for _, f := range []*FigureResult{&thr, &lat} {
		for i := 1; i < len(f.Sides); i++ {
			if f.Sides[i].OK() {
				f.Sides[i].SpeedUp = SpeedUp(f.Unit, f.Sides[0].Summary.Median, f.Sides[i].Summary.Median)
			}
		}
	}
	pend := FigureResult{Name: "lock/uncontended", Unit: MicrosPerOp, Doc: "a pair",
		Sides: []SideResult{
			{Name: "mproc lock", Kind: KindMproc, Status: pending("semaphore")},
			{Name: "python", Kind: KindPython, Status: "not run: mproc side " + pending("semaphore")},
		}}
	return &Report{
		Machine: Machine{Date: "2025-01-02 03:04 UTC", Command: "go run ./bench", Mode: "quick", Reps: 3, Cores: 2,
			CPU: "Test CPU", Kernel: "Linux 6.0", Go: "go1.26", Python: "3.11.7", OtherLoad: 0.4, Seconds: 12},
		Figures: []FigureResult{thr, lat, pend},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	r := sampleReport()
	var buf bytes.Buffer
	require.NoError(t, WriteJSON(&buf, r))
	var back Report
	require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
	assert.Equal(t, *r, back)
	// The field names machines read.
	for _, key := range []string{`"speedup": 4`, `"median": 400`, `"unit": "ops/s"`, `"status": "pending: package semaphore not built"`, `"other_load": 0.4`} {
		assert.Contains(t, buf.String(), key)
	}
}

func TestTextLeadsWithRatios(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteText(&buf, sampleReport()))
	out := buf.String()
	lines := strings.Split(out, "\n")
	var header string
	for _, l := range lines {
		if strings.HasPrefix(l, "FIGURE") {
			header = l
		}
	}
	require.NotEmpty(t, header, out)
	assert.Less(t, strings.Index(header, "SPEED-UP"), strings.Index(header, "MPROC"), "the ratio comes before the times")
	assert.Regexp(t, `queue/small-1p1c\s+python\s+4\.00×\s+400 ±5%\s+100 ±0%\s+ops/s\s+3/3`, out)
	assert.Regexp(t, `chan \(go\)\s+0\.500×`, out)
	assert.Regexp(t, `pipe/roundtrip\s+python\s+5\.00×\s+10\.0 ±0%\s+50\.0 ±0%\s+µs/op`, out)
	assert.Regexp(t, `lock/uncontended\s+pending: package semaphore not built`, out)
	// A long status becomes a numbered note under the table.
	assert.Regexp(t, `redis\s+–\s+skipped \[1\]`, out)
	assert.Contains(t, out, "[1] skipped: no redis-server on PATH")
	assert.Contains(t, out, "the machine had other work running: other processes used 40%")
}

func TestMarkdown(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteMarkdown(&buf, sampleReport()))
	out := buf.String()
	for _, want := range []string{
		"## Latest quick run",
		"- date: 2025-01-02 03:04 UTC",
		"- command: `go run ./bench`",
		"- machine: 2 cores, Test CPU; Linux 6.0",
		"Go 1.26; Python 3.11.7",
		"| figure | peer | speed-up | mproc | peer value | unit | reps |",
		"| `queue/small-1p1c` | python | **4.00×** | 400 ±5% | 100 ±0% | ops/s | 3/3 |",
		"| `lock/uncontended` | pending: package semaphore not built |",
		"1. skipped: no redis-server on PATH",
		"- `pipe/roundtrip` (ops=10, size=64, procs=2): round trip",
	} {
		assert.Contains(t, out, want)
	}
}

func TestFmtNum(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.0123456: "0.0123", 0.5: "0.500", 1.234: "1.23", 12.34: "12.3", 123.4: "123",
		9999: "9999", 12345: "12.3k", 1234567: "1.23M", 2.5e9: "2.50G",
	} {
		assert.Equal(t, want, fmtNum(v), "%v", v)
	}
	assert.Equal(t, "–", fmtRatio(0))
	assert.Equal(t, "120×", fmtRatio(120.4))
}
