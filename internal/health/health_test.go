package health_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/health"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// clock is the fake time of the emulator, the store, ingest and health.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
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
	st    *sqlite.Store
	box   *secret.Box
	mon   *health.Monitor
	em    *emulator.Emulator // nil until emulate
	in    *ingest.Ingester
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	clk := &clock{now: time.Now().UTC().Truncate(time.Second)}
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, dir+"/health.db", sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	// A destination for system errors, so that routing is exercised.
	d := store.Destination{ID: store.NewID(), Name: "soc", Type: store.DestWebhook, Enabled: true,
		AlertTypes: []string{store.AlertSystemError}}
	if err := st.CreateDestination(ctx, &d); err != nil {
		t.Fatal(err)
	}
	router := alert.NewRouter(alert.RouterConfig{Store: st, Now: clk.Now})
	tr := alert.NewTriage(alert.TriageConfig{Store: st})
	mon := health.New(health.Config{Store: st, Route: router.Route, Resolve: tr.Resolve, Now: clk.Now})
	return &harness{t: t, ctx: ctx, clock: clk, st: st, box: box, mon: mon}
}

// emulate starts a quiet emulator (preloaded events, no live traffic) and
// an ingester on the harness's clock.
func (h *harness) emulate() {
	h.t.Helper()
	em, err := emulator.Start(emulator.Options{Seed: 7, Events: 30, Span: 12 * time.Hour, Now: h.clock.Now,
		RateLimitPerMinute: -1, RateLimitPerHour: -1, LateFraction: -1}, "127.0.0.1:0", false)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { em.Close() })
	h.em = em
	h.in = ingest.New(ingest.Config{Store: h.st, Secrets: h.box, Now: h.clock.Now,
		Retry: onepassword.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Cap: time.Millisecond}})
}

func (h *harness) token(o emulator.TokenOptions) string {
	h.t.Helper()
	tok, err := h.em.IssueToken(o)
	if err != nil {
		h.t.Fatal(err)
	}
	return tok
}

// source stores a source (on the emulator when one runs) collecting every
// log type.
func (h *harness) source(name string, token string, mod func(*store.Source)) store.Source {
	h.t.Helper()
	src := store.Source{ID: "id-" + name, Name: name, APIVersion: 2, Interval: time.Minute, Lookback: 48 * time.Hour,
		NoEventsAlarm: 24 * time.Hour}
	if h.em != nil {
		src.BaseURL = h.em.URL()
	}
	if mod != nil {
		mod(&src)
	}
	if token == "" {
		token = "not-a-token"
	}
	var err error
	if src.Token, err = h.box.Seal([]byte(token), src.Binding()); err != nil {
		h.t.Fatal(err)
	}
	var lts []string
	for _, lt := range logtype.All() {
		lts = append(lts, lt.Name)
	}
	if err := h.st.CreateSource(h.ctx, &src, lts); err != nil {
		h.t.Fatal(err)
	}
	return src
}

func (h *harness) pull(src store.Source) {
	h.t.Helper()
	if _, err := h.in.Pull(h.ctx, []string{src.ID}); err != nil {
		h.t.Logf("pull: %v", err) // a stopped stream is an outcome here, not a failure
	}
}

func (h *harness) step() health.StepResult {
	h.t.Helper()
	res, err := h.mon.Step(h.ctx)
	if err != nil {
		h.t.Fatalf("health step: %v", err)
	}
	return res
}

// alerts returns the health system errors of a kind for a source, by
// status.
func (h *harness) alerts(kind, sourceID string) (open, resolved []store.Alert) {
	h.t.Helper()
	all, err := h.st.ListAlerts(h.ctx, store.AlertFilter{Type: store.AlertSystemError, Limit: 1000})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, a := range all {
		if !strings.HasPrefix(a.Dedup, "health/"+kind+"/"+sourceID) {
			continue
		}
		if a.Status == store.AlertResolved {
			resolved = append(resolved, a)
		} else {
			open = append(open, a)
		}
	}
	return open, resolved
}

