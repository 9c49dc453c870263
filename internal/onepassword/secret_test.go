package onepassword

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a log sink safe for the client's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestTokenNeverShown drives every error path with logging at debug level
// and checks that neither the token nor its signature appears anywhere.
func TestTokenNeverShown(t *testing.T) {
	var step int
	var mu sync.Mutex
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		echo := r.Header.Get("Authorization")
		switch r.URL.Path {
		case "/api/v2/auth/introspect":
			w.WriteHeader(404)
			return
		case "/api/auth/introspect":
			w.WriteHeader(401)
			fmt.Fprintf(w, "denied %s", echo)
			return
		}
		mu.Lock()
		step++
		n := step
		mu.Unlock()
		switch {
		case n%5 == 0:
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(429)
			fmt.Fprintf(w, `{"message":"slow down %s"}`, echo)
		case n%5 == 1:
			w.WriteHeader(500)
			fmt.Fprintf(w, `{"Error":{"Message":"%s"}}`, echo)
		case n%5 == 2:
			fmt.Fprintf(w, `{"cursor":"%s","items":[`, echo) // truncated
		case n%5 == 3:
			w.WriteHeader(400)
			fmt.Fprint(w, echo)
		default:
			w.WriteHeader(401)
		}
	})
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var outputs []string
	host := srv.Listener.Addr().String()
	token := allFeaturesToken(t, host)
	opts := Options{Token: token, BaseURL: srv.URL, Logger: logger, RequestTimeout: time.Second,
		Retry: RetryPolicy{MaxAttempts: 4, Sleep: func(ctx context.Context, d time.Duration) error { return nil }}}
	c, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		for _, f := range AllFeatures() {
			_, err := c.Fetch(context.Background(), f, Request{Cursor: "c"})
			outputs = append(outputs, fmt.Sprint(err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
		}
	}
	_, err = c.Introspect(context.Background())
	outputs = append(outputs, fmt.Sprint(err))
	err = c.Drain(context.Background(), ItemUsages, Request{}, func(Page) error { return nil })
	outputs = append(outputs, fmt.Sprint(err))

	// Configuration errors and printed values.
	for _, o := range []Options{
		{Token: token, Region: "eu"},
		{Token: makeToken(t, map[string]any{"aud": "com.1password.streamingservice"})},
		{Token: token, BaseURL: "ftp://x"},
		{Token: token + "x.y"},
	} {
		_, err := New(o)
		outputs = append(outputs, fmt.Sprint(err))
	}
	outputs = append(outputs,
		fmt.Sprint(opts), fmt.Sprintf("%+v", opts), fmt.Sprintf("%#v", opts), fmt.Sprintf("%s %q %x", opts, opts, opts),
		fmt.Sprint(c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", *c), fmt.Sprintf("%v", c.token))
	logger.Info("options", "opts", opts, "token", c.token)

	sig := strings.Split(token, ".")[2]
	all := strings.Join(outputs, "\n") + "\n" + logs.String()
	if strings.Contains(all, token) || strings.Contains(all, sig) {
		t.Errorf("the token leaked:\n%s", all)
	}
	// And the test exercised what it claims: errors were produced and logged.
	for _, want := range []string{"429 from", "500 from", "400 from", "401 from", "invalid response", "retrying Events API request", "[redacted]"} {
		if !strings.Contains(all, want) {
			t.Errorf("output lacks %q; the test did not cover that path", want)
		}
	}
}
