package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/compact"
	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/retention"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

const lakeUsage = `Usage: opwatch lake stats [--config FILE] [--retention 365d] [--format table|json]
       opwatch lake compact [--older-than 1d] [--full] [--format table|json]

stats: what the event lake holds, by log type and source: events, bytes,
oldest and newest event, the events of the last 7 days, and the size the
lake reaches at that rate over each log type's retention period.
compact: compress the events stored before a point now (serve does it
hourly), and give the space back to the file system.
`

func runLake(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, lakeUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args)
	switch sub {
	case "stats":
		return lakeStats(ctx, e, args)
	case "compact":
		return lakeCompact(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, lakeUsage)
		return nil
	}
	fmt.Fprint(e.stderr, lakeUsage)
	return usagef("unknown subcommand %q", sub)
}

// recentWindow is how far back the current rate is measured.
const recentWindow = 7 * 24 * time.Hour

func lakeStats(ctx context.Context, e *env, args []string) error {
	fs := e.flags("lake stats", "lake stats [--config FILE] [--retention 365d] [--format table|json]",
		"Show what the event lake holds, by log type and source: events, bytes, the oldest\n"+
			"and newest event time, the events of the last 7 days, and the projected size: that\n"+
			"rate kept for the log type's retention period (retention: in --config, or\n"+
			"--retention as serve takes it). Bytes are each group's share of what the database\n"+
			"holds on disk (SQLite: the file; PostgreSQL: the events table with its indexes),\n"+
			"in proportion to its raw events' bytes; the raw bytes are exact. Read-only: no key\n"+
			"needed. It reads every event once, so it takes as long as reading the lake.")
	format := fs.String("format", "table", "output `format`: table or json")
	cfgPath := fs.String("config", "", "configuration `file` whose retention section sets the periods")
	flagPeriod := fs.String("retention", "", "keep events this `long` (as serve --retention; default 365d, or retention.events)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format %q: want table or json", *format)
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	events, err := parseRetentionFlag(*flagPeriod)
	if err != nil {
		return err
	}
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.ReadOnly, Logger: e.logger()})
	if errors.Is(err, store.ErrNoDatabase) {
		return noDatabase(e.db, err)
	}
	if err != nil {
		return dbError(err)
	}
	defer st.Close()
	now := time.Now()
	stats, err := st.LakeStats(ctx, now.Add(-recentWindow))
	if err != nil {
		return err
	}
	srcs, err := st.ListSources(ctx)
	if err != nil {
		return err
	}
	names := map[string]string{}
	for _, s := range srcs {
		names[s.ID] = s.Name
	}
	r := lakeReport(stats, names, cfg.Retention.EventPeriods(events), cfg.Retention.Quarantine.Duration(), now)
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printLake(e.stdout, r)
	return nil
}

// parseRetentionFlag reads --retention: "" (not given), off, or a period.
func parseRetentionFlag(s string) (config.Period, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	p, err := config.ParsePeriod(s)
	if err != nil {
		return 0, usageError{fmt.Errorf("--retention: %w", err)}
	}
	return p, nil
}

// lakeReportJSON is what lake stats shows, and its JSON form.
type lakeReportJSON struct {
	Groups     []lakeRow `json:"groups"`
	Total      lakeRow   `json:"total"`
	Quarantine lakeRow   `json:"quarantine"`
	// StoredBytes is what the database holds on disk for the lake, as the
	// engine measures it; each row's bytes are its share of it.
	StoredBytes int64 `json:"stored_bytes"`
	// RateDays is the window the current rate is measured over: 7 days,
	// or the lake's age when it is younger.
	RateDays float64 `json:"rate_days"`
	// Compacted is the events held in compressed segments (also counted
	// in the groups), CompactedBytes what those segments hold.
	Compacted      int64 `json:"compacted_events"`
	CompactedBytes int64 `json:"compacted_bytes"`
}

type lakeRow struct {
	LogType  string     `json:"log_type,omitempty"`
	SourceID string     `json:"source_id,omitempty"`
	Source   string     `json:"source,omitempty"` // the source's name, else the events' label
	Events   int64      `json:"events"`
	RawBytes int64      `json:"raw_bytes"`
	Bytes    int64      `json:"bytes"` // approximate: the share of stored_bytes
	Oldest   *time.Time `json:"oldest,omitempty"`
	Newest   *time.Time `json:"newest,omitempty"`
	Recent   int64      `json:"events_last_7d"`
	// RetentionDays is how long events are kept (0: forever); the
	// projection is the size at the current rate over that period (none
	// when kept forever).
	RetentionDays   float64 `json:"retention_days"`
	ProjectedEvents *int64  `json:"projected_events,omitempty"`
	ProjectedBytes  *int64  `json:"projected_bytes,omitempty"`
}

