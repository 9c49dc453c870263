package console

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/store"
)

func TestAPISources(t *testing.T) {
	h := newHarness(t)
	em := h.emulator()
	tok := h.issue(emulator.TokenOptions{Features: []string{"signinattempts", "auditevents"}, ExpiresIn: 30 * 24 * time.Hour})

	// Refusals first: nothing stored.
	var e struct{ Error string }
	h.api("POST", "/api/v1/sources", h.admin, map[string]any{"name": "acme", "token": "nope", "base_url": em.URL()}, nil).
		want(t, http.StatusUnprocessableEntity, "not a 1Password Events API token")
	h.api("POST", "/api/v1/sources", h.analyst, map[string]any{"name": "acme", "token": tok, "base_url": em.URL()}, nil).want(t, http.StatusForbidden)
	h.api("POST", "/api/v1/sources", h.admin, map[string]any{"name": "acme", "tokn": tok}, &e).want(t, http.StatusBadRequest, "unknown field")
	h.api("POST", "/api/v1/sources", h.admin, map[string]any{"name": "acme", "token": tok, "base_url": em.URL(), "no_events_alarm": "5m"}, nil).
		want(t, http.StatusBadRequest, "outside 15m to 30d")
	if srcs, _ := h.st.ListSources(context.Background()); len(srcs) != 0 {
		t.Fatalf("refused requests stored %d sources", len(srcs))
	}

	var created sourceCreated
	h.api("POST", "/api/v1/sources", h.admin, map[string]any{"name": "acme", "token": tok, "base_url": em.URL(), "no_events_alarm": "2h"}, &created).
		want(t, http.StatusCreated, `"last4": "`+last4(tok)+`"`, "lacks Item usage events")
	s := created.Source
	if s.NoEventsAlarm != "2h" || len(s.Streams) != 2 || s.Token.ExpiresAt.IsZero() || len(created.Check.Features) != 2 {
		t.Errorf("created %+v, check %+v", s, created.Check)
	}

	var page list[sourceJSON]
	h.api("GET", "/api/v1/sources", h.analyst, nil, &page).want(t, http.StatusOK)
	if len(page.Items) != 1 || page.Items[0].ID != s.ID {
		t.Errorf("list %+v", page)
	}
	var one sourceJSON
	h.api("GET", "/api/v1/sources/"+s.ID, h.analyst, nil, &one).want(t, http.StatusOK)
	h.api("GET", "/api/v1/sources/nope", h.analyst, nil, nil).want(t, http.StatusNotFound, `"error"`)

	// Change: the alarm off, collect only sign-in attempts; rename.
	var changed sourceChanged
	h.api("PATCH", "/api/v1/sources/"+s.ID, h.admin, map[string]any{"no_events_alarm": "off", "log_types": []string{"signinattempts"}, "name": "acme-eu"}, &changed).
		want(t, http.StatusOK)
	if changed.Source.NoEventsAlarm != "off" || changed.Source.Name != "acme-eu" {
		t.Errorf("changed %+v", changed.Source)
	}
	for _, st := range changed.Source.Streams {
		if st.Enabled != (st.LogType == "OnePassword.SignInAttempt") {
			t.Errorf("stream %s enabled=%v after log_types=[signinattempts]", st.LogType, st.Enabled)
		}
	}
	h.api("PATCH", "/api/v1/sources/"+s.ID, h.admin, map[string]any{"token": "  "}, nil).want(t, http.StatusBadRequest, "new token")
	h.api("PATCH", "/api/v1/sources/"+s.ID, h.admin, map[string]any{"interval": "1s"}, nil).want(t, http.StatusUnprocessableEntity, "between 10s and 1h")
	// A new token is checked with 1Password first.
	revoked := h.issue(emulator.TokenOptions{})
	em.Revoke(revoked)
	h.api("PATCH", "/api/v1/sources/"+s.ID, h.admin, map[string]any{"token": revoked}, nil).want(t, http.StatusUnprocessableEntity, "refused")
	fresh := h.issue(emulator.TokenOptions{})
	h.api("PATCH", "/api/v1/sources/"+s.ID, h.admin, map[string]any{"token": fresh}, &changed).want(t, http.StatusOK, `"resumed": true`, `"last4": "`+last4(fresh)+`"`)

	// Streams: pause and resume one.
	var sts list[streamJSON]
	h.api("GET", "/api/v1/streams?source="+s.ID, h.analyst, nil, &sts).want(t, http.StatusOK)
	if len(sts.Items) != 2 {
		t.Fatalf("streams %+v", sts)
	}
	var audit streamJSON
	for _, st := range sts.Items {
		if st.LogType == "OnePassword.AuditEvent" {
			audit = st
		}
	}
	var st streamJSON
	h.api("PATCH", "/api/v1/streams/"+itoa(int(audit.ID)), h.admin, map[string]any{"enabled": true}, &st).want(t, http.StatusOK)
	if !st.Enabled {
		t.Error("the stream was not resumed")
	}
	h.api("PATCH", "/api/v1/streams/"+itoa(int(audit.ID)), h.analyst, map[string]any{"enabled": false}, nil).want(t, http.StatusForbidden)
	h.api("PATCH", "/api/v1/streams/"+itoa(int(audit.ID)), h.admin, map[string]any{}, nil).want(t, http.StatusBadRequest, "enabled")
	h.api("PATCH", "/api/v1/streams/99999", h.admin, map[string]any{"enabled": true}, nil).want(t, http.StatusNotFound)

	h.api("POST", "/api/v1/sources/"+s.ID+"/reset", h.admin, nil, nil).want(t, http.StatusOK, `"streams_due": 2`)
	h.plantEvents(store.Source{ID: s.ID, Name: "acme-eu"}, "OnePassword.SignInAttempt", 4, "a@example.com", "203.0.113.1")
	var hourly hourlyJSON
	h.api("GET", "/api/v1/sources/"+s.ID+"/events-per-hour?hours=3", h.analyst, nil, &hourly).want(t, http.StatusOK)
	if n := hourly.LogTypes["OnePassword.SignInAttempt"]; len(hourly.Hours) != 3 || n[0]+n[1]+n[2] != 4 {
		t.Errorf("events per hour %+v", hourly)
	}
	h.api("GET", "/api/v1/sources/"+s.ID+"/quarantine", h.analyst, nil, nil).want(t, http.StatusOK, `"items": []`)
	var ov overviewJSON
	h.api("GET", "/api/v1/overview", h.analyst, nil, &ov).want(t, http.StatusOK)
	if ov.EventsLast24h["OnePassword.SignInAttempt"] != 4 || ov.Sources != 1 || ov.Detect.Behind != 4 {
		t.Errorf("overview %+v", ov)
	}

	h.api("DELETE", "/api/v1/sources/"+s.ID, h.analyst, nil, nil).want(t, http.StatusForbidden)
	h.api("DELETE", "/api/v1/sources/"+s.ID, h.admin, nil, nil).want(t, http.StatusNoContent)
	h.api("DELETE", "/api/v1/sources/"+s.ID, h.admin, nil, nil).want(t, http.StatusNotFound)
}

func TestAPIAlerts(t *testing.T) {
	h := newHarness(t)
	a, _, x, y := plantTwo(t, h)
	var page list[alertJSON]
	h.api("GET", "/api/v1/alerts?limit=1", h.analyst, nil, &page).want(t, http.StatusOK)
	if len(page.Items) != 1 || page.Items[0].ID != y.ID || page.NextCursor == "" {
		t.Fatalf("first page %+v", page)
	}
	var next list[alertJSON]
	h.api("GET", "/api/v1/alerts?limit=1&cursor="+page.NextCursor, h.analyst, nil, &next).want(t, http.StatusOK)
	if len(next.Items) != 1 || next.Items[0].ID != x.ID || next.NextCursor != "" {
		t.Fatalf("second page %+v", next)
	}
	h.api("GET", "/api/v1/alerts?source="+a.ID+"&severity=HIGH&status=open&type=rule&rule=Standard.BruteForceByIP&since=1h", h.analyst, nil, &page).want(t, http.StatusOK)
	if len(page.Items) != 1 || page.Items[0].ID != x.ID {
		t.Errorf("filtered %+v", page)
	}
	h.api("GET", "/api/v1/alerts?cursor=garbage!", h.analyst, nil, nil).want(t, http.StatusBadRequest, "cursor")
	h.api("GET", "/api/v1/alerts?limit=0", h.analyst, nil, nil).want(t, http.StatusBadRequest, "limit")

	var d alertDetailJSON
	h.api("GET", "/api/v1/alerts/"+x.ID+"?events=2", h.analyst, nil, &d).want(t, http.StatusOK)
	if d.Alert.Title != x.Title || len(d.Events) != 2 || d.Events[0].Emails[0] != "mallory@example.com" || len(d.History) != 1 || string(d.Alert.Context) == "" {
		t.Errorf("detail %+v", d)
	}
	var got alertJSON
	h.api("POST", "/api/v1/alerts/"+x.ID+"/assign", h.analyst, map[string]string{"assignee": "carol"}, &got).want(t, http.StatusOK)
	h.api("POST", "/api/v1/alerts/"+x.ID+"/resolve", h.analyst, map[string]string{"comment": "benign"}, &got).want(t, http.StatusOK)
	if got.Status != store.AlertResolved || got.Assignee != "carol" {
		t.Errorf("after resolve %+v", got)
	}
	h.api("POST", "/api/v1/alerts/"+x.ID+"/resolve", h.analyst, nil, nil).want(t, http.StatusConflict, "does not allow")
	h.api("POST", "/api/v1/alerts/"+x.ID+"/reopen", h.analyst, nil, &got).want(t, http.StatusOK)
	h.api("GET", "/api/v1/alerts/"+x.ID, h.analyst, nil, &d).want(t, http.StatusOK, "token:analyst-bot", "benign")
	h.api("POST", "/api/v1/alerts/"+x.ID+"/comment", h.analyst, map[string]string{}, nil).want(t, http.StatusBadRequest, "empty")
	h.api("POST", "/api/v1/alerts/nope/triage", h.analyst, nil, nil).want(t, http.StatusNotFound)
}

