package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// storedLookup reads a table's rows back from the database, as JSON values.
func storedLookup(t *testing.T, db, name string) map[string]any {
	t.Helper()
	ctx := context.Background()
	st, err := engine.Open(ctx, db, engine.Options{Mode: engine.ReadOnly})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rows, err := st.LookupRows(ctx, name)
	if err != nil {
		t.Fatalf("LookupRows(%s): %v", name, err)
	}
	out := map[string]any{}
	for k, raw := range rows {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("row %s is not JSON: %s", k, raw)
		}
		out[k] = v
	}
	return out
}

func TestLookupLoadListRemove(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "opwatch.db")
	vars := map[string]string{"OPWATCH_DB": db}
	csvFile := writeFile(t, dir, "items.csv", "\ufeffuuid,title,vault\n"+
		"ITEM1,Prod DB,\"Ops, shared\"\n"+
		"ITEM2,\"AWS \"\"root\"\"\",Admin\n")
	// Flags anywhere, as everywhere.
	out, errOut, code := runCLI(t, vars, "", "lookup", "load", "--key", "uuid", "items", csvFile,
		"--log-type", "OnePassword.ItemUsage", "--selector", "item_uuid")
	if code != 0 {
		t.Fatalf("load: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "Loaded lookup table items: 2 rows") {
		t.Errorf("load said %q", out)
	}
	want := map[string]any{
		"ITEM1": map[string]any{"uuid": "ITEM1", "title": "Prod DB", "vault": "Ops, shared"},
		"ITEM2": map[string]any{"uuid": "ITEM2", "title": `AWS "root"`, "vault": "Admin"},
	}
	if got := storedLookup(t, db, "items"); !reflect.DeepEqual(got, want) {
		t.Errorf("stored rows = %v, want %v", got, want)
	}

	out, errOut, code = runCLI(t, vars, "", "lookup", "list")
	if code != 0 || !strings.Contains(out, "items") || !strings.Contains(out, "OnePassword.ItemUsage") ||
		!strings.Contains(out, "item_uuid") || !strings.Contains(out, "2") {
		t.Errorf("list: exit %d\n%s%s", code, out, errOut)
	}

	// Loading again replaces every row.
	jsonl := writeFile(t, dir, "items.jsonl", `{"uuid":"ITEM3","title":"Signing key","tags":["a"]}`+"\n\n"+`{"uuid":42,"title":"numbered"}`+"\n")
	if _, errOut, code := runCLI(t, vars, "", "lookup", "load", "items", jsonl, "--key", "uuid",
		"--log-type", "OnePassword.ItemUsage", "--selector", "item_uuid"); code != 0 {
		t.Fatalf("reload: exit %d\n%s", code, errOut)
	}
	want = map[string]any{
		"ITEM3": map[string]any{"uuid": "ITEM3", "title": "Signing key", "tags": []any{"a"}},
		"42":    map[string]any{"uuid": float64(42), "title": "numbered"},
	}
	if got := storedLookup(t, db, "items"); !reflect.DeepEqual(got, want) {
		t.Errorf("rows after a reload = %v, want only %v", got, want)
	}

	if out, errOut, code := runCLI(t, vars, "", "lookup", "remove", "items"); code != 0 || !strings.Contains(out, "Removed lookup table items") {
		t.Fatalf("remove: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, _ := runCLI(t, vars, "", "lookup", "list"); !strings.Contains(out, "No lookup tables") {
		t.Errorf("list after remove: %s", out)
	}
	if _, errOut, code := runCLI(t, vars, "", "lookup", "remove", "items"); code != 1 || !strings.Contains(errOut, `no lookup table named "items"`) {
		t.Errorf("removing a missing table: exit %d, %s", code, errOut)
	}
}

// A refused file says which line and why, and creates nothing.
func TestLookupLoadErrors(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "opwatch.db")
	vars := map[string]string{"OPWATCH_DB": db}
	long := strings.Repeat("x", store.MaxLookupRowBytes)
	for _, tc := range []struct {
		name, file, content string
		flags               []string
		code                int
		want                string
	}{
		{"duplicate key", "a.csv", "uuid,t\na,1\nb,2\na,3\n", nil, 1, `line 4: the key "a" is already on line 2`},
		{"no key column", "a.csv", "id,t\na,1\n", nil, 1, `line 1: the header has no column "uuid"`},
		{"short row", "a.csv", "uuid,t\na,1\nb\n", nil, 1, "line 3: wrong number of fields"},
		{"bad quote", "a.csv", "uuid,t\na,\"1\n", nil, 1, "in quoted-field"},
		{"invalid UTF-8", "a.jsonl", "{\"uuid\":\"a\xff\"}\n", nil, 1, "line 1: not valid UTF-8"},
		{"empty key", "a.csv", "uuid,t\n,1\n", nil, 1, "line 2: the key is empty"},
		{"duplicate column", "a.csv", "uuid,t,t\n", nil, 1, `line 1: the header names the column "t" twice`},
		{"empty csv", "a.csv", "", nil, 1, "the file is empty"},
		{"row too large", "a.csv", "uuid,t\na," + long + "\n", nil, 1, "line 2: lookup table too large"},
		{"not an object", "a.jsonl", "{\"uuid\":\"a\"}\n[1]\n", nil, 1, "line 2: not a JSON object"},
		{"broken JSON", "a.jsonl", "{\"uuid\":\"a\"}\n{\"uuid\":\n", nil, 1, "line 2: not a JSON object"},
		{"missing key field", "a.jsonl", "{\"uuid\":\"a\"}\n{\"id\":\"b\"}\n", nil, 1, `line 2: the object has no "uuid" field`},
		{"key not text", "a.jsonl", "{\"uuid\":{\"a\":1}}\n", nil, 1, `line 1: the "uuid" field: want a string or a number`},
		{"duplicate JSONL key", "a.jsonl", "{\"uuid\":\"a\"}\n{\"uuid\":\"a\"}\n", nil, 1, "line 2: the key \"a\" is already on line 1"},
		{"line too long", "a.jsonl", "{\"uuid\":\"a\",\"x\":\"" + long + "\"}\n", nil, 1, "line 1: lookup table too large"},
		{"unknown format", "a.txt", "uuid\na\n", nil, 2, "--format csv or --format jsonl"},
		{"unknown log type", "a.csv", "uuid\na\n", []string{"--log-type", "Nope"}, 2, `unknown log type "Nope"`},
		{"bad selector", "a.csv", "uuid\na\n", []string{"--selector", "a..b"}, 2, "not a dotted path"},
		{"no key flag", "a.csv", "uuid\na\n", []string{"--key", ""}, 2, "--key COLUMN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeFile(t, t.TempDir(), tc.file, tc.content)
			args := []string{"lookup", "load", "t", file, "--key", "uuid", "--log-type", "OnePassword.ItemUsage", "--selector", "item_uuid"}
			_, errOut, code := runCLI(t, vars, "", append(args, tc.flags...)...)
			if code != tc.code || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant exit %d and %q", code, errOut, tc.code, tc.want)
			}
			if len(errOut) > 2000 {
				t.Errorf("the error is %d bytes long: it repeats the input", len(errOut))
			}
			if _, err := os.Stat(db); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a refused load created the database: %v", err)
			}
		})
	}
}

