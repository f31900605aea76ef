package web

import (
	"math/bits"
	"strconv"
	"unicode/utf8"
)

// Charts are inline SVG whose geometry is computed here in whole pixels of
// the SVG's viewBox, and drawn by the "barchart" and "ratechart" templates
// (so every label goes through html/template's escaping). Money is never
// turned into a float: a bar's height is its amount scaled by integer
// arithmetic.

// barChart is a vertical bar chart with one bar per day.
type barChart struct {
	Title   string
	Width   int // viewBox size in pixels
	Height  int
	Top     int // y of the top grid line (the maximum)
	Base    int // y of the baseline (zero)
	Left    int // x where the plot starts
	MaxText string
	Bars    []bar
	XLabels []axisLabel
	Empty   bool
}

type bar struct {
	X, Y, W, H int // pixels
	Title      string
}

type axisLabel struct {
	X, Y int // pixels
	Text string
}

// Layout of a day chart, in viewBox pixels. The plot starts at
// chartLeftPx or further right, leaving room for the y-axis label.
const (
	chartWidthPx  = 640
	chartHeightPx = 220
	chartLeftPx   = 64
	chartRightPx  = 632
	chartTopPx    = 14
	chartBasePx   = 184
	chartLabelYPx = 204
	// labelCharPx bounds the width of one character of a 12 px label
	// (.chart text in style.css): digits, letters of a currency code, a
	// point. Browsers measure about 7.5 px; the extra is margin.
	labelCharPx = 8
	// labelGapPx is the label's gap to the axis (dx="-6") and a margin
	// from the chart's left edge.
	labelGapPx = 12
)

// plotLeft is where the plot starts so that a y-axis label, drawn right
// aligned against it, stays inside the chart rather than being clipped at
// its left edge ("278.51 USD" read "8.51 USD" when it started at a fixed
// 64 px). SVG text cannot be measured on the server; labelCharPx is an
// upper bound, which the browser test checks. Half the chart at most is
// given to the label.
func plotLeft(label string) int {
	return min(max(chartLeftPx, utf8.RuneCountInString(label)*labelCharPx+labelGapPx), chartWidthPx/2)
}

// scale returns v/max of px, rounded down, without overflow for any
// amounts: v*px fits in 128 bits, and the quotient is at most px.
func scale(v, max int64, px int) int {
	if v <= 0 || max <= 0 {
		return 0
	}
	if v > max {
		v = max
	}
	hi, lo := bits.Mul64(uint64(v), uint64(px))
	q, _ := bits.Div64(hi, lo, uint64(max))
	return int(q)
}

// dayChart lays out one bar per value, labels every fifth day, and titles
// each bar (shown as a tooltip) with title(i).
func dayChart(name string, values []int64, maxText func(int64) string, dayLabel func(int) string, title func(int) string) barChart {
	c := barChart{Title: name, Width: chartWidthPx, Height: chartHeightPx, Top: chartTopPx, Base: chartBasePx}
	var top int64
	for _, v := range values {
		top = max(top, v)
	}
	c.Empty = top == 0
	c.MaxText = maxText(top)
	c.Left = plotLeft(c.MaxText)
	n := len(values)
	if n == 0 {
		return c
	}
	slot := (chartRightPx - c.Left) / n
	barW := max(slot*4/5, 1)
	for i, v := range values {
		h := scale(v, top, chartBasePx-chartTopPx)
		if v > 0 && h == 0 {
			h = 1 // a day with a little is not drawn as a day with nothing
		}
		x := c.Left + i*slot + (slot-barW)/2
		c.Bars = append(c.Bars, bar{X: x, Y: chartBasePx - h, W: barW, H: h, Title: title(i)})
		if i%5 == 0 || i == n-1 {
			// Centred under its bar, but never past the right edge.
			text := dayLabel(i)
			lx := min(x+barW/2, chartWidthPx-(utf8.RuneCountInString(text)*labelCharPx+1)/2-2)
			c.XLabels = append(c.XLabels, axisLabel{X: lx, Y: chartLabelYPx, Text: text})
		}
	}
	return c
}

// rateChart is a horizontal bar per gateway: the share of its payments
// that have been refunded in part or in full.
type rateChart struct {
	Width, Height int // viewBox pixels
	Rows          []rateRow
}

type rateRow struct {
	Gateway  string
	Payments int64
	Refunded int64
	Percent  string // "12.5%", from integer basis points
	// Geometry in viewBox pixels.
	BarX, BarY, BarW, BarH, TrackW int
	TextX, TextY                   int
}

const (
	rateRowPx   = 34
	rateBarXPx  = 110
	rateBarMax  = 360
	rateWidthPx = 640
)

func newRateChart(rows []rateRow) rateChart {
	c := rateChart{Width: rateWidthPx, Height: max(len(rows)*rateRowPx, rateRowPx)}
	for i, r := range rows {
		bp := int64(0)
		if r.Payments > 0 {
			bp = r.Refunded * 10000 / r.Payments
		}
		r.Percent = strconv.FormatInt(bp/100, 10) + "." + strconv.FormatInt(bp%100/10, 10) + "%"
		top := i * rateRowPx
		r.BarX, r.BarY, r.BarH, r.TrackW = rateBarXPx, top+5, rateRowPx-10, rateBarMax
		r.TextY = top + rateRowPx/2 + 5
		r.BarW = scale(bp, 10000, rateBarMax)
		if bp > 0 && r.BarW == 0 {
			r.BarW = 1
		}
		r.TextX = rateBarXPx + r.BarW + 8
		c.Rows = append(c.Rows, r)
	}
	return c
}
