package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/compact"
	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/export"
	"github.com/opwatch/opwatch/internal/health"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/replica"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/server"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

func runServe(ctx context.Context, e *env, args []string) error {
	fs := e.flags("serve", "serve [--config opwatch.yaml] [--rules DIR] [--listen ADDR] [--public-url URL] [--migrate]",
		"Run opwatch until SIGINT or SIGTERM: poll every source's streams on their schedule,\n"+
			"run the enabled detections (the built-in packs, and --rules folders) on every new\n"+
			"event, deliver alerts to the destinations (retrying for up to 24 h), watch every\n"+
			"source's health (the no-events alarm, token expiry, failing streams), and serve\n"+
			"/healthz, /readyz and /metrics on --listen. A database with an older schema is\n"+
			"refused unless --migrate is given (back it up first).")
	cfgPath := fs.String("config", "", "configuration `file` declaring sources, destinations and detections (as code)")
	migrate := fs.Bool("migrate", false, "upgrade an older database schema before serving")
	rulesDir := fs.String("rules", "", "a `folder` of your own detection rules, run beside the built-in packs")
	var so serveFlags
	so.register(fs)
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
	opts, err := so.options(fs, cfg.Alerts)
	if err != nil {
		return err
	}
	if err := checkRetentionFlag(cfg, opts.events); err != nil {
		return err
	}
	opts.out = e.stdout
	if cfg.Export != nil {
		if err := exportSchedule(*cfg.Export).Check(); err != nil {
			return fmt.Errorf("%s: %w", *cfgPath, err)
		}
	}
	if *rulesDir != "" {
		opts.ruleDirs = append(opts.ruleDirs, *rulesDir)
	}
	opts.ruleDirs = append(opts.ruleDirs, cfg.Detections.Rules...)
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
	// Destinations too: their secrets are read and every setting checked.
	type declared struct {
		d   store.Destination
		s   alert.Settings
		sec alert.Secret
	}
	dests := make([]declared, len(cfg.Destinations))
	for i, cd := range cfg.Destinations {
		d, s, sec, err := destinationFromConfig(e, cd)
		if err != nil {
			return fmt.Errorf("destinations[%d] (%s): %w", i, safetext.Terminal(cd.Name), err)
		}
		dests[i] = declared{d, s, sec}
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
	if len(dests) > 0 && a.secrets == nil {
		return errors.New("the key that seals secrets is not loaded")
	}
	for i, d := range dests {
		created, err := a.applyDestination(ctx, d.d, d.s, d.sec)
		if err != nil {
			return fmt.Errorf("destinations[%d] (%s): %w", i, safetext.Terminal(d.d.Name), err)
		}
		a.log.Info("destination from the configuration", "destination", d.d.Name, "type", d.d.Type, "created", created)
	}
	return a.serve(ctx, cfg, rules, opts)
}

// serveFlags are the flags of serve that demo shares.
type serveFlags struct {
	listen, publicURL, retention string
	tlsCert, tlsKey              string
	events                       string // --retention
	compactAfter                 string // --compact-after
}

func (sf *serveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.listen, "listen", defaultListen, "serve the web console and its API (/, /api/v1/), /healthz, /readyz and /metrics on this `address` (host:port), or off")
	fs.StringVar(&sf.publicURL, "public-url", "", "the console's `URL` as people reach it: notifications link to URL/alerts/ID (or alerts.public_url)")
	fs.StringVar(&sf.tlsCert, "tls-cert", "", "serve the console over HTTPS with this certificate `file` (PEM; with --tls-key)")
	fs.StringVar(&sf.tlsKey, "tls-key", "", "the private key `file` of --tls-cert (PEM)")
	fs.StringVar(&sf.retention, "alert-retention", "", "delete resolved alerts this `long` after their last change, daily, or off (default 730d, or alerts.retention)")
	fs.StringVar(&sf.events, "retention", "", "delete events this `long` after their time, hourly, or off (default 365d, or retention.events; retention.log_types win)")
	fs.StringVar(&sf.compactAfter, "compact-after", "", "compress events stored this `long` ago, hourly (at least 1h), or off (default lake.compact_after, else 1d on SQLite and off on PostgreSQL)")
}

