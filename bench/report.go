package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Report is a whole run: the machine and every figure's result. It is
// what -json writes.
type Report struct {
	Machine Machine        `json:"machine"`
	Figures []FigureResult `json:"figures"`
}

// speedUpNote explains the ratio column; every output starts with it.
const speedUpNote = "speed-up = how many times faster mproc is than the peer on the same work (ratio of medians; above 1× mproc is faster)"

// fmtNum prints a measurement with 3 significant digits, with k/M
// suffixes for large values.
func fmtNum(v float64) string {
	switch a := math.Abs(v); {
	case v == 0:
		return "0"
	case a >= 1e9:
		return sig3(v/1e9) + "G"
	case a >= 1e6:
		return sig3(v/1e6) + "M"
	case a >= 1e4:
		return sig3(v/1e3) + "k"
	default:
		return sig3(v)
	}
}

// sig3 formats v with 3 significant digits and no exponent.
func sig3(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a == 0:
		return "0"
	}
	d := int(-math.Floor(math.Log10(a))) + 2
	return fmt.Sprintf("%.*f", d, v)
}

// fmtRatio prints a speed-up ("3.2×").
func fmtRatio(r float64) string {
	if r <= 0 {
		return "–"
	}
	return sig3(r) + "×"
}

// fmtMeasure prints a median with its spread ("12.3 ±4%").
func fmtMeasure(s Summary) string {
	return fmt.Sprintf("%s ±%.0f%%", fmtNum(s.Median), 100*s.Spread())
}

// sideLabel names a peer with its kind ("chan (go)").
func sideLabel(s *SideResult) string {
	if s.Kind == KindMproc || s.Name == string(s.Kind) {
		return s.Name
	}
	return s.Name + " (" + string(s.Kind) + ")"
}

// row is one line of the comparison: a figure and one peer.
type row struct {
	figure, peer, speedUp, mproc, peerVal, unit, reps string
}

// rows lays the report out, one row per (figure, peer), the speed-up
// right after the names. A figure where nothing ran gets one row saying
// why. Long statuses (skip and error messages) become numbered notes,
// returned in order, so that the table stays narrow.
func rows(r *Report) ([]row, []string) {
	var (
		out   []row
		notes []string
	)
	short := func(status string) string {
		if len(status) <= 40 {
			return status
		}
		kind, _, _ := strings.Cut(status, ":")
		for i, n := range notes {
			if n == status {
				return fmt.Sprintf("%s [%d]", kind, i+1)
			}
		}
		notes = append(notes, status)
		return fmt.Sprintf("%s [%d]", kind, len(notes))
	}
	for i := range r.Figures {
		f := &r.Figures[i]
		m := f.Mproc()
		mval := short(m.Status)
		if m.OK() {
			mval = fmtMeasure(m.Summary)
		}
		ran := m.OK()
		for j := 1; j < len(f.Sides); j++ {
			ran = ran || f.Sides[j].OK()
		}
		if !ran { // nothing measured: one row saying why
			out = append(out, row{figure: f.Name, peer: short(m.Status), unit: string(f.Unit)})
			continue
		}
		first := true
		for j := 1; j < len(f.Sides); j++ {
			s := &f.Sides[j]
			rw := row{peer: sideLabel(s), unit: string(f.Unit), speedUp: "–", peerVal: short(s.Status)}
			if first {
				rw.figure, rw.mproc = f.Name, mval
				first = false
			}
			if s.OK() {
				rw.speedUp, rw.peerVal = fmtRatio(s.SpeedUp), fmtMeasure(s.Summary)
				rw.reps = fmt.Sprintf("%d/%d", m.Summary.N, s.Summary.N)
			}
			out = append(out, rw)
		}
		if first { // no peers at all
			out = append(out, row{figure: f.Name, mproc: mval, unit: string(f.Unit), reps: fmt.Sprint(m.Summary.N)})
		}
	}
	return out, notes
}

// header describes the run in one line.
func (m Machine) header() string {
	py := "no python3"
	if m.Python != "" {
		py = "Python " + m.Python
	}
	s := fmt.Sprintf("%s run, %d repetitions, %d cores (%s), %s, %s, %s", m.Mode, m.Reps, m.Cores, m.CPU, m.Kernel, m.Go, py)
	if m.Redis != "" {
		s += ", redis " + m.Redis
	}
	return s
}

