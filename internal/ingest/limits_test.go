package ingest_test

import (
	"context"
	"errors"
	"fmt"
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

// signIn is a valid sign-in attempt with the given uuid.
func signIn(uuid string) string {
	return `{"uuid":"` + uuid + `","timestamp":"2026-11-20T10:00:00Z","category":"success","type":"credentials_ok","country":"CA","details":null,` +
		`"target_user":{"uuid":"U1","name":"Ann","email":"ann@example.com"},"client":{"app_name":"1Password for Mac","ip_address":"192.0.2.1"}}`
}

// hostile answers every page of sign-in attempts with has_more, items and
// a fresh cursor, forever.
type hostile struct {
	mu       sync.Mutex
	requests []string // request bodies
	onPage   func()   // called before each answer
	page     func(n int) string
}

func (h *hostile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/api/v2/signinattempts" {
		http.NotFound(w, r)
		return
	}
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.requests = append(h.requests, string(b))
	n := len(h.requests)
	h.mu.Unlock()
	if h.onPage != nil {
		h.onPage()
	}
	w.Header().Set("Content-Type", "application/json")
	if h.page != nil {
		io.WriteString(w, h.page(n))
		return
	}
	fmt.Fprintf(w, `{"cursor":"c%d","has_more":true,"items":[%s]}`, n, signIn(fmt.Sprintf("HOSTILE%019d", n)))
}

func (h *hostile) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.requests)
}

// scriptedSource stores one source of sign-in attempts served by handler
// and returns an ingester for it; cfg adjusts the ingester's config.
func scriptedSource(t *testing.T, handler http.Handler, cfg func(*ingest.Config)) (*sqlite.Store, store.Source, *ingest.Ingester) {
	t.Helper()
	ts := httptest.NewServer(handler)
	t.Cleanup(ts.Close)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir+"/h.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.Load(func(string) string { return "" }, dir+"/h.key", true)
	if err != nil {
		t.Fatal(err)
	}
	src := store.Source{Name: "h", BaseURL: ts.URL, APIVersion: 2, Interval: time.Minute, Lookback: time.Hour}
	createSource(t, st, box, &src, unsignedToken(strings.TrimPrefix(ts.URL, "http://"), "signinattempts"), []string{"OnePassword.SignInAttempt"})
	c := ingest.Config{Store: st, Secrets: box,
		Retry: onepassword.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Cap: time.Millisecond}}
	if cfg != nil {
		cfg(&c)
	}
	return st, src, ingest.New(c)
}

func onlyStream(t *testing.T, st *sqlite.Store, src store.Source) store.Stream {
	t.Helper()
	ss, err := st.Streams(context.Background(), src.ID)
	if err != nil || len(ss) != 1 {
		t.Fatalf("streams: %v, %d", err, len(ss))
	}
	return ss[0]
}

func TestHostileServerPollStopsAtPageLimit(t *testing.T) {
	srv := &hostile{}
	st, src, in := scriptedSource(t, srv, func(c *ingest.Config) { c.MaxPollPages = 50 })
	ctx := context.Background()
	_, err := in.Pull(ctx, []string{src.ID})
	if !errors.Is(err, ingest.ErrPollLimit) {
		t.Fatalf("pull against an endless server: err = %v, want the poll limit", err)
	}
	s := onlyStream(t, st, src)
	// What was read stays; the cursor is the last committed page's.
	if s.Events != 50 || s.Cursor != "c50" {
		t.Errorf("events %d cursor %q; want the 50 pages read committed, cursor c50", s.Events, s.Cursor)
	}
	if s.Status != store.StreamError || !strings.Contains(s.LastError, "50 pages") || !strings.Contains(s.LastError, "next poll") {
		t.Errorf("status %q last error %q; want the limit said on the stream", s.Status, s.LastError)
	}
	if s.NextPollAt.After(time.Now().Add(time.Minute)) {
		t.Errorf("next poll %v; want it soon, the rest of a backlog is waiting", s.NextPollAt)
	}
	if n := srv.count(); n > 51 {
		t.Errorf("%d requests for a 50-page limit", n)
	}
	// The next poll continues from the stored cursor.
	before := srv.count()
	in.Pull(ctx, []string{src.ID})
	srv.mu.Lock()
	next := srv.requests[before]
	srv.mu.Unlock()
	if !strings.Contains(next, `"c50"`) {
		t.Errorf("next poll sent %s, want cursor c50", next)
	}
	if s := onlyStream(t, st, src); s.Events != 99 && s.Events != 100 {
		t.Errorf("after the second poll: %d events, want 99 or 100", s.Events)
	}
}

