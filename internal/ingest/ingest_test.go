package ingest_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
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

// clock is a settable time shared by the emulator and the ingester, so live
// traffic can be advanced without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

type harness struct {
	t     *testing.T
	ctx   context.Context
	clock *clock
	em    *emulator.Emulator
	st    *sqlite.Store
	box   *secret.Box
	in    *ingest.Ingester
}

func newHarness(t *testing.T, opts emulator.Options) *harness {
	t.Helper()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	opts.Now = clk.Now
	if opts.RateLimitPerMinute == 0 {
		opts.RateLimitPerMinute, opts.RateLimitPerHour = -1, -1
	}
	em, err := emulator.Start(opts, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	ctx := context.Background()
	dir := t.TempDir()
	// The store fences leases with its own clock: the shared one, so that
	// advancing it moves the schedule as the ingester sees it.
	st, err := sqlite.Open(ctx, dir+"/test.db", sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.Load(func(string) string { return "" }, dir+"/test.key", true)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ctx: ctx, clock: clk, em: em, st: st, box: box}
	h.in = h.ingester()
	return h
}

func (h *harness) ingester() *ingest.Ingester {
	return ingest.New(ingest.Config{
		Store: h.st, Secrets: h.box, Now: h.clock.Now,
		Retry: onepassword.RetryPolicy{MaxAttempts: 12, Base: time.Millisecond, Cap: 5 * time.Millisecond},
	})
}

func (h *harness) token(account string) string {
	h.t.Helper()
	tok, err := h.em.IssueToken(emulator.TokenOptions{Account: account})
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

func (h *harness) addSource(name, token string) store.Source {
	h.t.Helper()
	src := store.Source{ID: "id-" + name, Name: name, BaseURL: h.em.URL(), APIVersion: 2, Interval: time.Minute, Lookback: 48 * time.Hour}
	var lts []string
	for _, lt := range logtype.All() {
		lts = append(lts, lt.Name)
	}
	createSource(h.t, h.st, h.box, &src, token, lts)
	return src
}

// createSource seals token to src, as the source service does, and stores
// src with streams of logTypes.
func createSource(t *testing.T, st store.Sources, box *secret.Box, src *store.Source, token string, logTypes []string) {
	t.Helper()
	if src.ID == "" {
		src.ID = "id-" + src.Name
	}
	sealed, err := box.Seal([]byte(token), src.Binding())
	if err != nil {
		t.Fatal(err)
	}
	src.Token = sealed
	if err := st.CreateSource(context.Background(), src, logTypes); err != nil {
		t.Fatal(err)
	}
}

func (h *harness) pull(sources ...store.Source) ([]ingest.Result, error) {
	var ids []string
	for _, s := range sources {
		ids = append(ids, s.ID)
	}
	return h.in.Pull(h.ctx, ids)
}

func (h *harness) mustPull(sources ...store.Source) {
	h.t.Helper()
	if _, err := h.pull(sources...); err != nil {
		h.t.Fatalf("pull: %v", err)
	}
}

// stored returns the uuids stored for a source and log type, sorted.
func (h *harness) stored(src store.Source, logType string) []string {
	h.t.Helper()
	q := fmt.Sprintf("SELECT uuid FROM events WHERE source_id = '%s' AND log_type = '%s' ORDER BY uuid", src.ID, logType)
	return column(h.t, h.st, q)
}

// column returns the first column of a query's rows, as text.
func column(t *testing.T, st store.Lake, q string) []string {
	t.Helper()
	var out []string
	err := st.Query(context.Background(), q, func(_ []string, vals []any) error {
		if vals != nil { // nil: a result without rows, told once for its columns
			out = append(out, fmt.Sprint(vals[0]))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// served returns the emulator's uuids of an account's stream up to its head.
func (h *harness) served(account string, f onepassword.Feature) []string {
	var uuids []string
	h.em.Each(account, string(f), 2, func(uuid string, _ []byte) bool {
		uuids = append(uuids, uuid)
		return true
	})
	sort.Strings(uuids)
	return uuids
}

// assertExact checks that the store holds exactly the emulator's events of
// the account, once each, for every log type.
func (h *harness) assertExact(src store.Source, account string) {
	h.t.Helper()
	for _, lt := range logtype.All() {
		want := h.served(account, onepassword.Feature(lt.Feature))
		got := h.stored(src, lt.Name)
		if len(want) == 0 {
			h.t.Fatalf("%s: emulator served no events; the test would prove nothing", lt.Name)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			h.t.Fatalf("%s of %s: store differs from emulator (-emulator +store), %d vs %d events:\n%s",
				lt.Name, src.Name, len(want), len(got), truncate(diff))
		}
	}
}

func truncate(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "\n…"
	}
	return s
}

func (h *harness) streams(src store.Source) map[string]store.Stream {
	h.t.Helper()
	ss, err := h.st.Streams(h.ctx, src.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	m := map[string]store.Stream{}
	for _, s := range ss {
		m[s.LogType] = s
	}
	return m
}

func size(short, long int) int {
	if testing.Short() {
		return short
	}
	return long
}

func TestPullStoresEveryEventOnce(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 7, Events: size(2000, 20000), Span: 24 * time.Hour})
	src := h.addSource("acme", h.token(""))
	h.mustPull(src)
	h.assertExact(src, "")
	// A second pull finds nothing new and stores nothing twice.
	res, err := h.pull(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Inserted != 0 {
			t.Errorf("%s: second pull inserted %d events", r.Stream.LogType, r.Inserted)
		}
	}
	h.assertExact(src, "")
	for lt, s := range h.streams(src) {
		if s.Status != store.StreamOK || s.Cursor == "" || s.LastSuccessAt.IsZero() {
			t.Errorf("%s: status %q, cursor %q, last success %v", lt, s.Status, s.Cursor, s.LastSuccessAt)
		}
		if !s.NextPollAt.After(h.clock.Now()) {
			t.Errorf("%s: next poll %v not scheduled after now", lt, s.NextPollAt)
		}
	}
}

func TestLiveTrafficAndLateEvents(t *testing.T) {
	// A fifth of item usages arrive up to 6 hours late: they must come in by
	// cursor, never be missed.
	h := newHarness(t, emulator.Options{Seed: 3, Events: 500, Span: 12 * time.Hour, Rate: 120,
		LateFraction: 0.2, MaxLateness: 6 * time.Hour})
	src := h.addSource("acme", h.token(""))
	for range 5 {
		h.mustPull(src)
		h.assertExact(src, "")
		h.clock.Advance(3 * time.Minute)
	}
	late := 0
	err := h.st.Query(h.ctx, `SELECT count(*) FROM events e WHERE log_type = 'OnePassword.ItemUsage'
		AND p_event_time < (SELECT min(p_event_time) FROM events WHERE log_type = e.log_type AND seq > e.seq)`,
		func(_ []string, v []any) error {
			if v != nil {
				late = int(v[0].(int64))
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if late == 0 {
		t.Fatal("no item usage arrived out of timestamp order; the late-event path was not exercised")
	}
}

func TestFaultsLoseNothing(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 11, Events: size(3000, 15000), Span: 24 * time.Hour,
		Faults: emulator.Faults{Error500: 0.1, Error503: 0.05, Drop: 0.05, Truncate: 0.05}})
	src := h.addSource("acme", h.token(""))
	// Faults may exhaust a poll's retries: polling again must resume from the
	// committed cursor, exactly as the scheduler would.
	var err error
	for range 20 {
		if _, err = h.pull(src); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("still failing after 20 pulls: %v", err)
	}
	h.em.SetFaults(emulator.Faults{})
	h.mustPull(src)
	h.assertExact(src, "")
}

func TestRejectedCursorRecovers(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 13, Events: 1000, Span: 6 * time.Hour, Rate: 60})
	src := h.addSource("acme", h.token(""))
	h.mustPull(src)
	h.clock.Advance(5 * time.Minute)
	h.em.InvalidateCursors()
	_, err := h.pull(src)
	if err == nil || !strings.Contains(err.Error(), "cursor") {
		t.Fatalf("pull with rejected cursors: err = %v, want a cursor error", err)
	}
	for lt, s := range h.streams(src) {
		if s.Status != store.StreamError || s.Cursor != "" || !strings.Contains(s.LastError, "cursor") {
			t.Errorf("%s: status %q cursor %q last error %q; want error state, cursor dropped", lt, s.Status, s.Cursor, s.LastError)
		}
		// The recovery is automatic: the stream must not ask for a reset.
		if strings.Contains(s.LastError, "reset") || !strings.Contains(s.LastError, "dropped") || namesCommand(s.LastError) {
			t.Errorf("%s: last error %q; want it to say the cursor was dropped, asking nothing", lt, s.LastError)
		}
	}
	h.mustPull(src) // resumes from the last event minus the overlap
	h.assertExact(src, "")
	for lt, s := range h.streams(src) {
		if s.Status != store.StreamOK || s.Cursor == "" {
			t.Errorf("%s: not recovered: status %q", lt, s.Status)
		}
	}
}

func TestRevokedTokenStopsOnlyItsSource(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 17, Events: 800, Span: 6 * time.Hour, Rate: 60})
	tokA, tokB := h.token("alpha"), h.token("beta")
	a, b := h.addSource("alpha", tokA), h.addSource("beta", tokB)
	h.mustPull(a, b)
	h.clock.Advance(5 * time.Minute)
	h.em.Revoke(tokA)
	_, err := h.pull(a, b)
	if err == nil {
		t.Fatal("pull with a revoked token succeeded")
	}
	if strings.Contains(err.Error(), tokA) {
		t.Fatal("the error shows the token")
	}
	for lt, s := range h.streams(a) {
		if s.Status != store.StreamStopped || !strings.Contains(s.LastError, "401") {
			t.Errorf("alpha %s: status %q, last error %q; want stopped with the 401", lt, s.Status, s.LastError)
		}
		if strings.Contains(s.LastError, tokA) {
			t.Errorf("alpha %s: last error shows the token", lt)
		}
		if namesCommand(s.LastError) {
			t.Errorf("alpha %s: last error %q names a command", lt, s.LastError)
		}
	}
	h.assertExact(b, "beta")
	// The scheduler leaves stopped streams alone.
	h.clock.Advance(time.Hour)
	claimed, err := h.st.ClaimStreams(h.ctx, "x", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range claimed {
		if s.SourceID == a.ID {
			t.Errorf("stopped stream %s was claimed", s.LogType)
		}
	}
	// A new token fixes it.
	fresh := h.token("alpha")
	sealed, _ := h.box.Seal([]byte(fresh), a.Binding())
	a.Token = sealed
	if err := h.st.UpdateSource(h.ctx, store.SourceChange{Source: a, ResumeStopped: true}); err != nil {
		t.Fatal(err)
	}
	h.mustPull(a)
	h.assertExact(a, "alpha")
}

func TestMissingFeatureStopsThatStream(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 19, Events: 300, Span: 6 * time.Hour})
	tok, err := h.em.IssueToken(emulator.TokenOptions{Features: []string{"signinattempts", "itemusages"}})
	if err != nil {
		t.Fatal(err)
	}
	src := h.addSource("acme", tok)
	_, err = h.pull(src)
	if err == nil || !strings.Contains(err.Error(), "auditevents") {
		t.Fatalf("err = %v, want one naming the auditevents feature", err)
	}
	// The pull's error names the source and log type once, then the cause.
	if n := strings.Count(err.Error(), "acme"); n != 1 {
		t.Errorf("err %q names the source %d times", err, n)
	}
	ss := h.streams(src)
	if s := ss["OnePassword.AuditEvent"]; s.Status != store.StreamStopped {
		t.Errorf("audit stream status %q, want stopped", s.Status)
	}
	// What the stream says is what is wrong, not a command to run: the CLI
	// and the console word the advice.
	if e := ss["OnePassword.AuditEvent"].LastError; !strings.Contains(e, "lacks the auditevents feature") || namesCommand(e) {
		t.Errorf("audit stream error %q; want the missing feature said, without commands", e)
	}
	for _, lt := range []string{"OnePassword.SignInAttempt", "OnePassword.ItemUsage"} {
		if ss[lt].Status != store.StreamOK || ss[lt].Events == 0 {
			t.Errorf("%s: status %q, %d events", lt, ss[lt].Status, ss[lt].Events)
		}
	}
}

