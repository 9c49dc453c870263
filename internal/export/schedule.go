package export

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Schedule is the config's export: section, which serve runs.
//
//	export:
//	  out: /var/lib/opwatch/parquet   # or s3://bucket/prefix
//	  every: 1h       # how often
//	  lookback: 48h   # each run re-exports the days from now-lookback to now
//	  log_types: []   # all three when empty
//	  mapping: panther  # or ecs, ocsf
type Schedule struct {
	Out      string        `yaml:"out"`
	Every    time.Duration `yaml:"every"`
	Lookback time.Duration `yaml:"lookback"`
	LogTypes []string      `yaml:"log_types"`
	Mapping  string        `yaml:"mapping"` // empty: panther
	// For an s3:// out; empty: OPWATCH_S3_ENDPOINT, AWS_REGION. The
	// credentials come from the environment only (AWS_ACCESS_KEY_ID, ...).
	S3Endpoint string `yaml:"s3_endpoint"`
	S3Region   string `yaml:"s3_region"`
}

// Check says what is wrong with a schedule, in the config's terms.
func (s Schedule) Check() error {
	if IsS3(s.Out) {
		if _, err := parseS3URL(s.Out); err != nil {
			return fmt.Errorf("export.out: %w", err)
		}
	}
	switch {
	case s.Out == "":
		return errors.New("export.out: the output directory is missing")
	case s.Every < time.Minute:
		return fmt.Errorf("export.every %v: want 1m or more", s.Every)
	case s.Lookback <= 0:
		return fmt.Errorf("export.lookback %v: want a positive duration such as 48h (the days it touches are exported whole)", s.Lookback)
	case s.Mapping != "" && s.Mapping != MappingPanther && s.Mapping != MappingECS && s.Mapping != MappingOCSF:
		return fmt.Errorf("export.mapping %q: want %s, %s or %s", s.Mapping, MappingPanther, MappingECS, MappingOCSF)
	}
	return nil
}

// RunScheduled exports [now-lookback, now] at once and then every
// s.Every until ctx ends. Each run rewrites the partitions of the days it
// touches, so today's partition grows run by run and a late event lands in
// its day's partition while that day is within the lookback. A failed run
// is logged and tried again at the next tick. tick replaces time.NewTicker
// in tests; nil uses it.
func RunScheduled(ctx context.Context, ev Events, s Schedule, version string, log *slog.Logger,
	now func() time.Time, tick func(time.Duration) (<-chan time.Time, func())) error {
	if err := s.Check(); err != nil {
		return err
	}
	if now == nil {
		now = time.Now
	}
	if tick == nil {
		tick = func(d time.Duration) (<-chan time.Time, func()) {
			t := time.NewTicker(d)
			return t.C, t.Stop
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	c, stop := tick(s.Every)
	defer stop()
	for {
		t := now()
		m, err := Run(ctx, ev, Options{Out: s.Out, Since: t.Add(-s.Lookback), Until: t, LogTypes: s.LogTypes,
			Mapping: s.Mapping, Version: version, Logger: log, now: now, S3: S3Config{Endpoint: s.S3Endpoint, Region: s.S3Region}})
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			log.Error("scheduled export failed; it runs again at the next interval", "err", err, "out", s.Out)
		default:
			log.Info("scheduled export", "out", s.Out, "rows", m.LastExport.Rows,
				"since", m.LastExport.Since, "until", m.LastExport.Until)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-c:
		}
	}
}
