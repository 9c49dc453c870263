package export

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// duckdbScript reads an export with DuckDB (its npm package ships the
// engine) and prints what the test checks, as JSON.
const duckdbScript = `
import { DuckDBInstance } from '@duckdb/node-api';
const dir = process.env.EXPORT_DIR;
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
const q = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson();
const all = "read_parquet('" + dir + "/*/*/*.parquet', hive_partitioning = true, union_by_name = true)";
const sig = "read_parquet('" + dir + "/p_log_type=OnePassword.SignInAttempt/*/*.parquet', hive_partitioning = true)";
const out = {
  partitions: await q("SELECT p_log_type || '/' || dt::VARCHAR AS p, count(*)::INTEGER AS n FROM " + all + " GROUP BY ALL ORDER BY 1"),
  types: await q("SELECT column_name AS c, column_type AS t FROM (DESCRIBE SELECT * FROM " + sig + ")"),
  rows: await q("SELECT p_row_id, p_raw, epoch_us(p_event_time)::VARCHAR AS us, client.ip_address AS ip, location.latitude AS lat, p_any_emails AS emails FROM " + all + " ORDER BY p_row_id"),
};
console.log(JSON.stringify(out));
`

// duckdbDir is a folder whose node_modules holds @duckdb/node-api:
// OPWATCH_DUCKDB_NODE_DIR, else the console tests' e2e/ when it has it.
func duckdbDir(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Skip("node not found: the DuckDB check needs Node.js and @duckdb/node-api")
	}
	for _, d := range []string{os.Getenv("OPWATCH_DUCKDB_NODE_DIR"), "../../e2e"} {
		if d == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "node_modules", "@duckdb", "node-api", "package.json")); err == nil {
			abs, err := filepath.Abs(d)
			if err != nil {
				t.Fatal(err)
			}
			return abs
		}
	}
	if d := os.Getenv("OPWATCH_DUCKDB_NODE_DIR"); d != "" {
		// CI sets it after installing the package: a skip there would hide
		// that the independent reader never ran.
		t.Fatalf("OPWATCH_DUCKDB_NODE_DIR=%s has no node_modules/@duckdb/node-api (npm ci in e2e/ installs it)", d)
	}
	t.Skip("@duckdb/node-api not installed: npm ci in e2e/, or npm install @duckdb/node-api in a folder and set OPWATCH_DUCKDB_NODE_DIR to it")
	return ""
}

// TestDuckDBReads reads an export back with DuckDB, an independent reader:
// the partitions and their row counts, the column types, and every row's
// p_raw, event time, nested members and lists.
func TestDuckDBReads(t *testing.T) {
	dir := duckdbDir(t)
	l := testLake()
	out := t.TempDir()
	exportTest(t, l, out, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", duckdbScript)
	cmd.Dir = dir // where node resolves @duckdb/node-api from
	cmd.Env = append(os.Environ(), "EXPORT_DIR="+filepath.ToSlash(out))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var got struct {
		Partitions []struct {
			P string
			N int
		}
		Types []struct{ C, T string }
		Rows  []struct {
			PRowID string `json:"p_row_id"`
			PRaw   string `json:"p_raw"`
			US     string
			IP     *string
			Lat    *float64
			Emails []string
		}
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	want := map[string]int{}
	byRow := map[string]int{}
	for i, e := range l.events {
		if d := e.EventTime.Day(); d == 10 || d == 11 {
			want[e.LogType+"/"+e.EventTime.Format(dayLayout)]++
			byRow[e.RowID] = i
		}
	}
	gotParts := map[string]int{}
	for _, p := range got.Partitions {
		gotParts[p.P] = p.N
	}
	if fmt.Sprint(gotParts) != fmt.Sprint(want) {
		t.Errorf("DuckDB partitions:\n got %v\nwant %v", gotParts, want)
	}
	types := map[string]string{}
	for _, c := range got.Types {
		types[c.C] = c.T
	}
	for col, typ := range map[string]string{
		"p_event_time": "TIMESTAMP WITH TIME ZONE", "p_parse_time": "TIMESTAMP WITH TIME ZONE", "timestamp": "TIMESTAMP WITH TIME ZONE",
		"p_any_emails": "VARCHAR[]", "p_any_ip_addresses": "VARCHAR[]", "p_raw": "VARCHAR", "p_row_id": "VARCHAR",
		"p_log_type": "VARCHAR", "dt": "DATE", "category": "VARCHAR",
		"location": "STRUCT(city VARCHAR, country VARCHAR, latitude DOUBLE, longitude DOUBLE, region VARCHAR)",
	} {
		if types[col] != typ {
			t.Errorf("DuckDB reads %s as %q, want %q", col, types[col], typ)
		}
	}
	if len(got.Rows) != len(byRow) {
		t.Fatalf("DuckDB read %d rows, want %d", len(got.Rows), len(byRow))
	}
	for _, r := range got.Rows {
		i, ok := byRow[r.PRowID]
		if !ok {
			t.Fatalf("row %s is no exported event", r.PRowID)
		}
		e := l.events[i]
		if r.PRaw != string(e.Raw) {
			t.Errorf("%s: p_raw %q, want %q", r.PRowID, r.PRaw, e.Raw)
		}
		if r.US != fmt.Sprint(e.EventTime.UnixMicro()) {
			t.Errorf("%s: p_event_time %s µs, want %d", r.PRowID, r.US, e.EventTime.UnixMicro())
		}
		if strings.Join(r.Emails, ",") != strings.Join(e.Emails, ",") {
			t.Errorf("%s: p_any_emails %v, want %v", r.PRowID, r.Emails, e.Emails)
		}
		if e.LogType == "OnePassword.SignInAttempt" && strings.Contains(string(e.Raw), "192.0.2.7") &&
			(r.IP == nil || *r.IP != "192.0.2.7" || r.Lat == nil || *r.Lat != 43.5) {
			t.Errorf("%s: client.ip_address %v, location.latitude %v", r.PRowID, r.IP, r.Lat)
		}
	}
}

// TestDuckDBReadsECS: DuckDB reads the ECS mapping's nested groups and
// lists, and "@timestamp" as a time.
func TestDuckDBReadsECS(t *testing.T) {
	dir := duckdbDir(t)
	l := testLake()
	out := t.TempDir()
	exportTest(t, l, out, func(o *Options) { o.Mapping = MappingECS })
	script := `
import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
const f = "read_parquet('" + process.env.EXPORT_DIR + "/p_log_type=OnePassword.SignInAttempt/*/*.parquet', hive_partitioning = true)";
const r = await c.runAndReadAll("SELECT count(*)::INTEGER AS n, min(epoch_us(\"@timestamp\"))::VARCHAR AS first, " +
  "max(event.category[1]) AS cat, max(event.outcome) AS outcome, max(source.geo.location.lat) AS lat, " +
  "max(len(related.user))::INTEGER AS rel, max(onepassword.client.app_name) AS app FROM " + f + " WHERE dt = DATE '2026-11-10'");
console.log(JSON.stringify(r.getRowObjectsJson()[0]));
`
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "--input-type=module", "-e", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "EXPORT_DIR="+filepath.ToSlash(out))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	want := fmt.Sprintf(`{"n":5,"first":"%d","cat":"authentication","outcome":"success","lat":43.5,"rel":3,"app":"1Password for Mac"}`,
		day(10, 0).UnixMicro())
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("DuckDB read\n %s\nwant\n %s", got, want)
	}
}
