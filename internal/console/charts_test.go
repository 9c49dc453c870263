package console

import (
	"io/fs"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

// The last bucket is the current hour, still filling: it is drawn dashed and
// said to be partial, not as a fall in traffic.
func TestTimeChartLastBucketSoFar(t *testing.T) {
	start := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	buckets := []time.Time{start, start.Add(time.Hour), start.Add(2 * time.Hour)}
	svg := string(timeChart("events", buckets, time.Hour, []series{{Name: "A", Values: []int64{80, 84, 9}}}))
	if got := strings.Count(svg, `class="line partial s0"`); got != 1 {
		t.Errorf("%d dashed segments, want 1\n%s", got, svg)
	}
	if !strings.Contains(svg, "A 12:00: 9 so far</title>") || strings.Contains(svg, "11:00: 84 so far") {
		t.Errorf("the last point's tooltip does not say so far, or another's does\n%s", svg)
	}
	// The solid line stops at the last whole bucket.
	for _, l := range strings.Split(svg, "<path ") {
		if strings.HasPrefix(l, `class="line s0"`) && strings.Count(l, "L") != 1 {
			t.Errorf("the solid line %s: want two points", l)
		}
	}
	// One bucket, or none: no dashed segment, no panic.
	for _, vals := range [][]int64{{5}, {}} {
		svg := string(timeChart("events", buckets[:len(vals)], time.Hour, []series{{Name: "A", Values: vals}}))
		if strings.Contains(svg, "partial") {
			t.Errorf("%v: a dashed segment\n%s", vals, svg)
		}
	}
}

// A log type no stream collects is named "not collected" in the legend and
// drawn as no line (a flat zero would read as a quiet day); the lines that
// are drawn differ by dash as well as colour, and the legend gives totals.
func TestChartNotCollectedAndDistinct(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("acme", emulator.TokenOptions{Features: []string{"signinattempts", "auditevents"}})
	for _, path := range []string{"/sources/" + src.ID, "/"} {
		r := h.get(path, h.analyst).want(t, http.StatusOK, "OnePassword.ItemUsage: <em>not collected</em>", "OnePassword.SignInAttempt: 0", `class="key s0"`)
		if strings.Contains(r.body, `class="line s1"`) || strings.Contains(r.body, `<circle class="s1"`) {
			t.Errorf("%s: the chart draws a line for a log type that is not collected", path)
		}
		if !strings.Contains(r.body, `class="line s0"`) || !strings.Contains(r.body, `class="line s2"`) {
			t.Errorf("%s: the collected log types have no line", path)
		}
	}
	css, err := fs.ReadFile(assets, "static/console.css")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"path.line.s1 { stroke-dasharray", "path.line.s2 { stroke-dasharray"} {
		if !strings.Contains(string(css), want) {
			t.Errorf("console.css lacks %q: overlapping lines would hide each other", want)
		}
	}
}
