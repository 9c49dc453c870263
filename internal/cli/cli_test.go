package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files")

// runCLI runs opwatch in-process with the given environment.
func runCLI(t *testing.T, vars map[string]string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	code = run(context.Background(), args, e)
	return out.String(), errb.String(), code
}

func TestHelp(t *testing.T) {
	out, _, code := runCLI(t, nil, "", "help")
	if code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for name := range commands() {
		if !strings.Contains(out, "  "+name) {
			t.Errorf("help does not list %s", name)
		}
		stdout, errOut, code := runCLI(t, nil, "", name, "--help")
		if code != 0 || !strings.Contains(stdout+errOut, "Usage: opwatch "+name) {
			t.Errorf("%s --help: exit %d, output:\n%s%s", name, code, stdout, errOut)
		}
	}
	if _, errOut, code := runCLI(t, nil, "", "nope"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %s", code, errOut)
	}
	for _, sub := range []string{"add", "list", "show", "test", "update", "reset", "remove"} {
		out, _, code := runCLI(t, nil, "", "source", sub, "--help")
		if code != 0 || !strings.Contains(out, "Usage: opwatch source "+sub) {
			t.Errorf("source %s --help: exit %d, %s", sub, code, out)
		}
	}
	// update changes only what is given: its help shows no defaults that
	// would read as values it sets.
	_, errOut, _ := runCLI(t, nil, "", "source", "update", "--help")
	for _, bad := range []string{"(default 1m)", "(default 24h)", "(default 2)"} {
		if strings.Contains(errOut, bad) {
			t.Errorf("source update --help shows %s", bad)
		}
	}
}

// cliHarness runs verbs against one database and records everything printed.
type cliHarness struct {
	t          *testing.T
	vars       map[string]string
	transcript strings.Builder
}