func (h *harness) lastHistory(id string) store.AlertHistory {
	h.t.Helper()
	hist, err := h.st.AlertHistory(h.ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return hist[len(hist)-1]
}

// The emulator goes quiet: after the source's 24 h the alarm raises one
// CRITICAL system error; a late event stored resolves it.
func TestNoEventsAlarmRaisesAndResolves(t *testing.T) {
	h := newHarness(t)
	h.emulate()
	src := h.source("acme", h.token(emulator.TokenOptions{}), nil)
	h.pull(src)
	storedAt := h.clock.Now()
	if res := h.step(); res.Conditions != 0 {
		t.Fatalf("fresh events: %+v, want no condition", res)
	}

	h.clock.Advance(23 * time.Hour)
	h.pull(src)
	h.step()
	if open, _ := h.alerts(health.KindNoEvents, src.ID); len(open) != 0 {
		t.Fatalf("raised after 23 h of a 24 h alarm")
	}
	h.clock.Advance(time.Hour + time.Minute)
	h.pull(src)
	h.step()
	h.step() // raised once, however often it is checked
	open, _ := h.alerts(health.KindNoEvents, src.ID)
	if len(open) != 1 {
		t.Fatalf("%d open no-events alerts after 24 h quiet, want 1", len(open))
	}
	a := open[0]
	if a.Severity != "CRITICAL" || !strings.Contains(a.Title, "acme") || !strings.Contains(a.Title, "24h") || a.Runbook == "" {
		t.Errorf("alert %s %q (runbook %q): want CRITICAL, naming the source and the timeframe, with what to do", a.Severity, a.Title, a.Runbook)
	}
	var c map[string]any
	if err := json.Unmarshal(a.Context, &c); err != nil || c["last_event_stored_at"] != storedAt.UTC().Format(time.RFC3339) {
		t.Errorf("context %s: want the last event's storing time %s", a.Context, storedAt.UTC().Format(time.RFC3339))
	}
	if ns, _ := h.st.ListNotifications(h.ctx, store.NotificationFilter{AlertID: a.ID}); len(ns) != 1 {
		t.Errorf("%d notifications of the alarm, want 1 (the destination taking system errors)", len(ns))
	}

	// A client syncs late: an item usage of 3 hours ago is stored now.
	if _, err := h.em.InjectLate("", "itemusages", h.clock.Now().Add(-3*time.Hour)); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Minute)
	h.pull(src)
	h.step()
	open, resolved := h.alerts(health.KindNoEvents, src.ID)
	if len(open) != 0 || len(resolved) != 1 {
		t.Fatalf("after events flow again: %d open, %d resolved; want 0 and 1", len(open), len(resolved))
	}
	if e := h.lastHistory(resolved[0].ID); e.Actor != health.Actor || e.Action != store.ActionResolve {
		t.Errorf("last history entry %+v, want resolved by opwatch", e)
	}
}

// A new source's clock starts when it was added; off means off.
func TestNoEventsAlarmNewSource(t *testing.T) {
	h := newHarness(t)
	src := h.source("fresh", "", func(s *store.Source) { s.NoEventsAlarm = time.Hour })
	h.source("silent", "", func(s *store.Source) { s.NoEventsAlarm = 0 })
	h.clock.Advance(59 * time.Minute)
	if res := h.step(); res.Raised != 0 {
		t.Fatalf("raised %d within the hour after the source was added", res.Raised)
	}
	h.clock.Advance(2 * time.Minute)
	if res := h.step(); res.Raised != 1 {
		t.Fatalf("raised %d an hour after the source was added, want 1 (and none for the one with the alarm off)", res.Raised)
	}
	open, _ := h.alerts(health.KindNoEvents, src.ID)
	if len(open) != 1 || !strings.Contains(open[0].Title, "since it was added") {
		t.Fatalf("alerts %+v: want one saying no event was stored since the source was added", open)
	}
}

