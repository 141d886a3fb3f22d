package main

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Unit is what a figure's number means. Every unit has a direction (higher
// or lower is better), which is how a ratio is turned into a speed-up.
type Unit string

// The units figures use.
const (
	OpsPerSec   Unit = "ops/s" // operations per second, higher is better
	MicrosPerOp Unit = "µs/op" // microseconds per operation, lower is better
	MBPerSec    Unit = "MB/s"  // 10^6 bytes per second, higher is better
)

// HigherIsBetter reports whether a larger value in this unit is faster.
func (u Unit) HigherIsBetter() bool { return u != MicrosPerOp }

// value converts one repetition (work done in elapsed) to this unit.
func (u Unit) value(w Work, elapsed time.Duration) float64 {
	s := elapsed.Seconds()
	if s <= 0 {
		s = 1e-9
	}
	switch u {
	case MicrosPerOp:
		return s * 1e6 / w.Ops
	case MBPerSec:
		return w.Bytes / s / 1e6
	default:
		return w.Ops / s
	}
}

// Params is the work of one repetition of a figure, the same for every
// side: the Python scripts get it on their command line.
type Params struct {
	Ops   int `json:"ops"`             // operations (per process where the figure says so)
	Size  int `json:"size,omitempty"`  // item or buffer size in bytes
	Procs int `json:"procs,omitempty"` // processes (or goroutines) per role
	Batch int `json:"batch,omitempty"` // items per batch
}

// pyArgs is Params as the Python scripts read it.
func (p Params) pyArgs() []string {
	return []string{
		"--ops", fmt.Sprint(p.Ops), "--size", fmt.Sprint(p.Size),
		"--procs", fmt.Sprint(p.Procs), "--batch", fmt.Sprint(p.Batch),
	}
}

// Work is what one repetition accomplishes, for converting its time to
// the figure's unit.
type Work struct {
	Ops   float64 // operations (for ops/s and µs/op)
	Bytes float64 // bytes moved (for MB/s)
}

// SideKind says what a side is, for the table and the chart.
type SideKind string

// The kinds of side. The first side of every figure is KindMproc; the
// others are its peers.
const (
	KindMproc  SideKind = "mproc"
	KindPython SideKind = "python" // Python 3 multiprocessing (or Python talking to mproc)
	KindGo     SideKind = "go"     // Go's in-process baseline
	KindLimit  SideKind = "limit"  // hardware or kernel limit, written directly with syscalls and atomics
	KindRedis  SideKind = "redis"  // redis-server on loopback
)

// RunFunc runs one repetition of a side and returns the measured time of
// the work alone (process start-up and set-up excluded).
type RunFunc func(ctx context.Context, p Params) (time.Duration, error)

// Side is one implementation of a figure's work.
type Side struct {
	Name string
	Kind SideKind
	// Pending, if set, says why this side cannot run in this build (its
	// package has not landed yet); the side is reported, not run.
	Pending string
	// Run measures one repetition (Go sides).
	Run RunFunc
	// Script is the Python script (under python/) that does the work;
	// the figure's name and Params are its arguments. Extra adds
	// arguments (see PyExtra).
	Script string
	// PyExtra, if set, returns extra script arguments and a cleanup; it
	// runs once before the script starts (the mproc manager server the
	// Python client talks to, for instance).
	PyExtra func(ctx context.Context, p Params) (args []string, cleanup func(), err error)
	// Needs, if set, returns why this side cannot run on this machine
	// ("" when it can): no python3, no redis-server.
	Needs func() string
	// Prepare, if set, runs once before the repetitions and returns the
	// RunFunc to use and a cleanup (a server started once per figure).
	Prepare func(ctx context.Context, p Params) (RunFunc, func(), error)
}

// Figure is one line of the comparison: a unit of work done by mproc and
// by its peers.
type Figure struct {
	Name  string // "group/what", selected by -run
	Unit  Unit
	Doc   string // what one operation is, and the layout
	Quick Params // the default (quick) run
	Full  Params // -full
	// Work converts Params to the work one repetition does.
	Work  func(p Params) Work
	Sides []Side // Sides[0] is mproc
}

// Pending reports the reason the mproc side cannot run, or "".
func (f *Figure) Pending() string { return f.Sides[0].Pending }

var registry []*Figure

// register adds figures to the suite; the figures_*.go files call it from
// init functions.
func register(fs ...*Figure) {
	for _, f := range fs {
		if len(f.Sides) == 0 || f.Sides[0].Kind != KindMproc {
			panic("bench: figure " + f.Name + ": first side must be mproc")
		}
		if f.Work == nil {
			panic("bench: figure " + f.Name + ": no Work")
		}
		for _, g := range registry {
			if g.Name == f.Name {
				panic("bench: figure " + f.Name + " registered twice")
			}
		}
		registry = append(registry, f)
	}
}

// figureOrder is the order of groups in the table; figures in the same
// group keep their registration order.
var figureOrder = []string{"futex", "shm", "lock", "rlock", "event", "semaphore", "condition", "barrier", "value", "rawarray", "queue", "pickle", "pipe", "manager"}

// Figures returns the registered figures whose names match re (all if re
// is nil), in table order.
func Figures(re *regexp.Regexp) []*Figure {
	var out []*Figure
	for _, f := range registry {
		if re == nil || re.MatchString(f.Name) {
			out = append(out, f)
		}
	}
	rank := func(f *Figure) int {
		g, _, _ := strings.Cut(f.Name, "/")
		if i := slices.Index(figureOrder, g); i >= 0 {
			return i
		}
		return len(figureOrder)
	}
	slices.SortStableFunc(out, func(a, b *Figure) int { return rank(a) - rank(b) })
	return out
}

// pending is the Pending text of an mproc side whose package has not been
// built yet.
func pending(pkg string) string { return "pending: package " + pkg + " not built" }

// perOp is a Work function for figures whose unit counts Params.Ops
// operations in total.
func perOp(p Params) Work { return Work{Ops: float64(p.Ops)} }

// perByte is a Work function for figures moving Ops items of Size bytes.
func perByte(p Params) Work {
	return Work{Ops: float64(p.Ops), Bytes: float64(p.Ops) * float64(p.Size)}
}
