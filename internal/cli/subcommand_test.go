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
	// Knowing the subcommands, their own flags may come first too.
	verbs := []string{"list", "show"}
	for _, c := range []struct {
		in   []string
		sub  string
		rest []string
	}{
		{[]string{"--status", "open", "list"}, "list", []string{"--status", "open"}},
		{[]string{"--status=open", "--format", "json", "list", "--rule", "R"}, "list", []string{"--status=open", "--format", "json", "--rule", "R"}},
		{[]string{"--full", "show", "abc"}, "show", []string{"--full", "abc"}},
		{[]string{"nope", "list"}, "nope", []string{"list"}},                           // a word first is the subcommand
		{[]string{"--db", "x", "--", "list"}, "list", []string{"--db", "x"}},           // as before
		{[]string{"--status", "open", "bogus"}, "--status", []string{"open", "bogus"}}, // unknown: named in the error
	} {
		sub, rest := subcommand(c.in, verbs...)
		if sub != c.sub || !slices.Equal(rest, c.rest) {
			t.Errorf("subcommand(%q, %q) = %q, %q; want %q, %q", c.in, verbs, sub, rest, c.sub, c.rest)
		}
	}
	// From the command line.
	path := filepath.Join(t.TempDir(), "s.db")
	lakeWithSource(t, path, "acme")
	if out, errOut, code := runCLI(t, nil, "", "alerts", "--db", path, "--status", "open", "--format", "json", "list"); code != 0 || out != "" {
		t.Errorf("alerts --db F --status open --format json list: exit %d\n%s%s", code, out, errOut)
	}
	// The flag reached list, which judges it.
	if _, errOut, code := runCLI(t, nil, "", "alerts", "--db", path, "--status", "nope", "list"); code == 0 || !strings.Contains(errOut, "nope") {
		t.Errorf("alerts --status nope list: exit %d, %s; want refused naming the value", code, errOut)
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

// A verb that needs the key says which key file it looked for.
func TestMissingKeyNamesTheKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k.db")
	lakeWithSource(t, path, "acme") // migrate made no key: the lake had no tokens
	_, errOut, code := runCLI(t, nil, "", "source", "test", "acme", "--db", path)
	if code == 0 || !strings.Contains(errOut, "k.key") || !strings.Contains(errOut, "OPWATCH_SECRET_KEY") {
		t.Errorf("source test without a key: exit %d, %q; want the key file and OPWATCH_SECRET_KEY named", code, errOut)
	}
}
