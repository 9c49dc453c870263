package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mathrand "math/rand/v2"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// DeliverStore is what the deliver loop needs of the store: the outbox,
// and the alerts it raises and resolves about failing destinations.
type DeliverStore interface {
	store.Deliver
	ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error)
	ChangeAlert(ctx context.Context, c store.AlertChange) (store.Alert, error)
	ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error)
}

// Opener opens a sealed destination secret (package secret's Box).
type Opener interface {
	Open(sealed, aad []byte) ([]byte, error)
}

// DeliverConfig wires a Deliverer. Store, Sender and Secrets are required.
type DeliverConfig struct {
	Store   DeliverStore
	Sender  Sender
	Secrets Opener
	// Router routes the system errors the loop raises about a failing
	// destination; default: a Router over Store.
	Router *Router
	// Summary returns an alert's summary attributes (the rule's
	// SummaryAttributes with their values from its first event); nil: none.
	Summary func(ctx context.Context, a store.Alert) []Attribute
	// PublicURL is where the console is reached (--public-url); each
	// message links to PublicURL/alerts/ID. "": no link.
	PublicURL string
	Logger    *slog.Logger
	// Now is the clock of the loop's own decisions (backoff, the 24 h
	// limit). Leases are fenced by the store's clock, and the loop keeps
	// its schedule on that clock by measuring the skew at each claim.
	Now func() time.Time
	// Rand returns a number in [0, 1) to jitter backoffs; default math/rand.
	Rand func() float64

	Owner          string        // lease owner; default host-pid-random
	LeaseFor       time.Duration // a claimed notification's lease; default 2m
	SendTimeout    time.Duration // one attempt's limit; default 30s (must be well under LeaseFor)
	Concurrency    int           // notifications held at once (claimed, not finished); default 16
	PerDestination int           // sends in flight to one destination; default 2
	ClaimEvery     time.Duration // how often Run looks for due notifications; default 1s
	MinBackoff     time.Duration // first retry delay; default 30s
	MaxBackoff     time.Duration // longest retry delay; default 30m
	GiveUpAfter    time.Duration // a notification is retried until this long after its creation; default 24h
	// FailingAfter: a destination whose notification has failed for this
	// long since it was created (or failed for good) raises a system error;
	// default 15m.
	FailingAfter time.Duration
}

// Deliverer sends the store's outbox: it claims due notifications with a
// lease, sends each to its destination, and records the outcome. Several
// Deliverers (replicas) may share one store: the lease sends each
// notification once, except that one whose sender died between sending and
// recording is sent again after its lease (receivers dedupe on the
// Idempotency-Key, the notification's id). It is safe for concurrent use.
type Deliverer struct {
	cfg    DeliverConfig
	log    *slog.Logger
	triage *Triage

	mu     sync.Mutex
	held   int                      // claimed and not finished
	byDest map[string]int           // held, by destination
	slots  map[string]chan struct{} // send slots, by destination
	raised map[string]time.Time     // destinations this process raised a delivery error for, and when
	looked map[string]time.Time     // when an open delivery error was last looked for, by destination
}

// NewDeliverer returns a Deliverer with cfg's defaults filled in.
func NewDeliverer(cfg DeliverConfig) *Deliverer {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = mathrand.Float64
	}
	if cfg.Router == nil {
		cfg.Router = NewRouter(RouterConfig{Store: cfg.Store, Logger: cfg.Logger, Now: cfg.Now})
	}
	if cfg.Owner == "" {
		cfg.Owner = deliverOwner()
	}
	if cfg.LeaseFor <= 0 {
		cfg.LeaseFor = 2 * time.Minute
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	if cfg.SendTimeout > cfg.LeaseFor/2 {
		cfg.SendTimeout = cfg.LeaseFor / 2
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 16
	}
	if cfg.PerDestination <= 0 {
		cfg.PerDestination = 2
	}
	if cfg.ClaimEvery <= 0 {
		cfg.ClaimEvery = time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 30 * time.Second
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Minute
	}
	if cfg.GiveUpAfter <= 0 {
		cfg.GiveUpAfter = 24 * time.Hour
	}
	if cfg.FailingAfter <= 0 {
		cfg.FailingAfter = 15 * time.Minute
	}
	log := cfg.Logger.With("stage", "deliver")
	return &Deliverer{
		cfg:    cfg,
		log:    log,
		triage: NewTriage(TriageConfig{Store: cfg.Store, Logger: log}),
		byDest: map[string]int{},
		slots:  map[string]chan struct{}{},
		raised: map[string]time.Time{},
		looked: map[string]time.Time{},
	}
}

