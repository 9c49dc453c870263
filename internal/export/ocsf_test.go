package export

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// sub is the value at a dotted path of a decoded row or document.
func sub(v any, path string) any {
	for _, k := range strings.Split(path, ".") {
		m, ok := v.(map[string]any) // readRow too: an alias
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// The OCSF mapping writes each log type as its IAM class, read back from
// the Parquet files: the classes, activities and statuses, the objects,
// and the unmapped remainder.
func TestOCSFMapping(t *testing.T) {
	l := testLake()
	at := day(10, 9)
	l.add("OnePassword.AuditEvent", at, fmt.Sprintf(auditEvent, "a1", at.Format(time.RFC3339Nano)), []string{"198.51.100.4"}, []string{"ann@example.com"})
	l.add("OnePassword.AuditEvent", at.Add(time.Second), `{"uuid":"a2","timestamp":"`+at.Format(time.RFC3339Nano)+`","actor_uuid":"A1",`+
		`"action":"suspend","object_type":"user","object_uuid":"U7","object_details":{"uuid":"U7","name":"Bo","email":"bo@example.com"},`+
		`"session":{"uuid":"S9","login_time":"2026-11-10T09:00:00.5Z","ip":"198.51.100.4"},"actor_type":"user","account_uuid":"ACC"}`, nil, nil)
	out := t.TempDir()
	m := exportTest(t, l, out, func(o *Options) { o.Mapping = MappingOCSF })
	if m.LastExport.Mapping != MappingOCSF || m.Partitions[0].Mapping != MappingOCSF {
		t.Errorf("manifest mapping %q %q", m.LastExport.Mapping, m.Partitions[0].Mapping)
	}
	read := func(lt string) []readRow {
		_, rows := readFile(t, filepath.Join(out, "p_log_type="+lt, "dt=2026-11-10", "part-0000.parquet"))
		if len(rows) == 0 {
			t.Fatalf("%s: no rows", lt)
		}
		return rows
	}
	check := func(name string, r readRow, want map[string]any) {
		t.Helper()
		for path, w := range want {
			if got := sub(r, path); fmt.Sprint(got) != fmt.Sprint(w) {
				t.Errorf("%s: %s = %v, want %v", name, path, got, w)
			}
		}
		if r["raw_data"] != r[RawColumn] || r["raw_data"] == nil {
			t.Errorf("%s: raw_data %v, p_raw %v", name, r["raw_data"], r[RawColumn])
		}
		evTime := ts(r["p_event_time"])
		if got, _ := r["time"].(int64); got != evTime.UnixMilli() || !ts(r["time_dt"]).Equal(evTime) {
			t.Errorf("%s: time %v, time_dt %v; want %d ms", name, r["time"], r["time_dt"], evTime.UnixMilli())
		}
	}
	unmapped := func(name string, r readRow) map[string]any {
		t.Helper()
		var u map[string]any
		s, _ := r["unmapped"].(string)
		if err := json.Unmarshal([]byte(s), &u); err != nil {
			t.Fatalf("%s: unmapped %q: %v", name, s, err)
		}
		return u
	}

	sign := read("OnePassword.SignInAttempt")[0]
	check("sign-in", sign, map[string]any{
		"class_uid": int64(3002), "class_name": "Authentication", "category_uid": int64(3), "category_name": "Identity & Access Management",
		"activity_id": int64(1), "activity_name": "Logon", "type_uid": int64(300201), "type_name": "Authentication: Logon",
		"status_id": int64(1), "status": "Success", "status_code": "success", "status_detail": "credentials_ok", "is_mfa": false,
		"severity_id": int64(1), "metadata.uid": "s10 0", "metadata.version": OCSFVersion, "metadata.product.name": "1Password",
		"metadata.product.vendor_name": "1Password", "metadata.log_name": "signinattempts", "metadata.profiles": []any{"datetime", "host"},
		"metadata.original_time": day(10, 0).Format(time.RFC3339Nano), "user.uid": "U1", "user.name": "Ann",
		"user.email_addr": "ann@example.com", "user.type_id": nil,
		"src_endpoint.ip": "192.0.2.7", "src_endpoint.location.city": "Toronto", "src_endpoint.location.country": "CA",
		"src_endpoint.location.region": "Ontario", "src_endpoint.location.lat": 43.5, "src_endpoint.location.long": -79.25,
		"session.uid": "S1", "service.name": "1Password", "actor.app_name": "1Password for Mac",
		"device.type_id": int64(0), "device.os.name": "MacOSX", "device.os.version": "14.1", "device.os.type_id": int64(300),
		"entity": nil,
	})
	u := unmapped("sign-in", sign)
	if fmt.Sprint(u) != "map[client:map[app_version:81024 platform_name:Chrome platform_version:120] details:<nil> "+
		"location:map[country:Canada] new_field:[1 2] target_user:map[extra:kept in p_raw]]" {
		t.Errorf("sign-in unmapped: %v", u)
	}

	item := read("OnePassword.ItemUsage")[0]
	check("item usage", item, map[string]any{
		"class_uid": int64(3004), "activity_id": int64(2), "activity_name": "Read", "type_uid": int64(300402),
		"type_name": "Entity Management: Read", "status_id": int64(1), "metadata.event_code": "reveal",
		"entity.uid": "I1", "entity.type": "item", "entity.version": "7", "actor.user.uid": "U2",
		"actor.user.email_addr": "bob@example.com", "src_endpoint.ip": "2001:db8::1", "user": nil, "device": nil,
		"metadata.profiles": []any{"datetime"}, "is_mfa": nil, "status_detail": nil,
	})
	if u := unmapped("item usage", item); fmt.Sprint(u) != "map[vault_uuid:V1]" {
		t.Errorf("item usage unmapped: %v", u)
	}

	audits := read("OnePassword.AuditEvent")
	if len(audits) != 2 {
		t.Fatalf("%d audit rows", len(audits))
	}
	check("audit grant", audits[0], map[string]any{
		"class_uid": int64(3004), "activity_id": int64(99), "activity_name": "grant", "type_uid": int64(300499),
		"type_name": "Entity Management: Other", "metadata.event_code": "grant", "entity.uid": "V9", "entity.type": "uva",
		"actor.user.uid": "A1", "actor.user.name": "Ann Admin", "actor.user.email_addr": "ann@example.com",
		"session.uid": "S9", "src_endpoint.ip": "198.51.100.4", "device.uid": "D1", "user": nil,
	})
	if u := unmapped("audit grant", audits[0]); fmt.Sprint(u) != "map[aux_info:R aux_uuid:U7]" {
		t.Errorf("audit grant unmapped: %v", u)
	}
	check("audit suspend", audits[1], map[string]any{
		"class_uid": int64(3001), "class_name": "Account Change", "activity_id": int64(5), "activity_name": "Disable",
		"type_uid": int64(300105), "user.uid": "U7", "user.name": "Bo", "user.email_addr": "bo@example.com",
		"user.type_id": int64(1), "actor.user.uid": "A1", "actor.user.type": "User", "entity": nil,
		"session.created_time": time.Date(2026, 11, 10, 9, 0, 0, 5e8, time.UTC).UnixMilli(),
	})
	if u := unmapped("audit suspend", audits[1]); fmt.Sprint(u) != "map[account_uuid:ACC actor_type:user object_type:user]" {
		t.Errorf("audit suspend unmapped: %v", u)
	}

	// Another mapping in the same directory is refused.
	if _, err := Run(t.Context(), l, Options{Out: out, Since: day(10, 0), Until: day(11, 0), Mapping: MappingECS}); err == nil {
		t.Error("an ECS export into an OCSF directory was accepted")
	}
	for _, lt := range logtype.All() {
		if _, err := NewOCSFTable(lt); err != nil {
			t.Error(err)
		}
	}
}

// ocsfFixtureDir holds sample Events API payloads beside the repository.
const ocsfFixtureDir = "../../../shared/fixtures/onepassword"

type ocsfFixture struct {
	file string
	line int
	lt   *logtype.LogType
	raw  []byte
}

// ocsfFixtures reads every event of the fixtures: envelope items and ndjson
// lines. It skips the test when the fixtures are absent.
func ocsfFixtures(t *testing.T) []ocsfFixture {
	t.Helper()
	entries, err := os.ReadDir(ocsfFixtureDir)
	if os.IsNotExist(err) {
		t.Skipf("fixtures not found at %s", ocsfFixtureDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []ocsfFixture
	for _, e := range entries {
		name := e.Name()
		var lt *logtype.LogType
		switch {
		case strings.Contains(name, "introspect"):
			continue
		case strings.Contains(name, "signinattempts"):
			lt = logtype.SignInAttempt()
		case strings.Contains(name, "itemusages"):
			lt = logtype.ItemUsage()
		case strings.Contains(name, "audit"):
			lt = logtype.AuditEvent()
		default:
			continue
		}
		data, err := os.ReadFile(filepath.Join(ocsfFixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".ndjson") {
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for n := 1; sc.Scan(); n++ {
				if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
					out = append(out, ocsfFixture{name, n, lt, bytes.Clone(line)})
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		var page struct{ Items []json.RawMessage }
		if err := json.Unmarshal(data, &page); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for i, item := range page.Items {
			out = append(out, ocsfFixture{name, i + 1, lt, item})
		}
	}
	if len(out) < 100 {
		t.Fatalf("only %d fixture events in %s", len(out), ocsfFixtureDir)
	}
	return out
}

// flatten lists the scalar leaves of a decoded JSON value by dotted path
// (arrays whole, as JSON text).
func flatten(prefix string, v any, into map[string]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			flatten(p, c, into)
		}
	case []any:
		b, _ := json.Marshal(x)
		into[prefix] = string(b)
	default:
		into[prefix] = fmt.Sprint(x)
	}
}

func decodeNumbers(t *testing.T, s string) map[string]any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("%q: %v", s, err)
	}
	return m
}

// Every fixture event maps, to the class, activity and status its action
// and category call for, and loses nothing: each field of the event is
// either in unmapped, unchanged, or its value is in a mapped column.
func TestOCSFFixtures(t *testing.T) {
	fixtures := ocsfFixtures(t)
	tables := map[string]*Table{}
	for _, lt := range logtype.All() {
		tb, err := NewOCSFTable(lt)
		if err != nil {
			t.Fatal(err)
		}
		tables[lt.Name] = tb
	}
	want := map[string]string{ // file:line → class/activity/status
		"elastic-integrations_pipeline-test_signinattempts_v1.ndjson:1": "3002/1/1",
		"elastic-integrations_pipeline-test_signinattempts_v1.ndjson:2": "3002/1/2",
		"elastic-integrations_pipeline-test_auditevents_v1.ndjson:1":    "3001/5/1",
		"elastic-integrations_mock_itemusages_v1_page1.json:1":          "3004/2/1",
		"elastic-integrations_mock_itemusages_v1_page2.json:1":          "3004/0/1",
		"grove_auditevents_page001.json:1":                              "3004/99/1",
	}
	byAction := map[string]string{ // the CRIBL v2 events, by action/object_type
		"patch/items": "3004/3/1", "view/report": "3004/2/1", "create/sa": "3001/1/1",
		"create/satoken": "3004/1/1", "dlgsess/dlgdsess": "3004/99/1",
	}
	l := &lake{}
	at := day(10, 1)
	seen := map[string]int{}
	for _, fx := range fixtures {
		name := fmt.Sprintf("%s:%d", fx.file, fx.line)
		ev := store.StoredEvent{LogType: fx.lt.Name, Raw: fx.raw, EventTime: at, ParseTime: at}
		if p, err := fx.lt.Parse(fx.raw); err == nil {
			ev.EventTime, ev.UUID, ev.IPs, ev.Emails = p.Time, p.UUID, p.IPs, p.Emails
		} // Panther's normalised rows do not parse: mapped all the same
		doc := ocsfDoc(&ev, decodeObject(fx.raw))
		class, act, status := doc["class_uid"].(json.Number), doc["activity_id"].(json.Number), doc["status_id"].(json.Number)
		got := fmt.Sprintf("%s/%s/%s", class, act, status)
		raw := decodeNumbers(t, string(fx.raw))
		if w, ok := want[name]; ok {
			seen[name]++
			if got != w {
				t.Errorf("%s: class/activity/status %s, want %s", name, got, w)
			}
		}
		if strings.HasPrefix(fx.file, "cribl-") {
			key := fmt.Sprint(raw["action"], "/", raw["object_type"])
			if w, ok := byAction[key]; !ok || got != w {
				t.Errorf("%s (%s): class/activity/status %s, want %s", name, key, got, w)
			}
			seen[key]++
		}
		ci, _ := class.Int64()
		ai, _ := act.Int64()
		if typ := doc["type_uid"].(json.Number); string(typ) != strconv.FormatInt(ci*100+ai, 10) {
			t.Errorf("%s: type_uid %s for class %d activity %d", name, typ, ci, ai)
		}
		if id, _ := raw["uuid"].(string); id != "" && sub(doc, "metadata.uid") != id {
			t.Errorf("%s: metadata.uid %v, want %q", name, sub(doc, "metadata.uid"), id)
		}
		// Nothing lost.
		var un map[string]any
		if s, ok := doc["unmapped"].(string); ok {
			un = decodeNumbers(t, s)
		}
		leftover, orig, mapped := map[string]string{}, map[string]string{}, map[string]string{}
		flatten("", un, leftover)
		flatten("", raw, orig)
		d := map[string]any{}
		for k, v := range doc {
			if k != "raw_data" && k != "unmapped" {
				d[k] = v
			}
		}
		flatten("", d, mapped)
		values := map[string]bool{}
		for _, v := range mapped {
			values[v] = true
		}
		for path, v := range orig {
			if lv, ok := leftover[path]; ok {
				if lv != v {
					t.Errorf("%s: unmapped %s = %s, was %s", name, path, lv, v)
				}
				continue
			}
			if path == "session.login_time" { // as epoch ms
				tm, _ := time.Parse(time.RFC3339Nano, v)
				v = strconv.FormatInt(tm.UnixMilli(), 10)
			}
			if !values[v] {
				t.Errorf("%s: %s = %s is neither mapped nor in unmapped", name, path, v)
			}
		}
		if tables[fx.lt.Name].Row(nil, &ev) == nil {
			t.Errorf("%s: no row", name)
		}
		e := l.add(fx.lt.Name, at, string(fx.raw), ev.IPs, ev.Emails)
		e.UUID = ev.UUID
	}
	for name := range want {
		if seen[name] != 1 {
			t.Errorf("fixture %s seen %d times", name, seen[name])
		}
	}
	for key := range byAction {
		if seen[key] == 0 {
			t.Errorf("no CRIBL event %s", key)
		}
	}
	// The whole set through the writer and back.
	out := t.TempDir()
	m, err := Run(context.Background(), l, Options{Out: out, Since: at, Until: at.Add(time.Hour), Mapping: MappingOCSF, noSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var rows int
	for _, p := range m.Partitions {
		for _, f := range p.Files {
			_, rs := readFile(t, filepath.Join(out, filepath.FromSlash(f.Path)))
			rows += len(rs)
		}
	}
	if rows != len(fixtures) {
		t.Errorf("read back %d rows, want %d", rows, len(fixtures))
	}
	t.Logf("%d fixture events mapped", len(fixtures))
}

// FuzzOCSF maps arbitrary event JSON as each log type: it never panics,
// always yields a row the Parquet writer takes, with a class the log type
// allows and raw_data byte for byte.
func FuzzOCSF(f *testing.F) {
	f.Add(uint8(0), []byte(`{"uuid":"a","timestamp":"2026-11-10T01:02:03Z","category":"mfa_failed","type":"totp_bad"}`))
	f.Add(uint8(1), []byte(`{"action":"reveal","used_version":1e400,"user":{"uuid":7,"user_type":"external_user"},"item_uuid":""}`))
	f.Add(uint8(2), []byte(`{"action":"delete","object_type":"user","object_uuid":"U","object_details":{"uuid":"X"},"session":{"login_time":"x","ip":[1]}}`))
	f.Add(uint8(2), []byte(`{"action":null,"object_type":"sa","actor_details":{"user_type":5},"location":{"latitude":"n","longitude":1e999}}`))
	f.Add(uint8(0), []byte(`{"category":"brand_new","client":{"os_name":"Plan 9","os_version":3},"location":{"country":""},"country":"AR"}`))
	f.Add(uint8(1), []byte(`{"used_version":"7","item_uuid":["x"],"client":{"app_name":{"a":1}}}`))
	f.Add(uint8(1), []byte(`not json`))
	f.Add(uint8(2), []byte(`[1,2]`))
	f.Add(uint8(0), []byte(`{"client":{"a":{"b":{"c":"<&>"}}}}`))
	f.Add(uint8(0), []byte("{\"uuid\":\"\\ud800\",\"type\":\"\xff\"}"))
	types := logtype.All()
	tables := map[string]*Table{}
	for _, lt := range types {
		tb, err := NewOCSFTable(lt)
		if err != nil {
			f.Fatal(err)
		}
		tables[lt.Name] = tb
	}
	allowed := map[string]map[string]bool{
		"OnePassword.SignInAttempt": {"3002": true},
		"OnePassword.ItemUsage":     {"3004": true},
		"OnePassword.AuditEvent":    {"3001": true, "3004": true},
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		lt := types[int(which)%len(types)]
		at := day(10, 1)
		ev := store.StoredEvent{LogType: lt.Name, Raw: raw, EventTime: at, ParseTime: at, RowID: "r"}
		doc := ocsfDoc(&ev, decodeObject(raw))
		class, _ := doc["class_uid"].(json.Number)
		if !allowed[lt.Name][string(class)] {
			t.Fatalf("%s mapped to class %v", lt.Name, doc["class_uid"])
		}
		if doc["raw_data"] != string(raw) {
			t.Fatal("raw_data changed")
		}
		if s, ok := doc["unmapped"].(string); ok && !json.Valid([]byte(s)) {
			t.Fatalf("unmapped is not JSON: %q", s)
		}
		tb := tables[lt.Name]
		row := tb.Row(nil, &ev)
		var buf bytes.Buffer
		w := parquet.NewWriter(&buf, tb.Schema)
		if _, err := w.WriteRows([]parquet.Row{row}); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil || pf.NumRows() != 1 {
			t.Fatalf("%v, %d rows", err, pf.NumRows())
		}
	})
}

// TestDuckDBReadsOCSF: DuckDB reads the OCSF columns with OCSF's types,
// across the three log types at once (they share one schema).
func TestDuckDBReadsOCSF(t *testing.T) {
	dir := duckdbDir(t)
	l := testLake()
	at := day(10, 9)
	l.add("OnePassword.AuditEvent", at, fmt.Sprintf(auditEvent, "a1", at.Format(time.RFC3339Nano)), nil, nil)
	out := t.TempDir()
	exportTest(t, l, out, func(o *Options) { o.Mapping = MappingOCSF })
	script := `
import { DuckDBInstance } from '@duckdb/node-api';
const db = await DuckDBInstance.create(':memory:');
const c = await db.connect();
const q = async (sql) => (await c.runAndReadAll(sql)).getRowObjectsJson();
const f = "read_parquet('" + process.env.EXPORT_DIR + "/*/*/*.parquet', hive_partitioning = true, union_by_name = true)";
console.log(JSON.stringify({
  types: await q("SELECT column_name AS c, column_type AS t FROM (DESCRIBE SELECT * FROM " + f + ")"),
  rows: await q("SELECT class_uid::INTEGER AS class, activity_id::INTEGER AS act, count(*)::INTEGER AS n, " +
    "max(src_endpoint.location.lat) AS lat, max(time = epoch_ms(time_dt))::VARCHAR AS same FROM " + f + " WHERE dt = DATE '2026-11-10' GROUP BY ALL ORDER BY ALL"),
}));
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
	var got struct {
		Types []struct{ C, T string }
		Rows  []json.RawMessage
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	types := map[string]string{}
	for _, c := range got.Types {
		types[c.C] = c.T
	}
	for col, typ := range map[string]string{
		"class_uid": "BIGINT", "time": "BIGINT", "time_dt": "TIMESTAMP WITH TIME ZONE", "is_mfa": "BOOLEAN",
		"unmapped": "VARCHAR", "raw_data": "VARCHAR", "session": "STRUCT(created_time BIGINT, uid VARCHAR)",
		"src_endpoint": "STRUCT(ip VARCHAR, \"location\" STRUCT(city VARCHAR, country VARCHAR, lat DOUBLE, long DOUBLE, region VARCHAR))",
	} {
		if types[col] != typ {
			t.Errorf("DuckDB reads %s as %q, want %q", col, types[col], typ)
		}
	}
	var rows []string
	for _, r := range got.Rows {
		rows = append(rows, string(r))
	}
	want := []string{
		`{"class":3002,"act":1,"n":5,"lat":43.5,"same":"true"}`,
		`{"class":3004,"act":2,"n":3,"lat":null,"same":"true"}`,
		`{"class":3004,"act":99,"n":1,"lat":null,"same":"true"}`,
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("DuckDB read\n %s\nwant\n %s", strings.Join(rows, "\n "), strings.Join(want, "\n "))
	}
}
