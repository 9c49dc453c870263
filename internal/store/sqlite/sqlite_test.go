package sqlite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/storetest"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	return openTestWith(t, Options{})
}

func openTestWith(t *testing.T, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "opwatch.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) store.Store {
		return openTestWith(t, Options{Now: clock.Now})
	})
}

func TestQueryRefusesSQLiteWrites(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	src := &store.Source{Name: "acme"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	before := dataVersion(t, s)
	refused := []string{
		"ATTACH DATABASE '" + filepath.Join(t.TempDir(), "x.db") + "' AS x",
		"ATTACH DATABASE ':memory:' AS m",
		"DETACH DATABASE main",
		"PRAGMA query_only = 0",
		"PRAGMA journal_mode = DELETE",
		"PRAGMA user_version = 5",
		"PRAGMA writable_schema = 1",
		"VACUUM",
		"VACUUM INTO '" + filepath.Join(t.TempDir(), "copy.db") + "'",
		"REINDEX",
		"ANALYZE",
		"BEGIN",
		"SAVEPOINT x",
		"CREATE TEMP TABLE t (x)",
		"CREATE TEMP VIEW v AS SELECT 1",
		"EXPLAIN DELETE FROM events",
		"REPLACE INTO sources (id, name, settings, created_at, updated_at) SELECT id, 'x', settings, created_at, updated_at FROM sources",
		"INSERT INTO streams (source_id, log_type, next_poll_at) VALUES ('" + src.ID + "', 'x', 'now')",
	}
	for _, q := range refused {
		if err := s.Query(ctx, q, func([]string, []any) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q): err = %v, want ErrReadOnly", q, err)
		}
	}
	if err := s.Query(ctx, "SELECT load_extension('libc.so.6')", func([]string, []any) error { return nil }); err == nil {
		t.Error("Query loaded an extension")
	}
	// The refusals stick: a write after the query_only attempt is refused too.
	for range 8 {
		if err := s.Query(ctx, "CREATE TEMP TABLE t (x)", func([]string, []any) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("CREATE TEMP TABLE after PRAGMA query_only = 0: err = %v", err)
		}
	}
	if after := dataVersion(t, s); after != before {
		t.Errorf("the database changed under refused queries (data_version %d -> %d)", before, after)
	}
	// Reading the schema is fine.
	for _, q := range []string{
		"PRAGMA table_info(events)",
		"SELECT name FROM pragma_table_info('events')",
		"SELECT name FROM sqlite_schema WHERE type = 'table'",
		"EXPLAIN QUERY PLAN SELECT * FROM events WHERE seq > 5",
	} {
		n := 0
		if err := s.Query(ctx, q, func([]string, []any) error { n++; return nil }); err != nil || n == 0 {
			t.Errorf("Query(%q) = %d rows, %v; want rows", q, n, err)
		}
	}
}

// dataVersion is SQLite's count of changes made by other connections, seen
// from the writer: it moves if a reader ever writes.
func dataVersion(t *testing.T, s *Store) int64 {
	t.Helper()
	var v int64
	if err := s.writer.QueryRow("PRAGMA data_version").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestSingleStatement(t *testing.T) {
	tests := []struct {
		q    string
		want bool
	}{
		{"SELECT 1", true},
		{"SELECT 1;", true},
		{"SELECT 1 ; ;\n -- done\n /* really */ ", true},
		{"SELECT ';DELETE FROM events'", true},
		{`SELECT 1 AS "a;b"`, true},
		{"SELECT 1 AS `a;b`", true},
		{"SELECT 1 AS [a;b]", true},
		{"SELECT 'it''s; fine'", true},
		{"SELECT 1 -- ; DELETE FROM events", true},
		{"SELECT 1 /* ; DELETE FROM events */", true},
		{"SELECT 1 /* unterminated ; DELETE", true},
		{"SELECT 1; DELETE FROM events", false},
		{"SELECT 1;DELETE FROM events", false},
		{"SELECT 1; -- c\n DELETE FROM events", false},
		{"SELECT 1; /* c */ DELETE FROM events", false},
		{"SELECT 'a'; SELECT 'b'", false},
		{"SELECT 'a'';'; SELECT 'b'", false},
		{"SELECT 1 -- c\n; DELETE FROM events", false},
	}
	for _, tt := range tests {
		if got := singleStatement(tt.q); got != tt.want {
			t.Errorf("singleStatement(%q) = %v, want %v", tt.q, got, tt.want)
		}
	}
}

// FuzzQuery runs arbitrary text through Query: whatever it is, the database
// must not change.
func FuzzQuery(f *testing.F) {
	for _, q := range []string{
		"SELECT 1", "SELECT * FROM events", "DELETE FROM events", "SELECT 1; DELETE FROM events",
		"PRAGMA query_only=0", "ATTACH ':memory:' AS m", "CREATE TEMP TABLE t(x)", "SELECT ';'; DROP TABLE events",
		"/* x */ UPDATE streams SET cursor = 'x'", "WITH x AS (SELECT 1) INSERT INTO quarantine SELECT * FROM quarantine",
	} {
		f.Add(q)
	}
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(f.TempDir(), "fuzz.db"), Options{})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	src := &store.Source{Name: "acme"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		f.Fatal(err)
	}
	var before int64
	if err := s.writer.QueryRow("PRAGMA data_version").Scan(&before); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, q string) {
		qctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		done := make(chan struct{})
		go func() {
			s.Query(qctx, q, func([]string, []any) error { return nil })
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Query(%q) hangs", q)
		}
		if after := dataVersion(t, s); after != before {
			t.Fatalf("Query(%q) changed the database", q)
		}
	})
}

