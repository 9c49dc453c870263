package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

const sourceUsage = `Usage: opwatch source SUBCOMMAND [flags]

Subcommands:
  add     --name N (--token-file F | --token-env VAR) [--region R | --base-url URL] [flags]
  list    list sources with the state of their streams
  show    N: a source's settings and streams (cursor state, counts, last errors)
  test    N: check the token against 1Password (region, features, expiry, access)
  update  N [--token-file F | --token-env VAR] [other add flags]: change settings or the token
  reset   N: clear a stopped stream (after fixing the token) and poll at once
  remove  N: delete the source and its streams; its events stay in the lake
`

func runSource(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, sourceUsage)
		return usagef("missing subcommand")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "add":
		return sourceAdd(ctx, e, args)
	case "update":
		return sourceUpdate(ctx, e, args)
	case "list":
		return sourceList(ctx, e, args)
	case "show":
		return sourceShow(ctx, e, args)
	case "test":
		return sourceTest(ctx, e, args)
	case "reset":
		return sourceReset(ctx, e, args)
	case "remove", "rm":
		return sourceRemove(ctx, e, args)
	case "help", "-h", "--help":
		fmt.Fprint(e.stdout, sourceUsage)
		return nil
	}
	fmt.Fprint(e.stderr, sourceUsage)
	return usagef("unknown subcommand %q", sub)
}

// sourceFlags registers the settings shared by add and update.
type sourceFlags struct {
	cfg      config.Source
	interval string
	lookback string
}

func (sf *sourceFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&sf.cfg.Name, "name", "", "source `name` (becomes p_source_label)")
	fs.StringVar(&sf.cfg.TokenFile, "token-file", "", "read the Events Reporting token from `file` (- for stdin)")
	fs.StringVar(&sf.cfg.TokenEnv, "token-env", "", "read the token from environment `variable`")
	fs.StringVar(&sf.cfg.Region, "region", "", "1Password region: business, enterprise, ca, eu (default: from the token)")
	fs.StringVar(&sf.cfg.BaseURL, "base-url", "", "explicit Events API base `URL` (e.g. an emulator)")
	fs.BoolVar(&sf.cfg.InsecureSkipVerify, "insecure-skip-verify", false, "do not verify the server's TLS certificate (emulators only)")
	fs.IntVar(&sf.cfg.APIVersion, "api-version", 2, "Events API version, 1 or 2")
	fs.StringVar(&sf.interval, "interval", "1m", "poll interval, 10s to 1h")
	fs.StringVar(&sf.lookback, "lookback", "24h", "how far back a new stream starts, at most 120d")
}

// readToken reads the token named by the flags; "-" reads stdin.
func (e *env) readToken(s config.Source) (string, error) {
	if s.TokenFile == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return "", fmt.Errorf("read token from stdin: %w", err)
		}
		tok := strings.TrimSpace(string(b))
		if tok == "" {
			return "", errors.New("no token on stdin")
		}
		return tok, nil
	}
	return s.ReadToken(e.getenv)
}

// checkToken builds a client offline: it parses the token's claims and
// resolves the host, so a wrong region or a malformed token is refused
// before anything is stored.
func checkToken(tok string, s config.Source) (*onepassword.Client, error) {
	return onepassword.New(onepassword.Options{
		Token: tok, Region: s.Region, BaseURL: s.BaseURL, APIVersion: s.APIVersion,
		InsecureSkipVerify: s.InsecureSkipVerify,
	})
}

func sourceAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("source add", "source add --name N (--token-file F | --token-env VAR) [flags]",
		"Add a 1Password account as a source. The token is encrypted at rest and never printed.")
	var sf sourceFlags
	sf.register(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	s, err := sf.source(fs)
	if err != nil {
		return err
	}
	if s.TokenFile == "" && s.TokenEnv == "" {
		return usagef("give the token with --token-file or --token-env")
	}
	tok, err := e.readToken(s)
	if err != nil {
		return err
	}
	client, err := checkToken(tok, s)
	if err != nil {
		return err
	}
	a, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	src, err := a.toStoreSource(s, tok)
	if err != nil {
		return err
	}
	var lts []string
	for _, lt := range logtype.All() {
		lts = append(lts, lt.Name)
	}
	if err := a.store.CreateSource(ctx, &src, lts); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("a source named %q exists: pick another --name, or use `opwatch source update %s`", s.Name, s.Name)
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Added source %s (%s).\n", src.Name, client.BaseURL())
	printClaims(e.stdout, client.Claims())
	fmt.Fprintf(e.stdout, "Next: `opwatch source test %s`, then `opwatch serve`.\n", src.Name)
	return nil
}

