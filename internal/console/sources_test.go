package console

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/store"
)

func TestSourcePageAndActions(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	src := h.addSource("acme", emulator.TokenOptions{ExpiresIn: 60 * 24 * time.Hour})
	path := "/sources/" + src.ID
	r := h.get(path, h.analyst).want(t, http.StatusOK, "acme", "waiting for the first events", "No event yet", "OnePassword.ItemUsage", "…")
	if strings.Contains(r.body, "Rotate the token") || strings.Contains(r.body, "/pause") {
		t.Error("an analyst is shown the controls that change a source")
	}
	h.get("/sources", h.analyst).want(t, http.StatusOK, "acme", "waiting for the first events")

	// The first events arrive: the chart, the newest events, the counts.
	h.plantEvents(src, "OnePassword.SignInAttempt", 2, "first@example.com", "192.0.2.10")
	h.get(path, h.admin).want(t, http.StatusOK, "first@example.com", "192.0.2.10", "Rotate the token", "Pause", "hx-trigger=\"every 15s\"")

	// Alarm, pause, resume, poll now.
	h.form(path+"/alarm", h.admin, url.Values{"alarm_enabled": {"yes"}, "alarm_value": {"3"}, "alarm_unit": {"days"}}).want(t, http.StatusSeeOther)
	if s, _ := h.st.SourceByID(ctx, src.ID); s.NoEventsAlarm != 72*time.Hour {
		t.Errorf("alarm %v", s.NoEventsAlarm)
	}
	h.form(path+"/alarm", h.admin, url.Values{"alarm": {"1m"}}).want(t, http.StatusBadRequest, "outside 15m to 30d")
	h.form(path+"/streams/OnePassword.ItemUsage/pause", h.admin, nil).want(t, http.StatusSeeOther)
	if !streamEnabled(t, h, src.ID, "OnePassword.ItemUsage", false) {
		t.Error("ItemUsage not paused")
	}
	h.get(path, h.admin).want(t, http.StatusOK, "paused", "/streams/OnePassword.ItemUsage/resume")
	h.form(path+"/streams/OnePassword.ItemUsage/resume", h.admin, nil).want(t, http.StatusSeeOther)
	if !streamEnabled(t, h, src.ID, "OnePassword.ItemUsage", true) {
		t.Error("ItemUsage not resumed")
	}
	h.form(path+"/streams/Nope/pause", h.admin, nil).want(t, http.StatusBadRequest, "unknown log type")
	h.form(path+"/reset", h.admin, nil).want(t, http.StatusSeeOther)

	// Rotate: a bad token is refused and the old one stays.
	h.form(path+"/token", h.admin, url.Values{"token": {"garbage"}}).want(t, http.StatusUnprocessableEntity, "JWT")
	fresh := h.issue(emulator.TokenOptions{})
	h.form(path+"/token", h.admin, url.Values{"token": {fresh}}).want(t, http.StatusSeeOther)
	h.get(path, h.admin).want(t, http.StatusOK, "…"+last4(fresh), "never expires")

	// Quarantine viewer: the reason and the raw event, escaped.
	sts, _ := h.st.Streams(ctx, src.ID)
	if _, err := h.st.InsertEvents(ctx, sts[0].ID, nil, []store.Quarantined{{SourceID: src.ID, LogType: sts[0].LogType,
		Raw: []byte(`{"uuid":"<img src=x onerror=alert(1)>"}`), Reason: "timestamp: missing", At: h.clock.Now()}}); err != nil {
		t.Fatal(err)
	}
	r = h.get(path+"/quarantine", h.analyst).want(t, http.StatusOK, "timestamp: missing", "&lt;img src=x")
	if strings.Contains(r.body, "<img src=x") {
		t.Error("quarantined data reached the page unescaped")
	}

	// Analysts change nothing.
	for _, p := range []string{"/alarm", "/streams/OnePassword.ItemUsage/pause", "/token", "/reset", "/delete"} {
		h.form(path+p, h.analyst, url.Values{"alarm": {"off"}, "confirm": {"acme"}}).want(t, http.StatusForbidden)
	}
	h.get(path+"/delete", h.analyst).want(t, http.StatusForbidden)

	// Delete needs the name typed.
	h.get(path+"/delete", h.admin).want(t, http.StatusOK, "Type the source")
	h.form(path+"/delete", h.admin, url.Values{"confirm": {"acm"}}).want(t, http.StatusUnprocessableEntity, "exactly")
	h.form(path+"/delete", h.admin, url.Values{"confirm": {"acme"}}).want(t, http.StatusSeeOther)
	if _, err := h.st.SourceByID(ctx, src.ID); err == nil {
		t.Error("the source was not deleted")
	}
	h.get(path, h.admin).want(t, http.StatusNotFound)
}

func TestSourceNeedsAttention(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("quiet", emulator.TokenOptions{})
	h.clock.Add(25 * time.Hour) // the 24 h no-events alarm's timeframe passes
	h.get("/sources/"+src.ID, h.analyst).want(t, http.StatusOK, "needs attention", "What needs doing", "no events stored", "opwatch source show")
	h.get("/", h.analyst).want(t, http.StatusOK, "Sources needing attention", "quiet", "CRITICAL")
	h.clock.Add(-25 * time.Hour)
	if r := h.get("/", h.analyst).want(t, http.StatusOK, "No source needs attention."); strings.Contains(r.body, "source(s)") {
		t.Error("the overview counts sources as source(s)")
	}
}

func streamEnabled(t *testing.T, h *harness, sourceID, lt string, want bool) bool {
	t.Helper()
	sts, err := h.st.Streams(context.Background(), sourceID)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		if st.LogType == lt {
			return st.Enabled == want
		}
	}
	return false
}

// The page refreshes itself by replacing #live with the #live of a fresh
// copy of the page: whatever changes as events arrive (the state badge,
// what needs doing, the newest events) must be inside it, or it stays stale
// until a reload.
func TestSourcePageRefreshHoldsTheState(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("acme", emulator.TokenOptions{})
	path := "/sources/" + src.ID
	live := elementByID(t, h.get(path, h.analyst).want(t, http.StatusOK).body, "live")
	for _, s := range []string{`hx-select="#live"`, "waiting for the first events", "No event yet"} {
		if !strings.Contains(live, s) {
			t.Errorf("before the first events, #live lacks %q\n%s", s, limit(live, 3000))
		}
	}
	h.plantEvents(src, "OnePassword.SignInAttempt", 2, "first@example.com", "192.0.2.10")
	live = elementByID(t, h.get(path, h.analyst).want(t, http.StatusOK).body, "live")
	for _, s := range []string{`<h1>acme</h1>`, "first@example.com", ">healthy<"} {
		if !strings.Contains(live, s) {
			t.Errorf("after the first events, #live lacks %q\n%s", s, limit(live, 3000))
		}
	}
	// No events for longer than the alarm: the badge and what needs doing
	// come with the refresh too.
	h.clock.Add(25 * time.Hour)
	live = elementByID(t, h.get(path, h.analyst).want(t, http.StatusOK).body, "live")
	for _, s := range []string{"needs attention", "What needs doing"} {
		if !strings.Contains(live, s) {
			t.Errorf("after a quiet day, #live lacks %q\n%s", s, limit(live, 3000))
		}
	}
}

