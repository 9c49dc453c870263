package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOnePasswordV1Client acts as 1Password's own Go clients (events-api-elastic,
// events-api-splunk) do: take the host from the token's aud without verifying
// anything, speak v1 over HTTPS, send the cursor body hand-formatted with
// spaces and no Content-Type, and drain every stream.
func TestOnePasswordV1Client(t *testing.T) {
	n := 1200
	if testing.Short() {
		n = 300
	}
	e, err := Start(Options{Seed: 11, Events: n}, "127.0.0.1:0", true)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	tok := token(t, e, TokenOptions{})

	// utils/jwt.go: unverified claims, "https://" + aud[0].
	var claims struct {
		Aud      []string `json:"aud"`
		Features []string `json:"1password.com/fts"`
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	base := "https://" + claims.Aud[0]
	if base != e.URL() {
		t.Fatalf("base URL from aud %q, emulator at %q", base, e.URL())
	}
	client := e.HTTPClient() // trusts the self-signed certificate

	for _, feature := range claims.Features {
		body := `{ "limit": 1000, "start_time": "2020-01-01T00:00:00Z" }`
		var got []string
		for pages := 0; ; pages++ {
			req, _ := http.NewRequest("POST", base+"/api/v1/"+feature, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("User-Agent", "1Password Events API Beats / 2.8.2")
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Fatalf("%s: unexpected status code %d", feature, resp.StatusCode)
			}
			if resp.TLS == nil {
				t.Fatal("not served over TLS")
			}
			var p struct {
				Cursor  string            `json:"cursor"`
				HasMore bool              `json:"has_more"`
				Items   []json.RawMessage `json:"items"`
			}
			err = json.NewDecoder(resp.Body).Decode(&p)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range p.Items {
				got = append(got, uuidOf(t, it))
			}
			body = fmt.Sprintf(`{ "cursor": "%s" }`, p.Cursor)
			if !p.HasMore {
				break
			}
		}
		if diff := cmp.Diff(all(e, "", feature, 1), got); diff != "" {
			t.Errorf("%s: drained events differ from Each (-want +got):\n%s", feature, diff)
		}
		if len(got) != n {
			t.Errorf("%s: %d events, want %d", feature, len(got), n)
		}
	}
}

func TestConcurrentClients(t *testing.T) {
	n := 500
	if testing.Short() {
		n = 200
	}
	e := start(t, Options{Seed: 12, Events: n, Rate: 600, RateLimitPerMinute: -1, RateLimitPerHour: -1})
	tok := token(t, e, TokenOptions{})
	var wg sync.WaitGroup
	for w := 0; w < 6; w++ {
		path := eventPaths[w]
		wg.Add(1)
		go func() {
			defer wg.Done()
			f, version := featureOf(path)
			for round := 0; round < 2; round++ {
				got := drain(t, e, tok, path, `{"limit":197,"start_time":"2020-01-01T00:00:00Z"}`)
				// Live traffic keeps arriving: what was drained is a prefix of
				// the stream, at least the preloaded part.
				want := all(e, "", f, version)
				if len(got) < n || len(got) > len(want) {
					t.Errorf("%s: drained %d events; stream has %d, %d preloaded", path, len(got), len(want), n)
					return
				}
				if diff := cmp.Diff(want[:len(got)], got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", path, diff)
					return
				}
			}
		}()
	}
	// Meanwhile, the test hooks.
	for i := 0; i < 50; i++ {
		e.Requests()
		e.SetFaults(Faults{})
		e.Head("", "auditevents")
		tok2 := token(t, e, TokenOptions{Account: fmt.Sprintf("ACCOUNT%d", i%5)})
		e.Revoke(tok2)
	}
	wg.Wait()
}

// FuzzServePage sends arbitrary bodies to an event endpoint: the answer must
// be 200 or 400, never a 500 or a panic.
func FuzzServePage(f *testing.F) {
	e, err := New(Options{Seed: 1, Events: 100, RateLimitPerMinute: -1, RateLimitPerHour: -1})
	if err != nil {
		f.Fatal(err)
	}
	e.SetHost("127.0.0.1:1")
	tok, err := e.IssueToken(TokenOptions{})
	if err != nil {
		f.Fatal(err)
	}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("POST", "/api/v2/itemusages", strings.NewReader(`{"limit":3}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	e.Handler().ServeHTTP(rec, req)
	var p page
	json.Unmarshal(rec.Body.Bytes(), &p)
	for _, s := range []string{`{}`, everything, `{"cursor":"` + p.Cursor + `"}`, `{ "cursor": "` + p.Cursor[:40] + `" }`,
		`{"limit":1001}`, `{"start_time":"2025-01-01T00:00:00+14:00","end_time":"2025-01-01T00:00:00-12:00"}`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("POST", "/api/v2/itemusages", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		e.Handler().ServeHTTP(rec, req)
		switch rec.Code {
		case 200:
			var p page
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Items == nil || p.Cursor == "" {
				t.Fatalf("body %q: 200 with a bad page %s", body, rec.Body.Bytes())
			}
		case 400:
		default:
			t.Fatalf("body %q: status %d %s", body, rec.Code, rec.Body.Bytes())
		}
		io.Copy(io.Discard, rec.Body)
	})
}

// TestWithHTTPTest serves the handler from an httptest server, as tests of
// other packages may.
func TestWithHTTPTest(t *testing.T) {
	e, err := New(Options{Seed: 1, Events: 10})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(e.Handler())
	defer srv.Close()
	e.SetHost(srv.Listener.Addr().String())
	tok := token(t, e, TokenOptions{})
	get := func() (*http.Response, error) {
		req, _ := http.NewRequest("POST", srv.URL+"/api/v2/signinattempts", strings.NewReader(everything))
		req.Header.Set("Authorization", "Bearer "+tok)
		return srv.Client().Do(req)
	}
	resp, err := get()
	if err != nil {
		t.Fatal(err)
	}
	var p page
	json.NewDecoder(resp.Body).Decode(&p)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(p.Items) != 10 {
		t.Fatalf("%d with %d items", resp.StatusCode, len(p.Items))
	}
	e.FailNext(FaultDrop, 1)
	if resp, err := get(); err == nil {
		resp.Body.Close()
		t.Error("dropped request succeeded")
	}
}
