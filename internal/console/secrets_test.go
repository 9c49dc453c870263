package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/store"
)

func TestLeaksFindsSecrets(t *testing.T) {
	if got := leaks(`{"url": "https://hooks.example/abc\u0026d"} plain-secret-1234 <td>x&amp;y=1</td>`, []string{"plain-secret-1234", "https://hooks.example/abc&d", "x&y=1", "absent"}); len(got) != 3 {
		t.Errorf("leaks found %v, want the plain, the JSON-escaped and the HTML-escaped secret", got)
	}
}

// Every page and every GET endpoint, with real ids, as an admin: none
// holds a source's token, a destination's secret, a password or an API
// token (the harness scans every answer).
func TestNoAnswerHoldsASecret(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	src := h.addSource("acme", emulator.TokenOptions{ExpiresIn: 40 * 24 * time.Hour})
	seqs := h.plantEvents(src, "OnePassword.SignInAttempt", 2, "a@example.com", "192.0.2.1")
	a := h.plantAlert("cccccccc-0000-4000-8000-000000000003", "Standard.BruteForceByIP", "HIGH", "planted", seqs)
	h.secret(slackURL)
	var d destView
	h.api("POST", "/api/v1/destinations", h.admin, map[string]any{"name": "sec", "type": "webhook",
		"secret": map[string]string{"url": slackURL, "signing_secret": "sign-me-with-this-0123456789"}}, &d).want(t, http.StatusCreated)
	h.secret("sign-me-with-this-0123456789")
	// A notification to it, so an alert page shows a delivery.
	sys := store.NewID()
	if err := h.st.CreateSystemAlert(ctx, store.Alert{ID: sys, Type: store.AlertSystemError, Dedup: "test/leak", Title: "sys", Severity: "CRITICAL", Status: store.AlertOpen},
		[]store.Notification{{ID: store.NewID(), AlertID: sys, DestinationID: d.ID, Kind: store.NotifyTrigger}}); err != nil {
		t.Fatal(err)
	}
	h.get("/alerts/"+sys, h.admin).want(t, http.StatusOK, "sec", "pending")
	sts, _ := h.st.Streams(ctx, src.ID)
	// Stored hashes are secrets too.
	for _, tk := range mustTokens(t, h) {
		h.secret(tk.Hash)
	}
	c, err := newConsole(h.deps)
	if err != nil {
		t.Fatal(err)
	}
	fill := strings.NewReplacer("/sources/{id}", "/sources/"+src.ID, "/alerts/{id}", "/alerts/"+a.ID, "/destinations/{id}", "/destinations/"+d.ID,
		"/rules/{id}", "/rules/Standard.BruteForceByIP", "/streams/{id}", "/streams/"+itoa(int(sts[0].ID)), "{file}", "console.css")
	seen := 0
	for _, rt := range c.routes() {
		if rt.method != "GET" || strings.Contains(rt.pattern, "{$}") && rt.pattern != "/{$}" {
			continue
		}
		path := fill.Replace(strings.TrimSuffix(rt.pattern, "{$}"))
		if strings.Contains(path, "{") || path == "/api/" {
			continue
		}
		r := h.get(path, h.admin)
		if r.StatusCode >= 500 {
			t.Errorf("GET %s: %d %s", path, r.StatusCode, limit(r.body, 300))
		}
		seen++
	}
	if seen < 30 {
		t.Errorf("only %d GET routes walked", seen)
	}
	h.get("/alerts/"+a.ID, h.admin).want(t, http.StatusOK)
	h.get("/destinations/"+d.ID, h.admin).want(t, http.StatusOK, "…1234", "…6789")
}

func mustTokens(t *testing.T, h *harness) []store.APIToken {
	ts, err := h.st.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ts
}