func (h *cliHarness) run(wantCode int, stdin string, args ...string) string {
	h.t.Helper()
	out, errOut, code := runCLI(h.t, h.vars, stdin, args...)
	h.transcript.WriteString(out + errOut)
	if code != wantCode {
		h.t.Fatalf("opwatch %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
	}
	return out + errOut
}

func startEmulator(t *testing.T, o emulator.Options) *emulator.Emulator {
	t.Helper()
	em, err := emulator.Start(o, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	return em
}

func issue(t *testing.T, em *emulator.Emulator, o emulator.TokenOptions) string {
	t.Helper()
	tok, err := em.IssueToken(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSourceLifecycle(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 9, Events: 500, Span: 6 * time.Hour})
	tok := issue(t, em, emulator.TokenOptions{Features: []string{"signinattempts", "itemusages"}})
	dir := t.TempDir()
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": filepath.Join(dir, "o.db"), "OP_TOKEN": tok}}
	cli := h.run

	// Flags after the name, as people type them.
	out := cli(0, "", "source", "add", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL())
	if !strings.Contains(out, "lacks the auditevents feature") || !strings.Contains(out, "Collecting: OnePassword.SignInAttempt, OnePassword.ItemUsage") {
		t.Errorf("source add does not say what it collects:\n%s", out)
	}
	cli(1, "", "source", "add", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL()) // duplicate
	cli(2, "", "source", "add", "bad", "--token-env", "OP_TOKEN", "--region", "mars")
	out = cli(1, "", "source", "add", "elsewhere", "--token-env", "OP_TOKEN", "--base-url", "https://events.1password.eu")
	if !strings.Contains(out, "allow-other-host") {
		t.Errorf("a base URL on another host than the token's was not refused with the way out:\n%s", out)
	}
	// A token read from stdin works too.
	cli(0, tok+"\n", "source", "add", "--name", "stdin", "--token-file", "-", "--base-url", em.URL(), "--interval", "30s")
	cli(0, "", "source", "remove", "stdin")
	cli(2, "", "source", "list", "extra")

	out = cli(0, "", "source", "test", "acme")
	if !strings.Contains(out, "OnePassword.SignInAttempt") || !strings.Contains(out, "not collected") {
		t.Errorf("source test output:\n%s", out)
	}
	// A feature the token deliberately lacks is not collected, not a failure.
	out = cli(0, "", "pull")
	if strings.Contains(out, "FAILED") {
		t.Errorf("pull failed on a log type that is not collected:\n%s", out)
	}
	out = cli(0, "", "source", "show", "acme")
	for _, want := range []string{"OnePassword.SignInAttempt: ok", "500 stored"} {
		if !strings.Contains(out, want) {
			t.Errorf("source show lacks %q:\n%s", want, out)
		}
	}
	cli(0, "", "source", "list")

	// A token with every feature, and the audit events asked for.
	vars := h.vars
	vars["OP_TOKEN2"] = issue(t, em, emulator.TokenOptions{})
	out = cli(0, "", "source", "update", "acme", "--token-env", "OP_TOKEN2")
	if !strings.Contains(out, "does not collect") {
		t.Errorf("update with a token granting more does not say what is not collected:\n%s", out)
	}
	cli(0, "", "source", "update", "--log-types", "signinattempts,itemusages,auditevents", "acme")
	cli(0, "", "pull", "acme")
	if out := cli(0, "", "source", "show", "acme"); !strings.Contains(out, "OnePassword.AuditEvent: ok") {
		t.Errorf("after a new token the audit stream is not ok:\n%s", out)
	}
	// Changing the API version drops the cursors the old endpoint gave.
	if out := cli(0, "", "source", "update", "acme", "--api-version", "1"); !strings.Contains(out, "re-reads from a day before its last event") {
		t.Errorf("api version change:\n%s", out)
	}
	if out := cli(0, "", "source", "show", "acme"); !strings.Contains(out, "cursor:        none") {
		t.Errorf("cursors kept after an API version change:\n%s", out)
	}
	cli(0, "", "source", "update", "acme", "--api-version", "2")
	cli(0, "", "source", "update", "acme", "--name", "acme2")
	cli(1, "", "source", "show", "acme")
	cli(0, "", "source", "show", "acme2")

	out = cli(1, "", "query", "DELETE FROM events")
	if !strings.Contains(out, "read-only") {
		t.Errorf("a write was not refused clearly:\n%s", out)
	}
	count := func() string {
		return strings.TrimSpace(cli(0, "", "query", "--format", "csv", "SELECT count(*) AS n, count(DISTINCT uuid) AS u FROM events"))
	}
	before := count()
	if !strings.HasSuffix(before, "\n1500,1500") {
		t.Fatalf("events before remove: %q", before)
	}
	// Removed and added again: the account's events are not stored twice,
	// nor by a second source on the same account.
	cli(0, "", "source", "remove", "acme2")
	cli(0, "", "source", "add", "acme", "--token-env", "OP_TOKEN2", "--base-url", em.URL(), "--lookback", "7d")
	cli(0, "", "source", "add", "twin", "--token-env", "OP_TOKEN2", "--base-url", em.URL(), "--lookback", "7d")
	cli(0, "", "pull")
	if after := count(); after != before {
		t.Errorf("events after re-adding the source: %q, want %q", after, before)
	}
	if strings.Contains(h.transcript.String(), tok) || strings.Contains(h.transcript.String(), vars["OP_TOKEN2"]) {
		t.Fatal("a token appeared in opwatch's output")
	}
}

// Flags after positional arguments change what they say, or are refused.
func TestFlagsAfterArguments(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 2, Events: 20, Span: time.Hour})
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.db"), filepath.Join(dir, "b.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": a, "OP_TOKEN": issue(t, em, emulator.TokenOptions{})}}
	h.run(0, "", "source", "add", "only-in-b", "--token-env", "OP_TOKEN", "--base-url", em.URL(), "--db", b)
	if fileExists(a) {
		t.Error("--db after the arguments was ignored: a.db was created")
	}
	if out := h.run(0, "", "source", "list", "--db", b); !strings.Contains(out, "only-in-b") {
		t.Errorf("source list --db b:\n%s", out)
	}
	h.run(0, "", "pull", "only-in-b", "--db", b)
	h.run(2, "", "pull", "--db", b, "only-in-b", "--bogus")
	h.run(1, "", "pull", "nope", "--db", b)
	h.run(2, "", "source", "show", "only-in-b", "extra", "--db", b)
	h.run(0, "", "source", "show", "--db", b, "only-in-b")
}

