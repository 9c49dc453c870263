// Package config reads opwatch's configuration file, applies defaults and
// validates it. Sources declared here ("sources as code") are created or
// updated in the store when `opwatch serve --config` starts.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/secret"
)

// Limits of the poll interval and the first-poll lookback.
const (
	MinInterval     = 10 * time.Second
	MaxInterval     = time.Hour
	DefaultInterval = time.Minute
	DefaultLookback = 24 * time.Hour
	MaxLookback     = 120 * 24 * time.Hour // the Events API keeps 120 days
)

// Config is the whole configuration file.
type Config struct {
	Ingest     Ingest     `yaml:"ingest"`
	Sources    []Source   `yaml:"sources"`
	Detections Detections `yaml:"detections"`
	// Destinations are created or updated when serve starts, by name;
	// destinations added with the command line and not named here stay.
	Destinations []Destination `yaml:"destinations"`
	Alerts       Alerts        `yaml:"alerts"`
	Retention    Retention     `yaml:"retention"`
	// Lake tunes how events are stored (compaction).
	Lake Lake `yaml:"lake"`
	// Export writes the lake as Parquet files on a schedule (docs/lake.md);
	// nil: off.
	Export *Export `yaml:"export"`
}

// Export is the scheduled Parquet export: every Every, the days of the last
// Lookback are written to Out, whole.
type Export struct {
	Out      string   `yaml:"out"`
	Every    Duration `yaml:"every"`
	Lookback Duration `yaml:"lookback"`
	LogTypes []string `yaml:"log_types"`
	Mapping  string   `yaml:"mapping"` // panther (default), ecs or ocsf
	// For an s3:// out (docs/lake.md): empty takes OPWATCH_S3_ENDPOINT and
	// AWS_REGION from the environment, as the credentials always are.
	S3Endpoint string `yaml:"s3_endpoint"`
	S3Region   string `yaml:"s3_region"`
}

// Ingest tunes the poller.
type Ingest struct {
	// ReconcileEvery is how often each stream re-reads a recent window with a
	// reset cursor, as a safety net for events the cursor could have missed.
	ReconcileEvery Duration `yaml:"reconcile_every"`
	// ReconcileWindow is how far back that re-read goes.
	ReconcileWindow Duration `yaml:"reconcile_window"`
}

// Source is one 1Password account to collect from.
type Source struct {
	Name               string   `yaml:"name"`
	TokenFile          string   `yaml:"token_file"`
	TokenEnv           string   `yaml:"token_env"`
	Region             string   `yaml:"region"`
	BaseURL            string   `yaml:"base_url"`
	APIVersion         int      `yaml:"api_version"`
	InsecureSkipVerify bool     `yaml:"insecure_skip_verify"`
	Interval           Duration `yaml:"interval"`
	Lookback           Duration `yaml:"lookback"`
	// LogTypes are the log types to collect (OnePassword.SignInAttempt, …);
	// empty means all three. A token may be scoped to fewer features: the
	// others are then "not collected" rather than failing every poll.
	LogTypes []string `yaml:"log_types"`
	// AllowOtherHost lets base_url name a host other than the token's (a
	// proxy, an emulator): the token is sent there, so it takes consent.
	AllowOtherHost bool `yaml:"allow_other_host"`
	// AllowInsecure accepts plain http or insecure_skip_verify for a host
	// other than this machine, where either exposes the token on the way.
	AllowInsecure bool `yaml:"allow_insecure"`
	// NoEventsAlarm raises a CRITICAL system error when none of the
	// source's log types stored an event for this long: 15m to 30d, or
	// off; 24h when not given.
	NoEventsAlarm Alarm `yaml:"no_events_alarm"`
}

// Duration is a time.Duration written as "90s", "1m", "24h" or "30d".
type Duration time.Duration

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err // the decoder adds the line
	}
	*d = Duration(v)
	return nil
}

// String writes whole days as "30d", other durations as Go does ("1m30s").
func (d Duration) String() string {
	const day = 24 * time.Hour
	if v := time.Duration(d); v != 0 && v%day == 0 {
		return strconv.FormatInt(int64(v/day), 10) + "d"
	}
	return time.Duration(d).String()
}

// MaxDays is the largest day count a time.Duration holds (about 292 years).
const MaxDays = math.MaxInt64 / int64(24*time.Hour)

// goDuration matches the syntax time.ParseDuration accepts, so that a value
// it refuses despite the syntax is known to be out of range.
var goDuration = regexp.MustCompile(`^[-+]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+$`)

// ParseDuration accepts Go durations plus a day suffix ("30d"). A value too
// large for a time.Duration is refused, never wrapped around.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if errors.Is(err, strconv.ErrRange) || (err == nil && n > MaxDays) {
			return 0, fmt.Errorf("duration %q is too large: at most %dd", s, MaxDays)
		}
		if err != nil || n < 0 || strconv.FormatInt(n, 10) != days {
			return 0, fmt.Errorf("invalid duration %q: use a whole number of days like 30d, or 90s, 1m, 24h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if goDuration.MatchString(s) {
			return 0, fmt.Errorf("duration %q is too large: at most %dd", s, MaxDays)
		}
		return 0, fmt.Errorf("invalid duration %q: use a form like 90s, 1m, 24h or 30d", s)
	}
	return d, nil
}

// Load reads and validates a configuration file.
func Load(path string) (Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return Config{}, fmt.Errorf("open config: %w", err)
	}
	defer f.Close()
	c, err := Parse(f)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Parse reads a configuration from r, rejecting unknown keys, then applies
// defaults and validates.
func Parse(r io.Reader) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, err
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, yamlError(err)
	}
	c.applyDefaults()
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Default is the configuration without a file: no sources declared, and
// the ingest defaults.
func Default() Config {
	var c Config
	c.applyDefaults()
	return c
}

func (c *Config) applyDefaults() {
	if c.Ingest.ReconcileEvery == 0 {
		c.Ingest.ReconcileEvery = Duration(24 * time.Hour)
	}
	if c.Ingest.ReconcileWindow == 0 {
		c.Ingest.ReconcileWindow = Duration(48 * time.Hour)
	}
	for i := range c.Sources {
		c.Sources[i].ApplyDefaults()
	}
	c.Detections.applyDefaults()
	for i := range c.Destinations {
		c.Destinations[i].applyDefaults()
	}
	c.Alerts.applyDefaults()
	c.Retention.applyDefaults()
	c.Lake.applyDefaults()
}

// ApplyDefaults fills the interval, lookback and API version, and writes
// valid log types by their names (Validate reports invalid ones).
func (s *Source) ApplyDefaults() {
	if lts, err := NormalizeLogTypes(s.LogTypes); err == nil {
		s.LogTypes = lts
	}
	if s.Interval == 0 {
		s.Interval = Duration(DefaultInterval)
	}
	if s.Lookback == 0 {
		s.Lookback = Duration(DefaultLookback)
	}
	if s.APIVersion == 0 {
		s.APIVersion = 2
	}
	if s.NoEventsAlarm == 0 {
		s.NoEventsAlarm = Alarm(DefaultNoEventsAlarm)
	}
}

// Validate reports every problem of the configuration at once, naming
// settings by their YAML keys and each source by its place and name.
func (c *Config) Validate() error {
	var errs []error
	every, window := c.Ingest.ReconcileEvery, c.Ingest.ReconcileWindow
	if every < 0 {
		errs = append(errs, fmt.Errorf("ingest.reconcile_every %s is negative: give how often to re-read, such as 24h", every))
	}
	if window < 0 || time.Duration(window) > MaxLookback {
		errs = append(errs, fmt.Errorf("ingest.reconcile_window %s must be between 0 and 120d", window))
	} else if every > 0 && window < every {
		// Each pass re-reads [now-window, now]; passes are every apart, so
		// events that arrive later than window-every can fall between two
		// passes, and with a window shorter than every, some time is never
		// re-read at all.
		errs = append(errs, fmt.Errorf("ingest.reconcile_window %s is shorter than ingest.reconcile_every %s: the re-reads would not cover the time between them (events later than window − every can slip between passes); make the window at least as long, e.g. twice reconcile_every", window, every))
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("sources[%d]: duplicate name %q", i, s.Name))
		}
		seen[s.Name] = true
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("sources[%d] (%s): %w", i, showName(s.Name), err))
		}
		if s.TokenFile == "" && s.TokenEnv == "" {
			errs = append(errs, fmt.Errorf("sources[%d] (%s): set token_file or token_env", i, showName(s.Name)))
		}
		if s.TokenFile != "" && s.TokenEnv != "" {
			errs = append(errs, fmt.Errorf("sources[%d] (%s): set only one of token_file and token_env", i, showName(s.Name)))
		}
	}
	if err := c.Detections.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Alerts.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Retention.Validate(c.Ingest.ReconcileWindow); err != nil {
		errs = append(errs, err)
	}
	seenDest := map[string]bool{}
	for i, d := range c.Destinations {
		if d.Name != "" && seenDest[d.Name] {
			errs = append(errs, fmt.Errorf("destinations[%d]: duplicate name %s", i, showName(d.Name)))
		}
		seenDest[d.Name] = true
		if err := d.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("destinations[%d] (%s): %w", i, showName(d.Name), err))
		}
	}
	return errors.Join(errs...)
}

