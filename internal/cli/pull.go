package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// multiFlag collects a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runPull(ctx context.Context, e *env, args []string) error {
	fs := e.flags("pull", "pull [--source N]...",
		"One pass: drain every stream (of the named sources, or all) until caught up, print a\n"+
			"summary and exit; non-zero with the reason if a stream failed.")
	var names multiFlag
	fs.Var(&names, "source", "source `name` (repeatable; default all; or give names as arguments)")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	names = append(names, pos...)
	a, err := e.openWrite(ctx, engine.Existing, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.secrets == nil {
		return errors.New("the key that seals tokens is not loaded")
	}
	var ids []string
	for _, n := range names {
		src, err := a.store.SourceByName(ctx, n)
		if err != nil {
			return sourceNotFound(n, err)
		}
		ids = append(ids, src.ID)
	}
	in := ingest.New(ingest.Config{
		Store: a.store, Secrets: a.secrets, Logger: a.log,
		Limiters:  onepassword.NewLimiters(onepassword.DefaultLimits()),
		UserAgent: userAgent(),
	})
	start := time.Now()
	results, err := in.Pull(ctx, ids)
	printResults(e.stdout, results, sourceNames(ctx, a), time.Since(start))
	return failed(ctx, results, err)
}

// sourceNames maps source ids to names, for rows whose poll ended before it
// learnt its source's name.
func sourceNames(ctx context.Context, a *app) map[string]string {
	names := map[string]string{}
	srcs, _ := a.store.ListSources(context.WithoutCancel(ctx))
	for _, s := range srcs {
		names[s.ID] = s.Name
	}
	return names
}

