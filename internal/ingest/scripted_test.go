package ingest_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
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

// scripted is a tiny Events API that answers each POST with the next scripted
// body, for inputs the emulator never produces: malformed events and pages.
type scripted struct {
	mu     sync.Mutex
	bodies map[string][]string // path -> bodies, in order; the last one repeats
	seen   map[string][]string // path -> request bodies
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, _ := io.ReadAll(r.Body)
	s.seen[r.URL.Path] = append(s.seen[r.URL.Path], string(b))
	q := s.bodies[r.URL.Path]
	if len(q) == 0 {
		http.NotFound(w, r)
		return
	}
	body := q[0]
	if len(q) > 1 {
		s.bodies[r.URL.Path] = q[1:]
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, body)
}

// unsignedToken is a JWT with the claims clients read; clients never verify
// it. Its account is "ACCOUNT1".
func unsignedToken(aud string, features ...string) string {
	return unsignedTokenOf(aud, "ACCOUNT1", features...)
}

// unsignedTokenOf is unsignedToken of an account ("" leaves the claim out).
func unsignedTokenOf(aud, account string, features ...string) string {
	enc := base64.RawURLEncoding.EncodeToString
	c := map[string]any{"aud": []string{aud}, "1password.com/fts": features, "iat": time.Now().Unix()}
	if account != "" {
		c["1password.com/auuid"] = account
	}
	claims, _ := json.Marshal(c)
	return enc([]byte(`{"alg":"ES256","typ":"JWT"}`)) + "." + enc(claims) + "." + enc([]byte("signature"))
}

