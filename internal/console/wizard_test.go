package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

func setupForm(name, token, region, baseURL string) url.Values {
	v := url.Values{"step": {"credentials"}, "name": {name}, "token": {token}, "region": {region}}
	if baseURL != "" {
		v.Set("base_url", baseURL)
	}
	return v
}

func TestWizardWholeFlow(t *testing.T) {
	h := newHarness(t)
	em := h.emulator()
	tok := h.issue(emulator.TokenOptions{ExpiresIn: 90 * 24 * time.Hour})

	h.get("/sources", h.admin).want(t, http.StatusOK, `href="/sources/new"`, "Create New")
	h.get("/sources/new?q=1pass", h.admin).want(t, http.StatusOK, `href="/sources/new/onepassword"`, "1Password")
	r := h.get("/sources/new?q=splunk", h.admin).want(t, http.StatusOK, "No log source matches")
	if strings.Contains(r.body, `href="/sources/new/onepassword"`) {
		t.Error("a search for splunk shows the 1Password tile")
	}
	h.get("/sources/new/onepassword", h.admin).want(t, http.StatusOK, "Start Setup", `href="/sources/new/onepassword/setup"`)
	h.get("/sources/new/onepassword/setup", h.admin).want(t, http.StatusOK, "Source name", `name="step" value="name"`)
	h.form("/sources/new/onepassword/setup", h.admin, url.Values{"step": {"name"}, "name": {"My 1Password logs"}}).
		want(t, http.StatusOK, "Access Token", `type="password"`, "From the token (recommended)", "Custom base URL",
			`value="My 1Password logs"`)

	r = h.form("/sources/new/onepassword/setup", h.admin, setupForm("My 1Password logs", tok, "", em.URL())).
		want(t, http.StatusOK, "Everything looks good!", "opwatch will now automatically pull &amp; process logs from your account",
			"Trigger an alert when no events are processed", "Detection Packs", "signinattempts", "itemusages", "auditevents",
			"OnePassword.AuditEvent", "read ok", "Finish", "…"+last4(tok))
	if !strings.Contains(r.body, `value="yes" checked`) || !strings.Contains(r.body, `value="1"`) || !strings.Contains(r.body, `value="days" selected`) {
		t.Errorf("the alarm is not preset to yes, 1 day:\n%s", r.body)
	}
	src, err := h.st.SourceByName(context.Background(), "My 1Password logs")
	if err != nil {
		t.Fatalf("the source was not stored: %v", err)
	}
	if src.BaseURL != em.URL() || src.TokenExpiresAt.IsZero() {
		t.Errorf("stored %+v", src)
	}
	streams, _ := h.st.Streams(context.Background(), src.ID)
	if len(streams) != 3 {
		t.Errorf("%d streams, want 3", len(streams))
	}

	// Finish with a 6-hour alarm: the source page follows.
	r = h.form("/sources/"+src.ID+"/finish", h.admin, url.Values{"alarm_enabled": {"yes"}, "alarm_value": {"6"}, "alarm_unit": {"hours"}})
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/sources/"+src.ID {
		t.Fatalf("finish: %d to %q, want 303 to the source page", r.StatusCode, r.Header.Get("Location"))
	}
	src, _ = h.st.SourceByName(context.Background(), "My 1Password logs")
	if src.NoEventsAlarm != 6*time.Hour {
		t.Errorf("alarm %v after finish, want 6h", src.NoEventsAlarm)
	}
	h.get("/sources/"+src.ID, h.admin).want(t, http.StatusOK, "My 1Password logs", "OnePassword.SignInAttempt", "after 6 hours")

	// The same name again is refused at the first step.
	h.form("/sources/new/onepassword/setup", h.admin, url.Values{"step": {"name"}, "name": {"My 1Password logs"}}).
		want(t, http.StatusConflict, "exists: pick another name")
}

func TestWizardFinishAlarmOffAndBounds(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("acme", emulator.TokenOptions{})
	h.form("/sources/"+src.ID+"/finish", h.admin, url.Values{"alarm_enabled": {"no"}}).want(t, http.StatusSeeOther)
	if s, _ := h.st.SourceByID(context.Background(), src.ID); s.NoEventsAlarm != 0 {
		t.Errorf("alarm %v, want off", s.NoEventsAlarm)
	}
	for _, v := range []url.Values{
		{"alarm_enabled": {"yes"}, "alarm_value": {"10"}, "alarm_unit": {"minutes"}},
		{"alarm_enabled": {"yes"}, "alarm_value": {"31"}, "alarm_unit": {"days"}},
		{"alarm_enabled": {"yes"}, "alarm_value": {"x"}, "alarm_unit": {"days"}},
	} {
		h.form("/sources/"+src.ID+"/finish", h.admin, v).want(t, http.StatusBadRequest, "15 minutes to 30 days")
	}
	h.form("/sources/"+src.ID+"/finish", h.admin, url.Values{"alarm_enabled": {"yes"}, "alarm_value": {"15"}, "alarm_unit": {"minutes"}}).want(t, http.StatusSeeOther)
	if s, _ := h.st.SourceByID(context.Background(), src.ID); s.NoEventsAlarm != 15*time.Minute {
		t.Errorf("alarm %v, want 15m", s.NoEventsAlarm)
	}
}

