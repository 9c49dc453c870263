// Package compact keeps the lake's older events compressed (issue 11): a
// pass moves the events stored longer ago than a configured age into the
// store's compressed segments (store.Compaction), a batch at a time with a
// pause between, so that ingest holds the database most of the time, and
// then gives the freed space back to the file system. A pass runs at start
// and then every hour.
package compact

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Store is the part of the store a pass needs (store.Compaction).
type Store interface {
	CompactEvents(ctx context.Context, storedBefore time.Time, max int) (store.CompactResult, error)
	ReclaimSpace(ctx context.Context, full bool) error
}

// Clock is the compactor's time: a pass's cut is Now less the age, and it
// waits with After.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// Defaults of Config.
const (
	DefaultAfter = 24 * time.Hour
	DefaultEvery = time.Hour
	// DefaultBatch events per transaction: the store encodes them outside
	// its write transaction, which then only inserts the segments and
	// deletes the rows.
	DefaultBatch = 20000
	DefaultPause = 200 * time.Millisecond
)

// Config configures a Compactor.
type Config struct {
	Store Store
	// After is the age past which events are compacted (by when they were
	// stored); DefaultAfter if 0.
	After time.Duration
	Every time.Duration // between passes; DefaultEvery if 0
	Batch int           // events per transaction; DefaultBatch if 0
	// Pause is the least wait between two batches; DefaultPause if 0,
	// none if negative (a benchmark, alone on its database). A pass also
	// waits as long as the batch took, so that it holds SQLite's one
	// writer half the time at most, unless Eager.
	Pause time.Duration
	// Eager waits Pause alone between batches (`lake compact`, which runs
	// at once yet lets serve's writers in: SQLite's busy handler asks
	// again every 100 ms at most, so a 200 ms pause lets a waiting one in).
	Eager bool
	// Full makes the pass end with a full reclaim (SQLite VACUUM), which
	// holds the write lock throughout: for `lake compact --full` only.
	Full bool
	// OnBatch, if set, is called after every batch that moved events.
	OnBatch func(store.CompactResult)
	Clock   Clock // the real clock if nil
	Logger  *slog.Logger
}

// Compactor runs the passes.
type Compactor struct {
	cfg Config
	log *slog.Logger
}

// New returns a Compactor with cfg's defaults filled in.
func New(cfg Config) *Compactor {
	if cfg.After <= 0 {
		cfg.After = DefaultAfter
	}
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.Batch <= 0 {
		cfg.Batch = DefaultBatch
	}
	if cfg.Pause == 0 {
		cfg.Pause = DefaultPause
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Compactor{cfg: cfg, log: log}
}

// Run passes now and then every cfg.Every until ctx ends; a pass that
// fails is logged and tried again at the next. It returns nil when ctx
// ends.
func (c *Compactor) Run(ctx context.Context) error {
	for {
		if _, err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			c.log.Error("compaction failed; trying again at the next pass", "err", err, "next_in", c.cfg.Every.String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c.cfg.Clock.After(c.cfg.Every):
		}
	}
}

// Result is what one pass did.
type Result struct {
	store.CompactResult           // the sum of its batches
	Batches             int       // CompactEvents calls that moved events
	Before              time.Time // the cut: events stored before it were due
	Took                time.Duration
}

// Ratio is the raw bytes over the stored bytes (0 when nothing moved).
func (r Result) Ratio() float64 {
	if r.Bytes <= 0 {
		return 0
	}
	return float64(r.RawBytes) / float64(r.Bytes)
}

// Pass compacts, batch by batch, every event stored before the clock's now
// less cfg.After (and evaluated by detect: the store keeps the others), then
// reclaims the space. It reclaims even when compacting failed, since
// retention frees pages too; the errors are joined.
func (c *Compactor) Pass(ctx context.Context) (Result, error) {
	start := c.cfg.Clock.Now()
	res := Result{Before: start.Add(-c.cfg.After)}
	err := c.drain(ctx, &res)
	if err != nil && ctx.Err() != nil {
		return res, ctx.Err()
	}
	if res.Events > 0 {
		c.log.Info("compacted events", "events", res.Events, "segments", res.Segments, "raw_bytes", res.RawBytes,
			"bytes", res.Bytes, "ratio", fmt.Sprintf("%.1f", res.Ratio()), "stored_before", res.Before.UTC().Format(time.RFC3339))
	}
	if rerr := c.cfg.Store.ReclaimSpace(ctx, c.cfg.Full); rerr != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		err = errors.Join(err, fmt.Errorf("reclaim space: %w", rerr))
	}
	res.Took = c.cfg.Clock.Now().Sub(start)
	return res, err
}

// drain calls CompactEvents until it moves nothing, pausing between
// batches.
func (c *Compactor) drain(ctx context.Context, res *Result) error {
	for {
		start := c.cfg.Clock.Now()
		r, err := c.cfg.Store.CompactEvents(ctx, res.Before, c.cfg.Batch)
		if err != nil {
			return fmt.Errorf("compact events stored before %s: %w", res.Before.UTC().Format(time.RFC3339), err)
		}
		if r.Events == 0 {
			return nil
		}
		res.Events += r.Events
		res.Segments += r.Segments
		res.RawBytes += r.RawBytes
		res.Bytes += r.Bytes
		res.Batches++
		if c.cfg.OnBatch != nil {
			c.cfg.OnBatch(r)
		}
		// A short batch most likely was the last: the next call, which
		// says so, needs no pause before it.
		if c.cfg.Pause < 0 || r.Events < c.cfg.Batch {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.cfg.Clock.After(c.pause(start)):
		}
	}
}

// pause is the wait after a batch that began at start.
func (c *Compactor) pause(start time.Time) time.Duration {
	if c.cfg.Eager {
		return c.cfg.Pause
	}
	return max(c.cfg.Pause, c.cfg.Clock.Now().Sub(start))
}
