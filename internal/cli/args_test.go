package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// lakeWithSource creates a database at path (as `opwatch migrate` does)
// holding one source named name, so a query shows which database it read.
func lakeWithSource(t *testing.T, path, name string) {
	t.Helper()
	if _, errOut, code := runCLI(t, nil, "", "migrate", "--db", path); code != 0 {
		t.Fatalf("migrate %s: exit %d\n%s", path, code, errOut)
	}
	ctx := context.Background()
	st, err := engine.Open(ctx, path, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := store.Source{Name: name, APIVersion: 2, Interval: time.Minute, Lookback: time.Hour, Token: []byte("sealed")}
	if err := st.CreateSource(ctx, &src, nil); err != nil {
		t.Fatal(err)
	}
}

// Flags work before the verb, before the arguments and after them, and
// what a verb does not use is refused: the test looks at which database
// was read or written, not only at exit codes.
func TestFlagsAnywhere(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	lakeWithSource(t, a, "in-a")
	lakeWithSource(t, b, "in-b")
	vars := map[string]string{"OPWATCH_DB": a}
	const q = "SELECT name FROM sources"

	for _, tt := range []struct {
		args []string
		code int
		read string // the source name the output must show ("" for none)
	}{
		{[]string{"query", q}, 0, "in-a"},
		{[]string{"--db", b, "query", q}, 0, "in-b"},
		{[]string{"query", "--db", b, q}, 0, "in-b"},
		{[]string{"query", q, "--db", b}, 0, "in-b"},
		{[]string{"query", q, "--db=" + b, "--format", "csv"}, 0, "in-b"},
		{[]string{"query", "--format", "json", q, "--db", b, "--timeout", "30s"}, 0, "in-b"},
		{[]string{"--db", a, "query", q, "--db", b}, 0, "in-b"}, // the last one given wins
		{[]string{"query", "--db", b, "--", q}, 0, "in-b"},
		{[]string{"query", q, "--db", b, "extra"}, 2, ""},
		{[]string{"query", q, "extra"}, 2, ""},
		{[]string{"query", "SELECT", "name", "FROM", "sources"}, 2, ""}, // unquoted SQL is not guessed at
		{[]string{"query", "--db", b}, 2, ""},
	} {
		out, errOut, code := runCLI(t, vars, "", tt.args...)
		if code != tt.code {
			t.Errorf("opwatch %s: exit %d, want %d\n%s%s", strings.Join(tt.args, " "), code, tt.code, out, errOut)
			continue
		}
		if tt.read == "" {
			if out != "" {
				t.Errorf("opwatch %s: printed %q, want nothing on stdout", strings.Join(tt.args, " "), out)
			}
			continue
		}
		other := map[string]string{"in-a": "in-b", "in-b": "in-a"}[tt.read]
		if !strings.Contains(out, tt.read) || strings.Contains(out, other) {
			t.Errorf("opwatch %s read the wrong database: %q, want %s", strings.Join(tt.args, " "), out, tt.read)
		}
	}

	// migrate writes where --db says, wherever it stands.
	for i, args := range [][]string{
		{"migrate", "--db", "NEW"},
		{"--db", "NEW", "migrate"},
		{"migrate", "--log-level", "warn", "--db", "NEW"},
	} {
		c := filepath.Join(dir, "c"+string(rune('0'+i))+".db")
		for j := range args {
			if args[j] == "NEW" {
				args[j] = c
			}
		}
		out, errOut, code := runCLI(t, vars, "", args...)
		if code != 0 || !fileExists(c) || !strings.Contains(out, c) {
			t.Errorf("opwatch %s: exit %d, %s exists: %v\n%s%s", strings.Join(args, " "), code, c, fileExists(c), out, errOut)
		}
	}
	unused := filepath.Join(dir, "unused.db")
	if _, _, code := runCLI(t, vars, "", "migrate", "now", "--db", unused); code != 2 || fileExists(unused) {
		t.Errorf("migrate with an extra argument: exit %d, database created: %v; want 2 and nothing created", code, fileExists(unused))
	}

	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"version", "--log-level", "warn"}, 0},
		{[]string{"--log-level", "warn", "version"}, 0},
		{[]string{"version", "--short"}, 2},
		{[]string{"version", "now"}, 2},
		{[]string{"bench", "ingest", "extra"}, 2},
		{[]string{"bench", "egress"}, 2},
		{[]string{"bench", "ingest", "--events", "0"}, 2},
		{[]string{"emulator", "extra", "--events", "1"}, 2},
	} {
		out, errOut, code := runCLI(t, vars, "", tt.args...)
		if code != tt.code {
			t.Errorf("opwatch %s: exit %d, want %d\n%s%s", strings.Join(tt.args, " "), code, tt.code, out, errOut)
		}
	}
}