// A Namer says how a surface names a setting, given its YAML key: the
// configuration file says token_file, the command line --token-file.
type Namer func(key string) string

// YAMLName names a setting by its key in the configuration file.
func YAMLName(key string) string { return key }

// FlagName names a setting by its command-line flag: token_file becomes
// --token-file.
func FlagName(key string) string { return "--" + strings.ReplaceAll(key, "_", "-") }

// Validate checks one source's settings (not its token), naming settings by
// their YAML keys.
func (s *Source) Validate() error { return s.ValidateAs(YAMLName) }

// ValidateAs checks one source's settings (not its token), naming each
// setting as name says: ValidateAs(FlagName) for flags.
func (s *Source) ValidateAs(name Namer) error {
	var errs []error
	if err := checkName(s.Name); err != nil {
		errs = append(errs, fmt.Errorf("%s %w", name("name"), err))
	}
	if s.Region != "" {
		if _, err := onepassword.RegionHost(s.Region); err != nil {
			errs = append(errs, err)
		}
		if s.BaseURL != "" {
			errs = append(errs, fmt.Errorf("set %s or %s, not both", name("region"), name("base_url")))
		}
	}
	loopback := false
	if s.BaseURL != "" {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s %q must be an http(s) URL such as https://events.1password.com", name("base_url"), s.BaseURL))
		} else {
			loopback = isLoopback(u.Hostname())
			if u.Scheme == "http" && !loopback && !s.AllowInsecure {
				errs = append(errs, fmt.Errorf("%s %q is plain http to another machine: the token would cross the network unencrypted; use https, or accept that explicitly with %s",
					name("base_url"), s.BaseURL, name("allow_insecure")))
			}
		}
	}
	if s.InsecureSkipVerify && !loopback && !s.AllowInsecure {
		errs = append(errs, fmt.Errorf("%s lets anyone on the way to the server read the token: it is meant for an emulator on this machine (a loopback %s); for another host accept it explicitly with %s",
			name("insecure_skip_verify"), name("base_url"), name("allow_insecure")))
	}
	if s.APIVersion != 1 && s.APIVersion != 2 {
		errs = append(errs, fmt.Errorf("%s %d: use 1 or 2", name("api_version"), s.APIVersion))
	}
	if iv := time.Duration(s.Interval); iv < MinInterval || iv > MaxInterval {
		errs = append(errs, fmt.Errorf("%s %s must be between 10s and 1h", name("interval"), s.Interval))
	}
	if lb := time.Duration(s.Lookback); lb <= 0 || lb > MaxLookback {
		errs = append(errs, fmt.Errorf("%s %s must be more than 0 and at most 120d (the Events API keeps 120 days)", name("lookback"), s.Lookback))
	}
	if _, err := NormalizeLogTypes(s.LogTypes); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", name("log_types"), err))
	}
	if err := s.NoEventsAlarm.check(); err != nil {
		errs = append(errs, fmt.Errorf("%s %w", name("no_events_alarm"), err))
	}
	return errors.Join(errs...)
}

// maxNameLen is the longest source name, in characters.
const maxNameLen = 100

// checkName says what is wrong with a source name, worded to follow the
// setting's name. Names are printed in tables, logs and terminals: a
// control character in one could rewrite what an analyst sees.
func checkName(n string) error {
	switch {
	case strings.TrimSpace(n) == "":
		return errors.New("is required")
	case !utf8.ValidString(n):
		return fmt.Errorf("%q is not valid UTF-8", n)
	case utf8.RuneCountInString(n) > maxNameLen:
		return fmt.Errorf("is longer than %d characters", maxNameLen)
	case strings.TrimSpace(n) != n:
		return fmt.Errorf("%q starts or ends with a space: remove it", n)
	}
	for _, r := range n {
		// C0, DEL and C1.
		if unicode.IsControl(r) {
			return fmt.Errorf("%q contains the control character %U: use letters, digits, spaces and punctuation", n, r)
		}
	}
	return nil
}

// showName is a source name as messages print it: as written when it is
// plain, else quoted with its control characters and invalid bytes escaped,
// so that printing it cannot drive the terminal.
func showName(n string) string {
	if n != "" && utf8.ValidString(n) && strings.IndexFunc(n, func(r rune) bool { return !unicode.IsPrint(r) && r != ' ' }) < 0 {
		return n
	}
	return strconv.Quote(n)
}

// isLoopback reports whether host (without port) is this machine.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// LogTypeNames returns the names of the log types a source can collect, in
// their stable order.
func LogTypeNames() []string {
	var names []string
	for _, lt := range logtype.All() {
		names = append(names, lt.Name)
	}
	return names
}

