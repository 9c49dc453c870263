package cli

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// plantedLake pulls a day of the emulator's traffic with its planted
// scenarios into a new database, then removes the source (its events stay),
// so that a serve of it runs detection alone. It returns the database and
// the scenarios.
func plantedLake(t *testing.T, events int) (string, []emulator.Scenario) {
	t.Helper()
	em, err := emulator.Start(emulator.Options{Seed: 7, Events: events, Span: 24 * time.Hour, Scenarios: true,
		RateLimitPerMinute: -1, RateLimitPerHour: -1}, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	tok, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: io.Discard,
		db: filepath.Join(t.TempDir(), "planted.db"), logLevel: "warn"}
	ctx := context.Background()
	a, err := e.openWrite(ctx, engine.ReadWrite, keyIfEmpty)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.sources.Add(ctx, config.Source{Name: "planted", BaseURL: em.URL(), Lookback: config.Duration(48 * time.Hour)}, tok); err != nil {
		t.Fatal(err)
	}
	res, err := ingest.New(ingest.Config{Store: a.store, Secrets: a.secrets}).Pull(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range res {
		n += r.Inserted
	}
	if n != 3*events {
		t.Fatalf("pulled %d events, want %d", n, 3*events)
	}
	if _, err := a.sources.Remove(ctx, "planted"); err != nil {
		t.Fatal(err)
	}
	planted, err := em.Planted("")
	if err != nil {
		t.Fatal(err)
	}
	return e.db, planted
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// storedAlerts is a database's alerts as comparable lines (type, rule,
// dedup, the positions of their events), sorted, and the detect position.
func storedAlerts(t *testing.T, db string) ([]string, int64) {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rows, err := conn.Query(`SELECT a.type, a.rule_id, a.dedup, a.events,
		(SELECT group_concat(seq, ',') FROM (SELECT seq FROM alert_matches m WHERE m.alert_id = a.id ORDER BY seq))
		FROM alerts a`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var typ, rule, dedup string
		var n int
		var seqs sql.NullString
		if err := rows.Scan(&typ, &rule, &dedup, &n, &seqs); err != nil {
			t.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s %s %q %d [%s]", typ, rule, dedup, n, seqs.String))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	var pos int64
	conn.QueryRow(`SELECT position FROM stage_positions WHERE stage = 'detect'`).Scan(&pos)
	return out, pos
}

func maxSeq(t *testing.T, db string) int64 {
	t.Helper()
	conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var n int64
	if err := conn.QueryRow(`SELECT max(seq) FROM events`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// `opwatch serve` killed with SIGKILL at points of its detection, then
// started again until it has caught up, stores exactly the alerts and
// matches of a run that was never interrupted: the position, the alerts,
// their matches, the dedup groups and the rules' memory commit together.
func TestServeDetectExactAfterKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs opwatch serve as a child process several times")
	}
	lake, planted := plantedLake(t, 3000)
	if len(planted) == 0 {
		t.Fatal("the emulator planted no scenario")
	}
	last := maxSeq(t, lake)

	// The reference: detection run once, in-process, to the end.
	clean := filepath.Join(t.TempDir(), "clean.db")
	copyFile(t, lake, clean)
	ctx := context.Background()
	st, err := engine.Open(ctx, clean, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	rules, err := detect.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	stage := detect.NewStage(detect.StageConfig{Store: st, Rules: rules})
	for {
		res, err := stage.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if res.Events == 0 {
			break
		}
	}
	st.Close()
	want, pos := storedAlerts(t, clean)
	if pos != last || len(want) == 0 {
		t.Fatalf("the clean run reached %d of %d with %d alerts", pos, last, len(want))
	}

	// The same database served, killed whenever detection has moved on,
	// at a different place of its progress each time.
	db := filepath.Join(t.TempDir(), "killed.db")
	copyFile(t, lake, db)
	kills := 0
	for run := 0; run < 20; run++ {
		_, before := storedAlerts(t, db)
		if before == last {
			break
		}
		cmd := opwatchCmd(t, nil, "--db", db, "--log-level", "error", "serve")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill once the position has moved by a growing share of what is
		// left (from one batch on), or at the end; the last run finishes.
		target := before + 1 + int64(run)*(last-before)/6
		for {
			_, p := storedAlerts(t, db)
			if p >= target || p == last {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		cmd.Process.Kill()
		cmd.Wait()
		kills++
	}
	got, gotPos := storedAlerts(t, db)
	if gotPos != last {
		t.Fatalf("after %d kills detection reached %d of %d", kills, gotPos, last)
	}
	t.Logf("%d kills", kills)
	if kills < 2 {
		t.Logf("only %d kills: detection outran the test", kills)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after %d kills the alerts differ from an uninterrupted run (-want +got):\n%s", kills, diff)
	}

	// The planted attacks whose rule and count are fixed raise their alerts.
	byRule := map[string][]string{}
	for _, l := range got {
		var typ, rule string
		fmt.Sscanf(l, "%s %s", &typ, &rule)
		byRule[rule] = append(byRule[rule], l)
	}
	kinds := map[string]bool{}
	for _, p := range planted {
		kinds[p.Kind] = true
	}
	for kind, rule := range map[string]string{
		emulator.ScenarioBruteForce:        "Standard.BruteForceByIP",
		emulator.ScenarioMFABypass:         "OpWatch.OnePassword.MFA.Failures.Then.Success",
		emulator.ScenarioMFADisabledExport: "OpWatch.OnePassword.MFA.Disabled",
		emulator.ScenarioRevealBurst:       "OpWatch.OnePassword.Item.Reveal.Spike",
	} {
		if kinds[kind] && len(byRule[rule]) == 0 {
			t.Errorf("the planted %s raised no %s alert", kind, rule)
		}
	}
}
