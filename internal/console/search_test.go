package console

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

func TestSearchSQL(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("acme", emulator.TokenOptions{})
	h.plantEvents(src, "OnePassword.SignInAttempt", 3, "=cmd|' /C calc'!A0@example.com", "203.0.113.9")
	h.get("/search", h.analyst).want(t, http.StatusOK, "Indicator search", "Download CSV", "not available")

	q := "SELECT p_source_label, p_any_emails, target_user FROM onepassword_signinattempt ORDER BY p_event_time"
	h.form("/search/sql", h.analyst, url.Values{"sql": {q}}).want(t, http.StatusOK, "<strong>3</strong> row(s)", "p_any_emails", "acme")

	r := h.form("/search/sql", h.analyst, url.Values{"sql": {q}, "format": {"csv"}}).want(t, http.StatusOK)
	if cd := r.Header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.HasSuffix(cd, `.csv"`) {
		t.Errorf("Content-Disposition %q", cd)
	}
	recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
	if err != nil || len(recs) != 4 || recs[0][0] != "p_source_label" || recs[1][0] != "acme" {
		t.Fatalf("CSV %v %q", err, r.body)
	}
	if !strings.HasPrefix(recs[1][2], "{") || strings.HasPrefix(recs[1][1], "=") {
		t.Errorf("CSV row %q: want the object as JSON and no cell starting a formula", recs[1])
	}

	r = h.form("/search/sql", h.analyst, url.Values{"sql": {q}, "format": {"json"}}).want(t, http.StatusOK)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.body), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("JSON %v %q", err, r.body)
	}
	if tu, ok := rows[0]["target_user"].(map[string]any); !ok || !strings.Contains(tu["email"].(string), "example.com") {
		t.Errorf("JSON row %v: want target_user as an object", rows[0])
	}
	if _, ok := rows[0]["p_any_emails"].([]any); !ok {
		t.Errorf("JSON row %v: want p_any_emails as an array", rows[0])
	}
	r = h.form("/search/sql", h.analyst, url.Values{"sql": {"SELECT '=1+2' AS f, 3 AS n"}, "format": {"csv"}}).want(t, http.StatusOK)
	if recs, _ := csv.NewReader(strings.NewReader(r.body)).ReadAll(); len(recs) != 2 || recs[1][0] != "'=1+2" || recs[1][1] != "3" {
		t.Errorf("CSV %q: a text cell starting a formula is not defused, or a number is changed", r.body)
	}
	// An empty result still has its columns.
	r = h.form("/search/sql", h.analyst, url.Values{"sql": {"SELECT uuid FROM onepassword_auditevent"}, "format": {"csv"}}).want(t, http.StatusOK)
	if strings.TrimSpace(r.body) != "uuid" {
		t.Errorf("empty CSV %q", r.body)
	}

	// The guard: nothing that writes, no token, no secret.
	for _, bad := range []string{"DELETE FROM events", "SELECT token FROM sources", "UPDATE alerts SET status = 'resolved'",
		"SELECT secret FROM destinations", "SELECT password_hash FROM users", "SELECT hash FROM api_tokens", "SELECT cursor FROM streams"} {
		h.form("/search/sql", h.analyst, url.Values{"sql": {bad}}).want(t, http.StatusBadRequest, "read-only")
		h.form("/search/sql", h.analyst, url.Values{"sql": {bad}, "format": {"csv"}}).want(t, http.StatusBadRequest, "read-only")
	}
	h.form("/search/sql", h.analyst, url.Values{"sql": {"SELEKT 1"}}).want(t, http.StatusBadRequest, "the query failed")
	h.form("/search/sql", h.analyst, url.Values{"sql": {" "}}).want(t, http.StatusBadRequest, "empty")
	if n, _ := h.st.LatestSeq(context.Background()); n != 3 {
		t.Errorf("%d events after the refused statements, want 3", n)
	}
}

