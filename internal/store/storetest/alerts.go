package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

func testListAlerts(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c) // newest first is by creation time
	ctx := context.Background()
	at := c.Now().Add(-time.Hour)
	var pos int64
	commit := func(as ...store.Alert) {
		t.Helper()
		mustDetect(t, s, store.DetectCommit{From: pos, To: pos + 1, Alerts: as})
		pos++
		c.Advance(time.Second)
	}
	triaged := ruleAlert("A2", "R", "b", at)
	triaged.Status = store.AlertTriaged
	commit(ruleAlert("A1", "R", "a", at))
	commit(triaged, ruleAlert("B1", "S", "a", at))
	commit(store.Alert{ID: "E1", Type: store.AlertRuleError, RuleID: "S", Title: "S failed", Severity: "MEDIUM"})
	commit(store.Alert{ID: "X1", Type: store.AlertSystemError, Title: "limiter", Severity: "HIGH"})

	ids := func(f store.AlertFilter) []string {
		t.Helper()
		as, err := s.ListAlerts(ctx, f)
		if err != nil {
			t.Fatalf("ListAlerts(%+v): %v", f, err)
		}
		var out []string
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.AlertFilter
		want []string
	}{
		{store.AlertFilter{}, []string{"X1", "E1", "B1", "A2", "A1"}},
		{store.AlertFilter{Limit: 2}, []string{"X1", "E1"}},
		{store.AlertFilter{Status: store.AlertOpen}, []string{"X1", "E1", "B1", "A1"}},
		{store.AlertFilter{Status: store.AlertTriaged}, []string{"A2"}},
		{store.AlertFilter{RuleID: "S"}, []string{"E1", "B1"}},
		{store.AlertFilter{RuleID: "S", Type: store.AlertRule}, []string{"B1"}},
		{store.AlertFilter{Type: store.AlertSystemError}, []string{"X1"}},
		{store.AlertFilter{RuleID: "nope"}, nil},
	} {
		if got := ids(tc.f); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ListAlerts(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	// More than the default limit: 100 come back.
	var many []store.Alert
	for i := range 120 {
		many = append(many, store.Alert{ID: "M" + strings.Repeat("x", i), Type: store.AlertSystemError, Title: "m"})
	}
	commit(many...)
	if got := ids(store.AlertFilter{}); len(got) != 100 {
		t.Errorf("ListAlerts without a limit returned %d, want the default 100", len(got))
	}
}

// Every field of an alert comes back as stored; nil and empty
// destinations stay apart ([] suppresses delivery, nil routes by severity).
func testAlertRoundTrip(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	at := c.Now().Add(-time.Hour).Truncate(time.Microsecond)
	full := store.Alert{ID: "F", Type: store.AlertRule, RuleID: "OnePassword.Sensitive.Item", Dedup: "jane@example.com",
		Title: "Jane opened the vault key", Severity: "CRITICAL", Status: store.AlertOpen,
		Context: json.RawMessage(`{"user":"jane","items":["a","b"],"n":1.5}`), Description: "desc", Reference: "https://ref",
		Runbook: "do this", Destinations: []string{"pager", "slack"}, FirstEventAt: at, LastEventAt: at.Add(time.Minute),
		PeriodEnd: at.Add(time.Hour)}
	suppressed := store.Alert{ID: "N", Type: store.AlertRule, RuleID: "R", Title: "t", Severity: "LOW", Destinations: []string{}}
	bySeverity := store.Alert{ID: "D", Type: store.AlertRuleError, RuleID: "R", Title: "R failed", Severity: "MEDIUM"}
	mustDetect(t, s, store.DetectCommit{From: 0, To: 1, Alerts: []store.Alert{full, suppressed, bySeverity}})

	got := getAlert(t, s, "F")
	ctxJSON := got.Context
	got.Context, full.Context = nil, nil
	got.CreatedAt, got.UpdatedAt = time.Time{}, time.Time{}
	if !reflect.DeepEqual(got, full) {
		t.Errorf("alert round trip:\n got %+v\nwant %+v", got, full)
	}
	if !jsonEqual(string(ctxJSON), `{"user":"jane","items":["a","b"],"n":1.5}`) {
		t.Errorf("context = %s", ctxJSON)
	}
	if got := getAlert(t, s, "N"); got.Destinations == nil || len(got.Destinations) != 0 || got.Status != store.AlertOpen || got.Context != nil {
		t.Errorf("empty destinations came back as %#v (status %q, context %s)", got.Destinations, got.Status, got.Context)
	}
	if got := getAlert(t, s, "D"); got.Destinations != nil || !got.FirstEventAt.IsZero() || got.Type != store.AlertRuleError {
		t.Errorf("alert without destinations or events: %+v", got)
	}
	if evs, err := s.AlertEvents(ctx, "D", 0); err != nil || len(evs) != 0 {
		t.Errorf("AlertEvents of an alert without matches = %v, %v", evs, err)
	}
}

func testAlertNotFound(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	if _, err := s.Alert(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Alert(nope): err = %v, want ErrNotFound", err)
	}
	if _, err := s.AlertEvents(ctx, "nope", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AlertEvents(nope): err = %v, want ErrNotFound", err)
	}
	if as, err := s.ListAlerts(ctx, store.AlertFilter{}); err != nil || len(as) != 0 {
		t.Errorf("ListAlerts on an empty store = %v, %v", as, err)
	}
}
