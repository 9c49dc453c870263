package ingest_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// syncBuffer is a log sink safe for the pollers' goroutines.
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

// TestInsecureSourceWarnsOnEveryPoll: plain http to a host that is not this
// machine, allowed by the user, is said in the log on every poll, naming
// the source and why.
func TestInsecureSourceWarnsOnEveryPoll(t *testing.T) {
	em, err := emulator.New(emulator.Options{Seed: 43, Events: 100, Span: time.Hour, RateLimitPerMinute: -1, RateLimitPerHour: -1})
	if err != nil {
		t.Fatal(err)
	}
	const host = "events.example.net:80"
	em.SetHost(host)
	tok, err := em.IssueToken(emulator.TokenOptions{Features: []string{"signinattempts"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir+"/i.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, err := secret.Load(func(string) string { return "" }, dir+"/i.key", true)
	if err != nil {
		t.Fatal(err)
	}
	src := store.Source{Name: "plain", BaseURL: "http://" + host, AllowInsecure: true, APIVersion: 2, Interval: time.Minute, Lookback: time.Hour}
	createSource(t, st, box, &src, tok, []string{"OnePassword.SignInAttempt"})
	var ist store.Ingest = st
	if got, err := st.SourceByID(ctx, src.ID); err != nil {
		t.Fatal(err)
	} else if !got.AllowInsecure {
		ist = keepsInsecure{st} // an engine that does not keep the setting yet
	}
	var logs syncBuffer
	in := ingest.New(ingest.Config{Store: ist, Secrets: box, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		HTTPClient: &http.Client{Transport: handlerTransport{em.Handler()}},
		Retry:      onepassword.RetryPolicy{MaxAttempts: 1}})
	for range 2 {
		if _, err := in.Pull(ctx, []string{src.ID}); err != nil {
			t.Fatal(err)
		}
	}
	var warnings []string
	for _, line := range strings.Split(logs.String(), "\n") {
		// One per poll, of the poll (the client may say it once more).
		if strings.Contains(line, "level=WARN") && strings.Contains(line, "not secure") && strings.Contains(line, "stream=") {
			warnings = append(warnings, line)
		}
	}
	if len(warnings) != 2 {
		t.Fatalf("%d insecure warnings in two polls, want 2; log:\n%s", len(warnings), logs.String())
	}
	for _, w := range warnings {
		if !strings.Contains(w, "source=plain") || !strings.Contains(w, "plain http") {
			t.Errorf("warning %q does not name the source and why", w)
		}
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("the log shows the token")
	}
}

// keepsInsecure returns sources with AllowInsecure set, as they were stored.
type keepsInsecure struct{ *sqlite.Store }

func (k keepsInsecure) SourceByID(ctx context.Context, id string) (store.Source, error) {
	src, err := k.Store.SourceByID(ctx, id)
	src.AllowInsecure = true
	return src, err
}
