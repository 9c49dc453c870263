package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// seededAlerts is seededLake plus an alert on its hostile sign-in, whose
// title and dedup carry the attacker's text as a rule would copy it.
func seededAlerts(t *testing.T) (db, id string) {
	t.Helper()
	db = seededLake(t)
	ctx := context.Background()
	st, err := engine.Open(ctx, db, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	id = store.NewID()
	err = st.CommitDetect(ctx, store.DetectCommit{Stage: "detect", From: 0, To: 1,
		Alerts: []store.Alert{{ID: id, Type: store.AlertRule, RuleID: "Test.Hostile", Dedup: "Eve\x1b[2J\rAdmin",
			Title: "=HYPERLINK sign-in by Eve\x1b[2J\rAdmin", Severity: "HIGH", Status: store.AlertOpen,
			Context: json.RawMessage(`{"user":"Eve\u001b]0;pwned\u0007"}`), Runbook: "Call Eve.",
			FirstEventAt: at, LastEventAt: at, PeriodEnd: at.Add(time.Hour)}},
		Matches: []store.AlertMatch{{AlertID: id, Seq: 1, EventTime: at}}})
	if err != nil {
		t.Fatal(err)
	}
	return db, id
}

func noControl(t *testing.T, what, out string) {
	t.Helper()
	for _, c := range []string{"\x1b", "\x07", "\r"} {
		if strings.Contains(out, c) {
			t.Errorf("%s printed the control character %q:\n%s", what, c, out)
		}
	}
}

func TestAlertsListAndShow(t *testing.T) {
	db, id := seededAlerts(t)
	out, errOut, code := runCLI(t, nil, "", "alerts", "list", "--db", db)
	if code != 0 {
		t.Fatalf("alerts list: exit %d: %s", code, errOut)
	}
	noControl(t, "alerts list", out)
	if !strings.Contains(out, id) || !strings.Contains(out, "Test.Hostile") || !strings.Contains(out, `\x1b[2J`) {
		t.Errorf("alerts list does not show the alert, escaped:\n%s", out)
	}

	out, _, code = runCLI(t, nil, "", "alerts", "list", "--format", "json", "--status", "open", "--db", db)
	if code != 0 {
		t.Fatalf("alerts list --format json: exit %d", code)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &got); err != nil {
		t.Fatalf("alerts list --format json: %v\n%s", err, out)
	}
	for _, k := range []string{"id", "rule_id", "title", "severity", "status", "type", "dedup", "events", "created_at", "updated_at"} {
		if _, ok := got[k]; !ok {
			t.Errorf("the JSON alert lacks %q: %s", k, out)
		}
	}
	if got["id"] != id || got["events"] != float64(1) || got["title"] != "=HYPERLINK sign-in by Eve\x1b[2J\rAdmin" {
		t.Errorf("JSON alert = %v; want its id, 1 event and the title exactly (JSON escapes it)", got)
	}

	out, _, _ = runCLI(t, nil, "", "alerts", "list", "--format", "csv", "--db", db)
	if !strings.Contains(out, "'=HYPERLINK") {
		t.Errorf("CSV does not neutralise a formula in the title:\n%s", out)
	}
	out, _, _ = runCLI(t, nil, "", "alerts", "list", "--status", "resolved", "--db", db)
	if strings.TrimSpace(out) != "No alerts." {
		t.Errorf("alerts list --status resolved = %q, want none", out)
	}
	if _, errOut, code := runCLI(t, nil, "", "alerts", "list", "--status", "done", "--db", db); code != 2 || !strings.Contains(errOut, "open, triaged, resolved") {
		t.Errorf("an unknown status: exit %d, %s; want 2 and the statuses", code, errOut)
	}

	// Flags after the ID, as users type them.
	out, errOut, code = runCLI(t, nil, "", "alerts", "show", id, "--db", db)
	if code != 0 {
		t.Fatalf("alerts show: exit %d: %s", code, errOut)
	}
	noControl(t, "alerts show", out)
	for _, want := range []string{"Test.Hostile", "HIGH", "open", "Call Eve.", "Matched events (1 of 1)", "EVT1", `pwned\u0007`} {
		if !strings.Contains(out, want) {
			t.Errorf("alerts show lacks %q:\n%s", want, out)
		}
	}
	out, _, _ = runCLI(t, nil, "", "alerts", "show", "--format", "json", id, "--db", db)
	var shown struct {
		ID      string `json:"id"`
		Matches []struct {
			Seq   int64           `json:"seq"`
			Event json.RawMessage `json:"event"`
		} `json:"matches"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.ID != id || len(shown.Matches) != 1 || !strings.Contains(string(shown.Matches[0].Event), "EVT1") {
		t.Errorf("alerts show --format json = %s (%v); want the alert and its event", out, err)
	}
	if _, errOut, code := runCLI(t, nil, "", "alerts", "show", "deadbeef", "--db", db); code != 1 || !strings.Contains(errOut, "alerts list") {
		t.Errorf("an unknown alert: exit %d, %s; want 1 and a pointer to alerts list", code, errOut)
	}
	if _, errOut, code := runCLI(t, nil, "", "alerts", "show", "nope", "--db", db); code != 2 || !strings.Contains(errOut, "at least 8 characters") {
		t.Errorf("a short alert id: exit %d, %s; want 2 and the 8 characters it takes", code, errOut)
	}
	// Read-only: listing a database that does not exist creates nothing.
	missing := filepath.Join(t.TempDir(), "none.db")
	if _, _, code := runCLI(t, nil, "", "alerts", "list", "--db", missing); code == 0 {
		t.Error("alerts list of a missing database succeeded")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("alerts list created a database")
	}
}

// rules replay reports what a rule would have raised over stored history
// and raises nothing.
func TestRulesReplay(t *testing.T) {
	db, _ := seededAlerts(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "success.yml"), []byte(`AnalysisType: rule
RuleID: Mine.Success
Filename: success.star
Enabled: false
LogTypes: [OnePassword.SignInAttempt]
Severity: Low
`), 0o600)
	os.WriteFile(filepath.Join(dir, "success.star"), []byte(`
def rule(event):
    return event.get("category") == "success"

def title(event):
    return "sign-in by " + event.deep_get("target_user", "name", default="")
`), 0o600)
	out, errOut, code := runCLI(t, nil, "", "rules", "replay", "--rule", "Mine.Success", "--path", dir, "--since", "36500d", "--db", db)
	if code != 0 {
		t.Fatalf("rules replay: exit %d: %s", code, errOut)
	}
	noControl(t, "rules replay", out)
	if !strings.Contains(out, "would have raised 1 alert(s) (1 matches)") || !strings.Contains(out, "disabled") || !strings.Contains(out, "sign-in by Eve") {
		t.Errorf("rules replay output:\n%s", out)
	}
	// Nothing was raised: the database holds the seeded alert only.
	out, _, _ = runCLI(t, nil, "", "alerts", "list", "--format", "json", "--db", db)
	if n := strings.Count(out, "\n"); n != 1 {
		t.Errorf("after a replay the database holds %d alerts, want the 1 seeded:\n%s", n, out)
	}
	// Events before --since are not evaluated.
	out, _, _ = runCLI(t, nil, "", "rules", "replay", "--rule", "Mine.Success", "--path", dir, "--since", "1h", "--db", db)
	if !strings.Contains(out, "over 0 events") {
		t.Errorf("a replay since 1h read the 2026-11-30 event:\n%s", out)
	}
	if _, errOut, code := runCLI(t, nil, "", "rules", "replay", "--rule", "No.Such", "--db", db); code != 1 || !strings.Contains(errOut, "rules list") {
		t.Errorf("an unknown rule: exit %d, %s", code, errOut)
	}
}