// failed sums up the streams that failed; their reasons are in the table.
func failed(ctx context.Context, results []ingest.Result, err error) error {
	if ctx.Err() != nil {
		return errInterrupted // what was committed stays
	}
	n := 0
	for _, r := range results {
		if r.Err != nil && !notFailure(r.Err) {
			n++
		}
	}
	if len(results) == 0 {
		return err // nothing was polled: the error is the whole story
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of %d streams failed: see RESULT above", n, len(results))
}

// notFailure: a poll that stopped at its limit read what it could (the rest
// comes next poll), and a stream another opwatch is polling is being read
// there. Neither is a failure of the pull.
func notFailure(err error) bool {
	return errors.Is(err, ingest.ErrPollLimit) || errors.Is(err, store.ErrLeaseLost)
}

func printResults(w io.Writer, results []ingest.Result, names map[string]string, took time.Duration) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SOURCE\tLOG TYPE\tPAGES\tNEW\tDUPLICATES\tQUARANTINED\tRESULT")
	var total int
	for _, r := range results {
		status := "ok"
		switch {
		case errors.Is(r.Err, context.Canceled):
			status = "interrupted (what was stored stays)"
		case errors.Is(r.Err, store.ErrLeaseLost):
			status = "busy: another opwatch is polling this stream; it is read there"
		case errors.Is(r.Err, ingest.ErrPollLimit):
			status = "partly read: " + safetext.Terminal(r.Err.Error())
		case r.Err != nil:
			status = "FAILED: " + safetext.Terminal(r.Err.Error())
		case r.NotCollected:
			status = notCollected
		}
		total += r.Inserted
		name := r.Source
		if name == "" {
			name = names[r.Stream.SourceID]
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%s\n", safetext.Terminal(name), r.Stream.LogType, r.Pages, r.Inserted, r.Duplicates, r.Quarantine, status)
	}
	tw.Flush()
	fmt.Fprintf(w, "%d new events in %s.\n", total, took.Round(time.Millisecond))
}

func runBackfill(ctx context.Context, e *env, args []string) error {
	fs := e.flags("backfill", "backfill [--source] NAME --since 30d [--until TIME]",
		"Re-read a past window of a source (at most the API's 120 days) alongside its live cursor,\n"+
			"which it does not touch. Events already stored are skipped by their unique key.")
	name := fs.String("source", "", "source `name`")
	since := fs.String("since", "", "start of the window: a duration back from now (30d, 12h) or an RFC 3339 time")
	until := fs.String("until", "", "end of the window (default now): a duration back or an RFC 3339 time")
	pos, err := parseWant(fs, args, 0, 1, "")
	if err != nil {
		return err
	}
	if len(pos) == 1 {
		if *name != "" && *name != pos[0] {
			return usagef("the source is named twice (%q and --source %q): give one", pos[0], *name)
		}
		*name = pos[0]
	}
	if *name == "" || *since == "" {
		fs.Usage()
		return usagef("--source and --since are required")
	}
	now := time.Now().UTC()
	from, err := parseWhen(*since, now)
	if err != nil {
		return usageError{err}
	}
	to := now
	if *until != "" {
		if to, err = parseWhen(*until, now); err != nil {
			return usageError{err}
		}
	}
	if !from.Before(to) {
		return usagef("--since must be before --until")
	}
	if now.Sub(from) > config.MaxLookback {
		return usagef("--since reaches back more than 120 days; the Events API keeps only 120 days")
	}
	a, err := e.openWrite(ctx, engine.Existing, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.secrets == nil {
		return errors.New("the key that seals tokens is not loaded")
	}
	src, err := a.store.SourceByName(ctx, *name)
	if err != nil {
		return sourceNotFound(*name, err)
	}
	in := ingest.New(ingest.Config{
		Store: a.store, Secrets: a.secrets, Logger: a.log,
		Limiters:  onepassword.NewLimiters(onepassword.DefaultLimits()),
		UserAgent: userAgent(),
	})
	rep := newReporter(e.stderr, from, to, a.log)
	start := time.Now()
	results, err := in.Backfill(ctx, src, from, to, rep.update)
	rep.finish()
	printResults(e.stdout, results, sourceNames(ctx, a), time.Since(start))
	return failed(ctx, results, err)
}

// parseWhen reads "30d", "12h" (back from now) or an RFC 3339 time.
func parseWhen(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	d, err := config.ParseDuration(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is neither a duration like 30d nor an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

// reporter shows backfill progress: a redrawn line on a terminal, a log
// line every few seconds otherwise.
type reporter struct {
	w        io.Writer
	tty      bool
	from, to time.Time
	log      interface{ Info(string, ...any) }

	mu    sync.Mutex
	state map[string]ingest.Progress
	order []string
	last  time.Time
}

func newReporter(w io.Writer, from, to time.Time, log interface{ Info(string, ...any) }) *reporter {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &reporter{w: w, tty: tty, from: from, to: to, log: log, state: map[string]ingest.Progress{}}
}

func (r *reporter) update(p ingest.Progress) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.state[p.LogType]; !ok {
		r.order = append(r.order, p.LogType)
	}
	r.state[p.LogType] = p
	now := time.Now()
	if r.tty {
		if now.Sub(r.last) < 100*time.Millisecond && !p.Done {
			return
		}
		r.last = now
		fmt.Fprintf(r.w, "\r\033[K%s", r.line())
		return
	}
	if now.Sub(r.last) >= 5*time.Second || p.Done {
		r.last = now
		r.log.Info("backfill progress", "log_type", p.LogType, "events", p.Events, "new", p.Inserted,
			"percent", r.percent(p), "done", p.Done)
	}
}

func (r *reporter) percent(p ingest.Progress) int {
	if p.Done {
		return 100
	}
	if p.At.IsZero() || !r.to.After(r.from) {
		return 0
	}
	f := float64(p.At.Sub(r.from)) / float64(r.to.Sub(r.from))
	return int(min(max(f, 0), 1) * 100)
}

func (r *reporter) line() string {
	var parts []string
	for _, lt := range r.order {
		p := r.state[lt]
		parts = append(parts, fmt.Sprintf("%s %3d%% %d events (%d new)", strings.TrimPrefix(lt, "OnePassword."), r.percent(p), p.Events, p.Inserted))
	}
	return strings.Join(parts, " | ")
}

func (r *reporter) finish() {
	if r.tty {
		fmt.Fprintln(r.w)
	}
}
