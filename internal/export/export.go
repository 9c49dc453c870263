// Package export writes the lake as Parquet files that warehouses read as
// they are (DuckDB, Trino/Athena, Spark, Snowflake external tables): one
// table per log type with Panther's column names and types, partitioned
// Hive-style by p_log_type and day, compressed with zstd, with a manifest of
// what was written.
//
// Layout under the output directory:
//
//	p_log_type=OnePassword.SignInAttempt/dt=2026-11-30/part-0000.parquet
//	_manifest.json
//
// A partition (log type and UTC day) is always written whole: an export's
// range is widened to whole days, and every partition in it is replaced, so
// exporting the same range again gives the same files.
package export

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// Events is the part of the store an export reads: events by time range,
// up to the newest position when the export began.
type Events interface {
	ScanEvents(ctx context.Context, logType string, from, to time.Time, maxSeq int64, fn func(*store.StoredEvent) error) error
	LatestSeq(ctx context.Context) (int64, error)
}

// Options say what to export and where.
type Options struct {
	Out      string    // the output directory (created if missing), or s3://bucket/prefix
	Since    time.Time // widened down to its UTC day
	Until    time.Time // widened up to the end of its UTC day (exclusive)
	LogTypes []string  // nil: all three
	Mapping  string    // MappingPanther (default), MappingECS or MappingOCSF
	Version  string    // opwatch's version, recorded in the manifest and the files

	// Bounds on memory. Zero values take the defaults.
	RowGroupRows  int   // rows per row group (default 16,384)
	RowGroupBytes int64 // a row group is cut early past this much raw JSON (default 16 MiB)
	BatchSize     int   // events read from the store at a time (default 2,000)
	MaxOpen       int   // partitions written at once (default 6); past it, the least recently used one ends its part file
	Logger        *slog.Logger

	S3 S3Config // for an s3:// Out: endpoint, region, credentials (s3.go)

	now    func() time.Time // the manifest's times; time.Now when nil
	noSync bool             // tests: skip fsync, which a busy disk makes slow
}

// Defaults of the memory bounds.
const (
	DefaultRowGroupRows  = 16384
	DefaultRowGroupBytes = 16 << 20
	DefaultBatchSize     = 2000
	DefaultMaxOpen       = 6
)

// Day is one UTC day, as written in a partition's dt=.
const dayLayout = "2006-01-02"

// Range widens since and until to whole UTC days: [first day, end day).
func Range(since, until time.Time) (time.Time, time.Time) {
	s := since.UTC().Truncate(24 * time.Hour)
	u := until.UTC()
	if t := u.Truncate(24 * time.Hour); !t.Equal(u) {
		u = t.Add(24 * time.Hour)
	}
	return s, u
}

type partKey struct {
	logType string
	day     string
}

// Run exports the events of opt's range and returns the partitions it
// wrote. Nothing under opt.Out changes until every event was read and every
// file written; then each partition's files are renamed into place and its
// stale files removed, and the manifest is rewritten.
func Run(ctx context.Context, ev Events, opt Options) (*Manifest, error) {
	if opt.Out == "" {
		return nil, errors.New("export: no output directory: give --out DIR")
	}
	if !opt.Until.After(opt.Since) {
		return nil, fmt.Errorf("export: --until %s is not after --since %s", opt.Until.Format(time.RFC3339), opt.Since.Format(time.RFC3339))
	}
	if IsS3(opt.Out) {
		return runS3(ctx, ev, opt) // stages locally through Run, then uploads
	}
	setDefaults(&opt)
	since, until := Range(opt.Since, opt.Until)
	tables := map[string]*Table{}
	names := opt.LogTypes
	if len(names) == 0 {
		for _, lt := range logtype.All() {
			names = append(names, lt.Name)
		}
	}
	for _, name := range names {
		lt := logtype.ByName(name)
		if lt == nil {
			return nil, fmt.Errorf("export: unknown log type %q: want OnePassword.SignInAttempt, OnePassword.ItemUsage or OnePassword.AuditEvent", name)
		}
		var t *Table
		var err error
		switch opt.Mapping {
		case MappingPanther:
			t, err = NewTable(lt)
		case MappingECS:
			t, err = NewECSTable(lt)
		case MappingOCSF:
			t, err = NewOCSFTable(lt)
		default:
			err = fmt.Errorf("unknown mapping %q: want %s, %s or %s", opt.Mapping, MappingPanther, MappingECS, MappingOCSF)
		}
		if err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		tables[name] = t
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return nil, fmt.Errorf("export: create the output directory: %w", err)
	}
	// One mapping per directory: a table whose files had two schemas
	// would read as neither.
	if m, err := ReadManifest(opt.Out); err == nil {
		for _, p := range m.Partitions {
			if p.mapping() != opt.Mapping {
				return nil, fmt.Errorf("export: %s holds the %s mapping; export the %s mapping to another directory", opt.Out, p.mapping(), opt.Mapping)
			}
		}
	}
	runID := make([]byte, 6)
	rand.Read(runID)
	w := &writers{opt: opt, tables: tables, run: hex.EncodeToString(runID), open: map[partKey]*partWriter{}, done: map[partKey][]fileInfo{}}
	defer w.abort() // removes the temporary files of a failed export

	latest, err := ev.LatestSeq(ctx)
	if err != nil {
		return nil, fmt.Errorf("export: read the lake's last position: %w", err)
	}
	// A day of a log type at a time: one partition is written whole before
	// the next, and the store reads only those days (the events written
	// since the export began wait for the next one).
	var row parquet.Row
	for _, name := range names {
		t := tables[name]
		for day := since; day.Before(until); day = day.AddDate(0, 0, 1) {
			key := partKey{name, day.Format(dayLayout)}
			err := ev.ScanEvents(ctx, name, day, day.AddDate(0, 0, 1), latest, func(e *store.StoredEvent) error {
				row = t.Row(row, e)
				return w.write(key, row, e)
			})
			if err != nil {
				return nil, fmt.Errorf("export: %w", err)
			}
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("export: %w", err)
			}
		}
	}
	if err := w.closeAll(); err != nil {
		return nil, err
	}
	return w.commit(since, until, names)
}

func setDefaults(o *Options) {
	if o.RowGroupRows <= 0 {
		o.RowGroupRows = DefaultRowGroupRows
	}
	if o.RowGroupBytes <= 0 {
		o.RowGroupBytes = DefaultRowGroupBytes
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultBatchSize
	}
	if o.MaxOpen <= 0 {
		o.MaxOpen = DefaultMaxOpen
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.now == nil {
		o.now = time.Now
	}
	if o.Mapping == "" {
		o.Mapping = MappingPanther
	}
	if o.Version == "" {
		o.Version = "devel"
	}
}

// partitionDir is a partition's directory, relative to the output directory.
func partitionDir(k partKey) string {
	return filepath.Join("p_log_type="+k.logType, "dt="+k.day)
}

// partName is the final name of a partition's n-th file.
func partName(n int) string { return fmt.Sprintf("part-%04d.parquet", n) }

// tmpName is where the n-th file is written first: a dot-name, which Hive,
// Trino and Spark skip, with a suffix no *.parquet glob matches.
func tmpName(run string, n int) string { return fmt.Sprintf(".part-%04d.%s.tmp", n, run) }

func sortedKeys[V any](m map[partKey]V) []partKey {
	keys := make([]partKey, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b partKey) int {
		if a.logType != b.logType {
			if a.logType < b.logType {
				return -1
			}
			return 1
		}
		if a.day < b.day {
			return -1
		}
		if a.day > b.day {
			return 1
		}
		return 0
	})
	return keys
}
