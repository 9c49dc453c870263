package console

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/store"
)

// plantTwo stores two sources with an alert each.
func plantTwo(t *testing.T, h *harness) (store.Source, store.Source, store.Alert, store.Alert) {
	a := h.addSource("alpha", emulator.TokenOptions{})
	b := h.addSource("beta", emulator.TokenOptions{})
	sa := h.plantEvents(a, "OnePassword.SignInAttempt", 3, "mallory@example.com", "203.0.113.9")
	sb := h.plantEvents(b, "OnePassword.ItemUsage", 2, "bob@example.com", "198.51.100.7")
	h.clock.Add(1)
	x := h.plantAlert("aaaaaaaa-0000-4000-8000-000000000001", "Standard.BruteForceByIP", "HIGH", "Brute force from 203.0.113.9", sa)
	h.clock.Add(1)
	y := h.plantAlert("bbbbbbbb-0000-4000-8000-000000000002", "OpWatch.OnePassword.Item.Reveal.Spike", "MEDIUM", "Bob revealed many items", sb)
	return a, b, x, y
}

func TestAlertsListAndFilters(t *testing.T) {
	h := newHarness(t)
	a, b, x, y := plantTwo(t, h)
	h.get("/alerts", h.analyst).want(t, http.StatusOK, x.Title, y.Title, "HIGH", "MEDIUM")
	for _, tc := range []struct {
		query     string
		want, not *store.Alert
	}{
		{"severity=HIGH", &x, &y},
		{"rule=OpWatch.OnePassword.Item.Reveal.Spike", &y, &x},
		{"source=" + a.ID, &x, &y},
		{"source=" + b.ID, &y, &x},
		{"status=unresolved", &x, nil},
		{"type=rule", &y, nil},
		{"since=1h", &x, nil},
	} {
		r := h.get("/alerts?"+tc.query, h.analyst).want(t, http.StatusOK, tc.want.Title)
		if tc.not != nil && strings.Contains(r.body, tc.not.Title) {
			t.Errorf("/alerts?%s shows %q", tc.query, tc.not.Title)
		}
	}
	r := h.get("/alerts?status=resolved", h.analyst).want(t, http.StatusOK, "No alert matches")
	if strings.Contains(r.body, x.Title) {
		t.Error("resolved filter shows an open alert")
	}
	h.get("/alerts?severity=urgent", h.analyst).want(t, http.StatusBadRequest, "want INFO, LOW")
	h.get("/alerts?since=yesterday-ish", h.analyst).want(t, http.StatusBadRequest, "is not a time")

	// A page of one, then the next by its cursor.
	r = h.get("/alerts?limit=1", h.analyst).want(t, http.StatusOK, y.Title, "Next page")
	m := regexp.MustCompile(`href="\?([^"]*cursor=[^"]*)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no next page link:\n%s", r.body)
	}
	next := strings.ReplaceAll(m[1], "&amp;", "&")
	r = h.get("/alerts?"+next, h.analyst).want(t, http.StatusOK, x.Title)
	if strings.Contains(r.body, y.Title) || strings.Contains(r.body, "Next page") {
		t.Error("the second page repeats the first or has a third")
	}
}

func TestAlertPageAndTriage(t *testing.T) {
	h := newHarness(t)
	_, _, x, _ := plantTwo(t, h)
	path := "/alerts/" + x.ID
	h.get(path, h.analyst).want(t, http.StatusOK, x.Title, "Check with the user.", "planted by a test", "mallory@example.com",
		"203.0.113.9", "Matched events", "Triage", "Resolve", `/search?indicator=mallory%40example.com`, "Sent to no destination")
	h.get("/alerts/nope", h.analyst).want(t, http.StatusNotFound, "not found")

	// An analyst triages: assign, comment, triage, resolve, reopen.
	for _, step := range []struct {
		action string
		form   url.Values
		status string
	}{
		{"assign", url.Values{"assignee": {"carol"}}, store.AlertOpen},
		{"comment", url.Values{"comment": {"looking at it"}}, store.AlertOpen},
		{"triage", url.Values{"comment": {"on it"}}, store.AlertTriaged},
		{"resolve", url.Values{"comment": {"a pentest"}}, store.AlertResolved},
		{"reopen", nil, store.AlertOpen},
	} {
		r := h.form(path+"/"+step.action, h.analyst, step.form)
		if r.StatusCode != http.StatusSeeOther {
			t.Fatalf("%s: status %d\n%s", step.action, r.StatusCode, r.body)
		}
		a, err := h.st.Alert(context.Background(), x.ID)
		if err != nil {
			t.Fatal(err)
		}
		if a.Status != step.status {
			t.Errorf("after %s: status %s, want %s", step.action, a.Status, step.status)
		}
	}
	r := h.get(path, h.analyst).want(t, http.StatusOK, "carol", "looking at it", "a pentest", "analyst-bot")
	if !strings.Contains(r.body, "triaged → resolved") {
		t.Error("the history does not show the status moves")
	}
	// Wrong moves and empty comments say what to do.
	h.form(path+"/reopen", h.analyst, nil).want(t, http.StatusConflict, "does not allow")
	h.form(path+"/comment", h.analyst, url.Values{"comment": {"  "}}).want(t, http.StatusBadRequest, "comment is empty")
	h.form(path+"/explode", h.analyst, nil).want(t, http.StatusNotFound, "unknown action")
	h.form("/alerts/nope/resolve", h.analyst, nil).want(t, http.StatusNotFound)
	// Without a login nothing changes.
	r = h.form(path+"/resolve", "", nil)
	if r.StatusCode < 300 || r.StatusCode == http.StatusNotFound {
		t.Errorf("resolve without a login: status %d", r.StatusCode)
	}
	if a, _ := h.st.Alert(context.Background(), x.ID); a.Status != store.AlertOpen {
		t.Error("an unauthenticated post resolved the alert")
	}
}

// A filter that is not understood is shown by the filter form, which keeps
// what was typed; the list still applies the other filters.
func TestAlertsBadFilterKeepsTheOthers(t *testing.T) {
	h := newHarness(t)
	_, _, x, y := plantTwo(t, h)
	r := h.get("/alerts?severity=HIGH&since=yesterday", h.analyst).want(t, http.StatusBadRequest,
		`class="filters"`, `value="yesterday"`, "is not a time", "the list ignores this filter", x.Title)
	if strings.Contains(r.body, y.Title) {
		t.Error("the severity filter was dropped with the bad since")
	}
	h.get("/alerts?severity=bogus", h.analyst).want(t, http.StatusBadRequest, `class="filters"`, "want INFO, LOW", x.Title, y.Title)
}

// The assignee box offers the users, starts empty when nobody is assigned
// (not the viewer's name), and a name that is no user is assigned with a
// warning.
func TestAssignOffersUsers(t *testing.T) {
	h := newHarness(t)
	_, _, x, _ := plantTwo(t, h)
	carol := h.user("carol", "analyst")
	r := h.get("/alerts/"+x.ID, carol).want(t, http.StatusOK, `list="users"`, `<option value="carol">`, `value=""`)
	if strings.Contains(r.body, `name="assignee" type="text" list="users" autocomplete="off" value="carol"`) {
		t.Error("the assignee box is filled with the viewer while nobody is assigned")
	}
	r = h.form("/alerts/"+x.ID+"/assign", carol, url.Values{"assignee": {"dave"}}).want(t, http.StatusSeeOther)
	flash := ""
	for _, c := range r.Cookies() {
		if c.Name == flashCookie {
			b, _ := base64.RawURLEncoding.DecodeString(c.Value)
			flash = string(b)
		}
	}
	if !strings.Contains(flash, "dave is not a user") {
		t.Errorf("assigning a name that is no user says %q, want a warning", flash)
	}
	r = h.form("/alerts/"+x.ID+"/assign", carol, url.Values{"assignee": {"carol"}}).want(t, http.StatusSeeOther)
	for _, c := range r.Cookies() {
		if b, _ := base64.RawURLEncoding.DecodeString(c.Value); c.Name == flashCookie && strings.Contains(string(b), "not a user") {
			t.Errorf("assigning a user warns: %s", b)
		}
	}
}