const defaultListen = "127.0.0.1:8080"

// serveOptions are what serve runs with beside the configuration.
type serveOptions struct {
	listen    string // "" for off
	publicURL string
	retention time.Duration // 0: keep
	events    config.Period // --retention; 0: the configuration's
	compact   config.Age    // --compact-after; 0: the configuration's
	lease     time.Duration
	ln        net.Listener // already listening (the demo's); else listen is opened
	tls       server.TLS
	ruleDirs  []string  // the user's rule folders, whose code the console shows
	out       io.Writer // where the first admin's one-time password is printed
}

// options reads the flags over the configuration's alerts section.
func (sf *serveFlags) options(fs *flag.FlagSet, c config.Alerts) (serveOptions, error) {
	o := serveOptions{listen: sf.listen, publicURL: c.PublicURL, retention: time.Duration(c.Retention), lease: time.Duration(c.DeliveryLease),
		tls: server.TLS{CertFile: sf.tlsCert, KeyFile: sf.tlsKey}, out: io.Discard}
	if (sf.tlsCert == "") != (sf.tlsKey == "") {
		return o, usagef("--tls-cert and --tls-key go together: give both files, or neither for plain HTTP")
	}
	if o.lease == 0 {
		o.lease = config.DefaultDeliveryLease
	}
	if strings.EqualFold(o.listen, "off") {
		o.listen = ""
	} else if _, port, err := net.SplitHostPort(o.listen); err != nil || !validPort(port) {
		return o, usagef("--listen %q: give host:port (such as 127.0.0.1:8080 or :8080), or off", sf.listen)
	}
	if sf.publicURL != "" {
		if err := config.CheckPublicURL(sf.publicURL); err != nil {
			return o, usageError{fmt.Errorf("--public-url: %w", err)}
		}
		o.publicURL = sf.publicURL
	}
	var err error
	if o.events, err = parseRetentionFlag(sf.events); err != nil {
		return o, err
	}
	if o.compact, err = parseCompactFlag("--compact-after", sf.compactAfter); err != nil {
		return o, err
	}
	switch r := strings.TrimSpace(sf.retention); {
	case r == "":
	case strings.EqualFold(r, "off"):
		o.retention = 0
	default:
		d, err := config.ParseDuration(r)
		if err != nil {
			return o, usageError{fmt.Errorf("--alert-retention: %w, or off", err)}
		}
		if d < 24*time.Hour {
			return o, usagef("--alert-retention %s: keep resolved alerts at least 1d (or off to keep them all)", r)
		}
		o.retention = d
	}
	return o, nil
}

