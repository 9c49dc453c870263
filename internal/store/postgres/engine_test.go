package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// newStream makes a source with one stream and returns the stream.
func newStream(t *testing.T, s *Store, name string) store.Stream {
	t.Helper()
	ctx := context.Background()
	src := &store.Source{Name: name, AccountUUID: "acct-" + name}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Streams(ctx, src.ID)
	if err != nil || len(sts) != 1 {
		t.Fatalf("streams: %v, %v", sts, err)
	}
	return sts[0]
}

func event(uuid string, at time.Time) store.Event {
	return store.Event{UUID: uuid, EventTime: at, ParseTime: at, Raw: []byte(fmt.Sprintf(`{"uuid":%q}`, uuid))}
}

// TestEventsAfterInFlightWriter holds one writer's transaction open after
// its insert (its seq taken, not committed) while a second writer commits a
// later seq: a reader must not see the second's event before the first's,
// or it would move past the first's seq and skip it for good. Seqs past
// 2^32 too: the mark's key is a bigint that pg_locks shows in two halves.
func TestEventsAfterInFlightWriter(t *testing.T) {
	for _, start := range []int64{0, 5_000_000_000} {
		t.Run(fmt.Sprint(start), func(t *testing.T) { testInFlightWriter(t, start) })
	}
}

