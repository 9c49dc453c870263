package config

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
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
		{"sources:\n  - name: \"x\\e[31my\"\n    token_env: X\n", `name "x\x1b[31my" contains the control character U+001B`},
		{"sources:\n  - name: \"a\\u0085b\"\n    token_env: X\n", "control character U+0085"},
		{"sources:\n  - name: \" acme\"\n    token_env: X\n", `name " acme" starts or ends with a space`},
		{"sources:\n  - name: \"   \"\n    token_env: X\n", "name is required"},
		{"sources:\n  - name: " + strings.Repeat("n", 101) + "\n    token_env: X\n", "name is longer than 100 characters"},
		{"sources:\n  - name: a\n    token_env: X\n    lookback: 213504d\n", "too large"},
		{"sources:\n  - name: a\n    token_env: X\n    log_types: [itemusages, signins]\n", `log_types: unknown log type "signins"`},
		{"sources:\n  - name: a\n    token_env: X\n    base_url: http://events.example.com\n", "allow_insecure"},
		{"sources:\n  - name: a\n    token_env: X\n    insecure_skip_verify: true\n", "allow_insecure"},
		{"sources:\n  - name: a\n    token_env: X\n    region: eu\n    insecure_skip_verify: true\n", "insecure_skip_verify lets anyone"},
	} {
		_, err := Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
}

func TestReadTokenNeverEchoes(t *testing.T) {
	s := Source{TokenEnv: "T"}
	tok, warn, err := s.ReadToken(func(string) string { return "  secret-token\n" })
	if err != nil || tok != "secret-token" || warn != "" {
		t.Fatalf("ReadToken = %q, %q, %v", tok, warn, err)
	}
	_, _, err = s.ReadToken(func(string) string { return " " })
	if err == nil || !strings.Contains(err.Error(), "T is empty") {
		t.Errorf("empty env: %v", err)
	}
	s = Source{TokenFile: "/nonexistent/token"}
	if _, _, err := s.ReadToken(nil); err == nil {
		t.Error("missing file accepted")
	}
}

