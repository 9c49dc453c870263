package emulator

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable clock for Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2025, 7, 28, 19, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start starts an emulator on loopback, closed with the test.
func start(t testing.TB, opts Options) *Emulator {
	t.Helper()
	e, err := Start(opts, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

func token(t testing.TB, e *Emulator, o TokenOptions) string {
	t.Helper()
	tok, err := e.IssueToken(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// call sends one request and returns the status, headers and body.
func call(t testing.TB, e *Emulator, tok, method, path, body string) (int, http.Header, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := e.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

type page struct {
	Cursor  string            `json:"cursor"`
	HasMore bool              `json:"has_more"`
	Items   []json.RawMessage `json:"items"`
}

// fetch posts body to path and decodes a 200 page.
func fetch(t testing.TB, e *Emulator, tok, path, body string) page {
	t.Helper()
	status, _, b := call(t, e, tok, http.MethodPost, path, body)
	if status != http.StatusOK {
		t.Fatalf("POST %s %s: status %d, body %s", path, body, status, b)
	}
	var p page
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("POST %s: decode page: %v\n%s", path, err, b)
	}
	if p.Items == nil {
		t.Fatalf("POST %s: items is null or missing: %s", path, b)
	}
	return p
}

// drain follows cursors from a reset body until has_more is false and
// returns the uuids in order.
func drain(t testing.TB, e *Emulator, tok, path, reset string) []string {
	t.Helper()
	var uuids []string
	body := reset
	for n := 0; ; n++ {
		if n > 100000 {
			t.Fatal("drain: too many pages")
		}
		p := fetch(t, e, tok, path, body)
		for _, it := range p.Items {
			uuids = append(uuids, uuidOf(t, it))
		}
		if !p.HasMore {
			return uuids
		}
		body = `{"cursor":"` + p.Cursor + `"}`
	}
}

func uuidOf(t testing.TB, raw []byte) string {
	t.Helper()
	var ev struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatalf("decode event: %v\n%s", err, raw)
	}
	return ev.UUID
}

// all returns the uuids Each yields.
func all(e *Emulator, account, feature string, version int) []string {
	var uuids []string
	e.Each(account, feature, version, func(uuid string, raw []byte) bool {
		uuids = append(uuids, uuid)
		return true
	})
	return uuids
}

const everything = `{"limit":1000,"start_time":"2020-01-01T00:00:00Z"}`

var eventPaths = []string{
	"/api/v1/signinattempts", "/api/v2/signinattempts",
	"/api/v1/itemusages", "/api/v2/itemusages",
	"/api/v1/auditevents", "/api/v2/auditevents",
}

// featureOf returns the feature and version of an event path.
func featureOf(path string) (string, int) {
	version := 1
	if strings.HasPrefix(path, "/api/v2/") {
		version = 2
	}
	return path[strings.LastIndex(path, "/")+1:], version
}

func base64RawURL(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }
