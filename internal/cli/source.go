package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/health"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

const sourceUsage = `Usage: opwatch source SUBCOMMAND [flags]

Subcommands:
  add     NAME (--token-file F | --token-env VAR) [--region R | --base-url URL]
          [--no-events-alarm 24h|off] [flags]
  list    list sources with the state of their streams
  show    NAME: a source's settings, health (what needs you, and what to do) and
          streams (cursor state, counts, last errors)
  test    NAME: check the token against 1Password (region, features, expiry, access)
  update  NAME [--token-file F | --token-env VAR] [--name NEW] [other add flags]: change
          settings or the token; only the flags given change
  reset   NAME [--drop-cursors]: poll stopped or failing streams at once
  remove  NAME: delete the source and its streams; its events stay in the lake

Flags may come before or after NAME. Run 'opwatch source SUBCOMMAND --help' for details.
`

func runSource(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, sourceUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "add", "update", "list", "ls", "show", "test", "reset", "remove", "rm")
	switch sub {
	case "add":
		return sourceAdd(ctx, e, args)
	case "update":
		return sourceUpdate(ctx, e, args)
	case "list", "ls":
		return sourceList(ctx, e, args)
	case "show":
		return sourceShow(ctx, e, args)
	case "test":
		return sourceTest(ctx, e, args)
	case "reset":
		return sourceReset(ctx, e, args)
	case "remove", "rm":
		return sourceRemove(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, sourceUsage)
		return nil
	}
	fmt.Fprint(e.stderr, sourceUsage)
	return usagef("unknown subcommand %q", sub)
}

// sourceFlags are the settings shared by add and update. For update they
// have no defaults: only the flags given change anything.
type sourceFlags struct {
	cfg      config.Source
	interval string
	lookback string
	logTypes string
	alarm    string // --no-events-alarm
	noCheck  bool
	newKey   bool
	// logTypesSet: --log-types was given (an empty value is a mistake,
	// not "unchanged").
	logTypesSet bool
}

