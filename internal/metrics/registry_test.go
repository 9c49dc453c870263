package metrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/metrics/metricstest"
)

func scrape(t testing.TB, r *Registry) string {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func parse(t testing.TB, text string) map[string]*metricstest.Family {
	t.Helper()
	fams, err := metricstest.Parse(text)
	if err != nil {
		t.Fatalf("exposition does not parse: %v\n%s", err, text)
	}
	return fams
}

func value(t testing.TB, fams map[string]*metricstest.Family, name string, labels ...string) float64 {
	t.Helper()
	v, ok := metricstest.Value(fams, name, labels...)
	if !ok {
		t.Fatalf("no sample %s%q", name, labels)
	}
	return v
}

// The exposition is exactly the format's: HELP and TYPE, one line per
// sample, families sorted by name, series by label values.
func TestExpositionFormat(t *testing.T) {
	r := NewRegistry(Options{Namespace: "x"})
	c := r.Counter("x_requests_total", "Requests.\nSecond line with a \\ backslash.", "code", "path")
	c.With("200", "/b").Add(2)
	c.With("200", "/a").Inc()
	c.With("500", "/a").Add(-5) // ignored: a counter never goes down
	r.Gauge("x_temperature", "A gauge.").With().Set(-1.5)
	h := r.Histogram("x_latency_seconds", "A histogram.", []float64{0.1, 1}, "op")
	h.With("get").Observe(0.05)
	h.With("get").Observe(0.1) // on a bound: in that bucket
	h.With("get").Observe(3)
	r.Gauge("x_empty", "A family without series is left out.", "l")
	want := `# HELP x_latency_seconds A histogram.
# TYPE x_latency_seconds histogram
x_latency_seconds_bucket{op="get",le="0.1"} 2
x_latency_seconds_bucket{op="get",le="1"} 2
x_latency_seconds_bucket{op="get",le="+Inf"} 3
x_latency_seconds_sum{op="get"} 3.15
x_latency_seconds_count{op="get"} 3
# HELP x_requests_total Requests.\nSecond line with a \\ backslash.
# TYPE x_requests_total counter
x_requests_total{code="200",path="/a"} 1
x_requests_total{code="200",path="/b"} 2
x_requests_total{code="500",path="/a"} 0
# HELP x_temperature A gauge.
# TYPE x_temperature gauge
x_temperature -1.5
`
	got := scrape(t, r)
	if got != want {
		t.Errorf("exposition:\n%s\nwant:\n%s", got, want)
	}
	parse(t, got)
}

// Label values an attacker chose (a source's name) cannot break a line,
// close their quotes early or forge another series: they come back from a
// strict parser exactly (once made valid UTF-8 and cut to the bound).
func TestHostileLabelValues(t *testing.T) {
	hostile := []string{
		`evil"} 1e9` + "\n" + `opwatch_build_info{version="x"} 1`,
		`back\slash\`,
		`\n not a newline`,
		"line\nfeed\r\n",
		"bad utf-8 \xff\xfe end",
		`"`,
		"",
		strings.Repeat("é", 200), // cut on a rune boundary
		"# HELP forged",
	}
	r := NewRegistry(Options{})
	c := r.Counter("t_events_total", "Events.", "source")
	for i, v := range hostile {
		c.With(v).Add(float64(i + 1))
	}
	text := scrape(t, r)
	fams := parse(t, text)
	if n := strings.Count(text, "\n"); n != len(hostile)+2 {
		t.Errorf("%d lines for %d samples:\n%s", n, len(hostile), text)
	}
	for i, v := range hostile {
		want := cleanValue(v)
		if !utf8.ValidString(want) || len(want) > MaxLabelValueBytes {
			t.Fatalf("cleanValue(%q) = %q", v, want)
		}
		if got := value(t, fams, "t_events_total", "source", want); got != float64(i+1) {
			t.Errorf("%q: value %v, want %d", v, got, i+1)
		}
	}
	if len(fams) != 1 {
		t.Errorf("families %v: a value forged one", fams)
	}
}

func TestHistogramBucketsCumulative(t *testing.T) {
	r := NewRegistry(Options{})
	h := r.Histogram("t_seconds", "Durations.", []float64{1, 2, 5}).With()
	for _, v := range []float64{0.5, 1, 1.5, 2, 4, 5, 6, 100, math.Inf(1), math.NaN()} {
		h.Observe(v)
	}
	fams := parse(t, scrape(t, r)) // the parser checks cumulative and +Inf == count
	for le, want := range map[string]float64{"1": 2, "2": 4, "5": 6, "+Inf": 9} {
		if got := value(t, fams, "t_seconds_bucket", "le", le); got != want {
			t.Errorf("le=%s: %v, want %v", le, got, want)
		}
	}
	if got := value(t, fams, "t_seconds_count"); got != 9 || h.Count() != 9 {
		t.Errorf("count %v (%d), want 9 (NaN is not counted)", got, h.Count())
	}
}

// A family holds at most MaxSeries series; the rest are counted in one
// overflow series, so totals stay right and memory stays bounded.
func TestSeriesBound(t *testing.T) {
	r := NewRegistry(Options{MaxSeries: 3})
	c := r.Counter("t_total", "T.", "a", "b")
	for i := range 10 {
		c.With(fmt.Sprint(i), "x").Inc()
	}
	c.With("0", "x").Inc() // an existing series still counts as itself
	fams := parse(t, scrape(t, r))
	if n := len(fams["t_total"].Samples); n != 4 {
		t.Errorf("%d series, want 3 and the overflow", n)
	}
	if got := value(t, fams, "t_total", "a", OverflowValue, "b", OverflowValue); got != 7 {
		t.Errorf("overflow %v, want 7", got)
	}
	if got := value(t, fams, "t_total", "a", "0", "b", "x"); got != 2 {
		t.Errorf("series 0: %v, want 2", got)
	}
}

func TestRegistrationMistakesPanic(t *testing.T) {
	for name, f := range map[string]func(r *Registry){
		"duplicate":        func(r *Registry) { r.Counter("a_total", ""); r.Gauge("a_total", "") },
		"bad name":         func(r *Registry) { r.Counter("a-b", "") },
		"bad label":        func(r *Registry) { r.Counter("a", "", "x y") },
		"reserved label":   func(r *Registry) { r.Counter("a", "", "__x") },
		"repeated label":   func(r *Registry) { r.Counter("a", "", "x", "x") },
		"le on histogram":  func(r *Registry) { r.Histogram("a", "", []float64{1}, "le") },
		"unsorted buckets": func(r *Registry) { r.Histogram("a", "", []float64{2, 1}) },
		"histogram suffix": func(r *Registry) { r.Histogram("a", "", []float64{1}); r.Counter("a_count", "") },
		"label count":      func(r *Registry) { r.Counter("a", "", "x").With() },
		"collector twice":  func(r *Registry) { r.Collect("c", nil); r.Collect("c", nil) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			f(NewRegistry(Options{}))
		})
	}
}

