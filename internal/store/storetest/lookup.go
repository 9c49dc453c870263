package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

func lookupTable(name string) store.LookupTable {
	return store.LookupTable{Name: name, KeyColumn: "uuid", LogType: usage, Selector: "item_uuid"}
}

func lookupRows(t *testing.T, s store.Store, name string) map[string]json.RawMessage {
	t.Helper()
	rows, err := s.LookupRows(context.Background(), name)
	if err != nil {
		t.Fatalf("LookupRows(%s): %v", name, err)
	}
	return rows
}

func tableNamed(t *testing.T, s store.Store, name string) (store.LookupTable, bool) {
	t.Helper()
	ts, err := s.LookupTables(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range ts {
		if tb.Name == name {
			return tb, true
		}
	}
	return store.LookupTable{}, false
}

func sameRows(got, want map[string]json.RawMessage) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if !jsonEqual(string(got[k]), string(v)) {
			return false
		}
	}
	return true
}

// A load replaces a table's rows all at once and gives it a new version;
// a version is never given twice, even to a table removed and loaded again.
func testLookupLoadReplace(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	first := map[string]json.RawMessage{
		"ITEM1": json.RawMessage(`{"uuid":"ITEM1","title":"Prod DB"}`),
		"ITEM2": json.RawMessage(`{"uuid":"ITEM2","title":"AWS root"}`),
	}
	if err := s.LoadLookup(ctx, lookupTable("items"), first); err != nil {
		t.Fatal(err)
	}
	if err := s.LoadLookup(ctx, store.LookupTable{Name: "1Password Translation", KeyColumn: "ip", LogType: signin, Selector: "client.ip_address"},
		map[string]json.RawMessage{"192.0.2.1": json.RawMessage(`{"ip":"192.0.2.1"}`)}); err != nil {
		t.Fatal(err)
	}
	tb, ok := tableNamed(t, s, "items")
	if !ok || tb.Rows != 2 || tb.KeyColumn != "uuid" || tb.LogType != usage || tb.Selector != "item_uuid" || tb.Version == 0 {
		t.Fatalf("table after load = %+v", tb)
	}
	if ts, _ := s.LookupTables(ctx); len(ts) != 2 || ts[0].Name != "1Password Translation" || ts[1].Name != "items" {
		t.Errorf("LookupTables = %+v, want both by name", ts)
	}
	if got := lookupRows(t, s, "items"); !sameRows(got, first) {
		t.Errorf("rows = %s", got)
	}
	seen := map[int64]bool{}
	for _, tb := range must(s.LookupTables(ctx)) {
		seen[tb.Version] = true
	}

	second := map[string]json.RawMessage{"ITEM3": json.RawMessage(`{"uuid":"ITEM3","title":"Signing key"}`)}
	tbl := lookupTable("items")
	tbl.Selector = "item.uuid"
	if err := s.LoadLookup(ctx, tbl, second); err != nil {
		t.Fatal(err)
	}
	tb2, _ := tableNamed(t, s, "items")
	if tb2.Rows != 1 || tb2.Selector != "item.uuid" || seen[tb2.Version] {
		t.Errorf("after a replace: %+v (versions seen %v)", tb2, seen)
	}
	seen[tb2.Version] = true
	if got := lookupRows(t, s, "items"); !sameRows(got, second) {
		t.Errorf("rows after a replace = %s, want only the new ones", got)
	}

	if err := s.DeleteLookup(ctx, "items"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LookupRows(ctx, "items"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LookupRows of a removed table: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteLookup(ctx, "items"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing it twice: err = %v, want ErrNotFound", err)
	}
	if _, ok := tableNamed(t, s, "items"); ok {
		t.Error("a removed table is still listed")
	}
	if err := s.LoadLookup(ctx, lookupTable("items"), first); err != nil {
		t.Fatal(err)
	}
	tb3, _ := tableNamed(t, s, "items")
	if seen[tb3.Version] {
		t.Errorf("a table loaded again after removal got version %d, given before: a cache would keep the old rows", tb3.Version)
	}
	if got := lookupRows(t, s, "1Password Translation"); len(got) != 1 {
		t.Errorf("another table's rows changed: %s", got)
	}
	// An empty load empties the table.
	if err := s.LoadLookup(ctx, lookupTable("items"), nil); err != nil {
		t.Fatal(err)
	}
	if got := lookupRows(t, s, "items"); len(got) != 0 {
		t.Errorf("rows after an empty load = %s", got)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// A refused load changes nothing, and says why.
func testLookupBounds(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	good := map[string]json.RawMessage{"k": json.RawMessage(`{"k":"v"}`)}
	if err := s.LoadLookup(ctx, lookupTable("t"), good); err != nil {
		t.Fatal(err)
	}
	before, _ := tableNamed(t, s, "t")
	big := `{"k":"` + strings.Repeat("x", store.MaxLookupRowBytes) + `"}`
	for _, tc := range []struct {
		what  string
		table store.LookupTable
		rows  map[string]json.RawMessage
		is    error
	}{
		{"a row over the size bound", lookupTable("t"), map[string]json.RawMessage{"k": json.RawMessage(big)}, store.ErrLookupTooLarge},
		{"a key over the size bound", lookupTable("t"), map[string]json.RawMessage{strings.Repeat("k", store.MaxLookupKeyBytes+1): json.RawMessage(`{}`)}, store.ErrLookupTooLarge},
		{"a row that is not an object", lookupTable("t"), map[string]json.RawMessage{"k": json.RawMessage(`["k"]`)}, nil},
		{"a row that is not JSON", lookupTable("t"), map[string]json.RawMessage{"k": json.RawMessage(`{"k":`)}, nil},
		{"an empty key", lookupTable("t"), map[string]json.RawMessage{"": json.RawMessage(`{}`)}, nil},
		{"no key column", store.LookupTable{Name: "t", LogType: usage, Selector: "item_uuid"}, good, nil},
		{"no log type", store.LookupTable{Name: "t", KeyColumn: "k", Selector: "item_uuid"}, good, nil},
		{"no selector", store.LookupTable{Name: "t", KeyColumn: "k", LogType: usage}, good, nil},
		{"no name", lookupTable(""), good, nil},
		{"a name with a control character", lookupTable("t\x1b[2J"), good, nil},
	} {
		err := s.LoadLookup(ctx, tc.table, tc.rows)
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) {
			t.Errorf("%s: err = %v, want %v", tc.what, err, tc.is)
		}
		if strings.Contains(fmt.Sprint(err), strings.Repeat("x", 100)) {
			t.Errorf("%s: the error repeats the whole row", tc.what)
		}
		if got, _ := tableNamed(t, s, "t"); got != before {
			t.Errorf("%s changed the table: %+v", tc.what, got)
		}
		if got := lookupRows(t, s, "t"); !sameRows(got, good) {
			t.Errorf("%s changed the rows: %s", tc.what, got)
		}
	}
	if ts, _ := s.LookupTables(ctx); len(ts) != 1 {
		t.Errorf("refused loads created tables: %+v", ts)
	}
}

// Many rows load and read back whole.
func testLookupMany(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	rows := map[string]json.RawMessage{}
	for i := range 5000 {
		k := fmt.Sprintf("10.0.%d.%d", i/256, i%256)
		rows[k] = json.RawMessage(fmt.Sprintf(`{"ip":%q,"n":%d}`, k, i))
	}
	if err := s.LoadLookup(ctx, lookupTable("ips"), rows); err != nil {
		t.Fatal(err)
	}
	if got := lookupRows(t, s, "ips"); !sameRows(got, rows) {
		t.Errorf("read back %d rows of %d, or different ones", len(got), len(rows))
	}
	if tb, _ := tableNamed(t, s, "ips"); tb.Rows != 5000 {
		t.Errorf("table says %d rows", tb.Rows)
	}
}
