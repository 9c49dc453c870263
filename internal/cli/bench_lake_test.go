package cli

import (
	"strings"
	"testing"
)

// bench lake builds, compacts and reads a small lake; it fails when a read
// returns something else after compaction.
func TestBenchLake(t *testing.T) {
	dir := t.TempDir()
	out, errOut, code := runCLI(t, nil, "", "bench", "lake", "--days", "3", "--per-day", "600", "--runs", "1", "--dir", dir)
	if code != 0 {
		t.Fatalf("bench lake: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"(1800 events)", "ingest:     1800 events in ", "compaction: ", "B/event", "at rest:",
		"30-day search, e-mail", "1-day range, count(*) of sign-ins"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench lake printed no %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "compaction: 0 events") {
		t.Errorf("bench lake compacted nothing of two days stored over a day ago:\n%s", out)
	}
	// Its own database, in --dir: never the one --db names, unless PostgreSQL.
	if _, errOut, code := runCLI(t, nil, "", "bench", "lake", "--days", "3", "--per-day", "600", "--dir", dir); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("bench lake into a used --dir: exit %d, %q; want it refused", code, errOut)
	}
	for _, args := range [][]string{{"--days", "1"}, {"--per-day", "2"}, {"--runs", "0"}, {"--days", "4000"}, {"extra"}} {
		if _, _, code := runCLI(t, nil, "", append([]string{"bench", "lake"}, args...)...); code != 2 {
			t.Errorf("bench lake %v: exit %d, want 2", args, code)
		}
	}
}
