package cli

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/emulator"
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
		_, errOut, code := runCLI(t, nil, "", name, "--help")
		if name == "source" || name == "bench" {
			continue // take subcommands; checked below
		}
		if code != 0 || !strings.Contains(errOut, "Usage: opwatch "+name) {
			t.Errorf("%s --help: exit %d, output:\n%s", name, code, errOut)
		}
	}
	if _, errOut, code := runCLI(t, nil, "", "nope"); code != 2 || !strings.Contains(errOut, "unknown command") {
		t.Errorf("unknown command: exit %d, %s", code, errOut)
	}
	if _, errOut, code := runCLI(t, nil, "", "source", "add", "--help"); code != 0 || !strings.Contains(errOut, "--token-file") {
		t.Errorf("source add --help: exit %d, %s", code, errOut)
	}
}

func TestSourceLifecycle(t *testing.T) {
	em, err := emulator.Start(emulator.Options{Seed: 9, Events: 500, Span: 6 * time.Hour}, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer em.Close()
	tok, err := em.IssueToken(emulator.TokenOptions{Features: []string{"signinattempts", "itemusages"}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	vars := map[string]string{"OPWATCH_DB": filepath.Join(dir, "o.db"), "OP_TOKEN": tok}
	var transcript strings.Builder
	cli := func(wantCode int, stdin string, args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, vars, stdin, args...)
		transcript.WriteString(out + errOut)
		if code != wantCode {
			t.Fatalf("opwatch %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), code, wantCode, out, errOut)
		}
		return out + errOut
	}

	out := cli(0, "", "source", "add", "--name", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL())
	if !strings.Contains(out, "no auditevents feature") {
		t.Errorf("source add does not warn about the missing feature:\n%s", out)
	}
	cli(1, "", "source", "add", "--name", "acme", "--token-env", "OP_TOKEN", "--base-url", em.URL()) // duplicate
	cli(2, "", "source", "add", "--name", "bad", "--token-env", "OP_TOKEN", "--region", "mars")
	// A token read from stdin works too.
	cli(0, tok+"\n", "source", "add", "--name", "stdin", "--token-file", "-", "--base-url", em.URL(), "--interval", "30s")
	cli(0, "", "source", "remove", "stdin")

	out = cli(0, "", "source", "test", "acme")
	if !strings.Contains(out, "OnePassword.SignInAttempt") || !strings.Contains(out, "lacks the auditevents feature") {
		t.Errorf("source test output:\n%s", out)
	}
	out = cli(1, "", "pull")
	if !strings.Contains(out, "auditevents") {
		t.Errorf("pull does not name the missing feature:\n%s", out)
	}
	out = cli(0, "", "source", "show", "acme")
	for _, want := range []string{"OnePassword.SignInAttempt: ok", "OnePassword.AuditEvent: stopped", "500 stored"} {
		if !strings.Contains(out, want) {
			t.Errorf("source show lacks %q:\n%s", want, out)
		}
	}
	cli(0, "", "source", "list")

	// A token with every feature fixes the stopped stream.
	full, err := em.IssueToken(emulator.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vars["OP_TOKEN2"] = full
	cli(0, "", "source", "update", "acme", "--token-env", "OP_TOKEN2")
	cli(0, "", "pull")
	if out := cli(0, "", "source", "show", "acme"); !strings.Contains(out, "OnePassword.AuditEvent: ok") {
		t.Errorf("after a new token the audit stream is not ok:\n%s", out)
	}

	out = cli(0, "", "query", "SELECT count(*) AS n FROM onepassword_signinattempt")
	if !strings.Contains(out, "500") {
		t.Errorf("query count:\n%s", out)
	}
	out = cli(0, "", "query", "--format", "json", "SELECT uuid, client FROM onepassword_itemusage LIMIT 2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil || row["uuid"] == "" {
		t.Errorf("query --format json: %v\n%s", err, out)
	}
	out = cli(0, "", "query", "--format", "csv", "SELECT category, count(*) FROM onepassword_signinattempt GROUP BY 1")
	if !strings.HasPrefix(out, "category,count(*)\n") {
		t.Errorf("query --format csv:\n%s", out)
	}
	out = cli(1, "", "query", "DELETE FROM events")
	if !strings.Contains(out, "read-only") {
		t.Errorf("a write was not refused clearly:\n%s", out)
	}

	cli(0, "", "source", "remove", "acme")
	out = cli(0, "", "query", "SELECT count(*) FROM events")
	if !strings.Contains(out, "1500") {
		t.Errorf("events did not stay after the source was removed:\n%s", out)
	}
	if strings.Contains(transcript.String(), tok) || strings.Contains(transcript.String(), full) {
		t.Fatal("a token appeared in opwatch's output")
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
	if err := st.CreateSource(ctx, &src, allLogTypes()); err != nil {
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
