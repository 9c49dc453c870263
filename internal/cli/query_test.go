package cli

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// hostileSignIn is a sign-in attempt whose fields were written by an
// attacker: a terminal title and bell in country, a screen clear and a
// carriage return in the user's name, a spreadsheet formula as app name.
const hostileSignIn = `{"uuid":"EVT1","session_uuid":"S1","timestamp":"2026-11-30T10:00:00Z",` +
	`"category":"success","type":"credentials_ok","country":"US\u001b]0;pwned\u0007",` +
	`"target_user":{"uuid":"U1","name":"Eve\u001b[2J\rAdmin","email":"eve@example.com"},` +
	`"client":{"app_name":"=HYPERLINK(\"http://evil.example\",\"open\")","app_version":"1","ip_address":"192.0.2.7"},` +
	`"location":{"country":"US","latitude":1.5,"longitude":-2.25}}`

// seededLake makes a database holding the hostile sign-in attempt and
// returns its path.
func seededLake(t *testing.T) string {
	t.Helper()
	db := filepath.Join(t.TempDir(), "lake.db")
	ctx := context.Background()
	st, err := engine.Open(ctx, db, engine.Options{Mode: engine.ReadWrite})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := store.Source{Name: "acme", AccountUUID: "ACCT", APIVersion: 2, Interval: time.Minute, Lookback: time.Hour, Token: []byte("sealed")}
	if err := st.CreateSource(ctx, &src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	streams, err := st.Streams(ctx, src.ID)
	if err != nil || len(streams) != 1 {
		t.Fatalf("streams: %v %v", streams, err)
	}
	at := time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)
	ev := store.Event{SourceID: src.ID, Account: "ACCT", LogType: "OnePassword.SignInAttempt", UUID: "EVT1",
		EventTime: at, ParseTime: at, RowID: "row1", SourceLabel: "acme",
		IPs: []string{"192.0.2.7"}, Emails: []string{"eve@example.com"}, Raw: []byte(hostileSignIn)}
	if res, err := st.InsertEvents(ctx, streams[0].ID, []store.Event{ev}, nil); err != nil || res.Inserted != 1 {
		t.Fatalf("insert: %+v %v", res, err)
	}
	if err := st.SyncViews(ctx, Views()); err != nil {
		t.Fatal(err)
	}
	return db
}

// Table output never lets a control character reach the terminal.
func TestQueryTableEscapesControlCharacters(t *testing.T) {
	db := seededLake(t)
	vars := map[string]string{"OPWATCH_DB": db}
	out, errOut, code := runCLI(t, vars, "", "query",
		`SELECT country, json_extract(target_user, '$.name') AS "name`+"\x1b[1m"+`", 'a'||char(9)||'b'||char(10)||'c'||char(127)||char(155) AS t FROM onepassword_signinattempt`)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	for _, c := range []byte{0x1b, 0x07, '\r', 0x7f} {
		if bytes.IndexByte([]byte(out), c) >= 0 {
			t.Errorf("table output holds control byte %#x:\n%q", c, out)
		}
	}
	if strings.Contains(out, "\u009b") {
		t.Errorf("table output holds the 8-bit CSI:\n%q", out)
	}
	for _, want := range []string{`US\x1b]0;pwned\x07`, `Eve\x1b[2J\rAdmin`, `name\x1b[1m`, `a\tb\nc\x7f\u009b`} {
		if !strings.Contains(out, want) {
			t.Errorf("table output lacks %s:\n%s", want, out)
		}
	}
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 2 {
		t.Errorf("a value broke the table into %d lines:\n%s", len(lines), out)
	}
	if errOut != "(1 row)\n" {
		t.Errorf("stderr %q, want (1 row)", errOut)
	}
}

// JSON output is exact, with object and array columns nested as JSON and
// every other text left a string, whatever it looks like.
func TestQueryJSONNestsJSONColumns(t *testing.T) {
	db := seededLake(t)
	vars := map[string]string{"OPWATCH_DB": db}
	out, errOut, code := runCLI(t, vars, "", "query", "--format", "json",
		`SELECT uuid, client, location, p_any_ip_addresses, country, '{"looks":"like json"}' AS note, `+
			`'a<b>&c' AS html, 9007199254740993 AS big, NULL AS absent FROM onepassword_signinattempt`)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(out, `{"uuid":"EVT1","client":{`) {
		t.Fatalf("want one object per line, keys in column order:\n%s", out)
	}
	var row map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &row); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	want := map[string]string{
		"uuid":               `"EVT1"`,
		"client":             `{"app_name":"=HYPERLINK(\"http://evil.example\",\"open\")","app_version":"1","ip_address":"192.0.2.7"}`,
		"location":           `{"country":"US","latitude":1.5,"longitude":-2.25}`,
		"p_any_ip_addresses": `["192.0.2.7"]`,
		"country":            `"US\u001b]0;pwned\u0007"`,
		"note":               `"{\"looks\":\"like json\"}"`,
		"html":               `"a<b>&c"`,
		"big":                `9007199254740993`,
		"absent":             `null`,
	}
	for k, w := range want {
		if got := string(row[k]); got != w {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}
}

