package sqlite

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

// makeV1 creates a database at schema version 1 (before accounts), with a
// source "old", its sign-in stream and two events.
func makeV1(t *testing.T, path string) (sourceID string) {
	t.Helper()
	ctx := context.Background()
	uri, err := fileURI(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openOne(newDriver(&Store{codec: &segment.Codec{}}), uri)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	sourceID = "11111111-2222-4333-8444-555555555555"
	for _, q := range []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
		ms[0].sql,
		`INSERT INTO schema_migrations VALUES (1, '` + ms[0].name + `', '2026-01-01 00:00:00.000000000')`,
		`INSERT INTO sources (id, name, settings, token, created_at, updated_at) VALUES ('` + sourceID + `', 'old', '{"interval":"1m0s","lookback":"1h0m0s"}', x'00', '2026-01-01 00:00:00.000000000', '2026-01-01 00:00:00.000000000')`,
		`INSERT INTO streams (source_id, log_type, cursor, next_poll_at) VALUES ('` + sourceID + `', 'OnePassword.SignInAttempt', 'c1', '2026-01-01 00:00:00.000000000')`,
		`INSERT INTO events (source_id, log_type, uuid, p_event_time, p_parse_time, p_row_id, p_source_label, raw) VALUES
			('` + sourceID + `', 'OnePassword.SignInAttempt', 'e-0', '2026-01-01 00:00:00.000000000', '2026-01-01 00:00:01.000000000', 'r0', 'old', '{}'),
			('` + sourceID + `', 'OnePassword.SignInAttempt', 'e-1', '2026-01-01 00:00:00.001000000', '2026-01-01 00:00:01.000000000', 'r1', 'old', '{}')`,
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return sourceID
}

func TestMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.db")
	sourceID := makeV1(t, path)

	// Read-write and read-only opens refuse the old schema and say what to do.
	for _, opts := range []Options{{}, {ReadOnly: true}} {
		s, err := Open(ctx, path, opts)
		if err == nil {
			s.Close()
			t.Fatalf("Open(%+v) of a version 1 database succeeded", opts)
		}
		if !errors.Is(err, store.ErrSchemaOutdated) || !strings.Contains(err.Error(), "version 1") || !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%+v): err = %v; want ErrSchemaOutdated naming the file and its version", opts, err)
		}
	}
	s, err := Open(ctx, path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if cur, latest, err := s.SchemaVersion(ctx); err != nil || cur != latest || latest < 2 {
		t.Fatalf("after migration: version %d of %d, %v", cur, latest, err)
	}
	var accounts []string
	if err := s.Query(ctx, "SELECT 1", func([]string, []any) error { return nil }); err != nil {
		t.Fatal(err)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT account FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a string
		rows.Scan(&a)
		accounts = append(accounts, a)
	}
	rows.Close()
	if want := "source:" + sourceID; len(accounts) != 2 || accounts[0] != want || accounts[1] != want {
		t.Errorf("old events' accounts = %q, want both %q", accounts, want)
	}
	src, err := s.SourceByID(ctx, sourceID)
	if err != nil || src.AccountUUID != "" || src.Name != "old" {
		t.Errorf("old source = %+v, %v", src, err)
	}
	sts, err := s.Streams(ctx, sourceID)
	if err != nil || len(sts) != 1 || !sts[0].Enabled || sts[0].Cursor != "c1" {
		t.Fatalf("old stream = %+v, %v; want enabled, cursor kept", sts, err)
	}
	// Until the old source learns its account, its events stay unique as
	// before: a replay stores nothing.
	replay := []store.Event{
		{UUID: "e-0", EventTime: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Raw: []byte("{}")},
		{UUID: "e-1", EventTime: time.Date(2026, 1, 1, 0, 0, 0, 1e6, time.UTC), Raw: []byte("{}")},
	}
	if res, err := s.InsertEvents(ctx, sts[0].ID, replay, nil); err != nil || res.Duplicates != 2 {
		t.Errorf("replay of old events into the migrated stream = %+v, %v; want 2 duplicates", res, err)
	}
}

