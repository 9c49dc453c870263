package onepassword

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name      string
		status    int
		body      string
		header    map[string]string
		feature   Feature
		cursor    string
		fts       []string // token features; nil = all three
		aud       string   // token audience; "" = the test server
		exp       int64
		wantKind  ErrorKind
		wantCalls int // requests made with MaxAttempts 3
		wantMsg   []string
	}{
		{
			name: "401 revoked", status: 401, body: `{"status":401,"message":"Unauthorized"}`, feature: ItemUsages,
			wantKind: Unauthorized, wantCalls: 1,
			wantMsg: []string{"401 from HOST for itemusages", "token refused: it was revoked, or its signature is not valid", "issue a new token", `server said "Unauthorized"`},
		},
		{
			name: "401 other region", status: 401, feature: ItemUsages, aud: "events.1password.com",
			wantKind: Unauthorized, wantCalls: 1,
			wantMsg: []string{"401 from HOST for itemusages: token refused; it is for events.1password.com, not this host"},
		},
		{
			name: "401 expired", status: 401, feature: SignInAttempts, exp: 1600000000,
			wantKind: Unauthorized, wantCalls: 1,
			wantMsg: []string{"token expired at 2020-09-13T12:26:40Z"},
		},
		{
			name: "403 is unauthorized", status: 403, feature: SignInAttempts,
			wantKind: Unauthorized, wantCalls: 1, wantMsg: []string{"403 from HOST for signinattempts"},
		},
		{
			name: "local missing feature", status: 200, feature: AuditEvents, fts: []string{"itemusages"},
			wantKind: MissingFeature, wantCalls: 0,
			wantMsg: []string{"token lacks the auditevents feature: issue a new token with Audit events enabled in 1Password"},
		},
		{
			name: "400 on a cursor", status: 400, body: `{"Error":{"Message":"bad cursor"}}`, feature: AuditEvents, cursor: "c1",
			wantKind: BadRequest, wantCalls: 1,
			wantMsg: []string{"400 from HOST for auditevents", "cursor is the likely cause", `server said "bad cursor"`},
		},
		{
			name: "400 on a reset", status: 400, body: "limit out of range\nmore", feature: AuditEvents,
			wantKind: BadRequest, wantCalls: 1,
			wantMsg: []string{"rejected the request", "check the page limit", `server said "limit out of range"`},
		},
		{
			name: "429", status: 429, feature: ItemUsages,
			wantKind: RateLimited, wantCalls: 3,
			wantMsg: []string{"429 from HOST for itemusages", "rate limit", "gave up after 3 attempts"},
		},
		{
			name: "500", status: 500, body: "<html>oops</html>", feature: ItemUsages,
			wantKind: Server, wantCalls: 3, wantMsg: []string{"500 from HOST for itemusages", "server error"},
		},
		{name: "503", status: 503, feature: ItemUsages, wantKind: Server, wantCalls: 3, wantMsg: []string{"503 from HOST"}},
		{name: "408", status: 408, feature: ItemUsages, wantKind: Network, wantCalls: 3, wantMsg: []string{"408 from HOST"}},
		{
			name: "404", status: 404, feature: ItemUsages,
			wantKind: Unexpected, wantCalls: 1, wantMsg: []string{"404 from HOST for itemusages", "check the region or base URL", "API version 1"},
		},
		{name: "302", status: 302, feature: ItemUsages, wantKind: Unexpected, wantCalls: 1, wantMsg: []string{"302 from HOST", "unexpected status"}},
		{
			name: "invalid JSON", status: 200, body: `{"cursor":"x","has_more":false,"items":[{"uuid":`, feature: ItemUsages,
			wantKind: Decode, wantCalls: 3, wantMsg: []string{"invalid response from HOST for itemusages", "unexpected end of input"},
		},
		{
			name: "no cursor", status: 200, body: `{"has_more":false,"items":[]}`, feature: ItemUsages,
			wantKind: Decode, wantCalls: 3, wantMsg: []string{"no cursor"},
		},
		{
			name: "truncated body", status: 200, body: `{"cursor":"x","has_more":false,"items":[]}`,
			header: map[string]string{"Content-Length": "500"}, feature: ItemUsages,
			wantKind: Network, wantCalls: 3, wantMsg: []string{"response cut short from HOST for itemusages", "unexpected EOF"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet {
					// Introspection, which explains a 401: the token is
					// invalid, so it fails too.
					w.WriteHeader(401)
					return
				}
				calls.Add(1)
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				if tt.status == 302 {
					w.Header().Set("Location", "/elsewhere")
				}
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			})
			host := srv.Listener.Addr().String()
			claims := map[string]any{"aud": []string{host}, "1password.com/fts": []string{"signinattempts", "itemusages", "auditevents"}}
			if tt.fts != nil {
				claims["1password.com/fts"] = tt.fts
			}
			if tt.aud != "" {
				claims["aud"] = tt.aud
			}
			if tt.exp != 0 {
				claims["exp"] = tt.exp
			}
			token := makeToken(t, claims)
			c, sl := testClient(t, srv, func(o *Options) {
				o.Token = token
				o.Retry.MaxAttempts = 3
				o.AllowOtherHost = tt.aud != ""
			})
			_, err := c.Fetch(context.Background(), tt.feature, Request{Cursor: tt.cursor, Limit: 10})
			if err == nil {
				t.Fatal("Fetch succeeded")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			if kind, _ := KindOf(err); kind != tt.wantKind || e.Kind != tt.wantKind {
				t.Errorf("kind = %v, want %v", kind, tt.wantKind)
			}
			if e.Host != host || e.Feature != tt.feature {
				t.Errorf("Host, Feature = %q, %q; want %q, %q", e.Host, e.Feature, host, tt.feature)
			}
			if tt.wantCalls > 0 && tt.status < 300 && tt.status != e.Status && tt.wantKind != Network {
				t.Errorf("Status = %d, want %d", e.Status, tt.status)
			}
			if got := int(calls.Load()); got != tt.wantCalls {
				t.Errorf("server saw %d requests, want %d", got, tt.wantCalls)
			}
			if got := len(sl.get()); got != max(tt.wantCalls-1, 0) {
				t.Errorf("slept %d times, want %d", got, max(tt.wantCalls-1, 0))
			}
			if Retryable(err) != tt.wantKind.retryable() {
				t.Errorf("Retryable = %v", Retryable(err))
			}
			for _, s := range tt.wantMsg {
				s = strings.ReplaceAll(s, "HOST", host)
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q\n does not contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), token) || strings.Contains(err.Error(), strings.Split(token, ".")[2]) {
				t.Errorf("error contains the token: %q", err)
			}
		})
	}
}

func TestUnauthorizedExplainedByIntrospection(t *testing.T) {
	// The server answers 401 both to a bad token and to a token without the
	// feature; introspection, which any valid token may call, tells which.
	// The claims may list no features, or one the server no longer grants.
	tests := []struct {
		name       string
		fts        []string // the token's claimed features; nil = none
		introspect int      // status of introspect
		want       ErrorKind
		wantMsg    string
	}{
		{"no features claimed, token lacks it", nil, 200, MissingFeature,
			"401 from HOST for auditevents: token lacks the auditevents feature: issue a new token with Audit events enabled"},
		{"feature claimed but withdrawn", []string{"itemusages", "auditevents"}, 200, MissingFeature,
			"401 from HOST for auditevents: token lacks the auditevents feature"},
		// A token that has not expired by its claims is not called expired: a
		// broken signature gets the same 401 as a revoked token.
		{"no features claimed, token invalid", nil, 401, Unauthorized, "401 from HOST for auditevents: token refused: it was revoked, or its signature is not valid"},
		{"feature claimed, token invalid", []string{"auditevents"}, 401, Unauthorized, "401 from HOST for auditevents: token refused: it was revoked, or its signature is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var paths []string
			var mu sync.Mutex
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				paths = append(paths, r.Method+" "+r.URL.Path)
				mu.Unlock()
				if r.URL.Path == "/api/v2/auth/introspect" && tt.introspect == 200 {
					fmt.Fprint(w, `{"uuid":"U","issued_at":"2024-12-16T16:32:50-03:00","features":["itemusages"]}`)
					return
				}
				w.WriteHeader(401)
			})
			host := srv.Listener.Addr().String()
			claims := map[string]any{"aud": host}
			if tt.fts != nil {
				claims["1password.com/fts"] = tt.fts
			}
			c, _ := testClient(t, srv, func(o *Options) { o.Token = makeToken(t, claims) })
			_, err := c.Fetch(context.Background(), AuditEvents, Request{})
			if k, _ := KindOf(err); k != tt.want || !strings.Contains(err.Error(), strings.ReplaceAll(tt.wantMsg, "HOST", host)) {
				t.Errorf("err = %v (kind %v), want %v", err, k, tt.want)
			}
			want := []string{"POST /api/v2/auditevents", "GET /api/v2/auth/introspect"}
			if strings.Join(paths, ",") != strings.Join(want, ",") {
				t.Errorf("requests %v, want %v", paths, want)
			}
		})
	}
}