func TestAPIDestinations(t *testing.T) {
	h := newHarness(t)
	h.secret(slackURL)
	var v destView
	body := map[string]any{"name": "sec", "type": "slack", "min_severity": "HIGH", "secret": map[string]string{"url": slackURL}}
	h.api("POST", "/api/v1/destinations", h.analyst, body, nil).want(t, http.StatusForbidden)
	h.api("POST", "/api/v1/destinations", h.admin, body, &v).want(t, http.StatusCreated, `"url": "…1234"`, "https://hooks.slack.com/…")
	if v.MinSeverity != "HIGH" || !v.Enabled {
		t.Errorf("created %+v", v)
	}
	h.api("POST", "/api/v1/destinations", h.admin, body, nil).want(t, http.StatusConflict, "exists")
	h.api("POST", "/api/v1/destinations", h.admin, map[string]any{"name": "x", "type": "slack", "secret": map[string]string{"url": "http://example.com/hook"}}, nil).
		want(t, http.StatusUnprocessableEntity, "Slack")
	var page list[destView]
	h.api("GET", "/api/v1/destinations", h.analyst, nil, &page).want(t, http.StatusOK)
	if len(page.Items) != 1 {
		t.Errorf("list %+v", page)
	}
	off := false
	h.api("PATCH", "/api/v1/destinations/"+v.ID, h.admin, destInput{Enabled: &off}, &v).want(t, http.StatusOK, `"url": "…1234"`)
	if v.Enabled {
		t.Error("not disabled")
	}
	h.sender.res = alert.Result{Status: 200, Answer: "ok"}
	var tr testResult
	h.api("POST", "/api/v1/destinations/"+v.ID+"/test", h.admin, nil, &tr).want(t, http.StatusOK)
	if !tr.Delivered || tr.Status != 200 || h.sender.sent[0].Secret.URL != slackURL {
		t.Errorf("test %+v", tr)
	}
	h.api("GET", "/api/v1/destinations/"+v.ID, h.analyst, nil, nil).want(t, http.StatusOK)
	h.api("DELETE", "/api/v1/destinations/"+v.ID, h.admin, nil, nil).want(t, http.StatusNoContent)
	h.api("GET", "/api/v1/destinations/"+v.ID, h.analyst, nil, nil).want(t, http.StatusNotFound)
}

