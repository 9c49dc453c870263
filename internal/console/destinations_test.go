package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/alert"
)

const slackURL = "https://hooks.slack.com/services/T0000/B0000/s3cr3tK3yAbCdEfGh1234"

func TestDestinationsLifecycle(t *testing.T) {
	h := newHarness(t)
	h.secret(slackURL)
	ctx := context.Background()
	h.get("/destinations", h.analyst).want(t, http.StatusOK, "No destination")
	h.get("/destinations/new?type=slack", h.admin).want(t, http.StatusOK, "Slack incoming webhook URL", `name="url" type="text"`, `value=""`)

	r := h.form("/destinations", h.admin, url.Values{"type": {"slack"}, "name": {"sec-team"}, "url": {slackURL},
		"min_severity": {"HIGH"}, "alert_types": {"rule", "system_error"}, "enabled": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.StatusCode, r.body)
	}
	d, err := h.st.DestinationByName(ctx, "sec-team")
	if err != nil {
		t.Fatal(err)
	}
	if d.MinSeverity != "HIGH" || len(d.AlertTypes) != 2 || !d.Enabled || strings.Contains(string(d.Secret), "s3cr3t") {
		t.Errorf("stored %+v", d)
	}
	h.get("/destinations", h.analyst).want(t, http.StatusOK, "sec-team", "https://hooks.slack.com/…")
	h.get("/destinations/"+d.ID, h.admin).want(t, http.StatusOK, "url …1234", "Send a test alert", "leave empty to keep it")

	// Send a test: the sender gets the opened secret; the page the answer.
	h.sender.res = alert.Result{Status: 200, Answer: "ok"}
	h.form("/destinations/"+d.ID+"/test", h.admin, nil).want(t, http.StatusOK, "Test alert delivered.", "HTTP 200")
	if len(h.sender.sent) != 1 || h.sender.sent[0].Secret.URL != slackURL {
		t.Fatalf("the sender got %+v", h.sender.sent)
	}
	h.sender.res = alert.Result{Status: 404, Answer: "no_service", Err: errTest("404 from hooks.slack.com: the webhook is gone"), Permanent: true}
	h.form("/destinations/"+d.ID+"/test", h.admin, nil).want(t, http.StatusOK, "not delivered", "no_service", "retrying would not help")

	// Edit without the URL keeps it; a new URL replaces it.
	r = h.form("/destinations/"+d.ID, h.admin, url.Values{"name": {"sec-team"}, "min_severity": {"LOW"}, "enabled": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("update: %d\n%s", r.StatusCode, r.body)
	}
	h.form("/destinations/"+d.ID+"/test", h.admin, nil)
	if got := h.sender.sent[len(h.sender.sent)-1]; got.Secret.URL != slackURL || got.Destination.MinSeverity != "LOW" || len(got.Destination.AlertTypes) != 0 {
		t.Errorf("after an edit without the URL: %+v", got.Destination)
	}
	other := "https://hooks.slack.com/services/T0000/B0000/an0th3rK3yZyXwVu9876"
	h.secret(other)
	h.form("/destinations/"+d.ID, h.admin, url.Values{"name": {"sec-team"}, "url": {other}, "min_severity": {"LOW"}, "enabled": {"1"}}).want(t, http.StatusSeeOther)
	h.get("/destinations/"+d.ID, h.admin).want(t, http.StatusOK, "url …9876")

	// Refusals say what to give, and never repeat the secret.
	h.form("/destinations", h.admin, url.Values{"type": {"slack"}, "name": {"bad"}, "url": {"https://example.com/hook-s3cr3t-0000"}, "min_severity": {"INFO"}}).
		want(t, http.StatusUnprocessableEntity, "Slack")
	h.form("/destinations", h.admin, url.Values{"type": {"slack"}, "name": {"sec-team"}, "url": {slackURL}, "min_severity": {"INFO"}}).
		want(t, http.StatusConflict, "exists")
	h.form("/destinations", h.admin, url.Values{"type": {"carrier-pigeon"}, "name": {"x"}}).want(t, http.StatusUnprocessableEntity, "want one of")

	// Analysts see, but cannot change or test.
	h.form("/destinations", h.analyst, url.Values{"type": {"slack"}, "name": {"mine"}, "url": {slackURL}}).want(t, http.StatusForbidden)
	h.form("/destinations/"+d.ID+"/test", h.analyst, nil).want(t, http.StatusForbidden)
	h.form("/destinations/"+d.ID+"/delete", h.analyst, nil).want(t, http.StatusForbidden)
	r = h.get("/destinations/"+d.ID, h.analyst).want(t, http.StatusOK, "sec-team")
	if strings.Contains(r.body, "Send a test alert") || strings.Contains(r.body, `action="/destinations/`+d.ID+`"`) {
		t.Error("an analyst is shown the controls that change a destination")
	}

	h.form("/destinations/"+d.ID+"/delete", h.admin, nil).want(t, http.StatusSeeOther)
	if _, err := h.st.DestinationByName(ctx, "sec-team"); err == nil {
		t.Error("the destination was not deleted")
	}
	h.get("/destinations/"+d.ID, h.admin).want(t, http.StatusNotFound)
}

func TestDestinationEmailForm(t *testing.T) {
	h := newHarness(t)
	h.secret("smtp-pa55word-xyz9")
	r := h.form("/destinations", h.admin, url.Values{"type": {"email"}, "name": {"mail"}, "smtp_host": {"mail.example.com"}, "smtp_port": {"587"},
		"tls": {"starttls"}, "from": {"opwatch@example.com"}, "to": {"a@example.com, b@example.com"}, "username": {"opwatch"},
		"password": {"smtp-pa55word-xyz9"}, "min_severity": {"MEDIUM"}, "enabled": {"1"}})
	if r.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", r.StatusCode, r.body)
	}
	d, err := h.st.DestinationByName(context.Background(), "mail")
	if err != nil {
		t.Fatal(err)
	}
	s, _ := alert.ParseSettings(d.Settings)
	if s.SMTPHost != "mail.example.com" || len(s.To) != 2 || s.Username != "opwatch" {
		t.Errorf("settings %+v", s)
	}
	h.get("/destinations/"+d.ID, h.admin).want(t, http.StatusOK, "smtp mail.example.com:587", "password …xyz9", `value="a@example.com, b@example.com"`)
}

