package cli

import (
	"crypto/hmac"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/opwatch/opwatch/internal/alert"
)

// hookReceiver is a webhook receiver that records what arrives and answers
// with the status it is set to.
type hookReceiver struct {
	mu     sync.Mutex
	status int
	answer string
	got    []hookRequest
}

type hookRequest struct {
	path, key, signature string
	body                 []byte
}

func (h *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.got = append(h.got, hookRequest{path: r.URL.RequestURI(), key: r.Header.Get("Idempotency-Key"), signature: r.Header.Get("X-Opwatch-Signature"), body: body})
	status, answer := h.status, h.answer
	h.mu.Unlock()
	w.WriteHeader(status)
	io.WriteString(w, answer)
}

func (h *hookReceiver) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.got...)
}

func writeSecret(t *testing.T, dir, name, v string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(v+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDestinationsLifecycle(t *testing.T) {
	rcv := &hookReceiver{status: http.StatusAccepted, answer: `{"ok":true,"note":"x` + "\x1b[2J" + `"}`}
	ts := httptest.NewServer(rcv)
	defer ts.Close()
	dir := t.TempDir()
	// The path and query carry the key, as Slack's and most webhooks' do.
	const pathKey, signing = "/hook/K3YP4TH", "s1gning-s3cret-0123456789"
	url := writeSecret(t, dir, "url", ts.URL+pathKey+"?token=Q5ECRET")
	sig := writeSecret(t, dir, "sig", signing)
	notSlack := writeSecret(t, dir, "notslack", "https://example.com/services/x")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": filepath.Join(dir, "o.db"), "OPWATCH_LOG_LEVEL": "warn", "USER": "alice"}}
	cli := h.run

	// Flags after the name; the signing secret from standard input.
	out := cli(0, signing, "destinations", "add", "soc", "--type", "webhook", "--url-file", url, "--signing-secret-file", "-", "--min-severity", "high")
	if !strings.Contains(out, "Added destination soc (webhook, "+ts.URL+"/…)") || !strings.Contains(out, "HIGH and above") {
		t.Errorf("destinations add says:\n%s", out)
	}
	cli(1, "", "destinations", "add", "--name", "soc", "--type", "webhook", "--url-file", url) // taken
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"x", "--type", "sms", "--url-file", url}, `--type "sms": want one of`},
		{[]string{"x", "--url-file", url}, "give the destination's --type"},
		{[]string{"x", "--type", "slack", "--url-file", url, "--smtp-host", "mail"}, "--smtp-host is for email destinations, not slack"},
		{[]string{"x", "--type", "slack"}, "Slack webhook URL"},
		{[]string{"x", "--type", "slack", "--url-file", notSlack}, "incoming webhook URL"},
		{[]string{"x", "--type", "webhook", "--url-file", "-", "--signing-secret-file", "-"}, "both read standard input"},
		{[]string{"x", "--type", "webhook", "--url-file", url, "--min-severity", "urgent"}, `--min-severity "urgent"`},
		{[]string{"x", "--type", "webhook", "--url-file", url, "--alert-types", "rule,alerts"}, `unknown alert type "alerts"`},
		{[]string{"x", "y", "--type", "webhook"}, `unexpected argument "y"`},
		{[]string{"x", "--name", "z", "--type", "webhook"}, "named twice"},
		{[]string{"x", "--type", "email", "--smtp-host", "smtp.example.com", "--from", "a@example.com"}, "recipient"},
		{[]string{"x", "--type", "email", "--smtp-host", "mail.example.com", "--from", "a@example.com", "--to", "b@example.com", "--tls", "none"}, "localhost"},
		{[]string{"x", "--type", "pagerduty", "--routing-key-file", sig}, "32-character"},
	} {
		out := cli(2, "", append([]string{"destinations", "add"}, bad.args...)...)
		if !strings.Contains(out, bad.want) {
			t.Errorf("destinations add %s: want %q in:\n%s", strings.Join(bad.args, " "), bad.want, out)
		}
	}
	cli(1, "", "destinations", "add", "x", "--type", "webhook", "--url-file", filepath.Join(dir, "missing"))
	cli(0, "", "destinations", "add", "mail", "--type", "email", "--smtp-host", "localhost", "--tls", "none", "--from", "opwatch@example.com",
		"--to", "a@example.com,b@example.com", "--to", "c@example.com", "--alert-types", "system_error", "--disabled")

	out = cli(0, "", "destinations", "list")
	for _, want := range []string{"soc", "webhook", ts.URL + "/…", "HIGH", "mail", "smtp localhost:587 (none), from opwatch@example.com to a@example.com, b@example.com, c@example.com", "system_error", "no"} {
		if !strings.Contains(out, want) {
			t.Errorf("destinations list lacks %q:\n%s", want, out)
		}
	}
	out = cli(0, "", "destinations", "show", "soc")
	if !strings.Contains(out, "signed:") || !strings.Contains(out, "X-Opwatch-Signature") || !strings.Contains(out, "0 pending, 0 sent, 0 failed") {
		t.Errorf("destinations show soc:\n%s", out)
	}

	// test sends now and says what the receiver answered.
	out = cli(0, "", "destinations", "test", "soc", "--public-url", "https://opwatch.example.com")
	if !strings.Contains(out, "Receiver answered: HTTP 202") || !strings.Contains(out, `\x1b[2J`) || strings.Contains(out, "\x1b") {
		t.Errorf("destinations test, delivered:\n%q", out)
	}
	got := rcv.requests()
	if len(got) != 1 {
		t.Fatalf("the receiver got %d requests, want 1", len(got))
	}
	r := got[0]
	if r.path != pathKey+"?token=Q5ECRET" || r.key == "" || !strings.Contains(out, r.key) ||
		!hmac.Equal([]byte(r.signature), []byte(alert.Signature(signing, r.body))) ||
		!strings.Contains(string(r.body), `"kind":"test"`) || !strings.Contains(string(r.body), `"link":"https://opwatch.example.com/alerts/`) {
		t.Errorf("the test request: %+v\n%s", r, r.body)
	}
	rcv.mu.Lock()
	rcv.status, rcv.answer = http.StatusGone, "channel archived"
	rcv.mu.Unlock()
	out = cli(1, "", "destinations", "test", "soc")
	if !strings.Contains(out, "Receiver answered: HTTP 410 channel archived") || !strings.Contains(out, "retrying would not help") {
		t.Errorf("destinations test, refused:\n%s", out)
	}

	// Update changes only what it is given; the secrets stay sealed.
	cli(2, "", "destinations", "update", "soc")                            // nothing to change
	cli(2, "", "destinations", "update", "soc", "--smtp-host", "x")        // not a webhook's
	cli(1, "", "destinations", "update", "nope", "--min-severity", "LOW")  // unknown
	cli(2, "", "destinations", "update", "soc", "--enabled", "--disabled") // both
	out = cli(0, "", "destinations", "update", "soc", "--name", "soc2", "--alert-types", "rule", "--disabled")
	if !strings.Contains(out, "Updated destination soc2 (webhook, "+ts.URL+"/…)") || !strings.Contains(out, "Takes: rule; rule alerts of HIGH") || !strings.Contains(out, "Disabled") {
		t.Errorf("destinations update:\n%s", out)
	}
	rcv.mu.Lock()
	rcv.status = http.StatusOK
	rcv.mu.Unlock()
	out = cli(0, "", "destinations", "test", "soc2") // the secret survived the update
	if !strings.Contains(out, "disabled") {
		t.Errorf("test of a disabled destination does not say so:\n%s", out)
	}
	if got := rcv.requests(); got[len(got)-1].path != pathKey+"?token=Q5ECRET" ||
		!hmac.Equal([]byte(got[len(got)-1].signature), []byte(alert.Signature(signing, got[len(got)-1].body))) {
		t.Errorf("after the update the test went to %s, signed %s", got[len(got)-1].path, got[len(got)-1].signature)
	}
	cli(0, "", "destinations", "update", "soc2", "--enabled")
	out = cli(0, "", "destinations", "remove", "soc2")
	if !strings.Contains(out, "Removed destination soc2") {
		t.Errorf("remove: %s", out)
	}
	cli(1, "", "destinations", "show", "soc2")
	cli(2, "", "destinations", "frobnicate")
	cli(2, "", "destinations")

	// Nothing printed, at any point, holds a secret.
	for _, s := range []string{"K3YP4TH", "Q5ECRET", signing} {
		if strings.Contains(h.transcript.String(), s) {
			t.Errorf("the output shows the secret %q:\n%s", s, h.transcript.String())
		}
	}
}

