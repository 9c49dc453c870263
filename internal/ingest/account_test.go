package ingest_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
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

// TestNoEventStoredWithoutAnAccount: a token that does not name its account
// needs introspection; while that fails, the poll fails (and is retried)
// and stores nothing, since events are unique per account.
func TestNoEventStoredWithoutAnAccount(t *testing.T) {
	var mu sync.Mutex
	introspectOK := false
	pages := 0
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v2/auth/introspect", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ok := introspectOK
		mu.Unlock()
		if !ok {
			http.Error(w, `{"message":"down for maintenance"}`, http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, `{"uuid":"INT1","issued_at":"2026-11-01T00:00:00Z","features":["signinattempts"],"account_uuid":"ACCT-FROM-INTROSPECTION"}`)
	})
	mux.HandleFunc("/api/v2/signinattempts", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		pages++
		mu.Unlock()
		io.WriteString(w, `{"cursor":"c1","has_more":false,"items":[`+signIn("ACCOUNTTEST000000000000001")+`]}`)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir+"/a.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, err := secret.Load(func(string) string { return "" }, dir+"/a.key", true)
	if err != nil {
		t.Fatal(err)
	}
	src := store.Source{Name: "a", BaseURL: ts.URL, APIVersion: 2, Interval: time.Minute, Lookback: time.Hour}
	createSource(t, st, box, &src, unsignedTokenOf(strings.TrimPrefix(ts.URL, "http://"), "", "signinattempts"), []string{"OnePassword.SignInAttempt"})
	in := ingest.New(ingest.Config{Store: st, Secrets: box, Limiters: onepassword.NewLimiters(onepassword.Limits{}),
		Retry: onepassword.RetryPolicy{MaxAttempts: 1, Base: time.Millisecond, Cap: time.Millisecond}})

	_, err = in.Pull(ctx, []string{src.ID})
	if err == nil || !strings.Contains(err.Error(), "account") {
		t.Fatalf("pull without a known account: err = %v, want one saying the account is unknown", err)
	}
	s := onlyStream(t, st, src)
	if s.Events != 0 || pages != 0 {
		t.Errorf("%d events stored, %d pages fetched before the account was known", s.Events, pages)
	}
	if s.Status != store.StreamError || !strings.Contains(s.LastError, "account") {
		t.Errorf("status %q last error %q; want an error, retried (not stopped)", s.Status, s.LastError)
	}

	mu.Lock()
	introspectOK = true
	mu.Unlock()
	if _, err := in.Pull(ctx, []string{src.ID}); err != nil {
		t.Fatal(err)
	}
	got, err := st.SourceByID(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.AccountUUID != "ACCT-FROM-INTROSPECTION" {
		t.Errorf("source account %q, want the one introspection told", got.AccountUUID)
	}
	if accounts := column(t, st, "SELECT account FROM events"); len(accounts) != 1 || accounts[0] != "ACCT-FROM-INTROSPECTION" {
		t.Errorf("events stored under accounts %q, want the one introspection told", accounts)
	}
}

// accountWriteFails is a store whose SetSourceAccount fails, as a busy or
// briefly unreachable database would.
type accountWriteFails struct{ *sqlite.Store }

func (accountWriteFails) SetSourceAccount(context.Context, string, string) error {
	return errors.New("database is locked")
}

func TestStoreFailureWhileRecordingTheAccountIsRetried(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 47, Events: 100, Span: time.Hour})
	src := h.addSource("acme", h.token(""))
	in := ingest.New(ingest.Config{Store: accountWriteFails{h.st}, Secrets: h.box, Now: h.clock.Now})
	if _, err := in.Pull(h.ctx, []string{src.ID}); err == nil {
		t.Fatal("pull succeeded though the account could not be recorded")
	}
	for lt, s := range h.streams(src) {
		if s.Status != store.StreamError || s.Events != 0 {
			t.Errorf("%s: status %q, %d events; want a retried error and nothing stored", lt, s.Status, s.Events)
		}
	}
	h.mustPull(src) // the store works again
	h.assertExact(src, "")
}

func TestUnopenableTokenStopsTheSource(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 53, Events: 100, Span: time.Hour})
	src := store.Source{ID: "id-moved", Name: "moved", BaseURL: h.em.URL(), APIVersion: 2, Interval: time.Minute, Lookback: time.Hour}
	// The token was sealed for another source: it must not open here.
	sealed, err := h.box.Seal([]byte(h.token("")), store.Source{ID: "id-other", BaseURL: src.BaseURL, APIVersion: 2}.Binding())
	if err != nil {
		t.Fatal(err)
	}
	src.Token = sealed
	if err := h.st.CreateSource(h.ctx, &src, []string{"OnePassword.SignInAttempt"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.pull(src); err == nil {
		t.Fatal("pull with a token sealed for another source succeeded")
	}
	s := h.streams(src)["OnePassword.SignInAttempt"]
	if s.Status != store.StreamStopped || !strings.Contains(s.LastError, "stored token") || s.Events != 0 {
		t.Errorf("status %q last error %q events %d; want stopped, saying the stored token does not open", s.Status, s.LastError, s.Events)
	}
}
