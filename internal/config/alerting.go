package config

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/opwatch/opwatch/internal/secret"
)

// Bounds of a source's no-events alarm, as Panther has them.
const (
	MinNoEventsAlarm     = 15 * time.Minute
	MaxNoEventsAlarm     = 30 * 24 * time.Hour
	DefaultNoEventsAlarm = 24 * time.Hour
)

// Alarm is the timeframe of a source's no-events alarm: a duration, or
// AlarmOff. The zero value is "not given", which ApplyDefaults makes 24 h.
type Alarm time.Duration

// AlarmOff switches the alarm off ("off" in a file or a flag).
const AlarmOff = Alarm(-1)

// ParseAlarm reads "off" or a duration (15m to 30d).
func ParseAlarm(s string) (Alarm, error) {
	if strings.EqualFold(strings.TrimSpace(s), "off") {
		return AlarmOff, nil
	}
	d, err := ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%w, or off", err)
	}
	if d < MinNoEventsAlarm || d > MaxNoEventsAlarm {
		return 0, rangeError(d)
	}
	return Alarm(d), nil
}

// check refuses a timeframe outside 15m..30d (off and unset pass).
func (a Alarm) check() error {
	if a == AlarmOff || a == 0 {
		return nil
	}
	if d := time.Duration(a); d < MinNoEventsAlarm || d > MaxNoEventsAlarm {
		return rangeError(d)
	}
	return nil
}

func rangeError(d time.Duration) error {
	return fmt.Errorf("%s is outside 15m to 30d: give a timeframe in that range (such as 24h), or off", Duration(d))
}

// Duration is the alarm's timeframe; 0 when off (the store's "off").
func (a Alarm) Duration() time.Duration {
	if a == AlarmOff {
		return 0
	}
	return time.Duration(a)
}

// AlarmOf is the setting of a stored timeframe (0: off).
func AlarmOf(d time.Duration) Alarm {
	if d <= 0 {
		return AlarmOff
	}
	return Alarm(d)
}

func (a Alarm) String() string {
	switch a {
	case AlarmOff:
		return "off"
	case 0:
		return ""
	}
	return Duration(a).String()
}

// UnmarshalYAML reads "off" or a duration.
func (a *Alarm) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := ParseAlarm(s)
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// Alerts configures delivery and retention of alerts; the serve flags of
// the same names win over the file.
type Alerts struct {
	// PublicURL is where people reach the console: notifications link to
	// PublicURL/alerts/ID. Empty: no link.
	PublicURL string `yaml:"public_url"`
	// Retention is how long a resolved alert is kept (with its matches,
	// history and notifications) after its last change; 0 keeps them.
	Retention Duration `yaml:"retention"`
	// DeliveryLease is how long a notification being sent is held by the
	// serve sending it: one whose sender died (kill -9, power loss) is sent
	// again after this. Default 2m.
	DeliveryLease Duration `yaml:"delivery_lease"`
}

// Defaults of the alerts section.
const (
	DefaultAlertRetention = 730 * 24 * time.Hour
	DefaultDeliveryLease  = 2 * time.Minute
	MinDeliveryLease      = 5 * time.Second
	MaxDeliveryLease      = time.Hour
)

func (a *Alerts) applyDefaults() {
	if a.Retention == 0 {
		a.Retention = Duration(DefaultAlertRetention)
	}
	if a.DeliveryLease == 0 {
		a.DeliveryLease = Duration(DefaultDeliveryLease)
	}
}

// Validate reports every problem of the alerts section.
func (a *Alerts) Validate() error {
	var errs []error
	if err := CheckPublicURL(a.PublicURL); err != nil {
		errs = append(errs, fmt.Errorf("alerts.public_url: %w", err))
	}
	if a.Retention < 0 {
		errs = append(errs, fmt.Errorf("alerts.retention %s is negative: give how long to keep resolved alerts, such as 730d", a.Retention))
	}
	if l := time.Duration(a.DeliveryLease); l < MinDeliveryLease || l > MaxDeliveryLease {
		errs = append(errs, fmt.Errorf("alerts.delivery_lease %s must be between 5s and 1h", a.DeliveryLease))
	}
	return errors.Join(errs...)
}