// serve runs the long-lived parts as a group until ctx is cancelled or one
// of them fails.
func (a *app) serve(ctx context.Context, cfg config.Config, rules *detect.Set, o serveOptions) error {
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
	// Sources stored by an older opwatch lack their token's expiry, which
	// health warns before.
	if changed, err := a.sources.RecordExpiries(ctx); err != nil {
		return err
	} else if len(changed) > 0 {
		a.log.Info("recorded the expiry of the sources' tokens", "sources", strings.Join(changed, ", "))
	}
	m := a.newMetrics()
	router := alert.NewRouter(alert.RouterConfig{Store: a.store, Logger: a.log})
	triage := alert.NewTriage(alert.TriageConfig{Store: a.store, Logger: a.log})
	// The listener is taken first: an address in use is known before
	// anything runs.
	var srv *http.Server
	ln := o.ln
	if o.listen != "" {
		mux := server.NewHandler(server.Config{Store: a.store, Metrics: m.Registry(), Logger: a.log})
		if err := a.mountConsole(ctx, mux, rules, triage, o); err != nil {
			return err
		}
		srv = server.NewServer(o.listen, mux, a.log)
		if ln == nil {
			if ln, err = server.Listen(srv, o.tls); err != nil {
				return fmt.Errorf("--listen: %w", err)
			}
			defer ln.Close()
		}
	}
	// One owner id for everything this process leases: streams,
	// notifications, and the stages that run on one replica at a time.
	owner := ingest.NewOwner()
	runner := &replica.Runner{Store: a.store, Self: self(owner), Logger: a.log}
	in := ingest.New(ingest.Config{
		Metrics: m, ObserveRequest: m.ObserveRequest,
		Store: a.store, Secrets: a.secrets, Logger: a.log,
		Limiters:        onepassword.NewLimiters(onepassword.DefaultLimits()),
		ReconcileEvery:  time.Duration(cfg.Ingest.ReconcileEvery),
		ReconcileWindow: time.Duration(cfg.Ingest.ReconcileWindow),
		UserAgent:       userAgent(),
		Owner:           owner,
	})
	det := detect.NewStage(detect.StageConfig{Store: a.store, Rules: rules, Logger: a.log, Route: router.Route, Metrics: m})
	del := alert.NewDeliverer(alert.DeliverConfig{
		Store: a.store, Sender: newSender(a.log), Secrets: a.secrets, Router: router,
		Summary: summarizer(a.store, rules, a.log), PublicURL: o.publicURL, Logger: a.log, LeaseFor: o.lease, Owner: owner,
	})
	sweeper, err := a.sweeper(cfg, o.events)
	if err != nil {
		return err
	}
	mon := health.New(health.Config{Store: a.store, Route: router.Route, Resolve: triage.Resolve, Logger: a.log})
	parts := []part{
		{"ingest", in.Run},
		{"detect", func(ctx context.Context) error { return runner.Singleton(ctx, detect.StageName, det.Run) }},
		{"health", func(ctx context.Context) error { return runner.Singleton(ctx, "health", mon.Run) }},
		{"deliver", del.Run},
		{"replica", runner.Heartbeat},
		{"lake-retention", func(ctx context.Context) error { return runner.Singleton(ctx, "retention", sweeper.Run) }},
	}
	if after := compactAfter(cfg, o.compact, a.db); after > 0 {
		comp := compact.New(compact.Config{Store: a.store, After: after, Logger: a.log.With("part", "compact")})
		parts = append(parts, part{"compact", func(ctx context.Context) error { return runner.Singleton(ctx, "compact", comp.Run) }})
	} else if engine.Postgres(a.db) && o.compact == 0 && cfg.Lake.CompactAfter == 0 {
		a.log.Info("compaction is off on PostgreSQL unless lake.compact_after or --compact-after turns it on (docs/lake.md)")
	}
	if o.retention > 0 {
		parts = append(parts, part{"retention", func(ctx context.Context) error {
			return runner.Singleton(ctx, "alert-retention", func(ctx context.Context) error { return a.purgeAlerts(ctx, o.retention) })
		}})
	}
	if cfg.Export != nil {
		sched := exportSchedule(*cfg.Export)
		parts = append(parts, part{"export", func(ctx context.Context) error {
			return runner.Singleton(ctx, "export", func(ctx context.Context) error {
				return export.RunScheduled(ctx, a.store, sched, buildVersion(), a.log, nil, nil)
			})
		}})
	}
	if srv != nil {
		parts = append(parts, part{"web", func(ctx context.Context) error { return server.Serve(ctx, srv, ln) }})
	}
	a.log.Info("opwatch serving", "db", a.db, "sources", len(srcs), "listen", listenAddr(ln), "replica", owner)
	err = runGroup(ctx, a.log, parts)
	a.log.Info("opwatch stopped")
	return err
}

