package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseAppliesDefaults(t *testing.T) {
	c, err := Parse(strings.NewReader(`
sources:
  - name: acme
    token_env: ACME_TOKEN
  - name: eu
    token_file: /etc/opwatch/eu.token
    region: eu
    interval: 30s
    lookback: 30d
ingest:
  reconcile_window: 24h
`))
	if err != nil {
		t.Fatal(err)
	}
	a, eu := c.Sources[0], c.Sources[1]
	if a.Interval != Duration(time.Minute) || a.Lookback != Duration(24*time.Hour) || a.APIVersion != 2 {
		t.Errorf("defaults not applied: %+v", a)
	}
	if eu.Interval != Duration(30*time.Second) || eu.Lookback != Duration(30*24*time.Hour) || eu.Region != "eu" {
		t.Errorf("eu: %+v", eu)
	}
	if c.Ingest.ReconcileEvery != Duration(24*time.Hour) || c.Ingest.ReconcileWindow != Duration(24*time.Hour) {
		t.Errorf("ingest: %+v", c.Ingest)
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"sources:\n  - name: a\n    tokn_file: x\n", "tokn_file"},
		{"sources:\n  - name: a\n", "set token_file or token_env"},
		{"sources:\n  - name: a\n    token_env: X\n    token_file: y\n", "only one of"},
		{"sources:\n  - name: a\n    token_env: X\n    region: mars\n", `region "mars": use one of`},
		{"sources:\n  - name: a\n    token_env: X\n    region: eu\n    base_url: https://x\n", "not both"},
		{"sources:\n  - name: a\n    token_env: X\n    base_url: ftp://x\n", "http(s) URL"},
		{"sources:\n  - name: a\n    token_env: X\n    interval: 5s\n", "between 10s and 1h"},
		{"sources:\n  - name: a\n    token_env: X\n    lookback: 121d\n", "at most 120d"},
		{"sources:\n  - name: a\n    token_env: X\n    interval: soon\n", "invalid duration"},
		{"sources:\n  - name: a\n    token_env: X\n  - name: a\n    token_env: Y\n", "duplicate name"},
		{"sources:\n  - token_env: X\n", "name is required"},
	} {
		_, err := Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
}

func TestReadTokenNeverEchoes(t *testing.T) {
	s := Source{TokenEnv: "T"}
	tok, err := s.ReadToken(func(string) string { return "  secret-token\n" })
	if err != nil || tok != "secret-token" {
		t.Fatalf("ReadToken = %q, %v", tok, err)
	}
	_, err = s.ReadToken(func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "T is empty") {
		t.Errorf("empty env: %v", err)
	}
	s = Source{TokenFile: "/nonexistent/token"}
	if _, err := s.ReadToken(nil); err == nil {
		t.Error("missing file accepted")
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "0d": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "1.5d", "-1d", "x", "3 days"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("ParseDuration(%q) accepted", in)
		}
	}
}

func TestDefaultReconciles(t *testing.T) {
	c := Default()
	if c.Ingest.ReconcileEvery != Duration(24*time.Hour) || c.Ingest.ReconcileWindow != Duration(48*time.Hour) {
		t.Errorf("Default().Ingest = %+v; serve without a file must still reconcile daily over 48h", c.Ingest)
	}
}

// FuzzParse: any file either parses into a valid configuration or is refused
// with an error; it never panics.
func FuzzParse(f *testing.F) {
	f.Add("sources:\n  - name: a\n    token_env: X\n    interval: 30s\n")
	f.Add("ingest:\n  reconcile_window: 3d\n")
	f.Add("sources: [{name: b, token_file: /t, region: eu, lookback: 120d}]")
	f.Add("{")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a configuration that does not validate: %v", err)
		}
	})
}
