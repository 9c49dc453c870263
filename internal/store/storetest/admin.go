package storetest

import (
	"context"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

// testSchemaVersion: a new store is at its latest schema, and Migrate on it
// changes nothing.
func testSchemaVersion(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	current, latest, err := s.SchemaVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if latest < 1 || current != latest {
		t.Fatalf("SchemaVersion = %d, %d; want the latest, at least 1", current, latest)
	}
	newSource(t, s, "acme")
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate at the latest schema: %v", err)
	}
	if c, l, err := s.SchemaVersion(ctx); err != nil || c != current || l != latest {
		t.Errorf("after Migrate: %d, %d, %v; want %d, %d", c, l, err, current, latest)
	}
	if srcs, err := s.ListSources(ctx); err != nil || len(srcs) != 1 {
		t.Errorf("after Migrate: %d sources, %v; want 1", len(srcs), err)
	}
}
