package sqlite

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

// TestMigrateTo4: sources stored before the health columns get the 24 h
// no-events alarm and no token expiry; alerts stored before history get
// their creation entry; both keep working under the new indexes.
func TestMigrateTo4(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v3.db")
	uri, err := fileURI(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openOne(newDriver(&Store{codec: &segment.Codec{}}), uri)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	const at = "2026-01-01 00:00:00.000000000"
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`}
	for _, m := range ms[:3] {
		stmts = append(stmts, m.sql, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', '%s')`, m.version, m.name, at))
	}
	stmts = append(stmts,
		`INSERT INTO sources (id, name, settings, created_at, updated_at) VALUES ('src', 'old', '{"interval":"1m0s","lookback":"1h0m0s"}', '`+at+`', '`+at+`')`,
		`INSERT INTO streams (source_id, log_type, next_poll_at) VALUES ('src', 'OnePassword.SignInAttempt', '`+at+`')`,
		// Two limiter alerts of one rule, both open: allowed before and after.
		`INSERT INTO alerts (id, type, rule_id, dedup, status, created_at, updated_at) VALUES
			('L1', 'system_error', 'R', 'alert limit', 'open', '`+at+`', '`+at+`'),
			('L2', 'system_error', 'R', 'alert limit', 'triaged', '`+at+`', '`+at+`')`,
	)
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	src, err := s.SourceByID(ctx, "src")
	if err != nil {
		t.Fatal(err)
	}
	if src.NoEventsAlarm != 24*time.Hour || !src.TokenExpiresAt.IsZero() {
		t.Errorf("an old source: alarm %v, token expiry %v; want 24h and none", src.NoEventsAlarm, src.TokenExpiresAt)
	}
	sts, err := s.Streams(ctx, "src")
	if err != nil || len(sts) != 1 || !sts[0].LastStoredAt.IsZero() {
		t.Errorf("an old stream = %+v, %v; want no LastStoredAt", sts, err)
	}
	for id, status := range map[string]string{"L1": store.AlertOpen, "L2": store.AlertTriaged} {
		hs, err := s.AlertHistory(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if len(hs) != 1 || hs[0].Action != store.ActionCreate || hs[0].ToStatus != status || hs[0].Actor != "opwatch" ||
			!hs[0].At.Equal(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) {
			t.Errorf("history of old alert %s = %+v; want its creation", id, hs)
		}
	}
	if _, err := s.ChangeAlert(ctx, store.AlertChange{AlertID: "L2", Action: store.ActionReopen}); err != nil {
		t.Errorf("reopening an old limiter alert beside another: %v", err)
	}
}