// purgeAlerts deletes resolved alerts older than retention now and every
// day after, until ctx ends.
func (a *app) purgeAlerts(ctx context.Context, retention time.Duration) error {
	t := time.NewTicker(24 * time.Hour)
	defer t.Stop()
	for {
		n, err := a.store.PurgeAlerts(ctx, time.Now().Add(-retention))
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			a.log.Error("purge resolved alerts", "err", err) // tried again tomorrow
		case n > 0:
			a.log.Info("purged resolved alerts past their retention", "alerts", n, "retention", config.Duration(retention).String())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func validPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n <= 65535
}

// listenAddr is where serve listens, for the log ("off" for none).
func listenAddr(ln net.Listener) string {
	if ln == nil {
		return "off"
	}
	return ln.Addr().String()
}

func runDemo(ctx context.Context, e *env, args []string) error {
	fs := e.flags("demo", "demo [--events N] [--rate N] [--no-receiver] [--listen ADDR]",
		"The one-command experience: start a 1Password Events API emulator with live traffic,\n"+
			"add it as the source \"demo\", start a local webhook receiver that prints every alert\n"+
			"delivered to it (the destination \"demo-webhook\"), and serve. Uses opwatch-demo.db\n"+
			"unless --db is given.")
	events := fs.Int("events", 2000, "events of each type preloaded over the past 24 hours")
	rate := fs.Float64("rate", 30, "new events per minute per type while the demo runs")
	seed := fs.Int64("seed", 0, "seed of the generated data (default: a new one each run)")
	rulesDir := fs.String("rules", "", "a `folder` of your own detection rules, run beside the built-in packs")
	noReceiver := fs.Bool("no-receiver", false, "do not start the local webhook receiver (alerts are still raised)")
	var sf serveFlags
	sf.register(fs)
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	opts, err := sf.options(fs, config.Default().Alerts)
	if err != nil {
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
	listenSet := false
	fs.Visit(func(f *flag.Flag) { listenSet = listenSet || f.Name == "listen" })
	if opts.listen != "" {
		ln, err := net.Listen("tcp", opts.listen)
		if err != nil && !listenSet {
			// The demo must start: another program on 8080 moves it aside.
			ln, err = net.Listen("tcp", "127.0.0.1:0")
		}
		if err != nil {
			return fmt.Errorf("--listen %s: %w (pick another address, or --listen off)", opts.listen, err)
		}
		defer ln.Close()
		opts.ln, opts.listen = ln, ln.Addr().String()
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
	receiverLine := "  Webhook receiver: off (--no-receiver)"
	if !*noReceiver {
		rcv, err := startDemoReceiver(e.stdout)
		if err != nil {
			return err
		}
		defer rcv.Close()
		if err := a.demoDestination(ctx, rcv); err != nil {
			return err
		}
		receiverLine = fmt.Sprintf("  Webhook receiver: %s (destination %q; every alert delivered to it is printed below)", rcv.url(), demoDestination)
	}
	metricsLine := "  Console: off (--listen off)"
	if opts.listen != "" {
		pw, err := a.demoLogin(ctx)
		if err != nil {
			return err
		}
		scheme := "http"
		if opts.tls.Enabled() {
			scheme = "https"
		}
		metricsLine = fmt.Sprintf("  Console: %s://%s/ (sign in as admin, password %s; a new one at every demo start)\n"+
			"  Metrics: %s://%s/metrics (health: /healthz, /readyz)", scheme, opts.listen, pw, scheme, opts.listen)
	}
	fmt.Fprintf(e.stdout, `opwatch demo
  1Password Events API emulator: %s (%d events of each type over the past 24h, %g new per minute)
  Database: %s (source "demo")
%s
%s

Try, in another terminal:
  go run ./cmd/opwatch --db %s source show demo
  go run ./cmd/opwatch --db %s alerts list --status unresolved
  go run ./cmd/opwatch --db %s destinations show %s
  go run ./cmd/opwatch --db %s query "SELECT action, count(*) AS n FROM onepassword_auditevent GROUP BY action ORDER BY n DESC"

Stop with Ctrl-C.

`, em.URL(), *events, *rate, e.db, receiverLine, metricsLine, e.db, e.db, e.db, demoDestination, e.db)
	return a.serve(ctx, config.Default(), rules, opts)
}

// exportSchedule is the configuration's export section as package export
// takes it.
func exportSchedule(c config.Export) export.Schedule {
	return export.Schedule{Out: c.Out, Every: time.Duration(c.Every), Lookback: time.Duration(c.Lookback), LogTypes: c.LogTypes, Mapping: c.Mapping,
		S3Endpoint: c.S3Endpoint, S3Region: c.S3Region}
}