func TestMalformedEventsAreQuarantined(t *testing.T) {
	good := `{"uuid":"AAAAAAAAAAAAAAAAAAAAAAAAA1","timestamp":"2026-11-20T10:00:00.123456789Z","category":"success","type":"credentials_ok","country":"CA","details":null,"target_user":{"uuid":"U1","name":"Ann","email":"ann@example.com"},"client":{"app_name":"1Password for Mac","ip_address":"192.0.2.1"}}`
	noUUID := `{"timestamp":"2026-11-20T10:00:01Z","category":"success"}`
	badTime := `{"uuid":"AAAAAAAAAAAAAAAAAAAAAAAAA2","timestamp":"yesterday"}`
	notObject := `"just a string"`
	good2 := strings.Replace(good, "AAA1", "AAA3", 1)
	srv := &scripted{seen: map[string][]string{}, bodies: map[string][]string{
		"/api/v2/signinattempts": {
			`{"cursor":"c1","has_more":true,"items":[` + good + `,` + noUUID + `,` + badTime + `,` + notObject + `]}`,
			`not json at all`,
			`{"cursor":"c2","has_more":false,"items":[` + good2 + `]}`,
		},
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()

	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir+"/q.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, err := secret.Load(func(string) string { return "" }, dir+"/q.key", true)
	if err != nil {
		t.Fatal(err)
	}
	tok := unsignedToken(strings.TrimPrefix(ts.URL, "http://"), "signinattempts")
	src := store.Source{Name: "q", BaseURL: ts.URL, APIVersion: 2, Interval: time.Minute, Lookback: time.Hour}
	createSource(t, st, box, &src, tok, []string{"OnePassword.SignInAttempt"})
	in := ingest.New(ingest.Config{Store: st, Secrets: box,
		Retry: onepassword.RetryPolicy{MaxAttempts: 1, Base: time.Millisecond, Cap: time.Millisecond}})

	// First pull: page 1 commits (1 event, 3 quarantined); page 2 is not
	// JSON, so the poll fails with the cursor left at c1.
	if _, err := in.Pull(ctx, []string{src.ID}); err == nil {
		t.Fatal("a page that is not JSON did not fail the poll")
	}
	streams, _ := st.Streams(ctx, src.ID)
	s := streams[0]
	if s.Cursor != "c1" || s.Events != 1 || s.Quarantined != 3 || s.Status != store.StreamError {
		t.Fatalf("after bad page: cursor %q events %d quarantined %d status %q", s.Cursor, s.Events, s.Quarantined, s.Status)
	}
	q, err := st.ListQuarantine(ctx, src.ID, 10)
	if err != nil {
		t.Fatal(err)
	}
	reasons := map[string]string{}
	for _, x := range q {
		reasons[string(x.Raw)] = x.Reason
		if x.LogType != "OnePassword.SignInAttempt" || x.SourceID != src.ID {
			t.Errorf("quarantined row %+v lacks its source or log type", x)
		}
	}
	for raw, want := range map[string]string{noUUID: "uuid", badTime: "timestamp", notObject: "object"} {
		if !strings.Contains(reasons[raw], want) {
			t.Errorf("quarantine reason for %s = %q, want it to mention %q", raw, reasons[raw], want)
		}
	}
	// Second pull resumes from c1 and gets the rest.
	if _, err := in.Pull(ctx, []string{src.ID}); err != nil {
		t.Fatal(err)
	}
	if got := srv.seen["/api/v2/signinattempts"]; !strings.Contains(got[len(got)-1], `"c1"`) {
		t.Errorf("retry after the bad page sent %s, want the stored cursor c1", got[len(got)-1])
	}
	streams, _ = st.Streams(ctx, src.ID)
	if s := streams[0]; s.Cursor != "c2" || s.Events != 2 || s.Status != store.StreamOK {
		t.Fatalf("after recovery: cursor %q events %d status %q", s.Cursor, s.Events, s.Status)
	}
	// The stored event is the raw object, byte for byte, with p_ fields.
	var raw, emails, ips, evTime string
	err = st.Query(ctx, "SELECT raw, p_any_emails, p_any_ip_addresses, p_event_time FROM events WHERE uuid = 'AAAAAAAAAAAAAAAAAAAAAAAAA1'",
		func(_ []string, v []any) error {
			if v == nil {
				return nil
			}
			raw, emails, ips, evTime = v[0].(string), v[1].(string), v[2].(string), v[3].(string)
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if raw != good || emails != `["ann@example.com"]` || ips != `["192.0.2.1"]` || evTime != "2026-11-20 10:00:00.123456789" {
		t.Errorf("stored row: raw %s\nemails %s ips %s time %s", raw, emails, ips, evTime)
	}
}

func TestReconciliationFindsWhatTheCursorMissed(t *testing.T) {
	ev := func(id string) string {
		return `{"uuid":"` + id + `","timestamp":"2026-11-20T10:00:00Z","used_version":1,"vault_uuid":"v","item_uuid":"i","action":"fill"}`
	}
	srv := &scripted{seen: map[string][]string{}, bodies: map[string][]string{
		"/api/v2/itemusages": {
			`{"cursor":"c1","has_more":false,"items":[` + ev("A") + `]}`,                 // first poll
			`{"cursor":"c1","has_more":false,"items":[]}`,                                // second poll, by cursor
			`{"cursor":"r1","has_more":false,"items":[` + ev("A") + `,` + ev("B") + `]}`, // reconciliation
		},
	}}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now()
	st, err := sqlite.Open(ctx, dir+"/r.db", sqlite.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	box, _ := secret.Load(func(string) string { return "" }, dir+"/r.key", true)
	src := store.Source{Name: "r", BaseURL: ts.URL, APIVersion: 2, Interval: time.Minute, Lookback: time.Hour}
	createSource(t, st, box, &src, unsignedToken(strings.TrimPrefix(ts.URL, "http://"), "itemusages"), []string{"OnePassword.ItemUsage"})
	in := ingest.New(ingest.Config{Store: st, Secrets: box, Now: func() time.Time { return now }, Owner: "me",
		ReconcileEvery: 24 * time.Hour, ReconcileWindow: 48 * time.Hour})
	poll := func() store.Stream {
		t.Helper()
		ss, _ := st.Streams(ctx, src.ID)
		claimed, err := st.ClaimStream(ctx, ss[0].ID, "me", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if r := in.Poll(ctx, claimed, true); r.Err != nil {
			t.Fatal(r.Err)
		}
		ss, _ = st.Streams(ctx, src.ID)
		return ss[0]
	}
	s := poll()
	if s.LastReconcileAt.IsZero() || s.Events != 1 {
		t.Fatalf("first poll: events %d, reconcile clock %v", s.Events, s.LastReconcileAt)
	}
	now = now.Add(25 * time.Hour)
	s = poll()
	if s.Events != 2 || s.Cursor != "c1" {
		t.Fatalf("after reconciliation: events %d cursor %q; want B found and the cursor untouched", s.Events, s.Cursor)
	}
	if !s.LastReconcileAt.Equal(now.UTC()) && !s.LastReconcileAt.Equal(now) {
		t.Errorf("reconcile time %v, want %v", s.LastReconcileAt, now)
	}
	reqs := srv.seen["/api/v2/itemusages"]
	if len(reqs) != 3 || !strings.Contains(reqs[2], "start_time") || !strings.Contains(reqs[2], "end_time") {
		t.Errorf("requests %q; want the third to be a reset over a window", reqs)
	}
}