func TestLookupFileBounded(t *testing.T) {
	// A file over the bound is refused while reading, never held whole.
	r := &limitedReader{r: bytes.NewReader(make([]byte, 100)), n: 10}
	buf := make([]byte, 64)
	total := 0
	var err error
	for err == nil {
		var n int
		n, err = r.Read(buf)
		total += n
	}
	if !errors.Is(err, store.ErrLookupTooLarge) || total > 11 {
		t.Errorf("read %d bytes of a 10-byte bound, err %v", total, err)
	}
	r = &limitedReader{r: bytes.NewReader(make([]byte, 10)), n: 10}
	if b, err := readAllLimited(r); err != nil || len(b) != 10 {
		t.Errorf("a file exactly at the bound: %d bytes, %v", len(b), err)
	}
}

func readAllLimited(r *limitedReader) ([]byte, error) {
	var out bytes.Buffer
	_, err := out.ReadFrom(r)
	return out.Bytes(), err
}

func TestLookupHelp(t *testing.T) {
	for _, sub := range []string{"load", "list", "remove"} {
		out, _, code := runCLI(t, nil, "", "lookup", sub, "--help")
		if code != 0 || !strings.Contains(out, "Usage: opwatch lookup "+sub) {
			t.Errorf("lookup %s --help: exit %d, %s", sub, code, out)
		}
	}
	if _, errOut, code := runCLI(t, nil, "", "lookup", "nope"); code != 2 || !strings.Contains(errOut, `unknown subcommand "nope"`) {
		t.Errorf("unknown subcommand: exit %d, %s", code, errOut)
	}
}

// FuzzReadLookup: whatever the file, reading it never panics, and what it
// accepts is what the store takes: JSON objects under non-empty keys that
// hold the key.
func FuzzReadLookup(f *testing.F) {
	f.Add("csv", "uuid,t\na,1\nb,\"x,y\"\n")
	f.Add("csv", "\ufeffuuid\n\"a\"\"b\"\n")
	f.Add("csv", "uuid,t\na\n")
	f.Add("jsonl", "{\"uuid\":\"a\",\"n\":[1,2]}\n\n{\"uuid\":7}\n")
	f.Add("jsonl", "{\"uuid\":\"\\u0000\"}\n")
	f.Add("jsonl", "[]\n")
	f.Fuzz(func(t *testing.T, format, content string) {
		if format != "csv" && format != "jsonl" {
			return
		}
		rows, err := readLookup(strings.NewReader(content), format, "uuid")
		if err != nil {
			return
		}
		for k, raw := range rows {
			if k == "" || len(k) > store.MaxLookupKeyBytes || len(raw) > store.MaxLookupRowBytes {
				t.Fatalf("accepted key %q with a %d-byte row", k, len(raw))
			}
			var obj map[string]any
			if err := json.Unmarshal(raw, &obj); err != nil {
				t.Fatalf("row %q is not a JSON object: %s", k, raw)
			}
			if _, ok := obj["uuid"]; !ok {
				t.Fatalf("row %q lacks its key field: %s", k, raw)
			}
		}
	})
}
