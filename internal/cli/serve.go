package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := e.flags("serve", "serve [--config opwatch.yaml] [--rules DIR] [--migrate]",
		"Run opwatch until SIGINT or SIGTERM: poll every source's streams on their schedule, and\n"+
			"run the enabled detections (the built-in packs, and --rules folders) on every new event.\n"+
			"A database with an older schema is refused unless --migrate is given (back it up first).")
	cfgPath := fs.String("config", "", "configuration `file` declaring sources (sources as code)")
	migrate := fs.Bool("migrate", false, "upgrade an older database schema before serving")
	rulesDir := fs.String("rules", "", "a `folder` of your own detection rules, run beside the built-in packs")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	cfg := config.Default()
	if *cfgPath != "" {
		var err error
		if cfg, err = config.Load(*cfgPath); err != nil {
			return err
		}
	}
	rules, err := loadConfiguredRules(*rulesDir, cfg.Detections)
	if err != nil {
		return err
	}
	// Lookup tables are read and checked whole before the database is
	// touched, as tokens are: a refused file changes nothing.
	lookups := make([]map[string]json.RawMessage, len(cfg.Detections.Lookups))
	for i, l := range cfg.Detections.Lookups {
		if lookups[i], err = readLookupFile(nil, l.File, l.Format, l.Key); err != nil {
			return fmt.Errorf("detections.lookups[%d] (%s): %w", i, safetext.Terminal(l.Name), err)
		}
	}
	// Read and check every token before touching the database: a mistake
	// in any source of the file changes nothing.
	tokens := make([]string, len(cfg.Sources))
	for i, s := range cfg.Sources {
		if tokens[i], err = e.readToken(s); err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		if _, err := source.Client(s, tokens[i]); err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
	}
	mode := engine.ReadWrite
	if *migrate {
		mode = engine.Migrate
	}
	a, err := e.openWrite(ctx, mode, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()
	// Configuration applied at start does not depend on 1Password being
	// reachable; a token it refuses is refused.
	lenient := a.sourceService(source.CheckLenient)
	for i, s := range cfg.Sources {
		if err := lenient.Verify(ctx, s, tokens[i]); err != nil {
			return fmt.Errorf("source %s: %w (nothing in the configuration was applied)", s.Name, err)
		}
	}
	for i, s := range cfg.Sources {
		res, err := a.sources.Apply(ctx, s, tokens[i], false)
		if err != nil {
			return fmt.Errorf("source %s: %w", s.Name, err)
		}
		a.log.Info("source from the configuration", "source", s.Name, "created", res.Created,
			"resumed", res.Resumed, "dropped_cursors", res.DroppedCursors)
		for _, n := range res.Notes {
			a.log.Warn(n, "source", s.Name)
		}
	}
	for i, l := range cfg.Detections.Lookups {
		t := store.LookupTable{Name: l.Name, KeyColumn: l.Key, LogType: l.LogType, Selector: l.Selector}
		if err := a.store.LoadLookup(ctx, t, lookups[i]); err != nil {
			return fmt.Errorf("detections.lookups[%d] (%s): %w", i, safetext.Terminal(l.Name), err)
		}
		a.log.Info("lookup table from the configuration", "table", l.Name, "rows", len(lookups[i]), "file", l.File)
	}
	return a.serve(ctx, cfg, rules)
}

// serve runs the long-lived parts as a group until ctx is cancelled or one
// of them fails.
func (a *app) serve(ctx context.Context, cfg config.Config, rules *detect.Set) error {
	srcs, err := a.store.ListSources(ctx)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		a.log.Warn("no sources yet: add one with `opwatch source add`; polling starts as soon as one exists")
	}
	if a.secrets == nil {
		return errors.New("the key that seals tokens is not loaded")
	}
	in := ingest.New(ingest.Config{
		Store: a.store, Secrets: a.secrets, Logger: a.log,
		Limiters:        onepassword.NewLimiters(onepassword.DefaultLimits()),
		ReconcileEvery:  time.Duration(cfg.Ingest.ReconcileEvery),
		ReconcileWindow: time.Duration(cfg.Ingest.ReconcileWindow),
		UserAgent:       userAgent(),
	})
	det := detect.NewStage(detect.StageConfig{Store: a.store, Rules: rules, Logger: a.log})
	a.log.Info("opwatch serving", "db", a.db, "sources", len(srcs))
	err = runGroup(ctx, a.log, []part{
		{"ingest", in.Run},
		{"detect", det.Run},
	})
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
	rulesDir := fs.String("rules", "", "a `folder` of your own detection rules, run beside the built-in packs")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	rules, _, err := loadRules(*rulesDir)
	if err != nil {
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
	em, err := emulator.Start(emulator.Options{Seed: *seed, Events: *events, Rate: *rate, Scenarios: true, Logger: log.With("part", "emulator")}, "127.0.0.1:0", false)
	if err != nil {
		return fmt.Errorf("start emulator: %w", err)
	}
	defer em.Close()
	tok, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		return err
	}
	// The demo's database is its own: it is created, or upgraded when kept
	// from an older opwatch.
	a, err := e.openWrite(ctx, engine.Migrate, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()
	// The demo serves everything in its database: it must not be one that
	// holds real sources.
	srcs, err := a.store.ListSources(ctx)
	if err != nil {
		return err
	}
	for _, src := range srcs {
		if src.Name != "demo" {
			return fmt.Errorf("%s holds sources other than the demo's (%s): the demo uses a database of its own; give it another --db",
				e.db, quoted(src.Name))
		}
	}
	s := config.Source{Name: "demo", BaseURL: em.URL(), Lookback: config.Duration(24 * time.Hour)}
	// Each run has a new emulator with a new history and a new account: the
	// demo source of an earlier run is replaced (its events stay, under its
	// own account).
	if _, err := a.sources.Apply(ctx, s, tok, true); errors.Is(err, source.ErrOtherAccount) {
		if _, err := a.sources.Remove(ctx, s.Name); err != nil {
			return err
		}
		_, err = a.sources.Apply(ctx, s, tok, true)
		if err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if err := loadEmulatorGroups(ctx, a.store, em); err != nil {
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
	return a.serve(ctx, config.Default(), rules)
}