// CSV output is exact except that formulas are neutralised; numbers stay
// numbers.
func TestQueryCSVNeutralisesFormulas(t *testing.T) {
	db := seededLake(t)
	vars := map[string]string{"OPWATCH_DB": db}
	out, errOut, code := runCLI(t, vars, "", "query", "--format", "csv",
		`SELECT json_extract(client, '$.app_name') AS app, '+1' AS plus, '@SUM(A1)' AS at, '-2' AS minus, -2 AS n, `+
			`char(9)||'x' AS tab, 'a,b "c"'||char(10)||'d' AS plain, NULL AS absent FROM onepassword_signinattempt`)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("%v, %d records:\n%s", err, len(recs), out)
	}
	want := []string{`'=HYPERLINK("http://evil.example","open")`, "'+1", "'@SUM(A1)", "'-2", "-2", "'\tx", "a,b \"c\"\nd", ""}
	for i, w := range want {
		if recs[1][i] != w {
			t.Errorf("%s = %q, want %q", recs[0][i], recs[1][i], w)
		}
	}
}

// A result without rows still has its header, and the count is worded
// for people.
func TestQueryHeaderWithoutRows(t *testing.T) {
	db := seededLake(t)
	vars := map[string]string{"OPWATCH_DB": db}
	q := "SELECT uuid, country FROM onepassword_signinattempt WHERE 0"
	out, errOut, code := runCLI(t, vars, "", "query", q)
	if code != 0 || !strings.HasPrefix(out, "uuid ") || strings.Count(out, "\n") != 1 || errOut != "(0 rows)\n" {
		t.Errorf("table: exit %d, stdout %q, stderr %q; want the header and (0 rows)", code, out, errOut)
	}
	out, _, code = runCLI(t, vars, "", "query", q, "--format", "csv")
	if code != 0 || out != "uuid,country\n" {
		t.Errorf("csv: exit %d, stdout %q; want the header", code, out)
	}
	out, _, code = runCLI(t, vars, "", "query", q, "--format", "json")
	if code != 0 || out != "" {
		t.Errorf("json: exit %d, stdout %q; want nothing", code, out)
	}
	if _, errOut, _ := runCLI(t, vars, "", "query", "SELECT 1 AS a UNION ALL SELECT 2"); errOut != "(2 rows)\n" {
		t.Errorf("two rows: stderr %q", errOut)
	}
}

// The header of a result without rows is printed in table and CSV form,
// once, when the engine reports the columns with nil values.
func TestPrinterHeaderWithoutRows(t *testing.T) {
	for _, tt := range []struct{ format, want string }{
		{"table", "uuid  country\n"},
		{"csv", "uuid,country\n"},
		{"json", ""},
	} {
		var b bytes.Buffer
		w, err := newRowWriter(tt.format, &b)
		if err != nil {
			t.Fatal(err)
		}
		p := &printer{out: w}
		if err := p.row([]string{"uuid", "country"}, nil); err != nil {
			t.Fatal(err)
		}
		if err := w.flush(); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want || p.rows != 0 {
			t.Errorf("%s: %q and %d rows, want %q and none", tt.format, b.String(), p.rows, tt.want)
		}
	}
}