func TestAPIDetectionsSearchSchemas(t *testing.T) {
	dir, set := userRules(t)
	h := newHarness(t, func(d *Deps) { d.Rules, d.RuleDirs = set, []string{dir} })
	var packs list[packView]
	h.api("GET", "/api/v1/packs", h.analyst, nil, &packs).want(t, http.StatusOK)
	if len(packs.Items) == 0 {
		t.Error("no packs")
	}
	var rules list[ruleView]
	h.api("GET", "/api/v1/rules?severity=LOW&q=acme", h.analyst, nil, &rules).want(t, http.StatusOK)
	if len(rules.Items) != 1 || rules.Items[0].ID != "Acme.Admin.SignIn" {
		t.Errorf("rules %+v", rules)
	}
	var all, second list[ruleView]
	h.api("GET", "/api/v1/rules?limit=5", h.analyst, nil, &all).want(t, http.StatusOK)
	h.api("GET", "/api/v1/rules?limit=5&cursor="+all.NextCursor, h.analyst, nil, &second).want(t, http.StatusOK)
	if len(all.Items) != 5 || len(second.Items) != 5 || second.Items[0].ID <= all.Items[4].ID {
		t.Errorf("pages %v / %v", all.Items, second.Items)
	}
	var rd ruleDetailJSON
	h.api("GET", "/api/v1/rules/Acme.Admin.SignIn", h.analyst, nil, &rd).want(t, http.StatusOK)
	if !strings.Contains(rd.Code, "def rule(event)") || !strings.Contains(rd.YAML, "RuleID: Acme.Admin.SignIn") {
		t.Errorf("detail %+v", rd)
	}
	var run testRunJSON
	h.api("POST", "/api/v1/rules/Acme.Admin.SignIn/test", h.analyst, nil, &run).want(t, http.StatusOK)
	if run.Passed != 1 || run.Failed != 1 {
		t.Errorf("test run %+v", run)
	}
	h.api("GET", "/api/v1/lookups", h.analyst, nil, nil).want(t, http.StatusOK, `"items": []`)
	var sch list[schemaView]
	h.api("GET", "/api/v1/schemas", h.analyst, nil, &sch).want(t, http.StatusOK)
	if len(sch.Items) != 3 || len(sch.Items[0].Fields) < 10 {
		t.Errorf("schemas %+v", sch)
	}

	var res sqlResult
	h.api("POST", "/api/v1/query", h.analyst, map[string]any{"sql": "SELECT 1 AS one, 'x' AS two UNION ALL SELECT 2, 'y'", "limit": 1}, &res).want(t, http.StatusOK)
	if len(res.Columns) != 2 || len(res.Rows) != 1 || !res.Truncated {
		t.Errorf("query %+v", res)
	}
	r := h.api("POST", "/api/v1/query?format=csv", h.analyst, map[string]any{"sql": "SELECT 1 AS one"}, nil).want(t, http.StatusOK)
	if r.body != "one\n1\n" {
		t.Errorf("CSV %q", r.body)
	}
	h.api("POST", "/api/v1/query", h.analyst, map[string]any{"sql": "DROP TABLE events"}, nil).want(t, http.StatusBadRequest, "read-only")
	h.api("GET", "/api/v1/search?indicator=a@example.com", h.analyst, nil, nil).want(t, http.StatusNotImplemented, "not available")
	h.api("GET", "/api/v1/search", h.analyst, nil, nil).want(t, http.StatusBadRequest, "indicator")
}

func TestAPIUsersAndTokens(t *testing.T) {
	h := newHarness(t)
	var uc userCreated
	h.api("POST", "/api/v1/users", h.analyst, userCreate{Name: "bob", Role: "analyst"}, nil).want(t, http.StatusForbidden)
	h.api("POST", "/api/v1/users", h.admin, userCreate{Name: "bob", Role: "analyst"}, &uc).want(t, http.StatusCreated)
	if uc.Password == "" || uc.User.Name != "bob" {
		t.Fatalf("created %+v", uc)
	}
	h.secret(uc.Password)
	h.login("bob", uc.Password)
	var users list[userView]
	h.api("GET", "/api/v1/users", h.admin, nil, &users).want(t, http.StatusOK, "bob")
	var pw passwordJSON
	h.api("POST", "/api/v1/users/bob/reset-password", h.admin, nil, &pw).want(t, http.StatusOK)
	h.secret(pw.Password)
	h.login("bob", pw.Password)
	h.api("POST", "/api/v1/users", h.admin, userCreate{Name: "x", Role: "boss", Password: "long enough password"}, nil).want(t, http.StatusUnprocessableEntity, "role")
	h.api("DELETE", "/api/v1/users/bob", h.admin, nil, nil).want(t, http.StatusNoContent)
	h.api("DELETE", "/api/v1/users/bob", h.admin, nil, nil).want(t, http.StatusNotFound)

	var tc tokenCreated
	h.api("POST", "/api/v1/tokens", h.admin, tokenCreate{Name: "ci", Role: "admin", TTL: "1d"}, &tc).want(t, http.StatusCreated)
	h.secret(tc.Plain)
	if !strings.HasPrefix(tc.Plain, "opw_") || tc.Token.ExpiresAt.IsZero() || tc.Token.CreatedBy != "token:admin-bot" {
		t.Errorf("token %+v", tc.Token)
	}
	h.api("GET", "/api/v1/users", tc.Plain, nil, nil).want(t, http.StatusOK)
	var toks list[tokenView]
	h.api("GET", "/api/v1/tokens", h.admin, nil, &toks).want(t, http.StatusOK, `"last4": "`+last4(tc.Plain)+`"`)
	h.api("DELETE", "/api/v1/tokens/"+tc.Token.ID, h.admin, nil, nil).want(t, http.StatusNoContent)
	h.api("GET", "/api/v1/users", tc.Plain, nil, nil).want(t, http.StatusUnauthorized)
	h.api("POST", "/api/v1/tokens", h.admin, tokenCreate{Name: "z", Role: "analyst", TTL: "forever"}, nil).want(t, http.StatusBadRequest, "lifetime")
}
