package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNoEventsAlarm(t *testing.T) {
	c, err := Parse(strings.NewReader(`
sources:
  - name: a
    token_env: X
  - name: b
    token_env: X
    no_events_alarm: "off"
  - name: c
    token_env: X
    no_events_alarm: 2d
  - name: d
    token_env: X
    no_events_alarm: 15m
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Alarm{Alarm(24 * time.Hour), AlarmOff, Alarm(48 * time.Hour), Alarm(15 * time.Minute)}
	for i, w := range want {
		if got := c.Sources[i].NoEventsAlarm; got != w {
			t.Errorf("sources[%d]: %s, want %s", i, got, w)
		}
	}
	if c.Sources[1].NoEventsAlarm.Duration() != 0 || c.Sources[1].NoEventsAlarm.String() != "off" {
		t.Errorf("off is stored as %s", c.Sources[1].NoEventsAlarm.Duration())
	}
	for _, tc := range []struct{ in, want string }{
		{"14m", "outside 15m to 30d"},
		{"31d", "outside 15m to 30d"},
		{"0s", "outside 15m to 30d"},
		{"-1h", "outside 15m to 30d"},
		{"soon", "or off"},
	} {
		_, err := ParseAlarm(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseAlarm(%q): %v, want %q", tc.in, err, tc.want)
		}
		_, err = Parse(strings.NewReader("sources:\n  - name: a\n    token_env: X\n    no_events_alarm: " + tc.in + "\n"))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("no_events_alarm %s in a file: %v, want %q", tc.in, err, tc.want)
		}
	}
	for _, ok := range []string{"OFF", "30d", "720h", " 1h "} {
		if _, err := ParseAlarm(ok); err != nil {
			t.Errorf("ParseAlarm(%q): %v", ok, err)
		}
	}
	// A flag names the setting as a flag.
	s := Source{Name: "a", Interval: Duration(time.Minute), Lookback: Duration(time.Hour), APIVersion: 2, NoEventsAlarm: Alarm(time.Minute)}
	if err := s.ValidateAs(FlagName); err == nil || !strings.Contains(err.Error(), "--no-events-alarm 1m0s is outside") {
		t.Errorf("ValidateAs(FlagName): %v", err)
	}
}

func TestDestinations(t *testing.T) {
	c, err := Parse(strings.NewReader(`
destinations:
  - name: soc
    type: Slack
    url_env: SLACK_URL
    min_severity: medium
  - name: hook
    type: webhook
    url_file: /etc/opwatch/hook.url
    signing_secret_env: HOOK_SECRET
    alert_types: [system_error]
    enabled: false
  - name: mail
    type: email
    smtp_host: smtp.example.com
    from: opwatch@example.com
    to: [soc@example.com]
`))
	if err != nil {
		t.Fatal(err)
	}
	soc, hook, mail := c.Destinations[0], c.Destinations[1], c.Destinations[2]
	if soc.Type != "slack" || soc.MinSeverity != "MEDIUM" || !soc.IsEnabled() {
		t.Errorf("soc: %+v", soc)
	}
	if hook.IsEnabled() || len(hook.Secrets()) != 2 || !hook.Secrets()[1].Configured {
		t.Errorf("hook: %+v", hook)
	}
	if mail.MinSeverity != "INFO" || mail.Secrets()[0].Configured {
		t.Errorf("mail: %+v", mail)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"destinations:\n  - name: a\n    type: slack\n", "set url_file or url_env"},
		{"destinations:\n  - name: a\n    type: slack\n    url: https://hooks.slack.com/x\n", "unknown key url"},
		{"destinations:\n  - name: a\n    type: slack\n    url_env: A\n    url_file: b\n", "only one of url_file and url_env"},
		{"destinations:\n  - name: a\n    type: sms\n", "type sms: want one of"},
		{"destinations:\n  - name: a\n    type: slack\n    url_env: A\n    min_severity: urgent\n", "min_severity URGENT"},
		{"destinations:\n  - name: a\n    type: slack\n    url_env: A\n    alert_types: [rules]\n", "alert_types[0] rules"},
		{"destinations:\n  - name: a\n    type: slack\n    url_env: A\n    routing_key_env: B\n", "a slack destination takes no routing_key"},
		{"destinations:\n  - name: a\n    type: pagerduty\n", "set routing_key_file or routing_key_env"},
		{"destinations:\n  - name: a\n    type: slack\n    url_env: A\n  - name: a\n    type: slack\n    url_env: A\n", "duplicate name"},
		{"destinations:\n  - type: slack\n    url_env: A\n", "name is required"},
	} {
		_, err := Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	const s3cret = "https://hooks.slack.com/services/T0/B0/s3cret"
	f := filepath.Join(dir, "url")
	if err := os.WriteFile(f, []byte(s3cret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	v, warn, err := SecretRef{Key: "url", File: f}.ReadSecret(nil)
	if err != nil || v != s3cret || warn != "" {
		t.Errorf("file: %q %q %v", v, warn, err)
	}
	v, _, err = SecretRef{Key: "url", Env: "U"}.ReadSecret(func(string) string { return " " + s3cret + " " })
	if err != nil || v != s3cret {
		t.Errorf("env: %q %v", v, err)
	}
	_, _, err = SecretRef{Key: "url", Env: "U"}.ReadSecret(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "U is empty or unset") {
		t.Errorf("empty env: %v", err)
	}
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat(s3cret, 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err = SecretRef{Key: "url", File: big}.ReadSecret(nil)
	if err == nil || strings.Contains(err.Error(), "s3cret") || !strings.Contains(err.Error(), "larger than 16 KiB") {
		t.Errorf("big file: %v", err)
	}
}

func TestAlertsSection(t *testing.T) {
	c, err := Parse(strings.NewReader("alerts:\n  public_url: https://opwatch.example.com/\n  retention: 90d\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Alerts.PublicURL != "https://opwatch.example.com/" || c.Alerts.Retention != Duration(90*24*time.Hour) ||
		c.Alerts.DeliveryLease != Duration(DefaultDeliveryLease) {
		t.Errorf("alerts: %+v", c.Alerts)
	}
	if d := Default(); d.Alerts.Retention != Duration(DefaultAlertRetention) {
		t.Errorf("default retention %s", d.Alerts.Retention)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"alerts:\n  public_url: opwatch.example.com\n", "not the console's address"},
		{"alerts:\n  public_url: https://x.example.com/?a=b\n", "not the console's address"},
		{"alerts:\n  retention: -1d\n", "invalid duration"},
		{"alerts:\n  delivery_lease: 1s\n", "between 5s and 1h"},
		{"alerts:\n  lease: 1m\n", "unknown key lease"},
	} {
		if _, err := Parse(strings.NewReader(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}

// FuzzParseAlerting: whatever a file says, an accepted destination has a
// known type and severity, every secret it needs is referenced (never
// inline), and an accepted alarm is off or within 15m..30d.
func FuzzParseAlerting(f *testing.F) {
	f.Add("destinations:\n  - {name: a, type: slack, url_env: U, min_severity: low}\n")
	f.Add("destinations:\n  - {name: a, type: email, smtp_host: h, from: a@b, to: [c@d], password_file: /p}\n")
	f.Add("destinations:\n  - {name: a, type: pagerduty, routing_key_file: /k, alert_types: [system_error], enabled: false}\n")
	f.Add("sources:\n  - {name: a, token_env: X, no_events_alarm: 15m}\n")
	f.Add("sources:\n  - {name: a, token_env: X, no_events_alarm: \"off\"}\n")
	f.Add("alerts: {public_url: \"https://o.example.com/x\", retention: 30d, delivery_lease: 5s}\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, d := range c.Destinations {
			if !slices.Contains(DestinationTypes, d.Type) || !slices.Contains(SeverityNames, d.MinSeverity) {
				t.Fatalf("accepted type %q severity %q", d.Type, d.MinSeverity)
			}
			for _, s := range d.Secrets() {
				if s.Required && !s.Configured {
					t.Fatalf("accepted a %s destination without its %s", d.Type, s.Key)
				}
			}
		}
		for _, s := range c.Sources {
			if a := s.NoEventsAlarm; a != AlarmOff && (time.Duration(a) < MinNoEventsAlarm || time.Duration(a) > MaxNoEventsAlarm) {
				t.Fatalf("accepted no_events_alarm %s", a)
			}
		}
		if err := CheckPublicURL(c.Alerts.PublicURL); err != nil {
			t.Fatalf("accepted public_url %q", c.Alerts.PublicURL)
		}
	})
}
