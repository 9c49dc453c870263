package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

const destinationsUsage = `Usage: opwatch destinations SUBCOMMAND [flags]

Subcommands:
  add     NAME --type TYPE [flags]: a new destination (flags by type, below)
  list    every destination: where it sends (the host only), its filter and deliveries
  show    NAME: settings, delivery counts, the last error and recent notifications
  update  NAME [flags]: change settings or secrets; only the flags given change
  test    NAME: send a test alert now and print exactly what the receiver answered
  remove  NAME: delete it and its pending notifications

Types and their flags:
  webhook    --url-file F [--signing-secret-file F]   JSON, X-Opwatch-Signature (HMAC-SHA256)
  slack      --url-file F                             an incoming webhook URL
  teams      --url-file F                             a workflow webhook URL
  pagerduty  --routing-key-file F [--api-url URL]     Events API v2 (trigger, resolve)
  opsgenie   --api-key-file F [--region us|eu] [--api-url URL]
  email      --smtp-host H --from A --to A[,A] [--smtp-port N] [--tls starttls|tls|none]
             [--username U --password-file F]
Every type: [--min-severity S] [--alert-types rule,rule_error,system_error] [--disabled]

Secrets (URLs that carry keys, signing secrets, routing and API keys, passwords)
are read from files, or standard input with "-", never from the command line;
they are sealed at rest with the key that seals tokens, and never printed.
See docs/alerts.md. Flags may come before or after NAME.
`

func runDestinations(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, destinationsUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "add", "update", "list", "ls", "show", "test", "remove", "rm")
	switch sub {
	case "add":
		return destAdd(ctx, e, args)
	case "update":
		return destUpdate(ctx, e, args)
	case "list", "ls":
		return destList(ctx, e, args)
	case "show":
		return destShow(ctx, e, args)
	case "test":
		return destTest(ctx, e, args)
	case "remove", "rm":
		return destRemove(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, destinationsUsage)
		return nil
	}
	fmt.Fprint(e.stderr, destinationsUsage)
	return usagef("unknown subcommand %q", sub)
}

// destTypesHelp is the flags each type takes, for add's and update's help.
const destTypesHelp = `Types and their flags:
  webhook    --url-file F [--signing-secret-file F]
  slack      --url-file F              (an incoming webhook URL)
  teams      --url-file F              (a workflow webhook URL)
  pagerduty  --routing-key-file F [--api-url URL]
  opsgenie   --api-key-file F [--region us|eu] [--api-url URL]
  email      --smtp-host H --from A --to A[,A] [--smtp-port N] [--tls starttls|tls|none]
             [--username U --password-file F]
Secrets are read from files ("-" for standard input), never from the command line.`

// destFlagTypes are the types that take each type-specific flag.
var destFlagTypes = map[string][]string{
	"url-file":             {store.DestWebhook, store.DestSlack, store.DestTeams},
	"signing-secret-file":  {store.DestWebhook},
	"routing-key-file":     {store.DestPagerDuty},
	"api-key-file":         {store.DestOpsgenie},
	"password-file":        {store.DestEmail},
	"api-url":              {store.DestPagerDuty, store.DestOpsgenie},
	"region":               {store.DestOpsgenie},
	"smtp-host":            {store.DestEmail},
	"smtp-port":            {store.DestEmail},
	"tls":                  {store.DestEmail},
	"from":                 {store.DestEmail},
	"to":                   {store.DestEmail},
	"username":             {store.DestEmail},
	"insecure-skip-verify": {store.DestEmail},
}

// destFlags are the flags of add and update. Update changes only the ones
// given (fs.Visit says which).
type destFlags struct {
	name, typ, minSev, alertTypes string
	disabled, enabled             bool
	secretFiles                   map[string]*string // by alert.Secret field: url, signing_secret, ...
	apiURL, region                string
	smtpHost, tls, from, username string
	smtpPort                      int
	to                            []string
	insecure                      bool
	set                           map[string]bool // the flags given
}