// lakeReport turns the store's statistics into rows with bytes and
// projections.
func lakeReport(st store.LakeStats, names map[string]string, periods map[string]time.Duration, quarantine time.Duration, now time.Time) lakeReportJSON {
	r := lakeReportJSON{StoredBytes: st.StoredBytes, Groups: []lakeRow{}, Compacted: st.Compacted, CompactedBytes: st.CompactedBytes}
	raw := st.Quarantine.RawBytes
	oldest := now
	for _, g := range st.Groups {
		raw += g.RawBytes
		if g.Events > 0 && g.Oldest.Before(oldest) {
			oldest = g.Oldest
		}
	}
	share := func(b int64) int64 {
		if raw == 0 {
			return 0
		}
		return int64(float64(st.StoredBytes) * float64(b) / float64(raw))
	}
	// A lake younger than the window has its rate over its age (an hour
	// at least).
	window := min(recentWindow, max(now.Sub(oldest), time.Hour))
	r.RateDays = window.Hours() / 24
	project := func(row *lakeRow, period time.Duration) {
		row.RetentionDays = period.Hours() / 24
		if period <= 0 {
			return
		}
		n := int64(float64(row.Recent) * float64(period) / float64(window))
		b := int64(0)
		if row.Events > 0 {
			b = int64(float64(row.Bytes) / float64(row.Events) * float64(n))
		}
		row.ProjectedEvents, row.ProjectedBytes = &n, &b
	}
	var totalEvents, totalBytes int64
	allProjected := true
	for _, g := range st.Groups {
		row := lakeRow{LogType: g.LogType, SourceID: g.SourceID, Source: names[g.SourceID], Events: g.Events,
			RawBytes: g.RawBytes, Bytes: share(g.RawBytes), Oldest: timePtr(g.Oldest), Newest: timePtr(g.Newest), Recent: g.Recent}
		if row.Source == "" {
			row.Source = g.SourceLabel
		}
		project(&row, periods[g.LogType])
		r.Groups = append(r.Groups, row)
		t := &r.Total
		t.Events, t.RawBytes, t.Bytes, t.Recent = t.Events+row.Events, t.RawBytes+row.RawBytes, t.Bytes+row.Bytes, t.Recent+row.Recent
		if row.Oldest != nil && (t.Oldest == nil || row.Oldest.Before(*t.Oldest)) {
			t.Oldest = row.Oldest
		}
		if row.Newest != nil && (t.Newest == nil || row.Newest.After(*t.Newest)) {
			t.Newest = row.Newest
		}
		if row.ProjectedEvents == nil {
			allProjected = false
		} else {
			totalEvents += *row.ProjectedEvents
			totalBytes += *row.ProjectedBytes
		}
	}
	if allProjected {
		r.Total.ProjectedEvents, r.Total.ProjectedBytes = &totalEvents, &totalBytes
	}
	q := st.Quarantine
	r.Quarantine = lakeRow{Events: q.Events, RawBytes: q.RawBytes, Bytes: share(q.RawBytes), Oldest: timePtr(q.Oldest),
		Newest: timePtr(q.Newest), RetentionDays: quarantine.Hours() / 24}
	return r
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func printLake(w io.Writer, r lakeReportJSON) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOG TYPE\tSOURCE\tEVENTS\tBYTES\tOLDEST\tNEWEST\tLAST 7D\tRETENTION\tPROJECTED")
	row := func(lt, src, kept string, l lakeRow) {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", safetext.Terminal(lt), safetext.Terminal(src), l.Events,
			sizeText(l.Bytes), dayText(l.Oldest), dayText(l.Newest), l.Recent, kept, projText(l))
	}
	for _, g := range r.Groups {
		row(g.LogType, g.Source, daysText(g.RetentionDays), g)
	}
	row("total", "", "-", r.Total)
	tw.Flush()
	q := r.Quarantine
	fmt.Fprintf(w, "\nQuarantine: %d events, %s, oldest %s, kept %s.\n", q.Events, sizeText(q.Bytes), dayText(q.Oldest), daysText(q.RetentionDays))
	fmt.Fprintf(w, "The database holds %s. Bytes are each row's share of it by its raw events' bytes (%s raw in all);\n"+
		"PROJECTED is the rate of the last %s kept for the retention period, at the row's bytes per event\n"+
		"(today's mix of hot and compacted events: on SQLite, where events over a day old are compacted,\n"+
		"a young lake's projection is about six times what a year of it will hold).\n",
		sizeText(r.StoredBytes), sizeText(r.Total.RawBytes+q.RawBytes), daysText(r.RateDays))
	fmt.Fprintf(w, "Compacted: %d of the %d events are in compressed segments, which hold %s (serve compacts what is\n"+
		"older than lake.compact_after hourly; `opwatch lake compact` does it now).\n", r.Compacted, r.Total.Events, sizeText(r.CompactedBytes))
}

