// Package health watches every source and raises system errors into the
// alerts table when one needs a person: no events stored for its no-events
// alarm's timeframe, a stream stopped (token refused, a feature missing), a
// stream failing for an hour, a growing quarantine, and a token about to
// expire. Each condition is raised once, whichever replica sees it first,
// and resolved by the stage itself when it clears.
package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Actor is who the stage's changes to alerts are recorded as.
const Actor = "opwatch"

// Condition kinds; a condition's Key is "health/KIND/SOURCE-ID", and a
// token expiry's "health/token-expiry/SOURCE-ID/STAGE".
const (
	KindNoEvents    = "no-events"
	KindStopped     = "stopped"
	KindFeature     = "feature"
	KindFailing     = "failing"
	KindQuarantine  = "quarantine"
	KindTokenExpiry = "token-expiry"
)

// keyPrefix starts the dedup of every system error the stage raises.
const keyPrefix = "health/"

// Condition is one thing wrong with a source, and what to do about it.
type Condition struct {
	Key      string // the dedup of its system error
	Kind     string
	SourceID string
	Severity string // MEDIUM, HIGH, CRITICAL
	Title    string
	Do       string    // what to do, in a sentence or three
	Since    time.Time // when it started, when known
	Context  map[string]any
}

// Config wires a Monitor. Store is required.
type Config struct {
	Store store.Health
	// Route gives a new system error its notifications (alert.Router's
	// Route); nil: the alerts are stored and sent nowhere.
	Route func(ctx context.Context, a store.Alert) ([]store.Notification, error)
	// Resolve resolves an alert whose condition cleared, telling the
	// destinations that close incidents (alert.Triage's Resolve); nil:
	// the store's ChangeAlert, without notifications.
	Resolve func(ctx context.Context, id, actor, comment string) (store.Alert, error)
	Logger  *slog.Logger
	Now     func() time.Time
	Every   time.Duration // how often Run checks; default 1m
	NewID   func() string // alert ids; default store.NewID
	// FailingFor: streams failing without a success for this long raise a
	// system error; default 1h.
	FailingFor time.Duration
	// QuarantineGrowth: more events quarantined than this between two
	// checks raises a system error; default 10. It clears after
	// QuarantineQuiet (default 1h) without a new quarantined event.
	QuarantineGrowth int64
	QuarantineQuiet  time.Duration
}

// Monitor is the health stage. Run it on every replica, or one: the store
// raises each condition once. It is safe for concurrent use.
type Monitor struct {
	cfg Config
	log *slog.Logger

	mu         sync.Mutex
	quarantine map[string]*quarantineState // by source id
}

// quarantineState follows one source's quarantined count between checks.
type quarantineState struct {
	count      int64
	grewAt     time.Time // the last check that saw it grow while raised; zero: not raised
	lastGrowth int64     // the growth that raised it
}

// New returns a Monitor with cfg's defaults filled in.
func New(cfg Config) *Monitor {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Every <= 0 {
		cfg.Every = time.Minute
	}
	if cfg.NewID == nil {
		cfg.NewID = store.NewID
	}
	if cfg.FailingFor <= 0 {
		cfg.FailingFor = time.Hour
	}
	if cfg.QuarantineGrowth <= 0 {
		cfg.QuarantineGrowth = 10
	}
	if cfg.QuarantineQuiet <= 0 {
		cfg.QuarantineQuiet = time.Hour
	}
	return &Monitor{cfg: cfg, log: cfg.Logger.With("stage", "health"), quarantine: map[string]*quarantineState{}}
}

// Run checks every source each Every until ctx is cancelled. It fails at
// once when the store cannot be read at start; later errors are logged and
// the check is tried again at the next tick.
func (m *Monitor) Run(ctx context.Context) error {
	if _, err := m.Step(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("health cannot start: %w", err)
	}
	tick := time.NewTicker(m.cfg.Every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		if _, err := m.Step(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("health check failed; trying again at the next one", "err", err)
		}
	}
}

// StepResult is what one check did.
type StepResult struct {
	Sources    int
	Conditions int // conditions that hold now
	Raised     int // system errors opened by this check
	Resolved   int // system errors resolved by this check
}