func TestBackfillAbsorbsDuplicates(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 23, Events: 3000, Span: 72 * time.Hour})
	src := h.addSource("acme", h.token(""))
	// The first poll only reaches the 48h lookback; backfill brings the rest.
	h.mustPull(src)
	before := h.streams(src)
	var mu sync.Mutex
	var last map[string]ingest.Progress = map[string]ingest.Progress{}
	_, err := h.in.Backfill(h.ctx, src, h.clock.Now().Add(-96*time.Hour), h.clock.Now(), func(p ingest.Progress) {
		mu.Lock()
		last[p.LogType] = p
		mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	h.assertExact(src, "")
	after := h.streams(src)
	for lt, s := range after {
		if s.Cursor != before[lt].Cursor {
			t.Errorf("%s: backfill moved the live cursor", lt)
		}
		p := last[lt]
		if !p.Done || p.Inserted == 0 || p.Events <= p.Inserted {
			t.Errorf("%s: progress %+v; want done, some new events, and some already stored", lt, p)
		}
	}
}

// namesCommand reports whether a stored error tells the user to run a CLI
// verb: lower layers say what is wrong, the CLI or console says what to do.
func namesCommand(msg string) bool {
	return strings.Contains(msg, "opwatch ") || strings.Contains(msg, "`")
}

func TestPullSkipsStreamsNotCollected(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 41, Events: 300, Span: 6 * time.Hour})
	src := h.addSource("acme", h.token(""))
	err := h.st.UpdateSource(h.ctx, store.SourceChange{Source: src, LogTypes: []string{"OnePassword.SignInAttempt", "OnePassword.ItemUsage"}})
	if err != nil {
		t.Fatal(err)
	}
	results, err := h.pull(src)
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	skipped := 0
	for _, r := range results {
		if r.Stream.LogType == "OnePassword.AuditEvent" {
			if !r.NotCollected || r.Pages != 0 {
				t.Errorf("audit events: %+v; want not collected, not polled", r)
			}
			skipped++
		} else if r.NotCollected || r.Pages == 0 {
			t.Errorf("%s: %+v; want polled", r.Stream.LogType, r)
		}
	}
	if skipped != 1 {
		t.Fatalf("%d results for the audit stream", skipped)
	}
	// Backfill leaves it out too.
	bres, err := h.in.Backfill(h.ctx, src, h.clock.Now().Add(-96*time.Hour), h.clock.Now(), nil)
	if err != nil {
		t.Fatalf("backfill: %v", err)
	}
	for _, r := range bres {
		if r.Stream.LogType == "OnePassword.AuditEvent" {
			t.Errorf("backfill read the audit events, which are not collected")
		}
	}
	ss := h.streams(src)
	if s := ss["OnePassword.AuditEvent"]; !s.LastPollAt.IsZero() || s.Events != 0 || len(h.stored(src, "OnePassword.AuditEvent")) != 0 {
		t.Errorf("audit stream was polled: %+v", s)
	}
}