type errTest string

func (e errTest) Error() string { return string(e) }

// Small wordings: a service's backticks become quotes on a page, a name
// taken is said once, the webhook URL box is text that never holds the
// stored URL, and the page says tests are not recorded.
func TestDestinationAndUserWordings(t *testing.T) {
	h := newHarness(t)
	r := h.form("/destinations", h.admin, url.Values{"type": {"webhook"}, "name": {"hook"}, "url": {"https://example.com/hook-s3cr3t-1111"},
		"signing_secret": {"short"}, "min_severity": {"INFO"}}).want(t, http.StatusUnprocessableEntity, "shorter than 16 characters", "“openssl rand -hex 32”")
	if strings.Contains(r.body, "`") {
		t.Errorf("the page shows backticks:\n%s", r.body)
	}
	h.secret("https://example.com/hook-s3cr3t-2222")
	h.form("/destinations", h.admin, url.Values{"type": {"webhook"}, "name": {"hook"}, "url": {"https://example.com/hook-s3cr3t-2222"},
		"min_severity": {"INFO"}, "enabled": {"1"}}).want(t, http.StatusSeeOther)
	d, err := h.st.DestinationByName(context.Background(), "hook")
	if err != nil {
		t.Fatal(err)
	}
	// The scan fails the test if the stored URL is in the page.
	h.get("/destinations/"+d.ID, h.admin).want(t, http.StatusOK, `name="url" type="text"`, "tests are not recorded")

	admin := h.user("root", "admin")
	h.form("/users", admin, url.Values{"name": {"carol"}, "role": {"analyst"}}).want(t, http.StatusOK)
	r = h.form("/users", admin, url.Values{"name": {"carol"}, "role": {"analyst"}}).want(t, http.StatusConflict, `a user named &#34;carol&#34; exists: pick another name`)
	if strings.Contains(r.body, "already exists") {
		t.Errorf("the page says twice that the name is taken")
	}
}
