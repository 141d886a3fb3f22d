// Command bench runs mproc side by side with what a user would otherwise
// pick, on the same work, in one invocation, and prints how many times
// faster (or slower) mproc is than each:
//
//   - Python 3 multiprocessing, through the scripts in python/ (skipped
//     with a message when there is no python3);
//   - Go's in-process baselines: sync.Mutex, sync.Cond, channels;
//   - the hardware and kernel limits, written directly on atomics, futex
//     words and raw socket calls: a futex wake round trip and a spinning
//     cache-line ping-pong between processes, a socketpair, memcpy;
//   - for the manager, a redis-server on loopback (skipped when absent).
//
// Every side of a figure does the same work (item sizes, counts, process
// layout), repetitions of the sides are interleaved, and the table leads
// with ratios of medians, which hold on a busy machine where bare times
// drift.
//
// Usage:
//
//	go run ./bench                      # quick run (under two minutes on 2 cores)
//	go run ./bench -full                # the full suite, more repetitions
//	go run ./bench -run 'lock|queue'    # figures whose names match
//	go run ./bench -list                # the figures and their peers
//	go run ./bench -markdown            # the table as Markdown
//	go run ./bench -json out.json -svg speedup.svg
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/mproc/mproc/process"
)

func main() {
	process.Main() // in a child: run the registered function and exit
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is the command; it returns the exit code.
func run(argv []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		runRe    = fs.String("run", "", "run only the figures whose names match this regular expression")
		quick    = fs.Bool("quick", true, "quick mode: small work, 3 repetitions, the whole suite in under two minutes (the default)")
		full     = fs.Bool("full", false, "full mode: 3x the work, 7 repetitions after a warm-up, under 15 minutes on 2 cores (overrides -quick)")
		reps     = fs.Int("reps", 0, "measured repetitions per side (default 3 quick, 7 full)")
		jsonOut  = fs.String("json", "", "write the results as JSON to this file (- for standard output)")
		markdown = fs.Bool("markdown", false, "print the table as Markdown (with the machine description) instead of text")
		svgOut   = fs.String("svg", "", "draw mproc's speed-up over Python per figure as an SVG bar chart in this file")
		list     = fs.Bool("list", false, "list the figures, their peers and whether their mproc side is built, and exit")
		pyFlag   = fs.String("python", pythonExe, "the Python interpreter for the Python peers")
		redis    = fs.String("redis", redisExe, "the redis-server binary for the manager's Redis peer")
		pend     = fs.Bool("pending", false, "also run the peers of figures whose mproc side is pending")
		timeout  = fs.Duration("timeout", 0, "bound on one repetition of one side (default 10s quick, 1m full)")
	)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: go run ./bench [flags]\n\n%s\n\n", speedUpNote)
		fs.PrintDefaults()
	}
	if err := fs.Parse(argv); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "bench: unexpected arguments %q\n", fs.Args())
		return 2
	}
	pythonExe, redisExe = *pyFlag, *redis
	defer pyCleanup()
	isFull := *full || !*quick

	var re *regexp.Regexp
	if *runRe != "" {
		var err error
		if re, err = regexp.Compile(*runRe); err != nil {
			fmt.Fprintf(stderr, "bench: -run: %v\n", err)
			return 2
		}
	}
	figs := Figures(re)
	if *list {
		writeList(stdout, figs)
		return 0
	}
	if len(figs) == 0 {
		fmt.Fprintf(stderr, "bench: no figure matches %q (see -list)\n", *runRe)
		return 1
	}

	o := RunOptions{Full: isFull, Reps: 3, Timeout: 10 * time.Second, Budget: 3 * time.Second, Pending: *pend, Log: stderr}
	mode := "quick"
	if isFull {
		o.Reps, o.Warmup, o.Timeout, o.Budget, mode = 7, 1, time.Minute, 8*time.Second, "full"
	}
	if *reps > 0 {
		o.Reps = *reps
	}
	if *timeout > 0 {
		o.Timeout = *timeout
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	rep := Report{Machine: describeMachine()}
	rep.Machine.Mode, rep.Machine.Reps = mode, o.Reps
	rep.Machine.Command = "go run ./bench " + strings.Join(argv, " ")
	rep.Machine.Command = strings.TrimSpace(rep.Machine.Command)
	if rep.Machine.Python == "" {
		fmt.Fprintf(stderr, "bench: %s: Python peers skipped\n", strings.TrimPrefix(needPython(), "skipped: "))
	}
	load := startLoad()
	t0 := time.Now()
	for i, f := range figs {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stderr, "[%d/%d] %s", i+1, len(figs), f.Name)
		res := RunFigure(ctx, f, o)
		if p := f.Pending(); p != "" && !o.Pending {
			fmt.Fprintf(stderr, ": %s\n", p)
		} else {
			fmt.Fprintf(stderr, ": %.1f s\n", res.Seconds)
		}
		rep.Figures = append(rep.Figures, res)
	}
	rep.Machine.Seconds = time.Since(t0).Seconds()
	rep.Machine.OtherLoad = load.other()
	if ctx.Err() != nil {
		fmt.Fprintln(stderr, "bench: interrupted")
	}

	code := 0
	fail := func(what string, err error) {
		fmt.Fprintf(stderr, "bench: %s: %v\n", what, err)
		code = 1
	}
	table := stdout
	if *jsonOut == "-" {
		table = stderr
		if err := WriteJSON(stdout, &rep); err != nil {
			fail("json", err)
		}
	} else if *jsonOut != "" {
		if err := writeFile(*jsonOut, func(w io.Writer) error { return WriteJSON(w, &rep) }); err != nil {
			fail("json", err)
		}
	}
	fmt.Fprintln(table)
	if *markdown {
		if err := WriteMarkdown(table, &rep); err != nil {
			fail("markdown", err)
		}
	} else if err := WriteText(table, &rep); err != nil {
		fail("table", err)
	}
	if *svgOut != "" {
		title := "mproc vs Python multiprocessing"
		footer := rep.Machine.header() + "; " + rep.Machine.Date
		if err := writeFile(*svgOut, func(w io.Writer) error { return WriteSVG(w, title, footer, pythonBars(&rep)) }); err != nil {
			fail("svg", err)
		}
	}
	for _, f := range rep.Figures {
		for _, s := range f.Sides {
			if strings.HasPrefix(s.Status, "error") {
				code = 1
			}
		}
	}
	if ctx.Err() != nil {
		code = 130
	}
	return code
}

// writeFile writes a file through fn.
func writeFile(name string, fn func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeList prints the figures, their unit, their peers and the status of
// their mproc side.
func writeList(w io.Writer, figs []*Figure) {
	for _, f := range figs {
		status := "real"
		if p := f.Pending(); p != "" {
			status = p
		}
		var peers []string
		for _, s := range f.Sides[1:] {
			peers = append(peers, s.Name+"("+string(s.Kind)+")")
		}
		fmt.Fprintf(w, "%-28s %-6s %-40s peers: %s\n", f.Name, f.Unit, status, strings.Join(peers, ", "))
		fmt.Fprintf(w, "%-28s quick %s; full %s — %s\n", "", paramText(f.Quick), paramText(f.Full), f.Doc)
	}
}