// The secrets are sealed bound to the destination: the database alone
// (without the key) shows no URL, and a copied secret does not open.
func TestDestinationsSealed(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	url := writeSecret(t, dir, "url", "https://hooks.slack.com/services/T000/B000/S3CRETSLACK")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db, "OPWATCH_LOG_LEVEL": "warn"}}
	h.run(0, "", "destinations", "add", "soc", "--type", "slack", "--url-file", url)
	raw, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "S3CRETSLACK") || strings.Contains(string(raw), "hooks.slack.com") {
		t.Error("the database file holds the Slack URL in clear")
	}
	// Without the key: the host is not shown, and nothing fails.
	h.vars["OPWATCH_KEY_FILE"] = filepath.Join(dir, "other.key")
	out := h.run(0, "", "destinations", "list")
	if !strings.Contains(out, "(sealed") {
		t.Errorf("list without the key:\n%s", out)
	}
}

func TestAlertingHelp(t *testing.T) {
	for verb, subs := range map[string][]string{
		"destinations": {"add", "list", "show", "update", "test", "remove"},
		"alerts":       {"list", "show", "triage", "resolve", "reopen", "assign", "comment"},
	} {
		out, _, code := runCLI(t, nil, "", verb, "help")
		if code != 0 || !strings.Contains(out, "Usage: opwatch "+verb+" SUBCOMMAND") {
			t.Errorf("%s help: exit %d\n%s", verb, code, out)
		}
		for _, sub := range subs {
			if !strings.Contains(out, "  "+sub+" ") {
				t.Errorf("%s help does not list %s:\n%s", verb, sub, out)
			}
			for _, args := range [][]string{{verb, sub, "--help"}, {"help", verb, sub}, {verb, sub, "-h", "--db", "x.db"}} {
				stdout, stderr, code := runCLI(t, nil, "", args...)
				if code != 0 || !strings.Contains(stdout+stderr, "Usage: opwatch "+verb+" "+sub) {
					t.Errorf("%q: exit %d\n%s%s", args, code, stdout, stderr)
				}
			}
		}
	}
	// Flags the verbs do not have are refused with the way to their help.
	_, errOut, code := runCLI(t, nil, "", "destinations", "add", "x", "--url", "https://example.com")
	if code != 2 || !strings.Contains(errOut, "flag provided but not defined: -url") || !strings.Contains(errOut, "opwatch destinations add --help") {
		t.Errorf("an unknown flag: exit %d, %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "", "serve", "--listen", "8080")
	if code != 2 || !strings.Contains(errOut, "give host:port") {
		t.Errorf("serve --listen 8080: exit %d, %s", code, errOut)
	}
	for _, args := range [][]string{{"serve", "--alert-retention", "1h"}, {"serve", "--alert-retention", "soon"}, {"serve", "--public-url", "opwatch.example.com"}, {"--log-format", "xml", "version"}} {
		if _, errOut, code := runCLI(t, nil, "", args...); code != 2 {
			t.Errorf("%q: exit %d, %s", args, code, errOut)
		}
	}
	if _, errOut, code := runCLI(t, map[string]string{"OPWATCH_LOG_FORMAT": "yaml"}, "", "version"); code != 2 || !strings.Contains(errOut, "OPWATCH_LOG_FORMAT") {
		t.Errorf("OPWATCH_LOG_FORMAT=yaml: exit %d, %s", code, errOut)
	}
}
