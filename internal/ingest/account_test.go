package ingest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

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
	var account string
	err = st.Query(ctx, "SELECT account FROM events", func(_ []string, v []any) error { account = v[0].(string); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if account != "ACCT-FROM-INTROSPECTION" {
		t.Errorf("event stored under account %q", account)
	}
}
