package alert

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

const (
	slackKeyURL = "https://hooks.slack.com/services/T0ABCDEFG/B0ABCDEFG/s3cr3tS1ackK3yXYZ123456"
	pdKey       = "0123456789abcdef0123456789ABCDEF"
)

func dest(typ string) store.Destination {
	return store.Destination{ID: "dst_1", Name: "soc", Type: typ, MinSeverity: "MEDIUM", Enabled: true}
}

func TestValidate(t *testing.T) {
	email := Settings{SMTPHost: "smtp.example.com", From: "opwatch@example.com", To: []string{"soc@example.com"}}
	cases := []struct {
		name    string
		d       store.Destination
		s       Settings
		sec     Secret
		wantErr string // "" valid; else a piece of the error
	}{
		{"slack", dest(store.DestSlack), Settings{}, Secret{URL: slackKeyURL}, ""},
		{"slack gov", dest(store.DestSlack), Settings{}, Secret{URL: "https://hooks.slack-gov.com/services/T/B/K"}, ""},
		{"slack local test receiver", dest(store.DestSlack), Settings{}, Secret{URL: "http://127.0.0.1:9999/x"}, ""},
		{"slack no url", dest(store.DestSlack), Settings{}, Secret{}, "give the Slack webhook URL"},
		{"slack other host", dest(store.DestSlack), Settings{}, Secret{URL: "https://example.com/services/T/B/K"}, "https://hooks.slack.com/services/"},
		{"slack workflow url", dest(store.DestSlack), Settings{}, Secret{URL: "https://hooks.slack.com/workflows/T/A/1/K"}, "incoming webhook URL"},
		{"slack http remote", dest(store.DestSlack), Settings{}, Secret{URL: "http://hooks.slack.com/services/T/B/K"}, "must be https"},
		{"slack not absolute", dest(store.DestSlack), Settings{}, Secret{URL: "hooks.slack.com/services/T/B/K"}, "not an absolute URL"},
		{"webhook", dest(store.DestWebhook), Settings{}, Secret{URL: "https://example.com/in?token=abc", SigningSecret: strings.Repeat("s", 32)}, ""},
		{"webhook no signing secret", dest(store.DestWebhook), Settings{}, Secret{URL: "https://example.com/in"}, ""},
		{"webhook short signing secret", dest(store.DestWebhook), Settings{}, Secret{URL: "https://example.com/in", SigningSecret: "q7Zk2"}, "shorter than 16"},
		{"webhook localhost http", dest(store.DestWebhook), Settings{}, Secret{URL: "http://localhost:8080/in"}, ""},
		{"webhook ipv6 loopback", dest(store.DestWebhook), Settings{}, Secret{URL: "http://[::1]:8080/in"}, ""},
		{"webhook ftp", dest(store.DestWebhook), Settings{}, Secret{URL: "ftp://example.com/in"}, "must be https, not ftp"},
		{"webhook fragment", dest(store.DestWebhook), Settings{}, Secret{URL: "https://example.com/in#x"}, "fragment"},
		{"teams", dest(store.DestTeams), Settings{}, Secret{URL: "https://prod-00.westus.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=x"}, ""},
		{"teams http", dest(store.DestTeams), Settings{}, Secret{URL: "http://prod-00.westus.logic.azure.com/workflows/abc"}, "must be https"},
		{"pagerduty", dest(store.DestPagerDuty), Settings{}, Secret{RoutingKey: pdKey}, ""},
		{"pagerduty short key", dest(store.DestPagerDuty), Settings{}, Secret{RoutingKey: "abc"}, "32-character"},
		{"pagerduty key with space", dest(store.DestPagerDuty), Settings{}, Secret{RoutingKey: pdKey[:31] + " "}, "32-character"},
		{"pagerduty bad url", dest(store.DestPagerDuty), Settings{URL: "http://events.example.com"}, Secret{RoutingKey: pdKey}, "must be https"},
		{"opsgenie", dest(store.DestOpsgenie), Settings{Region: "eu"}, Secret{APIKey: "eb243592-faa2-4ba2-a551q-1afdf565c889"}, ""},
		{"opsgenie no key", dest(store.DestOpsgenie), Settings{}, Secret{}, "API key"},
		{"opsgenie region", dest(store.DestOpsgenie), Settings{Region: "ap"}, Secret{APIKey: "k"}, "want us or eu"},
		{"email", dest(store.DestEmail), email, Secret{}, ""},
		{"email auth", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.Username = "u" }), Secret{Password: "p"}, ""},
		{"email user without password", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.Username = "u" }), Secret{}, "both an SMTP username and a password"},
		{"email no host", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.SMTPHost = "" }), Secret{}, "needs smtp_host"},
		{"email host with port", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.SMTPHost = "smtp.example.com:25" }), Secret{}, "smtp_port"},
		{"email host url", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.SMTPHost = "smtp://smtp.example.com" }), Secret{}, "without a scheme"},
		{"email no from", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.From = "" }), Secret{}, "needs from"},
		{"email no to", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.To = nil }), Secret{}, "needs to"},
		{"email bad to", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.To = []string{"soc"} }), Secret{}, "not an e-mail address"},
		{"email injected to", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.To = []string{"a@example.com\r\nBcc: b@example.com"} }), Secret{}, "line break"},
		{"email tls none remote", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.TLS = SMTPNoTLS }), Secret{}, "only for a server on this machine"},
		{"email tls none local", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.TLS, s.SMTPHost = SMTPNoTLS, "127.0.0.1" }), Secret{}, ""},
		{"email tls bad", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.TLS = "ssl" }), Secret{}, "want starttls"},
		{"email port", dest(store.DestEmail), withEmail(email, func(s *Settings) { s.SMTPPort = 70000 }), Secret{}, "smtp_port"},
		{"bad type", dest("sns"), Settings{}, Secret{}, "want one of webhook"},
		{"bad severity", withDest(dest(store.DestPagerDuty), func(d *store.Destination) { d.MinSeverity = "SEVERE" }), Settings{}, Secret{RoutingKey: pdKey}, "minimum severity"},
		{"empty severity", withDest(dest(store.DestPagerDuty), func(d *store.Destination) { d.MinSeverity = "" }), Settings{}, Secret{RoutingKey: pdKey}, ""},
		{"bad alert type", withDest(dest(store.DestPagerDuty), func(d *store.Destination) { d.AlertTypes = []string{"rule", "audit"} }), Settings{}, Secret{RoutingKey: pdKey}, "alert type"},
		{"no name", withDest(dest(store.DestPagerDuty), func(d *store.Destination) { d.Name = " " }), Settings{}, Secret{RoutingKey: pdKey}, "needs a name"},
		{"control in name", withDest(dest(store.DestPagerDuty), func(d *store.Destination) { d.Name = "a\x1b[2Jb" }), Settings{}, Secret{RoutingKey: pdKey}, "control"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := Validate(c.d, c.s, c.sec)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("no error, want one about %q", c.wantErr)
			case err != nil && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("error %q does not say %q", err, c.wantErr)
			}
			if err != nil {
				for _, s := range secretsOf(c.sec) {
					if strings.Contains(err.Error(), s) {
						t.Fatalf("error quotes a secret: %v", err)
					}
				}
			}
		})
	}
}

