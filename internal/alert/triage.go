package alert

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/opwatch/opwatch/internal/store"
)

// TriageStore is what triage needs of the store (store.Triage has it).
type TriageStore interface {
	ChangeAlert(ctx context.Context, c store.AlertChange) (store.Alert, error)
	ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error)
	Destinations(ctx context.Context) ([]store.Destination, error)
}

// TriageConfig wires a Triage. Store is required.
type TriageConfig struct {
	Store  TriageStore
	Logger *slog.Logger
	NewID  func() string // notification ids; default store.NewID
}

// Triage moves alerts through their statuses (open → triaged → resolved,
// and reopened), assigns and comments them, each kept in the alert's
// history with who did it. It is safe for concurrent use.
type Triage struct {
	cfg TriageConfig
}

// NewTriage returns a Triage with cfg's defaults filled in.
func NewTriage(cfg TriageConfig) *Triage {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.NewID == nil {
		cfg.NewID = store.NewID
	}
	return &Triage{cfg: cfg}
}

// Triage marks an open alert triaged (someone is on it). The errors wrap
// store.ErrNotFound and store.ErrBadTransition.
func (t *Triage) Triage(ctx context.Context, id, actor, comment string) (store.Alert, error) {
	return t.change(ctx, store.AlertChange{AlertID: id, Actor: actor, Action: store.ActionTriage, Comment: comment})
}

// Resolve resolves an open or triaged alert: its dedup group ends, so the
// rule's next match opens a new alert. The destinations that were sent a
// trigger for it (or still have one to send) and close incidents
// (PagerDuty, Opsgenie) get a resolve notification, written in the same
// transaction.
func (t *Triage) Resolve(ctx context.Context, id, actor, comment string) (store.Alert, error) {
	n, err := t.resolveNotifications(ctx, id)
	if err != nil {
		return store.Alert{}, err
	}
	return t.change(ctx, store.AlertChange{AlertID: id, Actor: actor, Action: store.ActionResolve, Comment: comment, Notifications: n})
}

// Reopen opens a triaged or resolved alert again.
func (t *Triage) Reopen(ctx context.Context, id, actor, comment string) (store.Alert, error) {
	return t.change(ctx, store.AlertChange{AlertID: id, Actor: actor, Action: store.ActionReopen, Comment: comment})
}

// Assign gives the alert to assignee ("" unassigns it).
func (t *Triage) Assign(ctx context.Context, id, actor, assignee string) (store.Alert, error) {
	return t.change(ctx, store.AlertChange{AlertID: id, Actor: actor, Action: store.ActionAssign, Assignee: assignee})
}

// Comment adds a comment to the alert's history.
func (t *Triage) Comment(ctx context.Context, id, actor, text string) (store.Alert, error) {
	if text == "" {
		return store.Alert{}, fmt.Errorf("comment on alert %s: the comment is empty: give its text", id)
	}
	return t.change(ctx, store.AlertChange{AlertID: id, Actor: actor, Action: store.ActionComment, Comment: text})
}

func (t *Triage) change(ctx context.Context, c store.AlertChange) (store.Alert, error) {
	if c.Actor == "" {
		return store.Alert{}, fmt.Errorf("%s alert %s: no actor: say who does it", c.Action, c.AlertID)
	}
	a, err := t.cfg.Store.ChangeAlert(ctx, c)
	if err != nil {
		return store.Alert{}, fmt.Errorf("%s alert %s: %w", c.Action, c.AlertID, err)
	}
	t.cfg.Logger.Info("alert changed", "alert", a.ID, "action", c.Action, "actor", c.Actor, "status", a.Status)
	return a, nil
}

// resolveNotifications are the resolve notifications of alert id: one per
// destination that closes incidents, is enabled, and was sent a trigger
// (or has one pending; the deliver loop sends the resolve after it).
func (t *Triage) resolveNotifications(ctx context.Context, id string) ([]store.Notification, error) {
	sent, err := t.cfg.Store.ListNotifications(ctx, store.NotificationFilter{AlertID: id, Limit: 10000})
	if err != nil {
		return nil, fmt.Errorf("resolve alert %s: read its notifications: %w", id, err)
	}
	dests, err := t.cfg.Store.Destinations(ctx)
	if err != nil {
		return nil, fmt.Errorf("resolve alert %s: load destinations: %w", id, err)
	}
	byID := make(map[string]store.Destination, len(dests))
	for _, d := range dests {
		byID[d.ID] = d
	}
	var out []store.Notification
	done := map[string]bool{}
	for _, n := range sent {
		if n.Kind != store.NotifyTrigger || n.Status == store.NotificationFailed || done[n.DestinationID] {
			continue
		}
		d, ok := byID[n.DestinationID]
		if !ok || !d.Enabled || !TakesResolve(d.Type) {
			continue
		}
		done[d.ID] = true
		out = append(out, store.Notification{ID: t.cfg.NewID(), AlertID: id, DestinationID: d.ID, Kind: store.NotifyResolve})
	}
	return out, nil
}
