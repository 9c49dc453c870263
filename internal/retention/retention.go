// Package retention deletes what the lake keeps past its period: each log
// type's events after their retention (by p_event_time), and quarantined
// events after theirs (by when they were received). A sweep runs at start
// and then every hour; it deletes in small batches, one transaction each
// with a pause between, so that ingest and the other stages keep the
// database between them. What an unresolved alert still points at, and
// what the detect stage has not evaluated, the store keeps.
package retention

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"
)

// Store is the part of the store a sweep needs (store.Retention).
type Store interface {
	PurgeEvents(ctx context.Context, logType string, before time.Time, batch int) (int, error)
	PurgeQuarantine(ctx context.Context, before time.Time, batch int) (int, error)
}

// Clock is the sweeper's time: a sweep's cuts are Now less the periods,
// and it waits with After.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of Config.
const (
	DefaultEvery = time.Hour
	DefaultBatch = 5000
	DefaultPause = 200 * time.Millisecond
)

// Config configures a Sweeper.
type Config struct {
	Store Store
	// Events is how long each log type's events are kept; a log type
	// absent, or with 0, is kept forever.
	Events map[string]time.Duration
	// Quarantine is how long quarantined events are kept; 0: forever.
	Quarantine time.Duration
	Every      time.Duration // between sweeps; DefaultEvery if 0
	Batch      int           // rows per transaction; DefaultBatch if 0
	Pause      time.Duration // between two full batches, at least; DefaultPause if 0
	Clock      Clock         // the real clock if nil
	Logger     *slog.Logger
}

// Sweeper runs the sweeps.
type Sweeper struct {
	cfg Config
	log *slog.Logger
}

// New returns a Sweeper with cfg's defaults filled in.
func New(cfg Config) *Sweeper {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Pause <= 0 {
		cfg.Pause = DefaultPause
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sweeper{cfg: cfg, log: log}
}

// Run sweeps now and then every cfg.Every until ctx ends; a sweep that
// fails is logged and tried again at the next. It returns nil when ctx
// ends.
func (s *Sweeper) Run(ctx context.Context) error {
	for {
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("retention sweep failed; trying again at the next", "err", err, "next_in", s.cfg.Every.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-s.cfg.Clock.After(s.cfg.Every):
		}
	}
}

// Result is what one sweep deleted.
type Result struct {
	Events     map[string]int // by log type
	Quarantine int
}

// Sweep deletes, batch by batch, every event past its log type's period
// and every quarantined event past the quarantine's, as of the clock's
// now at the sweep's start. It goes on to the next log type when one
// fails, and returns what it deleted with the errors joined.
func (s *Sweeper) Sweep(ctx context.Context) (Result, error) {
	now := s.cfg.Clock.Now()
	res := Result{Events: map[string]int{}}
	var errs []error
	for _, lt := range slices.Sorted(maps.Keys(s.cfg.Events)) {
		period := s.cfg.Events[lt]
		if period <= 0 {
			continue
		}
		before := now.Add(-period)
		n, err := s.drain(ctx, func(ctx context.Context) (int, error) {
			return s.cfg.Store.PurgeEvents(ctx, lt, before, s.cfg.Batch)
		})
		res.Events[lt] = n
		if n > 0 {
			s.log.Info("deleted events past their retention", "log_type", lt, "events", n,
				"retention", fmtDays(period), "before", before.UTC().Format(time.RFC3339))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", lt, err))
		}
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
	}
	if s.cfg.Quarantine > 0 {
		before := now.Add(-s.cfg.Quarantine)
		n, err := s.drain(ctx, func(ctx context.Context) (int, error) {
			return s.cfg.Store.PurgeQuarantine(ctx, before, s.cfg.Batch)
		})
		res.Quarantine = n
		if n > 0 {
			s.log.Info("deleted quarantined events past their retention", "events", n,
				"retention", fmtDays(s.cfg.Quarantine), "before", before.UTC().Format(time.RFC3339))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("quarantine: %w", err))
		}
	}
	return res, errors.Join(errs...)
}

// drain calls purge until a batch comes back short, pausing between
// full ones so that other writers get the database: at least cfg.Pause,
// and as long as the batch took, so that a sweep holds SQLite's one
// writer half the time at most (a batch of 5,000 took 0.15 to 0.3 s on a
// 2-core machine).
func (s *Sweeper) drain(ctx context.Context, purge func(context.Context) (int, error)) (int, error) {
	total := 0
	for {
		start := s.cfg.Clock.Now()
		n, err := purge(ctx)
		total += n
		if err != nil || n < s.cfg.Batch {
			return total, err
		}
		select {
		case <-ctx.Done():
			return total, ctx.Err()
		case <-s.cfg.Clock.After(max(s.cfg.Pause, s.cfg.Clock.Now().Sub(start))):
		}
	}
}

// fmtDays writes whole days as "30d", as the configuration does.
func fmtDays(d time.Duration) string {
	const day = 24 * time.Hour
	if d%day == 0 {
		return fmt.Sprintf("%dd", d/day)
	}
	return d.String()
}
