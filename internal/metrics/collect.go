package metrics

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"
)

// Scraped is a family whose series a collector produces afresh at every
// scrape (state read from the store), instead of being updated by hooks.
type Scraped struct{ f *family }

// ScrapedGauge registers a gauge family filled by collectors.
func (r *Registry) ScrapedGauge(name, help string, labels ...string) *Scraped {
	return &Scraped{r.newFamily(name, help, GaugeType, nil, labels, true)}
}

// ScrapedCounter registers a counter family filled by collectors: a total
// kept elsewhere (in the store) and read at scrape time.
func (r *Registry) ScrapedCounter(name, help string, labels ...string) *Scraped {
	return &Scraped{r.newFamily(name, help, CounterType, nil, labels, true)}
}

// CollectFunc produces the series of scraped families for one scrape. It
// must return soon after ctx is done: its run is bounded by the registry's
// ScrapeTimeout, after which the scrape goes on without it.
type CollectFunc func(ctx context.Context, e *Emitter) error

type collector struct {
	name string
	fn   CollectFunc
	// cur is the run in flight, if any. Scrapes at the same time share it,
	// and a run that outlives its timeout (a store that ignores ctx) is
	// joined, not joined by another one per scrape.
	mu  sync.Mutex
	cur *flight
}

// flight is one run of a collector; its fields are set before done closes.
type flight struct {
	done    chan struct{}
	series  map[*family]map[string]*series
	dropped int
	err     error
}

// Collect registers a collector under name (its label in NS_scrape_error).
func (r *Registry) Collect(name string, fn CollectFunc) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.collectors {
		if c.name == name {
			panic(fmt.Sprintf("metrics: collector %s registered twice", name))
		}
	}
	r.collectors = append(r.collectors, &collector{name: name, fn: fn})
}

// Emitter receives the series of one run of a collector. It is safe for
// concurrent use; once the run has returned it ignores what it is given.
type Emitter struct {
	max     int
	mu      sync.Mutex
	closed  bool
	series  map[*family]map[string]*series
	dropped int
}

func newEmitter(max int) *Emitter {
	return &Emitter{max: max, series: map[*family]map[string]*series{}}
}

// Set gives the series of the label values the value v in this scrape
// (a later Set of the same series replaces it).
func (e *Emitter) Set(s *Scraped, v float64, values ...string) {
	f := s.f
	if len(values) != len(f.labels) {
		panic(fmt.Sprintf("metrics: %s takes %d label values, got %d", f.name, len(f.labels), len(values)))
	}
	key, clean := seriesKey(values)
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return
	}
	m := e.series[f]
	if m == nil {
		m = map[string]*series{}
		e.series[f] = m
	}
	ser, ok := m[key]
	if !ok {
		if len(m) >= e.max {
			e.dropped++
			return
		}
		ser = &series{labels: slices.Clone(clean)}
		m[key] = ser
	}
	ser.bits.Store(math.Float64bits(v))
}

// close ends the emitter and returns what it holds.
func (e *Emitter) close() (map[*family]map[string]*series, int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.closed = true
	return e.series, e.dropped
}

// gather runs every collector at once, each bounded by the scrape
// timeout, and returns the scraped series of this scrape: the collectors'
// (all of a collector's or none of them) and the registry's own.
func (r *Registry) gather(ctx context.Context) map[*family][]*series {
	r.mu.Lock()
	collectors := slices.Clone(r.collectors)
	r.mu.Unlock()
	type result struct {
		c       *collector
		series  map[*family]map[string]*series
		dropped int
		err     error
		took    time.Duration
	}
	results := make([]result, len(collectors))
	var wg sync.WaitGroup
	for i, c := range collectors {
		wg.Go(func() {
			start := time.Now()
			series, dropped, err := r.run(ctx, c)
			results[i] = result{c, series, dropped, err, time.Since(start)}
		})
	}
	wg.Wait()
	out := map[*family][]*series{}
	own := func(f *family, name string, v float64) {
		s := &series{labels: []string{cleanValue(name)}}
		s.bits.Store(math.Float64bits(v))
		out[f] = append(out[f], s)
	}
	for _, res := range results {
		failed := 0.0
		if res.err != nil {
			failed = 1
			r.log.Warn("metrics collector failed; its series are left out of this scrape", "collector", res.c.name, "err", res.err)
		} else {
			for f, m := range res.series {
				for _, s := range m {
					out[f] = append(out[f], s)
				}
			}
		}
		own(r.scrapeError, res.c.name, failed)
		own(r.scrapeDuration, res.c.name, res.took.Seconds())
		own(r.scrapeDropped, res.c.name, float64(res.dropped))
	}
	for _, ss := range out {
		slices.SortFunc(ss, func(a, b *series) int { return slices.Compare(a.labels, b.labels) })
	}
	return out
}

// run returns a collector's series: from the run in flight, or a new
// one. It waits at most the scrape timeout; a run that outlives it is
// abandoned by this scrape and ends on its own.
func (r *Registry) run(ctx context.Context, c *collector) (map[*family]map[string]*series, int, error) {
	c.mu.Lock()
	f := c.cur
	if f == nil {
		f = &flight{done: make(chan struct{})}
		c.cur = f
		// The run is bounded by the timeout, not by the scrape that
		// started it: another scrape may be waiting for it too.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.ScrapeTimeout)
		go func() {
			defer cancel()
			r.fly(fctx, c, f)
		}()
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, r.opts.ScrapeTimeout)
	defer cancel()
	select {
	case <-f.done:
		return f.series, f.dropped, f.err
	case <-ctx.Done():
		return nil, 0, fmt.Errorf("no answer within %s: %w", r.opts.ScrapeTimeout, context.Cause(ctx))
	}
}

// fly runs the collector once and publishes its result.
func (r *Registry) fly(ctx context.Context, c *collector, f *flight) {
	e := newEmitter(r.opts.MaxSeries)
	defer func() {
		if p := recover(); p != nil {
			f.err = fmt.Errorf("collector panicked: %v", p)
		}
		series, dropped := e.close()
		if f.err == nil {
			f.series, f.dropped = series, dropped
		}
		c.mu.Lock()
		c.cur = nil
		c.mu.Unlock()
		close(f.done)
	}()
	f.err = c.fn(ctx, e)
}
