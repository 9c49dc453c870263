package ingest_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// handlerTransport serves requests in process, so that tests run inside a
// testing/synctest bubble (where time is fake and advances only when every
// goroutine waits) with no socket in the way.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Host, r.RemoteAddr, r.RequestURI = r.URL.Host, "127.0.0.1:40000", r.URL.RequestURI()
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// bubble is an emulator, store and ingester living in a synctest bubble;
// all of them read the bubble's clock.
type bubble struct {
	t   *testing.T
	ctx context.Context
	em  *emulator.Emulator
	st  *sqlite.Store
	box *secret.Box
	cfg ingest.Config
}

// emulatorHost is where bubble tokens say the server is: a loopback
// address that is never dialled.
const emulatorHost = "127.0.0.1:9"

func newBubble(t *testing.T, opts emulator.Options) *bubble {
	opts.RateLimitPerMinute, opts.RateLimitPerHour = -1, -1
	em, err := emulator.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	em.SetHost(emulatorHost)
	dir := t.TempDir()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, dir+"/b.db", sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.Load(func(string) string { return "" }, dir+"/b.key", true)
	if err != nil {
		t.Fatal(err)
	}
	return &bubble{t: t, ctx: ctx, em: em, st: st, box: box, cfg: ingest.Config{
		Store: st, Secrets: box, HTTPClient: &http.Client{Transport: handlerTransport{em.Handler()}},
		Retry: onepassword.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Cap: time.Millisecond},
	}}
}

func (b *bubble) addSource(name string, tok emulator.TokenOptions) store.Source {
	b.t.Helper()
	token, err := b.em.IssueToken(tok)
	if err != nil {
		b.t.Fatal(err)
	}
	src := store.Source{Name: name, BaseURL: "http://" + emulatorHost, APIVersion: 2, Interval: time.Minute, Lookback: 48 * time.Hour}
	var lts []string
	for _, lt := range logtype.All() {
		lts = append(lts, lt.Name)
	}
	createSource(b.t, b.st, b.box, &src, token, lts)
	return src
}

func (b *bubble) streams(src store.Source) []store.Stream {
	b.t.Helper()
	ss, err := b.st.Streams(b.ctx, src.ID)
	if err != nil {
		b.t.Fatal(err)
	}
	return ss
}

// assertStoredOnce checks that the store holds each of the account's
// events once, whichever source stored it.
func (b *bubble) assertStoredOnce(account string) {
	b.t.Helper()
	for _, lt := range logtype.All() {
		var want []string
		b.em.Each(account, lt.Feature, 2, func(uuid string, _ []byte) bool { want = append(want, uuid); return true })
		sort.Strings(want)
		got := column(b.t, b.st, "SELECT uuid FROM events WHERE log_type = '"+lt.Name+"' ORDER BY uuid")
		if len(want) == 0 {
			b.t.Fatalf("%s: the emulator served nothing; the test would prove nothing", lt.Name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			b.t.Fatalf("%s: stored events differ from the account's (-emulator +store), %d vs %d:\n%s", lt.Name, len(want), len(got), truncate(diff))
		}
	}
}

func TestRunPollsOnSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// No live traffic: the store must match the emulator at any moment.
		b := newBubble(t, emulator.Options{Seed: 5, Events: 300, Span: time.Hour})
		src := b.addSource("acme", emulator.TokenOptions{})
		b.cfg.ClaimEvery = time.Second
		in := ingest.New(b.cfg)
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() { done <- in.Run(ctx) }()
		stopped := false
		defer func() { // a failed check must not leave Run behind in the bubble
			if !stopped {
				cancel()
				<-done
			}
		}()

		// New streams are due at once: the first claim polls them all.
		synctest.Wait()
		first := map[string]time.Time{}
		for _, s := range b.streams(src) {
			if s.LastSuccessAt.IsZero() || s.Status != store.StreamOK {
				t.Fatalf("%s: not polled at start (status %q, error %q)", s.LogType, s.Status, s.LastError)
			}
			if d := s.NextPollAt.Sub(time.Now()); d <= 0 || d > time.Minute {
				t.Errorf("%s: next poll in %v, want within the 1m interval", s.LogType, d)
			}
			first[s.LogType] = s.LastPollAt
		}
		// Nothing is polled again before its slot...
		time.Sleep(time.Second)
		synctest.Wait()
		for _, s := range b.streams(src) {
			if !s.LastPollAt.Equal(first[s.LogType]) && s.LastPollAt.Sub(first[s.LogType]) < time.Minute-time.Second {
				t.Errorf("%s: polled again after %v, before its slot", s.LogType, s.LastPollAt.Sub(first[s.LogType]))
			}
		}
		// ...and every stream is polled once an interval.
		time.Sleep(time.Minute)
		synctest.Wait()
		for _, s := range b.streams(src) {
			if !s.LastPollAt.After(first[s.LogType]) {
				t.Errorf("%s: not polled again within an interval", s.LogType)
			}
		}
		b.assertStoredOnce("")

		cancel()
		stopped = true
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		for _, s := range b.streams(src) {
			if s.LeaseOwner != "" && s.LeaseUntil.After(time.Now()) {
				t.Errorf("%s: lease still held after shutdown", s.LogType)
			}
		}
	})
}