// Read verbs need no key and create nothing; write verbs never create a key
// beside sealed tokens; a new token recovers a source whose key was lost.
func TestReadOnlyAndLostKey(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 5, Events: 20, Span: time.Hour})
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db, "OP_TOKEN": issue(t, em, emulator.TokenOptions{})}}

	missing := filepath.Join(dir, "typo.db")
	for _, args := range [][]string{{"source", "list"}, {"source", "show", "x"}, {"query", "SELECT 1"},
		{"pull"}, {"backfill", "x", "--since", "1h"}, {"source", "update", "x", "--interval", "30s"},
		{"source", "reset", "x"}, {"source", "remove", "x"}, {"source", "test", "x"}} {
		out := h.run(1, "", append(args, "--db", missing)...)
		if !strings.Contains(out, missing) {
			t.Errorf("%v on a missing database does not name it:\n%s", args, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("read verbs created files: %v", entries)
	}

	h.run(0, "", "source", "add", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL())
	for _, f := range []string{db, keyFile(db)} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s: %v, mode %v: want no access for group and others", f, err, fi.Mode())
		}
	}
	h.run(0, "", "pull")
	os.Remove(keyFile(db))
	if out := h.run(0, "", "source", "show", "acme"); !strings.Contains(out, "sealed") {
		t.Errorf("source show without the key:\n%s", out)
	}
	out := h.run(1, "", "pull")
	if !strings.Contains(out, "source update") {
		t.Errorf("pull with a lost key does not say how to recover:\n%s", out)
	}
	if fileExists(keyFile(db)) {
		t.Fatal("a key was created beside a database holding sealed tokens")
	}
	h.run(1, "", "source", "update", "acme", "--interval", "30s")
	out = h.run(0, "", "source", "update", "acme", "--token-env", "OP_TOKEN")
	if !strings.Contains(out, "new key") {
		t.Errorf("the new key was not announced:\n%s", out)
	}
	h.run(0, "", "pull")
}

// A source's endpoint changed in the database by someone without the key
// must not make opwatch send the token there.
func TestTamperedEndpointKeepsToken(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 6, Events: 20, Span: time.Hour})
	dir := t.TempDir()
	db := filepath.Join(dir, "t.db")
	tok := issue(t, em, emulator.TokenOptions{})
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db, "OP_TOKEN": tok}}
	h.run(0, "", "source", "add", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL())

	var mu sync.Mutex
	var seen []string
	trap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	defer trap.Close()
	conn, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	// The attacker also allows the other host: only the token's binding to
	// its settings stands between them and the token.
	if _, err := conn.Exec(`UPDATE sources SET settings = json_set(settings, '$.base_url', ?, '$.allow_other_host', json('true'))`, trap.URL); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	h.run(1, "", "pull")
	mu.Lock()
	defer mu.Unlock()
	for _, a := range seen {
		if strings.Contains(a, tok) {
			t.Fatal("the token was sent to the endpoint written into the database")
		}
	}
}

func TestServeConfigAndShutdown(t *testing.T) {
	em, err := emulator.Start(emulator.Options{Seed: 4, Events: 200, Span: time.Hour, Rate: 60}, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	tok, _ := em.IssueToken(emulator.TokenOptions{})
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte(tok+"\n"), 0o600)
	cfg := filepath.Join(dir, "opwatch.yaml")
	os.WriteFile(cfg, []byte("sources:\n  - name: coded\n    token_file: "+tokFile+"\n    base_url: "+em.URL()+"\n    interval: 10s\n"), 0o600)
	db := filepath.Join(dir, "s.db")

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
	done := make(chan int)
	go func() { done <- run(ctx, []string{"--db", db, "serve", "--config", cfg}, e) }()

	waitForEvents(t, db, 600)
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exit %d:\n%s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop after cancellation")
	}
	if strings.Contains(out.String()+errb.String(), tok) {
		t.Fatal("the token appeared in serve's output")
	}
	// An unknown key in the config is refused with its line.
	os.WriteFile(cfg, []byte("sources:\n  - name: x\n    tokn_file: /x\n"), 0o600)
	_, errOut, code := runCLI(t, nil, "", "--db", db, "serve", "--config", cfg)
	if code == 0 || !strings.Contains(errOut, "tokn_file") {
		t.Errorf("bad config: exit %d, %s", code, errOut)
	}
}

