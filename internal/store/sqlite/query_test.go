package sqlite

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

// TestQuerySecretMessage: a read-only statement that reads a secret is told
// what happened and what to do, not that only read-only queries are allowed,
// and callers can still tell the refusal with errors.Is.
func TestQuerySecretMessage(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	if err := s.CreateSource(ctx, &store.Source{Name: "acme", Token: []byte("sealed-token-bytes")}, nil); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ query, want string }{
		{"SELECT * FROM sources", "sources.token is secret and cannot be read by queries; name the columns you need"},
		{"SELECT token FROM sources", "sources.token is secret and cannot be read by queries; name the columns you need"},
		{"SELECT id FROM streams WHERE cursor <> ''", "streams.cursor is secret and cannot be read by queries; name the columns you need"},
		{"SELECT data FROM sqlite_dbpage", "sqlite_dbpage (the raw pages) cannot be read by queries"},
	}
	for _, tt := range tests {
		err := s.Query(ctx, tt.query, func([]string, []any) error { return nil })
		if !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q): err = %v, want ErrReadOnly", tt.query, err)
			continue
		}
		if msg := err.Error(); !strings.HasPrefix(msg, tt.want) || strings.Contains(msg, "only read-only") || strings.Contains(msg, "sealed-token-bytes") {
			t.Errorf("Query(%q): error %q, want it to start with %q and not to call the statement a write", tt.query, msg, tt.want)
		}
	}
}
