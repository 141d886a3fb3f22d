package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type svgRect struct {
	X, Y, Width, Height float64
	Fill                string
}

// parseSVG checks that the chart is well-formed XML and returns its bar
// rectangles (every rect but the background) and its texts.
func parseSVG(t *testing.T, b []byte) (rects []svgRect, texts []string) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(b))
	inText := false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the SVG must be well-formed XML")
		switch e := tok.(type) {
		case xml.StartElement:
			if e.Name.Local == "text" {
				inText = true
				texts = append(texts, "")
			}
			if e.Name.Local != "rect" {
				continue
			}
			var r svgRect
			bg := false
			for _, a := range e.Attr {
				f, _ := strconv.ParseFloat(a.Value, 64)
				switch a.Name.Local {
				case "x":
					r.X = f
				case "y":
					r.Y = f
				case "width":
					r.Width = f
					bg = a.Value == "100%"
				case "height":
					r.Height = f
				case "fill":
					r.Fill = a.Value
				}
			}
			if !bg {
				rects = append(rects, r)
			}
		case xml.CharData:
			if inText {
				texts[len(texts)-1] += string(e)
			}
		case xml.EndElement:
			if e.Name.Local == "text" {
				inText = false
			}
		}
	}
	return rects, texts
}

func TestLogDomain(t *testing.T) {
	for _, c := range []struct {
		bars   []float64
		lo, hi float64
	}{
		{nil, 0.1, 10},
		{[]float64{3}, 1, 100},
		{[]float64{0.3, 40}, 0.1, 100},
		{[]float64{0.02, 2}, 0.01, 10},
		{[]float64{0.5}, 0.01, 1},
		{[]float64{150}, 1, 1000},
	} {
		var bars []Bar
		for _, v := range c.bars {
			bars = append(bars, Bar{SpeedUp: v})
		}
		lo, hi := logDomain(bars)
		assert.InDelta(t, c.lo, lo, 1e-12, "%v", c.bars)
		assert.InDelta(t, c.hi, hi, 1e-12, "%v", c.bars)
		for _, v := range c.bars {
			assert.True(t, lo <= v && v <= hi, "%v outside [%v, %v]", v, lo, hi)
		}
	}
}

func TestSVGBars(t *testing.T) {
	bars := []Bar{{"a/faster", 10}, {"b/slower", 0.1}, {"c/<&>", 3.16}}
	var buf bytes.Buffer
	require.NoError(t, WriteSVG(&buf, "title & co", "footer", bars))
	rects, texts := parseSVG(t, buf.Bytes())
	require.Len(t, rects, 3)
	joined := strings.Join(texts, "|")
	for _, want := range []string{"title & co", "a/faster", "b/slower", "c/<&>", "10.0×", "0.100×", "3.16×", "1×", "0.1×", "10×", "footer"} {
		assert.Contains(t, joined, want)
	}

	// Log scale around 1×: 10× and 0.1× are bars of the same length on
	// either side of the 1× line, and 3.16× (half a decade) is half as long.
	fast, slow, half := rects[0], rects[1], rects[2]
	assert.Equal(t, "#2e7d32", fast.Fill)
	assert.Equal(t, "#c62828", slow.Fill)
	assert.InDelta(t, fast.Width, slow.Width, 0.2)
	assert.InDelta(t, slow.X+slow.Width, fast.X, 0.2, "both bars start at the 1× line")
	assert.InDelta(t, fast.Width/2, half.Width, 0.2)
	assert.InDelta(t, fast.X, half.X, 0.2)
	assert.Less(t, fast.Y, slow.Y, "bars keep the figures' order, top down")
}

func TestSVGEmpty(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, WriteSVG(&buf, "t", "f", nil))
	rects, texts := parseSVG(t, buf.Bytes())
	assert.Empty(t, rects)
	assert.Contains(t, strings.Join(texts, "|"), "no figure has both")
}

func TestPythonBars(t *testing.T) {
	bars := pythonBars(sampleReport())
	require.Len(t, bars, 2, "the pending figure has no bar")
	assert.Equal(t, "queue/small-1p1c", bars[0].Label)
	assert.InDelta(t, 4, bars[0].SpeedUp, 1e-12)
	assert.Equal(t, "pipe/roundtrip", bars[1].Label)
	assert.InDelta(t, 5, bars[1].SpeedUp, 1e-12)
	assert.False(t, math.IsNaN(bars[1].SpeedUp))
}