// A token without a feature stops that log type's stream; a revoked token
// stops the rest. Each is its own HIGH condition, shown with what to do,
// and both clear when a new token resumes the streams.
func TestStoppedStreams(t *testing.T) {
	h := newHarness(t)
	h.emulate()
	tok := h.token(emulator.TokenOptions{Features: []string{"signinattempts", "itemusages"}, Integration: "int-1"})
	src := h.source("acme", tok, nil)
	h.pull(src)
	h.step()
	if open, _ := h.alerts(health.KindFeature, src.ID); len(open) != 1 || open[0].Severity != "HIGH" ||
		!strings.Contains(open[0].Title, "OnePassword.AuditEvent") {
		t.Fatalf("missing feature: %+v; want one HIGH alert naming the log type", open)
	}
	if open, _ := h.alerts(health.KindStopped, src.ID); len(open) != 0 {
		t.Fatalf("a missing feature also raised %q", open[0].Title)
	}
	conds, err := health.Conditions(h.ctx, h.st, src.ID, h.clock.Now())
	if err != nil || len(conds) != 1 || conds[0].Kind != health.KindFeature || !strings.Contains(conds[0].Do, "opwatch source update acme --token-file") {
		t.Fatalf("Conditions = %+v, %v; want the missing feature with what to do", conds, err)
	}

	h.em.Revoke(tok)
	h.clock.Advance(2 * time.Minute)
	h.pull(src)
	h.step()
	open, _ := h.alerts(health.KindStopped, src.ID)
	if len(open) != 1 || open[0].Severity != "HIGH" || !strings.Contains(open[0].Runbook, "revoked") {
		t.Fatalf("revoked token: %+v; want one HIGH alert saying the token was refused", open)
	}

	// A new token with every feature resumes the stopped streams.
	fresh := h.token(emulator.TokenOptions{Integration: "int-1"})
	h.clock.Advance(time.Minute)
	cur, _ := h.st.SourceByID(h.ctx, src.ID)
	if cur.Token, err = h.box.Seal([]byte(fresh), cur.Binding()); err != nil {
		t.Fatal(err)
	}
	if err := h.st.UpdateSource(h.ctx, store.SourceChange{Source: cur, ResumeStopped: true}); err != nil {
		t.Fatal(err)
	}
	h.pull(src)
	h.step()
	for _, kind := range []string{health.KindStopped, health.KindFeature} {
		if open, resolved := h.alerts(kind, src.ID); len(open) != 0 || len(resolved) != 1 {
			t.Errorf("%s after a new token: %d open, %d resolved; want 0 and 1", kind, len(open), len(resolved))
		}
	}
}

