package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
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
	// busy is set while a run is in flight: a run abandoned at its timeout
	// (a store that ignores ctx) is not joined by another one per scrape.
	busy atomic.Bool
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

// Emitter receives one collector's series in one scrape. It is safe for
// concurrent use; once the collector's run is over (or abandoned at its
// timeout) it ignores what it is given.
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

var errBusy = errors.New("the previous run has not finished (it timed out)")

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

// run runs one collector within the scrape timeout. A run that outlives
// it is abandoned: its emitter is closed, and it ends on its own.
func (r *Registry) run(ctx context.Context, c *collector) (map[*family]map[string]*series, int, error) {
	if !c.busy.CompareAndSwap(false, true) {
		return nil, 0, errBusy
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.ScrapeTimeout)
	defer cancel()
	e := newEmitter(r.opts.MaxSeries)
	done := make(chan error, 1)
	go func() {
		defer c.busy.Store(false)
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("collector panicked: %v", p)
			}
		}()
		done <- c.fn(ctx, e)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no answer within %s: %w", r.opts.ScrapeTimeout, context.Cause(ctx))
	}
	series, dropped := e.close()
	if err != nil {
		return nil, 0, err
	}
	return series, dropped, nil
}