func TestSlowServerPollStopsAtTimeLimit(t *testing.T) {
	// Every page takes a minute of the ingester's clock.
	var mu sync.Mutex
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := &hostile{onPage: func() { mu.Lock(); now = now.Add(time.Minute); mu.Unlock() }}
	st, src, in := scriptedSource(t, srv, func(c *ingest.Config) { c.Now = clock; c.MaxPollTime = 10 * time.Minute })
	_, err := in.Pull(context.Background(), []string{src.ID})
	if !errors.Is(err, ingest.ErrPollLimit) {
		t.Fatalf("err = %v, want the poll limit", err)
	}
	s := onlyStream(t, st, src)
	if !strings.Contains(s.LastError, "10m") || !strings.Contains(s.LastError, "next poll") {
		t.Errorf("last error %q; want the time limit said", s.LastError)
	}
	if s.Events < 9 || s.Events > 11 {
		t.Errorf("%d events stored; want the ~10 pages read in 10 minutes", s.Events)
	}
}

func TestOversizePagesEndThePoll(t *testing.T) {
	many := func(n int) string {
		items := make([]string, n)
		for i := range items {
			items[i] = signIn(fmt.Sprintf("BIG%023d", i))
		}
		return strings.Join(items, ",")
	}
	cases := []struct {
		name string
		page string
		want string
	}{
		{"more items than asked", `{"cursor":"c1","has_more":false,"items":[` + many(5) + `]}`, "items"},
		{"huge cursor", `{"cursor":"` + strings.Repeat("x", 5<<20) + `","has_more":false,"items":[]}`, "cursor"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv := &hostile{page: func(int) string { return c.page }}
			st, src, in := scriptedSource(t, srv, func(cfg *ingest.Config) { cfg.PageLimit = 2 })
			_, err := in.Pull(context.Background(), []string{src.ID})
			if err == nil {
				t.Fatal("an oversize page was accepted")
			}
			s := onlyStream(t, st, src)
			if s.Events != 0 || s.Quarantined != 0 || s.Cursor != "" {
				t.Errorf("stored %d events, %d quarantined, cursor of %d bytes from a page that should be refused", s.Events, s.Quarantined, len(s.Cursor))
			}
			if s.Status != store.StreamError || !strings.Contains(s.LastError, c.want) || len(s.LastError) > 2000 {
				t.Errorf("status %q last error %.300q; want an error naming the %s", s.Status, s.LastError, c.want)
			}
			// Not retried in a tight loop: the next poll waits.
			if !s.NextPollAt.After(time.Now()) {
				t.Errorf("next poll %v is not in the future", s.NextPollAt)
			}
			if n := srv.count(); n > 2 {
				t.Errorf("%d requests in one poll; an oversize page is not worth asking again at once", n)
			}
		})
	}
}

// TestCursorRejectedMidPollIsDropped: a cursor the server gave and then
// refuses within one poll is the stored cursor by then; it is dropped like
// a stored one, so the next poll does not send it again.
func TestCursorRejectedMidPollIsDropped(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		n := len(bodies)
		mu.Unlock()
		if strings.Contains(string(b), `"c1"`) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"Error":{"Message":"Invalid cursor"}}`)
			return
		}
		fmt.Fprintf(w, `{"cursor":"c1","has_more":true,"items":[%s]}`, signIn(fmt.Sprintf("MIDPOLL%019d", n)))
	})
	st, src, in := scriptedSource(t, srv, nil)
	if _, err := in.Pull(context.Background(), []string{src.ID}); err == nil {
		t.Fatal("pull succeeded though the server refused its cursor")
	}
	s := onlyStream(t, st, src)
	if s.Cursor != "" || s.Events != 1 || !strings.Contains(s.LastError, "dropped") || strings.Contains(s.LastError, "reset") {
		t.Errorf("cursor %q events %d last error %q; want the first page kept, the cursor dropped and said so", s.Cursor, s.Events, s.LastError)
	}
	in.Pull(context.Background(), []string{src.ID})
	mu.Lock()
	defer mu.Unlock()
	if last := bodies[len(bodies)-2]; strings.Contains(last, `"c1"`) {
		t.Errorf("the next poll started with the refused cursor: %s", last)
	}
}
