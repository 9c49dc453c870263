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