func (df *destFlags) register(fs *flag.FlagSet, update bool) {
	what := "destination `name` (or give it as the argument)"
	if update {
		what = "rename the destination to `name`"
	}
	fs.StringVar(&df.name, "name", "", what)
	if !update {
		fs.StringVar(&df.typ, "type", "", "destination `type`: webhook, slack, teams, pagerduty, opsgenie or email")
	}
	sev := "INFO"
	if update {
		sev = ""
	}
	fs.StringVar(&df.minSev, "min-severity", sev, "send rule alerts of this `severity` and above: INFO, LOW, MEDIUM, HIGH, CRITICAL (system errors go whatever it is)")
	fs.StringVar(&df.alertTypes, "alert-types", "", "comma-separated alert `types` it takes: rule, rule_error, system_error, or all (default all)")
	fs.BoolVar(&df.disabled, "disabled", false, "send nothing to it (notifications are not even queued)")
	if update {
		fs.BoolVar(&df.enabled, "enabled", false, "send to it again (after --disabled)")
	}
	df.secretFiles = map[string]*string{}
	for _, s := range []struct{ key, flag, what string }{
		{"url", "url-file", "webhook, slack, teams: read the URL (it carries the key) from `file` (- for stdin)"},
		{"signing_secret", "signing-secret-file", "webhook: read the HMAC-SHA256 secret of X-Opwatch-Signature from `file` (- for stdin)"},
		{"routing_key", "routing-key-file", "pagerduty: read the integration (routing) key from `file` (- for stdin)"},
		{"api_key", "api-key-file", "opsgenie: read the API key from `file` (- for stdin)"},
		{"password", "password-file", "email: read the SMTP password from `file` (- for stdin)"},
	} {
		df.secretFiles[s.key] = fs.String(s.flag, "", s.what)
	}
	fs.StringVar(&df.apiURL, "api-url", "", "pagerduty, opsgenie: another API `URL` (a proxy)")
	fs.StringVar(&df.region, "region", "", "opsgenie: `region` us (default) or eu")
	fs.StringVar(&df.smtpHost, "smtp-host", "", "email: the SMTP server's `host` name")
	fs.IntVar(&df.smtpPort, "smtp-port", 0, "email: the SMTP server's `port` (default 587, or 465 with --tls tls)")
	fs.StringVar(&df.tls, "tls", "", "email: `mode` starttls (default; refuses a server without it), tls (implicit, port 465) or none (localhost only)")
	fs.StringVar(&df.from, "from", "", "email: the sender `address`")
	fs.Func("to", "email: recipient `addresses` (repeat the flag, or separate them with commas)", func(v string) error {
		for _, a := range strings.Split(v, ",") {
			if a = strings.TrimSpace(a); a != "" {
				df.to = append(df.to, a)
			}
		}
		return nil
	})
	fs.StringVar(&df.username, "username", "", "email: the SMTP `user` name (with --password-file)")
	fs.BoolVar(&df.insecure, "insecure-skip-verify", false, "email: accept any certificate of the SMTP server (a test server)")
}

// visit records which flags were given.
func (df *destFlags) visit(fs *flag.FlagSet) {
	df.set = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { df.set[f.Name] = true })
}

// checkTypes refuses a flag the destination's type does not take: it would
// be silently ignored otherwise.
func (df *destFlags) checkTypes(typ string) error {
	for f := range df.set {
		types, ok := destFlagTypes[f]
		if ok && !slices.Contains(types, typ) {
			return usagef("--%s is for %s destinations, not %s", f, strings.Join(types, ", "), typ)
		}
	}
	return nil
}

// common applies the flags every type has to d.
func (df *destFlags) common(d *store.Destination) error {
	if df.set["min-severity"] || d.MinSeverity == "" {
		sev := strings.ToUpper(strings.TrimSpace(df.minSev))
		if !slices.Contains(config.SeverityNames, sev) {
			return usagef("--min-severity %q: want one of %s", df.minSev, strings.Join(config.SeverityNames, ", "))
		}
		d.MinSeverity = sev
	}
	if df.set["alert-types"] {
		ts, err := parseAlertTypes(df.alertTypes)
		if err != nil {
			return err
		}
		d.AlertTypes = ts
	}
	if df.set["disabled"] && df.set["enabled"] {
		return usagef("give one of --enabled and --disabled")
	}
	if df.set["disabled"] {
		d.Enabled = !df.disabled
	}
	if df.set["enabled"] {
		d.Enabled = df.enabled
	}
	return nil
}