// source turns flags into a validated config.Source.
func (sf *sourceFlags) source(fs *flag.FlagSet) (config.Source, error) {
	s := sf.cfg
	if s.Name == "" && fs.NArg() > 0 {
		s.Name = fs.Arg(0)
	}
	var err error
	var d time.Duration
	if d, err = config.ParseDuration(sf.interval); err != nil {
		return s, usageError{err}
	}
	s.Interval = config.Duration(d)
	if d, err = config.ParseDuration(sf.lookback); err != nil {
		return s, usageError{err}
	}
	s.Lookback = config.Duration(d)
	if err := s.Validate(); err != nil {
		return s, usageError{err}
	}
	return s, nil
}

func (a *app) toStoreSource(s config.Source, tok string) (store.Source, error) {
	sealed, err := a.secrets.Seal([]byte(tok))
	if err != nil {
		return store.Source{}, fmt.Errorf("encrypt token: %w", err)
	}
	return store.Source{
		Name: s.Name, Region: s.Region, BaseURL: s.BaseURL, APIVersion: s.APIVersion,
		InsecureSkipVerify: s.InsecureSkipVerify, Interval: time.Duration(s.Interval),
		Lookback: time.Duration(s.Lookback), Token: sealed,
	}, nil
}

func printClaims(w io.Writer, c onepassword.Claims) {
	var feats []string
	for _, f := range c.Features {
		feats = append(feats, string(f))
	}
	fmt.Fprintf(w, "Token features: %s\n", strings.Join(feats, ", "))
	for _, f := range onepassword.AllFeatures() {
		if !c.Has(f) {
			fmt.Fprintf(w, "  note: no %s feature: that stream will stay stopped until the token has it\n", f)
		}
	}
	if c.ExpiresAt.IsZero() {
		fmt.Fprintln(w, "Token expiry: never")
	} else {
		fmt.Fprintf(w, "Token expiry: %s (in %s)\n", c.ExpiresAt.UTC().Format(time.RFC3339), time.Until(c.ExpiresAt).Round(time.Hour))
	}
}

func sourceUpdate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("source update", "source update N [--token-file F | --token-env VAR] [flags]",
		"Change a source's settings or token. Only the flags given change. A new token clears stopped streams.")
	var sf sourceFlags
	sf.register(fs)
	if err := fs.Parse(reorder(args)); err != nil {
		return err
	}
	name := sf.cfg.Name
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	if name == "" {
		return usagef("name the source to update")
	}
	a, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	src, err := a.store.SourceByName(ctx, name)
	if err != nil {
		return sourceNotFound(name, err)
	}
	tokBytes, err := a.secrets.Open(src.Token)
	if err != nil {
		return fmt.Errorf("open stored token: %w", err)
	}
	tok := string(tokBytes)
	cur := config.Source{
		Name: src.Name, Region: src.Region, BaseURL: src.BaseURL, APIVersion: src.APIVersion,
		InsecureSkipVerify: src.InsecureSkipVerify, Interval: config.Duration(src.Interval), Lookback: config.Duration(src.Lookback),
	}
	newToken := false
	var perr error
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "token-file", "token-env":
			newToken = true
		case "region":
			cur.Region, cur.BaseURL = sf.cfg.Region, ""
		case "base-url":
			cur.BaseURL, cur.Region = sf.cfg.BaseURL, ""
		case "insecure-skip-verify":
			cur.InsecureSkipVerify = sf.cfg.InsecureSkipVerify
		case "api-version":
			cur.APIVersion = sf.cfg.APIVersion
		case "interval":
			d, err := config.ParseDuration(sf.interval)
			perr = errors.Join(perr, err)
			cur.Interval = config.Duration(d)
		case "lookback":
			d, err := config.ParseDuration(sf.lookback)
			perr = errors.Join(perr, err)
			cur.Lookback = config.Duration(d)
		}
	})
	if perr != nil {
		return usageError{perr}
	}
	if err := cur.Validate(); err != nil {
		return usageError{err}
	}
	if newToken {
		cur.TokenFile, cur.TokenEnv = sf.cfg.TokenFile, sf.cfg.TokenEnv
		if tok, err = e.readToken(cur); err != nil {
			return err
		}
	}
	client, err := checkToken(tok, cur)
	if err != nil {
		return err
	}
	next, err := a.toStoreSource(cur, tok)
	if err != nil {
		return err
	}
	next.ID, next.CreatedAt = src.ID, src.CreatedAt
	if err := a.store.UpdateSource(ctx, &next); err != nil {
		return err
	}
	if newToken {
		if err := resetStopped(ctx, a.store, src.ID); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "Updated source %s (%s).\n", next.Name, client.BaseURL())
	return nil
}