func TestIndicatorSearch(t *testing.T) {
	var got IndicatorQuery
	fake := func(ctx context.Context, q IndicatorQuery) (IndicatorResult, error) {
		got = q
		return IndicatorResult{Kind: "email", Events: []store.StoredEvent{{Seq: 1, LogType: "OnePassword.SignInAttempt", SourceLabel: "acme",
			EventTime: time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC), Emails: []string{"alice@example.com"}, IPs: []string{"203.0.113.9"},
			Raw: []byte(`{"uuid":"u1","note":"<script>alert(1)</script>"}`)}}}, nil
	}
	h := newHarness(t, func(d *Deps) { d.Search = fake })
	r := h.get("/search?indicator=alice@example.com&since=7d&log_type=OnePassword.SignInAttempt", h.analyst).
		want(t, http.StatusOK, "<strong>1</strong> event(s)", "for the email alice@example.com", `href="/search?indicator=203.0.113.9"`, "&lt;script&gt;")
	if strings.Contains(r.body, "<script>alert") {
		t.Error("event data reached the page unescaped")
	}
	if got.Indicator != "alice@example.com" || len(got.LogTypes) != 1 || h.clock.Now().Sub(got.From) != 7*24*time.Hour {
		t.Errorf("the search got %+v", got)
	}
	h.get("/search?indicator=x&since=soon", h.analyst).want(t, http.StatusBadRequest, "is not a time")
	h.get("/search?indicator=x&log_type=Nope", h.analyst).want(t, http.StatusBadRequest, "log type")

	plain := newHarness(t)
	plain.get("/search?indicator=alice@example.com", plain.analyst).want(t, http.StatusNotImplemented, "not available")
}

func TestSchemasPage(t *testing.T) {
	h := newHarness(t)
	r := h.get("/schemas", h.analyst).want(t, http.StatusOK, "Standard fields", "p_any_ip_addresses")
	for _, lt := range logtype.All() {
		for _, f := range flatten("", 0, lt.Fields, nil) {
			if !strings.Contains(r.body, "<code>"+f.Name+"</code>") {
				t.Errorf("%s: field %s missing", lt.Name, f.Path)
			}
		}
		if !strings.Contains(r.body, `id="`+lt.Table+`"`) {
			t.Errorf("no section for %s", lt.Name)
		}
	}
	if strings.Count(r.body, `class="field-required"`) < 6 {
		t.Error("the required fields (uuid and timestamp of each log type) are not marked")
	}
}

// A query that runs past the console's time limit is stopped with an
// answer (the page's #results, the API's JSON) and a log line, before the
// server's WriteTimeout (60s) would drop the connection without a word.
func TestSearchSQLTimeLimit(t *testing.T) {
	c, err := newConsole(Deps{Store: newHarness(t).st, Auth: &auth.Service{}, Sources: &source.Service{}, Triage: &alert.Triage{}})
	if err != nil {
		t.Fatal(err)
	}
	if c.queryTimeout != 30*time.Second {
		t.Errorf("default query time limit %s, want 30s (below the server's 60s WriteTimeout)", c.queryTimeout)
	}
	var logs syncBuffer
	h := newHarness(t, func(d *Deps) {
		d.QueryTimeout = 50 * time.Millisecond
		d.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	const endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
	r := h.form("/search/sql", h.analyst, url.Values{"sql": {endless}})
	r.want(t, http.StatusRequestTimeout, `<div id="results">`, "the query ran past 50ms and was stopped: narrow it")
	r = h.api("POST", "/api/v1/query", h.analyst, map[string]any{"sql": endless}, nil)
	r.want(t, http.StatusRequestTimeout, `"the query ran past 50ms and was stopped`)
	if !strings.Contains(logs.String(), "time limit") {
		t.Errorf("the stopped query is not logged:\n%s", logs.String())
	}
}

// syncBuffer is a log the server's goroutines write while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
