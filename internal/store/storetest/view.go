package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

var testView = store.View{Name: "test_signin", LogType: signin, Columns: []store.ViewColumn{
	{Name: "uuid", Kind: "string"},
	{Name: "timestamp", Kind: "timestamp"},
	{Name: "name", Kind: "string"},
	{Name: "count", Kind: "integer"},
	{Name: "ratio", Kind: "float"},
	{Name: "big", Kind: "float"},
	{Name: "active", Kind: "integer"}, // booleans read as 1 and 0
	{Name: "client", Kind: "json"},
	{Name: "tags", Kind: "json"},
	{Name: "nothing", Kind: "json"},
	{Name: "missing", Kind: "string"},
}}

func testViews(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, signin)
	now := c.Now()
	st = claim(t, s, st, "me")
	t1 := time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)
	t2 := t1.Add(90 * time.Minute)
	full := store.Event{UUID: "v1", EventTime: t1, ParseTime: now, RowID: "row-v1", SourceLabel: "acme",
		IPs: []string{"192.0.2.1", "2001:db8::1"}, Emails: []string{"jane@example.com"},
		Raw: []byte(`{"uuid":"v1","timestamp":"2026-03-01T12:00:00.123456Z","name":"Jane","count":42,"ratio":3,` +
			`"big":1.5,"active":true,"client":{"ip_address":"192.0.2.1","os":{"name":"macOS"}},"tags":["a","b"],"nothing":null}`)}
	bare := store.Event{UUID: "v2", EventTime: t2, ParseTime: now, RowID: "row-v2", SourceLabel: "acme",
		Raw: []byte(`{"uuid":"v2","timestamp":"2026-03-01T13:30:00.123456Z"}`)}
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c", Events: []store.Event{bare, full}})
	// An event of another log type stays out of the view.
	if _, err := s.InsertEvents(ctx, streamOf(t, sts, usage).ID, []store.Event{ev(streamOf(t, sts, usage), "u1", t1)}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncViews(ctx, []store.View{testView}); err != nil {
		t.Fatal(err)
	}
	rows, cols, err := queryAll(ctx, s, "SELECT * FROM test_signin ORDER BY p_event_time")
	if err != nil {
		t.Fatal(err)
	}
	wantCols := []string{"p_log_type", "p_row_id", "p_event_time", "p_parse_time", "p_source_id", "p_source_label",
		"p_any_ip_addresses", "p_any_emails", "uuid", "timestamp", "name", "count", "ratio", "big", "active",
		"client", "tags", "nothing", "missing"}
	if diff := cmp.Diff(wantCols, cols); diff != "" {
		t.Fatalf("view columns (-want +got):\n%s", diff)
	}
	if len(rows) != 2 {
		t.Fatalf("view has %d rows, want 2: %v", len(rows), rows)
	}
	jsonCols := map[string]string{
		"p_any_ip_addresses": `["192.0.2.1","2001:db8::1"]`, "p_any_emails": `["jane@example.com"]`,
		"client": `{"ip_address":"192.0.2.1","os":{"name":"macOS"}}`, "tags": `["a","b"]`,
	}
	want := [][]any{{
		signin, "row-v1", lakeTime(t1), lakeTime(now), src.ID, "acme", nil, nil,
		"v1", "2026-03-01T12:00:00.123456Z", "Jane", int64(42), float64(3), 1.5, int64(1), nil, nil, nil, nil,
	}, {
		signin, "row-v2", lakeTime(t2), lakeTime(now), src.ID, "acme", nil, nil,
		"v2", "2026-03-01T13:30:00.123456Z", nil, nil, nil, nil, nil, nil, nil, nil, nil,
	}}
	for i, col := range cols {
		if j, ok := jsonCols[col]; ok {
			if !jsonEqual(rows[0][i], j) {
				t.Errorf("%s = %#v, want JSON %s", col, rows[0][i], j)
			}
			rows[0][i] = nil
		}
	}
	if diff := cmp.Diff(want, rows); diff != "" {
		t.Errorf("view rows (-want +got):\n%s", diff)
	}

	// The columns can be filtered on, times as text.
	got := query(t, s, "SELECT uuid FROM test_signin WHERE count = 42 AND active = 1")
	if diff := cmp.Diff([][]any{{"v1"}}, got); diff != "" {
		t.Errorf("filter on extracted columns (-want +got):\n%s", diff)
	}
	got = query(t, s, fmt.Sprintf("SELECT uuid FROM test_signin WHERE p_event_time >= '%s'", lakeTime(t1.Add(time.Minute))))
	if diff := cmp.Diff([][]any{{"v2"}}, got); diff != "" {
		t.Errorf("filter on p_event_time (-want +got):\n%s", diff)
	}
}

