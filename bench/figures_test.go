package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mproc/mproc/shm"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func init() {
	// bench.test-fail: a team member whose set-up fails, for the test of
	// how a team reports a dead child.
	registerChild("bench.test-fail", func(m *member) (func() error, error) {
		return nil, errors.New("set-up failed on purpose")
	})
	// bench.test-die: a team member that fails once the clock started.
	registerChild("bench.test-die", func(m *member) (func() error, error) {
		return func() error { return errors.New("died on purpose") }, nil
	})
}

var nameRe = regexp.MustCompile(`^[a-z]+/[a-z0-9-]+$`)

// TestRegistry checks the suite's shape: unique names, mproc first, a
// Python peer and at least one other peer for each figure, and Params
// whose counts divide evenly among processes and batches (or the sides
// would not do the same work).
func TestRegistry(t *testing.T) {
	require.NotEmpty(t, registry)
	seen := map[string]bool{}
	for _, f := range registry {
		assert.Regexp(t, nameRe, f.Name)
		assert.False(t, seen[f.Name], "duplicate %s", f.Name)
		seen[f.Name] = true
		require.Equal(t, KindMproc, f.Sides[0].Kind, f.Name)
		assert.NotEmpty(t, f.Doc, f.Name)
		var py, other int
		for _, s := range f.Sides[1:] {
			switch {
			case s.Kind == KindPython:
				py++
			default:
				other++
			}
			assert.True(t, s.Run != nil || s.Script != "" || s.Prepare != nil, "%s/%s runs nothing", f.Name, s.Name)
		}
		assert.Equal(t, 1, py, "%s: one Python peer", f.Name)
		if !strings.HasSuffix(f.Name, "-pyclient") {
			assert.Positive(t, other, "%s: a Go or limit peer", f.Name)
		}
		s0 := f.Sides[0]
		assert.True(t, s0.Pending != "" || s0.Run != nil || s0.Script != "" || s0.Prepare != nil, "%s: mproc side runs nothing and is not pending", f.Name)
		for _, p := range []Params{f.Quick, f.Full, tiny(f)} {
			assert.Positive(t, p.Ops, f.Name)
			assert.Zero(t, p.Ops%max(p.Procs, 1)%max(p.Batch, 1), "%s: %+v", f.Name, p)
			if p.Batch > 1 {
				assert.Zero(t, (p.Ops/max(p.Procs, 1))%p.Batch, "%s: %+v", f.Name, p)
			}
		}
		assert.GreaterOrEqual(t, f.Full.Ops, f.Quick.Ops, f.Name)
	}
	// Figures sort by package area, in the order of the layers.
	figs := Figures(nil)
	assert.Len(t, figs, len(registry))
	assert.True(t, strings.HasPrefix(figs[0].Name, "futex/"), figs[0].Name)
	assert.True(t, strings.HasPrefix(figs[len(figs)-1].Name, "manager/"), figs[len(figs)-1].Name)
	assert.Len(t, Figures(regexp.MustCompile(`^queue/`)), 6, "-run selects exactly the queue figures")
}

// TestGoSides runs every Go side (mproc's, Go's and the limits) of every
// figure on tiny work: each must do its work and check it (counters add
// up, items arrive whole) without error.
func TestGoSides(t *testing.T) {
	for _, f := range registry {
		p := tiny(f)
		for _, s := range f.Sides {
			if s.Run == nil || s.Pending != "" {
				continue
			}
			t.Run(f.Name+"/"+s.Name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				d, err := s.Run(ctx, p)
				require.NoError(t, err)
				assert.Positive(t, d)
			})
		}
	}
}

