package main

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSummarize(t *testing.T) {
	for _, c := range []struct {
		name string
		xs   []float64
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", []float64{4}, Summary{N: 1, Median: 4, Min: 4, Max: 4, Q1: 4, Q3: 4}},
		{"odd", []float64{9, 1, 5}, Summary{N: 3, Median: 5, Min: 1, Max: 9, Q1: 3, Q3: 7}},
		{"even", []float64{4, 1, 3, 2}, Summary{N: 4, Median: 2.5, Min: 1, Max: 4, Q1: 1.75, Q3: 3.25}},
		{"outlier", []float64{10, 10, 10, 10, 1000}, Summary{N: 5, Median: 10, Min: 10, Max: 1000, Q1: 10, Q3: 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			in := append([]float64(nil), c.xs...)
			assert.Equal(t, c.want, Summarize(c.xs))
			assert.Equal(t, in, c.xs, "Summarize must not reorder its input")
		})
	}
}

func TestSpread(t *testing.T) {
	assert.InDelta(t, 0.1, Summary{Median: 10, Min: 9, Max: 11}.Spread(), 1e-12)
	assert.Zero(t, Summary{}.Spread())
}

func TestSpeedUp(t *testing.T) {
	// Throughputs: mproc/peer.
	assert.InDelta(t, 4, SpeedUp(OpsPerSec, 400, 100), 1e-12)
	assert.InDelta(t, 0.5, SpeedUp(MBPerSec, 50, 100), 1e-12)
	// Latencies: peer/mproc, so that above 1 still means mproc is faster.
	assert.InDelta(t, 4, SpeedUp(MicrosPerOp, 25, 100), 1e-12)
	assert.InDelta(t, 0.25, SpeedUp(MicrosPerOp, 100, 25), 1e-12)
	// Missing numbers give no ratio rather than 0 or Inf pretending to be one.
	assert.Zero(t, SpeedUp(OpsPerSec, 0, 100))
	assert.Zero(t, SpeedUp(OpsPerSec, 100, 0))
	assert.Zero(t, SpeedUp(MicrosPerOp, math.NaN(), 1))
}

func TestUnitValue(t *testing.T) {
	w := Work{Ops: 1000, Bytes: 4e6}
	assert.InDelta(t, 1e6, OpsPerSec.value(w, time.Millisecond), 1e-6)
	assert.InDelta(t, 1, MicrosPerOp.value(w, time.Millisecond), 1e-12)
	assert.InDelta(t, 4000, MBPerSec.value(w, time.Millisecond), 1e-9)
	assert.True(t, OpsPerSec.HigherIsBetter())
	assert.True(t, MBPerSec.HigherIsBetter())
	assert.False(t, MicrosPerOp.HigherIsBetter())
	// The same work in the same time gives the same speed-up whatever the
	// unit: the ratio does not depend on how a figure is expressed.
	fast, slow := 2*time.Millisecond, 6*time.Millisecond
	for _, u := range []Unit{OpsPerSec, MicrosPerOp, MBPerSec} {
		require.InDelta(t, 3, SpeedUp(u, u.value(w, fast), u.value(w, slow)), 1e-9, u)
	}
}