// A token file is read up to a bound: --token-file /dev/zero once grew to
// 24 GB before the kernel killed the process.
func TestReadTokenBoundsTheFile(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, []byte(strings.Repeat("a", maxTokenFileBytes+1)), 0o600); err != nil {
		t.Fatal(err)
	}
	atCap := filepath.Join(dir, "at-cap")
	if err := os.WriteFile(atCap, []byte(strings.Repeat("b", maxTokenFileBytes-1)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tok, _, err := (&Source{TokenFile: atCap}).ReadToken(nil); err != nil || len(tok) != maxTokenFileBytes-1 {
		t.Errorf("a file of exactly 64 KiB: len(token) = %d, err = %v; want it read", len(tok), err)
	}
	paths := []string{big}
	if _, err := os.Stat("/dev/zero"); err == nil {
		paths = append(paths, "/dev/zero")
	}
	for _, path := range paths {
		tok, _, err := (&Source{TokenFile: path}).ReadToken(nil)
		if err == nil {
			t.Errorf("%s: read a token of %d bytes, want a refusal", path, len(tok))
			continue
		}
		if want := "not a token: " + path + " is larger than 64 KiB"; !strings.Contains(err.Error(), want) {
			t.Errorf("%s: err = %v, want it to say %q", path, err, want)
		}
		if strings.Contains(err.Error(), "aaaa") {
			t.Errorf("%s: the error echoes the file's content", path)
		}
	}
}

// A3: a token file other users can read is used, with a warning the cli
// prints; a private one gets none.
func TestReadTokenWarnsWhenOthersCanRead(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permissions")
	}
	path := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(path, []byte("ops_secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := Source{TokenFile: path}
	if tok, warn, err := s.ReadToken(nil); err != nil || tok != "ops_secret" || warn != "" {
		t.Fatalf("0600: ReadToken = %q, %q, %v; want the token and no warning", tok, warn, err)
	}
	os.Chmod(path, 0o644)
	tok, warn, err := s.ReadToken(nil)
	if err != nil || tok != "ops_secret" {
		t.Fatalf("0644: ReadToken = %q, %v; want the token still", tok, err)
	}
	if !strings.Contains(warn, path) || !strings.Contains(warn, "chmod 600") || strings.Contains(warn, "ops_secret") {
		t.Errorf("0644: warning %q, want one naming the file and chmod 600, without the token", warn)
	}
}

// A10: the same problem is named as the user wrote it: a flag on the
// command line, a YAML key in the file.
func TestValidateNamesSettingsPerSurface(t *testing.T) {
	s := Source{Name: "a", Region: "eu", BaseURL: "https://x", APIVersion: 3, LogTypes: []string{"bogus"},
		Interval: Duration(time.Second), Lookback: Duration(time.Hour)}
	flagErr := s.ValidateAs(FlagName).Error()
	for _, want := range []string{"--region or --base-url", "--api-version 3", "--interval 1s", "--log-types: unknown"} {
		if !strings.Contains(flagErr, want) {
			t.Errorf("flag errors %q do not say %q", flagErr, want)
		}
	}
	for _, yamlKey := range []string{"base_url", "api_version", "log_types"} {
		if strings.Contains(flagErr, yamlKey) {
			t.Errorf("flag errors %q name the YAML key %s", flagErr, yamlKey)
		}
	}
	fileErr := s.Validate().Error()
	for _, want := range []string{"region or base_url", "api_version 3", "interval 1s", "log_types: unknown"} {
		if !strings.Contains(fileErr, want) {
			t.Errorf("file errors %q do not say %q", fileErr, want)
		}
	}
	if strings.Contains(fileErr, "--") {
		t.Errorf("file errors %q name flags", fileErr)
	}
	// A file error still says which source.
	_, err := Parse(strings.NewReader("sources:\n  - name: acme\n    token_env: X\n    api_version: 7\n"))
	if err == nil || !strings.Contains(err.Error(), "sources[0] (acme): api_version 7") {
		t.Errorf("file error %v does not name the source and key", err)
	}
}

// Source names reach tables, logs and terminals: they are printable, of
// a bounded length, without spaces around, and named as the user wrote
// the setting. A name once carried ESC [31m into every listing.
func TestValidateName(t *testing.T) {
	base := Source{APIVersion: 2, Interval: Duration(time.Minute), Lookback: Duration(time.Hour)}
	for _, tc := range []struct {
		name string
		want string // "" when accepted
	}{
		{"acme", ""},
		{"Acme EU prod", ""},
		{"été-équipe_2", ""},
		{"日本", ""},
		{strings.Repeat("é", 100), ""},
		{"", "--name is required"},
		{" \t", "--name is required"},
		{strings.Repeat("n", 101), "--name is longer than 100 characters"},
		{strings.Repeat("é", 101), "--name is longer than 100 characters"},
		{"x\x1b[31my", `--name "x\x1b[31my" contains the control character U+001B`},
		{"bell\a", "U+0007"},
		{"a\rb", "U+000D"},
		{"a\nb", "U+000A"},
		{"a\x00b", "U+0000"},
		{"del\x7f", "U+007F"},
		{"c1\u009b31m", "U+009B"},
		{"acme ", `--name "acme " starts or ends with a space`},
		{"\tacme", "starts or ends with a space"},
		{"bad\xffutf8", `--name "bad\xffutf8" is not valid UTF-8`},
	} {
		s := base
		s.Name = tc.name
		err := s.ValidateAs(FlagName)
		if tc.want == "" {
			if err != nil {
				t.Errorf("name %q refused: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("name %q: err = %v, want it to say %q", tc.name, err, tc.want)
			continue
		}
		if strings.ContainsAny(err.Error(), "\x1b\a\r\x7f\u009b") {
			t.Errorf("name %q: the error prints control characters: %q", tc.name, err)
		}
		if fileErr := s.Validate(); fileErr == nil || strings.Contains(fileErr.Error(), "--name") || !strings.Contains(fileErr.Error(), strings.TrimPrefix(tc.want, "--")) {
			t.Errorf("name %q: file error %v, want it to name the key name", tc.name, fileErr)
		}
	}
	// The source is named in a configuration's errors without its control
	// characters reaching the terminal.
	_, err := Parse(strings.NewReader("sources:\n  - name: \"x\\e[31my\"\n"))
	if err == nil || strings.Contains(err.Error(), "\x1b") || !strings.Contains(err.Error(), `sources[0] ("x\x1b[31my")`) {
		t.Errorf("Parse err = %v, want the name escaped", err)
	}
}

// FuzzValidateName: an accepted name is printable, trimmed, valid UTF-8
// and at most 100 characters; a refused one is never printed raw.
func FuzzValidateName(f *testing.F) {
	for _, s := range []string{"acme", "", " ", "x\x1b[31my", "a\u0085", "\xff", "acme ", strings.Repeat("a", 100), strings.Repeat("a", 101), "日本\u200d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, n string) {
		s := Source{Name: n, APIVersion: 2, Interval: Duration(time.Minute), Lookback: Duration(time.Hour)}
		err := s.ValidateAs(FlagName)
		if err != nil {
			if strings.IndexFunc(err.Error(), unicode.IsControl) >= 0 || !utf8.ValidString(err.Error()) {
				t.Fatalf("error %q prints a control character or invalid UTF-8", err)
			}
			return
		}
		if !utf8.ValidString(n) || utf8.RuneCountInString(n) > 100 || strings.TrimSpace(n) != n || n == "" || strings.IndexFunc(n, unicode.IsControl) >= 0 {
			t.Fatalf("name %q accepted", n)
		}
	})
}

// D3: plain http and unverified TLS are for an emulator on this machine,
// or need explicit consent.
func TestValidateInsecureOnlyForLoopback(t *testing.T) {
	base := Source{Name: "a", APIVersion: 2, Interval: Duration(time.Minute), Lookback: Duration(time.Hour)}
	for _, tc := range []struct {
		name     string
		baseURL  string
		skip     bool
		allow    bool
		accepted bool
	}{
		{"https real host", "https://events.1password.com", false, false, true},
		{"http loopback v4", "http://127.0.0.1:8080", false, false, true},
		{"http loopback v6", "http://[::1]:8080", false, false, true},
		{"http localhost", "http://localhost:8080", false, false, true},
		{"http other host", "http://events.1password.com", false, false, false},
		{"http other host allowed", "http://proxy.internal", false, true, true},
		{"skip verify loopback", "https://127.0.0.1:8443", true, false, true},
		{"skip verify other host", "https://events.1password.com", true, false, false},
		{"skip verify region host", "", true, false, false},
		{"skip verify allowed", "https://proxy.internal", true, true, true},
		{"localhost lookalike", "http://localhost.attacker.example", false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.BaseURL, s.InsecureSkipVerify, s.AllowInsecure = tc.baseURL, tc.skip, tc.allow
			err := s.ValidateAs(FlagName)
			if tc.accepted && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if !tc.accepted && (err == nil || !strings.Contains(err.Error(), "--allow-insecure")) {
				t.Fatalf("err = %v, want a refusal naming --allow-insecure", err)
			}
		})
	}
}

// A9: log types by name, short name or feature, any case; normalized,
// deduplicated and in order.
func TestLogTypes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"itemusages", []string{"OnePassword.ItemUsage"}},
		{"auditevents, SignInAttempts", []string{"OnePassword.SignInAttempt", "OnePassword.AuditEvent"}},
		{"onepassword.itemusage,ItemUsage,itemusages", []string{"OnePassword.ItemUsage"}},
		{"OnePassword.SignInAttempt,OnePassword.ItemUsage,OnePassword.AuditEvent", LogTypeNames()},
	} {
		got, err := ParseLogTypes(tc.in)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParseLogTypes(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"signins", "itemusages,", ",", "itemusages,,auditevents", "OnePassword.Item"} {
		if got, err := ParseLogTypes(in); err == nil {
			t.Errorf("ParseLogTypes(%q) = %q, want an error", in, got)
		}
	}
	c, err := Parse(strings.NewReader("sources:\n  - name: a\n    token_env: X\n    log_types: [auditevents, signinattempts]\n  - name: b\n    token_env: Y\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].LogTypes; !slices.Equal(got, []string{"OnePassword.SignInAttempt", "OnePassword.AuditEvent"}) {
		t.Errorf("file log_types normalized to %q", got)
	}
	if got := c.Sources[1].CollectedLogTypes(); !slices.Equal(got, LogTypeNames()) || len(got) != 3 {
		t.Errorf("no log_types collects %q, want all three", got)
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"30d": 30 * 24 * time.Hour, "90s": 90 * time.Second, "1h30m": 90 * time.Minute, "0d": 0} {
		got, err := ParseDuration(in)
		if err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"d", "1.5d", "-1d", "x", "3 days", "+1d", "01d"} {
		if _, err := ParseDuration(in); err == nil || !strings.Contains(err.Error(), "invalid duration") {
			t.Errorf("ParseDuration(%q) = %v, want invalid", in, err)
		}
	}
}

// D6: a duration a time.Duration cannot hold is refused, never wrapped
// around to a small value (213504d once became 25 minutes).
func TestParseDurationOverflow(t *testing.T) {
	if d, err := ParseDuration("106751d"); err != nil || d != 106751*24*time.Hour {
		t.Errorf("ParseDuration(106751d) = %v, %v; the largest day count fits", d, err)
	}
	for _, in := range []string{"106752d", "213504d", "99999999999999999999d", "2562048h", "9223372036854775808ns", "1h9999999999h", "1e3h"} {
		d, err := ParseDuration(in)
		if err == nil {
			t.Errorf("ParseDuration(%q) = %v, want an error", in, d)
			continue
		}
		if in != "1e3h" && !strings.Contains(err.Error(), "too large") {
			t.Errorf("ParseDuration(%q): %v, want it to say too large", in, err)
		}
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[Duration]string{
		Duration(30 * 24 * time.Hour): "30d",
		Duration(90 * time.Second):    "1m30s",
		Duration(36 * time.Hour):      "36h0m0s",
		0:                             "0s",
	} {
		if got := d.String(); got != want {
			t.Errorf("Duration(%d).String() = %q, want %q", int64(d), got, want)
		}
	}
}

func TestDefaultReconciles(t *testing.T) {
	c := Default()
	if c.Ingest.ReconcileEvery != Duration(24*time.Hour) || c.Ingest.ReconcileWindow != Duration(48*time.Hour) {
		t.Errorf("Default().Ingest = %+v; serve without a file must still reconcile daily over 48h", c.Ingest)
	}
}

// The reconciliation settings are checked: a negative period was accepted,
// and so was a window shorter than the period, which leaves time between
// passes that no pass re-reads.
func TestReconcileSettings(t *testing.T) {
	for _, tc := range []struct{ ingest, want string }{
		{"", ""},
		{"reconcile_every: 24h\n  reconcile_window: 48h", ""},
		{"reconcile_every: 1h\n  reconcile_window: 1h", ""},
		{"reconcile_every: 6h", ""},
		{"reconcile_window: 30d", ""},
		{"reconcile_every: -1h", "ingest.reconcile_every -1h0m0s is negative"},
		{"reconcile_every: -1h\n  reconcile_window: 2h", "ingest.reconcile_every -1h0m0s is negative"},
		{"reconcile_window: -1h", "ingest.reconcile_window -1h0m0s must be between 0 and 120d"},
		{"reconcile_window: 121d", "must be between 0 and 120d"},
		{"reconcile_every: 1h\n  reconcile_window: 30m", "ingest.reconcile_window 30m0s is shorter than ingest.reconcile_every 1h0m0s"},
		{"reconcile_every: 3d", "ingest.reconcile_window 2d is shorter than ingest.reconcile_every 3d"},
	} {
		c, err := Parse(strings.NewReader("ingest:\n  " + tc.ingest + "\n"))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%q refused: %v", tc.ingest, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%q accepted: %+v", tc.ingest, c.Ingest)
		} else if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to say %q", tc.ingest, err, tc.want)
		}
	}
	if d := Default(); d.Validate() != nil {
		t.Errorf("the defaults do not validate: %v", d.Validate())
	}
}

