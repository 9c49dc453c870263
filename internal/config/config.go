// Package config reads opwatch's configuration file, applies defaults and
// validates it. Sources declared here ("sources as code") are created or
// updated in the store when `opwatch serve --config` starts.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/opwatch/opwatch/internal/onepassword"
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
	Ingest  Ingest   `yaml:"ingest"`
	Sources []Source `yaml:"sources"`
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
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration accepts Go durations plus a day suffix ("30d").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || fmt.Sprint(n) != days || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: use a whole number of days like 30d, or 90s, 1m, 24h", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
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
		return Config{}, err
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
}

// ApplyDefaults fills the interval, lookback and API version.
func (s *Source) ApplyDefaults() {
	if s.Interval == 0 {
		s.Interval = Duration(DefaultInterval)
	}
	if s.Lookback == 0 {
		s.Lookback = Duration(DefaultLookback)
	}
	if s.APIVersion == 0 {
		s.APIVersion = 2
	}
}

// Validate reports every problem of the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Ingest.ReconcileWindow < 0 || time.Duration(c.Ingest.ReconcileWindow) > MaxLookback {
		errs = append(errs, fmt.Errorf("ingest.reconcile_window must be between 0 and 120d"))
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("sources[%d]: duplicate name %q", i, s.Name))
		}
		seen[s.Name] = true
		if err := s.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("sources[%d] (%s): %w", i, s.Name, err))
		}
		if s.TokenFile == "" && s.TokenEnv == "" {
			errs = append(errs, fmt.Errorf("sources[%d] (%s): set token_file or token_env", i, s.Name))
		}
		if s.TokenFile != "" && s.TokenEnv != "" {
			errs = append(errs, fmt.Errorf("sources[%d] (%s): set only one of token_file and token_env", i, s.Name))
		}
	}
	return errors.Join(errs...)
}

// Validate checks one source's settings (not its token).
func (s *Source) Validate() error {
	var errs []error
	if strings.TrimSpace(s.Name) == "" {
		errs = append(errs, errors.New("name is required"))
	}
	if s.Region != "" {
		if _, err := onepassword.RegionHost(s.Region); err != nil {
			errs = append(errs, err)
		}
		if s.BaseURL != "" {
			errs = append(errs, errors.New("set region or base_url, not both"))
		}
	}
	if s.BaseURL != "" {
		u, err := url.Parse(s.BaseURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("base_url %q must be an http(s) URL such as https://events.1password.com", s.BaseURL))
		}
	}
	if s.APIVersion != 1 && s.APIVersion != 2 {
		errs = append(errs, fmt.Errorf("api_version %d: use 1 or 2", s.APIVersion))
	}
	if iv := time.Duration(s.Interval); iv < MinInterval || iv > MaxInterval {
		errs = append(errs, fmt.Errorf("interval %s must be between 10s and 1h", iv))
	}
	if lb := time.Duration(s.Lookback); lb <= 0 || lb > MaxLookback {
		errs = append(errs, fmt.Errorf("lookback %s must be more than 0 and at most 120d (the Events API keeps 120 days)", lb))
	}
	return errors.Join(errs...)
}

// ReadToken reads the source's token from its file or environment variable,
// trimmed. The error never contains the token.
func (s *Source) ReadToken(getenv func(string) string) (string, error) {
	var tok string
	switch {
	case s.TokenFile != "":
		b, err := os.ReadFile(s.TokenFile)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		tok = string(b)
	case s.TokenEnv != "":
		tok = getenv(s.TokenEnv)
		if tok == "" {
			return "", fmt.Errorf("environment variable %s is empty or unset: export the Events Reporting token in it", s.TokenEnv)
		}
	default:
		return "", errors.New("no token: give --token-file or --token-env")
	}
	tok = strings.TrimSpace(tok)
	if tok == "" {
		return "", fmt.Errorf("token file %s is empty", s.TokenFile)
	}
	return tok, nil
}