func dayText(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.Format("2006-01-02 15:04")
}

func daysText(d float64) string {
	switch {
	case d <= 0:
		return "forever"
	case d == float64(int64(d)):
		return fmt.Sprintf("%dd", int64(d))
	}
	return fmt.Sprintf("%.1fd", d)
}

func projText(l lakeRow) string {
	if l.ProjectedEvents == nil {
		return "-"
	}
	return fmt.Sprintf("%d events, %s", *l.ProjectedEvents, sizeText(*l.ProjectedBytes))
}

// sizeText writes n bytes in decimal units, as disks are sold.
func sizeText(n int64) string {
	const unit = 1000
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, u := float64(n), 0
	for f >= unit && u < 4 {
		f /= unit
		u++
	}
	return fmt.Sprintf("%.1f %cB", f, "kMGTP"[u-1])
}

// sweeper is serve's retention part: the configuration's periods, with
// --retention over retention.events.
func (a *app) sweeper(cfg config.Config, events config.Period) (*retention.Sweeper, error) {
	if err := checkRetentionFlag(cfg, events); err != nil {
		return nil, err
	}
	return retention.New(retention.Config{Store: a.store, Events: cfg.Retention.EventPeriods(events),
		Quarantine: cfg.Retention.Quarantine.Duration(), Logger: a.log.With("part", "retention")}), nil
}

// checkRetentionFlag refuses a --retention that ingest's reconciliation
// would undo (serve checks it before the configuration is applied).
func checkRetentionFlag(cfg config.Config, events config.Period) error {
	if events > 0 && time.Duration(events) <= time.Duration(cfg.Ingest.ReconcileWindow) {
		return usagef("--retention %s is not longer than ingest.reconcile_window %s: events deleted would be fetched and stored again; keep them longer",
			events, cfg.Ingest.ReconcileWindow)
	}
	return nil
}

// parseCompactFlag reads an age flag (serve --compact-after): "" (not
// given), off, or at least an hour.
func parseCompactFlag(name, s string) (config.Age, error) {
	if strings.TrimSpace(s) == "" {
		return 0, nil
	}
	a, err := config.ParseCompactAfter(s)
	if err != nil {
		return 0, usageError{fmt.Errorf("%s: %w", name, err)}
	}
	return a, nil
}

// compactAfter is the age past which serve compacts events (0: off):
// --compact-after (flag, 0 if not given) over lake.compact_after.
func compactAfter(cfg config.Config, flag config.Age, db string) time.Duration {
	return config.CompactAfterFor(flag, cfg.Lake.CompactAfter, engine.Postgres(db))
}

func lakeCompact(ctx context.Context, e *env, args []string) error {
	fs := e.flags("lake compact", "lake compact [--older-than 1d] [--full] [--format table|json]",
		"Compress, now and to the end, the events stored longer ago than --older-than, as serve does\n"+
			"every hour (lake.compact_after, serve --compact-after): each log type's events move, in\n"+
			"order, into compressed segments of up to 512 events, which every reader (query and the\n"+
			"log-type views, indicator search, alerts, replay, export) reads as before, byte for\n"+
			"byte. Only events the detect stage has evaluated move. Then the space freed is given\n"+
			"back to the file system (SQLite: incremental vacuum; PostgreSQL: VACUUM), and the\n"+
			"database's size before and after is printed (SQLite: the file with its WAL; PostgreSQL:\n"+
			"the lake's tables). serve may keep running: it ingests between the batches.\n\n"+
			"--full rewrites the whole database (SQLite VACUUM, PostgreSQL VACUUM FULL of the events\n"+
			"table), so that the file shrinks to what it holds, and turns incremental vacuum on in a\n"+
			"SQLite database made by an older opwatch. It holds the write lock throughout (ingest\n"+
			"waits until it ends) and needs free disk about the size of the database.")
	olderThan := fs.String("older-than", "1d", "compact the events stored longer ago than this `age` (at least 1h)")
	full := fs.Bool("full", false, "rewrite the whole database to shrink the file (holds the write lock; needs free disk the database's size)")
	format := fs.String("format", "table", "output `format`: table or json")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format %q: want table or json", *format)
	}
	if strings.EqualFold(strings.TrimSpace(*olderThan), "off") {
		return usagef("--older-than off: give the age past which events are compacted, such as 1d (off is for lake.compact_after and serve --compact-after)")
	}
	age, err := config.ParseCompactAfter(*olderThan)
	if err != nil {
		return usagef("--older-than: %s", strings.TrimSuffix(err.Error(), ", or off"))
	}
	if age == config.Off {
		return usagef("--older-than off: give the age past which events are compacted, such as 1d")
	}
	// Existing: a database that is not there is not made to compact it.
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.Existing, Logger: e.logger()})
	if errors.Is(err, store.ErrNoDatabase) {
		return noDatabase(e.db, err)
	}
	if err != nil {
		return dbError(err)
	}
	defer st.Close()
	r, err := compactLake(ctx, e, st, age.Duration(), *full)
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return err
	}
	if *format == "json" {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	printCompact(e.stdout, r)
	return nil
}