// Step checks every source once: it raises the conditions that hold and
// are not raised yet, and resolves the raised ones that cleared (or whose
// source was removed).
func (m *Monitor) Step(ctx context.Context) (StepResult, error) {
	var res StepResult
	now := m.cfg.Now()
	sources, err := m.cfg.Store.ListSources(ctx)
	if err != nil {
		return res, fmt.Errorf("list sources: %w", err)
	}
	streams, err := m.cfg.Store.Streams(ctx, "")
	if err != nil {
		return res, fmt.Errorf("list streams: %w", err)
	}
	open, err := openConditions(ctx, m.cfg.Store)
	if err != nil {
		return res, err
	}
	bySource := map[string][]store.Stream{}
	for _, st := range streams {
		bySource[st.SourceID] = append(bySource[st.SourceID], st)
	}
	holds := map[string]bool{}
	var errs []error
	for _, src := range sources {
		res.Sources++
		conds := Evaluate(src, bySource[src.ID], now, m.cfg.FailingFor)
		if c, ok := m.quarantineCondition(src, bySource[src.ID], now, open); ok {
			conds = append(conds, c)
		}
		for _, c := range conds {
			res.Conditions++
			holds[c.Key] = true
			if _, raised := open[c.Key]; raised {
				continue
			}
			ok, err := m.raise(ctx, c)
			if err != nil {
				errs = append(errs, err)
			} else if ok {
				res.Raised++
			}
		}
	}
	known := map[string]bool{}
	for _, src := range sources {
		known[src.ID] = true
	}
	for key, a := range open {
		if holds[key] {
			continue
		}
		why := "cleared: " + clearedText(key)
		if !known[sourceOf(key)] {
			why = "the source was removed"
		}
		if err := m.resolve(ctx, a, why); err != nil {
			errs = append(errs, err)
		} else {
			res.Resolved++
		}
	}
	m.forgetRemoved(known)
	return res, errors.Join(errs...)
}

// openConditions returns the unresolved system errors raised by the
// stage, by key.
func openConditions(ctx context.Context, st store.Health) (map[string]store.Alert, error) {
	alerts, err := st.ListAlerts(ctx, store.AlertFilter{Type: store.AlertSystemError, Unresolved: true, Limit: 100000})
	if err != nil {
		return nil, fmt.Errorf("list open system errors: %w", err)
	}
	open := map[string]store.Alert{}
	for _, a := range alerts {
		if strings.HasPrefix(a.Dedup, keyPrefix) {
			open[a.Dedup] = a
		}
	}
	return open, nil
}

// raise stores the system error of c with its notifications; false when it
// was already raised (by another replica).
func (m *Monitor) raise(ctx context.Context, c Condition) (bool, error) {
	ctxJSON, err := json.Marshal(c.Context)
	if err != nil {
		return false, fmt.Errorf("%s: context: %w", c.Key, err)
	}
	a := store.Alert{
		ID: m.cfg.NewID(), Type: store.AlertSystemError, Dedup: c.Key, Title: c.Title, Severity: c.Severity,
		Status: store.AlertOpen, Context: ctxJSON, Runbook: c.Do,
		Description: "opwatch's health check found this about the source; it resolves the alert itself when the condition clears.",
	}
	var ns []store.Notification
	if m.cfg.Route != nil {
		if ns, err = m.cfg.Route(ctx, a); err != nil {
			// Still raised: it shows on the alerts list and source show.
			m.log.Error("route a source health alert; it is stored without notifications", "alert", a.ID, "err", err)
			ns = nil
		}
	}
	switch err := m.cfg.Store.CreateSystemAlert(ctx, a, ns); {
	case errors.Is(err, store.ErrExists):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("raise %q: %w", c.Title, err)
	}
	m.log.Warn("source health: system error raised", "source", c.SourceID, "condition", c.Kind, "severity", c.Severity,
		"alert", a.ID, "title", c.Title, "notified", len(ns))
	return true, nil
}

