package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/storetest"
)

// testDSN is the server the tests run on: OPWATCH_TEST_POSTGRES, a
// postgres:// URL of a database the user may create schemas (and a role)
// in. Without it the tests skip: `go test ./...` passes on a bare machine.
func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("OPWATCH_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("OPWATCH_TEST_POSTGRES is not set: no PostgreSQL server to test on")
	}
	return dsn
}

// freshSchema creates an empty schema for one test and drops it (with
// everything in it) when the test ends; it returns the DSN that uses it.
func freshSchema(t testing.TB) string {
	t.Helper()
	dsn := testDSN(t)
	ctx := context.Background()
	var b [6]byte
	rand.Read(b[:])
	schema := "opwatch_test_" + hex.EncodeToString(b[:])
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect to OPWATCH_TEST_POSTGRES: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, dsn, schema)
}

// withSearchPath is dsn with search_path set to schema.
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatalf("OPWATCH_TEST_POSTGRES: %v", err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = q.Encode()
		return u.String()
	}
	return dsn + " search_path=" + schema
}

func openTestWith(t testing.TB, opts Options) *Store {
	t.Helper()
	s, err := Open(context.Background(), freshSchema(t), opts)
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
	testDSN(t)
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) store.Store {
		return openTestWith(t, Options{Now: clock.Now})
	})
}

// TestStoreServerClock runs the suite on the database server's clock, the
// way replicas run: the cases that move time are skipped, the rest run the
// clock_timestamp() paths.
func TestStoreServerClock(t *testing.T) {
	testDSN(t)
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) store.Store {
		clock.Ignore()
		return openTestWith(t, Options{})
	})
}