// waitForEvents waits until db holds at least n events, reading it through a
// plain read-only connection: opening a second Store would migrate and
// checkpoint, competing with the server under test.
func waitForEvents(t *testing.T, db string, n int64) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var got int64
	for time.Now().Before(deadline) {
		if conn, err := sql.Open("sqlite", "file:"+db+"?mode=ro&_pragma=busy_timeout(5000)"); err == nil {
			conn.QueryRow("SELECT count(*) FROM events").Scan(&got)
			conn.Close()
			if got >= n {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("the database reached %d events, not %d", got, n)
}

// TestViewsGolden pins the three views: their columns and how every kind of
// field reads back (objects as JSON text, absent fields as NULL).
func TestViewsGolden(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "v.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SyncViews(ctx, Views()); err != nil {
		t.Fatal(err)
	}
	src := store.Source{Name: "golden", APIVersion: 2, Interval: time.Minute, Lookback: time.Hour}
	var all []string
	for _, lt := range logtype.All() {
		all = append(all, lt.Name)
	}
	if err := st.CreateSource(ctx, &src, all); err != nil {
		t.Fatal(err)
	}
	streams, _ := st.Streams(ctx, src.ID)
	samples := map[string][]string{
		"OnePassword.SignInAttempt": {
			`{"uuid":"SIGNIN1UUIDAAAAAAAAAAAAAAA","session_uuid":"SESS1AAAAAAAAAAAAAAAAAAAAA","timestamp":"2026-11-20T10:00:00.5Z","category":"firewall_failed","type":"continent_blocked","country":"FR","details":{"value":"Europe"},"target_user":{"uuid":"USER1AAAAAAAAAAAAAAAAAAAAA","name":"Ann Lee","email":"ann@example.com","user_type":"user"},"client":{"app_name":"1Password for Mac","app_version":"81024","platform_name":"MacBookPro18,1","platform_version":"14.1","os_name":"MacOSX","os_version":"14.1","ip_address":"203.0.113.9"},"location":{"country":"France","region":"Ile-de-France","city":"Paris","latitude":48.8566,"longitude":2.3522},"account_uuid":"ACCT1AAAAAAAAAAAAAAAAAAAAA","future_field":[1,2]}`,
			`{"uuid":"SIGNIN2UUIDAAAAAAAAAAAAAAA","timestamp":"2026-11-20T11:00:00-03:00","category":"success","type":"credentials_ok","details":null}`,
		},
		"OnePassword.ItemUsage": {
			`{"uuid":"ITEM1UUIDAAAAAAAAAAAAAAAAA","timestamp":"2026-11-20T10:00:01Z","used_version":3,"vault_uuid":"vaultaaaaaaaaaaaaaaaaaaaaa","item_uuid":"itemaaaaaaaaaaaaaaaaaaaaaa","user":{"uuid":"USER1AAAAAAAAAAAAAAAAAAAAA","name":"Ann Lee","email":" ann@example.com "},"client":{"app_name":"1Password CLI","ip_address":"2001:db8::1"},"action":"secure-copy"}`,
		},
		"OnePassword.AuditEvent": {
			`{"uuid":"AUDIT1UUIDAAAAAAAAAAAAAAAA","timestamp":"2026-11-20T10:00:02.000000001Z","actor_uuid":"USER1AAAAAAAAAAAAAAAAAAAAA","actor_details":{"uuid":"USER1AAAAAAAAAAAAAAAAAAAAA","name":"Ann Lee","email":"ann@example.com"},"action":"join","object_type":"gm","object_uuid":"groupaaaaaaaaaaaaaaaaaaaaa","aux_id":9277034,"aux_uuid":"USER2AAAAAAAAAAAAAAAAAAAAA","aux_details":{"uuid":"USER2AAAAAAAAAAAAAAAAAAAAA","name":"Bo Chen","email":"bo@example.com"},"aux_info":"A","session":{"uuid":"SESS2AAAAAAAAAAAAAAAAAAAAA","login_time":"2026-11-20T09:00:00Z","device_uuid":"deviceaaaaaaaaaaaaaaaaaaaa","ip":"198.51.100.7"},"actor_type":"user","account_uuid":"ACCT1AAAAAAAAAAAAAAAAAAAAA"}`,
		},
	}
	parse := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	for i, s := range streams {
		lt := logtype.ByName(s.LogType)
		var events []store.Event
		for j, raw := range samples[s.LogType] {
			ev, err := lt.Parse([]byte(raw))
			if err != nil {
				t.Fatalf("%s sample %d: %v", s.LogType, j, err)
			}
			events = append(events, store.Event{SourceID: src.ID, LogType: lt.Name, UUID: ev.UUID, EventTime: ev.Time,
				ParseTime: parse, RowID: strings.Repeat(string(rune('a'+i)), 31) + string(rune('0'+j)), SourceLabel: src.Name,
				IPs: ev.IPs, Emails: ev.Emails, Raw: ev.Raw})
		}
		if _, err := st.InsertEvents(ctx, s.ID, events, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, v := range Views() {
		var b strings.Builder
		err := st.Query(ctx, "SELECT * FROM "+v.Name+" ORDER BY p_event_time", func(cols []string, vals []any) error {
			b.WriteString("--\n")
			for i, c := range cols {
				val := vals[i]
				if c == "p_source_id" {
					val = "SOURCE_ID"
				}
				js, _ := json.Marshal(val)
				b.WriteString(c + " = " + string(js) + "\n")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", v.Name+".golden")
		if *update {
			os.MkdirAll("testdata", 0o755)
			if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./internal/cli -run TestViewsGolden -update)", err)
		}
		if diff := cmp.Diff(string(want), b.String()); diff != "" {
			t.Errorf("view %s differs from %s (-want +got):\n%s", v.Name, golden, diff)
		}
	}
}

// A token is checked with 1Password before anything is stored, and is given
// one way only; hints quote names a shell would split.
func TestSourceAddChecks(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 7, Events: 10, Span: time.Hour})
	dir := t.TempDir()
	revoked := issue(t, em, emulator.TokenOptions{})
	em.Revoke(revoked)
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": filepath.Join(dir, "c.db"),
		"OP_TOKEN": issue(t, em, emulator.TokenOptions{}), "REVOKED": revoked}}
	if out := h.run(1, "", "source", "add", "gone", "--token-env", "REVOKED", "--base-url", em.URL()); !strings.Contains(out, "refused the token") {
		t.Errorf("a revoked token:\n%s", out)
	}
	tokFile := filepath.Join(dir, "tok")
	os.WriteFile(tokFile, []byte(h.vars["OP_TOKEN"]), 0o600)
	h.run(2, "", "source", "add", "both", "--token-env", "OP_TOKEN", "--token-file", tokFile, "--base-url", em.URL())
	out := h.run(0, "", "source", "add", "my acme", "--token-file", tokFile, "--base-url", em.URL())
	if !strings.Contains(out, "source test 'my acme'") {
		t.Errorf("the hint does not quote the name:\n%s", out)
	}
	if out := h.run(0, "", "source", "list"); strings.Contains(out, "gone") || strings.Contains(out, "both") {
		t.Errorf("a refused source was stored:\n%s", out)
	}
	h.run(2, "", "source", "update", "my acme", "--interval", "2h")
}

// A configuration with a mistake in any source changes nothing.
func TestServeConfigAllOrNothing(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 8, Events: 10, Span: time.Hour})
	dir := t.TempDir()
	tokFile := filepath.Join(dir, "token")
	os.WriteFile(tokFile, []byte(issue(t, em, emulator.TokenOptions{})), 0o600)
	db := filepath.Join(dir, "a.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db}}
	h.run(0, "", "source", "add", "acme", "--token-file", tokFile, "--base-url", em.URL(), "--interval", "1m")
	cfg := filepath.Join(dir, "opwatch.yaml")
	os.WriteFile(cfg, []byte("sources:\n"+
		"  - name: acme\n    token_file: "+tokFile+"\n    base_url: "+em.URL()+"\n    interval: 2m\n"+
		"  - name: beta\n    token_file: "+tokFile+"\n    region: eu\n"), 0o600)
	if out := h.run(1, "", "serve", "--config", cfg); !strings.Contains(out, "beta") {
		t.Errorf("the failing source is not named:\n%s", out)
	}
	// A token 1Password refuses, in the second source, is found before the
	// first is applied.
	revoked := issue(t, em, emulator.TokenOptions{})
	em.Revoke(revoked)
	badFile := filepath.Join(dir, "revoked")
	os.WriteFile(badFile, []byte(revoked), 0o600)
	os.WriteFile(cfg, []byte("sources:\n"+
		"  - name: acme\n    token_file: "+tokFile+"\n    base_url: "+em.URL()+"\n    interval: 2m\n"+
		"  - name: beta\n    token_file: "+badFile+"\n    base_url: "+em.URL()+"\n"), 0o600)
	if out := h.run(1, "", "serve", "--config", cfg); !strings.Contains(out, "refused the token") {
		t.Errorf("a refused token in a config:\n%s", out)
	}
	if out := h.run(0, "", "source", "show", "acme"); !strings.Contains(out, "interval:  1m") {
		t.Errorf("a configuration that failed changed a source:\n%s", out)
	}
}

