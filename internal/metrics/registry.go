// Package metrics is a small Prometheus registry written on the standard
// library: counters, gauges and histograms with labels, families filled by
// collectors at scrape time, and the text exposition format 0.0.4.
//
// It holds no globals: each Registry is its own, and opwatch's instruments
// (Opwatch) hang off one. Label values may come from users or from data an
// attacker influences (source names), so every value is made valid UTF-8,
// cut to MaxLabelValueBytes and escaped on output, and each family holds at
// most a bounded number of series: label values past the bound are counted
// in one overflow series whose every label is OverflowValue.
package metrics

import (
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
)

// Type is a metric family's type, as the TYPE line says it.
type Type string

// The family types.
const (
	CounterType   Type = "counter"
	GaugeType     Type = "gauge"
	HistogramType Type = "histogram"
)

// Bounds on what label values can cost.
const (
	// MaxLabelValueBytes cuts longer label values (on a rune boundary).
	MaxLabelValueBytes = 128
	// DefaultMaxSeries is a family's default bound on series.
	DefaultMaxSeries = 2000
	// OverflowValue is every label value of a family's overflow series.
	OverflowValue = "__overflow__"
)

var (
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// Options configure a Registry.
type Options struct {
	// Namespace prefixes the registry's own metrics: NS_scrape_error and
	// NS_scrape_duration_seconds, per collector. Default "opwatch".
	Namespace string
	// ScrapeTimeout bounds each collector's run in a scrape; default 5s.
	ScrapeTimeout time.Duration
	// MaxSeries bounds the series of each family; default DefaultMaxSeries.
	MaxSeries int
	Logger    *slog.Logger
}

// Registry holds metric families and collectors. It is safe for
// concurrent use; registering happens at start, observing and scraping at
// any time.
type Registry struct {
	opts Options
	log  *slog.Logger

	mu         sync.Mutex
	families   map[string]*family
	collectors []*collector

	// The registry's own families, per collector, filled by each scrape.
	scrapeError, scrapeDuration, scrapeDropped *family
}

// NewRegistry returns an empty registry.
func NewRegistry(o Options) *Registry {
	if o.Namespace == "" {
		o.Namespace = "opwatch"
	}
	if o.ScrapeTimeout <= 0 {
		o.ScrapeTimeout = 5 * time.Second
	}
	if o.MaxSeries <= 0 {
		o.MaxSeries = DefaultMaxSeries
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Registry{opts: o, log: o.Logger, families: map[string]*family{}}
	// The registry's own families are filled by every scrape itself.
	r.scrapeError = r.newFamily(o.Namespace+"_scrape_error",
		"1 when the collector failed or timed out in this scrape (its series are then missing), else 0.", GaugeType, nil, []string{"collector"}, true)
	r.scrapeDuration = r.newFamily(o.Namespace+"_scrape_duration_seconds",
		"How long the collector took in this scrape.", GaugeType, nil, []string{"collector"}, true)
	r.scrapeDropped = r.newFamily(o.Namespace+"_scrape_dropped_series",
		"Series the collector produced past the family's bound in this scrape (left out).", GaugeType, nil, []string{"collector"}, true)
	return r
}

// family is one metric family: its series live in vec (updated by hooks)
// or, when scraped, are produced afresh by collectors at every scrape.
type family struct {
	name, help string
	typ        Type
	labels     []string
	buckets    []float64 // histograms: upper bounds, ascending, without +Inf
	scraped    bool
	max        int
	vec        *vec // nil when scraped
}

// newFamily registers a family. A bad or duplicate name is a programming
// mistake and panics, as http.ServeMux.Handle does.
func (r *Registry) newFamily(name, help string, typ Type, buckets []float64, labels []string, scraped bool) *family {
	if !metricNameRE.MatchString(name) {
		panic(fmt.Sprintf("metrics: invalid metric name %q", name))
	}
	seen := map[string]bool{}
	for _, l := range labels {
		if !labelNameRE.MatchString(l) || strings.HasPrefix(l, "__") || seen[l] || (typ == HistogramType && l == "le") {
			panic(fmt.Sprintf("metrics: invalid or repeated label name %q in %s", l, name))
		}
		seen[l] = true
	}
	if typ == HistogramType {
		if len(buckets) == 0 || !slices.IsSorted(buckets) || slices.Contains(buckets, math.Inf(1)) {
			panic(fmt.Sprintf("metrics: histogram %s needs ascending finite buckets", name))
		}
		for i := 1; i < len(buckets); i++ {
			if buckets[i] == buckets[i-1] {
				panic(fmt.Sprintf("metrics: histogram %s has a repeated bucket", name))
			}
		}
	}
	f := &family{name: name, help: help, typ: typ, labels: slices.Clone(labels), buckets: slices.Clone(buckets),
		scraped: scraped, max: r.opts.MaxSeries}
	if !scraped {
		f.vec = &vec{fam: f}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.families[name]; dup {
		panic(fmt.Sprintf("metrics: %s registered twice", name))
	}
	// Histograms expose NAME_bucket, NAME_sum and NAME_count: those names
	// must not collide with another family either.
	for _, other := range r.families {
		if collides(f, other) || collides(other, f) {
			panic(fmt.Sprintf("metrics: %s collides with %s", name, other.name))
		}
	}
	r.families[name] = f
	return f
}

func collides(h, f *family) bool {
	if h.typ != HistogramType {
		return false
	}
	return f.name == h.name+"_bucket" || f.name == h.name+"_sum" || f.name == h.name+"_count"
}

// Counter registers a counter family. Its name should end in _total.
func (r *Registry) Counter(name, help string, labels ...string) *CounterVec {
	return &CounterVec{r.newFamily(name, help, CounterType, nil, labels, false).vec}
}

// Gauge registers a gauge family.
func (r *Registry) Gauge(name, help string, labels ...string) *GaugeVec {
	return &GaugeVec{r.newFamily(name, help, GaugeType, nil, labels, false).vec}
}

// Histogram registers a histogram family with the given bucket upper
// bounds (ascending; +Inf is implied).
func (r *Registry) Histogram(name, help string, buckets []float64, labels ...string) *HistogramVec {
	return &HistogramVec{r.newFamily(name, help, HistogramType, buckets, labels, false).vec}
}

// vec holds a family's series, keyed by their label values.
type vec struct {
	fam      *family
	series   sync.Map // key → *series; read without a lock on the hot path
	mu       sync.Mutex
	n        int     // series created, the overflow series not counted
	overflow *series // created once the bound is reached
}

// series is one labelled time series: a float value (counter, gauge) or a
// histogram's per-bucket counts and sum.
type series struct {
	labels []string
	bits   atomic.Uint64   // float64 bits: the value, or a histogram's sum
	counts []atomic.Uint64 // histograms: per bucket (not cumulative), the last is +Inf
}

// with returns the series of the label values, creating it within the
// family's bound.
func (v *vec) with(values []string) *series {
	if len(values) != len(v.fam.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", v.fam.name, len(v.fam.labels), len(values)))
	}
	key, clean := seriesKey(values)
	if s, ok := v.series.Load(key); ok {
		return s.(*series)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if s, ok := v.series.Load(key); ok {
		return s.(*series)
	}
	if v.n >= v.fam.max {
		if v.overflow == nil {
			v.overflow = v.newSeries(overflowLabels(len(values)))
			v.series.Store(seriesKeyOf(v.overflow.labels), v.overflow)
		}
		return v.overflow
	}
	s := v.newSeries(clean)
	v.series.Store(key, s)
	v.n++
	return s
}

func (v *vec) newSeries(labels []string) *series {
	s := &series{labels: labels}
	if v.fam.typ == HistogramType {
		s.counts = make([]atomic.Uint64, len(v.fam.buckets)+1)
	}
	return s
}

// snapshot returns the series sorted by label values.
func (v *vec) snapshot() []*series {
	var out []*series
	v.series.Range(func(_, s any) bool {
		out = append(out, s.(*series))
		return true
	})
	slices.SortFunc(out, func(a, b *series) int { return slices.Compare(a.labels, b.labels) })
	return out
}

func overflowLabels(n int) []string {
	l := make([]string, n)
	for i := range l {
		l[i] = OverflowValue
	}
	return l
}

// seriesKey cleans label values and joins them into a map key. 0xff never
// occurs in valid UTF-8, so it cannot be forged by a value. With one value
// that needs no cleaning, the key is the value itself (no allocation).
func seriesKey(values []string) (string, []string) {
	if len(values) == 1 && cleanValue(values[0]) == values[0] {
		return values[0], values
	}
	clean := make([]string, len(values))
	for i, v := range values {
		clean[i] = cleanValue(v)
	}
	return seriesKeyOf(clean), clean
}

func seriesKeyOf(clean []string) string {
	if len(clean) == 1 {
		return clean[0]
	}
	return strings.Join(clean, "\xff")
}

// cleanValue makes a label value valid UTF-8 and at most
// MaxLabelValueBytes long, cut on a rune boundary.
func cleanValue(v string) string {
	if !utf8.ValidString(v) {
		v = strings.ToValidUTF8(v, "\uFFFD")
	}
	if len(v) <= MaxLabelValueBytes {
		return v
	}
	cut := MaxLabelValueBytes
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return v[:cut]
}

func (s *series) value() float64 { return math.Float64frombits(s.bits.Load()) }

func (s *series) add(d float64) {
	for {
		old := s.bits.Load()
		if s.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

// CounterVec is a counter family.
type CounterVec struct{ v *vec }

// With returns the counter of the label values (as many as the family's
// labels, in order).
func (c *CounterVec) With(values ...string) *Counter { return &Counter{c.v.with(values)} }

// Counter only goes up.
type Counter struct{ s *series }

// Inc adds one.
func (c *Counter) Inc() { c.s.add(1) }

// Add adds d; a negative or NaN d is ignored, since a counter never goes down.
func (c *Counter) Add(d float64) {
	if d > 0 {
		c.s.add(d)
	}
}

// Value is the counter's value.
func (c *Counter) Value() float64 { return c.s.value() }

// GaugeVec is a gauge family.
type GaugeVec struct{ v *vec }

// With returns the gauge of the label values.
func (g *GaugeVec) With(values ...string) *Gauge { return &Gauge{g.v.with(values)} }

// Gauge goes up and down.
type Gauge struct{ s *series }

// Set sets the gauge to v.
func (g *Gauge) Set(v float64) { g.s.bits.Store(math.Float64bits(v)) }

// Add adds d (negative to subtract).
func (g *Gauge) Add(d float64) { g.s.add(d) }

// Value is the gauge's value.
func (g *Gauge) Value() float64 { return g.s.value() }

// HistogramVec is a histogram family.
type HistogramVec struct{ v *vec }

// With returns the histogram of the label values.
func (h *HistogramVec) With(values ...string) *Histogram {
	return &Histogram{s: h.v.with(values), buckets: h.v.fam.buckets}
}

// Histogram counts observations in buckets.
type Histogram struct {
	s       *series
	buckets []float64
}

// Observe records one value. NaN is ignored.
func (h *Histogram) Observe(v float64) {
	if math.IsNaN(v) {
		return
	}
	i, _ := slices.BinarySearch(h.buckets, v) // the first bound >= v; len(buckets) is +Inf
	h.s.counts[i].Add(1)
	h.s.add(v)
}

// ObserveDuration records d in seconds.
func (h *Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.s.counts {
		n += h.s.counts[i].Load()
	}
	return n
}