// parseAlertTypes reads --alert-types: a comma list, or "all" (nil).
func parseAlertTypes(v string) ([]string, error) {
	if strings.EqualFold(strings.TrimSpace(v), "all") {
		return nil, nil
	}
	var ts []string
	for _, t := range strings.Split(v, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		if !slices.Contains(config.AlertTypeNames, t) {
			return nil, usagef("--alert-types: unknown alert type %q: want rule, rule_error, system_error (comma-separated), or all", t)
		}
		if !slices.Contains(ts, t) {
			ts = append(ts, t)
		}
	}
	return ts, nil
}

// settings applies the type's settings flags to s.
func (df *destFlags) settings(s *alert.Settings) {
	if df.set["api-url"] {
		s.URL = df.apiURL
	}
	if df.set["region"] {
		s.Region = strings.ToLower(df.region)
	}
	if df.set["smtp-host"] {
		s.SMTPHost = df.smtpHost
	}
	if df.set["smtp-port"] {
		s.SMTPPort = df.smtpPort
	}
	if df.set["tls"] {
		s.TLS = strings.ToLower(df.tls)
	}
	if df.set["from"] {
		s.From = df.from
	}
	if df.set["to"] {
		s.To = df.to
	}
	if df.set["username"] {
		s.Username = df.username
	}
	if df.set["insecure-skip-verify"] {
		s.InsecureSkipVerify = df.insecure
	}
}

// readSecrets reads the secret files given into sec. Only one of them may
// be standard input.
func (df *destFlags) readSecrets(e *env, sec *alert.Secret) error {
	stdin := ""
	for key, p := range df.secretFiles {
		if *p != "-" {
			continue
		}
		if stdin != "" {
			return usagef("--%s-file and --%s-file both read standard input: give one of them as a file", strings.ReplaceAll(stdin, "_", "-"), strings.ReplaceAll(key, "_", "-"))
		}
		stdin = key
	}
	for _, key := range []string{"url", "signing_secret", "routing_key", "api_key", "password"} {
		path := *df.secretFiles[key]
		flagName := "--" + strings.ReplaceAll(key, "_", "-") + "-file"
		if !df.set[strings.TrimPrefix(flagName, "--")] {
			continue
		}
		var v string
		switch path {
		case "":
			return usagef("%s: give a file (- for standard input)", flagName)
		case "-":
			b, err := io.ReadAll(io.LimitReader(e.stdin, 16<<10))
			if err != nil {
				return fmt.Errorf("%s: read standard input: %w", flagName, err)
			}
			if v = strings.TrimSpace(string(b)); v == "" {
				return fmt.Errorf("%s: nothing on standard input", flagName)
			}
		default:
			var err error
			if v, err = config.ReadSecretFile(path); err != nil {
				return fmt.Errorf("%s: %w", flagName, err)
			}
			// secret.WarnReadable speaks of tokens.
			if w := strings.Replace(secret.WarnReadable(path), "token file", "secret file", 1); w != "" {
				fmt.Fprintf(e.stderr, "warning: %s\n", w)
			}
		}
		setSecret(sec, key, v)
	}
	return nil
}

func setSecret(sec *alert.Secret, key, v string) {
	switch key {
	case "url":
		sec.URL = v
	case "signing_secret":
		sec.SigningSecret = v
	case "routing_key":
		sec.RoutingKey = v
	case "api_key":
		sec.APIKey = v
	case "password":
		sec.Password = v
	}
}

