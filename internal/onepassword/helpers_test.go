package onepassword

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// makeToken builds an unsigned-looking JWT with the given claims; the
// client never verifies signatures.
func makeToken(t testing.TB, claims map[string]any) string {
	t.Helper()
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"ES256","kid":"test","typ":"JWT"}`))
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	// A signature long enough that finding it in any output means a leak.
	sig := base64.RawURLEncoding.EncodeToString([]byte("signature-that-must-never-be-printed-anywhere"))
	return header + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + sig
}

// allFeaturesToken is a token for host with every feature.
func allFeaturesToken(t testing.TB, host string) string {
	return makeToken(t, map[string]any{
		"aud":                 []string{host},
		"1password.com/fts":   []string{"signinattempts", "itemusages", "auditevents"},
		"1password.com/auuid": "ACCOUNTUUIDACCOUNTUUIDAAAA",
		"iat":                 1700000000,
	})
}

// sleeps is a fake RetryPolicy.Sleep that records the waits and returns
// at once (or ctx's error).
type sleeps struct {
	mu sync.Mutex
	d  []time.Duration
}

func (s *sleeps) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.d = append(s.d, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeps) get() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.d...)
}

// serve starts an httptest server whose handler is h.
func serve(t testing.TB, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// testClient is a client of srv with a fake sleep.
func testClient(t testing.TB, srv *httptest.Server, mod func(*Options)) (*Client, *sleeps) {
	t.Helper()
	sl := &sleeps{}
	o := Options{
		Token:   allFeaturesToken(t, srv.Listener.Addr().String()),
		BaseURL: srv.URL,
		Retry:   RetryPolicy{Sleep: sl.sleep},
	}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c, sl
}

// writePage writes an envelope.
func writePage(w http.ResponseWriter, cursor string, hasMore bool, items ...string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	b, _ := json.Marshal(map[string]any{"cursor": cursor, "has_more": hasMore, "items": rawItems(items)})
	w.Write(b)
}

func rawItems(items []string) []json.RawMessage {
	out := make([]json.RawMessage, 0, len(items))
	for _, it := range items {
		out = append(out, json.RawMessage(it))
	}
	return out
}

// requestBody decodes a POST body the way a server would.
func requestBody(t testing.TB, r *http.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		t.Errorf("request body: %v", err)
	}
	return m
}