func TestViewSQL(t *testing.T) {
	got, err := viewSQL(store.View{Name: `we"ird`, LogType: "It's.Type", Columns: []store.ViewColumn{
		{Name: "a b", Kind: "string"}, {Name: "n", Kind: "integer"}, {Name: "f", Kind: "float"}, {Name: "o", Kind: "json"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`CREATE VIEW "we""ird" AS SELECT`,
		`json_extract(raw, '$."a b"') AS "a b"`,
		`CAST(json_extract(raw, '$."n"') AS INTEGER) AS "n"`,
		`CAST(json_extract(raw, '$."f"') AS REAL) AS "f"`,
		`json_extract(raw, '$."o"') AS "o"`,
		`WHERE log_type = 'It''s.Type'`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("view SQL lacks %s:\n%s", want, got)
		}
	}
	for _, bad := range []store.View{
		{Name: "", LogType: "x"},
		{Name: "v", LogType: ""},
		{Name: "v", LogType: "x", Columns: []store.ViewColumn{{Name: `a"b`, Kind: "string"}}},
		{Name: "v", LogType: "x", Columns: []store.ViewColumn{{Name: "p_row_id", Kind: "string"}}},
		{Name: "v", LogType: "x", Columns: []store.ViewColumn{{Name: "a", Kind: "string"}, {Name: "A", Kind: "json"}}},
		{Name: "v", LogType: "x", Columns: []store.ViewColumn{{Name: "a", Kind: "blob"}}},
	} {
		if _, err := viewSQL(bad); err == nil {
			t.Errorf("viewSQL(%+v) accepted it", bad)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, bytes.Repeat([]byte("not a database "), 1000), 0o600)
	for _, path := range []string{"", filepath.Join(dir, "missing", "x.db"), garbage, dir} {
		if s, err := Open(ctx, path, Options{}); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		} else if path != "" && !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%q): error %q does not name the file", path, err)
		}
	}
}

func TestCloseCheckpoints(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &store.Source{Name: "acme"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	sts, _ := s.Streams(ctx, src.ID)
	if _, err := s.InsertEvents(ctx, sts[0].ID, newPages(500).page(0, 500, time.Now()), nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("WAL left after Close: %v", err)
	}
	// Everything is in the database file.
	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, _ := s.Stream(ctx, sts[0].ID); st.Events != 500 {
		t.Errorf("reopened stream counts %d events, want 500", st.Events)
	}
}

// TestWALRestart checks what keeps the WAL from growing without end while
// commits come back to back: a restart gets in between two write
// transactions, and the next one rewinds and trims the WAL.
func TestWALRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 100 MB")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "w.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src := &store.Source{Name: "acme"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	sts, _ := s.Streams(ctx, src.ID)
	raw := []byte(`{"pad":"` + strings.Repeat("x", 4000) + `"}`)
	var n atomic.Int64
	write := func() error {
		i := n.Add(1)
		events := make([]store.Event, 1000)
		for j := range events {
			events[j] = store.Event{UUID: fmt.Sprintf("%d-%d", i, j), EventTime: time.Unix(i*1000+int64(j), 0), Raw: raw}
		}
		_, err := s.InsertEvents(ctx, sts[0].ID, events, nil)
		return err
	}
	walSize := func() int64 {
		fi, err := os.Stat(path + "-wal")
		if err != nil {
			return 0
		}
		return fi.Size()
	}
	stop := make(chan struct{})
	writerDone := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				writerDone <- nil
				return
			default:
			}
			if err := write(); err != nil {
				writerDone <- err
				return
			}
		}
	}()
	for walSize() <= walSizeLimit && n.Load() < 200 {
		time.Sleep(10 * time.Millisecond)
	}
	if !s.ckpt.restart() {
		t.Error("a restart under back-to-back commits did not get through")
	}
	close(stop)
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
	if !s.ckpt.restart() {
		t.Error("a restart with the writer idle did not get through")
	}
	if err := write(); err != nil {
		t.Fatal(err)
	}
	if size := walSize(); size > walSizeLimit {
		t.Errorf("after a restart the WAL is %d MB, want at most %d", size>>20, walSizeLimit>>20)
	}
}
