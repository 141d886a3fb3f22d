package main

import (
	"math"
	"slices"
)

// Summary describes the repetitions of one side of a figure, in the
// figure's unit.
type Summary struct {
	N      int     `json:"n"`
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Q1     float64 `json:"q1"` // first quartile
	Q3     float64 `json:"q3"` // third quartile
}

// Summarize computes the median, extremes and quartiles of xs (which it
// does not modify). Quartiles interpolate linearly between order
// statistics (the "type 7" rule of R and NumPy). An empty xs gives the
// zero Summary.
func Summarize(xs []float64) Summary {
	if len(xs) == 0 {
		return Summary{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return Summary{
		N:      len(s),
		Median: quantile(s, 0.5),
		Min:    s[0],
		Max:    s[len(s)-1],
		Q1:     quantile(s, 0.25),
		Q3:     quantile(s, 0.75),
	}
}

// quantile returns the q-quantile of the sorted, non-empty s.
func quantile(s []float64, q float64) float64 {
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := int(math.Ceil(pos))
	if lo == hi {
		return s[lo]
	}
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

// Spread is the relative half-width of the min–max range around the
// median (0.05 = ±5 %), the noise figure printed beside each median.
func (s Summary) Spread() float64 {
	if s.Median == 0 {
		return 0
	}
	return (s.Max - s.Min) / 2 / math.Abs(s.Median)
}

// SpeedUp returns how many times faster mproc is than the peer, from their
// medians in unit u: mproc/peer for throughputs (ops/s, MB/s), peer/mproc
// for latencies (µs/op). Above 1, mproc is faster. It returns 0 when
// either median is missing or zero.
func SpeedUp(u Unit, mproc, peer float64) float64 {
	if mproc <= 0 || peer <= 0 || math.IsNaN(mproc) || math.IsNaN(peer) {
		return 0
	}
	if u.HigherIsBetter() {
		return mproc / peer
	}
	return peer / mproc
}
