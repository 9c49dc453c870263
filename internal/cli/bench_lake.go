package cli

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/compact"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// runBenchLake is `opwatch bench lake`: a synthetic year stored, compacted,
// and read before and after (issue 11).
func runBenchLake(ctx context.Context, e *env, args []string) error {
	fs := e.flags("bench lake", "bench lake [--days 30] [--per-day N] [--runs 20] [--dir DIR] [--db postgres://…]",
		"Build a lake of --days days with --per-day events a day (a third of each log type, made by\n"+
			"the emulator without HTTP and stored as ingest stores them: parsed, indicators and all),\n"+
			"every time in the past; then compact what was stored over a day ago, as serve does, and\n"+
			"rewrite the database (lake compact --full). It prints the ingest rate, the bytes per event\n"+
			"at rest before and after, and the median latency before and after of: a 30-day indicator\n"+
			"search (an e-mail and an IP that occur in the lake, 100 events as the console asks), and\n"+
			"a 1-day time range on the sign-in view (count(*), and its first 100 rows); each read must\n"+
			"return the same before and after. --days 365 --per-day 10000 is a year of a company of\n"+
			"a few hundred people (3.65 million events). The database is its own (in --dir), or with\n"+
			"--db postgres://… an empty PostgreSQL database. It is for measuring: its source has no\n"+
			"real token and no key is kept, so the verbs that read it work, serve does not.")
	days := fs.Int("days", 30, "days the lake's events spread over, ending now")
	perDay := fs.Int("per-day", 3000, "events a day (a third of each log type)")
	runs := fs.Int("runs", 20, "times each read is measured (fewer when one takes long)")
	dir := fs.String("dir", "", "directory for the database (default a temporary one, removed after)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	switch {
	case *days < 2:
		return usagef("--days %d: want at least 2 (the last day stays uncompacted)", *days)
	case *perDay < 3:
		return usagef("--per-day %d: want at least 3 (one of each log type)", *perDay)
	case *days > 3650 || int64(*days)*int64(*perDay) > 2_000_000_000:
		return usagef("--days %d --per-day %d: at most 3650 days and 2 billion events", *days, *perDay)
	case *runs < 1:
		return usagef("--runs %d: want at least 1", *runs)
	}
	dsn := e.db
	if !engine.Postgres(dsn) {
		if *dir == "" {
			d, err := os.MkdirTemp("", "opwatch-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			*dir = d
		}
		dsn = filepath.Join(*dir, "bench.db")
		if _, err := os.Lstat(dsn); err == nil {
			return fmt.Errorf("%s exists: bench lake builds a fresh lake; remove it or give another --dir", dsn)
		}
	}
	b := &lakeBench{out: e.stdout, dsn: dsn, days: *days, perDay: *perDay, runs: *runs}
	err := b.run(ctx)
	if err != nil && ctx.Err() != nil {
		return errInterrupted
	}
	return err
}

type lakeBench struct {
	out          io.Writer
	dsn          string
	days, perDay int
	runs         int
	now          time.Time // the newest event's time, about
	events       int64     // stored
	email, ip    string    // indicators that occur in the window searched
	day          time.Time // the day the range reads read
}

func (b *lakeBench) open(ctx context.Context, mode engine.Mode) (store.Store, error) {
	st, err := engine.Open(ctx, b.dsn, engine.Options{Mode: mode})
	if err != nil {
		return nil, dbError(err)
	}
	return st, nil
}

func (b *lakeBench) run(ctx context.Context) error {
	b.now = time.Now().UTC().Truncate(time.Second)
	fmt.Fprintf(b.out, "bench lake: %d days × %d events a day (%d events), GOMAXPROCS %d, database %s\n",
		b.days, b.perDay, 3*(b.perDay*b.days/3), runtime.GOMAXPROCS(0), dbName(b.dsn))
	st, err := b.open(ctx, engine.Migrate)
	if err != nil {
		return err
	}
	if err := b.build(ctx, st); err != nil {
		st.Close()
		return err
	}
	// Closed and opened again: the WAL checkpointed into the file, which
	// is then measured as it rests.
	if err := st.Close(); err != nil {
		return err
	}
	if st, err = b.open(ctx, engine.ReadWrite); err != nil {
		return err
	}
	defer func() { st.Close() }()
	if err := b.pickIndicators(ctx, st); err != nil {
		return err
	}
	sizeBefore, err := dbSize(ctx, b.dsn, st)
	if err != nil {
		return err
	}
	before, err := b.reads(ctx, st)
	if err != nil {
		return err
	}

	start := time.Now()
	lastBatch := start
	res, err := compact.New(compact.Config{Store: st, After: 24 * time.Hour, Pause: -1,
		OnBatch: func(store.CompactResult) { lastBatch = time.Now() }}).Pass(ctx)
	if err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	// The pass moved events until its last batch, then reclaimed.
	took, reclaim := lastBatch.Sub(start), time.Since(lastBatch)
	rss := peakRSS()
	// Measured as it rests, as before.
	if err := st.Close(); err != nil {
		return err
	}
	if st, err = b.open(ctx, engine.ReadWrite); err != nil {
		return err
	}
	sizeCompacted, err := dbSize(ctx, b.dsn, st)
	if err != nil {
		return err
	}
	start = time.Now()
	if err := st.ReclaimSpace(ctx, true); err != nil {
		return fmt.Errorf("reclaim space (full): %w", err)
	}
	tookFull := time.Since(start)
	if err := st.Close(); err != nil {
		return err
	}
	if st, err = b.open(ctx, engine.ReadWrite); err != nil {
		return err
	}
	sizeAfter, err := dbSize(ctx, b.dsn, st)
	if err != nil {
		return err
	}
	after, err := b.reads(ctx, st)
	if err != nil {
		return err
	}

	per := func(n int64) string { return fmt.Sprintf("%.0f B/event", float64(n)/float64(b.events)) }
	fmt.Fprintf(b.out, "compaction: %d events into %d segments in %s (%.0f events/s), then space reclaimed in %s: %s raw → %s in segments (%.1f×, %.0f B/event), peak RSS %s\n",
		res.Events, res.Segments, took.Round(time.Millisecond), float64(res.Events)/took.Seconds(), reclaim.Round(time.Millisecond),
		sizeText(res.RawBytes), sizeText(res.Bytes), res.Ratio(), float64(res.Bytes)/float64(max(res.Events, 1)), rss)
	fmt.Fprintf(b.out, "at rest:    before %s (%s); compacted and reclaimed %s (%s); after a full rewrite (%s) %s (%s): %.1f× smaller\n",
		sizeText(sizeBefore), per(sizeBefore), sizeText(sizeCompacted), per(sizeCompacted), tookFull.Round(time.Millisecond),
		sizeText(sizeAfter), per(sizeAfter), float64(sizeBefore)/float64(max(sizeAfter, 1)))
	fmt.Fprintf(b.out, "reads:      median of up to %d runs each; the window searched ends %s, the day read is %s\n",
		b.runs, b.now.Format("2006-01-02 15:04"), b.day.Format("2006-01-02"))
	fmt.Fprintf(b.out, "  %-42s %12s %12s  %s\n", "", "before", "after", "rows")
	var differ []string
	for i, r := range before {
		a := after[i]
		fmt.Fprintf(b.out, "  %-42s %12s %12s  %d\n", r.name, ms(r.median), ms(a.median), r.rows)
		if r.digest != a.digest || r.rows != a.rows {
			differ = append(differ, r.name)
		}
	}
	if len(differ) > 0 {
		return fmt.Errorf("compaction changed what these reads return: %v", differ)
	}
	return nil
}

// build stores the lake: the three log types' streams of the emulator,
// merged in the order they were ingested, in pages of an hour's events.
func (b *lakeBench) build(ctx context.Context, st store.Store) error {
	if srcs, err := st.ListSources(ctx); err != nil || len(srcs) > 0 {
		return fmt.Errorf("%s holds sources: bench lake needs an empty database (%v)", dbName(b.dsn), err)
	}
	if err := st.SyncViews(ctx, Views()); err != nil {
		return fmt.Errorf("create log-type views: %w", err)
	}
	lts := logtype.All()
	names := make([]string, len(lts))
	for i, lt := range lts {
		names[i] = lt.Name
	}
	src := store.Source{Name: "bench", APIVersion: 2, Interval: time.Minute, Lookback: time.Hour, Token: []byte("none: bench lake stores events itself")}
	if err := st.CreateSource(ctx, &src, names); err != nil {
		return err
	}
	streams, err := st.Streams(ctx, src.ID)
	if err != nil {
		return err
	}
	streamOf := map[string]int64{}
	for _, s := range streams {
		streamOf[s.LogType] = s.ID
	}
	em, err := emulator.New(emulator.Options{Seed: 1, Events: b.perDay * b.days / 3, Span: time.Duration(b.days) * 24 * time.Hour,
		Now: func() time.Time { return b.now }})
	if err != nil {
		return err
	}
	account := em.DefaultAccount()

	ctx, cancel := context.WithCancel(ctx)
	type page struct {
		events []store.Event
		err    error
	}
	chans := make([]chan page, len(lts))
	var wg sync.WaitGroup
	for i, lt := range lts {
		ch := make(chan page, 2)
		chans[i] = ch
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(ch)
			rows := logtype.NewRowIDs()
			var events []store.Event
			var stored time.Time
			send := func(p page) bool {
				select {
				case ch <- p:
					return true
				case <-ctx.Done():
					return false
				}
			}
			em.Each(account, lt.Feature, 2, func(_ string, raw []byte) bool {
				ev, err := lt.Parse(raw)
				if err != nil {
					send(page{err: fmt.Errorf("the emulator made an invalid %s: %w", lt.Name, err)})
					return false
				}
				// Stored when received: in ingestion order, a late event
				// after the newer ones before it.
				if ev.Time.After(stored) {
					stored = ev.Time
				}
				events = append(events, store.Event{SourceID: src.ID, Account: account, LogType: lt.Name, UUID: ev.UUID,
					EventTime: ev.Time, ParseTime: stored, RowID: rows.Next(), SourceLabel: src.Name,
					IPs: ev.IPs, Emails: ev.Emails, Raw: ev.Raw})
				// A page holds what arrived within an hour, a thousand
				// events at most: as ingest stores them, seq follows the
				// time stored closely enough for compaction's cut.
				if len(events) < 1000 && stored.Sub(events[0].ParseTime) < time.Hour {
					return true
				}
				ok := send(page{events: events})
				events = nil
				return ok
			})
			if len(events) > 0 {
				send(page{events: events})
			}
		}()
	}
	defer wg.Wait()
	defer cancel() // before the wait: a producer blocked on its channel ends

	fmt.Fprintf(b.out, "building:   %d events of each type over %d days, newest %s\n", b.perDay*b.days/3, b.days, b.now.Format(time.RFC3339))
	start := time.Now()
	var inStore time.Duration
	pages := 0
	heads := make([]*page, len(lts))
	for {
		// The page stored next is the one received first, across streams.
		next := -1
		for i, ch := range chans {
			if heads[i] == nil && ch != nil {
				if p, ok := <-ch; ok {
					heads[i] = &p
				} else {
					chans[i] = nil
				}
			}
			if h := heads[i]; h != nil {
				if h.err != nil {
					return h.err
				}
				if next < 0 || h.events[0].ParseTime.Before(heads[next].events[0].ParseTime) {
					next = i
				}
			}
		}
		if next < 0 {
			break
		}
		t0 := time.Now()
		cr, err := st.InsertEvents(ctx, streamOf[lts[next].Name], heads[next].events, nil)
		inStore += time.Since(t0)
		if err != nil {
			return fmt.Errorf("store events: %w", err)
		}
		b.events += int64(cr.Inserted)
		pages++
		heads[next] = nil
	}
	took := time.Since(start)
	fmt.Fprintf(b.out, "ingest:     %d events in %d pages (an hour's events each, 1000 at most) in %s: %.0f events/s (generating them included; the store alone %.0f events/s), peak RSS %s\n",
		b.events, pages, took.Round(time.Millisecond), float64(b.events)/took.Seconds(), float64(b.events)/inStore.Seconds(), peakRSS())
	if want := int64(3 * (b.perDay * b.days / 3)); b.events != want {
		return fmt.Errorf("stored %d events, want %d", b.events, want)
	}
	// Detect has seen everything: compaction moves only what it has.
	from, err := st.Position(ctx, store.CompactStage)
	if err != nil {
		return err
	}
	to, err := st.LatestSeq(ctx)
	if err != nil {
		return err
	}
	epoch, err := st.AlertEpoch(ctx)
	if err != nil {
		return err
	}
	return st.CommitDetect(ctx, store.DetectCommit{Stage: store.CompactStage, From: from, To: to, Epoch: epoch})
}