// query opens the database read-only: a mistyped --db is named and not
// created, no key is needed or made, and nothing is written.
func TestQueryReadOnly(t *testing.T) {
	dir := t.TempDir()
	typo := filepath.Join(dir, "opwatch.dbb")
	out, errOut, code := runCLI(t, nil, "", "query", "SELECT 1", "--db", typo)
	if code != 1 || out != "" || !strings.Contains(errOut, typo) {
		t.Errorf("query on a missing database: exit %d, stdout %q, stderr %q; want 1 naming %s", code, out, errOut, typo)
	}
	if names := dirNames(dir); len(names) != 0 {
		t.Fatalf("query on a missing database created %v", names)
	}

	db := filepath.Join(dir, "o.db")
	if _, errOut, code := runCLI(t, nil, "", "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %d\n%s", code, errOut)
	}
	if fileExists(keyFile(db)) {
		t.Fatal("migrate created a key: it seals nothing")
	}
	before := dirNames(dir)
	if out, errOut, code := runCLI(t, nil, "", "query", "SELECT count(*) AS n FROM onepassword_itemusage", "--db", db); code != 0 || !strings.Contains(out, "0") {
		t.Fatalf("query: exit %d\n%s%s", code, out, errOut)
	}
	if fileExists(keyFile(db)) {
		t.Error("query created a key")
	}
	for _, q := range []string{"CREATE TABLE x (a)", "INSERT INTO sources (id) VALUES ('x')", "SELECT 1; DELETE FROM events"} {
		if out, errOut, code := runCLI(t, nil, "", "query", q, "--db", db); code != 1 || out != "" || errOut == "" {
			t.Errorf("query %q: exit %d, stdout %q, stderr %q; want refused", q, code, out, errOut)
		}
	}
	// The sealed token and the cursor are not the lake's.
	for _, q := range []string{"SELECT token FROM sources", "SELECT cursor FROM streams"} {
		if out, errOut, code := runCLI(t, nil, "", "query", q, "--db", db); code != 1 || !strings.Contains(errOut, "secret") {
			t.Errorf("query %q: exit %d, stdout %q, stderr %q; want refused as secret", q, code, out, errOut)
		}
	}
	// Two statements are refused for being two.
	if _, errOut, code := runCLI(t, nil, "", "query", "SELECT 1; SELECT 2", "--db", db); code != 1 || !strings.Contains(errOut, "one statement") {
		t.Errorf("two statements: exit %d, %q", code, errOut)
	}
	if after := dirNames(dir); strings.Join(after, ",") != strings.Join(before, ",") {
		t.Errorf("query changed the directory: %v, then %v", before, after)
	}
}

// --timeout stops an endless query with a message that says what to do.
func TestQueryTimeout(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "o.db")
	if _, errOut, code := runCLI(t, nil, "", "migrate", "--db", db); code != 0 {
		t.Fatalf("migrate: %d\n%s", code, errOut)
	}
	endless := "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
	out, errOut, code := runCLI(t, nil, "", "query", endless, "--db", db, "--timeout", "200ms")
	if code != 1 || out != "" || !strings.Contains(errOut, "--timeout 200ms") {
		t.Errorf("endless query: exit %d, stdout %q, stderr %q; want stopped at the timeout", code, out, errOut)
	}
	for _, bad := range []string{"0s", "-1m", "soon"} {
		if _, _, code := runCLI(t, nil, "", "query", "SELECT 1", "--db", db, "--timeout", bad); code != 2 {
			t.Errorf("--timeout %s: exit %d, want 2", bad, code)
		}
	}
}

