package main

import (
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
)

// Bar is one bar of the chart: a figure and mproc's speed-up over a peer.
type Bar struct {
	Label   string
	SpeedUp float64
}

// pythonBars returns, for every figure with numbers on both sides, mproc's
// speed-up over Python multiprocessing.
func pythonBars(r *Report) []Bar {
	var bars []Bar
	for i := range r.Figures {
		f := &r.Figures[i]
		if !f.Mproc().OK() {
			continue
		}
		if p := f.Peer(KindPython); p != nil && p.SpeedUp > 0 {
			bars = append(bars, Bar{Label: f.Name, SpeedUp: p.SpeedUp})
		}
	}
	return bars
}

// logDomain returns the decades [lo, hi] (powers of 10) that hold every
// value and 1.
func logDomain(bars []Bar) (lo, hi float64) {
	lo, hi = 1, 1
	for _, b := range bars {
		lo, hi = math.Min(lo, b.SpeedUp), math.Max(hi, b.SpeedUp)
	}
	lo = math.Pow(10, math.Floor(math.Log10(lo)))
	hi = math.Pow(10, math.Ceil(math.Log10(hi)))
	if lo == hi {
		lo, hi = lo/10, hi*10
	}
	if hi/lo < 100 { // at least two decades, so the bars keep proportions
		if lo == 1 {
			hi = math.Max(hi, 100)
		} else {
			lo, hi = lo/10, math.Max(hi, lo*10)
		}
	}
	return lo, hi
}

// WriteSVG draws the bars as a horizontal bar chart on a log scale, each
// bar running from 1× (no difference) to the speed-up: right and green
// where mproc is faster, left and red where it is slower. It needs no
// library: the chart is a few dozen SVG elements.
func WriteSVG(w io.Writer, title, footer string, bars []Bar) error {
	const (
		width  = 960
		labelW = 250 // figure names
		left   = labelW + 20
		right  = width - 70
		top    = 64
		rowH   = 24
		barH   = 16
	)
	height := top + rowH*max(len(bars), 1) + 64
	lo, hi := logDomain(bars)
	x := func(v float64) float64 {
		return left + (right-left)*(math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="13">`+"\n", width, height, width, height)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%d" y="26" font-size="17" font-weight="bold">%s</text>`+"\n", 12, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="46" fill="#555">speed-up over Python multiprocessing on the same work (log scale; right of 1× mproc is faster)</text>`+"\n", 12)

	bottom := top + rowH*max(len(bars), 1)
	// Decade grid lines, and the 1× line in black.
	for v := lo; v <= hi*1.0001; v *= 10 {
		stroke, sw := "#ddd", 1
		if math.Abs(v-1) < 1e-9 {
			stroke, sw = "#000", 2
		}
		xv := x(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="%d"/>`+"\n", xv, top-6, xv, bottom, stroke, sw)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#333">%s</text>`+"\n", xv, bottom+18, strconv.FormatFloat(v, 'g', -1, 64)+"×")
	}
	if len(bars) == 0 {
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555">no figure has both an mproc and a Python result in this run</text>`+"\n", left+10, top+16)
	}
	for i, bar := range bars {
		y := top + i*rowH
		x1, xv := x(1), x(bar.SpeedUp)
		color, anchor, tx := "#2e7d32", "start", xv+5
		if bar.SpeedUp < 1 {
			color, anchor, tx = "#c62828", "end", xv-5
			if tx-60 < left { // no room left of a long bar: label it right of the 1× line
				anchor, tx = "start", x1+5
			}
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", labelW, y+barH-3, html.EscapeString(bar.Label))
		fmt.Fprintf(&b, `<rect x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"/>`+"\n", math.Min(x1, xv), y, math.Max(math.Abs(xv-x1), 1), barH, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="%s" font-weight="bold">%s</text>`+"\n", tx, y+barH-3, anchor, fmtRatio(bar.SpeedUp))
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" fill="#555" font-size="11">%s</text>`+"\n", 12, height-12, html.EscapeString(footer))
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