// TestPreparedSides runs every side that sets up once per figure — the
// mproc manager server with a Go client, mproc's server with a Python
// client, the Redis peers — through the harness's own prepare, twice each.
func TestPreparedSides(t *testing.T) {
	for _, f := range registry {
		for i := range f.Sides {
			s := &f.Sides[i]
			if s.Pending != "" || (s.Prepare == nil && s.PyExtra == nil) {
				continue
			}
			t.Run(f.Name+"/"+s.Name, func(t *testing.T) {
				if s.Needs != nil {
					if why := s.Needs(); why != "" {
						t.Skip(why)
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				p := tiny(f)
				r := &runner{}
				err := prepare(ctx, f, s, p, r)
				defer func() {
					for _, c := range r.cleanup {
						c()
					}
				}()
				require.NoError(t, err)
				for range 2 { // the second repetition starts afresh too
					d, err := r.run(ctx, p)
					require.NoError(t, err)
					assert.Positive(t, d)
				}
			})
		}
	}
}

// TestRunFigure runs one cheap cross-process figure end to end: all its
// sides, interleaved repetitions, medians and ratios.
func TestRunFigure(t *testing.T) {
	f := *byName(t, "futex/wake-rtt")
	f.Quick = Params{Ops: 200, Procs: 2}
	res := RunFigure(context.Background(), &f, RunOptions{Reps: 2, Timeout: time.Minute})
	assert.Equal(t, "futex/wake-rtt", res.Name)
	for i, s := range res.Sides {
		if s.Kind == KindPython && needPython() != "" {
			assert.Contains(t, s.Status, "skipped")
			continue
		}
		require.Equal(t, "ok", s.Status, s.Name)
		assert.Len(t, s.Values, 2, s.Name)
		assert.Equal(t, 2, s.Summary.N)
		assert.Positive(t, s.Summary.Median)
		if i == 0 {
			assert.Zero(t, s.SpeedUp)
		} else {
			want := SpeedUp(f.Unit, res.Sides[0].Summary.Median, s.Summary.Median)
			assert.InDelta(t, want, s.SpeedUp, 1e-12, s.Name)
		}
	}
}

// TestRunFigureStatuses: a pending mproc side keeps its peers from running
// unless asked, a side that cannot run here is skipped with its reason,
// and a failing side is reported while the others go on.
func TestRunFigureStatuses(t *testing.T) {
	var peerRuns atomic.Int32
	ok := func(ctx context.Context, p Params) (time.Duration, error) {
		peerRuns.Add(1)
		return time.Millisecond, nil
	}
	f := &Figure{Name: "test/statuses", Unit: OpsPerSec, Quick: Params{Ops: 10}, Work: perOp, Sides: []Side{
		{Name: "mproc", Kind: KindMproc, Pending: pending("test")},
		{Name: "good", Kind: KindGo, Run: ok},
		{Name: "absent", Kind: KindRedis, Run: ok, Needs: func() string { return "skipped: not here" }},
		{Name: "bad", Kind: KindLimit, Run: func(ctx context.Context, p Params) (time.Duration, error) {
			return 0, errors.New("boom\non two lines")
		}},
	}}
	res := RunFigure(context.Background(), f, RunOptions{Reps: 3, Timeout: time.Second})
	assert.Equal(t, "pending: package test not built", res.Sides[0].Status)
	assert.Equal(t, "not run: mproc side pending: package test not built", res.Sides[1].Status)
	assert.Zero(t, peerRuns.Load())

	res = RunFigure(context.Background(), f, RunOptions{Reps: 3, Timeout: time.Second, Pending: true})
	assert.Equal(t, "ok", res.Sides[1].Status)
	assert.Len(t, res.Sides[1].Values, 3)
	assert.InDelta(t, 10_000, res.Sides[1].Summary.Median, 1e-6) // 10 ops in 1 ms
	assert.Zero(t, res.Sides[1].SpeedUp, "no ratio without an mproc number")
	assert.Equal(t, "skipped: not here", res.Sides[2].Status)
	assert.Equal(t, "error: boom on two lines", res.Sides[3].Status)
	assert.Equal(t, int32(3), peerRuns.Load(), "the skipped side never ran")
}

// TestTeamChildFails: a child that fails during set-up makes the team's
// wait return its error (with the child's standard error) at once, rather
// than hang until the timeout.
func TestTeamChildFails(t *testing.T) {
	tm, err := startTeam("bench.test-fail", 2, 0)
	require.NoError(t, err)
	defer tm.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	_, err = tm.run(ctx, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set-up failed on purpose")
	assert.Less(t, time.Since(start), 20*time.Second)
	assert.NoError(t, ctx.Err(), "reported before the deadline")
}

// TestPartnerDies: the parent's own waiting loops (spinning or sleeping
// on a word its partner never writes) end as soon as the partner is dead.
func TestPartnerDies(t *testing.T) {
	for _, spin := range []bool{false, true} {
		tm, err := startTeam("bench.test-die", 1, 64)
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		abort := tm.abort(ctx)
		word := shm.Uint32(tm.user(), 0)
		_, err = tm.run(ctx, func() error {
			ok := false
			if spin {
				ok = spinUntil(word, 1, abort)
			} else {
				ok = futexUntil(word, 1, abort)
			}
			if !ok {
				return tm.why(ctx)
			}
			return nil
		})
		require.Error(t, err)
		assert.Contains(t, err.Error(), "died on purpose")
		assert.NoError(t, ctx.Err(), "ended by the death, not the deadline")
		cancel()
		tm.close()
	}
}

// TestCommand runs the command as `go run ./bench` would, on one cheap
// figure, with every output: the table, JSON, Markdown and the chart.
func TestCommand(t *testing.T) {
	f := byName(t, "shm/create-open")
	saved := f.Quick
	f.Quick = Params{Ops: 20, Size: 4096}
	defer func() { f.Quick = saved }()

	dir := t.TempDir()
	jsonFile, svgFile := filepath.Join(dir, "out.json"), filepath.Join(dir, "out.svg")
	var stdout, stderr bytes.Buffer
	code := run([]string{"-run", "^shm/create-open$", "-reps", "2", "-json", jsonFile, "-svg", svgFile, "-markdown"}, &stdout, &stderr)
	require.Equal(t, 0, code, "stderr: %s\nstdout: %s", stderr.String(), stdout.String())

	var rep Report
	b, err := os.ReadFile(jsonFile)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &rep))
	require.Len(t, rep.Figures, 1)
	assert.Equal(t, "quick", rep.Machine.Mode)
	assert.Equal(t, 2, rep.Machine.Reps)
	assert.Positive(t, rep.Machine.Cores)
	assert.NotEmpty(t, rep.Machine.CPU)
	assert.Contains(t, rep.Machine.Command, "-run ^shm/create-open$")
	m := rep.Figures[0].Mproc()
	require.Equal(t, "ok", m.Status)
	assert.Equal(t, 2, m.Summary.N)

	assert.Contains(t, stdout.String(), "| figure | peer | speed-up |")
	assert.Contains(t, stderr.String(), "[1/1] shm/create-open")

	svg, err := os.ReadFile(svgFile)
	require.NoError(t, err)
	rects, _ := parseSVG(t, svg)
	if needPython() == "" {
		assert.Len(t, rects, 1, "one bar: shm/create-open against Python")
	}
}

func TestCommandFlags(t *testing.T) {
	var stdout, stderr bytes.Buffer
	require.Equal(t, 0, run([]string{"-list"}, &stdout, &stderr))
	for _, f := range registry {
		assert.Contains(t, stdout.String(), f.Name)
	}
	assert.Regexp(t, `futex/wake-rtt\s+µs/op\s+real`, stdout.String())

	stdout.Reset()
	assert.Equal(t, 1, run([]string{"-run", "^nothing$"}, &stdout, &stderr))
	assert.Equal(t, 2, run([]string{"-run", "("}, &stdout, &stderr))
	assert.Equal(t, 2, run([]string{"-no-such-flag"}, &stdout, &stderr))
	assert.Equal(t, 2, run([]string{"stray"}, &stdout, &stderr))
}

func TestMachine(t *testing.T) {
	m := describeMachine()
	assert.Positive(t, m.Cores)
	assert.NotEmpty(t, m.CPU)
	assert.True(t, strings.HasPrefix(m.Kernel, "Linux "), m.Kernel)
	assert.True(t, strings.HasPrefix(m.Go, "go"), m.Go)
	l := startLoad()
	v := l.other()
	assert.True(t, v >= 0 && v <= 1, "%v", v)
	assert.Positive(t, machineBusy())
	assert.Positive(t, ownCPU())
}