// NormalizeLogTypes maps each entry to its log type name, accepting the
// name (OnePassword.ItemUsage), the name without its prefix (ItemUsage) or
// the Events API feature (itemusages), in any case. The result is
// deduplicated and in LogTypeNames order; empty stays empty (all three).
func NormalizeLogTypes(in []string) ([]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	all := logtype.All()
	want := make([]bool, len(all))
	var errs []error
	for _, v := range in {
		v = strings.TrimSpace(v)
		found := false
		for i, lt := range all {
			short := strings.TrimPrefix(lt.Name, "OnePassword.")
			if strings.EqualFold(v, lt.Name) || strings.EqualFold(v, short) || strings.EqualFold(v, lt.Feature) {
				want[i], found = true, true
				break
			}
		}
		if !found {
			var names, feats []string
			for _, lt := range all {
				names = append(names, lt.Name)
				feats = append(feats, lt.Feature)
			}
			errs = append(errs, fmt.Errorf("unknown log type %q: use %s (or %s)", v, strings.Join(names, ", "), strings.Join(feats, ", ")))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var out []string
	for i, lt := range all {
		if want[i] {
			out = append(out, lt.Name)
		}
	}
	return out, nil
}

// ParseLogTypes reads a comma-separated list (the --log-types flag) into
// log type names. An empty string means all three and returns nil.
func ParseLogTypes(list string) ([]string, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	parts := strings.Split(list, ",")
	for _, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, fmt.Errorf("log type list %q has an empty entry", list)
		}
	}
	return NormalizeLogTypes(parts)
}

// CollectedLogTypes returns the log types the source collects: its
// LogTypes, normalized, or all three when none are named. Call it on a
// validated source.
func (s *Source) CollectedLogTypes() []string {
	if lts, err := NormalizeLogTypes(s.LogTypes); err == nil && len(lts) > 0 {
		return lts
	}
	return LogTypeNames()
}

// ReadToken reads the source's token from its file or environment variable,
// trimmed. warning is non-empty when the token file can be read by other
// users (show it; the token is still used). Neither the warning nor the
// error ever contains the token.
func (s *Source) ReadToken(getenv func(string) string) (token, warning string, err error) {
	var tok string
	switch {
	case s.TokenFile != "":
		b, err := readTokenFile(s.TokenFile)
		if err != nil {
			return "", "", err
		}
		tok = string(b)
		warning = secret.WarnReadable(s.TokenFile)
	case s.TokenEnv != "":
		tok = getenv(s.TokenEnv)
		if strings.TrimSpace(tok) == "" {
			return "", "", fmt.Errorf("environment variable %s is empty or unset: export the Events Reporting token in it", s.TokenEnv)
		}
	default:
		return "", "", errors.New("no token: name a token file or an environment variable that holds it")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", "", fmt.Errorf("token file %s is empty", s.TokenFile)
	}
	return tok, warning, nil
}

// maxTokenFileBytes bounds what ReadToken reads from a token file. Real
// tokens are about 1–2 KB; without a bound, --token-file /dev/zero grew
// until the kernel killed the process.
const maxTokenFileBytes = 64 << 10

// readTokenFile reads at most maxTokenFileBytes of path, refusing a file
// longer than that.
func readTokenFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	defer f.Close()
	// One byte past the cap tells a file at the cap from a longer one.
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read token file: %w", err)
	}
	if len(b) > maxTokenFileBytes {
		return nil, fmt.Errorf("not a token: %s is larger than %d KiB (a token is about 2 KB): give the file that holds only the Events Reporting token", path, maxTokenFileBytes>>10)
	}
	return b, nil
}

// yamlError words the YAML decoder's messages for people: they name Go
// types ("field x not found in type config.Override", "cannot construct
// !!str `maybe` into bool").
func yamlError(err error) error {
	msg := err.Error()
	msg = yamlUnknownField.ReplaceAllString(msg, "unknown key $1 (check its spelling and indentation)")
	msg = yamlConstruct.ReplaceAllString(msg, "$1 is not a valid $2")
	msg = strings.ReplaceAll(msg, "yaml: construct errors:", "")
	msg = strings.ReplaceAll(msg, "yaml: unmarshal errors:", "")
	msg = strings.ReplaceAll(msg, "is not a valid bool", "is not true or false")
	return errors.New(strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(msg), "\n", " ;")), " "))
}

var (
	yamlUnknownField = regexp.MustCompile(`field (\S+) not found in type \S+`)
	yamlConstruct    = regexp.MustCompile("cannot (?:construct|unmarshal) !!\\w+ `([^`]*)` into (\\S+)")
)
