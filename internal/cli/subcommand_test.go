package cli

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSubcommand(t *testing.T) {
	for _, c := range []struct {
		in   []string
		sub  string
		rest []string
	}{
		{[]string{"list"}, "list", []string{}},
		{[]string{"list", "--db", "x"}, "list", []string{"--db", "x"}},
		{[]string{"--db", "x", "list", "a"}, "list", []string{"--db", "x", "a"}},
		{[]string{"--db=x", "-log-level", "warn", "show", "n"}, "show", []string{"--db=x", "-log-level", "warn", "n"}},
		{[]string{"--db", "x"}, "", []string{"--db", "x"}},
		{[]string{"--help"}, "--help", []string{}},
		{[]string{"--db", "x", "--", "list"}, "list", []string{"--db", "x"}},
	} {
		sub, rest := subcommand(c.in)
		if sub != c.sub || !slices.Equal(rest, c.rest) && !(len(rest) == 0 && len(c.rest) == 0) {
			t.Errorf("subcommand(%q) = %q, %q; want %q, %q", c.in, sub, rest, c.sub, c.rest)
		}
	}
}

// Global flags before a subcommand reach it.
func TestGlobalFlagsBeforeSubcommand(t *testing.T) {
	path := filepath.Join(t.TempDir(), "g.db")
	lakeWithSource(t, path, "acme")
	out, errOut, code := runCLI(t, nil, "", "source", "--db", path, "list")
	if code != 0 || !strings.Contains(out, "acme") {
		t.Fatalf("source --db F list: exit %d\n%s%s", code, out, errOut)
	}
	if _, _, code := runCLI(t, nil, "", "alerts", "--db="+path, "list"); code != 0 {
		t.Errorf("alerts --db=F list: exit %d", code)
	}
}

// Help asked for goes to stdout (it pages and redirects); a mistake's
// message goes to stderr.
func TestVerbHelpToStdout(t *testing.T) {
	for _, args := range [][]string{{"demo", "--help"}, {"source", "add", "-h"}, {"alerts", "list", "--help"}, {"status", "-help"}} {
		out, errOut, code := runCLI(t, nil, "", args...)
		if code != 0 || !strings.Contains(out, "Usage: opwatch") || strings.Contains(errOut, "Usage:") {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want the usage on stdout", args, code, firstLine(out), firstLine(errOut))
		}
	}
	if _, errOut, code := runCLI(t, nil, "", "status", "--bogus"); code != 2 || !strings.Contains(errOut, "bogus") {
		t.Errorf("status --bogus: exit %d, stderr %q", code, errOut)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
