package cli

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

func TestAlertsTriage(t *testing.T) {
	db, id := seededAlerts(t)
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db, "USER": "alice", "OPWATCH_LOG_LEVEL": "warn"}}
	cli := h.run
	prefix := id[:8]

	// An unambiguous prefix of 8 characters names the alert, for every verb.
	out := cli(0, "", "alerts", "triage", prefix, "looking", "into", "it")
	if !strings.Contains(out, "Alert "+prefix+": open → triaged, by alice") {
		t.Errorf("triage: %s", out)
	}
	cli(1, "", "alerts", "triage", prefix) // triaged already
	out = cli(0, "", "alerts", "assign", prefix, "bob", "--as", "carol")
	if !strings.Contains(out, "assigned to bob by carol") {
		t.Errorf("assign: %s", out)
	}
	cli(0, "", "alerts", "comment", "--comment", "Eve's laptop, reimaged", prefix)
	out = cli(0, "", "alerts", "resolve", id, "--comment", "false positive")
	if !strings.Contains(out, "triaged → resolved") || !strings.Contains(out, "starts fresh") {
		t.Errorf("resolve: %s", out)
	}
	out = cli(1, "", "alerts", "resolve", prefix)
	if !strings.Contains(out, "is resolved: it is resolved already") {
		t.Errorf("resolve twice: %s", out)
	}
	cli(1, "", "alerts", "triage", prefix)
	cli(0, "", "alerts", "reopen", strings.ToUpper(prefix))
	cli(0, "", "alerts", "assign", prefix, "--unassign")

	// Mistakes are refused before anything changes.
	for _, bad := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"triage", id[:7]}, 2, "at least 8 characters"},
		{[]string{"triage", "zzzzzzzzz"}, 1, "hex digits"},
		{[]string{"triage", "00000000"}, 1, "no alert"},
		{[]string{"triage"}, 2, "missing alert ID"},
		{[]string{"comment", prefix}, 2, "give the comment's text"},
		{[]string{"comment", prefix, "x", "--comment", "y"}, 2, "give the comment once"},
		{[]string{"assign", prefix}, 2, "give the name"},
		{[]string{"assign", prefix, "bob", "--unassign"}, 2, "not both"},
		{[]string{"assign", prefix, "bob", "--comment", "x"}, 2, "assign takes no --comment"},
		{[]string{"assign", prefix, "bob", "eve"}, 2, "quote a name"},
		{[]string{"triage", prefix, "--as", "x\x1b[2J"}, 2, "no control characters"},
	} {
		out := cli(bad.code, "", append([]string{"alerts"}, bad.args...)...)
		if !strings.Contains(out, bad.want) {
			t.Errorf("alerts %q: want %q in:\n%s", bad.args, bad.want, out)
		}
	}
	delete(h.vars, "USER")
	out = cli(2, "", "alerts", "triage", prefix)
	if !strings.Contains(out, "--as NAME") {
		t.Errorf("without $USER: %s", out)
	}
	h.vars["USER"] = "alice"

	// show tells the story, oldest first.
	out = cli(0, "", "alerts", "show", prefix)
	noControl(t, "alerts show", out)
	wantOrder := []string{"Status", "open", "Assignee", "none", "History:", "created (open)", "alice", "triage (open → triaged)",
		"looking into it", "carol", "assigned to bob", "alice", "commented", "Eve's laptop, reimaged", "resolve (triaged → resolved)",
		"false positive", "reopen (resolved → open)", "unassigned"}
	at := 0
	for _, w := range wantOrder {
		i := strings.Index(out[at:], w)
		if i < 0 {
			t.Fatalf("alerts show lacks %q (in order) in:\n%s", w, out)
		}
		at += i + len(w)
	}
	out = cli(0, "", "alerts", "show", prefix, "--format", "json")
	var shown struct {
		Assignee string `json:"assignee"`
		History  []struct {
			Actor, Action, Comment string
		} `json:"history"`
		Notifications []json.RawMessage `json:"notifications"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.History) != 7 || shown.History[1].Actor != "alice" ||
		shown.History[1].Comment != "looking into it" || shown.Notifications == nil {
		t.Errorf("alerts show --format json: %v\n%s", err, out)
	}

	// list filters by unresolved and severity.
	out = cli(0, "", "alerts", "list", "--status", "unresolved", "--severity", "high")
	if !strings.Contains(out, id) {
		t.Errorf("unresolved HIGH does not list the reopened alert:\n%s", out)
	}
	if out = cli(0, "", "alerts", "list", "--severity", "LOW"); strings.Contains(out, id) {
		t.Errorf("--severity LOW lists a HIGH alert:\n%s", out)
	}
	cli(0, "", "alerts", "resolve", prefix)
	if out = cli(0, "", "alerts", "list", "--status", "unresolved"); strings.Contains(out, id) {
		t.Errorf("unresolved lists a resolved alert:\n%s", out)
	}
	cli(2, "", "alerts", "list", "--severity", "urgent")
	cli(2, "", "alerts", "list", "--status", "closed")
}

// Two alerts sharing the first 8 characters: the prefix is refused as
// ambiguous, a longer one works.
func TestAlertsAmbiguousPrefix(t *testing.T) {
	db, id := seededAlerts(t)
	ctx := context.Background()
	st, err := engine.Open(ctx, db, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	twin := id[:8] + "-ffff-4fff-8fff-ffffffffffff"
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	err = st.(store.Health).CreateSystemAlert(ctx, store.Alert{ID: twin, Type: store.AlertSystemError, Dedup: "test/twin",
		Title: "twin", Severity: "LOW", Status: store.AlertOpen, FirstEventAt: at, LastEventAt: at}, nil)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db, "USER": "alice", "OPWATCH_LOG_LEVEL": "warn"}}
	out := h.run(2, "", "alerts", "show", id[:8])
	if !strings.Contains(out, "ambiguous") {
		t.Errorf("an ambiguous prefix: %s", out)
	}
	h.run(0, "", "alerts", "triage", twin[:13])
	if out := h.run(0, "", "alerts", "show", id[:13]); !strings.Contains(out, "open") {
		t.Errorf("show by a longer prefix: %s", out)
	}
}
