package alert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// dlClock is the fake time shared by the store (leases, due times), the
// deliverer and the sender.
type dlClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *dlClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *dlClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// dlHarness is a real SQLite store on a fake clock, with destinations
// sealed as the CLI seals them.
type dlHarness struct {
	t      *testing.T
	ctx    context.Context
	clock  *dlClock
	st     *sqlite.Store
	box    *secret.Box
	router *alert.Router
}

func newDL(t *testing.T) *dlHarness {
	t.Helper()
	clk := &dlClock{now: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, t.TempDir()+"/alerts.db", sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.New(make([]byte, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	return &dlHarness{t: t, ctx: ctx, clock: clk, st: st, box: box,
		router: alert.NewRouter(alert.RouterConfig{Store: st, Now: clk.Now, Refresh: -1})}
}

func (h *dlHarness) deliverer(owner string, mod func(*alert.DeliverConfig)) *alert.Deliverer {
	cfg := alert.DeliverConfig{
		Store: h.st, Secrets: h.box, Sender: &alert.HTTPSender{Now: h.clock.Now}, Now: h.clock.Now,
		Rand: func() float64 { return 0.5 }, Owner: owner, PublicURL: "https://opwatch.example.com/",
	}
	if mod != nil {
		mod(&cfg)
	}
	return alert.NewDeliverer(cfg)
}

// dest stores a destination of type typ with its secret sealed.
func (h *dlHarness) dest(name, typ string, sec alert.Secret, set alert.Settings, mod func(*store.Destination)) store.Destination {
	h.t.Helper()
	settings, _ := json.Marshal(set)
	d := store.Destination{ID: store.NewID(), Name: name, Type: typ, Settings: settings, Enabled: true}
	if mod != nil {
		mod(&d)
	}
	plain, _ := json.Marshal(sec)
	sealed, err := h.box.Seal(plain, d.Binding())
	if err != nil {
		h.t.Fatal(err)
	}
	d.Secret = sealed
	if err := h.st.CreateDestination(h.ctx, &d); err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (h *dlHarness) webhook(name string, r *dlReceiver, mod func(*store.Destination)) store.Destination {
	return h.dest(name, store.DestWebhook, alert.Secret{URL: r.srv.URL + "/hook/" + name, SigningSecret: "0123456789abcdef0123"}, alert.Settings{}, mod)
}

// raise stores a system error routed as the health stage routes one
// (dests, when given, override routing as a rule's destinations() does).
func (h *dlHarness) raise(dedup string, dests ...string) store.Alert {
	h.t.Helper()
	a := store.Alert{ID: store.NewID(), Type: store.AlertSystemError, Dedup: dedup, Title: "Test " + dedup,
		Severity: "HIGH", Status: store.AlertOpen}
	if dests != nil {
		a.Destinations = dests
	}
	ns, err := h.router.Route(h.ctx, a)
	if err != nil {
		h.t.Fatal(err)
	}
	if err := h.st.CreateSystemAlert(h.ctx, a, ns); err != nil {
		h.t.Fatal(err)
	}
	return a
}

func (h *dlHarness) notifications(f store.NotificationFilter) []store.Notification {
	h.t.Helper()
	f.Limit = 10000
	ns, err := h.st.ListNotifications(h.ctx, f)
	if err != nil {
		h.t.Fatal(err)
	}
	return ns
}

// drain steps d, advancing the clock by every after each step, until done
// reports true; it fails the test after max steps.
func (h *dlHarness) drain(d *alert.Deliverer, every time.Duration, max int, done func() bool) {
	h.t.Helper()
	for range max {
		if _, err := d.Step(h.ctx); err != nil {
			h.t.Fatalf("step: %v", err)
		}
		if done() {
			return
		}
		h.clock.Advance(every)
	}
	h.t.Fatalf("not done after %d steps of %s", max, every)
}

func (h *dlHarness) allSent(f store.NotificationFilter) func() bool {
	return func() bool {
		for _, n := range h.notifications(f) {
			if n.Status != store.NotificationSent {
				return false
			}
		}
		return true
	}
}

// dlReceiver is a webhook receiver that fails its first FailFirst requests
// (or every request while Down) with Status, and records what it accepted
// by Idempotency-Key, as a receiver that dedupes on it would.
type dlReceiver struct {
	srv *httptest.Server

	mu         sync.Mutex
	FailFirst  int
	Down       bool
	Status     int    // of a failure; default 503
	RetryAfter string // on a failure
	requests   int
	byKey      map[string]int // accepted requests
	tries      map[string]int // every request
	order      []string       // accepted bodies' event kinds, in order
	accepted   chan string
	hold       chan struct{} // when set, each request waits for it to close
}

func newReceiver(t *testing.T) *dlReceiver {
	r := &dlReceiver{byKey: map[string]int{}, tries: map[string]int{}, accepted: make(chan string, 1000)}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *dlReceiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-req.Context().Done():
			return
		}
	}
	key := req.Header.Get("Idempotency-Key")
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	r.tries[key]++
	if r.Down || r.requests <= r.FailFirst {
		if r.RetryAfter != "" {
			w.Header().Set("Retry-After", r.RetryAfter)
		}
		st := r.Status
		if st == 0 {
			st = http.StatusServiceUnavailable
		}
		http.Error(w, "receiver unavailable at "+req.URL.Path, st)
		return
	}
	r.byKey[key]++
	var ev struct {
		Kind        string `json:"kind"`
		EventAction string `json:"event_action"`
		DedupKey    string `json:"dedup_key"`
	}
	_ = json.Unmarshal(body, &ev)
	r.order = append(r.order, ev.Kind+ev.EventAction+"/"+ev.DedupKey)
	r.accepted <- key
	w.WriteHeader(http.StatusAccepted)
}

func (r *dlReceiver) counts() (byKey, tries map[string]int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, t := map[string]int{}, map[string]int{}
	for k, v := range r.byKey {
		b[k] = v
	}
	for k, v := range r.tries {
		t[k] = v
	}
	return b, t
}

func (r *dlReceiver) set(f func(r *dlReceiver)) {
	r.mu.Lock()
	f(r)
	r.mu.Unlock()
}

// Every notification arrives exactly once, through a receiver that fails
// its first requests.
func TestDeliverExactlyOnceThroughFailures(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	rcv.FailFirst = 7
	h.webhook("soc", rcv, nil)
	for i := range 5 {
		h.raise(fmt.Sprintf("test/%d", i))
	}
	d := h.deliverer("one", nil)
	h.drain(d, time.Minute, 60, h.allSent(store.NotificationFilter{}))
	ns := h.notifications(store.NotificationFilter{})
	byKey, _ := rcv.counts()
	if len(ns) != 5 || len(byKey) != 5 {
		t.Fatalf("%d notifications, receiver accepted %d keys; want 5 and 5: %v", len(ns), len(byKey), byKey)
	}
	for _, n := range ns {
		if byKey[n.ID] != 1 {
			t.Errorf("notification %s accepted %d times, want once", n.ID, byKey[n.ID])
		}
	}
}

// A receiver down for hours loses nothing: the loop backs off (a few
// dozen attempts, not one a minute), raises one system error, delivers
// everything once it is back, and resolves the system error itself.
func TestDeliverAfterOutageOfHours(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	rcv.Down = true
	soc := h.webhook("soc", rcv, nil)
	for i := range 3 {
		h.raise(fmt.Sprintf("outage/%d", i))
	}
	d := h.deliverer("one", nil)
	for range 5 * 60 {
		if _, err := d.Step(h.ctx); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(time.Minute)
	}
	ns := h.notifications(store.NotificationFilter{DestinationID: soc.ID})
	for _, n := range ns {
		if n.Status != store.NotificationPending {
			t.Fatalf("after 5 h down: notification %s is %s, want pending", n.ID, n.Status)
		}
		// 30s, 30s, 1m, 2m, … 30m: about 17 attempts in 5 hours.
		if n.Attempts > 25 {
			t.Errorf("notification %s: %d attempts in 5 hours: no backoff", n.ID, n.Attempts)
		}
		if !strings.Contains(n.LastError, "503") {
			t.Errorf("last error %q does not say what the receiver answered", n.LastError)
		}
	}
	sys, err := h.st.ListAlerts(h.ctx, store.AlertFilter{Dedup: alert.DeliveryDedup(soc.ID)})
	if err != nil || len(sys) != 1 || sys[0].Status != store.AlertOpen {
		t.Fatalf("system errors about the destination: %+v, %v; want one open", sys, err)
	}
	rcv.set(func(r *dlReceiver) { r.Down = false })
	h.drain(d, time.Minute, 60, h.allSent(store.NotificationFilter{DestinationID: soc.ID}))
	byKey, _ := rcv.counts()
	for _, n := range ns {
		if byKey[n.ID] != 1 {
			t.Errorf("notification %s accepted %d times, want once", n.ID, byKey[n.ID])
		}
	}
	sys, _ = h.st.ListAlerts(h.ctx, store.AlertFilter{Dedup: alert.DeliveryDedup(soc.ID)})
	if len(sys) != 1 || sys[0].Status != store.AlertResolved {
		t.Fatalf("after recovery: %+v; want the one system error resolved", sys)
	}
	hist, err := h.st.AlertHistory(h.ctx, sys[0].ID)
	if err != nil || hist[len(hist)-1].Actor != "opwatch" || hist[len(hist)-1].Action != store.ActionResolve {
		t.Fatalf("history %+v, %v: want resolved by opwatch", hist, err)
	}
}

// A deliverer killed between sending and recording: after its lease only
// the notification in flight is sent again, with the same Idempotency-Key.
func TestDeliverCrashBetweenSendAndMark(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	soc := h.webhook("soc", rcv, nil)
	h.raise("crash/1")
	h.raise("crash/2")
	d := h.deliverer("survivor", nil)
	if res, err := d.Step(h.ctx); err != nil || res.Sent != 2 {
		t.Fatalf("first step: %+v, %v", res, err)
	}
	third := h.raise("crash/3")

	// The doomed deliverer claims the third, sends it, and dies.
	const lease = 2 * time.Minute
	claimed, err := h.st.ClaimNotifications(h.ctx, "doomed", lease, 10)
	if err != nil || len(claimed) != 1 || claimed[0].AlertID != third.ID {
		t.Fatalf("claim: %+v, %v", claimed, err)
	}
	plain, err := h.box.Open(soc.Secret, soc.Binding())
	if err != nil {
		t.Fatal(err)
	}
	sec, err := alert.ParseSecret(plain)
	if err != nil {
		t.Fatal(err)
	}
	set, _ := alert.ParseSettings(soc.Settings)
	sender := &alert.HTTPSender{Now: h.clock.Now}
	if res := sender.Send(h.ctx, alert.Target{Destination: soc, Settings: set, Secret: sec},
		alert.Message{Kind: store.NotifyTrigger, IdempotencyKey: claimed[0].ID, Alert: third}); res.Err != nil {
		t.Fatal(res.Err)
	}

	if res, _ := d.Step(h.ctx); res.Claimed != 0 {
		t.Fatalf("claimed %d under a live lease", res.Claimed)
	}
	h.clock.Advance(lease + time.Second)
	if res, err := d.Step(h.ctx); err != nil || res.Sent != 1 {
		t.Fatalf("after the lease: %+v, %v; want the one in flight sent", res, err)
	}
	_, tries := rcv.counts()
	for _, n := range h.notifications(store.NotificationFilter{}) {
		want := 1
		if n.ID == claimed[0].ID {
			want = 2
		}
		if tries[n.ID] != want || n.Status != store.NotificationSent {
			t.Errorf("notification of %s: sent %d times (%s), want %d", n.AlertID, tries[n.ID], n.Status, want)
		}
	}
	if len(tries) != 3 {
		t.Errorf("receiver saw %d keys, want 3 (it dedupes the re-sent one)", len(tries))
	}
}

// A receiver's Retry-After is honoured over the shorter backoff.
func TestDeliverHonoursRetryAfter(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	rcv.FailFirst, rcv.Status, rcv.RetryAfter = 1, http.StatusTooManyRequests, "600"
	h.webhook("soc", rcv, nil)
	h.raise("ratelimit")
	d := h.deliverer("one", nil)
	if res, _ := d.Step(h.ctx); res.Retried != 1 {
		t.Fatalf("first step %+v, want one retry", res)
	}
	n := h.notifications(store.NotificationFilter{})[0]
	if wait := n.NextAttemptAt.Sub(n.LastAttemptAt); wait < 10*time.Minute {
		t.Fatalf("next attempt in %s, want at least the 10m the receiver asked for", wait)
	}
	h.clock.Advance(9 * time.Minute)
	if res, _ := d.Step(h.ctx); res.Claimed != 0 {
		t.Fatalf("attempted %d before Retry-After", res.Claimed)
	}
	h.clock.Advance(time.Minute + time.Second)
	if res, _ := d.Step(h.ctx); res.Sent != 1 {
		t.Fatalf("after Retry-After: %+v, want sent", res)
	}
}

// A destination that never answers well: its notification fails 24 h after
// its creation, and one system error (not one per attempt) goes to the
// other destinations that take system errors, never to the failing one.
func TestDeliverGivesUpAfter24h(t *testing.T) {
	h := newDL(t)
	bad, good := newReceiver(t), newReceiver(t)
	bad.Down = true
	down := h.webhook("down", bad, nil)
	ops := h.webhook("ops", good, func(d *store.Destination) { d.AlertTypes = []string{store.AlertSystemError} })
	a := h.raise("giveup")
	d := h.deliverer("one", nil)
	for range 26 * 6 {
		if _, err := d.Step(h.ctx); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(10 * time.Minute)
	}
	n := h.notifications(store.NotificationFilter{AlertID: a.ID, DestinationID: down.ID})[0]
	if n.Status != store.NotificationFailed || !strings.Contains(n.LastError, "gave up after 24h") {
		t.Fatalf("notification %s: %q; want failed, saying it gave up", n.Status, n.LastError)
	}
	if age := n.LastAttemptAt.Sub(n.CreatedAt); age < 24*time.Hour || age > 24*time.Hour+10*time.Minute {
		t.Errorf("last attempt %s after creation, want at the 24 h limit", age)
	}
	sys, err := h.st.ListAlerts(h.ctx, store.AlertFilter{Type: store.AlertSystemError, Dedup: alert.DeliveryDedup(down.ID)})
	if err != nil || len(sys) != 1 {
		t.Fatalf("system errors about the destination: %d (%v), want exactly one", len(sys), err)
	}
	if !strings.Contains(sys[0].Title, "down") || sys[0].Runbook == "" {
		t.Errorf("system error %q (runbook %q): want it to name the destination and say what to do", sys[0].Title, sys[0].Runbook)
	}
	for _, sn := range h.notifications(store.NotificationFilter{AlertID: sys[0].ID}) {
		if sn.DestinationID != ops.ID {
			t.Errorf("the system error about %s was sent to %s", down.Name, sn.DestinationID)
		}
	}
	byKey, _ := good.counts()
	if len(byKey) != 2 {
		t.Errorf("ops received %d notifications, want 2 (the alert, and the one system error)", len(byKey))
	}
}

// Two deliverers (replicas) on one store send each notification once.
func TestDeliverTwoReplicasSendOnce(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	h.webhook("soc", rcv, nil)
	for i := range 40 {
		h.raise(fmt.Sprintf("replicas/%d", i))
	}
	ds := []*alert.Deliverer{
		h.deliverer("a", func(c *alert.DeliverConfig) { c.Concurrency = 3 }),
		h.deliverer("b", func(c *alert.DeliverConfig) { c.Concurrency = 3 }),
	}
	done := h.allSent(store.NotificationFilter{})
	for i := 0; !done(); i++ {
		if i > 100 {
			t.Fatal("not all sent")
		}
		var wg sync.WaitGroup
		for _, d := range ds {
			wg.Go(func() {
				if _, err := d.Step(h.ctx); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
	_, tries := rcv.counts()
	if len(tries) != 40 {
		t.Fatalf("receiver saw %d keys, want 40", len(tries))
	}
	for k, n := range tries {
		if n != 1 {
			t.Errorf("notification %s sent %d times", k, n)
		}
	}
}

// A receiver that hangs holds at most its share of the loop: the other
// destinations' notifications go out meanwhile.
func TestDeliverSlowReceiverDoesNotStallOthers(t *testing.T) {
	h := newDL(t)
	slow, fast := newReceiver(t), newReceiver(t)
	release := make(chan struct{})
	slow.hold = release
	defer close(release) // before the servers close: their handlers return
	h.webhook("slow", slow, nil)
	h.webhook("fast", fast, nil)
	for i := range 6 {
		h.raise(fmt.Sprintf("slow/%d", i), "slow") // older: claimed first
	}
	for i := range 6 {
		h.raise(fmt.Sprintf("fast/%d", i), "fast")
	}
	d := h.deliverer("one", func(c *alert.DeliverConfig) {
		c.Concurrency, c.PerDestination, c.ClaimEvery = 4, 1, 5*time.Millisecond
	})
	ctx, cancel := context.WithCancel(h.ctx)
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	// A guard, not a timing assertion: a stalled loop never gets there.
	guard := time.NewTimer(30 * time.Second)
	defer guard.Stop()
	// The store's clock moves, so that notifications handed back for a
	// moment (their destination busy) come due again; by seconds at a
	// time, well within their 2-minute lease and the 30-second backoff.
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for got := 0; got < 6; {
		select {
		case <-fast.accepted:
			got++
		case <-tick.C:
			h.clock.Advance(100 * time.Millisecond)
		case <-guard.C:
			t.Fatalf("the fast destination got %d of 6 while the slow one hung", got)
		}
	}
	cancel() // the hung sends end with their context
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

// A disabled destination's notifications fail, saying why.
func TestDeliverDisabledDestination(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	soc := h.webhook("soc", rcv, nil)
	h.raise("disabled")
	soc.Enabled = false
	if err := h.st.UpdateDestination(h.ctx, soc); err != nil {
		t.Fatal(err)
	}
	d := h.deliverer("one", nil)
	if res, _ := d.Step(h.ctx); res.Failed != 1 {
		t.Fatalf("%+v: want one failed", res)
	}
	n := h.notifications(store.NotificationFilter{})[0]
	if n.Status != store.NotificationFailed || !strings.Contains(n.LastError, "disabled") {
		t.Fatalf("%s %q: want failed because the destination is disabled", n.Status, n.LastError)
	}
	if _, tries := rcv.counts(); len(tries) != 0 {
		t.Fatalf("a disabled destination was sent %d requests", len(tries))
	}
}

// A receiver that echoes its URL (whose path is the key) in a refusal: the
// key never reaches the stored error or the system error about it.
func TestDeliverKeepsSecretsOutOfErrors(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	rcv.Down, rcv.Status = true, http.StatusNotFound
	const key = "T0SECRETKEYb7f3c9"
	soc := h.dest("soc", store.DestWebhook, alert.Secret{URL: rcv.srv.URL + "/hooks/" + key}, alert.Settings{}, nil)
	// And one whose host refuses connections: the transport error quotes the URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	h.dest("gone", store.DestWebhook, alert.Secret{URL: "http://" + addr + "/hooks/" + key}, alert.Settings{}, nil)
	a := h.raise("secret")
	d := h.deliverer("one", func(c *alert.DeliverConfig) { c.FailingAfter = time.Nanosecond })
	if _, err := d.Step(h.ctx); err != nil {
		t.Fatal(err)
	}
	ns := h.notifications(store.NotificationFilter{AlertID: a.ID})
	for _, n := range ns {
		if n.LastError == "" || strings.Contains(n.LastError, key) {
			t.Errorf("stored error %q (%s, %d attempts): want it said, without the key", n.LastError, n.Status, n.Attempts)
		}
	}
	sys, _ := h.st.ListAlerts(h.ctx, store.AlertFilter{Dedup: alert.DeliveryDedup(soc.ID)})
	if len(sys) != 1 {
		t.Fatalf("%d system errors about the refusing destination, want 1", len(sys))
	}
	b, _ := json.Marshal(sys[0])
	if strings.Contains(string(b), key) {
		t.Errorf("the system error quotes the key: %s", b)
	}
}

// Resolving an alert tells PagerDuty (which was sent the trigger) and not
// the webhook; the resolve goes only after the trigger is delivered.
func TestResolveNotifiesIncidentToolsAfterTheTrigger(t *testing.T) {
	h := newDL(t)
	pdRcv, hookRcv := newReceiver(t), newReceiver(t)
	pdRcv.FailFirst = 1 // the trigger is still pending when the alert is resolved
	pd := h.dest("pager", store.DestPagerDuty, alert.Secret{RoutingKey: strings.Repeat("a1", 16)},
		alert.Settings{URL: pdRcv.srv.URL + "/v2/enqueue"}, nil)
	h.webhook("soc", hookRcv, nil)
	a := h.raise("incident")
	tr := alert.NewTriage(alert.TriageConfig{Store: h.st})
	if _, err := tr.Resolve(h.ctx, a.ID, "alice", "false positive"); err != nil {
		t.Fatal(err)
	}
	resolves := 0
	for _, n := range h.notifications(store.NotificationFilter{AlertID: a.ID}) {
		if n.Kind == store.NotifyResolve {
			resolves++
			if n.DestinationID != pd.ID {
				t.Errorf("resolve notification to %s, want only PagerDuty", n.DestinationID)
			}
		}
	}
	if resolves != 1 {
		t.Fatalf("%d resolve notifications, want 1", resolves)
	}
	d := h.deliverer("one", nil)
	h.drain(d, time.Minute, 20, h.allSent(store.NotificationFilter{AlertID: a.ID}))
	pdRcv.mu.Lock()
	order := pdRcv.order
	pdRcv.mu.Unlock()
	want := []string{"trigger/" + a.ID, "resolve/" + a.ID}
	if fmt.Sprint(order) != fmt.Sprint(want) {
		t.Fatalf("PagerDuty got %v, want %v", order, want)
	}
}

// A notification whose sender is cut short by shutdown is handed back
// untried, not counted as the receiver's failure.
func TestDeliverShutdownIsNotAFailure(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	h.webhook("soc", rcv, nil)
	h.raise("shutdown")
	ctx, cancel := context.WithCancel(h.ctx)
	sender := cancelOnSend{alert.HTTPSender{Now: h.clock.Now}, cancel}
	d := h.deliverer("one", func(c *alert.DeliverConfig) { c.Sender = sender; c.FailingAfter = time.Nanosecond })
	res, err := d.Step(ctx)
	if err != nil || res.Deferred != 1 {
		t.Fatalf("%+v, %v: want the interrupted one deferred", res, err)
	}
	n := h.notifications(store.NotificationFilter{})[0]
	if n.Status != store.NotificationPending || n.LastError != "" || !n.NextAttemptAt.Equal(h.clock.Now()) {
		t.Fatalf("after shutdown: %+v; want pending, due now, no error", n)
	}
	if sys, _ := h.st.ListAlerts(h.ctx, store.AlertFilter{Type: store.AlertSystemError, Unresolved: true}); len(sys) != 1 {
		t.Fatalf("%d open system errors, want only the test's own", len(sys))
	}
}

// cancelOnSend cancels the loop's context as the send starts (a SIGTERM).
type cancelOnSend struct {
	s      alert.HTTPSender
	cancel func()
}

func (c cancelOnSend) Send(ctx context.Context, t alert.Target, m alert.Message) alert.Result {
	c.cancel()
	return c.s.Send(ctx, t, m)
}