func testViewsResync(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, signin)
	if _, err := s.InsertEvents(ctx, st.ID, evs(st, "e", 3, c.Now()), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.SyncViews(ctx, []store.View{testView}); err != nil {
		t.Fatal(err)
	}
	// Fields come and go between versions: a second sync replaces the view.
	v := store.View{Name: "test_signin", LogType: signin, Columns: []store.ViewColumn{{Name: "timestamp", Kind: "timestamp"}, {Name: "uuid", Kind: "string"}}}
	if err := s.SyncViews(ctx, []store.View{v}); err != nil {
		t.Fatal(err)
	}
	_, cols, err := queryAll(ctx, s, "SELECT * FROM test_signin")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"p_log_type", "p_row_id", "p_event_time", "p_parse_time", "p_source_id", "p_source_label",
		"p_any_ip_addresses", "p_any_emails", "timestamp", "uuid"}, cols); diff != "" {
		t.Errorf("columns after resync (-want +got):\n%s", diff)
	}
	if n := queryInt(t, s, "SELECT count(*) FROM test_signin"); n != 3 {
		t.Errorf("resynced view has %d rows, want 3", n)
	}
	// A bad view fails the whole sync and leaves the views as they were.
	bad := []store.View{{Name: "test_usage", LogType: usage}, {Name: "test_bad", LogType: audit, Columns: []store.ViewColumn{{Name: "x", Kind: "blob"}}}}
	if err := s.SyncViews(ctx, bad); err == nil {
		t.Error("SyncViews accepted the column kind \"blob\"")
	}
	if _, _, err := queryAll(ctx, s, "SELECT * FROM test_usage"); err == nil {
		t.Error("a failed SyncViews created some of its views")
	}
	if n := queryInt(t, s, "SELECT count(*) FROM test_signin"); n != 3 {
		t.Errorf("after a failed sync the view has %d rows, want 3", n)
	}
}

func testQueryRefusesWrites(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, signin)
	now := c.Now()
	st = claim(t, s, st, "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1", Events: evs(st, "e", 3, now)})
	before := stream(t, s, st.ID)
	for _, q := range []string{
		"INSERT INTO sources (id, name, settings, created_at, updated_at) VALUES ('x', 'x', '{}', 't', 't')",
		"UPDATE streams SET cursor = 'hijacked'",
		"DELETE FROM events",
		"DROP TABLE events",
		"DROP VIEW " + viewOf[signin],
		"CREATE TABLE pwned (x TEXT)",
		"CREATE VIEW pwned AS SELECT 1",
		"ALTER TABLE events ADD COLUMN pwned TEXT",
	} {
		err := s.Query(ctx, q, func([]string, []any) error { return nil })
		if !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q): err = %v, want ErrReadOnly", q, err)
		}
	}
	if n := count(t, s, signin, src.ID); n != 3 {
		t.Errorf("%d events left after refused writes, want 3", n)
	}
	if diff := cmp.Diff(before, stream(t, s, st.ID)); diff != "" {
		t.Errorf("refused writes changed the stream (-want +got):\n%s", diff)
	}
	if srcs, _ := s.ListSources(ctx); len(srcs) != 1 {
		t.Errorf("%d sources after refused writes, want 1", len(srcs))
	}
}

func testQueryErrors(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	newSource(t, s, "acme")
	rows, cols, err := queryAll(ctx, s, "-- a comment\nSELECT 1 AS one, 'a;b' AS s, NULL AS n, 2.5 AS f;")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"one", "s", "n", "f"}, cols); diff != "" {
		t.Errorf("columns (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([][]any{{int64(1), "a;b", nil, 2.5}}, rows); diff != "" {
		t.Errorf("values (-want +got):\n%s", diff)
	}
	for _, q := range []string{"", "   ", "SELEC 1", "SELECT * FROM no_such_table"} {
		err := s.Query(ctx, q, func([]string, []any) error { return nil })
		if err == nil || errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q): err = %v, want an error other than ErrReadOnly", q, err)
		}
	}
	// The callback's error ends the query and comes back.
	stop := errors.New("stop")
	calls := 0
	err = s.Query(ctx, "SELECT uuid FROM "+viewOf[signin]+" UNION ALL SELECT 'x' UNION ALL SELECT 'y'", func([]string, []any) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: err = %v after %d calls, want stop after 1", err, calls)
	}
}