func (sf *sourceFlags) register(fs *flag.FlagSet, update bool) {
	def := func(add string) string {
		if update {
			return ""
		}
		return add
	}
	apiVersion := 2
	if update {
		apiVersion = 0
	}
	what := "source `name` (becomes p_source_label; or give it as the argument)"
	if update {
		what = "rename the source to `name` (p_source_label of new events)"
	}
	fs.StringVar(&sf.cfg.Name, "name", "", what)
	fs.StringVar(&sf.cfg.TokenFile, "token-file", "", "read the Events Reporting token from `file` (- for stdin)")
	fs.StringVar(&sf.cfg.TokenEnv, "token-env", "", "read the token from environment `variable`")
	region := "1Password `region`: business, enterprise, ca, eu (default: from the token)"
	if update {
		region = "1Password `region`: business, enterprise, ca, eu (replaces --base-url)"
	}
	fs.StringVar(&sf.cfg.Region, "region", "", region)
	fs.StringVar(&sf.cfg.BaseURL, "base-url", "", "explicit Events API base `URL` (a proxy, or an emulator)")
	fs.BoolVar(&sf.cfg.AllowOtherHost, "allow-other-host", false, "allow a --base-url whose host is not the token's (a proxy, or an emulator)")
	fs.BoolVar(&sf.cfg.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the server's TLS certificate (loopback, or with --allow-insecure)")
	fs.BoolVar(&sf.cfg.AllowInsecure, "allow-insecure", false, "allow http:// or --insecure-skip-verify for a host that is not loopback")
	fs.IntVar(&sf.cfg.APIVersion, "api-version", apiVersion, "Events API `version`, 1 or 2")
	fs.StringVar(&sf.interval, "interval", def("1m"), "poll `interval`, 10s to 1h")
	fs.StringVar(&sf.lookback, "lookback", def("24h"), "how far back a new stream starts, at most 120d")
	lt := "comma-separated `log types` to collect (default: those the token grants)"
	if update {
		lt = "comma-separated `log types` to collect from now on"
	}
	fs.Func("log-types", lt, func(v string) error { sf.logTypes, sf.logTypesSet = v, true; return nil })
	fs.StringVar(&sf.alarm, "no-events-alarm", def("24h"), "raise a CRITICAL system error when no event arrives for this `timeframe`: 15m to 30d, or off")
	fs.BoolVar(&sf.noCheck, "no-check", false, "store a new token without asking 1Password about it (offline)")
	if update {
		fs.BoolVar(&sf.newKey, "new-key", false, "seal the new token with a key that opens none of the other sources' tokens (the old key is lost)")
	}
}

// readToken reads the token named by the flags; "-" reads stdin. A token
// file that others can read is collected but warned about.
func (e *env) readToken(s config.Source) (string, error) {
	if s.TokenFile == "-" {
		b, err := io.ReadAll(io.LimitReader(e.stdin, 64<<10))
		if err != nil {
			return "", fmt.Errorf("read token from stdin: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", errors.New("no token on stdin")
		}
		return tok, nil
	}
	tok, warning, err := s.ReadToken(e.getenv)
	if warning != "" {
		fmt.Fprintf(e.stderr, "warning: %s\n", warning)
	}
	return tok, err
}

func sourceAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("source add", "source add NAME (--token-file F | --token-env VAR) [flags]",
		"Add a 1Password account as a source. The token is checked, encrypted at rest and never printed.")
	var sf sourceFlags
	sf.register(fs, false)
	pos, err := parseWant(fs, args, 0, 1, "source name")
	if err != nil {
		return err
	}
	s := sf.cfg
	switch {
	case len(pos) == 1 && s.Name != "" && s.Name != pos[0]:
		return usagef("the source is named twice (%q and --name %q): give one", pos[0], s.Name)
	case len(pos) == 1:
		s.Name = pos[0]
	case s.Name == "":
		fs.Usage()
		return usagef("name the source: opwatch source add NAME --token-file F")
	}
	if err := sf.parse(&s); err != nil {
		return err
	}
	if s.TokenFile == "" && s.TokenEnv == "" {
		return usagef("give the token with --token-file FILE (- for stdin) or --token-env VARIABLE")
	}
	if s.TokenFile != "" && s.TokenEnv != "" {
		return usagef("give one of --token-file and --token-env")
	}
	if err := s.ValidateAs(config.FlagName); err != nil {
		return usageError{err}
	}
	tok, err := e.readToken(s)
	if err != nil {
		return err
	}
	// Check before the database is touched: a refused source leaves nothing.
	if err := source.New(nil, source.Options{Names: config.FlagName, Check: sf.check(), Logger: e.logger()}).Verify(ctx, s, tok); err != nil {
		return sourceError(s.Name, err)
	}
	a, err := e.openWrite(ctx, engine.ReadWrite, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.secrets == nil {
		return errors.New("the key that seals tokens is not loaded")
	}
	res, err := a.sourceService(sf.check()).Add(ctx, s, tok)
	if err != nil {
		return sourceError(s.Name, err)
	}
	w := e.stdout
	fmt.Fprintf(w, "Added source %s (%s).\n", safetext.Terminal(res.Source.Name), res.Host)
	printClaims(w, res.Claims)
	fmt.Fprintf(w, "Collecting: %s\n", strings.Join(res.LogTypes, ", "))
	fmt.Fprintf(w, "No-events alarm: %s\n", alarmText(res.Source.NoEventsAlarm))
	printNotes(w, res.Notes)
	fmt.Fprintf(w, "Next: `opwatch source test %s`, then `opwatch serve`.\n", quoted(res.Source.Name))
	return nil
}

func (sf *sourceFlags) check() source.Check {
	if sf.noCheck {
		return source.CheckOffline
	}
	return source.CheckOnline
}

// parse reads the duration and log-type flags into s.
func (sf *sourceFlags) parse(s *config.Source) error {
	if sf.interval != "" {
		d, err := config.ParseDuration(sf.interval)
		if err != nil {
			return usageError{fmt.Errorf("--interval: %w", err)}
		}
		s.Interval = config.Duration(d)
	}
	if sf.lookback != "" {
		d, err := config.ParseDuration(sf.lookback)
		if err != nil {
			return usageError{fmt.Errorf("--lookback: %w", err)}
		}
		s.Lookback = config.Duration(d)
	}
	if sf.alarm != "" {
		a, err := config.ParseAlarm(sf.alarm)
		if err != nil {
			return usageError{fmt.Errorf("--no-events-alarm: %w", err)}
		}
		s.NoEventsAlarm = a
	}
	if sf.logTypesSet && strings.TrimSpace(strings.ReplaceAll(sf.logTypes, ",", "")) == "" {
		return usagef("--log-types: name at least one log type (signinattempts, itemusages, auditevents)")
	}
	if sf.logTypes != "" {
		lts, err := config.ParseLogTypes(sf.logTypes)
		if err != nil {
			return usageError{fmt.Errorf("--log-types: %w", err)}
		}
		s.LogTypes = lts
	}
	return nil
}

func printClaims(w io.Writer, c onepassword.Claims) {
	var feats []string
	for _, f := range c.Features {
		feats = append(feats, string(f))
	}
	fmt.Fprintf(w, "Token features: %s\n", strings.Join(feats, ", "))
	fmt.Fprintf(w, "Token expiry: %s\n", c.ExpiryText(time.Now()))
}

func printNotes(w io.Writer, notes []string) {
	for _, n := range notes {
		fmt.Fprintf(w, "  note: %s\n", n)
	}
}

func sourceUpdate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("source update", "source update NAME [--token-file F | --token-env VAR] [--name NEW] [flags]",
		"Change a source's settings or token; only the flags given change anything.\n"+
			"A new token resumes stopped streams (and replaces a token that the key can no\n"+
			"longer open); it is checked with 1Password first, and must be of the source's\n"+
			"account. A new host or API version makes every stream re-read from a day before\n"+
			"its last event: the old cursors belong to the old endpoint. Any change needs the\n"+
			"key that sealed the token, since the token is sealed again bound to the settings.")
	var sf sourceFlags
	sf.register(fs, true)
	pos, err := parseWant(fs, args, 1, 1, "the name of the source to update")
	if err != nil {
		return err
	}
	name := pos[0]
	var u source.Update
	var next config.Source
	if err := sf.parse(&next); err != nil {
		return err
	}
	changed := 0
	fs.Visit(func(f *flag.Flag) {
		changed++
		switch f.Name {
		case "name":
			u.Name = &sf.cfg.Name
		case "token-file", "token-env":
			// read below
		case "region":
			u.Region = &sf.cfg.Region
		case "base-url":
			u.BaseURL = &sf.cfg.BaseURL
		case "insecure-skip-verify":
			u.InsecureSkipVerify = &sf.cfg.InsecureSkipVerify
		case "allow-other-host":
			u.AllowOtherHost = &sf.cfg.AllowOtherHost
		case "allow-insecure":
			u.AllowInsecure = &sf.cfg.AllowInsecure
		case "api-version":
			u.APIVersion = &sf.cfg.APIVersion
		case "interval":
			u.Interval = (*time.Duration)(&next.Interval)
		case "lookback":
			u.Lookback = (*time.Duration)(&next.Lookback)
		case "log-types":
			u.LogTypes = next.LogTypes
		case "no-events-alarm":
			d := next.NoEventsAlarm.Duration()
			u.NoEventsAlarm = &d
		default:
			changed-- // --db, --log-level, --key-file
		}
	})
	if changed == 0 {
		fs.Usage()
		return usagef("nothing to change: give the flags to change")
	}
	newToken := sf.cfg.TokenFile != "" || sf.cfg.TokenEnv != ""
	if sf.cfg.TokenFile != "" && sf.cfg.TokenEnv != "" {
		return usagef("give one of --token-file and --token-env")
	}
	if newToken {
		tok, err := e.readToken(config.Source{TokenFile: sf.cfg.TokenFile, TokenEnv: sf.cfg.TokenEnv})
		if err != nil {
			return err
		}
		u.Token = &tok
	}
	// A new token may replace one sealed with a lost key: the key is
	// created then, and said so.
	kp := keyIfEmpty
	if newToken {
		kp = keyCreate
	}
	keyExisted := e.keyPath() == "" || fileExists(e.keyPath())
	a, err := e.openWrite(ctx, engine.Existing, kp)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.secrets == nil {
		return errors.New("the key that seals tokens is not loaded")
	}
	if newToken && !sf.newKey {
		// A token sealed with a key that opens none of the other sources'
		// tokens would split the database between two keys.
		if others, err := othersUnreadable(ctx, a, name); err != nil {
			return err
		} else if len(others) > 0 {
			return fmt.Errorf("the key in use (%s) opens none of the other sources' tokens (%s): "+
				"use the key that sealed them (--key-file, OPWATCH_SECRET_KEY); if it is lost, run this again with --new-key, "+
				"then give each of them a new token", keyName(e), strings.Join(others, ", "))
		}
	}
	if !keyExisted && e.getenv("OPWATCH_SECRET_KEY") == "" && newToken {
		fmt.Fprintf(e.stderr, "note: created a new key file %s; tokens sealed with the lost key cannot be opened: give each other source a new token too\n", e.keyPath())
	}
	res, err := a.sourceService(sf.check()).Update(ctx, name, u)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return sourceNotFound(name, err)
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: pick another --name", err)
	case errors.Is(err, source.ErrTokenUnreadable):
		return fmt.Errorf("%w, with --token-file F or --token-env VAR", err)
	case err != nil:
		return sourceError(name, err)
	}
	w := e.stdout
	fmt.Fprintf(w, "Updated source %s (%s).\n", safetext.Terminal(res.Source.Name), res.Host)
	if res.Resumed {
		fmt.Fprintln(w, "New token stored: stopped streams are polled again now.")
	}
	if res.DroppedCursors {
		fmt.Fprintln(w, "The endpoint changed: every stream re-reads from a day before its last event (nothing is stored twice).")
	}
	if res.LogTypes != nil {
		fmt.Fprintf(w, "Collecting: %s\n", strings.Join(res.LogTypes, ", "))
	}
	if u.NoEventsAlarm != nil {
		fmt.Fprintf(w, "No-events alarm: %s\n", alarmText(res.Source.NoEventsAlarm))
	}
	printNotes(w, res.Notes)
	return nil
}

