package console

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Charts are drawn on the server as SVG: no script, no style attribute (the
// CSP allows neither inline), colours from the stylesheet's classes. Every
// text in them is escaped here.

// series is one line of a time chart.
type series struct {
	Name   string
	Values []int64 // one per bucket
	// Missing says why the log type is not collected ("not collected":
	// no token grants it, or its stream is paused): the chart draws no
	// line for it, which a flat zero would misread as a quiet hour.
	Missing string
}

// Total is the series' sum, for the legend.
func (s series) Total() int64 {
	var n int64
	for _, v := range s.Values {
		n += v
	}
	return n
}

// markMissing sets Missing on the series no enabled stream of streams
// collects.
func markMissing(ss []series, streams []store.Stream) {
	collected := map[string]bool{}
	for _, st := range streams {
		if st.Enabled {
			collected[st.LogType] = true
		}
	}
	for i := range ss {
		if !collected[ss[i].Name] {
			ss[i].Missing = "not collected"
		}
	}
}

// timeChart draws series over buckets (their start times) as lines, with
// a tooltip (<title>) per point. Lines differ by colour and by dash (the
// classes s0..s4), so overlapping ones stay apart; a series not collected
// gets no line. The last bucket is the current one, still filling: its
// segment is faint and its tooltip says "so far", so that its low count
// does not read as a fall in traffic.
func timeChart(title string, buckets []time.Time, step time.Duration, ss []series) template.HTML {
	const w, h, left, right, top, bottom = 600, 230, 46, 12, 12, 28
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	var peak int64
	for _, s := range ss {
		for _, v := range s.Values {
			peak = max(peak, v)
		}
	}
	ymax, ystep := scale(peak)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	for v := int64(0); v <= ymax; v += ystep {
		y := float64(top) + ph - ph*float64(v)/float64(ymax)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, left, y, w-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, y+4, compact(v))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, top+int(ph), w-right, top+int(ph))
	n := len(buckets)
	x := func(i int) float64 {
		if n <= 1 {
			return float64(left) + pw/2
		}
		return float64(left) + pw*float64(i)/float64(n-1)
	}
	y := func(v int64) float64 { return float64(top) + ph - ph*float64(v)/float64(ymax) }
	every := max(1, n/6)
	for i, t := range buckets {
		if i%every != 0 {
			continue
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, x(i), h-8, bucketLabel(t, step))
	}
	for si, s := range ss {
		class := fmt.Sprintf("s%d", si%5)
		vals := s.Values[:min(len(s.Values), n)]
		if len(vals) == 0 || s.Missing != "" {
			continue
		}
		last := len(vals) - 1
		var d strings.Builder
		for i, v := range vals[:max(last, 1)] {
			cmd := "L"
			if i == 0 {
				cmd = "M"
			}
			fmt.Fprintf(&d, "%s%.1f %.1f ", cmd, x(i), y(v))
		}
		fmt.Fprintf(&b, `<path class="line %s" d="%s"/>`, class, strings.TrimSpace(d.String()))
		if last >= 1 {
			fmt.Fprintf(&b, `<path class="line partial %s" d="M%.1f %.1f L%.1f %.1f"/>`, class, x(last-1), y(vals[last-1]), x(last), y(vals[last]))
		}
		for i, v := range vals {
			soFar := ""
			if i == last {
				soFar = " so far"
			}
			fmt.Fprintf(&b, `<circle class="%s" cx="%.1f" cy="%.1f" r="2.5"><title>%s %s: %d%s</title></circle>`,
				class, x(i), y(v), html.EscapeString(s.Name), bucketLabel(buckets[i], step), v, soFar)
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// bar is one bar of a bar chart.
type bar struct {
	Label string
	Value int64
	Class string // a CSS class of the bar (bar-high, ...)
}

// barChart draws bars side by side with their values.
func barChart(title string, bars []bar) template.HTML {
	const w, h, left, right, top, bottom = 420, 200, 36, 8, 18, 26
	pw, ph := float64(w-left-right), float64(h-top-bottom)
	var peak int64
	for _, br := range bars {
		peak = max(peak, br.Value)
	}
	ymax, ystep := scale(peak)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" role="img" aria-label="%s" xmlns="http://www.w3.org/2000/svg">`, w, h, html.EscapeString(title))
	fmt.Fprintf(&b, `<title>%s</title>`, html.EscapeString(title))
	fmt.Fprintf(&b, `<line class="axis" x1="%d" y1="%d" x2="%d" y2="%d"/>`, left, top+int(ph), w-right, top+int(ph))
	for v := int64(0); v <= ymax; v += ystep {
		yy := float64(top) + ph - ph*float64(v)/float64(ymax)
		fmt.Fprintf(&b, `<line class="grid" x1="%d" y1="%.1f" x2="%d" y2="%.1f"/>`, left, yy, w-right, yy)
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end">%s</text>`, left-6, yy+4, compact(v))
	}
	if len(bars) > 0 {
		slot := pw / float64(len(bars))
		bw := slot * 0.6
		for i, br := range bars {
			bh := ph * float64(br.Value) / float64(ymax)
			bx := float64(left) + slot*float64(i) + (slot-bw)/2
			by := float64(top) + ph - bh
			fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %d</title></rect>`,
				html.EscapeString(br.Class), bx, by, bw, bh, html.EscapeString(br.Label), br.Value)
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%d</text>`, bx+bw/2, by-4, br.Value)
			fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`, bx+bw/2, h-8, html.EscapeString(br.Label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// scale picks a chart's top and grid step: a step of 1, 2 or 5 times a
// power of ten giving about four lines, the top a whole number of steps
// at or above the peak.
func scale(peak int64) (top, step int64) {
	if peak <= 4 {
		return 4, 1
	}
	raw := float64(peak) / 4
	p := int64(math.Pow(10, math.Floor(math.Log10(raw))))
	step = 10 * p
	for _, m := range []int64{1, 2, 5} {
		if float64(m*p) >= raw {
			step = m * p
			break
		}
	}
	return (peak + step - 1) / step * step, step
}

// compact writes a count shortly: 950, 12k, 3.4M.
func compact(v int64) string {
	switch {
	case v >= 10_000_000:
		return fmt.Sprintf("%dM", v/1_000_000)
	case v >= 1_000_000:
		return fmt.Sprintf("%.1fM", float64(v)/1e6)
	case v >= 10_000:
		return fmt.Sprintf("%dk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", float64(v)/1e3)
	}
	return fmt.Sprint(v)
}

func bucketLabel(t time.Time, step time.Duration) string {
	t = t.UTC()
	if step >= 24*time.Hour {
		return t.Format("Jan 2")
	}
	return t.Format("15:04")
}
