package server

import (
	"context"
	"testing"

	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// /readyz on the embedded engine: ready once migrated.
func TestReadyzOnSQLite(t *testing.T) {
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/r.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var _ Schema = st
	h := NewHandler(Config{Store: st})
	if rec := get(t, h, "/readyz"); rec.Code != 200 {
		t.Errorf("fresh database: %d %q", rec.Code, rec.Body)
	}
	st.Close()
}