// sealDestination validates d with its settings and secret and stores
// them in d (the secret sealed bound to d). Validation errors are the
// user's to fix (exit 2); they never hold a secret.
func sealDestination(box *secret.Box, d *store.Destination, s alert.Settings, sec alert.Secret) error {
	if err := alert.Validate(*d, s, sec); err != nil {
		return usageError{fmt.Errorf("destination %s: %w", safetext.Terminal(d.Name), err)}
	}
	raw, err := json.Marshal(s)
	if err != nil {
		return err
	}
	d.Settings = raw
	plain, err := json.Marshal(sec)
	if err != nil {
		return err
	}
	if d.Secret, err = box.Seal(plain, d.Binding()); err != nil {
		return fmt.Errorf("seal the destination's secret: %w", err)
	}
	return nil
}

// openTarget opens a stored destination's settings and secret.
func openTarget(box *secret.Box, d store.Destination) (alert.Target, error) {
	t := alert.Target{Destination: d}
	var err error
	if t.Settings, err = alert.ParseSettings(d.Settings); err != nil {
		return t, err
	}
	if box == nil {
		return t, fmt.Errorf("cannot open the destination's secret: %w", secret.ErrNoKey)
	}
	plain, err := box.Open(d.Secret, d.Binding())
	if err != nil {
		return t, fmt.Errorf("the destination's secret cannot be opened (%w): give it again with `opwatch destinations update %s` and its secret flags", err, quoted(d.Name))
	}
	t.Secret, err = alert.ParseSecret(plain)
	return t, err
}

// nameArg takes the destination's name from the argument or --name.
func nameArg(fs *flag.FlagSet, pos []string, flagName, verb string) (string, error) {
	switch {
	case len(pos) == 1 && flagName != "" && flagName != pos[0]:
		return "", usagef("the destination is named twice (%q and --name %q): give one", pos[0], flagName)
	case len(pos) == 1:
		return pos[0], nil
	case flagName == "":
		fs.Usage()
		return "", usagef("name the destination: opwatch destinations %s NAME", verb)
	}
	return flagName, nil
}

func destAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("destinations add", "destinations add NAME --type TYPE [flags]",
		"Add a destination for alerts. Its settings are checked and its secrets sealed at rest;\n"+
			"`opwatch destinations test NAME` then sends it a test alert.\n\n"+destTypesHelp)
	var df destFlags
	df.register(fs, false)
	pos, err := parseWant(fs, args, 0, 1, "destination name")
	if err != nil {
		return err
	}
	df.visit(fs)
	name, err := nameArg(fs, pos, df.name, "add")
	if err != nil {
		return err
	}
	typ := strings.ToLower(strings.TrimSpace(df.typ))
	if typ == "" {
		return usagef("give the destination's --type: %s", strings.Join(config.DestinationTypes, ", "))
	}
	if !slices.Contains(config.DestinationTypes, typ) {
		return usagef("--type %q: want one of %s", df.typ, strings.Join(config.DestinationTypes, ", "))
	}
	if err := df.checkTypes(typ); err != nil {
		return err
	}
	d := store.Destination{ID: store.NewID(), Name: name, Type: typ, Enabled: true}
	if err := df.common(&d); err != nil {
		return err
	}
	var s alert.Settings
	df.settings(&s)
	var sec alert.Secret
	if err := df.readSecrets(e, &sec); err != nil {
		return err
	}
	// Checked before the database is touched: a refused destination leaves
	// nothing.
	if err := alert.Validate(d, s, sec); err != nil {
		return usageError{fmt.Errorf("destination %s: %w", safetext.Terminal(d.Name), err)}
	}
	a, err := e.openWrite(ctx, engine.ReadWrite, keyIfEmpty)
	if err != nil {
		return err
	}
	defer a.Close()
	if a.secrets == nil {
		return errors.New("the key that seals secrets is not loaded")
	}
	if err := sealDestination(a.secrets, &d, s, sec); err != nil {
		return err
	}
	if err := a.store.CreateDestination(ctx, &d); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("a destination named %s exists: pick another name, or change it with `opwatch destinations update %s`", quoted(name), quoted(name))
		}
		return err
	}
	w := e.stdout
	fmt.Fprintf(w, "Added destination %s (%s, %s).\n", safetext.Terminal(d.Name), d.Type, alert.Redacted(alert.Target{Destination: d, Settings: s, Secret: sec}))
	fmt.Fprintf(w, "Takes: %s\n", takesText(d))
	if !d.Enabled {
		fmt.Fprintln(w, "Disabled: nothing is sent to it until `opwatch destinations update "+quoted(d.Name)+" --enabled`.")
	}
	fmt.Fprintf(w, "Next: `opwatch destinations test %s` sends it a test alert.\n", quoted(d.Name))
	return nil
}