// The newest events' times are shown as every other time in the console,
// to the second in UTC, not as the store's text with nanoseconds.
func TestSourcePageEventTimes(t *testing.T) {
	h := newHarness(t)
	h.clock.Add(789 * time.Millisecond) // the planted events' times have a fraction
	src := h.addSource("acme", emulator.TokenOptions{})
	h.plantEvents(src, "OnePassword.ItemUsage", 1, "t@example.com", "192.0.2.11")
	at := h.clock.Now().Add(-time.Minute)
	body := h.get("/sources/"+src.ID, h.analyst).want(t, http.StatusOK).body
	_, newest, _ := strings.Cut(body, "<h2>Newest events</h2>")
	newest, _, _ = strings.Cut(newest, "</section>")
	if !strings.Contains(newest, ">"+stamp(at)+"<") || strings.Contains(newest, ".789") {
		t.Errorf("the newest events do not show %s as %q\n%s", at, stamp(at), newest)
	}
}

func TestSQLTime(t *testing.T) {
	want := time.Date(2026, 12, 2, 1, 23, 57, 795219913, time.UTC)
	for _, tt := range []struct {
		in   any
		want time.Time
	}{
		{"2026-12-02 01:23:57.795219913", want},                               // SQLite
		{"2026-12-02 01:23:57.795219+00", want.Truncate(time.Microsecond)},    // PostgreSQL
		{"2026-12-02 02:23:57.795219+01:00", want.Truncate(time.Microsecond)}, // another zone
		{"2026-12-02T01:23:57Z", want.Truncate(time.Second)},
		{[]byte("2026-12-02 01:23:57"), want.Truncate(time.Second)},
		{want.In(time.FixedZone("x", 3600)), want},
		{"yesterday", time.Time{}},
		{nil, time.Time{}},
	} {
		if got := sqlTime(tt.in); !got.Equal(tt.want) || got.Location() != time.UTC {
			t.Errorf("sqlTime(%#v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// elementByID is the HTML of the element with id (its tags included),
// found by counting the nested elements of its tag name.
func elementByID(t *testing.T, body, id string) string {
	t.Helper()
	at := strings.Index(body, ` id="`+id+`"`)
	if at < 0 {
		t.Fatalf("no element with id %q", id)
	}
	start := strings.LastIndex(body[:at], "<")
	name := body[start+1 : at]
	if i := strings.IndexAny(name, " \t\n"); i >= 0 {
		name = name[:i]
	}
	open, closing := "<"+name, "</"+name+">"
	depth := 0
	for i := start; i < len(body); {
		switch {
		case strings.HasPrefix(body[i:], closing):
			depth--
			i += len(closing)
			if depth == 0 {
				return body[start:i]
			}
		case strings.HasPrefix(body[i:], open) && len(body) > i+len(open) && strings.ContainsRune(" \t\n>", rune(body[i+len(open)])):
			depth++
			i += len(open)
		default:
			i++
		}
	}
	t.Fatalf("the element with id %q is not closed", id)
	return ""
}

// An analyst on an admin's page or form is refused with the console's error
// page (its header and navigation, the user's name), not auth's bare page;
// the API still answers JSON.
func TestAdminPageRefusedInTheConsole(t *testing.T) {
	h := newHarness(t)
	ana := h.user("ana", "analyst")
	src := h.addSource("acme", emulator.TokenOptions{})
	const msg = "only an admin can change this; your role is analyst: ask an admin"
	for _, r := range []response{
		h.get("/sources/new", ana),
		h.form("/sources/"+src.ID+"/streams/OnePassword.AuditEvent/pause", ana, nil),
		h.get("/users", h.analyst),
	} {
		r.want(t, http.StatusForbidden, `<link rel="stylesheet" href="/static/console.css">`, `<nav>`, `<h1>Forbidden</h1>`, msg)
	}
	h.get("/sources/new", ana).want(t, http.StatusForbidden, `ana <small class="role">analyst</small>`)
	r := h.api("DELETE", "/api/v1/sources/"+src.ID, h.analyst, nil, nil).want(t, http.StatusForbidden)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") || !strings.Contains(r.body, "only an admin") {
		t.Errorf("the API's refusal: %s %s", r.Header.Get("Content-Type"), r.body)
	}
	if !streamEnabled(t, h, src.ID, "OnePassword.AuditEvent", true) {
		t.Error("a refused pause paused the log type")
	}
}