// A key that opens none of the other sources' tokens is not used to seal a
// new one unasked: that would split the database between two keys. A key
// file named explicitly that does not exist is a mistake, not a lost key.
func TestUpdateRefusesSplitKey(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 11, Events: 10, Span: time.Hour})
	dir := t.TempDir()
	db := filepath.Join(dir, "k.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db, "OP_TOKEN": issue(t, em, emulator.TokenOptions{})}}
	h.run(0, "", "source", "add", "a", "--token-env", "OP_TOKEN", "--base-url", em.URL())
	h.run(0, "", "source", "add", "b", "--token-env", "OP_TOKEN", "--base-url", em.URL())
	typo := filepath.Join(dir, "typo.key")
	h.run(1, "", "source", "update", "a", "--token-env", "OP_TOKEN", "--key-file", typo)
	if fileExists(typo) {
		t.Error("a key file named by mistake was created")
	}
	h.vars["OPWATCH_SECRET_KEY"] = strings.Repeat("ab", 32)
	if out := h.run(1, "", "source", "update", "a", "--token-env", "OP_TOKEN"); !strings.Contains(out, "--new-key") {
		t.Errorf("a key opening none of the other tokens was not refused with the way out:\n%s", out)
	}
	h.run(0, "", "source", "update", "a", "--token-env", "OP_TOKEN", "--new-key")
	delete(h.vars, "OPWATCH_SECRET_KEY")
	if out := h.run(0, "", "source", "show", "b"); strings.Contains(out, "CANNOT BE OPENED") {
		t.Errorf("b's token no longer opens with its key:\n%s", out)
	}
}

