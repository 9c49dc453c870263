package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// lake is an in-memory store.Detect: events by position.
type lake struct{ events []store.StoredEvent }

func (l *lake) ScanEvents(ctx context.Context, logType string, from, to time.Time, maxSeq int64, fn func(*store.StoredEvent) error) error {
	for i := range l.events {
		e := l.events[i]
		if e.LogType == logType && !e.EventTime.Before(from) && e.EventTime.Before(to) && e.Seq <= maxSeq {
			if err := fn(&e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *lake) LatestSeq(ctx context.Context) (int64, error) {
	if len(l.events) == 0 {
		return 0, nil
	}
	return l.events[len(l.events)-1].Seq, nil
}

func (l *lake) add(lt string, at time.Time, raw string, ips, emails []string) *store.StoredEvent {
	seq := int64(len(l.events) + 1)
	l.events = append(l.events, store.StoredEvent{
		Seq: seq, Account: "acct", SourceID: "src-1", LogType: lt, UUID: fmt.Sprint("u", seq),
		EventTime: at, ParseTime: at.Add(3*time.Second + 1234*time.Nanosecond), RowID: fmt.Sprintf("%032x", seq),
		SourceLabel: "Prod 1Password", IPs: ips, Emails: emails, Raw: []byte(raw),
	})
	return &l.events[len(l.events)-1]
}

const signIn = `{"uuid":"%s","session_uuid":"S1","timestamp":"%s","category":"success","type":"credentials_ok","country":"CA",` +
	`"details":null,"target_user":{"uuid":"U1","name":"Ann","email":"ann@example.com","extra":"kept in p_raw"},` +
	`"client":{"app_name":"1Password for Mac","app_version":"81024","platform_name":"Chrome","platform_version":"120",` +
	`"os_name":"MacOSX","os_version":"14.1","ip_address":"192.0.2.7"},"location":{"country":"Canada","region":"Ontario",` +
	`"city":"Toronto","latitude":43.5,"longitude":-79.25},"new_field":[1,2]}`

const itemUsage = `{"uuid":"%s","timestamp":"%s","used_version":7,"vault_uuid":"V1","item_uuid":"I1","action":"reveal",` +
	`"user":{"uuid":"U2","email":"bob@example.com"},"client":{"ip_address":"2001:db8::1"}}`

func day(d int, h int) time.Time {
	return time.Date(2026, 11, d, h, 30, 15, 123456789, time.UTC)
}

func testLake() *lake {
	l := &lake{}
	for d := 9; d <= 13; d++ { // days 9 and 13 are outside [10, 13)
		for h := range 5 {
			at := day(d, h*4)
			l.add("OnePassword.SignInAttempt", at, fmt.Sprintf(signIn, fmt.Sprint("s", d, h), at.Format(time.RFC3339Nano)),
				[]string{"192.0.2.7"}, []string{"ann@example.com"})
			if h%2 == 0 {
				l.add("OnePassword.ItemUsage", at, fmt.Sprintf(itemUsage, fmt.Sprint("i", d, h), at.Format(time.RFC3339Nano)),
					[]string{"2001:db8::1", "203.0.113.9"}, []string{"bob@example.com", "bob@example.org"})
			}
		}
	}
	// A sparse event with nulls and a wrongly typed field: typed columns
	// null, p_raw exact.
	at := day(11, 23)
	l.add("OnePassword.SignInAttempt", at, `{"uuid":"sparse","timestamp":"`+at.Format(time.RFC3339)+`","client":null,"location":{"latitude":"north"},"category":5}`, nil, nil)
	return l
}

func exportTest(t *testing.T, l *lake, out string, mod func(*Options)) *Manifest {
	t.Helper()
	o := Options{Out: out, Since: day(10, 5), Until: time.Date(2026, 11, 12, 0, 0, 0, 0, time.UTC), Version: "v-test", RowGroupRows: 2, MaxOpen: 2,
		now: func() time.Time { return time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC) }}
	if mod != nil {
		mod(&o)
	}
	m, err := Run(context.Background(), l, o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// parquetFiles lists every *.parquet under dir, relative, with /.
func parquetFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	slices.Sort(files)
	return files
}

type readRow = map[string]any

func readFile(t *testing.T, name string) (*parquet.File, []readRow) {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	r := parquet.NewReader(f, pf.Schema())
	defer r.Close()
	var rows []readRow
	for {
		m := readRow{}
		err := r.Read(&m)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rows = append(rows, m)
	}
	return pf, rows
}

func TestRoundTrip(t *testing.T) {
	l := testLake()
	out := t.TempDir()
	m := exportTest(t, l, out, nil)

	// Days 10 and 11 of both types, whole (the range widens to days).
	want := map[string]int{}
	byRaw := map[string]*store.StoredEvent{}
	for i := range l.events {
		e := &l.events[i]
		if d := e.EventTime.Day(); d == 10 || d == 11 {
			want["p_log_type="+e.LogType+"/dt="+e.EventTime.Format(dayLayout)]++
			byRaw[string(e.Raw)] = e
		}
	}
	got := map[string]int{}
	files := parquetFiles(t, out)
	for _, name := range files {
		if name == ManifestName {
			continue
		}
		if !strings.HasSuffix(name, ".parquet") || !strings.HasPrefix(filepath.Base(name), "part-") {
			t.Errorf("unexpected file %s", name)
			continue
		}
		pf, rows := readFile(t, filepath.Join(out, name))
		got[filepath.ToSlash(filepath.Dir(name))] += len(rows)
		if len(pf.RowGroups()) < 2 && len(rows) > 2 {
			t.Errorf("%s: %d rows in %d row groups, want groups of 2", name, len(rows), len(pf.RowGroups()))
		}
		for _, rg := range pf.Metadata().RowGroups {
			for _, cc := range rg.Columns {
				if cc.MetaData.Codec.String() != "ZSTD" {
					t.Errorf("%s: column %v compressed with %s", name, cc.MetaData.PathInSchema, cc.MetaData.Codec)
				}
			}
		}
		for _, r := range rows {
			raw, _ := r[RawColumn].(string)
			e := byRaw[raw]
			if e == nil {
				t.Fatalf("%s: a row whose p_raw is no event in the range: %q", name, raw)
			}
			delete(byRaw, raw)
			checkRow(t, e, r)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("rows per partition:\n got %v\nwant %v", got, want)
	}
	if len(byRaw) != 0 {
		t.Errorf("%d events not exported", len(byRaw))
	}
	checkManifest(t, out, m, files)
}

// ts reads a TIMESTAMP(MICROS) column as the map reader gives it.
func ts(v any) time.Time {
	switch x := v.(type) {
	case int64:
		return time.UnixMicro(x).UTC()
	case time.Time:
		return x.UTC()
	}
	return time.Time{}
}

func checkRow(t *testing.T, e *store.StoredEvent, r readRow) {
	t.Helper()
	str := func(k string) any { return r[k] }
	eq := func(col string, got, want any) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("event %s: %s = %v (%T), want %v", e.UUID, col, got, got, want)
		}
	}
	eq("p_log_type", str("p_log_type"), e.LogType)
	eq("p_row_id", str("p_row_id"), e.RowID)
	eq("p_source_id", str("p_source_id"), e.SourceID)
	eq("p_source_label", str("p_source_label"), e.SourceLabel)
	eq("p_event_time", ts(r["p_event_time"]), e.EventTime.Truncate(time.Microsecond))
	eq("p_parse_time", ts(r["p_parse_time"]), e.ParseTime.Truncate(time.Microsecond))
	list := func(v any) []string {
		var s []string
		switch x := v.(type) {
		case []any:
			for _, y := range x {
				s = append(s, fmt.Sprint(y))
			}
		case nil:
		default:
			t.Errorf("list column is %T", v)
		}
		return s
	}
	eq("p_any_ip_addresses", list(r["p_any_ip_addresses"]), e.IPs)
	eq("p_any_emails", list(r["p_any_emails"]), e.Emails)
	obj := decodeObject(e.Raw)
	switch {
	case e.UUID == "sparse" || obj["uuid"] == "sparse":
		eq("client", r["client"], nil)
		eq("category", r["category"], nil) // 5 is not a string
		loc, _ := r["location"].(map[string]any)
		eq("location.latitude", loc["latitude"], nil)
	case e.LogType == "OnePassword.SignInAttempt":
		eq("uuid", r["uuid"], obj["uuid"])
		eq("timestamp", ts(r["timestamp"]), e.EventTime.Truncate(time.Microsecond))
		eq("details", r["details"], nil)
		c := r["client"].(map[string]any)
		eq("client.ip_address", c["ip_address"], "192.0.2.7")
		eq("client.app_version", c["app_version"], "81024")
		loc := r["location"].(map[string]any)
		eq("location.latitude", loc["latitude"], 43.5)
		eq("location.longitude", loc["longitude"], -79.25)
		u := r["target_user"].(map[string]any)
		eq("target_user.email", u["email"], "ann@example.com")
		eq("target_user.user_type", u["user_type"], nil)
		if _, ok := u["extra"]; ok {
			t.Errorf("an undeclared member became a column")
		}
		if _, ok := r["new_field"]; ok {
			t.Errorf("an undeclared field became a column")
		}
	case e.LogType == "OnePassword.ItemUsage":
		eq("used_version", r["used_version"], int64(7))
		eq("action", r["action"], "reveal")
		eq("location", r["location"], nil)
	}
}

func checkManifest(t *testing.T, out string, m *Manifest, files []string) {
	t.Helper()
	disk, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(disk.Partitions) != fmt.Sprint(m.Partitions) {
		t.Errorf("manifest on disk differs from the one returned")
	}
	listed := map[string]bool{}
	for _, p := range disk.Partitions {
		var rows int64
		for _, f := range p.Files {
			listed[f.Path] = true
			b, err := os.ReadFile(filepath.Join(out, f.Path))
			if err != nil {
				t.Errorf("manifest lists %s: %v", f.Path, err)
				continue
			}
			sum := sha256.Sum256(b)
			if hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(b)) != f.Bytes {
				t.Errorf("%s: manifest says %d bytes sha256 %s; the file has %d bytes sha256 %x", f.Path, f.Bytes, f.SHA256, len(b), sum)
			}
			pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if pf.NumRows() != f.Rows {
				t.Errorf("%s: manifest says %d rows, the file has %d", f.Path, f.Rows, pf.NumRows())
			}
			if f.MinEventTime.After(f.MaxEventTime) || f.MinEventTime.Format(dayLayout) != p.Day {
				t.Errorf("%s: event times %v..%v outside dt=%s", f.Path, f.MinEventTime, f.MaxEventTime, p.Day)
			}
			rows += f.Rows
		}
		if rows != p.Rows {
			t.Errorf("partition %s: %d rows, its files %d", p.Path, p.Rows, rows)
		}
	}
	for _, f := range files {
		if f != ManifestName && !listed[f] {
			t.Errorf("%s is on disk but not in the manifest", f)
		}
	}
	if len(listed) != len(files)-1 {
		t.Errorf("manifest lists %d files, %d on disk", len(listed), len(files)-1)
	}
}

func TestSchemaTypes(t *testing.T) {
	want := map[string]string{
		"p_event_time":          "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"p_parse_time":          "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"timestamp":             "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"p_log_type":            "STRING",
		"p_raw":                 "STRING",
		"p_any_emails":          "LIST",
		"p_any_ip_addresses":    "LIST",
		"location.latitude":     "DOUBLE",
		"client.ip_address":     "STRING",
		"used_version":          "INT(64,true)",
		"session.login_time":    "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)",
		"aux_id":                "INT(64,true)",
		"object_details.email":  "STRING",
		"target_user.user_type": "STRING",
	}
	seen := map[string]bool{}
	for _, lt := range logtype.All() {
		tb, err := NewTable(lt)
		if err != nil {
			t.Fatal(err)
		}
		var walk func(prefix string, f parquet.Field)
		walk = func(prefix string, f parquet.Field) {
			name := prefix + f.Name()
			if w, ok := want[name]; ok {
				seen[name] = true
				if got := f.Type().String(); got != w {
					t.Errorf("%s %s: type %s, want %s", lt.Name, name, got, w)
				}
			}
			if !f.Leaf() && f.Type().String() != "LIST" {
				for _, c := range f.Fields() {
					walk(name+".", c)
				}
			}
		}
		for _, f := range tb.Schema.Fields() {
			walk("", f)
		}
		// Every declared field is a column.
		for _, f := range lt.Fields {
			if _, ok := tb.Schema.Lookup(f.Name); !ok && f.Type != logtype.Object {
				t.Errorf("%s: field %s has no column", lt.Name, f.Name)
			}
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("column %s not found in any table", k)
		}
	}
}

func TestReexportReplaces(t *testing.T) {
	l := testLake()
	out := t.TempDir()
	exportTest(t, l, out, nil)
	before := parquetFiles(t, out)

	// A stale part past the new count, a crashed export's temporary file,
	// and a user's own file.
	dir := filepath.Join(out, "p_log_type=OnePassword.SignInAttempt", "dt=2026-11-10")
	os.WriteFile(filepath.Join(dir, "part-0099.parquet"), []byte("stale"), 0o644)
	os.WriteFile(filepath.Join(dir, ".part-0000.abcdef.tmp"), []byte("crashed"), 0o644)
	os.WriteFile(filepath.Join(dir, "README"), []byte("mine"), 0o644)

	// One more event on day 10; day 11's item usages gone (as after retention).
	l.add("OnePassword.SignInAttempt", day(10, 23), fmt.Sprintf(signIn, "late", day(10, 23).Format(time.RFC3339Nano)), nil, nil)
	kept := l.events[:0]
	for _, e := range l.events {
		if !(e.LogType == "OnePassword.ItemUsage" && e.EventTime.Day() == 11) {
			kept = append(kept, e)
		}
	}
	l.events = kept
	m := exportTest(t, l, out, func(o *Options) { o.RowGroupRows = 1000; o.MaxOpen = 10 })

	after := parquetFiles(t, out)
	wantFiles := []string{
		ManifestName,
		"p_log_type=OnePassword.ItemUsage/dt=2026-11-10/part-0000.parquet",
		"p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/README",
		"p_log_type=OnePassword.SignInAttempt/dt=2026-11-10/part-0000.parquet",
		"p_log_type=OnePassword.SignInAttempt/dt=2026-11-11/part-0000.parquet",
	}
	if fmt.Sprint(after) != fmt.Sprint(wantFiles) {
		t.Errorf("after re-export:\n got %v\nwant %v\n(before: %v)", after, wantFiles, before)
	}
	_, rows := readFile(t, filepath.Join(dir, "part-0000.parquet"))
	if len(rows) != 6 {
		t.Errorf("day 10 sign-ins: %d rows, want 6", len(rows))
	}
	checkManifest(t, out, m, slices.DeleteFunc(after, func(s string) bool { return strings.HasSuffix(s, "README") }))
	if len(m.Partitions) != 3 {
		t.Errorf("manifest: %d partitions, want 3", len(m.Partitions))
	}

	// An export of another range keeps these partitions' entries.
	m2 := exportTest(t, l, out, func(o *Options) { o.Since, o.Until = day(12, 0), day(12, 0).Add(time.Hour) })
	if len(m2.Partitions) != 5 || m2.LastExport.Rows != 8 {
		t.Errorf("after exporting day 12: %d partitions, %d rows; want 5 and 8", len(m2.Partitions), m2.LastExport.Rows)
	}
}

func TestFailedExportChangesNothing(t *testing.T) {
	l := testLake()
	out := t.TempDir()
	exportTest(t, l, out, nil)
	before := parquetFiles(t, out)
	man, _ := os.ReadFile(filepath.Join(out, ManifestName))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, l, Options{Out: out, Since: day(10, 0), Until: day(12, 0), BatchSize: 5})
	if err == nil {
		t.Fatal("a cancelled export succeeded")
	}
	after := parquetFiles(t, out)
	man2, _ := os.ReadFile(filepath.Join(out, ManifestName))
	if fmt.Sprint(before) != fmt.Sprint(after) || !bytes.Equal(man, man2) {
		t.Errorf("a failed export changed the output:\n%v\n%v", before, after)
	}
}