// FuzzParse: any file either parses into a valid configuration or is refused
// with an error; it never panics.
func FuzzParse(f *testing.F) {
	f.Add("sources:\n  - name: a\n    token_env: X\n    interval: 30s\n")
	f.Add("ingest:\n  reconcile_window: 3d\n")
	f.Add("sources: [{name: b, token_file: /t, region: eu, lookback: 120d}]")
	f.Add("{")
	f.Add("sources:\n  - name: \"x\\e[31my\"\n    token_env: X\n")
	f.Add("sources:\n  - name: \" a\"\n    token_env: X\n")
	f.Add("ingest:\n  reconcile_every: -1h\n")
	f.Add("ingest:\n  reconcile_every: 1h\n  reconcile_window: 30m\n")
	f.Add("sources:\n  - name: a\n    token_env: X\n    log_types: [ItemUsages, OnePassword.AuditEvent]\n    base_url: http://127.0.0.1:1\n    insecure_skip_verify: true\n")
	f.Add("sources:\n  - name: a\n    token_file: /t\n    base_url: http://h\n    allow_insecure: true\n    allow_other_host: true\n    lookback: 106752d\n")
	f.Add("detections:\n  rules: [r]\n  packs: {P: false}\n  overrides:\n    R: {enabled: true, severity: high, threshold: 3, dedup_period: 2h, destinations: []}\n")
	f.Add("detections:\n  lookups:\n    - {name: t, file: t.csv, key: k, log_type: itemusages, selector: client.ip_address}\n")
	f.Add("detections:\n  overrides: {R: {dedup_period: 4m, threshold: 0, destinations: [\"\\e\"]}}\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a configuration that does not validate: %v", err)
		}
		for _, s := range c.Sources {
			if strings.IndexFunc(s.Name, unicode.IsControl) >= 0 || strings.TrimSpace(s.Name) != s.Name || !utf8.ValidString(s.Name) {
				t.Fatalf("Parse accepted the source name %q", s.Name)
			}
		}
		for id, o := range c.Detections.Overrides {
			if p := o.DedupPeriod; p != nil && (time.Duration(*p) < MinDedupPeriod || time.Duration(*p) > MaxDedupPeriod) {
				t.Fatalf("Parse accepted dedup_period %s for %s", *p, id)
			}
			if o.Threshold != nil && *o.Threshold < 1 {
				t.Fatalf("Parse accepted threshold %d for %s", *o.Threshold, id)
			}
		}
		for _, l := range c.Detections.Lookups {
			if l.Format != "csv" && l.Format != "jsonl" {
				t.Fatalf("Parse accepted lookup %q with format %q", l.Name, l.Format)
			}
		}
		if time.Duration(c.Ingest.ReconcileEvery) < 0 || c.Ingest.ReconcileWindow < c.Ingest.ReconcileEvery {
			t.Fatalf("Parse accepted reconcile_every %s with reconcile_window %s", c.Ingest.ReconcileEvery, c.Ingest.ReconcileWindow)
		}
	})
}