// bench's flags may stand before its subcommand or after it.
func TestBenchFlagsAnywhere(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the emulator and a pull")
	}
	dir := t.TempDir()
	out, errOut, code := runCLI(t, nil, "", "bench", "--events", "7", "ingest", "--dir", dir, "--mode", "full")
	if code != 0 {
		t.Fatalf("bench: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "7 events of each type") || !strings.Contains(out, "events:     21\n") {
		t.Errorf("bench did not use --events 7:\n%s", out)
	}
	if !fileExists(filepath.Join(dir, "bench.db")) {
		t.Errorf("bench did not use --dir: %v", dirNames(dir))
	}
}

func dirNames(dir string) []string {
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// A refused flag is said once, with a pointer to help, and exits 2.
func TestFlagErrorsPrintedOnce(t *testing.T) {
	for _, args := range [][]string{
		{"query", "SELECT 1", "--nope"},
		{"--nope", "query", "SELECT 1"},
		{"migrate", "--nope"},
		{"version", "--nope"},
		{"bench", "ingest", "--nope"},
		{"emulator", "--nope"},
	} {
		out, errOut, code := runCLI(t, nil, "", args...)
		if code != 2 || out != "" {
			t.Errorf("opwatch %s: exit %d, stdout %q; want 2 and nothing", strings.Join(args, " "), code, out)
		}
		if n := strings.Count(errOut, "flag provided but not defined: -nope"); n != 1 {
			t.Errorf("opwatch %s: the error is printed %d times:\n%s", strings.Join(args, " "), n, errOut)
		}
		if !strings.Contains(errOut, "--help") && !strings.Contains(errOut, "opwatch help") {
			t.Errorf("opwatch %s: no pointer to the help:\n%s", strings.Join(args, " "), errOut)
		}
	}
}

// An invalid log level is a usage error naming the valid ones, wherever it
// comes from.
func TestInvalidLogLevel(t *testing.T) {
	for _, tt := range []struct {
		vars map[string]string
		args []string
	}{
		{nil, []string{"--log-level", "loud", "version"}},
		{nil, []string{"version", "--log-level", "loud"}},
		{nil, []string{"query", "SELECT 1", "--log-level", "verbose"}},
		{nil, []string{"emulator", "--log-level", "loud"}},
		{map[string]string{"OPWATCH_LOG_LEVEL": "loud"}, []string{"version"}},
	} {
		out, errOut, code := runCLI(t, tt.vars, "", tt.args...)
		if code != 2 || out != "" || !strings.Contains(errOut, "debug, info, warn or error") {
			t.Errorf("%v opwatch %s: exit %d, stdout %q, stderr:\n%s\nwant exit 2 naming the levels", tt.vars, strings.Join(tt.args, " "), code, out, errOut)
		}
	}
	for _, level := range []string{"debug", "INFO", "warn", "error"} {
		if _, errOut, code := runCLI(t, nil, "", "version", "--log-level", level); code != 0 {
			t.Errorf("--log-level %s: exit %d\n%s", level, code, errOut)
		}
	}
}

// Help asked for, in any of its forms, prints the usage and exits 0; the
// usage says flags may follow the arguments.
func TestHelpForms(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}} {
		out, errOut, code := runCLI(t, nil, "", args...)
		if code != 0 || !strings.Contains(out, "Usage: opwatch") || !strings.Contains(out, "after a command's arguments") {
			t.Errorf("opwatch %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, verb := range []string{"query", "migrate", "bench", "version", "emulator"} {
		for _, args := range [][]string{{verb, "--help"}, {verb, "-h"}, {"help", verb}} {
			out, errOut, code := runCLI(t, nil, "", args...)
			if code != 0 || !strings.Contains(out+errOut, "Usage: opwatch "+verb) {
				t.Errorf("opwatch %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
			}
			if verb != "emulator" && !strings.Contains(out+errOut, "before or after the arguments") {
				t.Errorf("opwatch %s does not say flags may follow the arguments:\n%s%s", strings.Join(args, " "), out, errOut)
			}
		}
	}
	for _, args := range [][]string{{"bench", "ingest", "--help"}, {"query", "SELECT 1", "--help"}} {
		if out, _, code := runCLI(t, nil, "", args...); code != 0 || !strings.Contains(out, "Usage: opwatch") {
			t.Errorf("opwatch %s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
	}
	if out, _, code := runCLI(t, nil, "", "help", "query"); code != 0 || !strings.Contains(out, "--timeout") {
		t.Errorf("help query: exit %d, want query's flags on stdout:\n%s", code, out)
	}
	if _, errOut, code := runCLI(t, nil, "", "help", "nope"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("help nope: exit %d\n%s", code, errOut)
	}
}