// The demo and the bench use databases of their own: they serve every
// source in them, so they refuse one that holds real sources.
func TestDemoAndBenchRefuseRealDatabases(t *testing.T) {
	em := startEmulator(t, emulator.Options{Seed: 12, Events: 10, Span: time.Hour})
	dir := t.TempDir()
	db := filepath.Join(dir, "bench.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db, "OP_TOKEN": issue(t, em, emulator.TokenOptions{})}}
	h.run(0, "", "source", "add", "real", "--token-env", "OP_TOKEN", "--base-url", em.URL())
	if out := h.run(1, "", "demo", "--events", "10"); !strings.Contains(out, "other than the demo's") {
		t.Errorf("demo on a real database:\n%s", out)
	}
	if out := h.run(1, "", "bench", "ingest", "--events", "10", "--dir", dir); !strings.Contains(out, "fresh database") {
		t.Errorf("bench on an existing database:\n%s", out)
	}
}

// Ctrl-C is an interruption, not a failure; a stream another opwatch polls
// is busy, not failed.
func TestPullOutcomes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := failed(ctx, []ingest.Result{{Err: context.Canceled}}, context.Canceled); !errors.Is(err, errInterrupted) {
		t.Errorf("cancelled pull: %v, want errInterrupted", err)
	}
	busy := ingest.Result{Stream: store.Stream{SourceID: "id1", LogType: "OnePassword.AuditEvent"},
		Err: fmt.Errorf("claim stream: %w", store.ErrLeaseLost)}
	if err := failed(context.Background(), []ingest.Result{busy}, busy.Err); err != nil {
		t.Errorf("a busy stream failed the pull: %v", err)
	}
	var b strings.Builder
	printResults(&b, []ingest.Result{busy}, map[string]string{"id1": "acme"}, time.Second)
	if !strings.Contains(b.String(), "acme") || !strings.Contains(b.String(), "busy") {
		t.Errorf("results table:\n%s", b.String())
	}
}
