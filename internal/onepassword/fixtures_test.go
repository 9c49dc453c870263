package onepassword

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const fixtureDir = "../../../shared/fixtures/onepassword"

// fixtures returns the fixture files matching pattern, or skips.
func fixtures(t testing.TB, pattern string) []string {
	t.Helper()
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Skipf("fixtures not present: %v", err)
	}
	files, err := filepath.Glob(filepath.Join(fixtureDir, pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures match %s: %v", pattern, err)
	}
	return files
}

func addFixtureSeeds(f *testing.F) {
	if _, err := os.Stat(fixtureDir); err != nil {
		return
	}
	files, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
}

// fetchBody serves body as the response of an event endpoint and fetches it.
func fetchBody(t *testing.T, body []byte) Page {
	t.Helper()
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Write(body)
	})
	c, _ := testClient(t, srv, nil)
	p, err := c.Fetch(context.Background(), AuditEvents, Request{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// sameJSON fails unless got, re-marshalled, is the JSON value want.
func sameJSON(t *testing.T, got json.RawMessage, want any) {
	t.Helper()
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("re-marshal: %v", err)
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, v); diff != "" {
		t.Errorf("item changed (-fixture +decoded):\n%s", diff)
	}
}

func decodeAny(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestFixtureEnvelopes(t *testing.T) {
	for _, name := range fixtures(t, "*.json") {
		if strings.Contains(name, "introspect") {
			continue
		}
		t.Run(filepath.Base(name), func(t *testing.T) {
			body, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			want := decodeAny(t, body).(map[string]any)
			p := fetchBody(t, body)
			if p.Cursor != want["cursor"] || p.HasMore != want["has_more"] {
				t.Errorf("cursor, has_more = %q, %v; want %v, %v", p.Cursor, p.HasMore, want["cursor"], want["has_more"])
			}
			items := want["items"].([]any)
			if len(p.Items) != len(items) {
				t.Fatalf("%d items, want %d", len(p.Items), len(items))
			}
			for i := range items {
				sameJSON(t, p.Items[i], items[i])
			}
		})
	}
}

func TestFixtureItems(t *testing.T) {
	for _, name := range fixtures(t, "*.ndjson") {
		t.Run(filepath.Base(name), func(t *testing.T) {
			f, err := os.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var lines [][]byte
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
					lines = append(lines, bytes.Clone(line))
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			// The items as a server would send them.
			body := []byte(`{"cursor":"c","has_more":false,"items":[` + string(bytes.Join(lines, []byte(",\n"))) + `]}`)
			p := fetchBody(t, body)
			if len(p.Items) != len(lines) {
				t.Fatalf("%d items, want %d", len(p.Items), len(lines))
			}
			for i, line := range lines {
				if !bytes.Equal(p.Items[i], line) {
					t.Errorf("item %d is not byte-identical", i)
				}
				sameJSON(t, p.Items[i], decodeAny(t, line))
			}
		})
	}
}

func TestFixtureIntrospect(t *testing.T) {
	files := fixtures(t, "*introspect_v2*.json")
	body, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	c, _ := testClient(t, srv, nil)
	in, err := c.Introspect(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := Introspection{UUID: "1234", IssuedAt: time.Date(2024, 12, 16, 19, 32, 50, 0, time.UTC),
		Features: []Feature{AuditEvents, ItemUsages, SignInAttempts}}
	if diff := cmp.Diff(want, in, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })); diff != "" {
		t.Errorf("introspection (-want +got):\n%s", diff)
	}
}