// testQueryRefusesSecrets: the sealed tokens and secrets, the cursors and
// the console's password and token hashes cannot be read through Query,
// however the statement names them.
func testQueryRefusesSecrets(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := claim(t, s, streamOf(t, sts, signin), "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "secret-cursor"})
	for _, q := range []string{
		"SELECT token FROM sources",
		"SELECT * FROM sources",
		"SELECT id FROM sources WHERE token IS NOT NULL",
		"SELECT length(token) FROM sources",
		"SELECT cursor FROM streams",
		"SELECT * FROM streams",
		"SELECT s.id FROM streams s WHERE s.cursor LIKE 's%'",
		"SELECT (SELECT max(cursor) FROM streams)",
		"WITH x AS (SELECT token AS t FROM sources) SELECT t FROM x",
		"SELECT password_hash FROM users",
		"SELECT * FROM users",
		"SELECT name FROM users WHERE password_hash LIKE '$argon2id$%'",
		"SELECT hash FROM sessions",
		"SELECT hash FROM api_tokens",
		"SELECT secret FROM destinations",
		"SELECT name, role FROM users",
		"SELECT count(*) FROM sessions",
		"SELECT name FROM api_tokens",
	} {
		var got [][]any
		err := s.Query(ctx, q, func(_ []string, v []any) error { got = append(got, append([]any(nil), v...)); return nil })
		if !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q) = %v, %v; want ErrReadOnly", q, got, err)
		}
	}
	// The rest of those tables reads fine.
	if n := queryInt(t, s, "SELECT count(*) FROM streams WHERE status = 'ok' AND source_id IN (SELECT id FROM sources WHERE name = 'acme')"); n != 3 {
		t.Errorf("%d streams, want 3", n)
	}
}

// testQueryColumnsWithoutRows: a result without rows still tells its
// columns (one call with nil values), so a printer can head it.
func testQueryColumnsWithoutRows(t *testing.T, s store.Store, c *Clock) {
	calls := 0
	var cols []string
	err := s.Query(context.Background(), "SELECT uuid, p_event_time FROM events WHERE 1 = 0", func(c []string, v []any) error {
		calls++
		cols = append(cols[:0], c...)
		if v != nil {
			t.Errorf("values %v for a result without rows", v)
		}
		return nil
	})
	if err != nil || calls != 1 || len(cols) != 2 || cols[0] != "uuid" || cols[1] != "p_event_time" {
		t.Errorf("Query without rows: %d calls, columns %v, err %v; want one call with [uuid p_event_time]", calls, cols, err)
	}
}

// testQueryOneStatement: a second statement is refused as such (it may be
// as read-only as the first), before anything runs; trailing semicolons,
// spaces and comments are fine.
func testQueryOneStatement(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	if _, err := s.InsertEvents(ctx, streamOf(t, sts, signin).ID, evs(streamOf(t, sts, signin), "e", 3, c.Now()), nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT 1; SELECT 2",
		"SELECT 1; DELETE FROM events",
		"SELECT 1;\nUPDATE streams SET status = 'stopped';",
		"SELECT 'a;'; /* c */ SELECT 'b'",
	} {
		calls := 0
		err := s.Query(ctx, q, func([]string, []any) error { calls++; return nil })
		if err == nil || errors.Is(err, store.ErrReadOnly) || calls != 0 {
			t.Errorf("Query(%q): %d rows, err = %v; want a refusal of the second statement (not ErrReadOnly), no rows", q, calls, err)
		}
	}
	if n := count(t, s, signin, src.ID); n != 3 {
		t.Errorf("%d events left, want 3", n)
	}
	for _, q := range []string{"SELECT 1;", "SELECT 1 ;; \n", "SELECT 1; -- done", "SELECT 1 /* x */ ; /* y */"} {
		if rows := query(t, s, q); len(rows) != 1 {
			t.Errorf("Query(%q) = %v, want one row", q, rows)
		}
	}
}

// testQueryDeadline: ctx's deadline stops a query that would never end.
func testQueryDeadline(t *testing.T, s store.Store, _ *Clock) {
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- s.Query(ctx, "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n",
			func([]string, []any) error { return nil })
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("endless query: err = %v, want one wrapping context.DeadlineExceeded", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("an endless query ran on a minute past its deadline")
	}
	// The connection it ran on works.
	if n := queryInt(t, s, "SELECT 7"); n != 7 {
		t.Errorf("SELECT 7 = %d", n)
	}
}
