package alert

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

// Default API endpoints.
const (
	PagerDutyURL  = "https://events.pagerduty.com/v2/enqueue"
	OpsgenieURL   = "https://api.opsgenie.com/v2/alerts"
	OpsgenieEUURL = "https://api.eu.opsgenie.com/v2/alerts"
)

// SMTP TLS modes (Settings.TLS).
const (
	SMTPStartTLS = "starttls"
	SMTPTLS      = "tls"
	SMTPNoTLS    = "none"
)

// destSeverities are the severities in rising order.
var destSeverities = []string{"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// maxRecipients bounds an e-mail destination's To: one message goes to
// all of them, and a long list is more likely a mistake than a team.
const maxRecipients = 50

// ParseSettings reads a destination's settings (store.Destination.Settings).
// Unknown fields are refused, so a misspelt setting is not silently ignored.
func ParseSettings(raw json.RawMessage) (Settings, error) {
	var s Settings
	if len(bytes.TrimSpace(raw)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Settings{}, fmt.Errorf("destination settings: %w", err)
	}
	if dec.More() {
		return Settings{}, errors.New("destination settings: more than one JSON value")
	}
	return s, nil
}

// ParseSecret reads a destination's opened secret. Its error never quotes
// the secret.
func ParseSecret(b []byte) (Secret, error) {
	var s Secret
	if len(bytes.TrimSpace(b)) == 0 {
		return s, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil || dec.More() {
		return Secret{}, errors.New("destination secret is not the JSON object opwatch writes: set the destination's secret again")
	}
	return s, nil
}

// Validate checks a destination with its settings and secret, and says
// what to give when something is missing or wrong. Its errors never quote a
// secret.
func Validate(d store.Destination, s Settings, sec Secret) error {
	if err := validateCommon(d); err != nil {
		return err
	}
	switch d.Type {
	case store.DestWebhook:
		if err := checkEndpoint("webhook URL", sec.URL, nil); err != nil {
			return err
		}
		if sec.SigningSecret != "" && len(sec.SigningSecret) < 16 {
			return errors.New("the webhook signing secret is shorter than 16 characters: give a longer random secret (e.g. `openssl rand -hex 32`), or none")
		}
	case store.DestSlack:
		if err := checkEndpoint("Slack webhook URL", sec.URL, slackHost); err != nil {
			return err
		}
	case store.DestTeams:
		if err := checkEndpoint("Teams workflow URL", sec.URL, nil); err != nil {
			return err
		}
	case store.DestPagerDuty:
		if err := checkOverride(s.URL); err != nil {
			return err
		}
		if !isRoutingKey(sec.RoutingKey) {
			return errors.New("a PagerDuty destination needs the 32-character integration (routing) key of an Events API v2 integration: Service → Integrations → Events API v2")
		}
	case store.DestOpsgenie:
		if err := checkOverride(s.URL); err != nil {
			return err
		}
		switch s.Region {
		case "", "us", "eu":
		default:
			return fmt.Errorf("opsgenie region %q: want us or eu", safetext.Terminal(s.Region))
		}
		if sec.APIKey == "" || len(sec.APIKey) > 128 || strings.ContainsFunc(sec.APIKey, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
			return errors.New("an Opsgenie destination needs the API key of an API integration (Settings → Integrations → API), a single word")
		}
	case store.DestEmail:
		return validateEmail(s, sec)
	default:
		return fmt.Errorf("destination type %q: want one of webhook, slack, teams, pagerduty, opsgenie, email", safetext.Terminal(d.Type))
	}
	return nil
}

func validateCommon(d store.Destination) error {
	switch {
	case strings.TrimSpace(d.Name) == "":
		return errors.New("a destination needs a name")
	case utf8.RuneCountInString(d.Name) > 100 || safetext.Terminal(d.Name) != d.Name:
		return errors.New("destination name: at most 100 characters, no control characters")
	}
	if d.MinSeverity != "" && severityIndex(d.MinSeverity) < 0 {
		return fmt.Errorf("minimum severity %q: want one of %s", safetext.Terminal(d.MinSeverity), strings.Join(destSeverities, ", "))
	}
	for _, t := range d.AlertTypes {
		switch t {
		case store.AlertRule, store.AlertRuleError, store.AlertSystemError:
		default:
			return fmt.Errorf("alert type %q: want %s, %s or %s", safetext.Terminal(t), store.AlertRule, store.AlertRuleError, store.AlertSystemError)
		}
	}
	return nil
}

// severityIndex is s's rank in destSeverities, -1 when s is none of them.
func severityIndex(s string) int {
	for i, v := range destSeverities {
		if v == s {
			return i
		}
	}
	return -1
}

func validateEmail(s Settings, sec Secret) error {
	h := s.SMTPHost
	switch {
	case h == "":
		return errors.New("an e-mail destination needs smtp_host, the name of the SMTP server (e.g. smtp.example.com)")
	case strings.Contains(h, "://"):
		return fmt.Errorf("smtp_host %q: give the host name alone, without a scheme", safetext.Terminal(h))
	case strings.ContainsAny(h, " /@\r\n\t") || len(h) > 253:
		return fmt.Errorf("smtp_host %q is not a host name", safetext.Terminal(h))
	}
	if _, err := netip.ParseAddr(h); err != nil && strings.Contains(h, ":") {
		return fmt.Errorf("smtp_host %q: give the port as smtp_port, not in the host", safetext.Terminal(h))
	}
	if s.SMTPPort < 0 || s.SMTPPort > 65535 {
		return fmt.Errorf("smtp_port %d: want 1 to 65535 (587 for STARTTLS, 465 for TLS)", s.SMTPPort)
	}
	switch s.TLS {
	case "", SMTPStartTLS, SMTPTLS:
	case SMTPNoTLS:
		if !isLoopbackHost(h) {
			return fmt.Errorf("tls none sends the message and password in clear: it is allowed only for a server on this machine (localhost), not %s; use starttls or tls", safetext.Terminal(h))
		}
	default:
		return fmt.Errorf("tls %q: want starttls (the default), tls (implicit TLS, port 465) or none (localhost only)", safetext.Terminal(s.TLS))
	}
	if (s.Username == "") != (sec.Password == "") {
		return errors.New("give both an SMTP username and a password, or neither")
	}
	if strings.ContainsAny(s.Username, "\r\n\x00") {
		return errors.New("the SMTP username holds a control character")
	}
	if s.From == "" {
		return errors.New("an e-mail destination needs from, the sender address (e.g. opwatch@example.com)")
	}
	if _, err := parseMailAddress(s.From); err != nil {
		return fmt.Errorf("from: %w", err)
	}
	if len(s.To) == 0 {
		return errors.New("an e-mail destination needs to, one or more recipient addresses")
	}
	if len(s.To) > maxRecipients {
		return fmt.Errorf("to has %d addresses: at most %d (use a list address for more)", len(s.To), maxRecipients)
	}
	for _, a := range s.To {
		if _, err := parseMailAddress(a); err != nil {
			return fmt.Errorf("to: %w", err)
		}
	}
	return nil
}

// parseMailAddress reads one address ("a@example.com" or
// "Name <a@example.com>").
func parseMailAddress(s string) (*mail.Address, error) {
	if strings.ContainsAny(s, "\r\n\x00") {
		return nil, fmt.Errorf("address %q holds a line break", safetext.Terminal(s))
	}
	a, err := mail.ParseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("address %q is not an e-mail address: %w", safetext.Terminal(s), err)
	}
	return a, nil
}

// slackHost accepts the hosts of Slack incoming webhooks (GovSlack too)
// and the path they all have.
func slackHost(u *url.URL) error {
	h := strings.ToLower(u.Hostname())
	if (h == "hooks.slack.com" || h == "hooks.slack-gov.com") && strings.HasPrefix(u.Path, "/services/") {
		return nil
	}
	return errors.New("the Slack webhook URL must be an incoming webhook URL, https://hooks.slack.com/services/…, as Slack shows it when you add the Incoming Webhooks app to a channel")
}

// checkEndpoint checks a URL from a destination's secret. It must be https,
// or http to this machine (a test receiver); check, when not nil, adds the
// type's own rule. Errors never quote the URL: its path is the key.
func checkEndpoint(what, raw string, check func(*url.URL) error) error {
	if raw == "" {
		return fmt.Errorf("give the %s", what)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("the %s is not an absolute URL (https://host/path)", what)
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopbackHost(u.Hostname()) {
			return fmt.Errorf("the %s must be https; http is allowed only to this machine (localhost), not %s", what, safetext.Terminal(u.Hostname()))
		}
		return nil // a local test receiver: no type rules
	default:
		return fmt.Errorf("the %s must be https, not %s", what, safetext.Terminal(u.Scheme))
	}
	if u.Fragment != "" {
		return fmt.Errorf("the %s has a #fragment, which is never sent: remove it", what)
	}
	if check != nil {
		return check(u)
	}
	return nil
}

// checkOverride checks Settings.URL, the API endpoint of PagerDuty or
// Opsgenie for a proxy or a test.
func checkOverride(raw string) error {
	if raw == "" {
		return nil
	}
	return checkEndpoint("url setting", raw, nil)
}

func isRoutingKey(k string) bool {
	if len(k) != 32 {
		return false
	}
	for i := range len(k) {
		c := k[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// isLoopbackHost says whether host (a name or an IP, without port) is this
// machine.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.IsLoopback()
}

// smtpAddr is the server's host:port, with the port defaulted by TLS mode.
func smtpAddr(s Settings) string {
	port := s.SMTPPort
	if port == 0 {
		port = 587
		if s.TLS == SMTPTLS {
			port = 465
		}
	}
	return net.JoinHostPort(s.SMTPHost, strconv.Itoa(port))
}

// endpointURL is where an HTTP type's notifications go: the secret's URL,
// or PagerDuty's or Opsgenie's API (Settings.URL overriding it).
func endpointURL(t Target) string {
	switch t.Destination.Type {
	case store.DestPagerDuty:
		if t.Settings.URL != "" {
			return t.Settings.URL
		}
		return PagerDutyURL
	case store.DestOpsgenie:
		if t.Settings.URL != "" {
			return t.Settings.URL
		}
		if t.Settings.Region == "eu" {
			return OpsgenieEUURL
		}
		return OpsgenieURL
	}
	return t.Secret.URL
}

// Redacted describes where a destination sends, safe to print: the
// scheme and host of its URL (never the path or query, which hold keys),
// or the SMTP server and addresses. No secret appears in it.
func Redacted(t Target) string {
	if t.Destination.Type == store.DestEmail {
		s := t.Settings
		mode := s.TLS
		if mode == "" {
			mode = SMTPStartTLS
		}
		desc := fmt.Sprintf("smtp %s (%s), from %s to %s", smtpAddr(s), mode, s.From, strings.Join(s.To, ", "))
		if s.Username != "" {
			desc += ", as " + s.Username
		}
		return safetext.Terminal(desc)
	}
	return redactURL(endpointURL(t))
}

// redactURL is raw's scheme and host followed by "/…", or "(no URL)".
func redactURL(raw string) string {
	if raw == "" {
		return "(no URL)"
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "(not a valid URL)"
	}
	return safetext.Terminal(u.Scheme + "://" + u.Host + "/…")
}