// On a client's first contact, a refused connection or an unknown host is
// reported at once with its cause (A8: pull took 72 s to say so); once the
// server has answered, the same failures are outages and are retried.
func TestUnreachableOnFirstContactFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close() // nothing listens there now
	tests := []struct {
		name, base, aud, want string
	}{
		{"connection refused", "http://" + closed, closed, "cannot reach " + closed + " for signinattempts: connection refused"},
		{"no such host", "https://events.opwatch-test.invalid", "events.opwatch-test.invalid", "cannot reach events.opwatch-test.invalid for signinattempts: no such host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sl := &sleeps{}
			c, err := New(Options{Token: allFeaturesToken(t, tt.aud), BaseURL: tt.base, Retry: RetryPolicy{MaxAttempts: 5, Sleep: sl.sleep}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Fetch(context.Background(), SignInAttempts, Request{})
			if k, _ := KindOf(err); k != Network {
				t.Fatalf("err = %v (kind %v), want a network error", err, k)
			}
			if dnsErr := (*net.DNSError)(nil); errors.As(err, &dnsErr) && !dnsErr.IsNotFound {
				t.Skipf("this machine's resolver does not answer for .invalid names: %v", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
			if n := len(sl.get()); n != 0 {
				t.Errorf("retried %d times before saying the server is unreachable", n)
			}
		})
	}
}

func TestNetworkErrorAfterContactIsRetried(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false) }))
	addr := srv.Listener.Addr().String()
	c, sl := testClient(t, srv, func(o *Options) { o.Retry.MaxAttempts = 3 })
	if _, err := c.Fetch(context.Background(), SignInAttempts, Request{}); err != nil {
		t.Fatal(err)
	}
	srv.Close() // the server goes away after answering once
	_, err := c.Fetch(context.Background(), SignInAttempts, Request{Cursor: "c"})
	if k, _ := KindOf(err); k != Network || !Retryable(err) {
		t.Fatalf("err = %v (kind %v), want a retryable network error", err, k)
	}
	if !strings.Contains(err.Error(), "cannot reach "+addr+" for signinattempts") || !strings.Contains(err.Error(), "gave up after 3 attempts") {
		t.Errorf("err = %v", err)
	}
	if n := len(sl.get()); n != 2 {
		t.Errorf("%d waits between attempts, want 2", n)
	}
}

func TestRequestTimeout(t *testing.T) {
	var calls atomic.Int32
	done := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		// Read the body so the server notices when the client hangs up.
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done(): // the client gave up
		case <-done:
		}
	})
	defer close(done)
	c, _ := testClient(t, srv, func(o *Options) {
		o.RequestTimeout = 20 * time.Millisecond
		o.Retry.MaxAttempts = 2
	})
	_, err := c.Fetch(context.Background(), ItemUsages, Request{})
	if k, _ := KindOf(err); k != Network {
		t.Fatalf("err = %v, want a network error", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "within 20ms") {
		t.Errorf("err = %v, want a timeout that says so", err)
	}
	if calls.Load() != 2 {
		t.Errorf("%d requests, want 2", calls.Load())
	}
}

func TestServerMessageRedactsToken(t *testing.T) {
	var token string
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		fmt.Fprintf(w, `{"status":400,"message":"bad token %s here"}`, strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "))
	})
	c, _ := testClient(t, srv, nil)
	token = string(c.token)
	_, err := c.Fetch(context.Background(), ItemUsages, Request{})
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "bad token [redacted] here") {
		t.Errorf("err = %v", err)
	}
}

func TestErrorKindString(t *testing.T) {
	for k := Unauthorized; k <= Unexpected; k++ {
		if s := k.String(); strings.HasPrefix(s, "ErrorKind(") {
			t.Errorf("kind %d has no name", k)
		}
	}
	if _, ok := KindOf(errors.New("plain")); ok {
		t.Error("KindOf found a kind in a plain error")
	}
	wrapped := fmt.Errorf("poll: %w", &Error{Kind: Server, Err: context.Canceled})
	if k, ok := KindOf(wrapped); !ok || k != Server || !Retryable(wrapped) || !errors.Is(wrapped, context.Canceled) {
		t.Errorf("KindOf(wrapped) = %v, %v", k, ok)
	}
}
