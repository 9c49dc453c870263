package sqlite

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

// Syncing views that are already in place changes nothing: every verb does
// it at start, often while `serve` is writing.
func TestSyncViewsIsANoOpWhenUnchanged(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "v.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	views := []store.View{{Name: "onepassword_itemusage", LogType: "OnePassword.ItemUsage",
		Columns: []store.ViewColumn{{Name: "uuid", Kind: "string"}, {Name: "user", Kind: "json"}}}}
	schemaVersion := func() int {
		var v int
		if err := s.writer.QueryRowContext(ctx, "PRAGMA schema_version").Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := s.SyncViews(ctx, views); err != nil {
		t.Fatal(err)
	}
	before := schemaVersion()
	if err := s.SyncViews(ctx, views); err != nil {
		t.Fatal(err)
	}
	if after := schemaVersion(); after != before {
		t.Errorf("an unchanged sync moved the schema version from %d to %d", before, after)
	}
	views[0].Columns = append(views[0].Columns, store.ViewColumn{Name: "action", Kind: "string"})
	if err := s.SyncViews(ctx, views); err != nil {
		t.Fatal(err)
	}
	if schemaVersion() == before {
		t.Error("a changed view was not recreated")
	}
}