// pickIndicators takes an e-mail and an IP from sign-ins in the window
// searched (random ones, the same each run), and the day read: the middle
// of the lake, which compaction moves.
func (b *lakeBench) pickIndicators(ctx context.Context, st store.Store) error {
	latest, err := st.LatestSeq(ctx)
	if err != nil {
		return err
	}
	window := min(30, b.days) // the window's share of the lake, in days
	first := max(1, latest-latest*int64(window)/int64(b.days))
	r := rand.New(rand.NewPCG(1, 2))
	for tries := 0; (b.email == "" || b.ip == "") && tries < 10000; tries++ {
		evs, err := st.EventsBySeq(ctx, []int64{first + r.Int64N(latest-first+1)})
		if err != nil {
			return err
		}
		for _, ev := range evs {
			if b.email == "" && len(ev.Emails) > 0 {
				b.email, _ = store.IndicatorKey(store.IndicatorEmail, ev.Emails[r.IntN(len(ev.Emails))])
			}
			if b.ip == "" && len(ev.IPs) > 0 {
				b.ip, _ = store.IndicatorKey(store.IndicatorIP, ev.IPs[r.IntN(len(ev.IPs))])
			}
		}
	}
	if b.email == "" || b.ip == "" {
		return errors.New("found no e-mail address or IP in the lake to search for")
	}
	b.day = b.now.AddDate(0, 0, -b.days/2).Truncate(24 * time.Hour)
	return nil
}