// The SQL may come from stdin.
func TestQueryFromStdin(t *testing.T) {
	db := seededLake(t)
	out, errOut, code := runCLI(t, map[string]string{"OPWATCH_DB": db}, "SELECT uuid FROM onepassword_signinattempt\n", "query", "-", "--format", "csv")
	if code != 0 || out != "uuid\nEVT1\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

// migrate says what it did to the schema.
func TestMigrateReportsVersions(t *testing.T) {
	db := filepath.Join(t.TempDir(), "m.db")
	out, errOut, code := runCLI(t, nil, "", "migrate", "--db", db)
	if code != 0 || !strings.Contains(out, "created at schema version") {
		t.Fatalf("first migrate: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, nil, "", "migrate", "--db", db)
	if code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("second migrate: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(keyFile(db)); err == nil {
		t.Error("migrate created a key")
	}
}

func TestJSONValueKinds(t *testing.T) {
	j := &jsonWriter{jsonCols: map[string]bool{"details": true}}
	for _, tt := range []struct {
		col  string
		v    any
		want string
	}{
		{"details", `{"a": [1, 2.50, "x"]}`, `{"a":[1,2.50,"x"]}`},
		{"details", `[]`, `[]`},
		{"details", `"just a string"`, `"\"just a string\""`},
		{"details", `{"broken":`, `"{\"broken\":"`},
		{"details", `{} {}`, `"{} {}"`},
		{"other", `{"a":1}`, `"{\"a\":1}"`},
		{"n", int64(-3), `-3`},
		{"f", 0.1, `0.1`},
		{"inf", math.Inf(1), `"+Inf"`},
		{"nil", nil, `null`},
		{"s", "line\u2028sep <tag>", "\"line\\u2028sep <tag>\""},
	} {
		var b bytes.Buffer
		j.value(&b, tt.col, tt.v)
		if b.String() != tt.want {
			t.Errorf("%s %#v: %s, want %s", tt.col, tt.v, b.String(), tt.want)
		}
	}
}

// Whatever an event field holds, a JSON row is one valid line that gives
// the value back (nested, or as the same string), a table cell holds no
// control character, and a CSV cell reads back exactly, but for the quote
// that defuses a formula.
func FuzzQueryOutput(f *testing.F) {
	for _, s := range []string{"", "plain", `{"a":[1,2]}`, `[1, "x"]`, "{\"a\":1}\n", "\x1b]0;t\x07", "=1+1", "\xff\xfe", "a\u2028b", `"s"`, "{"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		j := &jsonWriter{w: bufio.NewWriter(&b), jsonCols: map[string]bool{"client": true}}
		if err := j.row([]string{"client", "country"}, []any{s, s}); err != nil {
			t.Fatal(err)
		}
		j.flush()
		line := b.String()
		if strings.Count(line, "\n") != 1 || !strings.HasSuffix(line, "\n") {
			t.Fatalf("not one line: %q", line)
		}
		var row map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("invalid JSON %q: %v", line, err)
		}
		var country string
		if err := json.Unmarshal(row["country"], &country); err != nil || (utf8.ValidString(s) && country != s) {
			t.Fatalf("country %s from %q", row["country"], s)
		}
		if c := row["client"]; c[0] == '{' || c[0] == '[' {
			var got, want any
			if json.Unmarshal(c, &got) != nil || json.Unmarshal([]byte(s), &want) != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("client %s nested from %q", c, s)
			}
		}

		cell := tableCell(s)
		for _, r := range cell {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
				t.Fatalf("table cell %q holds %U", cell, r)
			}
		}

		b.Reset()
		c := &csvWriter{w: csv.NewWriter(&b)}
		if err := c.row(nil, []any{s}); err != nil {
			t.Fatal(err)
		}
		c.flush()
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r") {
			return // encoding/csv itself changes these (\r\n to \n)
		}
		rec, err := csv.NewReader(&b).Read()
		if s == "" {
			return // an empty record is an empty line, which csv skips
		}
		if err != nil || len(rec) != 1 {
			t.Fatalf("csv of %q: %v %q", s, err, rec)
		}
		if got := strings.TrimPrefix(rec[0], "'"); got != s && rec[0] != s {
			t.Fatalf("csv of %q reads back %q", s, rec[0])
		}
	})
}

// A database at an older schema: query refuses it without touching it,
// and migrate (the only verb that migrates) upgrades it, saying so.
func TestOlderSchemaMigratedOnlyByMigrate(t *testing.T) {
	first, err := os.ReadFile(filepath.Join("..", "store", "sqlite", "migrations", "0001_init.sql"))
	if err != nil {
		t.Skipf("the first migration: %v", err)
	}
	if sqlite.LatestSchemaVersion() < 2 {
		t.Skip("no schema older than the latest")
	}
	db := filepath.Join(t.TempDir(), "old.db")
	conn, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)",
		string(first),
		"INSERT INTO schema_migrations VALUES (1, '0001_init.sql', '2026-01-01T00:00:00Z')",
	} {
		if _, err := conn.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	version := func() (v int) {
		t.Helper()
		if err := conn.QueryRow("SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	defer conn.Close()

	out, errOut, code := runCLI(t, nil, "", "query", "SELECT 1", "--db", db)
	if code != 1 || out != "" || !strings.Contains(errOut, "opwatch migrate") {
		t.Errorf("query on an older schema: exit %d, stdout %q, stderr %q; want refused, pointing to migrate", code, out, errOut)
	}
	if v := version(); v != 1 {
		t.Fatalf("query changed the schema to version %d", v)
	}
	out, errOut, code = runCLI(t, nil, "", "migrate", "--db", db)
	latest := sqlite.LatestSchemaVersion()
	if code != 0 || !strings.HasSuffix(out, fmt.Sprintf("version %d\n", latest)) && !strings.HasSuffix(out, fmt.Sprintf("1 → %d\n", latest)) {
		t.Errorf("migrate: exit %d, stdout %q, stderr %q; want the schema upgraded to %d", code, out, errOut, latest)
	}
	if v := version(); v != latest {
		t.Errorf("after migrate the schema is at version %d, want %d", v, latest)
	}
	if _, errOut, code := runCLI(t, nil, "", "query", "SELECT count(*) FROM onepassword_auditevent", "--db", db); code != 0 {
		t.Errorf("query after migrate: exit %d\n%s", code, errOut)
	}
}
