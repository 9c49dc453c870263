package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