// A collector that fails leaves only its own series out, and says so in
// opwatch_scrape_error; the others are served.
func TestCollectorFailureIsContained(t *testing.T) {
	r := NewRegistry(Options{})
	good := r.ScrapedGauge("t_good", "Good.", "k")
	bad := r.ScrapedGauge("t_bad", "Bad.")
	r.Collect("good", func(ctx context.Context, e *Emitter) error {
		e.Set(good, 1, "a")
		return nil
	})
	r.Collect("bad", func(ctx context.Context, e *Emitter) error {
		e.Set(bad, 5) // emitted before failing: left out all the same
		return errors.New("store unreachable")
	})
	r.Collect("panics", func(ctx context.Context, e *Emitter) error { panic("boom") })
	fams := parse(t, scrape(t, r))
	if _, ok := fams["t_bad"]; ok {
		t.Error("a failed collector's series were served")
	}
	if value(t, fams, "t_good", "k", "a") != 1 {
		t.Error("good series missing")
	}
	for c, want := range map[string]float64{"good": 0, "bad": 1, "panics": 1} {
		if got := value(t, fams, "opwatch_scrape_error", "collector", c); got != want {
			t.Errorf("scrape_error{%s} = %v, want %v", c, got, want)
		}
	}
}

// A collector that does not answer (a slow store) is abandoned at the
// scrape timeout: the scrape is served without it, and later scrapes wait
// for that run instead of piling up new ones behind it.
func TestCollectorTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := NewRegistry(Options{ScrapeTimeout: 5 * time.Second})
		slow := r.ScrapedGauge("t_slow", "Slow.")
		other := r.ScrapedGauge("t_other", "Other.")
		release := make(chan struct{})
		var runs, late int
		var mu sync.Mutex
		r.Collect("slow", func(ctx context.Context, e *Emitter) error {
			mu.Lock()
			runs++
			mu.Unlock()
			<-release // ignores ctx, as a stuck query might
			e.Set(slow, 1)
			mu.Lock()
			late++
			mu.Unlock()
			return nil
		})
		r.Collect("other", func(ctx context.Context, e *Emitter) error {
			e.Set(other, 2)
			return nil
		})
		start := time.Now()
		fams := parse(t, scrape(t, r))
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("scrape took %s of fake time, want the 5s timeout", took)
		}
		if _, ok := fams["t_slow"]; ok || value(t, fams, "opwatch_scrape_error", "collector", "slow") != 1 {
			t.Error("a timed-out collector was not reported as failed")
		}
		if value(t, fams, "t_other") != 2 {
			t.Error("the other collector's series are missing")
		}
		// The first run still hangs: the next scrape does not start another.
		fams = parse(t, scrape(t, r))
		mu.Lock()
		if runs != 1 {
			t.Errorf("%d runs while the first hangs, want 1", runs)
		}
		mu.Unlock()
		if value(t, fams, "opwatch_scrape_error", "collector", "slow") != 1 {
			t.Error("busy collector not reported")
		}
		close(release)
		synctest.Wait()
		fams = parse(t, scrape(t, r))
		if value(t, fams, "t_slow") != 1 || value(t, fams, "opwatch_scrape_error", "collector", "slow") != 0 {
			t.Error("the collector did not recover once the store answered")
		}
	})
}