// alarmText says what a source's no-events alarm does.
func alarmText(d time.Duration) string {
	if d <= 0 {
		return "off (nothing is raised when the source goes quiet)"
	}
	return short(d) + " (a CRITICAL system error when none of its log types stores an event for that long)"
}

// sourceError words the source service's refusals for the command line.
func sourceError(name string, err error) error {
	switch {
	case errors.Is(err, source.ErrInvalid):
		return usageError{err}
	case errors.Is(err, store.ErrExists):
		return fmt.Errorf("%w: pick another name, or change that source with `opwatch source update %s`", err, quoted(name))
	case errors.Is(err, source.ErrTokenRefused):
		return fmt.Errorf("%w: nothing was stored; issue a new token in 1Password", err)
	case errors.Is(err, source.ErrUnchecked):
		return fmt.Errorf("%w: nothing was stored; check the host and the network, or store it anyway with --no-check", err)
	}
	return err
}

// quoted writes a source name as it can be pasted into a shell.
func quoted(name string) string {
	name = safetext.Terminal(name)
	if name != "" && strings.IndexFunc(name, func(r rune) bool {
		return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ':' || r == '@' ||
			'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9')
	}) < 0 {
		return name
	}
	return "'" + strings.ReplaceAll(name, "'", `'\''`) + "'"
}