func deliverOwner() string {
	host, _ := os.Hostname()
	var b [4]byte
	rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Outcome is what became of one claimed notification.
type Outcome int

const (
	OutcomeSent     Outcome = iota + 1
	OutcomeRetry            // failed; retried later
	OutcomeFailed           // given up
	OutcomeDeferred         // not attempted now (its destination is busy, or its trigger goes first)
	OutcomeLost             // the lease was lost before the outcome was recorded
)

// StepResult is what one Step did.
type StepResult struct {
	Claimed, Sent, Retried, Failed, Deferred, Lost int
}

func (r *StepResult) add(o Outcome) {
	switch o {
	case OutcomeSent:
		r.Sent++
	case OutcomeRetry:
		r.Retried++
	case OutcomeFailed:
		r.Failed++
	case OutcomeDeferred:
		r.Deferred++
	case OutcomeLost:
		r.Lost++
	}
}

// Run delivers due notifications until ctx is cancelled, then waits for the
// sends in flight (each bounded by SendTimeout) and records them. It fails
// at once when the store cannot be read at start; later errors are logged
// and retried.
func (d *Deliverer) Run(ctx context.Context) error {
	if _, err := d.cfg.Store.Destinations(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("deliver cannot start: load destinations: %w", err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	done := make(chan struct{}, 1)
	tick := time.NewTicker(d.cfg.ClaimEvery)
	defer tick.Stop()
	for {
		batch, err := d.claim(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Error("claim notifications", "err", err)
		}
		for _, j := range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				j.run(ctx)
				select {
				case done <- struct{}{}:
				default:
				}
			}()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-done:
		}
	}
}

// Step claims the due notifications it has room for, handles them and
// waits for their outcomes (tests, and a one-shot flush).
func (d *Deliverer) Step(ctx context.Context) (StepResult, error) {
	batch, err := d.claim(ctx)
	res := StepResult{Claimed: len(batch)}
	if err != nil {
		return res, err
	}
	outcomes := make([]Outcome, len(batch))
	var wg sync.WaitGroup
	for i, j := range batch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outcomes[i] = j.run(ctx)
		}()
	}
	wg.Wait()
	for _, o := range outcomes {
		res.add(o)
	}
	return res, nil
}

// job is one claimed notification.
type job struct {
	d         *Deliverer
	n         store.Notification
	dest      store.Destination
	known     bool          // dest was found
	claimedAt time.Time     // by the loop's clock
	skew      time.Duration // the store's clock minus the loop's, at the claim
	busy      bool          // its destination has its fill of held notifications
}