func testInFlightWriter(t *testing.T, start int64) {
	ctx := context.Background()
	s := openTestWith(t, Options{})
	if start > 0 {
		if _, err := s.pool.Exec(ctx, `SELECT setval('events_seq_seq', $1)`, start); err != nil {
			t.Fatal(err)
		}
	}
	st := newStream(t, s, "acme")
	other := newStream(t, s, "globex") // the writers share no row
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	b, err := prepareBatch([]store.Event{event("first", at)})
	if err != nil {
		t.Fatal(err)
	}
	// The page's statements, as CommitPage sends them, but not committed.
	if _, err := runSteps(ctx, tx, pageSteps(b, st.ID, nil, nil, "", "")); err != nil {
		t.Fatalf("first writer: %v", err)
	}
	if _, err := s.InsertEvents(ctx, other.ID, []store.Event{event("second", at.Add(time.Second))}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Fatalf("while the first writer is in flight, a reader sees %s (seq %d): it would skip the first's seq", got[0].UUID, got[0].Seq)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	got, err = s.EventsAfter(ctx, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].UUID != "first" || got[1].UUID != "second" || got[0].Seq >= got[1].Seq || got[0].Seq <= start {
		t.Fatalf("after both commits: %+v", got)
	}
}

// TestQueryGuard tries the ways a statement could write, read a secret, or
// leave something behind on the connection; every one must fail, and the
// store must work the same after.
func TestQueryGuard(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, Options{})
	st := newStream(t, s, "acme")
	if _, err := s.InsertEvents(ctx, st.ID, []store.Event{event("e1", time.Now())}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDestination(ctx, &store.Destination{Name: "d", Type: store.DestWebhook, Secret: []byte("sealed-secret")}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateUser(ctx, &store.User{Name: "jane", Role: "admin", PasswordHash: "$argon2id$secret"}); err != nil {
		t.Fatal(err)
	}
	denied := []string{
		"SELECT password_hash FROM users",
		"SELECT token FROM sources",
		"SELECT secret FROM destinations",
		"TABLE streams",
		"SELECT query_to_xml('select token from sources', true, true, '')",
		"SELECT table_to_xml('sources', true, true, '')",
		"SELECT set_config('role', current_user, true), query_to_xml('select cursor from streams', true, true, '')",
		"SELECT set_config('role', session_user, true)",
		"SELECT pg_read_file('/etc/hostname')",
		"SELECT nextval(pg_get_serial_sequence('events', 'seq'))",
		"WITH d AS (DELETE FROM events RETURNING 1) SELECT count(*) FROM d",
		"WITH u AS (UPDATE streams SET status = 'stopped' RETURNING 1) SELECT count(*) FROM u",
		"EXPLAIN ANALYZE DELETE FROM events",
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid()",
		"COPY (SELECT 1) TO PROGRAM 'touch /tmp/pwned'",
		"DO $$ BEGIN RAISE EXCEPTION '%', (SELECT token FROM sources LIMIT 1); END $$",
		"SET ROLE postgres",
		"CALL nothing()",
		"CREATE TEMP TABLE t (x int)",
		"LOCK TABLE events",
		"SELECT * FROM streams FOR UPDATE",
	}
	for _, q := range denied {
		err := s.Query(ctx, q, func([]string, []any) error { return nil })
		if !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q): err = %v, want ErrReadOnly", q, err)
		}
		if err != nil && (strings.Contains(err.Error(), "sealed") || strings.Contains(err.Error(), "argon2")) {
			t.Errorf("Query(%q): the error shows a secret: %v", q, err)
		}
	}
	// Not refused as writes, but refused all the same, and nothing made.
	for _, q := range []string{"SELECT * INTO pwned FROM events", "SELEC 1", "SELECT pg_advisory_lock(1)"} {
		if err := s.Query(ctx, q, func([]string, []any) error { return nil }); err == nil {
			t.Errorf("Query(%q) succeeded", q)
		}
	}
	// What a read may make on the server goes with its transaction,
	// which Query always rolls back.
	if err := s.Query(ctx, "SELECT lo_from_bytea(0, 'x')", func([]string, []any) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var pwned, lo bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('pwned') IS NOT NULL, EXISTS (SELECT FROM pg_largeobject_metadata)`).
		Scan(&pwned, &lo); err != nil || pwned || lo {
		t.Errorf("queries left a table (%v) or a large object (%v) behind: %v", pwned, lo, err)
	}
	// A session-level lock taken by a query is let go with its connection:
	// here one that would hold every reader of events back (see
	// inFlightBound).
	mark := fmt.Sprintf("SELECT pg_advisory_lock(%d, 'events'::regclass::oid::int)::text, pg_advisory_lock(0)::text", eventsMark)
	for range 8 { // more than the lake's connections
		if err := s.Query(ctx, mark, func([]string, []any) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.EventsAfter(ctx, 0, 10); err != nil || len(got) != 1 || got[0].UUID != "e1" {
		t.Fatalf("after queries took an advisory lock: EventsAfter = %v, %v; want e1", got, err)
	}
	// The store's own connections were not killed.
	if n, err := s.LatestSeq(ctx); err != nil || n == 0 {
		t.Errorf("after the queries: LatestSeq = %d, %v", n, err)
	}
}

// TestViewDialect: what the log-type views hand out on PostgreSQL, where
// it differs from SQLite by nature (\u0000 in a view, p_any_ arrays), and
// SQLite's json_extract, which the first migration provides.
func TestViewDialect(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, Options{})
	st := newStream(t, s, "acme")
	raw := `{"uuid":"n1","name":"a\u0000b","esc":"c\\u0000d","client":{"ip_address":"192.0.2.1","tags":["x","y"]},"n":3}`
	e := store.Event{UUID: "n1\x00odd", EventTime: time.Now(), ParseTime: time.Now(), Raw: []byte(raw),
		IPs: []string{"192.0.2.1"}, Emails: []string{"Jane@Example.com", "odd\x00@example.com"}}
	if _, err := s.InsertEvents(ctx, st.ID, []store.Event{e}, nil); err != nil {
		t.Fatal(err)
	}
	got, err := s.EventsAfter(ctx, 0, 10)
	if err != nil || len(got) != 1 {
		t.Fatalf("EventsAfter: %v, %v", got, err)
	}
	if string(got[0].Raw) != raw || got[0].UUID != e.UUID || got[0].Emails[1] != e.Emails[1] {
		t.Errorf("stored event: raw %q, uuid %q, emails %q; want them byte for byte", got[0].Raw, got[0].UUID, got[0].Emails)
	}
	v := store.View{Name: "t_signin", LogType: "OnePassword.SignInAttempt", Columns: []store.ViewColumn{
		{Name: "name", Kind: "string"}, {Name: "esc", Kind: "string"}, {Name: "client", Kind: "json"}, {Name: "n", Kind: "integer"}}}
	if err := s.SyncViews(ctx, []store.View{v}); err != nil {
		t.Fatal(err)
	}
	var row []any
	err = s.Query(ctx, `SELECT name, esc, json_extract(client, '$.ip_address'), json_extract(client, '$.tags[1]'),
		json_extract(client, '$.nothing'), p_any_emails, n FROM t_signin`, func(_ []string, vals []any) error {
		row = append([]any(nil), vals...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []any{"a\uFFFDb", `c\u0000d`, "192.0.2.1", "y", nil, `["Jane@Example.com","` + escapeMark + `\"odd\\x00@example.com\""]`, int64(3)}
	for i := range want {
		if i >= len(row) || row[i] != want[i] {
			t.Errorf("column %d = %#v, want %#v", i, row[min(i, len(row)-1)], want[i])
		}
	}
}

// TestOpenSchemas: what Open finds in a schema decides what it does.
func TestOpenSchemas(t *testing.T) {
	ctx := context.Background()
	dsn := freshSchema(t)
	// Nothing there: read-only and no-create opens create nothing.
	for _, o := range []Options{{ReadOnly: true}, {NoCreate: true}} {
		if _, err := Open(ctx, dsn, o); !errors.Is(err, store.ErrNoDatabase) {
			t.Fatalf("open %+v of an empty schema: %v, want ErrNoDatabase", o, err)
		}
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// A read-only store refuses writes before the server would.
	ro, err := Open(ctx, dsn, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.CreateSource(ctx, &store.Source{Name: "x"}, nil); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("CreateSource on a read-only store: %v, want ErrReadOnly", err)
	}
	if _, err := ro.InsertEvents(ctx, 1, []store.Event{event("e", time.Now())}, nil); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("InsertEvents on a read-only store: %v, want ErrReadOnly", err)
	}
	// A schema from a newer opwatch is refused.
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES (99, '0099_future.sql')`); err != nil {
		t.Fatal(err)
	}
	for _, o := range []Options{{}, {ReadOnly: true}, {Migrate: true}} {
		if _, err := Open(ctx, dsn, o); !errors.Is(err, store.ErrSchemaNewer) {
			t.Errorf("open %+v of a newer schema: %v, want ErrSchemaNewer", o, err)
		}
	}
	// A schema that holds someone else's tables is not taken over.
	other := freshSchema(t)
	conn, err := pgx.Connect(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE TABLE invoices (id int)`); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, other, Options{}); err == nil || !strings.Contains(err.Error(), "not opwatch's") {
		t.Errorf("open of a schema with other tables: %v", err)
	}
}
