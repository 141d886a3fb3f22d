package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// RunOptions controls a run of the suite.
type RunOptions struct {
	Full    bool          // the full-size Params and more repetitions
	Reps    int           // measured repetitions per side
	Warmup  int           // unmeasured repetitions per side, first
	Timeout time.Duration // bound on one repetition of one side
	Budget  time.Duration // a side stops repeating once it has spent this long (after one measured repetition)
	Pending bool          // also run the peers of figures whose mproc side is pending
	Log     io.Writer     // progress lines (nil: none)
}

// SideResult is what one side of a figure measured.
type SideResult struct {
	Name string   `json:"name"`
	Kind SideKind `json:"kind"`
	// Status is "ok", or why there are no numbers: "pending: …",
	// "skipped: …", "error: …", "not run: …".
	Status  string    `json:"status"`
	Values  []float64 `json:"values,omitempty"` // one per repetition, in the figure's unit
	Summary Summary   `json:"summary"`
	// SpeedUp is how many times faster mproc is than this side (see
	// SpeedUp); 0 for the mproc side itself and when either has no
	// numbers.
	SpeedUp float64 `json:"speedup,omitempty"`
}

// OK reports whether the side has numbers.
func (s *SideResult) OK() bool { return s.Status == "ok" && s.Summary.N > 0 }

// FigureResult is one figure's line of the report.
type FigureResult struct {
	Name    string       `json:"name"`
	Unit    Unit         `json:"unit"`
	Doc     string       `json:"doc"`
	Params  Params       `json:"params"`
	Sides   []SideResult `json:"sides"`   // Sides[0] is mproc
	Seconds float64      `json:"seconds"` // wall time the figure took
}

// Mproc returns the mproc side.
func (r *FigureResult) Mproc() *SideResult { return &r.Sides[0] }

// Peer returns the first peer of the given kind that has numbers, or nil.
func (r *FigureResult) Peer(k SideKind) *SideResult {
	for i := 1; i < len(r.Sides); i++ {
		if r.Sides[i].Kind == k && r.Sides[i].OK() {
			return &r.Sides[i]
		}
	}
	return nil
}

// runner is one side being measured.
type runner struct {
	res     *SideResult
	run     RunFunc
	spent   time.Duration
	cleanup []func()
}

// RunFigure measures f: every runnable side, repetition by repetition,
// the sides interleaved (their order rotating from one repetition to the
// next) so that a change in the machine's load hits all of them alike.
func RunFigure(ctx context.Context, f *Figure, o RunOptions) FigureResult {
	t0 := time.Now()
	p := f.Quick
	if o.Full {
		p = f.Full
	}
	res := FigureResult{Name: f.Name, Unit: f.Unit, Doc: f.Doc, Params: p}
	res.Sides = make([]SideResult, len(f.Sides))
	for i, s := range f.Sides {
		res.Sides[i] = SideResult{Name: s.Name, Kind: s.Kind, Status: "ok"}
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format, args...)
		}
	}

	var runners []*runner
	defer func() {
		for _, r := range runners {
			for _, c := range r.cleanup {
				c()
			}
		}
	}()
	for i := range f.Sides {
		s, sr := &f.Sides[i], &res.Sides[i]
		switch {
		case s.Pending != "":
			sr.Status = s.Pending
			continue
		case f.Pending() != "" && !o.Pending:
			sr.Status = "not run: mproc side " + f.Pending()
			continue
		}
		if s.Needs != nil {
			if why := s.Needs(); why != "" {
				sr.Status = why
				continue
			}
		}
		r := &runner{res: sr, run: s.Run}
		if err := prepare(ctx, f, s, p, r); err != nil {
			sr.Status = "error: " + oneLine(err)
			for _, c := range r.cleanup {
				c()
			}
			continue
		}
		runners = append(runners, r)
	}

	total := o.Warmup + o.Reps
	for rep := range total {
		for k := range runners {
			r := runners[(rep+k)%len(runners)]
			if r.res.Status != "ok" {
				continue
			}
			if rep >= o.Warmup+1 && o.Budget > 0 && r.spent > o.Budget {
				continue // slow side: fewer repetitions rather than a slow suite
			}
			runtime.GC()
			rctx, cancel := context.WithTimeout(ctx, o.Timeout)
			start := time.Now()
			d, err := r.run(rctx, p)
			r.spent += time.Since(start)
			cancel()
			if err != nil {
				if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
					err = fmt.Errorf("one repetition took longer than %v (-timeout): %w", o.Timeout, err)
				}
				r.res.Status = "error: " + oneLine(err)
				r.res.Values = nil
				logf("  %s: %s\n", r.res.Name, r.res.Status)
				continue
			}
			if rep >= o.Warmup {
				r.res.Values = append(r.res.Values, f.Unit.value(f.Work(p), d))
			}
		}
	}

	for i := range res.Sides {
		sr := &res.Sides[i]
		if sr.Status == "ok" {
			sr.Summary = Summarize(sr.Values)
			if sr.Summary.N == 0 {
				sr.Status = "not run"
			}
		}
	}
	if m := res.Mproc(); m.OK() {
		for i := 1; i < len(res.Sides); i++ {
			if sr := &res.Sides[i]; sr.OK() {
				sr.SpeedUp = SpeedUp(f.Unit, m.Summary.Median, sr.Summary.Median)
			}
		}
	}
	res.Seconds = time.Since(t0).Seconds()
	return res
}

// prepare turns a side into a RunFunc: a Python script is started (once
// per figure), a Prepare hook is run.
func prepare(ctx context.Context, f *Figure, s *Side, p Params, r *runner) error {
	switch {
	case s.Script != "":
		var extra []string
		if s.PyExtra != nil {
			args, cleanup, err := s.PyExtra(ctx, p)
			if err != nil {
				return err
			}
			if cleanup != nil {
				r.cleanup = append(r.cleanup, cleanup)
			}
			extra = args
		}
		w, err := startPy(s.Script, f.Name, p, extra)
		if err != nil {
			return err
		}
		// The script must stop before its server does: cleanups run in
		// order, so put it first.
		r.cleanup = append([]func(){w.close}, r.cleanup...)
		r.run = func(ctx context.Context, _ Params) (time.Duration, error) { return w.run(ctx) }
	case s.Prepare != nil:
		run, cleanup, err := s.Prepare(ctx, p)
		if cleanup != nil {
			r.cleanup = append(r.cleanup, cleanup)
		}
		if err != nil {
			return err
		}
		r.run = run
	}
	if r.run == nil {
		return fmt.Errorf("side %s of %s has nothing to run", s.Name, f.Name)
	}
	return nil
}

// oneLine shortens an error to one line for the table.
func oneLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