func withEmail(s Settings, f func(*Settings)) Settings {
	s.To = append([]string(nil), s.To...)
	f(&s)
	return s
}

func withDest(d store.Destination, f func(*store.Destination)) store.Destination {
	f(&d)
	return d
}

// secretsOf are the parts of sec that must never be printed.
func secretsOf(sec Secret) []string {
	var out []string
	for _, s := range []string{sec.SigningSecret, sec.RoutingKey, sec.APIKey, sec.Password} {
		if s != "" {
			out = append(out, s)
		}
	}
	if i := strings.Index(sec.URL, "/services/"); i >= 0 {
		out = append(out, sec.URL[i+len("/services/"):])
	}
	return out
}

func TestParseSettings(t *testing.T) {
	s, err := ParseSettings(json.RawMessage(`{"smtp_host":"smtp.example.com","to":["a@example.com"],"tls":"tls"}`))
	if err != nil || s.SMTPHost != "smtp.example.com" || s.TLS != "tls" || len(s.To) != 1 {
		t.Fatalf("got %+v, %v", s, err)
	}
	if s, err := ParseSettings(nil); err != nil || s.SMTPHost != "" {
		t.Fatalf("empty settings: %+v, %v", s, err)
	}
	if _, err := ParseSettings(json.RawMessage(`{"smtp_hots":"x"}`)); err == nil || !strings.Contains(err.Error(), "smtp_hots") {
		t.Fatalf("a misspelt setting: %v", err)
	}
	if _, err := ParseSecret([]byte(`{"url":"` + slackKeyURL + `","x":1}`)); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Fatalf("bad secret: %v", err)
	}
	if sec, err := ParseSecret([]byte(`{"routing_key":"` + pdKey + `"}`)); err != nil || sec.RoutingKey != pdKey {
		t.Fatalf("secret: %+v, %v", sec, err)
	}
}

func TestRedacted(t *testing.T) {
	cases := []struct {
		t    Target
		want string
	}{
		{Target{Destination: dest(store.DestSlack), Secret: Secret{URL: slackKeyURL}}, "https://hooks.slack.com/…"},
		{Target{Destination: dest(store.DestWebhook), Secret: Secret{URL: "https://user:pw@example.com:8443/in?token=s3cr3tT0ken", SigningSecret: "s3cr3tS1gning000"}}, "https://example.com:8443/…"},
		{Target{Destination: dest(store.DestPagerDuty), Secret: Secret{RoutingKey: pdKey}}, "https://events.pagerduty.com/…"},
		{Target{Destination: dest(store.DestOpsgenie), Settings: Settings{Region: "eu"}, Secret: Secret{APIKey: "s3cr3tGenieKey"}}, "https://api.eu.opsgenie.com/…"},
		{Target{Destination: dest(store.DestEmail), Settings: Settings{SMTPHost: "smtp.example.com", Username: "bot", From: "o@example.com", To: []string{"a@example.com", "b@example.com"}}, Secret: Secret{Password: "s3cr3tPassw0rd"}},
			"smtp smtp.example.com:587 (starttls), from o@example.com to a@example.com, b@example.com, as bot"},
		{Target{Destination: dest(store.DestTeams)}, "(no URL)"},
	}
	for _, c := range cases {
		got := Redacted(c.t)
		if got != c.want {
			t.Errorf("Redacted(%s) = %q, want %q", c.t.Destination.Type, got, c.want)
		}
		for _, s := range append(secretsOf(c.t.Secret), "s3cr3t", "pw@") {
			if strings.Contains(got, s) {
				t.Errorf("Redacted(%s) = %q shows a secret", c.t.Destination.Type, got)
			}
		}
	}
}