// loadNote describes the other work on the machine during the run.
func (m Machine) loadNote() string {
	if m.OtherLoad < 0.05 {
		return fmt.Sprintf("other processes used %.0f%% of the machine's CPU time during the run", 100*m.OtherLoad)
	}
	return fmt.Sprintf("the machine had other work running: other processes used %.0f%% of its CPU time during the run, so bare times are noisy; the ratios, taken side by side in one run, hold better", 100*m.OtherLoad)
}

// WriteText writes the table for a terminal.
func WriteText(w io.Writer, r *Report) error {
	fmt.Fprintf(w, "mproc bench: %s\n%s\n\n", r.Machine.header(), speedUpNote)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "FIGURE\tPEER\tSPEED-UP\tMPROC\tPEER VALUE\tUNIT\tREPS")
	rws, notes := rows(r)
	for _, rw := range rws {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rw.figure, rw.peer, rw.speedUp, rw.mproc, rw.peerVal, rw.unit, rw.reps)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for i, n := range notes {
		fmt.Fprintf(w, "[%d] %s\n", i+1, n)
	}
	_, err := fmt.Fprintf(w, "\nvalues: median ±half the min–max range, over REPS repetitions (mproc/peer); %s; %.0f s in all\n", r.Machine.loadNote(), r.Machine.Seconds)
	return err
}

// mdCell escapes a table cell.
func mdCell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// WriteMarkdown writes the report as a Markdown section: the machine, the
// command, then the table.
func WriteMarkdown(w io.Writer, r *Report) error {
	m := r.Machine
	fmt.Fprintf(w, "## Latest %s run\n\n", m.Mode)
	fmt.Fprintf(w, "- date: %s\n- command: `%s`\n- machine: %d cores, %s; %s\n- Go %s; Python %s", m.Date, m.Command, m.Cores, m.CPU, m.Kernel, strings.TrimPrefix(m.Go, "go"), orNone(m.Python))
	if m.Redis != "" {
		fmt.Fprintf(w, "; redis-server %s", m.Redis)
	} else {
		fmt.Fprintf(w, "; no redis-server (its peers skipped)")
	}
	fmt.Fprintf(w, "\n- %d repetitions per side, %.0f s in all; %s\n\n", m.Reps, m.Seconds, m.loadNote())
	fmt.Fprintf(w, "%s. Values are medians ±half the min–max range; REPS counts the repetitions of mproc/the peer.\n\n", strings.ToUpper(speedUpNote[:1])+speedUpNote[1:])
	fmt.Fprintln(w, "| figure | peer | speed-up | mproc | peer value | unit | reps |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|---|--:|")
	rws, notes := rows(r)
	for _, rw := range rws {
		fig := rw.figure
		if fig != "" {
			fig = "`" + fig + "`"
		}
		sp := rw.speedUp
		if sp != "" && sp != "–" {
			sp = "**" + sp + "**"
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", fig, mdCell(rw.peer), sp, rw.mproc, mdCell(rw.peerVal), rw.unit, rw.reps)
	}
	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	for i, n := range notes {
		fmt.Fprintf(w, "%d. %s\n", i+1, mdCell(n))
	}
	fmt.Fprintln(w, "\nWhat each figure measures:")
	fmt.Fprintln(w)
	for i := range r.Figures {
		f := &r.Figures[i]
		fmt.Fprintf(w, "- `%s` (%s): %s\n", f.Name, paramText(f.Params), f.Doc)
	}
	return nil
}

// paramText prints a figure's Params compactly.
func paramText(p Params) string {
	s := fmt.Sprintf("ops=%d", p.Ops)
	if p.Size > 0 {
		s += fmt.Sprintf(", size=%d", p.Size)
	}
	if p.Procs > 0 {
		s += fmt.Sprintf(", procs=%d", p.Procs)
	}
	if p.Batch > 1 {
		s += fmt.Sprintf(", batch=%d", p.Batch)
	}
	return s
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// WriteJSON writes the report as indented JSON.
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