func TestSourcesOfOneAccountShareEventsAndLimits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, emulator.Options{Seed: 37, Events: 300, Span: 6 * time.Hour})
		// One token names its account; the other does not, and ingest
		// learns it by introspection.
		named := b.addSource("named", emulator.TokenOptions{Account: "acct-1", Integration: "int-1"})
		unnamed := b.addSource("unnamed", emulator.TokenOptions{Account: "acct-1", Integration: "int-1", NoAccountClaim: true})
		// One request a minute per account: two sources sharing the
		// account's budget take as long as their requests together.
		b.cfg.Limiters = onepassword.NewLimiters(onepassword.Limits{PerMinute: 1})
		in := ingest.New(b.cfg)
		start := time.Now()
		results, err := in.Pull(b.ctx, []string{named.ID, unnamed.ID})
		if err != nil {
			t.Fatal(err)
		}
		elapsed := time.Since(start)
		pages := 0
		for _, r := range results {
			pages += r.Pages
		}
		if want := time.Duration(pages-1) * time.Minute; elapsed < want {
			t.Errorf("%d pages took %v; sharing one account's limit of a request a minute they take at least %v", pages, elapsed, want)
		}
		for _, src := range []store.Source{named, unnamed} {
			got, err := b.st.SourceByID(b.ctx, src.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.AccountUUID != "acct-1" {
				t.Errorf("%s: account %q, want acct-1", src.Name, got.AccountUUID)
			}
		}
		b.assertStoredOnce("acct-1")
		accounts := column(t, b.st, "SELECT DISTINCT account FROM events")
		if len(accounts) != 1 || accounts[0] != "acct-1" {
			t.Errorf("events stored under accounts %q, want only acct-1", accounts)
		}
	})
}

// Streams due beyond the free slots are claimed as slots free, not one
// batch per ClaimEvery: with one slot and a claim tick of an hour, every
// stream of many sources is still polled at once.
func TestRunClaimsAsSlotsFree(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBubble(t, emulator.Options{Seed: 6, Events: 5, Span: time.Hour})
		var srcs []store.Source
		for i := range 4 {
			srcs = append(srcs, b.addSource(string(rune('a'+i)), emulator.TokenOptions{Account: "acct-" + string(rune('a'+i))}))
		}
		b.cfg.ClaimEvery = time.Hour
		b.cfg.Concurrency = 1
		in := ingest.New(b.cfg)
		ctx, cancel := context.WithCancel(b.ctx)
		done := make(chan error, 1)
		go func() { done <- in.Run(ctx) }()
		synctest.Wait()
		for _, src := range srcs {
			for _, s := range b.streams(src) {
				if s.LastSuccessAt.IsZero() {
					t.Errorf("%s %s: not polled though a slot was free (status %q, error %q)", src.Name, s.LogType, s.Status, s.LastError)
				}
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}