func (m *Monitor) resolve(ctx context.Context, a store.Alert, why string) error {
	var err error
	if m.cfg.Resolve != nil {
		_, err = m.cfg.Resolve(ctx, a.ID, Actor, why)
	} else {
		_, err = m.cfg.Store.ChangeAlert(ctx, store.AlertChange{AlertID: a.ID, Actor: Actor, Action: store.ActionResolve, Comment: why})
	}
	if errors.Is(err, store.ErrBadTransition) || errors.Is(err, store.ErrNotFound) {
		return nil // resolved meanwhile (a person, or another replica)
	}
	if err != nil {
		return fmt.Errorf("resolve %q: %w", a.Title, err)
	}
	m.log.Info("source health: system error resolved", "alert", a.ID, "condition", a.Dedup, "why", why)
	return nil
}

// quarantineCondition follows a source's quarantined count: it holds from
// a check that saw more than QuarantineGrowth new quarantined events until
// QuarantineQuiet passed without a new one. The count is kept in memory:
// after a restart the first check only learns it (an open alert stays
// until a quiet period has passed).
func (m *Monitor) quarantineCondition(src store.Source, streams []store.Stream, now time.Time, open map[string]store.Alert) (Condition, bool) {
	var total int64
	for _, st := range streams {
		total += st.Quarantined
	}
	key := Key(KindQuarantine, src.ID)
	m.mu.Lock()
	defer m.mu.Unlock()
	q := m.quarantine[src.ID]
	switch {
	case q == nil:
		q = &quarantineState{count: total}
		m.quarantine[src.ID] = q
		if _, raised := open[key]; raised {
			q.grewAt = now
		}
	case total-q.count > m.cfg.QuarantineGrowth:
		q.grewAt, q.lastGrowth = now, total-q.count
	case total > q.count && !q.grewAt.IsZero():
		q.grewAt = now // still growing: it stays raised
	}
	q.count = total
	if q.grewAt.IsZero() || now.Sub(q.grewAt) >= m.cfg.QuarantineQuiet {
		q.grewAt = time.Time{}
		return Condition{}, false
	}
	return quarantineCondition(src, q.lastGrowth, total, q.grewAt), true
}

func (m *Monitor) forgetRemoved(known map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.quarantine {
		if !known[id] {
			delete(m.quarantine, id)
		}
	}
}

// Conditions returns what is wrong with one source now, for `opwatch
// source show`: the conditions Evaluate finds, and a growing quarantine
// when its system error is open (that one needs the stage's memory).
func Conditions(ctx context.Context, st store.Health, sourceID string, now time.Time) ([]Condition, error) {
	sources, err := st.ListSources(ctx)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	i := slices.IndexFunc(sources, func(s store.Source) bool { return s.ID == sourceID })
	if i < 0 {
		return nil, fmt.Errorf("source %s: %w", sourceID, store.ErrNotFound)
	}
	streams, err := st.Streams(ctx, sourceID)
	if err != nil {
		return nil, fmt.Errorf("list streams: %w", err)
	}
	conds := Evaluate(sources[i], streams, now, time.Hour)
	open, err := openConditions(ctx, st)
	if err != nil {
		return nil, err
	}
	if a, ok := open[Key(KindQuarantine, sourceID)]; ok {
		conds = append(conds, Condition{
			Key: a.Dedup, Kind: KindQuarantine, SourceID: sourceID, Severity: a.Severity, Title: a.Title,
			Do: a.Runbook, Since: a.CreatedAt,
		})
	}
	return conds, nil
}

// Key is the dedup of a condition of a source.
func Key(kind, sourceID string, detail ...string) string {
	return keyPrefix + strings.Join(append([]string{kind, sourceID}, detail...), "/")
}

// sourceOf is the source id in a condition's key.
func sourceOf(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) < 3 {
		return ""
	}
	return parts[2]
}

func clearedText(key string) string {
	parts := strings.Split(key, "/")
	if len(parts) < 2 {
		return "the condition no longer holds"
	}
	switch parts[1] {
	case KindNoEvents:
		return "events are stored again"
	case KindStopped, KindFeature:
		return "the source's streams are no longer stopped"
	case KindFailing:
		return "the source's streams poll successfully again"
	case KindQuarantine:
		return "no event was quarantined for a while"
	case KindTokenExpiry:
		return "the source's token was replaced (or a later warning took over)"
	}
	return "the condition no longer holds"
}
