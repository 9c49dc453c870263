package alert

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Severities, lowest first.
var severities = []string{"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// SeverityRank orders severities: INFO 0 … CRITICAL 4; -1 for anything else.
func SeverityRank(s string) int { return slices.Index(severities, s) }

// DestinationLister is what routing reads: the destinations.
type DestinationLister interface {
	Destinations(ctx context.Context) ([]store.Destination, error)
}

// RouterConfig wires a Router. Store is required.
type RouterConfig struct {
	Store  DestinationLister
	Logger *slog.Logger
	Now    func() time.Time
	// Refresh is how long the destinations loaded from the store are used
	// before they are loaded again; default 5s. Negative: every call loads.
	Refresh time.Duration
	NewID   func() string // notification ids; default store.NewID
}

// Router turns an alert into its trigger notifications, following
// Panther's precedence. It is safe for concurrent use.
type Router struct {
	cfg RouterConfig
	log *slog.Logger

	mu     sync.Mutex
	dests  []store.Destination
	loaded time.Time
	warned map[string]bool // unknown destination names already logged
}

// NewRouter returns a Router with cfg's defaults filled in.
func NewRouter(cfg RouterConfig) *Router {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.NewID == nil {
		cfg.NewID = store.NewID
	}
	return &Router{cfg: cfg, log: cfg.Logger, warned: map[string]bool{}}
}

// Route returns the trigger notifications of a new alert: one per
// destination it goes to (see Select), each with a new id.
func (r *Router) Route(ctx context.Context, a store.Alert) ([]store.Notification, error) {
	dests, err := r.destinations(ctx)
	if err != nil {
		return nil, fmt.Errorf("route alert %s: load destinations: %w", a.ID, err)
	}
	chosen, unknown := Select(dests, a)
	r.warnUnknown(a, unknown)
	out := make([]store.Notification, 0, len(chosen))
	for _, d := range chosen {
		out = append(out, store.Notification{ID: r.cfg.NewID(), AlertID: a.ID, DestinationID: d.ID, Kind: store.NotifyTrigger})
	}
	return out, nil
}

func (r *Router) destinations(ctx context.Context) ([]store.Destination, error) {
	now := r.cfg.Now()
	r.mu.Lock()
	if r.dests != nil && r.cfg.Refresh > 0 && now.Sub(r.loaded) < r.cfg.Refresh && !now.Before(r.loaded) {
		d := r.dests
		r.mu.Unlock()
		return d, nil
	}
	r.mu.Unlock()
	d, err := r.cfg.Store.Destinations(ctx)
	if err != nil {
		return nil, err
	}
	if d == nil {
		d = []store.Destination{}
	}
	r.mu.Lock()
	r.dests, r.loaded = d, now
	r.mu.Unlock()
	return d, nil
}

// warnUnknown logs each name a rule's destinations() gave that matches no
// destination, once per name: a typo in a rule must not flood the log.
func (r *Router) warnUnknown(a store.Alert, unknown []string) {
	if len(unknown) == 0 {
		return
	}
	r.mu.Lock()
	var fresh []string
	for _, n := range unknown {
		if !r.warned[n] {
			r.warned[n] = true
			fresh = append(fresh, n)
		}
	}
	r.mu.Unlock()
	for _, n := range fresh {
		r.log.Warn("an alert names a destination that does not exist or is disabled; it is not sent there (add it with opwatch destinations add, or fix the rule's destinations())",
			"destination", n, "rule", a.RuleID, "alert", a.ID)
	}
}

// Select picks the destinations an alert goes to, by Panther's precedence:
//
//   - a.Destinations non-nil (the rule's destinations() or its static
//     override): exactly the enabled destinations it names, by name or id,
//     whatever their filters; [] sends the alert nowhere. Names that match
//     no enabled destination are returned in unknown.
//   - a system error: every enabled destination that takes system errors,
//     whatever its severity filter.
//   - otherwise every enabled destination that takes the alert's type and
//     whose minimum severity is at most the alert's (the rule's dynamic
//     severity, else its static one: the detect stage has settled it).
//
// An alert of a severity opwatch does not know passes every severity
// filter: an alert nobody receives is worth nothing.
func Select(dests []store.Destination, a store.Alert) (chosen []store.Destination, unknown []string) {
	if a.Destinations != nil {
		for _, want := range a.Destinations {
			i := slices.IndexFunc(dests, func(d store.Destination) bool {
				return d.Enabled && (d.Name == want || d.ID == want)
			})
			if i < 0 {
				unknown = append(unknown, want)
				continue
			}
			if !slices.ContainsFunc(chosen, func(d store.Destination) bool { return d.ID == dests[i].ID }) {
				chosen = append(chosen, dests[i])
			}
		}
		return chosen, unknown
	}
	for _, d := range dests {
		if !d.Enabled || !Takes(d, a.Type) {
			continue
		}
		if a.Type != store.AlertSystemError && !passes(d.MinSeverity, a.Severity) {
			continue
		}
		chosen = append(chosen, d)
	}
	return chosen, nil
}

// Takes reports whether d takes alerts of type t (no types listed: all).
func Takes(d store.Destination, t string) bool {
	return len(d.AlertTypes) == 0 || slices.Contains(d.AlertTypes, t)
}

// passes reports whether an alert of severity sev passes a minimum
// severity (an empty or unknown minimum lets everything through).
func passes(min, sev string) bool {
	m, s := SeverityRank(min), SeverityRank(sev)
	return m < 0 || s < 0 || s >= m
}

// TakesResolve reports whether a destination type is told when an alert is
// resolved: the incident tools close the incident they opened.
func TakesResolve(destType string) bool {
	return destType == store.DestPagerDuty || destType == store.DestOpsgenie
}