// FuzzParseDuration: an accepted duration is the value written, shown in a
// form that parses back to it; nothing wraps around.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"30d", "106751d", "106752d", "213504d", "90s", "1h30m", "-1h", "2562047h", "2562048h", "1.5h", ".5s", "0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, err := ParseDuration(in)
		if err != nil {
			return
		}
		if days, ok := strings.CutSuffix(strings.TrimSpace(in), "d"); ok {
			if d < 0 || d%(24*time.Hour) != 0 || strconv.FormatInt(int64(d/(24*time.Hour)), 10) != days {
				t.Fatalf("ParseDuration(%q) = %v, not the days written", in, d)
			}
		}
		back, err := ParseDuration(Duration(d).String())
		if err != nil || back != d {
			t.Fatalf("ParseDuration(%q) = %v, shown as %q, which parses to %v, %v", in, d, Duration(d).String(), back, err)
		}
	})
}

// YAML mistakes are worded for people, not in Go's types.
func TestYAMLErrorsWorded(t *testing.T) {
	_, err := Parse(strings.NewReader("detections:\n  overrides:\n    X: {sevrity: High}\n  packs: {Y: maybe}\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	msg := err.Error()
	for _, want := range []string{"line 3: unknown key sevrity", "maybe is not true or false"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "config.") || strings.Contains(msg, "!!") {
		t.Errorf("error %q names Go types or YAML tags", msg)
	}
}