// takesText says which alerts a destination takes.
func takesText(d store.Destination) string {
	types := "rule alerts, rule errors and system errors"
	if len(d.AlertTypes) > 0 {
		types = strings.Join(d.AlertTypes, ", ")
	}
	sev := d.MinSeverity
	if sev == "" {
		sev = "INFO"
	}
	return fmt.Sprintf("%s; rule alerts of %s and above (system errors whatever their severity)", types, sev)
}

func destUpdate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("destinations update", "destinations update NAME [flags]",
		"Change a destination: only the flags given change. A secret flag replaces that\n"+
			"secret; the others stay sealed as they are. The type cannot change: remove the\n"+
			"destination and add it again.\n\n"+destTypesHelp)
	var df destFlags
	df.register(fs, true)
	pos, err := parseWant(fs, args, 1, 1, "the name of the destination to update")
	if err != nil {
		return err
	}
	df.visit(fs)
	changed := 0
	for f := range df.set {
		if f != "db" && f != "key-file" && f != "log-level" {
			changed++
		}
	}
	if changed == 0 {
		fs.Usage()
		return usagef("nothing to change: give the flags to change")
	}
	a, err := e.openWrite(ctx, engine.Existing, keyOptional)
	if err != nil {
		return err
	}
	defer a.Close()
	cur, err := a.store.DestinationByName(ctx, pos[0])
	if err != nil {
		return destNotFound(pos[0], err)
	}
	if err := df.checkTypes(cur.Type); err != nil {
		return err
	}
	t, err := openTarget(a.secrets, cur)
	if err != nil {
		return err
	}
	d := cur
	if df.set["name"] {
		d.Name = df.name
	}
	if err := df.common(&d); err != nil {
		return err
	}
	df.settings(&t.Settings)
	if err := df.readSecrets(e, &t.Secret); err != nil {
		return err
	}
	if err := sealDestination(a.secrets, &d, t.Settings, t.Secret); err != nil {
		return err
	}
	if err := a.store.UpdateDestination(ctx, d); err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("a destination named %s exists: pick another --name", quoted(d.Name))
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Updated destination %s (%s, %s).\nTakes: %s\n", safetext.Terminal(d.Name), d.Type,
		alert.Redacted(alert.Target{Destination: d, Settings: t.Settings, Secret: t.Secret}), takesText(d))
	if !d.Enabled {
		fmt.Fprintln(e.stdout, "Disabled: nothing is sent to it.")
	}
	return nil
}

func destNotFound(name string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no destination named %s: see `opwatch destinations list`", quoted(name))
	}
	return err
}

// where is a destination's redacted address, or why it cannot be shown.
func where(box *secret.Box, d store.Destination) string {
	t, err := openTarget(box, d)
	if err != nil && (d.Type != store.DestEmail || t.Settings.SMTPHost == "") {
		if errors.Is(err, secret.ErrNoKey) {
			return "(sealed: the key is not available here)"
		}
		return "(SECRET CANNOT BE OPENED)"
	}
	return alert.Redacted(t)
}

func destList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("destinations list", "destinations list", "List destinations: type, where they send (the host only), what they take, and their deliveries.")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	ds, err := a.store.Destinations(ctx)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		fmt.Fprintln(e.stdout, "No destinations: alerts are recorded but sent nowhere. Add one with `opwatch destinations add NAME --type slack --url-file F`.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tTYPE\tSENDS TO\tMIN SEVERITY\tALERT TYPES\tENABLED\tPENDING\tSENT\tFAILED\tLAST ERROR")
	for _, d := range ds {
		st, err := a.store.DestinationStats(ctx, d.ID)
		if err != nil {
			return err
		}
		types := "all"
		if len(d.AlertTypes) > 0 {
			types = strings.Join(d.AlertTypes, ",")
		}
		lastErr := "-"
		if st.LastError != "" {
			lastErr = alertShorten(st.LastError, 60) + " (" + roughly(time.Since(st.LastErrorAt)) + " ago)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\n", safetext.Terminal(d.Name), d.Type, where(a.secrets, d),
			d.MinSeverity, types, yesNo(d.Enabled), st.Pending, st.Sent, st.Failed, safetext.Terminal(lastErr))
	}
	return tw.Flush()
}

func destShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("destinations show", "destinations show NAME [--notifications N]",
		"Show a destination: settings (never its secrets), delivery counts, the last error,\n"+
			"and its most recent notifications.")
	limit := fs.Int("notifications", 10, "show the `N` most recent notifications")
	pos, err := parseWant(fs, args, 1, 1, "the name of a destination")
	if err != nil {
		return err
	}
	if *limit < 0 {
		return usagef("--notifications %d: want 0 or more", *limit)
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := a.store.DestinationByName(ctx, pos[0])
	if err != nil {
		return destNotFound(pos[0], err)
	}
	st, err := a.store.DestinationStats(ctx, d.ID)
	if err != nil {
		return err
	}
	w := e.stdout
	t := safetext.Terminal
	fmt.Fprintf(w, "Destination %s\n", t(d.Name))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "  %s\t%s\n", k, v) }
	row("id:", d.ID)
	row("type:", d.Type)
	row("sends to:", where(a.secrets, d))
	row("takes:", takesText(d))
	if d.Enabled {
		row("enabled:", "yes")
	} else {
		row("enabled:", "NO: nothing is sent (`opwatch destinations update "+quoted(d.Name)+" --enabled`)")
	}
	if s, err := alert.ParseSettings(d.Settings); err == nil {
		if d.Type == store.DestWebhook {
			if tg, err := openTarget(a.secrets, d); err == nil {
				signed := "no (add --signing-secret-file to sign the body)"
				if tg.Secret.SigningSecret != "" {
					signed = "yes, X-Opwatch-Signature: sha256=HMAC-SHA256 of the body"
				}
				row("signed:", signed)
			}
		}
		if s.InsecureSkipVerify {
			row("TLS:", "NOT VERIFIED (--insecure-skip-verify)")
		}
	}
	row("created:", alertStamp(d.CreatedAt))
	row("updated:", alertStamp(d.UpdatedAt))
	tw.Flush()
	fmt.Fprintf(w, "\nDeliveries: %d pending, %d sent, %d failed\n", st.Pending, st.Sent, st.Failed)
	if !st.LastSentAt.IsZero() {
		fmt.Fprintf(w, "  last sent:   %s\n", ago(st.LastSentAt))
	}
	if st.LastError != "" {
		fmt.Fprintf(w, "  last error:  %s (%s)\n", t(st.LastError), ago(st.LastErrorAt))
	}
	if *limit == 0 {
		return nil
	}
	ns, err := a.store.ListNotifications(ctx, store.NotificationFilter{DestinationID: d.ID, Limit: *limit})
	if err != nil {
		return err
	}
	if len(ns) == 0 {
		fmt.Fprintln(w, "\nNo notifications yet.")
		return nil
	}
	fmt.Fprintf(w, "\nRecent notifications (newest first):\n")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CREATED\tALERT\tKIND\tSTATUS\tATTEMPTS\tDETAIL")
	for _, n := range ns {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\n", n.CreatedAt.UTC().Format("2006-01-02 15:04:05"), shortID(n.AlertID),
			n.Kind, n.Status, n.Attempts, t(notificationDetail(n)))
	}
	return tw.Flush()
}

// notificationDetail says where a notification stands.
func notificationDetail(n store.Notification) string {
	switch n.Status {
	case store.NotificationSent:
		return "sent " + alertStamp(n.SentAt)
	case store.NotificationFailed:
		return "gave up: " + alertShorten(n.LastError, 100)
	}
	next := "due now"
	if d := time.Until(n.NextAttemptAt); d > 0 {
		next = "next attempt in " + roughly(d)
	}
	if n.LastError != "" {
		return next + "; last: " + alertShorten(n.LastError, 80)
	}
	return next
}

