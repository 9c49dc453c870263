package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := e.flags("serve", "serve [--config opwatch.yaml]",
		"Run opwatch: poll every source's streams on their schedule until SIGINT or SIGTERM.")
	cfgPath := fs.String("config", "", "configuration `file` declaring sources (sources as code)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	a, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.applySources(ctx, e, cfg.Sources); err != nil {
		return err
	}
	return a.serve(ctx, cfg)
}

// applySources creates or updates the sources of the configuration file.
// Sources made with `opwatch source add` are left alone.
func (a *app) applySources(ctx context.Context, e *env, sources []config.Source) error {
	for _, s := range sources {
		tok, err := e.readToken(s)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		if _, err := checkToken(tok, s); err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		if err := a.upsertSource(ctx, s, tok, false); err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
	}
	return nil
}

// upsertSource creates the source, or rewrites its settings and token. A
// changed token clears stopped streams; dropCursors makes every stream
// start over from its last event (the server behind it is a new one).
func (a *app) upsertSource(ctx context.Context, s config.Source, tok string, dropCursors bool) error {
	next, err := a.toStoreSource(s, tok)
	if err != nil {
		return err
	}
	cur, err := a.store.SourceByName(ctx, s.Name)
	if errors.Is(err, store.ErrNotFound) {
		if err := a.store.CreateSource(ctx, &next, allLogTypes()); err != nil {
			return err
		}
		a.log.Info("source added", "source", s.Name)
		return nil
	}
	if err != nil {
		return err
	}
	next.ID, next.CreatedAt = cur.ID, cur.CreatedAt
	oldTok, _ := a.secrets.Open(cur.Token)
	if err := a.store.UpdateSource(ctx, &next); err != nil {
		return err
	}
	if string(oldTok) == tok && !dropCursors {
		return nil
	}
	streams, err := a.store.Streams(ctx, cur.ID)
	if err != nil {
		return err
	}
	empty := ""
	for _, st := range streams {
		switch {
		case dropCursors:
			err = a.store.ResetStream(ctx, st.ID, &empty)
		case st.Status == store.StreamStopped:
			err = a.store.ResetStream(ctx, st.ID, nil)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func allLogTypes() []string {
	var lts []string
	for _, lt := range logtype.All() {
		lts = append(lts, lt.Name)
	}
	return lts
}

// serve runs the long-lived parts until ctx is cancelled.
func (a *app) serve(ctx context.Context, cfg config.Config) error {
	srcs, err := a.store.ListSources(ctx)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		a.log.Warn("no sources yet: add one with `opwatch source add`; polling starts as soon as one exists")
	}
	in := ingest.New(ingest.Config{
		Store: a.store, Secrets: a.secrets, Logger: a.log,
		Limiters:        onepassword.NewLimiters(onepassword.DefaultLimits()),
		ReconcileEvery:  time.Duration(cfg.Ingest.ReconcileEvery),
		ReconcileWindow: time.Duration(cfg.Ingest.ReconcileWindow),
		UserAgent:       "opwatch/" + Version,
	})
	a.log.Info("opwatch serving", "db", a.dbPath, "sources", len(srcs))
	err = in.Run(ctx)
	a.log.Info("opwatch stopped")
	return err
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := e.flags("demo", "demo [--events N] [--rate N]",
		"The one-command experience: start a 1Password Events API emulator with live traffic,\n"+
			"add it as the source \"demo\", and serve. Uses opwatch-demo.db unless --db is given.")
	events := fs.Int("events", 2000, "events of each type preloaded over the past 24 hours")
	rate := fs.Float64("rate", 30, "new events per minute per type while the demo runs")
	seed := fs.Int64("seed", 0, "seed of the generated data (default: a new one each run)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *seed == 0 {
		// The emulator's history is relative to its start, so the same seed
		// would replay the same event uuids at new times into a database
		// kept from an earlier demo. A new seed is a new history.
		*seed = time.Now().UnixNano()
	}
	if !e.dbSet {
		e.db = "opwatch-demo.db"
	}
	log := e.logger()
	em, err := emulator.Start(emulator.Options{Seed: *seed, Events: *events, Rate: *rate, Logger: log.With("part", "emulator")}, "127.0.0.1:0", false)
	if err != nil {
		return fmt.Errorf("start emulator: %w", err)
	}
	defer em.Close()
	tok, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		return err
	}
	a, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	s := config.Source{Name: "demo", BaseURL: em.URL(), Lookback: config.Duration(24 * time.Hour)}
	s.ApplyDefaults()
	// Each run has a new emulator, so old cursors are dropped: the streams
	// resume from their last events, and the unique key absorbs repeats.
	if err := a.upsertSource(ctx, s, tok, true); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, `opwatch demo
  1Password Events API emulator: %s (%d events of each type over the past 24h, %g new per minute)
  Database: %s (source "demo")

Try, in another terminal:
  go run ./cmd/opwatch --db %s source show demo
  go run ./cmd/opwatch --db %s query "SELECT p_event_time, target_user, category, type FROM onepassword_signinattempt ORDER BY p_event_time DESC LIMIT 10"
  go run ./cmd/opwatch --db %s query "SELECT action, count(*) AS n FROM onepassword_auditevent GROUP BY action ORDER BY n DESC"

Stop with Ctrl-C.
`, em.URL(), *events, *rate, e.db, e.db, e.db, e.db)
	return a.serve(ctx, config.Default())
}