func TestOptionsRejected(t *testing.T) {
	l := testLake()
	for _, o := range []Options{
		{Since: day(10, 0), Until: day(11, 0)},
		{Out: t.TempDir(), Since: day(11, 0), Until: day(10, 0)},
		{Out: t.TempDir(), Since: day(10, 0), Until: day(11, 0), LogTypes: []string{"Okta.SystemLog"}},
	} {
		if _, err := Run(context.Background(), l, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestRange(t *testing.T) {
	s, u := Range(day(10, 5), day(12, 0).Truncate(24*time.Hour))
	if s != time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC) || u != time.Date(2026, 11, 12, 0, 0, 0, 0, time.UTC) {
		t.Errorf("Range = %v, %v", s, u)
	}
	_, u = Range(day(10, 5), day(12, 1))
	if u != time.Date(2026, 11, 13, 0, 0, 0, 0, time.UTC) {
		t.Errorf("Range until = %v", u)
	}
}

func TestRunScheduled(t *testing.T) {
	l := testLake()
	out := t.TempDir()
	ticks := make(chan time.Time)
	ran := make(chan struct{}, 10)
	now := day(11, 12)
	clock := func() time.Time {
		ran <- struct{}{} // Run asks for the time once per export: it started
		return now
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunScheduled(ctx, l, Schedule{Out: out, Every: time.Hour, Lookback: 30 * time.Hour, Mapping: MappingOCSF}, "v-test", nil, clock,
			func(time.Duration) (<-chan time.Time, func()) { return ticks, func() {} })
	}()
	<-ran // the first run, at once
	<-ran
	ticks <- now
	<-ran // the second run started after a tick; the first finished before it
	<-ran
	cancel()
	close(ticks)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	m, err := ReadManifest(out)
	if err != nil {
		t.Fatal(err)
	}
	// now-30h is day 10, 06:00: days 10 and 11 of all three types, whole.
	if m.LastExport.Since != time.Date(2026, 11, 10, 0, 0, 0, 0, time.UTC) || m.LastExport.Until != time.Date(2026, 11, 12, 0, 0, 0, 0, time.UTC) {
		t.Errorf("range %v..%v", m.LastExport.Since, m.LastExport.Until)
	}
	if len(m.Partitions) != 4 || m.LastExport.Rows != 17 {
		t.Errorf("%d partitions, %d rows; want 4 and 17", len(m.Partitions), m.LastExport.Rows)
	}
	for _, p := range m.Partitions {
		if p.mapping() != MappingOCSF {
			t.Errorf("partition %+v: mapping %q, want the schedule's %q", p, p.mapping(), MappingOCSF)
		}
	}
	for _, s := range []Schedule{{Every: time.Hour, Lookback: time.Hour}, {Out: "x", Every: time.Second, Lookback: time.Hour}, {Out: "x", Every: time.Hour},
		{Out: "x", Every: time.Hour, Lookback: time.Hour, Mapping: "cef"}} {
		if s.Check() == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