// benchRead is one read's figures.
type benchRead struct {
	name   string
	median time.Duration
	rows   int
	digest uint64 // of what it returned, to compare before and after
}

// reads times each read: the same reads before and after compaction.
func (b *lakeBench) reads(ctx context.Context, st store.Store) ([]benchRead, error) {
	to := b.now.Add(time.Second)
	from := to.Add(-30 * 24 * time.Hour)
	search := func(kind, value string) func() (int, uint64, error) {
		return func() (int, uint64, error) {
			evs, err := st.SearchIndicator(ctx, store.IndicatorQuery{Kind: kind, Value: value, From: from, To: to, Limit: 100})
			h := fnv.New64a()
			for _, ev := range evs {
				fmt.Fprintf(h, "%d %s\n", ev.Seq, ev.Raw)
			}
			return len(evs), h.Sum64(), err
		}
	}
	view := logtype.SignInAttempt().Table
	lo, hi := b.timeLiteral(b.day), b.timeLiteral(b.day.Add(24*time.Hour))
	query := func(q string) func() (int, uint64, error) {
		return func() (int, uint64, error) {
			h := fnv.New64a()
			n := 0
			err := st.Query(ctx, q, func(_ []string, v []any) error {
				if v != nil {
					n++
					fmt.Fprintln(h, v...)
				}
				return nil
			})
			return n, h.Sum64(), err
		}
	}
	reads := []struct {
		name string
		fn   func() (int, uint64, error)
	}{
		{"30-day search, e-mail (100 events at most)", search(store.IndicatorEmail, b.email)},
		{"30-day search, IP (100 events at most)", search(store.IndicatorIP, b.ip)},
		{"1-day range, count(*) of sign-ins", query(fmt.Sprintf("SELECT count(*) FROM %s WHERE p_event_time >= %s AND p_event_time < %s", view, lo, hi))},
		{"1-day range, first 100 sign-ins", query(fmt.Sprintf("SELECT * FROM %s WHERE p_event_time >= %s AND p_event_time < %s ORDER BY p_event_time, p_row_id LIMIT 100", view, lo, hi))},
	}
	var out []benchRead
	for _, rd := range reads {
		var took []time.Duration
		var r benchRead
		r.name = rd.name
		var total time.Duration
		// Fewer runs when one is slow: three, or five seconds' worth.
		for i := 0; i < b.runs && (i < 3 || total < 5*time.Second); i++ {
			start := time.Now()
			n, digest, err := rd.fn()
			d := time.Since(start)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", rd.name, err)
			}
			if i > 0 && (n != r.rows || digest != r.digest) {
				return nil, fmt.Errorf("%s returned something else on run %d", rd.name, i+1)
			}
			r.rows, r.digest = n, digest
			took = append(took, d)
			total += d
		}
		slices.Sort(took)
		r.median = took[len(took)/2]
		out = append(out, r)
	}
	return out, nil
}

// timeLiteral writes t as the engine's views compare p_event_time: SQLite
// holds text in a fixed layout, PostgreSQL a timestamptz.
func (b *lakeBench) timeLiteral(t time.Time) string {
	if engine.Postgres(b.dsn) {
		return "'" + t.UTC().Format(time.RFC3339) + "'::timestamptz"
	}
	return "'" + t.UTC().Format("2006-01-02 15:04:05.000000000") + "'"
}