// compactReport is what lake compact did, and its JSON form.
type compactReport struct {
	StoredBefore time.Time `json:"stored_before"` // the cut
	Events       int       `json:"events"`        // moved into segments
	Segments     int       `json:"segments"`
	RawBytes     int64     `json:"raw_bytes"`
	Bytes        int64     `json:"bytes"` // what the segments hold
	Full         bool      `json:"full"`
	// SizeBefore and SizeAfter are the database's size (SQLite: the file
	// and its WAL; PostgreSQL: the lake's tables as LakeStats measures).
	SizeBefore int64   `json:"size_before"`
	SizeAfter  int64   `json:"size_after"`
	Seconds    float64 `json:"seconds"`
	Ratio      float64 `json:"ratio"` // raw bytes over segment bytes; 0 when nothing moved
}

// compactLake compacts st's events stored more than olderThan ago, to the
// end with short pauses (serve's writers get in), then reclaims the space (full: all of it),
// measuring the database around it. Progress goes to stderr now and then.
func compactLake(ctx context.Context, e *env, st store.Store, olderThan time.Duration, full bool) (compactReport, error) {
	start := time.Now()
	r := compactReport{StoredBefore: start.Add(-olderThan).UTC(), Full: full}
	var err error
	if r.SizeBefore, err = dbSize(ctx, e.db, st); err != nil {
		return r, err
	}
	last := start
	c := compact.New(compact.Config{Store: st, After: olderThan, Eager: true, Full: full, // no log: the report says it all
		OnBatch: func(b store.CompactResult) {
			r.Events += b.Events
			if time.Since(last) >= 10*time.Second {
				last = time.Now()
				fmt.Fprintf(e.stderr, "… %d events compacted (%s)\n", r.Events, time.Since(start).Round(time.Second))
			}
		}})
	res, err := c.Pass(ctx)
	r.Events, r.Segments, r.RawBytes, r.Bytes = res.Events, res.Segments, res.RawBytes, res.Bytes
	if err != nil {
		return r, err
	}
	if r.SizeAfter, err = dbSize(ctx, e.db, st); err != nil {
		return r, err
	}
	r.Seconds = time.Since(start).Seconds()
	if r.Bytes > 0 {
		r.Ratio = math.Round(float64(r.RawBytes)/float64(r.Bytes)*10) / 10
	}
	return r, nil
}

// dbSize is what the database takes: a SQLite file with its WAL, else
// what the engine measures (LakeStats, which reads the lake).
func dbSize(ctx context.Context, db string, st store.Store) (int64, error) {
	if engine.Local(db) {
		var n int64
		for _, suffix := range []string{"", "-wal"} {
			if fi, err := os.Stat(db + suffix); err == nil {
				n += fi.Size()
			}
		}
		return n, nil
	}
	s, err := st.LakeStats(ctx, time.Now())
	if err != nil {
		return 0, fmt.Errorf("measure the database: %w", err)
	}
	return s.StoredBytes, nil
}

func printCompact(w io.Writer, r compactReport) {
	ratio := "-"
	if r.Bytes > 0 {
		ratio = fmt.Sprintf("%.1f×", float64(r.RawBytes)/float64(r.Bytes))
	}
	fmt.Fprintf(w, "Compacted %d events stored before %s into %d segments: %s raw, %s stored (%s).\n",
		r.Events, r.StoredBefore.Format("2006-01-02 15:04 UTC"), r.Segments, sizeText(r.RawBytes), sizeText(r.Bytes), ratio)
	how := "freed space reclaimed"
	if r.Full {
		how = "rewritten whole (--full)"
	}
	fmt.Fprintf(w, "Database: %s before, %s after (%s). Took %s.\n",
		sizeText(r.SizeBefore), sizeText(r.SizeAfter), how, (time.Duration(r.Seconds * float64(time.Second))).Round(time.Millisecond))
}