// shortID is an id's first 8 characters: enough to name it to the alerts
// verbs, which take a prefix.
func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func destTest(ctx context.Context, e *env, args []string) error {
	fs := e.flags("destinations test", "destinations test NAME [--public-url URL]",
		"Send a test alert to a destination now, and print exactly what the receiver answered\n"+
			"(its status and the start of its answer). The exit status is 1 when it was not\n"+
			"delivered. Nothing is stored; a disabled destination is tested too.")
	publicURL := fs.String("public-url", "", "link the test alert to the console at this `URL`, as serve --public-url does")
	pos, err := parseWant(fs, args, 1, 1, "the name of a destination")
	if err != nil {
		return err
	}
	if err := checkPublicURL(*publicURL); err != nil {
		return err
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := a.store.DestinationByName(ctx, pos[0])
	if err != nil {
		return destNotFound(pos[0], err)
	}
	if a.secrets == nil {
		return a.keyMissing("the destination's secret")
	}
	t, err := openTarget(a.secrets, d)
	if err != nil {
		return err
	}
	m := testMessage(d, *publicURL)
	w := e.stdout
	fmt.Fprintf(w, "Sending a test alert to %s (%s, %s)...\n", safetext.Terminal(d.Name), d.Type, alert.Redacted(t))
	if !d.Enabled {
		fmt.Fprintln(w, "note: the destination is disabled: alerts are not sent to it until it is enabled")
	}
	res := newSender(a.log).Send(ctx, t, m)
	answer := res.Answer
	if answer == "" {
		answer = "(nothing)"
	}
	if res.Status != 0 {
		fmt.Fprintf(w, "Receiver answered: HTTP %d %s\n", res.Status, safetext.Terminal(answer))
	} else if res.Answer != "" {
		fmt.Fprintf(w, "Receiver answered: %s\n", safetext.Terminal(answer))
	}
	if res.Err != nil {
		hint := "serve retries such a failure for up to 24 h"
		if res.Permanent {
			hint = "retrying would not help: fix the destination (`opwatch destinations update " + quoted(d.Name) + "`)"
		}
		why := strings.TrimSuffix(res.Err.Error(), "; retried") // the outbox's wording
		return fmt.Errorf("not delivered: %s (%s)", safetext.Terminal(why), hint)
	}
	fmt.Fprintf(w, "Delivered (Idempotency-Key %s).\n", m.IdempotencyKey)
	return nil
}

// testMessage is the test alert `destinations test` sends: plainly a test,
// with every part a real alert has, so the receiver's rendering is seen.
func testMessage(d store.Destination, publicURL string) alert.Message {
	now := time.Now().UTC()
	id := store.NewID()
	sev := d.MinSeverity
	if sev == "" || sev == "INFO" {
		sev = "MEDIUM"
	}
	ctxJSON, _ := json.Marshal(map[string]any{"destination": d.Name, "note": "a test sent by `opwatch destinations test`"})
	m := alert.Message{
		Kind: alert.KindTest, IdempotencyKey: store.NewID(),
		Alert: store.Alert{
			ID: id, Type: store.AlertRule, RuleID: "opwatch.Test", Dedup: "test",
			Title:       "opwatch can reach destination " + d.Name,
			Severity:    sev,
			Status:      store.AlertOpen,
			Context:     ctxJSON,
			Description: "This is a test alert, sent by `opwatch destinations test`. Nothing happened.",
			Runbook:     "Nothing to do: this destination receives opwatch's alerts.",
			Reference:   "https://github.com/opwatch/opwatch/blob/main/docs/alerts.md",
			Events:      1, FirstEventAt: now, LastEventAt: now, CreatedAt: now, UpdatedAt: now,
		},
		Summary: []alert.Attribute{{Name: "destination", Value: d.Name}, {Name: "sent_by", Value: "opwatch destinations test"}},
	}
	if publicURL != "" {
		m.Link = strings.TrimSuffix(publicURL, "/") + "/alerts/" + id
	}
	return m
}

// checkPublicURL refuses a --public-url that is not the console's address.
func checkPublicURL(u string) error {
	if err := config.CheckPublicURL(u); err != nil {
		return usageError{fmt.Errorf("--public-url: %w", err)}
	}
	return nil
}

func destRemove(ctx context.Context, e *env, args []string) error {
	fs := e.flags("destinations remove", "destinations remove NAME",
		"Delete a destination and its pending notifications. The notifications already sent\n"+
			"or failed stay, as the alerts' delivery record. Rules that name it in their\n"+
			"destinations send to the others they name.")
	pos, err := parseWant(fs, args, 1, 1, "the name of a destination")
	if err != nil {
		return err
	}
	a, err := e.openWrite(ctx, engine.Existing, keyOptional)
	if err != nil {
		return err
	}
	defer a.Close()
	d, err := a.store.DestinationByName(ctx, pos[0])
	if err != nil {
		return destNotFound(pos[0], err)
	}
	st, err := a.store.DestinationStats(ctx, d.ID)
	if err != nil {
		return err
	}
	if err := a.store.DeleteDestination(ctx, d.ID); err != nil {
		return destNotFound(pos[0], err)
	}
	fmt.Fprintf(e.stdout, "Removed destination %s", safetext.Terminal(d.Name))
	if st.Pending > 0 {
		fmt.Fprintf(e.stdout, " and its %d pending notification(s), which will not be sent", st.Pending)
	}
	fmt.Fprintln(e.stdout, ".")
	return nil
}

// destinationFromConfig builds a destination declared in the configuration
// file, its secrets read from their files or environment variables.
func destinationFromConfig(e *env, cd config.Destination) (store.Destination, alert.Settings, alert.Secret, error) {
	d := store.Destination{Name: cd.Name, Type: cd.Type, MinSeverity: cd.MinSeverity, AlertTypes: cd.AlertTypes, Enabled: cd.IsEnabled()}
	s := alert.Settings{URL: cd.APIURL, Region: strings.ToLower(cd.Region), SMTPHost: cd.SMTPHost, SMTPPort: cd.SMTPPort,
		Username: cd.Username, From: cd.From, To: cd.To, TLS: strings.ToLower(cd.TLS)}
	var sec alert.Secret
	for _, ref := range cd.Secrets() {
		if !ref.Configured {
			continue
		}
		v, warning, err := ref.ReadSecret(e.getenv)
		if warning != "" {
			fmt.Fprintf(e.stderr, "warning: destination %s: %s\n", safetext.Terminal(cd.Name), warning)
		}
		if err != nil {
			return d, s, sec, err
		}
		setSecret(&sec, ref.Key, v)
	}
	if err := alert.Validate(d, s, sec); err != nil {
		return d, s, sec, err
	}
	return d, s, sec, nil
}

// applyDestination creates or rewrites the destination named d.Name, as
// the configuration declares it (sources as code, for destinations).
func (a *app) applyDestination(ctx context.Context, d store.Destination, s alert.Settings, sec alert.Secret) (created bool, err error) {
	cur, err := a.store.DestinationByName(ctx, d.Name)
	if errors.Is(err, store.ErrNotFound) {
		d.ID = store.NewID()
		if err := sealDestination(a.secrets, &d, s, sec); err != nil {
			return false, err
		}
		err := a.store.CreateDestination(ctx, &d)
		if !errors.Is(err, store.ErrExists) {
			return err == nil, err
		}
		// Another replica, started with the same configuration, created
		// it meanwhile: rewrite it as any other.
		cur, err = a.store.DestinationByName(ctx, d.Name)
	}
	switch {
	case err != nil:
		return false, err
	case cur.Type != d.Type:
		return false, fmt.Errorf("it is a %s destination in the database, not %s: remove it first (`opwatch destinations remove %s`)", cur.Type, d.Type, quoted(d.Name))
	}
	d.ID, d.CreatedAt = cur.ID, cur.CreatedAt
	if err := sealDestination(a.secrets, &d, s, sec); err != nil {
		return false, err
	}
	return false, a.store.UpdateDestination(ctx, d)
}