func fileExists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// othersUnreadable names the sources other than name when the key opens
// none of their tokens (and nil when any opens, or there are none).
func othersUnreadable(ctx context.Context, a *app, name string) ([]string, error) {
	sums, err := a.sources.List(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, s := range sums {
		if s.Source.Name == name {
			continue
		}
		if !errors.Is(s.TokenErr, source.ErrTokenUnreadable) {
			return nil, nil
		}
		names = append(names, quoted(s.Source.Name))
	}
	return names, nil
}

func keyName(e *env) string {
	if e.getenv("OPWATCH_SECRET_KEY") != "" {
		return "OPWATCH_SECRET_KEY"
	}
	return e.keyPath()
}

func sourceNotFound(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no source named %q: see `opwatch source list`", safetext.Terminal(name))
	}
	return err
}

// oneSource parses flags plus exactly one source name.
func (e *env) oneSource(name, synopsis, about string, args []string, more func(fs *flag.FlagSet)) (string, error) {
	fs := e.flags("source "+name, "source "+name+" NAME"+synopsis, about)
	if more != nil {
		more(fs)
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return "", err
	}
	if err := wantArgs(fs, pos, 1, 1, "the name of a source"); err != nil {
		return "", err
	}
	return pos[0], nil
}

func sourceList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("source list", "source list", "List sources and the state of their streams.")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	sums, err := a.sources.List(ctx)
	if err != nil {
		return err
	}
	if len(sums) == 0 {
		fmt.Fprintln(e.stdout, "No sources. Add one with `opwatch source add NAME --token-file F`.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOST\tINTERVAL\tSTREAMS\tEVENTS\tLAST EVENT")
	for _, s := range sums {
		var events int64
		var last time.Time
		states := map[string]int{}
		for _, st := range s.Streams {
			events += st.Events
			states[streamState(st)]++
			if st.LastEventAt.After(last) {
				last = st.LastEventAt
			}
		}
		var parts []string
		for _, k := range []string{store.StreamOK, store.StreamError, store.StreamStopped, notCollected} {
			if states[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", states[k], k))
			}
		}
		if errors.Is(s.TokenErr, source.ErrTokenUnreadable) {
			parts = append(parts, "TOKEN CANNOT BE OPENED")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", safetext.Terminal(s.Source.Name), safetext.Terminal(s.Host),
			short(s.Source.Interval), strings.Join(parts, ", "), events, ago(last))
	}
	return tw.Flush()
}

