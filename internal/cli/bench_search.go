package cli

import (
	"context"
	"errors"
	"fmt"
	iofs "io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/search"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// runBenchSearch is `opwatch bench search`: indicator searches over a lake
// of N events, and the ingest rate that built it with the index.
func runBenchSearch(ctx context.Context, e *env, args []string) error {
	fs := e.flags("bench search", "bench search [--events N] [--span 30d] [--window 30d] [--searches N] [--db FILE | --dir DIR]",
		"Build a lake of N realistic events (the emulator in-process over --span, thousands of members\n"+
			"and tens of thousands of addresses, through the ingest path: the rate printed is ingest's\n"+
			"with the indicator index), then time indicator searches: e-mail addresses and IPs drawn\n"+
			"from stored events, and values that are nowhere (every block is read), each over the\n"+
			"last --window of the lake, 100 events a page. Prints the median, p95 and max of each.\n"+
			"With --db (or OPWATCH_DB) naming a database that exists, it is searched as it is (read\n"+
			"only, nothing built); one that does not exist is built there and kept. Otherwise the\n"+
			"lake is built in --dir (default a temporary directory) and removed after.")
	n := fs.Int("events", 10_000_000, "events in all (a third of each log type)")
	span := fs.String("span", "30d", "time the lake's events spread over")
	window := fs.String("window", "30d", "time range of each search, ending at the newest event")
	searches := fs.Int("searches", 40, "searches of each kind")
	dir := fs.String("dir", "", "directory for a lake built and removed (default a temporary one)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	spanD, err := config.ParseDuration(*span)
	if err != nil || spanD <= 0 {
		return usagef("--span %q: want a duration such as 30d or 12h", *span)
	}
	windowD, err := config.ParseDuration(*window)
	if err != nil || windowD <= 0 {
		return usagef("--window %q: want a duration such as 30d or 12h", *window)
	}
	if *n < 3 {
		return usagef("--events %d: want at least 3", *n)
	}
	if *searches < 1 {
		return usagef("--searches %d: want at least 1", *searches)
	}

	be := *e
	be.logLevel = "warn"
	reuse := false
	if e.dbSet {
		if _, err := os.Stat(e.db); err == nil {
			reuse = true
		} else if !errors.Is(err, iofs.ErrNotExist) {
			return err
		}
	} else {
		if *dir == "" {
			d, err := os.MkdirTemp("", "opwatch-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			*dir = d
		}
		be.db = filepath.Join(*dir, "bench.db")
		be.keyFile = ""
		if _, err := os.Lstat(be.db); err == nil {
			return fmt.Errorf("%s exists: bench search builds a fresh lake; remove it, give another --dir, or search it with --db", be.db)
		}
	}
	fmt.Fprintf(e.stdout, "bench search: GOMAXPROCS %d, database %s\n", runtime.GOMAXPROCS(0), be.db)
	if !reuse {
		if err := benchBuildLake(ctx, e, &be, *n, spanD, *span); err != nil {
			return err
		}
	}
	a, err := be.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	ix, ok := a.store.(store.Indicators)
	if !ok {
		return errors.New("this database engine has no indicator search")
	}
	return benchSearches(ctx, e, a.store, search.New(ix, nil), be.db, windowD, *window, *searches)
}

// benchBuildLake fills be.db with n events from the emulator through the
// ingest path, and prints the rate.
func benchBuildLake(ctx context.Context, e, be *env, n int, span time.Duration, spanText string) error {
	a, err := be.openWrite(ctx, engine.ReadWrite, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()
	em, err := emulator.Start(emulator.Options{Seed: 1, Events: n / 3, RateLimitPerMinute: -1, RateLimitPerHour: -1,
		Span: span}, "127.0.0.1:0", false)
	if err != nil {
		return err
	}
	defer em.Close()
	tok, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		return err
	}
	s := config.Source{Name: "bench", BaseURL: em.URL(), Lookback: config.Duration(span + 24*time.Hour)}
	if _, err := a.sources.Add(ctx, s, tok); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "building:   %d events (%d of each type) over %s\n", 3*(n/3), n/3, spanText)
	in := ingest.New(ingest.Config{Store: a.store, Secrets: a.secrets, Logger: a.log, UserAgent: userAgent()})
	start := time.Now()
	cpu0 := processCPU()
	results, err := in.Pull(ctx, nil)
	took, cpu := time.Since(start), processCPU()-cpu0
	if err != nil {
		if ctx.Err() != nil {
			return errInterrupted
		}
		return fmt.Errorf("build the lake: %w", err)
	}
	stored := 0
	for _, r := range results {
		stored += r.Inserted
	}
	fmt.Fprintf(e.stdout, "ingest:     %d events in %s: %.0f events/s with the index (cpu %s), peak RSS %s\n",
		stored, took.Round(time.Millisecond), float64(stored)/took.Seconds(), cpu.Round(time.Millisecond), peakRSS())
	if stored != 3*(n/3) {
		return fmt.Errorf("stored %d events, want %d", stored, 3*(n/3))
	}
	return nil
}

// benchSearches times searches of each kind over the last window of the
// lake and prints their spread.
func benchSearches(ctx context.Context, e *env, st store.Store, s *search.Searcher, db string, window time.Duration, windowText string, per int) error {
	var size int64
	for _, suffix := range []string{"", "-wal"} {
		if fi, err := os.Stat(db + suffix); err == nil {
			size += fi.Size()
		}
	}
	var events, newestSeq int64
	var newest string
	err := st.Query(ctx, `SELECT (SELECT count(*) FROM events), (SELECT coalesce(max(seq), 0) FROM events),
		(SELECT coalesce(max(last_event_at), '') FROM streams)`, func(_ []string, v []any) error {
		if v != nil {
			events, _ = v[0].(int64)
			newestSeq, _ = v[1].(int64)
			newest, _ = v[2].(string)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if events == 0 || newest == "" {
		return fmt.Errorf("%s holds no events to search", db)
	}
	to, err := time.Parse("2006-01-02 15:04:05.999999999", newest)
	if err != nil {
		return fmt.Errorf("newest event time %q: %w", newest, err)
	}
	to = to.Add(time.Nanosecond) // the range excludes its end
	from := to.Add(-window)
	fmt.Fprintf(e.stdout, "lake:       %d events, %.1f GB (database and WAL), %.0f bytes per event\n",
		events, float64(size)/1e9, float64(size)/float64(events))

	// Indicators drawn from random events: as often as they occur.
	r := rand.New(rand.NewPCG(1, 2))
	var emails, ips []string
	for tries := 0; (len(emails) < per || len(ips) < per) && tries < 50*per; tries++ {
		seq := 1 + r.Int64N(newestSeq)
		err := st.Query(ctx, fmt.Sprintf(`SELECT p_any_emails, p_any_ip_addresses FROM events WHERE seq = %d`, seq),
			func(_ []string, v []any) error {
				if v == nil {
					return nil
				}
				for i, dst := range []*[]string{&emails, &ips} {
					if text, ok := v[i].(string); ok && len(*dst) < per {
						if vals := jsonStrings(text); len(vals) > 0 {
							if k := vals[r.IntN(len(vals))]; !slices.Contains(*dst, k) {
								*dst = append(*dst, k)
							}
						}
					}
				}
				return nil
			})
		if err != nil {
			return err
		}
	}
	var absent []string
	for i := range per {
		if i%2 == 0 {
			absent = append(absent, fmt.Sprintf("nobody%d@absent.example", i))
		} else {
			absent = append(absent, fmt.Sprintf("2001:db8:ffff::%x", i))
		}
	}
	fmt.Fprintf(e.stdout, "search:     %s to %s (%s), %d events a page\n",
		from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), windowText, search.DefaultLimit)
	for _, set := range []struct {
		name string
		vals []string
	}{{"e-mail", emails}, {"IP", ips}, {"absent", absent}} {
		var took []time.Duration
		var found []int
		for _, v := range set.vals {
			start := time.Now()
			res, err := s.Search(ctx, search.Query{Indicator: v, From: from, To: to})
			if err != nil {
				if ctx.Err() != nil {
					return errInterrupted
				}
				return err
			}
			took = append(took, time.Since(start))
			found = append(found, len(res.Events))
		}
		if len(took) == 0 {
			fmt.Fprintf(e.stdout, "  %-8s  none found in the lake\n", set.name)
			continue
		}
		slices.Sort(took)
		slices.Sort(found)
		fmt.Fprintf(e.stdout, "  %-8s  %d searches: median %s, p95 %s, max %s; events found: median %d\n", set.name, len(took),
			ms(took[len(took)/2]), ms(took[(len(took)*95+99)/100-1]), ms(took[len(took)-1]), found[len(found)/2])
	}
	return nil
}

// ms prints d in milliseconds with one decimal.
func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

// jsonStrings splits a stored p_any_ array (JSON strings without escapes,
// which is what addresses are); anything else gives none.
func jsonStrings(text string) []string {
	if len(text) < 4 || text[0] != '[' || text[len(text)-1] != ']' || strings.ContainsRune(text, '\\') {
		return nil
	}
	var out []string
	for _, part := range strings.Split(text[1:len(text)-1], ",") {
		if len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"' {
			out = append(out, part[1:len(part)-1])
		}
	}
	return out
}
