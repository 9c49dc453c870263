package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// lakeReport splits the stored bytes by raw bytes and projects the rate of
// the window over each log type's period.
func TestLakeReport(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	st := store.LakeStats{StoredBytes: 10000, Groups: []store.LakeGroup{
		{LogType: "A", SourceID: "s1", SourceLabel: "old-name", Events: 100, RawBytes: 3000, Oldest: now.Add(-30 * 24 * time.Hour), Newest: now, Recent: 70},
		{LogType: "B", SourceID: "s2", SourceLabel: "gone", Events: 10, RawBytes: 1000, Oldest: now.Add(-24 * time.Hour), Newest: now, Recent: 10},
	}, Quarantine: store.LakeGroup{Events: 2, RawBytes: 1000, Oldest: now}}
	day := 24 * time.Hour
	r := lakeReport(st, map[string]string{"s1": "acme"}, map[string]time.Duration{"A": 365 * day, "B": 0}, 30*day, now)
	a, b := r.Groups[0], r.Groups[1]
	if a.Source != "acme" || b.Source != "gone" {
		t.Errorf("sources %q, %q: want the source's name, else the events' label", a.Source, b.Source)
	}
	if a.Bytes != 6000 || b.Bytes != 2000 || r.Quarantine.Bytes != 2000 {
		t.Errorf("bytes %d, %d, quarantine %d; want 6000, 2000, 2000 (shares of 10000 by raw bytes)", a.Bytes, b.Bytes, r.Quarantine.Bytes)
	}
	// 70 events in 7 days is 10 a day: 3650 in 365 days, at 60 bytes each.
	if r.RateDays != 7 || a.ProjectedEvents == nil || *a.ProjectedEvents != 3650 || *a.ProjectedBytes != 219000 {
		t.Errorf("projection of A over %vd: %v events, %v bytes; want 3650 and 219000", r.RateDays, a.ProjectedEvents, a.ProjectedBytes)
	}
	if b.ProjectedEvents != nil || b.RetentionDays != 0 || r.Total.ProjectedEvents != nil {
		t.Errorf("B is kept forever: projected %v, retention %v, total %v; want none", b.ProjectedEvents, b.RetentionDays, r.Total.ProjectedEvents)
	}
	if r.Total.Events != 110 || !r.Total.Oldest.Equal(now.Add(-30*day)) || r.Quarantine.RetentionDays != 30 {
		t.Errorf("total %+v, quarantine %+v", r.Total, r.Quarantine)
	}
	// A lake two days old has its rate over two days.
	young := store.LakeStats{Groups: []store.LakeGroup{{LogType: "A", Events: 20, RawBytes: 10, Oldest: now.Add(-2 * day), Newest: now, Recent: 20}}}
	r = lakeReport(young, nil, map[string]time.Duration{"A": 10 * day}, 0, now)
	if r.RateDays != 2 || *r.Groups[0].ProjectedEvents != 100 || *r.Total.ProjectedEvents != 100 {
		t.Errorf("a young lake: rate over %vd, projected %d; want 2d and 100", r.RateDays, *r.Groups[0].ProjectedEvents)
	}
}

func TestLakeStatsCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lake.db")
	lakeWithSource(t, path, "acme")
	ctx := context.Background()
	st, err := engine.Open(ctx, path, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	src, err := st.SourceByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateSource(ctx, store.SourceChange{Source: src, LogTypes: []string{"OnePassword.ItemUsage"}}); err != nil {
		t.Fatal(err)
	}
	sts, err := st.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var events []store.Event
	for i := range 30 {
		at := now.Add(-time.Duration(i) * 12 * time.Hour)
		events = append(events, store.Event{UUID: fmt.Sprint("u", i), EventTime: at, ParseTime: at, SourceLabel: "acme",
			Raw: []byte(`{"uuid":"u` + fmt.Sprint(i) + `"}`)})
	}
	if _, err := st.InsertEvents(ctx, sts[0].ID, events, []store.Quarantined{{Raw: []byte("x"), Reason: "bad", At: now}}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	cfg := filepath.Join(t.TempDir(), "opwatch.yaml")
	if err := os.WriteFile(cfg, []byte("retention:\n  log_types: {itemusages: 90d}\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	out, errOut, code := runCLI(t, nil, "", "lake", "stats", "--db", path, "--config", cfg)
	if code != 0 {
		t.Fatalf("lake stats: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{"OnePassword.ItemUsage  acme", "  30  ", "  90d  ", "Quarantine: 1 events", "kept 30d", "The database holds"} {
		if !strings.Contains(out, want) {
			t.Errorf("lake stats lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "forever") {
		t.Errorf("lake stats shows a period of forever, none was given:\n%s", out)
	}
	out, errOut, code = runCLI(t, nil, "", "lake", "stats", "--db", path, "--format", "json", "--retention", "off")
	var r lakeReportJSON
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("lake stats --format json: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	g := r.Groups[0]
	// 15 events in the last 7 days (one every 12 hours).
	if len(r.Groups) != 1 || g.Events != 30 || g.Recent != 14 && g.Recent != 15 || g.RetentionDays != 0 || g.ProjectedEvents != nil ||
		g.Bytes <= g.RawBytes || r.Quarantine.Events != 1 || r.StoredBytes == 0 {
		t.Errorf("json: %+v", r)
	}
	for _, args := range [][]string{
		{"lake", "stats", "--db", path, "--retention", "12h"},
		{"lake", "stats", "--db", path, "--format", "xml"},
		{"lake", "nope", "--db", path},
		{"lake"},
	} {
		if _, _, code := runCLI(t, nil, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// serve refuses a --retention it cannot keep, before touching anything.
func TestServeRetentionFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	for arg, want := range map[string]string{"12h": "shorter than 1d", "forever": "invalid duration", "2d": "not longer than ingest.reconcile_window"} {
		_, errOut, code := runCLI(t, nil, "", "serve", "--db", path, "--listen", "off", "--retention", arg)
		if code == 0 || !strings.Contains(errOut, want) {
			t.Errorf("serve --retention %s: exit %d, %q; want an error saying %q", arg, code, errOut, want)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("serve refused its --retention after creating the database")
	}
}

// compactableLake makes a lake at path of 3,020 sign-ins: 3,000 stored two
// days ago, 20 stored now, all but the newest 5 evaluated by detect.
func compactableLake(t *testing.T, path string) {
	t.Helper()
	lakeWithSource(t, path, "acme")
	ctx := context.Background()
	st, err := engine.Open(ctx, path, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	src, err := st.SourceByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.UpdateSource(ctx, store.SourceChange{Source: src, LogTypes: []string{"OnePassword.SignInAttempt"}}); err != nil {
		t.Fatal(err)
	}
	sts, err := st.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var events []store.Event
	for i := range 3020 {
		at, stored := now.Add(-50*time.Hour+time.Duration(i)*time.Second), now.Add(-48*time.Hour)
		if i >= 3000 {
			at, stored = now.Add(-time.Duration(i)*time.Second), now
		}
		uuid := fmt.Sprintf("E%025d", i)
		raw := fmt.Sprintf(`{"uuid":%q,"session_uuid":"S%025d","timestamp":%q,"category":"success","type":"credentials_ok",`+
			`"country":"DE","target_user":{"uuid":"U%025d","name":"Member %d","email":"member%d@example.com"},`+
			`"client":{"app_name":"1Password Browser Extension","app_version":"20240","platform_name":"Chrome","platform_version":"120",`+
			`"os_name":"MacOSX","os_version":"14.1","ip_address":"192.0.2.%d"},"location":{"country":"DE","region":"Berlin","city":"Berlin"}}`,
			uuid, i%50, at.Format(time.RFC3339Nano), i%40, i%40, i%40, i%200)
		events = append(events, store.Event{UUID: uuid, EventTime: at, ParseTime: stored, SourceLabel: "acme",
			Emails: []string{fmt.Sprintf("member%d@example.com", i%40)}, IPs: []string{fmt.Sprintf("192.0.2.%d", i%200)}, Raw: []byte(raw)})
	}
	for chunk := range slices.Chunk(events, 500) {
		if _, err := st.InsertEvents(ctx, sts[0].ID, chunk, nil); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := st.LatestSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := st.AlertEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CommitDetect(ctx, store.DetectCommit{Stage: store.CompactStage, To: latest - 5, Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	st.Close()

}

// lake compact moves the events stored over a day ago (and seen by
// detect) into segments, lake stats counts them as compacted, and --full
// leaves the file smaller.
func TestLakeCompactCommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lake.db")
	compactableLake(t, path)
	out, errOut, code := runCLI(t, nil, "", "lake", "compact", "--db", path, "--format", "json")
	var r compactReport
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("lake compact: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if r.Events != 3000 || r.Segments < 6 || r.Bytes <= 0 || r.Bytes*3 > r.RawBytes || r.SizeBefore <= 0 || r.Full {
		t.Errorf("lake compact: %+v; want the 3,000 events stored two days ago in 6 segments at least, compressed 3× at least", r)
	}
	out, errOut, code = runCLI(t, nil, "", "lake", "stats", "--db", path, "--format", "json")
	var s lakeReportJSON
	if err := json.Unmarshal([]byte(out), &s); code != 0 || err != nil {
		t.Fatalf("lake stats: exit %d, %v\n%s%s", code, err, out, errOut)
	}
	if s.Compacted != 3000 || s.CompactedBytes != r.Bytes || s.Total.Events != 3020 {
		t.Errorf("lake stats: %d compacted in %d bytes, %d events; want 3000 in %d, 3020", s.Compacted, s.CompactedBytes, s.Total.Events, r.Bytes)
	}
	out, _, _ = runCLI(t, nil, "", "lake", "stats", "--db", path)
	if !strings.Contains(out, "Compacted: 3000 of the 3020 events") {
		t.Errorf("lake stats does not show what is compacted:\n%s", out)
	}
	// Nothing is left to move; the full rewrite shrinks the file below its
	// size before compaction.
	out, errOut, code = runCLI(t, nil, "", "lake", "compact", "--db", path, "--full")
	if code != 0 || !strings.Contains(out, "Compacted 0 events") || !strings.Contains(out, "rewritten whole (--full)") {
		t.Fatalf("lake compact --full: exit %d\n%s%s", code, out, errOut)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Size() >= r.SizeBefore {
		t.Errorf("after --full the file is %d bytes, not below the %d before compaction", fi.Size(), r.SizeBefore)
	}
	// The events read back through the view as before.
	out, errOut, code = runCLI(t, nil, "", "query", "--db", path, "--format", "csv",
		"SELECT count(*), count(DISTINCT uuid) FROM onepassword_signinattempt WHERE target_user LIKE '%member7@%'")
	if code != 0 || !strings.Contains(out, "76,76") {
		t.Errorf("query after compaction: exit %d, %q%s; want 76 events of member7", code, out, errOut)
	}
}

func TestLakeCompactUsage(t *testing.T) {
	out, _, code := runCLI(t, nil, "", "lake", "compact", "--help")
	if code != 0 || !strings.Contains(out, "Usage: opwatch lake compact [--older-than 1d] [--full]") || !strings.Contains(out, "free disk") {
		t.Errorf("lake compact --help: exit %d\n%s", code, out)
	}
	path := filepath.Join(t.TempDir(), "none.db")
	for args, want := range map[string]string{
		"--older-than 30m":  "shorter than 1h",
		"--older-than off":  "give the age",
		"--older-than soon": "invalid duration",
		"--format xml":      "want table or json",
	} {
		_, errOut, code := runCLI(t, nil, "", append([]string{"lake", "compact", "--db", path}, strings.Fields(args)...)...)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("lake compact %s: exit %d, %q; want 2 and %q", args, code, errOut, want)
		}
	}
	if _, errOut, code := runCLI(t, nil, "", "lake", "compact", "--db", path); code != 1 || !strings.Contains(errOut, "check --db") {
		t.Errorf("lake compact of no database: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("lake compact created a database")
	}
}

// serve refuses a --compact-after it cannot use, before touching anything.
func TestServeCompactAfterFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	for arg, want := range map[string]string{"10m": "--compact-after: 10m0s is shorter than 1h", "later": "invalid duration"} {
		_, errOut, code := runCLI(t, nil, "", "serve", "--db", path, "--listen", "off", "--compact-after", arg)
		if code != 2 || !strings.Contains(errOut, want) {
			t.Errorf("serve --compact-after %s: exit %d, %q; want 2 and an error saying %q", arg, code, errOut, want)
		}
	}
	if _, err := os.Stat(path); err == nil {
		t.Error("serve refused its --compact-after after creating the database")
	}
}

// serve compacts in the background, on its own: a pass at start.
func TestServeCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "lake.db")
	compactableLake(t, path)
	// Without its source (whose token is no sealed one), serve needs no key;
	// the events stay.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, err := engine.Open(ctx, path, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	src, err := st.SourceByName(ctx, "acme")
	if err == nil {
		err = st.DeleteSource(ctx, src.ID)
	}
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	var logs logSink
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &logs, getenv: func(string) string { return "" }}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"serve", "--db", path, "--listen", "off"}, e) }()
	// The deadline only keeps a broken build from hanging the suite.
	for deadline := time.Now().Add(time.Minute); !strings.Contains(logs.String(), "compacted events"); {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d before compacting:\n%s", code, logs.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve compacted nothing in a minute:\n%s", logs.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("serve exited %d:\n%s", code, logs.String())
	}
	if out := logs.String(); !strings.Contains(out, "part=compact") || !strings.Contains(out, "events=3000") {
		t.Errorf("serve's compaction logged:\n%s", out)
	}
}

func TestCompactAfter(t *testing.T) {
	cfg := config.Default()
	if got := compactAfter(cfg, 0, "opwatch.db"); got != 24*time.Hour {
		t.Errorf("default: %v, want 1d", got)
	}
	if got := compactAfter(cfg, 0, "postgres://db.example/opwatch"); got != 0 {
		t.Errorf("default on PostgreSQL: %v, want off", got)
	}
	if got := compactAfter(cfg, config.Off, "opwatch.db"); got != 0 {
		t.Errorf("--compact-after off: %v, want 0 (no compaction part)", got)
	}
	cfg.Lake.CompactAfter = config.Off
	if got := compactAfter(cfg, 0, "opwatch.db"); got != 0 {
		t.Errorf("lake.compact_after off: %v, want 0", got)
	}
	if got := compactAfter(cfg, config.Age(7*24*time.Hour), "postgres://db.example/opwatch"); got != 7*24*time.Hour {
		t.Errorf("--compact-after 7d over off: %v", got)
	}
}

// logSink collects a running command's log while the test reads it.
type logSink struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
