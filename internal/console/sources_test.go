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
