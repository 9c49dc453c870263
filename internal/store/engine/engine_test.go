package engine

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/storetest"
)

func TestLocal(t *testing.T) {
	for dsn, want := range map[string]bool{
		"opwatch.db":                          true,
		"/var/lib/opwatch/opwatch.db":         true,
		"./data/x.db":                         true,
		`C:\opwatch\x.db`:                     true,
		"file:/var/lib/opwatch/opwatch.db":    true,
		"file:rel.db":                         true,
		"./odd:name.db":                       true,
		"postgres://u:p@db.example/opwatch":   false,
		"postgresql://u:p@db.example/opwatch": false,
		"POSTGRES://db.example/opwatch":       false,
		"mysql://db.example/x":                false,
		"file:x.db?mode=rwc":                  false,
		"":                                    false,
	} {
		if got := Local(dsn); got != want {
			t.Errorf("Local(%q) = %v, want %v", dsn, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for dsn, want := range map[string]string{
		"opwatch.db":                "opwatch.db",
		"file:rel.db":               "rel.db",
		"file:/var/lib/x.db":        filepath.FromSlash("/var/lib/x.db"),
		"file:///var/lib/x.db":      filepath.FromSlash("/var/lib/x.db"),
		"file://localhost/var/x.db": filepath.FromSlash("/var/x.db"),
		"file:///C:/opwatch/x.db":   filepath.FromSlash("C:/opwatch/x.db"),
		"file:/with%20space/x.db":   filepath.FromSlash("/with space/x.db"),
	} {
		if got, err := localPath(dsn); err != nil || got != want {
			t.Errorf("localPath(%q) = %q, %v; want %q", dsn, got, err, want)
		}
	}
	if _, err := localPath("file://otherhost/x.db"); err == nil {
		t.Error("a file URI on another host was accepted")
	}
}

func TestOpenPostgresHidesPassword(t *testing.T) {
	// Nothing listens on port 1: the open fails at once, and its error must
	// not repeat the URL's password.
	for _, dsn := range []string{"postgres://opwatch:hunter2@127.0.0.1:1/opwatch?connect_timeout=5",
		"postgresql://opwatch:hunter2@127.0.0.1:1/opwatch?connect_timeout=5", "postgres://opwatch:hunter2@[bad"} {
		s, err := Open(context.Background(), dsn, Options{})
		if err == nil {
			s.Close()
			t.Fatalf("Open(%s) succeeded", dsn)
		}
		if !strings.Contains(err.Error(), "PostgreSQL") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(postgres): %q; want it to name PostgreSQL, without the password", err)
		}
	}
	if !Postgres("POSTGRES://db.example/opwatch") || Postgres("opwatch.db") || Local("postgres://db.example/opwatch") {
		t.Error("a postgres:// URL is not told apart from a file")
	}
}

func TestOpenModes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "opwatch.db")
	// Read-only and Existing find nothing and create nothing.
	for _, mode := range []Mode{ReadOnly, Existing} {
		_, err := Open(ctx, path, Options{Mode: mode})
		if !errors.Is(err, store.ErrNoDatabase) || strings.Count(err.Error(), path) != 1 {
			t.Fatalf("mode %d open of nothing: err = %v, want ErrNoDatabase naming the path once", mode, err)
		}
		if fileExists(path) {
			t.Fatalf("a mode %d open created the database", mode)
		}
	}
	// Read-write creates it at the latest schema; a file: URI names it too.
	s, err := Open(ctx, "file:"+filepath.ToSlash(path), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cur, latest, err := s.SchemaVersion(ctx); err != nil || cur != latest {
		t.Errorf("new database at version %d of %d, %v", cur, latest, err)
	}
	if err := s.CreateSource(ctx, &store.Source{Name: "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, mode := range []Mode{ReadOnly, Migrate, ReadWrite, Existing} {
		s, err := Open(ctx, path, Options{Mode: mode})
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		if _, err := s.SourceByName(ctx, "acme"); err != nil {
			t.Errorf("mode %d: %v", mode, err)
		}
		err = s.CreateSource(ctx, &store.Source{Name: fmt.Sprint("more-", mode)}, nil)
		if mode == ReadOnly && !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("write in read-only mode: err = %v, want ErrReadOnly", err)
		}
		if mode != ReadOnly && err != nil {
			t.Errorf("write in mode %d: %v", mode, err)
		}
		s.Close()
	}
}

func fileExists(path string) bool {
	s, err := Open(context.Background(), path, Options{Mode: ReadOnly})
	if err == nil {
		s.Close()
	}
	return !errors.Is(err, store.ErrNoDatabase)
}

// TestSuite runs the behaviour suite on a store opened through Open, on the
// store's own clock, so the cases that move time are skipped.
func TestSuite(t *testing.T) {
	storetest.RunSources(t, func(t *testing.T, clock *storetest.Clock) store.Store {
		clock.Ignore()
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "suite.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// postgresSchema makes an empty schema on OPWATCH_TEST_POSTGRES for one
// test (dropped after it) and returns the URL that uses it; without the
// variable the test is skipped.
func postgresSchema(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("OPWATCH_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("OPWATCH_TEST_POSTGRES is not set: no PostgreSQL server to test on")
	}
	ctx := context.Background()
	schema := fmt.Sprintf("opwatch_engine_%d", time.Now().UnixNano())
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err == nil {
			_, err = conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(ctx)
		}
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// TestOpenPostgresModes: the modes mean on PostgreSQL what they mean on
// SQLite, an empty schema standing for a missing file.
func TestOpenPostgresModes(t *testing.T) {
	ctx := context.Background()
	dsn := postgresSchema(t)
	for _, mode := range []Mode{ReadOnly, Existing} {
		if _, err := Open(ctx, dsn, Options{Mode: mode}); !errors.Is(err, store.ErrNoDatabase) {
			t.Fatalf("mode %d open of an empty schema: err = %v, want ErrNoDatabase", mode, err)
		}
	}
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if cur, latest, err := s.SchemaVersion(ctx); err != nil || cur != latest || latest < 1 {
		t.Errorf("new schema at version %d of %d, %v", cur, latest, err)
	}
	if err := s.CreateSource(ctx, &store.Source{Name: "acme"}, nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for _, mode := range []Mode{ReadOnly, Migrate, ReadWrite, Existing} {
		s, err := Open(ctx, dsn, Options{Mode: mode})
		if err != nil {
			t.Fatalf("mode %d: %v", mode, err)
		}
		if _, err := s.SourceByName(ctx, "acme"); err != nil {
			t.Errorf("mode %d: %v", mode, err)
		}
		err = s.CreateSource(ctx, &store.Source{Name: fmt.Sprint("more-", mode)}, nil)
		if mode == ReadOnly && !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("write in read-only mode: err = %v, want ErrReadOnly", err)
		}
		if mode != ReadOnly && err != nil {
			t.Errorf("write in mode %d: %v", mode, err)
		}
		s.Close()
	}
}

// TestSuitePostgres runs the Sources part on PostgreSQL through Open, on
// the server's clock.
func TestSuitePostgres(t *testing.T) {
	storetest.RunSources(t, func(t *testing.T, clock *storetest.Clock) store.Store {
		clock.Ignore()
		s, err := Open(context.Background(), postgresSchema(t), Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}