// CheckPublicURL refuses a public URL that is not an absolute http(s) URL
// without a query or fragment ("" passes: no link).
func CheckPublicURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(raw, " \t\r\n") {
		return fmt.Errorf("%q is not the console's address: give one such as https://opwatch.example.com", raw)
	}
	return nil
}

// Destination types, as the store names them.
var DestinationTypes = []string{"webhook", "slack", "teams", "pagerduty", "opsgenie", "email"}

// AlertTypeNames are the alert types a destination can take.
var AlertTypeNames = []string{"rule", "rule_error", "system_error"}

// SeverityNames are the alert severities, lowest first, as alerts carry them.
var SeverityNames = []string{"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// Destination is a destination declared in the configuration file. Its
// secrets are never written in the file: each is read from a file
// (*_file) or an environment variable (*_env) when serve starts, as a
// source's token is, so the file can be kept in version control.
type Destination struct {
	Name        string   `yaml:"name"`
	Type        string   `yaml:"type"`
	MinSeverity string   `yaml:"min_severity"` // default INFO: every severity
	AlertTypes  []string `yaml:"alert_types"`  // default: all
	Enabled     *bool    `yaml:"enabled"`      // default true

	// Secrets.
	URLFile           string `yaml:"url_file"` // webhook, slack, teams
	URLEnv            string `yaml:"url_env"`
	SigningSecretFile string `yaml:"signing_secret_file"` // webhook
	SigningSecretEnv  string `yaml:"signing_secret_env"`
	RoutingKeyFile    string `yaml:"routing_key_file"` // pagerduty
	RoutingKeyEnv     string `yaml:"routing_key_env"`
	APIKeyFile        string `yaml:"api_key_file"` // opsgenie
	APIKeyEnv         string `yaml:"api_key_env"`
	PasswordFile      string `yaml:"password_file"` // email
	PasswordEnv       string `yaml:"password_env"`

	// Settings that are not secret.
	APIURL   string   `yaml:"api_url"` // pagerduty, opsgenie: another endpoint (a proxy)
	Region   string   `yaml:"region"`  // opsgenie: us or eu
	SMTPHost string   `yaml:"smtp_host"`
	SMTPPort int      `yaml:"smtp_port"`
	Username string   `yaml:"username"`
	From     string   `yaml:"from"`
	To       []string `yaml:"to"`
	TLS      string   `yaml:"tls"` // starttls (default), tls, none
}

// SecretRef is where one secret of a destination is read from.
type SecretRef struct {
	Key        string // the secret's name: url, signing_secret, ...
	File, Env  string
	Required   bool
	Configured bool // File or Env given
}

// Secrets lists the destination's secret references that its type takes.
func (d *Destination) Secrets() []SecretRef {
	ref := func(key, file, env string, required bool) SecretRef {
		return SecretRef{Key: key, File: file, Env: env, Required: required, Configured: file != "" || env != ""}
	}
	switch strings.ToLower(d.Type) {
	case "webhook":
		return []SecretRef{ref("url", d.URLFile, d.URLEnv, true), ref("signing_secret", d.SigningSecretFile, d.SigningSecretEnv, false)}
	case "slack", "teams":
		return []SecretRef{ref("url", d.URLFile, d.URLEnv, true)}
	case "pagerduty":
		return []SecretRef{ref("routing_key", d.RoutingKeyFile, d.RoutingKeyEnv, true)}
	case "opsgenie":
		return []SecretRef{ref("api_key", d.APIKeyFile, d.APIKeyEnv, true)}
	case "email":
		return []SecretRef{ref("password", d.PasswordFile, d.PasswordEnv, false)}
	}
	return nil
}

// allSecrets are every secret reference, whatever the type (to refuse
// one the type does not take).
func (d *Destination) allSecrets() []SecretRef {
	return []SecretRef{
		{Key: "url", File: d.URLFile, Env: d.URLEnv}, {Key: "signing_secret", File: d.SigningSecretFile, Env: d.SigningSecretEnv},
		{Key: "routing_key", File: d.RoutingKeyFile, Env: d.RoutingKeyEnv}, {Key: "api_key", File: d.APIKeyFile, Env: d.APIKeyEnv},
		{Key: "password", File: d.PasswordFile, Env: d.PasswordEnv},
	}
}

// IsEnabled is Enabled, true when not given.
func (d *Destination) IsEnabled() bool { return d.Enabled == nil || *d.Enabled }

func (d *Destination) applyDefaults() {
	d.Type = strings.ToLower(strings.TrimSpace(d.Type))
	d.MinSeverity = strings.ToUpper(strings.TrimSpace(d.MinSeverity))
	if d.MinSeverity == "" {
		d.MinSeverity = "INFO"
	}
}

// Validate checks the destination's shape, naming settings by their YAML
// keys; whether a URL or an address is usable is checked by the
// destination's type when serve applies it.
func (d *Destination) Validate() error {
	var errs []error
	if err := checkName(d.Name); err != nil {
		errs = append(errs, fmt.Errorf("name %w", err))
	}
	if !slices.Contains(DestinationTypes, d.Type) {
		errs = append(errs, fmt.Errorf("type %s: want one of %s", showName(d.Type), strings.Join(DestinationTypes, ", ")))
	}
	if !slices.Contains(SeverityNames, d.MinSeverity) {
		errs = append(errs, fmt.Errorf("min_severity %s: want one of %s", showName(d.MinSeverity), strings.Join(SeverityNames, ", ")))
	}
	for i, t := range d.AlertTypes {
		if !slices.Contains(AlertTypeNames, t) {
			errs = append(errs, fmt.Errorf("alert_types[%d] %s: want %s", i, showName(t), strings.Join(AlertTypeNames, ", ")))
		}
	}
	takes := map[string]bool{}
	for _, s := range d.Secrets() {
		takes[s.Key] = true
		switch {
		case s.File != "" && s.Env != "":
			errs = append(errs, fmt.Errorf("set only one of %s_file and %s_env", s.Key, s.Key))
		case s.Required && !s.Configured:
			errs = append(errs, fmt.Errorf("set %s_file or %s_env: secrets are read from a file or an environment variable, never written in the configuration", s.Key, s.Key))
		}
	}
	if slices.Contains(DestinationTypes, d.Type) {
		for _, s := range d.allSecrets() {
			if !takes[s.Key] && (s.File != "" || s.Env != "") {
				errs = append(errs, fmt.Errorf("%s_file/%s_env: a %s destination takes no %s", s.Key, s.Key, d.Type, s.Key))
			}
		}
	}
	return errors.Join(errs...)
}

// ReadSecret reads one secret from its file or environment variable,
// trimmed. warning is non-empty when others can read the file. Neither
// the warning nor the error holds the secret.
func (r SecretRef) ReadSecret(getenv func(string) string) (value, warning string, err error) {
	switch {
	case r.File != "":
		v, err := ReadSecretFile(r.File)
		if err != nil {
			return "", "", fmt.Errorf("%s_file: %w", r.Key, err)
		}
		return v, strings.Replace(secret.WarnReadable(r.File), "token file", "secret file", 1), nil
	case r.Env != "":
		v := strings.TrimSpace(getenv(r.Env))
		if v == "" {
			return "", "", fmt.Errorf("%s_env: environment variable %s is empty or unset", r.Key, r.Env)
		}
		return v, "", nil
	}
	return "", "", nil
}

// maxSecretFileBytes bounds a destination's secret file: URLs, keys and
// passwords are far shorter.
const maxSecretFileBytes = 16 << 10

// ReadSecretFile reads a destination's secret from path, trimmed, refusing
// an empty file or one larger than 16 KiB (a mistaken path such as
// /dev/zero must not fill the memory). The error never holds the content.
func ReadSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileBytes+1))
	if err != nil {
		return "", fmt.Errorf("read secret file %s: %w", path, err)
	}
	if len(b) > maxSecretFileBytes {
		return "", fmt.Errorf("%s is larger than %d KiB: give the file that holds only the secret", path, maxSecretFileBytes>>10)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return v, nil
}