// claim leases as many due notifications as there is room for.
func (d *Deliverer) claim(ctx context.Context) ([]*job, error) {
	d.mu.Lock()
	free := d.cfg.Concurrency - d.held
	d.mu.Unlock()
	if free <= 0 {
		return nil, nil
	}
	ns, err := d.cfg.Store.ClaimNotifications(ctx, d.cfg.Owner, d.cfg.LeaseFor, free)
	if err != nil || len(ns) == 0 {
		return nil, err
	}
	now := d.cfg.Now()
	dests, err := d.cfg.Store.Destinations(ctx)
	if err != nil {
		// Nothing was attempted: the leases lapse and the notifications
		// are claimed again (their attempt counts went up by one).
		return nil, fmt.Errorf("load destinations: %w", err)
	}
	byID := make(map[string]store.Destination, len(dests))
	for _, x := range dests {
		byID[x.ID] = x
	}
	jobs := make([]*job, 0, len(ns))
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, n := range ns {
		j := &job{d: d, n: n, claimedAt: now}
		j.dest, j.known = byID[n.DestinationID]
		if !n.LeaseUntil.IsZero() {
			// The store stamped the lease from its own now.
			j.skew = n.LeaseUntil.Add(-d.cfg.LeaseFor).Sub(now)
		}
		// A destination holds at most twice its send slots: the rest of
		// its notifications wait in the store, so that a slow receiver
		// cannot take every slot from the others.
		if d.byDest[n.DestinationID] >= 2*d.cfg.PerDestination {
			j.busy = true
		}
		d.held++
		d.byDest[n.DestinationID]++
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// storeNow is the store's clock, as measured at the claim.
func (j *job) storeNow() time.Time { return j.d.cfg.Now().Add(j.skew) }

// run handles one claimed notification and records its outcome.
func (j *job) run(ctx context.Context) Outcome {
	d := j.d
	defer func() {
		d.mu.Lock()
		d.held--
		if d.byDest[j.n.DestinationID]--; d.byDest[j.n.DestinationID] <= 0 {
			delete(d.byDest, j.n.DestinationID)
		}
		d.mu.Unlock()
	}()
	log := d.log.With("notification", j.n.ID, "alert", j.n.AlertID, "destination", j.dest.Name, "kind", j.n.Kind)
	switch {
	case !j.known:
		return j.fail(ctx, log, "its destination was removed")
	case !j.dest.Enabled:
		return j.fail(ctx, log, fmt.Sprintf("destination %s is disabled: notifications are not sent to it (enable it again with opwatch destinations update %s)", j.dest.Name, j.dest.Name))
	case j.busy:
		return j.defer_(ctx, log, d.cfg.ClaimEvery*5)
	}
	if j.n.Kind == store.NotifyResolve {
		first, err := j.triggerPending(ctx)
		if err != nil {
			log.Warn("read the alert's notifications; trying again", "err", err)
			return j.defer_(ctx, log, d.cfg.ClaimEvery*5)
		}
		if first {
			// The incident must exist before it is closed.
			return j.defer_(ctx, log, d.cfg.MinBackoff)
		}
	}
	release, ok := j.slot(ctx)
	if !ok {
		return j.defer_(ctx, log, 0)
	}
	defer release()
	// Waited so long for a slot that the lease could lapse during the send:
	// leave it to the next claim rather than risk sending it twice.
	if d.cfg.Now().Sub(j.claimedAt) > d.cfg.LeaseFor-d.cfg.SendTimeout-d.cfg.LeaseFor/10 {
		return j.defer_(ctx, log, 0)
	}
	t, err := d.target(j.dest)
	if err != nil {
		var perm *badDestination
		return j.failed(ctx, log, Result{Err: err, Permanent: errors.As(err, &perm)}, &Target{Destination: j.dest})
	}
	a, err := d.cfg.Store.Alert(ctx, j.n.AlertID)
	if errors.Is(err, store.ErrNotFound) {
		return j.fail(ctx, log, "its alert no longer exists (purged by retention)")
	}
	if err != nil {
		// The store's trouble, not the destination's: try again soon.
		log.Warn("load the alert; trying again", "err", err)
		return j.defer_(ctx, log, d.cfg.MinBackoff)
	}
	m := Message{Kind: j.n.Kind, IdempotencyKey: j.n.ID, Alert: a, Link: d.link(a.ID)}
	if d.cfg.Summary != nil {
		m.Summary = d.cfg.Summary(ctx, a)
	}
	// Checked again right before sending (loading the alert and its
	// summary takes time too): a replica paused past its lease (a stopped
	// VM, SIGSTOP) sees its clock jump here and does not send what another
	// has sent since.
	if d.cfg.Now().Sub(j.claimedAt) > d.cfg.LeaseFor-d.cfg.SendTimeout-d.cfg.LeaseFor/10 {
		return j.defer_(ctx, log, 0)
	}
	sctx, cancel := context.WithTimeout(ctx, d.cfg.SendTimeout)
	res := d.cfg.Sender.Send(sctx, t, m)
	cancel()
	switch {
	case res.Err == nil:
		return j.sent(ctx, log)
	case ctx.Err() != nil:
		// Shutdown cut the attempt short: not the receiver's failure.
		return j.defer_(ctx, log, 0)
	}
	return j.failed(ctx, log, res, &t)
}

// slot waits for a send slot of the job's destination; ok is false when
// ctx ended first.
func (j *job) slot(ctx context.Context) (release func(), ok bool) {
	d := j.d
	d.mu.Lock()
	s := d.slots[j.dest.ID]
	if s == nil {
		s = make(chan struct{}, d.cfg.PerDestination)
		d.slots[j.dest.ID] = s
	}
	d.mu.Unlock()
	select {
	case s <- struct{}{}:
		return func() { <-s }, true
	case <-ctx.Done():
		return nil, false
	}
}

// triggerPending reports whether the trigger of a resolve's alert is still
// to be sent to the same destination.
func (j *job) triggerPending(ctx context.Context) (bool, error) {
	ns, err := j.d.cfg.Store.ListNotifications(ctx, store.NotificationFilter{AlertID: j.n.AlertID, DestinationID: j.n.DestinationID, Limit: 1000})
	if err != nil {
		return false, err
	}
	for _, n := range ns {
		if n.Kind == store.NotifyTrigger && n.Status == store.NotificationPending {
			return true, nil
		}
	}
	return false, nil
}

// badDestination is a destination setting that cannot work.
type badDestination struct{ err error }

func (e *badDestination) Error() string { return e.err.Error() }
func (e *badDestination) Unwrap() error { return e.err }

// target opens a destination's secret and reads its settings.
func (d *Deliverer) target(dest store.Destination) (Target, error) {
	t := Target{Destination: dest}
	var err error
	if t.Settings, err = ParseSettings(dest.Settings); err != nil {
		return Target{}, &badDestination{fmt.Errorf("destination %s: its stored settings are not valid (%w): set them again with opwatch destinations update %s", dest.Name, err, dest.Name)}
	}
	if len(dest.Secret) > 0 {
		plain, err := d.cfg.Secrets.Open(dest.Secret, dest.Binding())
		if err != nil {
			// Retried: the operator can restore the key within the day.
			return Target{}, fmt.Errorf("destination %s: its secret cannot be opened (%w): start opwatch with the key that sealed it, or give the destination its secret again with opwatch destinations update %s", dest.Name, err, dest.Name)
		}
		if t.Secret, err = ParseSecret(plain); err != nil {
			return Target{}, &badDestination{fmt.Errorf("destination %s: %w", dest.Name, err)}
		}
	}
	return t, nil
}

func (d *Deliverer) link(alertID string) string {
	if d.cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimRight(d.cfg.PublicURL, "/") + "/alerts/" + url.PathEscape(alertID)
}

// finish records an outcome; it runs even when ctx ended (shutdown), so
// what was sent is marked sent.
func (j *job) finish(ctx context.Context, log *slog.Logger, o store.NotificationOutcome) bool {
	o.ID, o.LeaseOwner = j.n.ID, j.d.cfg.Owner
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := j.d.cfg.Store.FinishNotification(fctx, o)
	switch {
	case errors.Is(err, store.ErrLeaseLost):
		log.Warn("lease lost before the outcome was recorded; another deliverer has the notification (the receiver dedupes on its Idempotency-Key)", "err", err)
		return false
	case err != nil:
		log.Error("record the notification's outcome; it is attempted again when its lease ends", "err", err)
		return false
	}
	return true
}

func (j *job) sent(ctx context.Context, log *slog.Logger) Outcome {
	if !j.finish(ctx, log, store.NotificationOutcome{Sent: true}) {
		return OutcomeLost
	}
	log.Info("notification sent", "attempts", j.n.Attempts)
	j.d.recovered(ctx, j.dest)
	return OutcomeSent
}

// defer_ hands the notification back untried, due again after wait; its
// last error stays what it was (an empty Err leaves it).
func (j *job) defer_(ctx context.Context, log *slog.Logger, wait time.Duration) Outcome {
	if !j.finish(ctx, log, store.NotificationOutcome{NextAttempt: j.storeNow().Add(wait), Untried: true}) {
		return OutcomeLost
	}
	return OutcomeDeferred
}

// fail gives a notification up for a reason that is not the receiver's.
func (j *job) fail(ctx context.Context, log *slog.Logger, reason string) Outcome {
	if !j.finish(ctx, log, store.NotificationOutcome{Failed: true, Err: reason}) {
		return OutcomeLost
	}
	log.Warn("notification not sent", "reason", reason)
	return OutcomeFailed
}

// failed records a failed attempt: retried with backoff until GiveUpAfter
// from the notification's creation, or failed now when retrying cannot
// help. t's secrets are cut out of what is recorded.
func (j *job) failed(ctx context.Context, log *slog.Logger, res Result, t *Target) Outcome {
	d := j.d
	why := failureText(res, t)
	now := j.storeNow()
	deadline := j.n.CreatedAt.Add(d.cfg.GiveUpAfter)
	o := store.NotificationOutcome{Err: why}
	switch {
	case res.Permanent:
		o.Failed = true
	case !now.Before(deadline):
		o.Failed = true
		o.Err = fmt.Sprintf("gave up after %s of attempts: %s", spellDuration(d.cfg.GiveUpAfter), why)
	default:
		next := now.Add(d.backoff(now.Sub(j.n.CreatedAt), res.RetryAfter))
		if next.After(deadline) {
			if res.RetryAfter > 0 && now.Add(res.RetryAfter).After(deadline) {
				o.Failed = true
				o.Err = fmt.Sprintf("gave up: the receiver asked to wait %s, past %s from the notification's creation: %s", spellDuration(res.RetryAfter), spellDuration(d.cfg.GiveUpAfter), why)
				break
			}
			next = deadline // one last attempt at the limit
		}
		o.NextAttempt = next
	}
	if !j.finish(ctx, log, o) {
		return OutcomeLost
	}
	if o.Failed {
		log.Warn("notification failed; not retried", "attempts", j.n.Attempts, "err", o.Err)
	} else {
		log.Info("notification attempt failed; retrying", "attempts", j.n.Attempts, "next_attempt", o.NextAttempt, "err", why)
	}
	if o.Failed || now.Sub(j.n.CreatedAt) >= d.cfg.FailingAfter {
		d.raise(ctx, j.dest, j.n, o.Err)
	}
	if o.Failed {
		return OutcomeFailed
	}
	return OutcomeRetry
}

// backoff is the wait before the next attempt of a notification of age
// age: about its age, between MinBackoff and MaxBackoff, jittered by ±20%,
// and never less than the receiver's Retry-After. Waiting about as long as
// the notification has existed doubles the wait at each failure (30s, 1m,
// 2m, … 30m), counted from the notification itself, so it needs no count
// of attempts kept anywhere.
func (d *Deliverer) backoff(age, retryAfter time.Duration) time.Duration {
	w := min(max(age, d.cfg.MinBackoff), d.cfg.MaxBackoff)
	w = time.Duration(float64(w) * (0.8 + 0.4*d.cfg.Rand()))
	return max(w, retryAfter)
}

// failureText is what an attempt's failure records: the error and what
// the receiver said (when the error does not quote it), with the
// destination's secrets cut out (a URL with its key in a transport error,
// say), bounded.
func failureText(res Result, t *Target) string {
	msg := "failed"
	if res.Err != nil {
		msg = res.Err.Error()
	}
	if a := []rune(res.Answer); len(a) > 0 && !strings.Contains(msg, string(a[:min(len(a), 100)])) {
		msg += ": the receiver answered: " + res.Answer
	}
	msg = redactSecrets(msg, *t)
	const limit = 1000
	if len(msg) > limit {
		msg = strings.ToValidUTF8(msg[:limit], "") + "…"
	}
	return msg
}

func spellDuration(d time.Duration) string {
	if d%time.Hour == 0 && d >= time.Hour {
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}

// DeliveryDedup is the dedup key of the system error about a failing
// destination.
func DeliveryDedup(destID string) string { return "delivery/" + destID }

// raise opens the one system error about a failing destination, routed to
// the other destinations that take system errors. It is raised once: the
// store refuses a second while one is unresolved, whichever replica tries.
func (d *Deliverer) raise(ctx context.Context, dest store.Destination, n store.Notification, why string) {
	now := d.cfg.Now()
	d.mu.Lock()
	at, ok := d.raised[dest.ID]
	if ok && now.Sub(at) < 10*time.Minute && !now.Before(at) {
		d.mu.Unlock()
		return
	}
	d.raised[dest.ID] = now
	d.mu.Unlock()
	c, _ := json.Marshal(map[string]any{
		"destination": dest.Name, "destination_id": dest.ID, "destination_type": dest.Type,
		"error": why, "notification_id": n.ID, "alert_id": n.AlertID, "attempts": n.Attempts,
		"notification_created_at": n.CreatedAt.UTC().Format(time.RFC3339),
	})
	a := store.Alert{
		ID: store.NewID(), Type: store.AlertSystemError, Dedup: DeliveryDedup(dest.ID), Status: store.AlertOpen,
		Severity: "HIGH", Context: c,
		Title:       fmt.Sprintf("Destination %s (%s) is failing: alerts are not reaching it", dest.Name, dest.Type),
		Description: "opwatch could not deliver notifications to the destination " + dest.Name + ": " + why,
		Runbook: "opwatch destinations show " + dest.Name + " shows its outbox and the receiver's last answer. " +
			"Fix the receiver, or the destination's settings or secret (opwatch destinations update " + dest.Name +
			"), then check with opwatch destinations test " + dest.Name + ". Notifications are retried for " +
			spellDuration(d.cfg.GiveUpAfter) + " after they were created, then marked failed. " +
			"This alert resolves itself when the destination takes a notification again.",
	}
	ns, err := d.cfg.Router.Route(ctx, a)
	if err != nil {
		d.log.Error("route the system error about a failing destination; it is stored without notifications", "destination", dest.Name, "err", err)
	}
	others := ns[:0]
	for _, x := range ns {
		if x.DestinationID != dest.ID { // it would only fail too
			others = append(others, x)
		}
	}
	switch err := d.cfg.Store.CreateSystemAlert(ctx, a, others); {
	case errors.Is(err, store.ErrExists):
	case err != nil:
		d.mu.Lock()
		delete(d.raised, dest.ID)
		d.mu.Unlock()
		d.log.Error("raise the system error about a failing destination", "destination", dest.Name, "err", err)
	default:
		d.log.Warn("destination failing; system error raised", "destination", dest.Name, "alert", a.ID, "notified", len(others))
	}
}

// recovered resolves the system error about a destination that delivers
// again. It looks for one when this process raised it, and otherwise at
// most once a minute per destination (another replica may have raised it).
func (d *Deliverer) recovered(ctx context.Context, dest store.Destination) {
	now := d.cfg.Now()
	d.mu.Lock()
	_, raised := d.raised[dest.ID]
	last, looked := d.looked[dest.ID]
	if !raised && looked && now.Sub(last) < time.Minute && !now.Before(last) {
		d.mu.Unlock()
		return
	}
	delete(d.raised, dest.ID)
	d.looked[dest.ID] = now
	d.mu.Unlock()
	open, err := d.cfg.Store.ListAlerts(ctx, store.AlertFilter{Type: store.AlertSystemError, Dedup: DeliveryDedup(dest.ID), Unresolved: true})
	if err != nil {
		d.log.Warn("look for the system error about a destination that delivers again", "destination", dest.Name, "err", err)
		return
	}
	for _, a := range open {
		_, err := d.triage.Resolve(ctx, a.ID, "opwatch", "destination "+dest.Name+" delivers again")
		if err != nil && !errors.Is(err, store.ErrBadTransition) && !errors.Is(err, store.ErrNotFound) {
			d.log.Warn("resolve the system error about a destination that delivers again", "destination", dest.Name, "alert", a.ID, "err", err)
			continue
		}
		d.log.Info("destination delivers again; system error resolved", "destination", dest.Name, "alert", a.ID)
	}
}