const notCollected = "not collected"

// short writes a setting's duration as it is typed: 1m, 90s, 24h, 30d.
func short(d time.Duration) string {
	s := config.Duration(d).String()
	if d < 48*time.Hour {
		s = d.String()
	}
	for _, z := range []string{"m0s", "h0m"} {
		if strings.HasSuffix(s, z) {
			s = strings.TrimSuffix(s, z[1:])
		}
	}
	return s
}

func streamState(st store.Stream) string {
	if !st.Enabled {
		return notCollected
	}
	return st.Status
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " (" + roughly(time.Since(t)) + " ago)"
}

// roughly rounds a duration for people: "40s", "12m", "3h5m", "4d".
func roughly(d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Minute:
		return d.Round(time.Second).String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	case d < 48*time.Hour:
		return strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
	}
	return fmt.Sprintf("%dd", int(d.Round(24*time.Hour)/(24*time.Hour)))
}

func sourceShow(ctx context.Context, e *env, args []string) error {
	name, err := e.oneSource("show", "", "Show a source's settings, its health (every condition that needs you, such as\n"+
		"the no-events alarm, a stopped or failing stream or an expiring token, with what to do)\n"+
		"and the state of its streams.", args, nil)
	if err != nil {
		return err
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	s, err := a.sources.Get(ctx, name)
	if err != nil {
		return sourceNotFound(name, err)
	}
	src := s.Source
	w := e.stdout
	fmt.Fprintf(w, "Source %s\n  id:        %s\n  host:      %s\n  api:       v%d\n  interval:  %s\n  lookback:  %s\n  created:   %s\n",
		safetext.Terminal(src.Name), src.ID, safetext.Terminal(s.Host), src.APIVersion, short(src.Interval), short(src.Lookback), src.CreatedAt.UTC().Format(time.RFC3339))
	if src.AccountUUID != "" {
		fmt.Fprintf(w, "  account:   %s\n", safetext.Terminal(src.AccountUUID))
	} else {
		fmt.Fprintf(w, "  account:   not known yet (learned at the first poll)\n")
	}
	if src.InsecureSkipVerify {
		fmt.Fprintf(w, "  TLS:       NOT VERIFIED (--insecure-skip-verify)\n")
	}
	if src.AllowOtherHost {
		fmt.Fprintf(w, "  host:      allowed to differ from the token's (--allow-other-host)\n")
	}
	if src.AllowInsecure {
		fmt.Fprintf(w, "  insecure:  allowed for a host that is not loopback (--allow-insecure)\n")
	}
	fmt.Fprintf(w, "  no-events alarm: %s\n", alarmText(src.NoEventsAlarm))
	switch {
	case errors.Is(s.TokenErr, source.ErrNoBox):
		fmt.Fprintf(w, "  token:     sealed (the key is not available here, so its claims are not shown)\n")
	case s.TokenErr != nil:
		fmt.Fprintf(w, "  token:     CANNOT BE OPENED: %v\n             give the source a new token: opwatch source update %s --token-file F\n",
			s.TokenErr, quoted(src.Name))
	default:
		var feats []string
		for _, f := range s.Claims.Features {
			feats = append(feats, string(f))
		}
		fmt.Fprintf(w, "  token:     features %s; expiry %s\n", strings.Join(feats, ", "), s.Claims.ExpiryText(time.Now()))
	}
	conds, err := health.Conditions(ctx, a.store, src.ID, time.Now())
	if err != nil {
		return fmt.Errorf("check the source's health: %w", err)
	}
	fmt.Fprintln(w)
	if len(conds) == 0 {
		fmt.Fprintln(w, "Health: ok (no condition needs you)")
	} else {
		fmt.Fprintf(w, "Health: %d condition(s) need you; each clears itself once fixed:\n", len(conds))
		for _, c := range conds {
			since := ""
			// A token's warning "starts" days before the source may have
			// existed: only a start within its life is news.
			if !c.Since.IsZero() && c.Since.After(src.CreatedAt) {
				since = " (since " + ago(c.Since) + ")"
			}
			fmt.Fprintf(w, "  [%s] %s%s\n", c.Severity, safetext.Terminal(c.Title), since)
			if c.Do != "" {
				fmt.Fprintf(w, "      what to do: %s\n", safetext.Terminal(c.Do))
			}
		}
	}
	fmt.Fprintln(w)
	for _, st := range s.Streams {
		state := streamState(st)
		if lt := logtype.ByName(st.LogType); st.Enabled && st.Status != store.StreamStopped && s.TokenErr == nil &&
			lt != nil && !s.Claims.Has(onepassword.Feature(lt.Feature)) {
			state += " (but the token lacks the " + lt.Feature + " feature: it stops at its next poll)"
		}
		fmt.Fprintf(w, "%s: %s\n", st.LogType, state)
		fmt.Fprintf(w, "  events:        %d stored by this source, %d quarantined\n", st.Events, st.Quarantined)
		fmt.Fprintf(w, "  last event:    %s\n", ago(st.LastEventAt))
		fmt.Fprintf(w, "  last success:  %s\n", ago(st.LastSuccessAt))
		if st.Enabled {
			fmt.Fprintf(w, "  next poll:     %s\n", nextPoll(st, src.Name))
		}
		fmt.Fprintf(w, "  cursor:        %s\n", cursorState(st.Cursor))
		if st.LastError != "" {
			label := "last error:   "
			if st.Status == store.StreamOK {
				label = "earlier error:" // the stream has succeeded since
			}
			fmt.Fprintf(w, "  %s %s (%s; %d in a row)\n", label, safetext.Terminal(st.LastError), ago(st.LastErrorAt), st.ConsecutiveFailures)
		}
	}
	q, err := a.store.ListQuarantine(ctx, src.ID, 5)
	if err != nil {
		return err
	}
	if len(q) > 0 {
		fmt.Fprintf(w, "\nRecently quarantined (query the quarantine table for all):\n")
		for _, x := range q {
			fmt.Fprintf(w, "  %s %s: %s\n", x.At.UTC().Format(time.RFC3339), x.LogType, safetext.Terminal(x.Reason))
		}
	}
	return nil
}

func nextPoll(st store.Stream, name string) string {
	if st.Status == store.StreamStopped {
		return "not scheduled: stopped until the source has a working token with this log type's feature\n" +
			"                 (`opwatch source update " + quoted(name) + " --token-file F` resumes it)"
	}
	if st.NextPollAt.IsZero() {
		return "now"
	}
	d := time.Until(st.NextPollAt)
	if d <= 0 {
		return "due now"
	}
	return "in " + roughly(d)
}

func cursorState(c string) string {
	if c == "" {
		return "none (the next poll starts a day before the last event, or at the lookback)"
	}
	return fmt.Sprintf("stored (%d characters)", len(c))
}

func sourceTest(ctx context.Context, e *env, args []string) error {
	name, err := e.oneSource("test", "", "Check a source's token against 1Password: host, features, expiry, and read access to each event type.", args, nil)
	if err != nil {
		return err
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	src, err := a.store.SourceByName(ctx, name)
	if err != nil {
		return sourceNotFound(name, err)
	}
	if a.secrets == nil {
		return a.keyMissing("the source's token")
	}
	client, err := ingest.NewClient(ctx, src, a.secrets, nil, ingest.ClientOptions{Logger: a.log,
		Retry: onepassword.RetryPolicy{MaxAttempts: 2}, UserAgent: userAgent()})
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "Host: %s\n", client.BaseURL())
	if why := client.Insecure(); why != "" {
		fmt.Fprintf(w, "WARNING: insecure: %s\n", why)
	}
	in, err := client.Introspect(ctx)
	if err != nil {
		return fmt.Errorf("introspect: %w", err)
	}
	fmt.Fprintf(w, "Integration: %s (token issued %s)\n", safetext.Terminal(in.UUID), in.IssuedAt.UTC().Format(time.RFC3339))
	if in.AccountUUID != "" {
		fmt.Fprintf(w, "Account: %s\n", safetext.Terminal(in.AccountUUID))
	}
	printClaims(w, client.Claims())
	streams, err := a.store.Streams(ctx, src.ID)
	if err != nil {
		return err
	}
	enabled := map[string]bool{}
	for _, st := range streams {
		enabled[st.LogType] = st.Enabled
	}
	failed := 0
	for _, f := range onepassword.AllFeatures() {
		lt := logtype.ByFeature(string(f))
		switch {
		case !enabled[lt.Name] && !client.Claims().Has(f):
			fmt.Fprintf(w, "%-26s not collected (the token lacks the %s feature)\n", lt.Name, f)
			continue
		case !client.Claims().Has(f):
			failed++
			fmt.Fprintf(w, "%-26s FAILED: collected, but the token lacks the %s feature\n", lt.Name, f)
			continue
		}
		p, err := client.Fetch(ctx, f, onepassword.Request{Limit: 1, StartTime: time.Now().Add(-time.Hour)})
		if err != nil {
			failed++
			fmt.Fprintf(w, "%-26s FAILED: %s\n", lt.Name, safetext.Terminal(err.Error()))
			continue
		}
		note := ""
		if !enabled[lt.Name] {
			note = "; not collected (add it with --log-types)"
		}
		fmt.Fprintf(w, "%-26s ok (%d event(s) in the last hour sampled)%s\n", lt.Name, len(p.Items), note)
	}
	if failed > 0 {
		return fmt.Errorf("%d event type(s) cannot be read", failed)
	}
	return nil
}

func sourceReset(ctx context.Context, e *env, args []string) error {
	var drop *bool
	name, err := e.oneSource("reset", " [--drop-cursors]", "Poll a source's stopped or failing streams at once. With --drop-cursors\n"+
		"every stream also forgets its cursor and re-reads from a day before its last event\n"+
		"(nothing is stored twice).", args, func(fs *flag.FlagSet) {
		drop = fs.Bool("drop-cursors", false, "forget the cursors and re-read from a day before each stream's last event")
	})
	if err != nil {
		return err
	}
	a, err := e.openWrite(ctx, engine.Existing, keyOptional)
	if err != nil {
		return err
	}
	defer a.Close()
	n, err := a.sources.Reset(ctx, name, *drop)
	if err != nil {
		return sourceNotFound(name, err)
	}
	fmt.Fprintf(e.stdout, "Source %s: %d stream(s) due now.\n", safetext.Terminal(name), n)
	return nil
}

func sourceRemove(ctx context.Context, e *env, args []string) error {
	name, err := e.oneSource("remove", "", "Delete a source and its streams. Its events stay in the lake; a source added\n"+
		"again for the same 1Password account stores none of them twice.", args, nil)
	if err != nil {
		return err
	}
	a, err := e.openWrite(ctx, engine.Existing, keyOptional)
	if err != nil {
		return err
	}
	defer a.Close()
	src, err := a.sources.Remove(ctx, name)
	if err != nil {
		return sourceNotFound(name, err)
	}
	fmt.Fprintf(e.stdout, "Removed source %s and its streams.\n"+
		"Its events stay in the lake (p_source_id = %s);\n"+
		"a source added again for the same 1Password account continues without storing any twice.\n",
		safetext.Terminal(src.Name), src.ID)
	return nil
}