func TestSchemaNewerRefused(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "n.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 'x')"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, opts := range []Options{{}, {ReadOnly: true}, {Migrate: true}} {
		if s, err := Open(ctx, path, opts); !errors.Is(err, store.ErrSchemaNewer) {
			if s != nil {
				s.Close()
			}
			t.Errorf("Open(%+v) of a newer schema: err = %v, want ErrSchemaNewer", opts, err)
		}
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()

	// Nothing at the path: ErrNoDatabase naming it, and nothing created.
	for _, missing := range []string{filepath.Join(dir, "typo.db"), filepath.Join(dir, "no-such-dir", "x.db")} {
		_, err := Open(ctx, missing, Options{ReadOnly: true})
		if !errors.Is(err, store.ErrNoDatabase) || strings.Count(err.Error(), missing) != 1 {
			t.Errorf("read-only Open(%s): err = %v; want ErrNoDatabase naming the path once", missing, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("a read-only open of nothing created %v", entries)
	}
	// An empty file is no database either.
	empty := filepath.Join(dir, "empty.db")
	os.WriteFile(empty, nil, 0o600)
	if _, err := Open(ctx, empty, Options{ReadOnly: true}); !errors.Is(err, store.ErrNoDatabase) {
		t.Errorf("read-only Open of an empty file: err = %v, want ErrNoDatabase", err)
	}
	os.Remove(empty)

	path := filepath.Join(dir, "lake.db")
	rw, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	src := &store.Source{Name: "acme", Token: []byte("sealed")}
	if err := rw.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	rw.Close()
	before := dirNames(t, dir)

	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if ro.writer != nil || ro.ckpt != nil {
		t.Error("a read-only store opened a writer or a checkpointer")
	}
	if got, err := ro.SourceByName(ctx, "acme"); err != nil || got.ID != src.ID {
		t.Errorf("read-only SourceByName = %+v, %v", got, err)
	}
	n := 0
	if err := ro.Query(ctx, "SELECT name FROM sources", func([]string, []any) error { n++; return nil }); err != nil || n != 1 {
		t.Errorf("read-only Query: %d rows, %v", n, err)
	}
	writes := map[string]error{
		"CreateSource": ro.CreateSource(ctx, &store.Source{Name: "x"}, nil),
		"DeleteSource": ro.DeleteSource(ctx, src.ID),
		"SyncViews":    ro.SyncViews(ctx, []store.View{{Name: "v", LogType: "x"}}),
		"Migrate":      ro.Migrate(ctx),
		"ResetStream":  ro.ResetStream(ctx, 1, nil),
	}
	for name, err := range writes {
		if !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("%s on a read-only store: err = %v, want ErrReadOnly", name, err)
		}
	}
	if err := ro.Close(); err != nil {
		t.Fatal(err)
	}
	if after := dirNames(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("a read-only open changed the directory from %v to %v", before, after)
	}

	// A user with read access alone (file 0444 in a 0555 directory) can read.
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Log("permissions do not bind this user: skipping the read-access-only check")
		return
	}
	locked := filepath.Join(t.TempDir(), "locked")
	os.Mkdir(locked, 0o755)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copyPath := filepath.Join(locked, "lake.db")
	os.WriteFile(copyPath, data, 0o444)
	os.Chmod(locked, 0o555)
	t.Cleanup(func() { os.Chmod(locked, 0o755) })
	ro, err = Open(ctx, copyPath, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open with read access alone: %v", err)
	}
	defer ro.Close()
	if got, err := ro.SourceByName(ctx, "acme"); err != nil || got.ID != src.ID {
		t.Errorf("SourceByName with read access alone = %+v, %v", got, err)
	}
}

// TestReadOnlyBesideWriter: a read-only store beside a running writer sees
// its commits (through the WAL) and creates nothing of its own.
func TestReadOnlyBesideWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "served.db")
	rw, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	if err := rw.CreateSource(ctx, &store.Source{Name: "first"}, nil); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := rw.CreateSource(ctx, &store.Source{Name: "second"}, nil); err != nil {
		t.Fatal(err)
	}
	srcs, err := ro.ListSources(ctx)
	if err != nil || len(srcs) != 2 {
		t.Errorf("read-only store sees %d sources, %v; want both", len(srcs), err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func TestOpenErrorsNameThePathOnce(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	foreign := filepath.Join(dir, "foreign.db")
	uri, _ := fileURI(foreign)
	db, _ := openOne(newDriver(&Store{codec: &segment.Codec{}}), uri)
	if _, err := db.Exec("CREATE TABLE t (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	for _, path := range []string{filepath.Join(dir, "missing", "x.db"), garbage, dir, foreign} {
		for _, opts := range []Options{{}, {ReadOnly: true}} {
			s, err := Open(ctx, path, opts)
			if err == nil {
				s.Close()
				t.Errorf("Open(%q, %+v) succeeded", path, opts)
				continue
			}
			if strings.Count(err.Error(), path) != 1 || strings.Count(err.Error(), "open database") > 1 {
				t.Errorf("Open(%q, %+v): error %q should name the file once, with no doubled prefix", path, opts, err)
			}
		}
	}
	// A refused open leaves an existing file alone.
	if data, _ := os.ReadFile(garbage); !strings.HasPrefix(string(data), "not a database") {
		t.Error("a failed open changed the file it could not open")
	}
}

func TestQueryCapsValues(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	for _, q := range []string{
		"SELECT length(zeroblob(100000000))",
		"SELECT length(printf('%.*c', 50000000, 'x'))",
		"WITH RECURSIVE n(i, s) AS (SELECT 1, 'x' UNION ALL SELECT i + 1, s || s FROM n WHERE i < 40) SELECT max(length(s)) FROM n",
	} {
		err := s.Query(ctx, q, func([]string, []any) error { return nil })
		if err == nil || errors.Is(err, store.ErrReadOnly) || !strings.Contains(err.Error(), "MiB") {
			t.Errorf("Query(%q): err = %v, want a refusal naming the cap", q, err)
		}
	}
	var got any
	if err := s.Query(ctx, "SELECT length(zeroblob(1000000))", func(_ []string, v []any) error { got = v[0]; return nil }); err != nil || got != int64(1000000) {
		t.Errorf("a 1 MB value: %v, %v", got, err)
	}
}

func TestQuerySecondStatementMessage(t *testing.T) {
	s := openTest(t)
	err := s.Query(context.Background(), "SELECT 1; SELECT 2", func([]string, []any) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "one statement at a time") {
		t.Errorf("two statements: err = %v, want \"one statement at a time\"", err)
	}
}

// TestWritesWaitForCheckpointPause: every write waits while the
// checkpointer holds the writer paused (a RESTART checkpoint), instead of
// racing it for the WAL.
func TestWritesWaitForCheckpointPause(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	src := &store.Source{Name: "acme"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	sts, _ := s.Streams(ctx, src.ID)
	id := sts[0].ID
	if _, err := s.ClaimStream(ctx, id, "me", time.Hour); err != nil {
		t.Fatal(err)
	}
	writes := []struct {
		name string
		f    func() error
	}{
		{"ExtendLease", func() error { return s.ExtendLease(ctx, id, "me", time.Hour) }},
		{"SetSourceAccount", func() error { return s.SetSourceAccount(ctx, src.ID, "acct") }},
		{"ResetStream", func() error { return s.ResetStream(ctx, id, nil) }},
		{"InsertEvents", func() error {
			_, err := s.InsertEvents(ctx, id, []store.Event{{UUID: "u", Raw: []byte("{}")}}, nil)
			return err
		}},
		{"UpdateSource", func() error { return s.UpdateSource(ctx, store.SourceChange{Source: *src, ResumeStopped: true}) }},
		{"FinishPoll", func() error {
			return s.FinishPoll(ctx, store.PollOutcome{StreamID: id, LeaseOwner: "me", NextPollAt: time.Now()})
		}},
		{"DeleteSource", func() error { return s.DeleteSource(ctx, src.ID) }},
	}
	for _, w := range writes {
		s.pause.Lock()
		done := make(chan error, 1)
		go func() { done <- w.f() }()
		// Wait until the write either finishes (it did not wait: a failure)
		// or is seen parked on the pause lock.
		for blocked := false; !blocked; {
			select {
			case err := <-done:
				s.pause.Unlock()
				t.Fatalf("%s wrote while the checkpointer paused the writer (err %v)", w.name, err)
			default:
			}
			buf := make([]byte, 1<<20)
			blocked = strings.Contains(string(buf[:runtime.Stack(buf, true)]), "(*RWMutex).RLock")
			runtime.Gosched()
		}
		s.pause.Unlock()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", w.name, err)
		}
	}
}

// TestQueryRefusesRawPages: sqlite_dbpage would hand out the pages that
// hold the sealed tokens and cursors.
func TestQueryRefusesRawPages(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.CreateSource(ctx, &store.Source{Name: "acme", Token: []byte("sealed-token-bytes")}, nil); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT data FROM sqlite_dbpage",
		"SELECT data FROM sqlite_dbpage('main')",
		"SELECT count(*) FROM SQLITE_DBPAGE WHERE instr(data, 'sealed') > 0",
	} {
		if err := s.Query(ctx, q, func([]string, []any) error { return nil }); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q): err = %v, want ErrReadOnly", q, err)
		}
	}
}

// TestOpenWriteRefusesReadOnlyFile: a database file this user may not
// write is refused by a read-write open at once (SQLite would open it
// read-only without a word, and every write would fail later).
func TestOpenWriteRefusesReadOnlyFile(t *testing.T) {
	if runtime.GOOS == "windows" || os.Geteuid() == 0 {
		t.Skip("permissions do not bind this user")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ro.db")
	s, err := Open(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	os.Chmod(path, 0o444)
	if s, err := Open(ctx, path, Options{}); err == nil || !strings.Contains(err.Error(), "cannot be written by this user") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("read-write open of a 0444 file: %v; want a refusal", err)
	}
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatalf("read-only open of a 0444 file: %v", err)
	}
	ro.Close()
}
