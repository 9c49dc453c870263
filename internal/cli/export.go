package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/export"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store/engine"
)

const exportUsage = `Usage: opwatch export parquet --since T [--until T] --out DIR|s3://BUCKET/PREFIX [--log-types T,...] [--mapping panther|ecs|ocsf]

Write the lake's events as Parquet files (zstd) that DuckDB, Trino/Athena, Spark and
Snowflake external tables read as they are. See docs/lake.md.
`

func runExport(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, exportUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "parquet")
	switch sub {
	case "parquet":
		return exportParquet(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, exportUsage)
		return nil
	}
	fmt.Fprint(e.stderr, exportUsage)
	return usagef("unknown subcommand %q", sub)
}

func exportParquet(ctx context.Context, e *env, args []string) error {
	fs := e.flags("export parquet", "export parquet --since T [--until T] --out DIR|s3://BUCKET/PREFIX [--log-types T,...] [--mapping panther|ecs|ocsf]",
		"Write each log type's events as Parquet files, partitioned Hive-style:\n"+
			"  DIR/p_log_type=OnePassword.SignInAttempt/dt=2026-11-30/part-0000.parquet\n"+
			"with Panther's column names and types, the p_ fields, and p_raw (the event's JSON as\n"+
			"received), and DIR/_manifest.json listing the files with their rows and sha256.\n\n"+
			"The range is widened to whole UTC days, and every partition in it is replaced: exporting\n"+
			"again gives the same files, with the events stored since. Nothing in DIR changes until\n"+
			"all files are written. The database is opened read-only; serve may keep running.\n"+
			"Times: an RFC 3339 time, a day (2026-11-30), or a duration back from now (7d, 12h).")
	sinceFlag := fs.String("since", "", "first `day` or time to export (required)")
	untilFlag := fs.String("until", "", "end of the range, exclusive (default now; a time within a day includes that day)")
	out := fs.String("out", "", "output `directory` (required; created if missing), or s3://bucket/prefix (credentials from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)")
	s3Endpoint := fs.String("s3-endpoint", "", "S3-compatible server's base `URL` for an s3:// --out, path-style (default $OPWATCH_S3_ENDPOINT, else AWS)")
	s3Region := fs.String("s3-region", "", "S3 `region` (default $AWS_REGION, else us-east-1)")
	logTypes := fs.String("log-types", "", "comma-separated `log types` (default all three)")
	mapping := fs.String("mapping", "panther", "column `mapping`: panther, ecs (as Elastic's 1Password integration maps the events) or ocsf (OCSF 1.4 IAM classes); docs/lake.md")
	rowGroup := fs.Int("row-group-rows", export.DefaultRowGroupRows, "rows per Parquet row group (bounds memory)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *sinceFlag == "" || *out == "" {
		fs.Usage()
		return usagef("--since and --out are required")
	}
	switch *mapping {
	case export.MappingPanther, export.MappingECS, export.MappingOCSF:
	default:
		return usagef("--mapping %q: want panther, ecs or ocsf", *mapping)
	}
	now := time.Now()
	since, err := parseDay(*sinceFlag, now)
	if err != nil {
		return usagef("--since: %v", err)
	}
	until := now
	if *untilFlag != "" {
		if until, err = parseDay(*untilFlag, now); err != nil {
			return usagef("--until: %v", err)
		}
	}
	if !until.After(since) {
		return usagef("--since must be before --until")
	}
	if *rowGroup < 1 {
		return usagef("--row-group-rows %d: want 1 or more", *rowGroup)
	}
	var types []string
	if *logTypes != "" {
		for _, t := range strings.Split(*logTypes, ",") {
			t = strings.TrimSpace(t)
			// The feature names a source's log_types take name them too.
			if lt := logtype.ByFeature(strings.ToLower(t)); lt != nil {
				t = lt.Name
			}
			if logtype.ByName(t) == nil {
				return usagef("--log-types: unknown log type %q: want OnePassword.SignInAttempt, OnePassword.ItemUsage or OnePassword.AuditEvent (or signinattempts, itemusages, auditevents)", t)
			}
			types = append(types, t)
		}
	}
	log := e.logger()
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.ReadOnly, Logger: log})
	if err != nil {
		return dbError(err)
	}
	defer st.Close()
	start := time.Now()
	m, err := export.Run(ctx, st, export.Options{Out: *out, Since: since, Until: until, LogTypes: types,
		Mapping: *mapping, Version: buildVersion(), Logger: log, RowGroupRows: *rowGroup,
		S3: export.S3Config{Endpoint: *s3Endpoint, Region: *s3Region, Getenv: e.getenv}})
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return errInterrupted
		}
		return err
	}
	var files int
	var bytes int64
	for _, p := range m.Partitions {
		if p.ExportedAt.Equal(m.LastExport.At) {
			for _, f := range p.Files {
				files++
				bytes += f.Bytes
			}
		}
	}
	fmt.Fprintf(e.stdout, "exported %d events of %s..%s into %d files (%d bytes) under %s in %v\n",
		m.LastExport.Rows, m.LastExport.Since.Format("2006-01-02"), m.LastExport.Until.Add(-time.Second).Format("2006-01-02"),
		files, bytes, *out, time.Since(start).Round(time.Millisecond))
	return nil
}

// parseDay reads a day (2026-11-30, UTC), an RFC 3339 time, or a duration
// back from now.
func parseDay(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	return parseWhen(s, now)
}