func TestWizardRefusesBadTokens(t *testing.T) {
	h := newHarness(t)
	em := h.emulator()
	revoked := h.issue(emulator.TokenOptions{})
	em.Revoke(revoked)
	expiring := h.issue(emulator.TokenOptions{ExpiresIn: time.Hour})
	unscoped := h.issue(emulator.TokenOptions{Features: []string{}})
	for _, tc := range []struct {
		name, token, region, baseURL string
		status                       int
		want                         string
		later                        time.Duration
	}{
		{name: "malformed", token: "this is not a token", baseURL: em.URL(), status: http.StatusUnprocessableEntity, want: "not a 1Password Events API token"},
		{name: "empty", token: " ", baseURL: em.URL(), status: http.StatusUnprocessableEntity, want: "Paste the access token"},
		{name: "revoked", token: revoked, baseURL: em.URL(), status: http.StatusUnprocessableEntity, want: "1Password refused the token"},
		{name: "expired", token: expiring, baseURL: em.URL(), status: http.StatusUnprocessableEntity, want: "This token expired on", later: 2 * time.Hour},
		{name: "other region", token: h.issue(emulator.TokenOptions{}), region: "eu", status: http.StatusUnprocessableEntity, want: "does not match the token"},
		{name: "unscoped", token: unscoped, baseURL: em.URL(), status: http.StatusUnprocessableEntity, want: "grants none of sign-in attempts"},
		{name: "bad base URL", token: h.issue(emulator.TokenOptions{}), baseURL: "ftp://example.com", status: http.StatusUnprocessableEntity, want: "Custom base URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.clock.Add(tc.later)
			defer h.clock.Add(-tc.later)
			r := h.form("/sources/new/onepassword/setup", h.admin, setupForm("acme "+tc.name, tc.token, tc.region, tc.baseURL)).
				want(t, tc.status, tc.want, "Access Token")
			if strings.Contains(r.body, "Everything looks good") {
				t.Error("a refused token reached the success screen")
			}
			if _, err := h.st.SourceByName(context.Background(), "acme "+tc.name); err == nil {
				t.Error("a refused token was stored")
			}
		})
	}
}

func TestWizardWarnsAboutAMissingFeature(t *testing.T) {
	h := newHarness(t)
	tok := h.issue(emulator.TokenOptions{Features: []string{"signinattempts", "auditevents"}})
	r := h.form("/sources/new/onepassword/setup", h.admin, setupForm("partial", tok, "", h.emulator().URL())).
		want(t, http.StatusOK, "Everything looks good!", "The token lacks Item usage events", "not granted by the token")
	if n := strings.Count(strings.ToLower(r.body), "lacks"); n != 1 {
		t.Errorf("the page says %d times that the token lacks a feature, want once:\n%s", n, r.body)
	}
	src, err := h.st.SourceByName(context.Background(), "partial")
	if err != nil {
		t.Fatal(err)
	}
	streams, _ := h.st.Streams(context.Background(), src.ID)
	for _, st := range streams {
		if st.LogType == "OnePassword.ItemUsage" && st.Enabled {
			t.Error("ItemUsage is collected though the token lacks it")
		}
	}
}

func TestWizardNeedsAnAdmin(t *testing.T) {
	h := newHarness(t)
	tok := h.issue(emulator.TokenOptions{})
	for _, path := range []string{"/sources/new", "/sources/new/onepassword", "/sources/new/onepassword/setup"} {
		h.get(path, h.analyst).want(t, http.StatusForbidden)
	}
	h.form("/sources/new/onepassword/setup", h.analyst, setupForm("sneaky", tok, "", h.emulator().URL())).want(t, http.StatusForbidden)
	if _, err := h.st.SourceByName(context.Background(), "sneaky"); err == nil {
		t.Error("an analyst added a source")
	}
	// Cross-origin: refused even for an admin's credentials.
	r := h.do("POST", "/sources/new/onepassword/setup", h.admin, strings.NewReader(setupForm("xorigin", tok, "", h.emulator().URL()).Encode()),
		"Content-Type", "application/x-www-form-urlencoded", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
	if r.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-origin post: status %d, want 403", r.StatusCode)
	}
	if _, err := h.st.SourceByName(context.Background(), "xorigin"); err == nil {
		t.Error("a cross-origin post added a source")
	}
}
