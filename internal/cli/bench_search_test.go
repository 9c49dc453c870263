package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// bench search builds a lake at --db and keeps it; run again, it searches
// the lake as it is.
func TestBenchSearch(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the emulator and a pull")
	}
	db := filepath.Join(t.TempDir(), "lake.db")
	out, errOut, code := runCLI(t, nil, "", "bench", "search", "--events", "900", "--searches", "3", "--span", "2d", "--window", "1d", "--db", db)
	if code != 0 {
		t.Fatalf("bench search: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"building:   900 events (300 of each type) over 2d", "ingest:     900 events in ",
		"lake:       900 events", "(1d), 100 events a page", "  e-mail    3 searches: median ", "  IP        3 searches: median ",
		"  absent    3 searches: median ", "events found: median 0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("bench search printed no %q:\n%s", want, out)
		}
	}
	out, errOut, code = runCLI(t, nil, "", "bench", "search", "--searches", "2", "--db", db)
	if code != 0 {
		t.Fatalf("bench search of the kept lake: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "building:") || !strings.Contains(out, "lake:       900 events") || !strings.Contains(out, "  IP        2 searches") {
		t.Errorf("bench search of the kept lake:\n%s", out)
	}
	for _, args := range [][]string{{"--events", "2"}, {"--span", "soon"}, {"--window", "0s"}, {"--searches", "0"}, {"extra"}} {
		if _, _, code := runCLI(t, nil, "", append([]string{"bench", "search", "--db", db}, args...)...); code != 2 {
			t.Errorf("bench search %v: exit %d, want 2", args, code)
		}
	}
}