func resetStopped(ctx context.Context, st store.Store, sourceID string) error {
	streams, err := st.Streams(ctx, sourceID)
	if err != nil {
		return err
	}
	for _, s := range streams {
		if s.Status == store.StreamStopped {
			if err := st.ResetStream(ctx, s.ID, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// reorder moves a leading positional argument after the flags, so both
// `source show N --db x` and `source show --db x N` work.
func reorder(args []string) []string {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		return append(append([]string{}, args[1:]...), args[0])
	}
	return args
}

func sourceNotFound(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no source named %q: see `opwatch source list`", name)
	}
	return err
}

// oneSource parses flags plus one positional source name and opens the app.
func (e *env) oneSource(ctx context.Context, name, about string, args []string) (*app, store.Source, error) {
	fs := e.flags("source "+name, "source "+name+" NAME", about)
	if err := fs.Parse(reorder(args)); err != nil {
		return nil, store.Source{}, err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return nil, store.Source{}, usagef("name one source")
	}
	a, err := e.open(ctx)
	if err != nil {
		return nil, store.Source{}, err
	}
	src, err := a.store.SourceByName(ctx, fs.Arg(0))
	if err != nil {
		a.Close()
		return nil, store.Source{}, sourceNotFound(fs.Arg(0), err)
	}
	return a, src, nil
}

func sourceList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("source list", "source list", "List sources and the state of their streams.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	srcs, err := a.store.ListSources(ctx)
	if err != nil {
		return err
	}
	if len(srcs) == 0 {
		fmt.Fprintln(e.stdout, "No sources. Add one with `opwatch source add --name N --token-file F`.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOST\tINTERVAL\tSTREAMS\tEVENTS\tLAST EVENT")
	for _, s := range srcs {
		streams, err := a.store.Streams(ctx, s.ID)
		if err != nil {
			return err
		}
		var events int64
		var last time.Time
		states := map[string]int{}
		for _, st := range streams {
			events += st.Events
			states[st.Status]++
			if st.LastEventAt.After(last) {
				last = st.LastEventAt
			}
		}
		var parts []string
		for _, k := range []string{store.StreamOK, store.StreamError, store.StreamStopped} {
			if states[k] > 0 {
				parts = append(parts, fmt.Sprintf("%d %s", states[k], k))
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", s.Name, hostOf(s), s.Interval, strings.Join(parts, ", "), events, ago(last))
	}
	return tw.Flush()
}

func hostOf(s store.Source) string {
	switch {
	case s.BaseURL != "":
		return s.BaseURL
	case s.Region != "":
		h, err := onepassword.RegionHost(s.Region)
		if err == nil {
			return h
		}
	}
	return "(from token)"
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05") + " (" + time.Since(t).Round(time.Second).String() + " ago)"
}

func sourceShow(ctx context.Context, e *env, args []string) error {
	a, src, err := e.oneSource(ctx, "show", "Show a source's settings and the state of its streams.", args)
	if err != nil {
		return err
	}
	defer a.Close()
	streams, err := a.store.Streams(ctx, src.ID)
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "Source %s\n  id:        %s\n  host:      %s\n  api:       v%d\n  interval:  %s\n  lookback:  %s\n  created:   %s\n",
		src.Name, src.ID, hostOf(src), src.APIVersion, src.Interval, src.Lookback, src.CreatedAt.UTC().Format(time.RFC3339))
	if tok, err := a.secrets.Open(src.Token); err != nil {
		fmt.Fprintf(w, "  token:     cannot be opened: %v\n", err)
	} else if c, err := onepassword.ParseClaims(string(tok)); err == nil {
		var feats []string
		for _, f := range c.Features {
			feats = append(feats, string(f))
		}
		exp := "never"
		if !c.ExpiresAt.IsZero() {
			exp = c.ExpiresAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(w, "  token:     features %s; expires %s\n", strings.Join(feats, ", "), exp)
	}
	fmt.Fprintln(w)
	for _, st := range streams {
		fmt.Fprintf(w, "%s: %s\n", st.LogType, st.Status)
		fmt.Fprintf(w, "  events:        %d stored, %d quarantined\n", st.Events, st.Quarantined)
		fmt.Fprintf(w, "  last event:    %s\n", ago(st.LastEventAt))
		fmt.Fprintf(w, "  last success:  %s\n", ago(st.LastSuccessAt))
		fmt.Fprintf(w, "  next poll:     %s\n", nextPoll(st))
		fmt.Fprintf(w, "  cursor:        %s\n", cursorState(st.Cursor))
		if st.LastError != "" {
			fmt.Fprintf(w, "  last error:    %s (%s; %d in a row)\n", st.LastError, ago(st.LastErrorAt), st.ConsecutiveFailures)
		}
	}
	q, err := a.store.ListQuarantine(ctx, src.ID, 5)
	if err != nil {
		return err
	}
	if len(q) > 0 {
		fmt.Fprintf(w, "\nRecently quarantined (query the quarantine table for all):\n")
		for _, x := range q {
			fmt.Fprintf(w, "  %s %s: %s\n", x.At.UTC().Format(time.RFC3339), x.LogType, x.Reason)
		}
	}
	return nil
}

func nextPoll(st store.Stream) string {
	if st.Status == store.StreamStopped {
		return "not scheduled: stopped until the token is fixed (`opwatch source update`, then `source reset`)"
	}
	if st.NextPollAt.IsZero() {
		return "now"
	}
	d := time.Until(st.NextPollAt).Round(time.Second)
	if d <= 0 {
		return "due now"
	}
	return "in " + d.String()
}

func cursorState(c string) string {
	if c == "" {
		return "none (next poll starts from the lookback or the last event)"
	}
	return fmt.Sprintf("stored (%d characters)", len(c))
}

func sourceTest(ctx context.Context, e *env, args []string) error {
	a, src, err := e.oneSource(ctx, "test", "Check a source's token against 1Password: host, features, expiry, and read access to each event type.", args)
	if err != nil {
		return err
	}
	defer a.Close()
	client, err := ingest.NewClient(ctx, src, a.secrets, nil, ingest.ClientOptions{Logger: a.log,
		Retry: onepassword.RetryPolicy{MaxAttempts: 2}})
	if err != nil {
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "Host: %s\n", client.BaseURL())
	in, err := client.Introspect(ctx)
	if err != nil {
		return fmt.Errorf("introspect: %w", err)
	}
	fmt.Fprintf(w, "Integration: %s (token issued %s)\n", in.UUID, in.IssuedAt.UTC().Format(time.RFC3339))
	if in.AccountUUID != "" {
		fmt.Fprintf(w, "Account: %s\n", in.AccountUUID)
	}
	printClaims(w, client.Claims())
	failed := 0
	for _, f := range onepassword.AllFeatures() {
		lt := logtype.ByFeature(string(f))
		if !client.Claims().Has(f) {
			fmt.Fprintf(w, "%-26s skipped: the token lacks the %s feature\n", lt.Name, f)
			continue
		}
		p, err := client.Fetch(ctx, f, onepassword.Request{Limit: 1, StartTime: time.Now().Add(-time.Hour)})
		if err != nil {
			failed++
			fmt.Fprintf(w, "%-26s FAILED: %v\n", lt.Name, err)
			continue
		}
		fmt.Fprintf(w, "%-26s ok (%d event(s) in the last hour sampled)\n", lt.Name, len(p.Items))
	}
	if failed > 0 {
		return fmt.Errorf("%d event type(s) cannot be read", failed)
	}
	return nil
}

func sourceReset(ctx context.Context, e *env, args []string) error {
	a, src, err := e.oneSource(ctx, "reset", "Clear stopped streams of a source and poll them at once (after fixing the token).", args)
	if err != nil {
		return err
	}
	defer a.Close()
	streams, err := a.store.Streams(ctx, src.ID)
	if err != nil {
		return err
	}
	for _, st := range streams {
		if err := a.store.ResetStream(ctx, st.ID, nil); err != nil {
			return err
		}
	}
	fmt.Fprintf(e.stdout, "Source %s: %d stream(s) due now.\n", src.Name, len(streams))
	return nil
}

func sourceRemove(ctx context.Context, e *env, args []string) error {
	a, src, err := e.oneSource(ctx, "remove", "Delete a source and its streams. Its events stay in the lake.", args)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.store.DeleteSource(ctx, src.ID); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Removed source %s. Its events stay queryable (p_source_id = %s).\n", src.Name, src.ID)
	return nil
}