// A stream failing at every poll for an hour raises one HIGH alert; a
// success clears it, and removing a source resolves what it had raised.
func TestFailingForAnHour(t *testing.T) {
	h := newHarness(t)
	src := h.source("flaky", "", func(s *store.Source) { s.NoEventsAlarm = 0 })
	streams, _ := h.st.Streams(h.ctx, src.ID)
	poll := func(id int64, errText string) {
		t.Helper()
		if _, err := h.st.ClaimStream(h.ctx, id, "test", time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := h.st.FinishPoll(h.ctx, store.PollOutcome{StreamID: id, LeaseOwner: "test", NextPollAt: h.clock.Now().Add(time.Minute), Err: errText}); err != nil {
			t.Fatal(err)
		}
	}
	for range 3 {
		poll(streams[0].ID, "503 from events.1password.com: the server failed; retried")
		h.step()
		h.clock.Advance(25 * time.Minute)
	}
	if open, _ := h.alerts(health.KindFailing, src.ID); len(open) != 0 {
		t.Fatal("raised before an hour of failures")
	}
	poll(streams[0].ID, "503 from events.1password.com: the server failed; retried")
	h.step()
	open, _ := h.alerts(health.KindFailing, src.ID)
	if len(open) != 1 || open[0].Severity != "HIGH" || !strings.Contains(open[0].Title, streams[0].LogType) {
		t.Fatalf("after 75 min failing: %+v; want one HIGH alert naming the log type", open)
	}
	poll(streams[0].ID, "")
	h.step()
	if open, resolved := h.alerts(health.KindFailing, src.ID); len(open) != 0 || len(resolved) != 1 {
		t.Fatalf("after a success: %d open, %d resolved", len(open), len(resolved))
	}

	// Failing again, then the source is removed.
	for range 2 {
		poll(streams[0].ID, "network error")
		h.clock.Advance(time.Hour)
	}
	h.step()
	open, _ = h.alerts(health.KindFailing, src.ID)
	if len(open) != 1 {
		t.Fatalf("%d open after failing again, want 1", len(open))
	}
	if err := h.st.DeleteSource(h.ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	h.step()
	if e := h.lastHistory(open[0].ID); e.Action != store.ActionResolve || !strings.Contains(e.Comment, "removed") {
		t.Fatalf("after the source was removed: %+v, want resolved saying so", e)
	}
}

// Quarantined events growing by more than the threshold between checks
// raise one MEDIUM alert, which clears after an hour without new ones.
func TestGrowingQuarantine(t *testing.T) {
	h := newHarness(t)
	src := h.source("acme", "", func(s *store.Source) { s.NoEventsAlarm = 0 })
	streams, _ := h.st.Streams(h.ctx, src.ID)
	quarantine := func(n int) {
		t.Helper()
		var q []store.Quarantined
		for range n {
			q = append(q, store.Quarantined{Raw: []byte(`{"uuid":1}`), Reason: "uuid: not a string", At: h.clock.Now()})
		}
		if _, err := h.st.InsertEvents(h.ctx, streams[0].ID, nil, q); err != nil {
			t.Fatal(err)
		}
	}
	quarantine(50) // before the first check: its baseline
	h.step()
	quarantine(10) // at the threshold: not raised
	h.clock.Advance(time.Minute)
	if res := h.step(); res.Raised != 0 {
		t.Fatalf("raised at the threshold")
	}
	quarantine(11)
	h.clock.Advance(time.Minute)
	h.step()
	open, _ := h.alerts(health.KindQuarantine, src.ID)
	if len(open) != 1 || open[0].Severity != "MEDIUM" {
		t.Fatalf("after 11 quarantined: %+v; want one MEDIUM alert", open)
	}
	h.clock.Advance(40 * time.Minute)
	quarantine(1) // still growing: it stays
	h.step()
	h.clock.Advance(40 * time.Minute)
	h.step()
	if open, _ := h.alerts(health.KindQuarantine, src.ID); len(open) != 1 {
		t.Fatal("cleared 40 minutes after the last quarantined event")
	}
	h.clock.Advance(21 * time.Minute)
	h.step()
	if open, resolved := h.alerts(health.KindQuarantine, src.ID); len(open) != 0 || len(resolved) != 1 {
		t.Fatalf("an hour quiet: %d open, %d resolved; want 0 and 1", len(open), len(resolved))
	}
}

// Token expiry: a warning 14, 7 and 1 days before exp (MEDIUM, HIGH,
// CRITICAL) and after it, each raised once on its day, each resolving the
// one before; a new token clears it.
func TestTokenExpiryWarnings(t *testing.T) {
	h := newHarness(t)
	t0 := h.clock.Now()
	exp := t0.Add(20 * 24 * time.Hour)
	src := h.source("acme", "", func(s *store.Source) { s.NoEventsAlarm, s.TokenExpiresAt = 0, exp })
	steps := []struct {
		at       time.Duration // after t0
		stage    string        // the one open; "" none
		severity string
		title    string
	}{
		{0, "", "", ""},
		{5*24*time.Hour + 23*time.Hour, "", "", ""}, // 14 days and an hour left
		{6*24*time.Hour + time.Hour, "14d", "MEDIUM", "expires in 13 days"},
		{12*24*time.Hour + 23*time.Hour, "14d", "MEDIUM", ""},
		{13*24*time.Hour + time.Hour, "7d", "HIGH", "expires in 6 days"},
		{19*24*time.Hour + time.Hour, "1d", "CRITICAL", "expires in 23 hours"},
		{20*24*time.Hour + time.Minute, "expired", "CRITICAL", "expired on"},
	}
	raised := 0
	for _, s := range steps {
		h.clock.Set(t0.Add(s.at))
		raised += h.step().Raised
		h.step()
		open, _ := h.alerts(health.KindTokenExpiry, src.ID)
		if s.stage == "" {
			if len(open) != 0 {
				t.Fatalf("at +%s: %q open, want none", s.at, open[0].Title)
			}
			continue
		}
		if len(open) != 1 || open[0].Dedup != health.Key(health.KindTokenExpiry, src.ID, s.stage) ||
			open[0].Severity != s.severity || !strings.Contains(open[0].Title, s.title) {
			t.Fatalf("at +%s: %+v; want only the %s warning (%s, %q)", s.at, open, s.stage, s.severity, s.title)
		}
	}
	if raised != 4 {
		t.Errorf("raised %d warnings, want 4 (14d, 7d, 1d, expired)", raised)
	}
	cur, _ := h.st.SourceByID(h.ctx, src.ID)
	cur.TokenExpiresAt = h.clock.Now().Add(365 * 24 * time.Hour)
	if err := h.st.UpdateSource(h.ctx, store.SourceChange{Source: cur}); err != nil {
		t.Fatal(err)
	}
	h.step()
	if open, resolved := h.alerts(health.KindTokenExpiry, src.ID); len(open) != 0 || len(resolved) != 4 {
		t.Fatalf("after a new token: %d open, %d resolved; want 0 and 4", len(open), len(resolved))
	}
}