// Scrapes at the same time (two Prometheus servers) share one run of a
// collector, and both get its series.
func TestConcurrentScrapesShareRun(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := NewRegistry(Options{})
		g := r.ScrapedGauge("t_g", "G.")
		release := make(chan struct{})
		runs := 0
		r.Collect("c", func(ctx context.Context, e *Emitter) error {
			runs++ // one run at a time, or the race detector says so
			<-release
			e.Set(g, 7)
			return nil
		})
		texts := make([]string, 2)
		var wg sync.WaitGroup
		for i := range texts {
			wg.Go(func() { texts[i] = scrape(t, r) })
		}
		synctest.Wait() // both scrapes wait on the one run
		close(release)
		wg.Wait()
		if runs != 1 {
			t.Errorf("%d runs for two scrapes at once, want 1", runs)
		}
		for _, text := range texts {
			if v := value(t, parse(t, text), "t_g"); v != 7 {
				t.Errorf("t_g = %v, want 7", v)
			}
		}
	})
}

// Scrapes while hooks update: every scrape parses (histograms whole), and
// counters never go down between scrapes; the final values are exact.
func TestScrapeWhileUpdating(t *testing.T) {
	r := NewRegistry(Options{})
	c := r.Counter("t_total", "T.", "source")
	h := r.Histogram("t_seconds", "T.", []float64{0.5, 1}, "source")
	g := r.ScrapedGauge("t_scraped", "T.", "k")
	r.Collect("c", func(ctx context.Context, e *Emitter) error {
		e.Set(g, 1, "a")
		return nil
	})
	const workers, n = 4, 2000
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range n {
				src := fmt.Sprint("s", (w+i)%3)
				c.With(src).Inc()
				h.With(src).Observe(float64(i%3) / 2)
			}
		})
	}
	done := make(chan struct{})
	scrapes := 0
	go func() {
		defer close(done)
		last := 0.0
		for {
			fams := parse(t, scrape(t, r))
			total := 0.0
			if f := fams["t_total"]; f != nil {
				for _, s := range f.Samples {
					total += s.Value
				}
			}
			if total < last {
				t.Errorf("counter went down: %v after %v", total, last)
			}
			last = total
			scrapes++
			if total == workers*n {
				return
			}
		}
	}()
	wg.Wait()
	<-done
	fams := parse(t, scrape(t, r))
	var sum float64
	for _, s := range fams["t_seconds"].Samples {
		if s.Name == "t_seconds_count" {
			sum += s.Value
		}
	}
	if sum != workers*n {
		t.Errorf("histogram count %v, want %d", sum, workers*n)
	}
	t.Logf("%d scrapes while updating", scrapes)
}

// Whatever a label value holds, each sample is one line, the exposition
// parses, and the value reads back as cleaned.
func FuzzLabelValue(f *testing.F) {
	for _, s := range []string{"", `a"b`, "a\nb", `\`, `\n`, "\xff", "}", `{x="y"} 1`, strings.Repeat("\\\"", 100)} {
		f.Add(s, "plain")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		r := NewRegistry(Options{})
		r.Counter("f_total", "F.", "a", "b").With(a, b).Inc()
		h := r.Histogram("f_seconds", "F.", []float64{1}, "a")
		h.With(a).Observe(2)
		text := scrape(t, r)
		if n := strings.Count(text, "\n"); n != 4+1+4 {
			t.Fatalf("%d lines, want 9:\n%s", n, text)
		}
		fams := parse(t, text)
		if v, ok := metricstest.Value(fams, "f_total", "a", cleanValue(a), "b", cleanValue(b)); !ok || v != 1 {
			t.Fatalf("sample not read back for %q, %q:\n%s", a, b, text)
		}
		if v, ok := metricstest.Value(fams, "f_seconds_bucket", "a", cleanValue(a), "le", "+Inf"); !ok || v != 1 {
			t.Fatalf("histogram not read back for %q:\n%s", a, text)
		}
	})
}
