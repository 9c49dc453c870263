package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// Destination types.
const (
	DestWebhook   = "webhook"
	DestSlack     = "slack"
	DestTeams     = "teams"
	DestPagerDuty = "pagerduty"
	DestOpsgenie  = "opsgenie"
	DestEmail     = "email"
)

// Destination is where notifications of alerts go.
type Destination struct {
	ID          string // set by the caller (NewID), so that Secret can be sealed bound to it
	Name        string // unique, user supplied
	Type        string // DestWebhook, ...
	MinSeverity string // INFO, LOW, MEDIUM, HIGH, CRITICAL: rule alerts below it are not sent
	// AlertTypes are the alert types it takes (AlertRule, AlertRuleError,
	// AlertSystemError); empty: all.
	AlertTypes []string
	Settings   json.RawMessage // the type's settings that are not secret, a JSON object
	Secret     []byte          // the type's secrets (URL with its key, HMAC secret, ...), sealed by package secret with Binding
	Enabled    bool
	CreatedAt  time.Time // set by the store
	UpdatedAt  time.Time // set by the store
}

// Binding is the additional data a destination's secret is sealed with: a
// secret moved to another destination, or to another type, cannot be opened.
func (d Destination) Binding() []byte {
	return []byte("opwatch destination secret v1\x00" + d.ID + "\x00" + d.Type)
}

// Notification kinds.
const (
	NotifyTrigger = "trigger" // a new alert
	NotifyResolve = "resolve" // the alert was resolved (PagerDuty, Opsgenie close theirs)
)

// Notification statuses.
const (
	NotificationPending = "pending" // to be sent (again) at NextAttemptAt
	NotificationSent    = "sent"
	NotificationFailed  = "failed" // gave up (retried for 24 h, or refused for good)
)

// Notification is one message of one alert to one destination: the outbox
// row, written in the transaction that creates (or resolves) the alert. One
// to a destination that no longer exists (removed since the caller read
// the destinations) is not stored: it could never be sent.
type Notification struct {
	// ID is set by the caller (NewID) and is the Idempotency-Key the
	// receiver sees, the same on every attempt.
	ID            string
	AlertID       string
	DestinationID string
	Kind          string // NotifyTrigger, NotifyResolve
	Status        string // NotificationPending on creation (the store sets it)
	Attempts      int
	NextAttemptAt time.Time // zero on creation: due at once (the store's now)
	LastAttemptAt time.Time
	LastError     string // what the receiver answered, or why it could not be reached
	SentAt        time.Time
	CreatedAt     time.Time // set by the store
	LeaseOwner    string
	LeaseUntil    time.Time
}

// NotificationOutcome ends one attempt of a claimed notification, fenced by
// its lease (ErrLeaseLost when owner no longer holds a live lease).
type NotificationOutcome struct {
	ID          string
	LeaseOwner  string
	Sent        bool      // delivered: status sent, SentAt = the store's now
	Failed      bool      // given up for good: status failed
	Err         string    // with neither: retry at NextAttemptAt
	NextAttempt time.Time // the next attempt (pending; zero: at once); ignored when Sent or Failed
	// Untried hands a pending notification back without having sent it
	// (its destination was busy, or the deliverer stopped): the claim's
	// attempt is taken back.
	Untried bool
}

// NotificationFilter selects notifications, newest first.
type NotificationFilter struct {
	AlertID       string
	DestinationID string
	Status        string
	Limit         int // 0: 100
}

// DestinationStats sums up a destination's outbox.
type DestinationStats struct {
	Pending, Sent, Failed int
	LastSentAt            time.Time
	LastError             string // of the newest failed attempt
	LastErrorAt           time.Time
}

// Triage actions, as kept in an alert's history.
const (
	ActionCreate  = "create" // written by the store with the alert
	ActionTriage  = "triage"
	ActionResolve = "resolve"
	ActionReopen  = "reopen"
	ActionAssign  = "assign"
	ActionComment = "comment"
)

// ErrBadTransition: the alert's status does not allow the action (resolve a
// resolved alert, triage a resolved one, reopen an open one).
var ErrBadTransition = errors.New("the alert's status does not allow this")

// AlertChange is one triage action on an alert. Status moves:
// open → triaged (ActionTriage), open|triaged → resolved (ActionResolve),
// resolved|triaged → open (ActionReopen). ActionAssign sets Assignee ("" to
// unassign), ActionComment adds Comment; neither moves the status.
type AlertChange struct {
	AlertID  string
	Actor    string // who did it (a user name, or "opwatch" for the health stage)
	Action   string
	Assignee string
	Comment  string // also allowed with the status actions
	// Notifications are written in the same transaction (resolve
	// notifications for the destinations that take them).
	Notifications []Notification
}

// AlertHistory is one entry of an alert's history, oldest first.
type AlertHistory struct {
	AlertID    string
	At         time.Time // the store's clock
	Actor      string
	Action     string
	FromStatus string
	ToStatus   string
	Assignee   string
	Comment    string
}

// Deliver is the part the deliver loop needs.
type Deliver interface {
	Destinations(ctx context.Context) ([]Destination, error)
	Alert(ctx context.Context, id string) (Alert, error)
	AlertEvents(ctx context.Context, id string, limit int) ([]StoredEvent, error)
	// ClaimNotifications leases up to max pending notifications that are
	// due (NextAttemptAt <= the store's now) and not held by a live lease,
	// the longest due first, to owner for lease. Attempts is incremented
	// and LastAttemptAt set: a claim is an attempt.
	ClaimNotifications(ctx context.Context, owner string, lease time.Duration, max int) ([]Notification, error)
	FinishNotification(ctx context.Context, o NotificationOutcome) error
	// CreateSystemAlert stores a system error with its notifications; see
	// Health.
	CreateSystemAlert(ctx context.Context, a Alert, n []Notification) error
	DestinationStats(ctx context.Context, id string) (DestinationStats, error)
}

// Destinations is the part that manages destinations (cli, console).
type Destinations interface {
	// CreateDestination stores d (CreatedAt, UpdatedAt set); ErrExists if
	// the name is taken.
	CreateDestination(ctx context.Context, d *Destination) error
	// UpdateDestination replaces every setting of d.ID (ErrNotFound;
	// ErrExists on a rename to a used name).
	UpdateDestination(ctx context.Context, d Destination) error
	// DeleteDestination removes it and its pending notifications; sent and
	// failed ones stay as the alerts' delivery record.
	DeleteDestination(ctx context.Context, id string) error
	DestinationByName(ctx context.Context, name string) (Destination, error)
	Destinations(ctx context.Context) ([]Destination, error)
	DestinationStats(ctx context.Context, id string) (DestinationStats, error)
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
}

// Triage is the part that changes alerts (cli, console, health).
type Triage interface {
	Alert(ctx context.Context, id string) (Alert, error)
	// ChangeAlert applies c in one transaction with a history entry and
	// returns the alert as it now is. ErrNotFound, ErrBadTransition.
	// Resolving an alert ends its dedup group, so the rule's next match of
	// that dedup string opens a new alert, and moves the alert epoch (see
	// Detect.AlertEpoch).
	ChangeAlert(ctx context.Context, c AlertChange) (Alert, error)
	AlertHistory(ctx context.Context, id string) ([]AlertHistory, error)
	ListNotifications(ctx context.Context, f NotificationFilter) ([]Notification, error)
	Destinations(ctx context.Context) ([]Destination, error)
	// PurgeAlerts deletes resolved alerts (with their matches, history and
	// notifications) last updated before before; it returns how many.
	PurgeAlerts(ctx context.Context, before time.Time) (int, error)
}

// Health is the part the source health stage needs.
type Health interface {
	ListSources(ctx context.Context) ([]Source, error)
	Streams(ctx context.Context, sourceID string) ([]Stream, error)
	Destinations(ctx context.Context) ([]Destination, error)
	ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	// CreateSystemAlert stores a system error (Type AlertSystemError, Status
	// open, no RuleID, a Dedup naming the condition) with its notifications,
	// in one transaction. ErrExists when such an alert of the same dedup is
	// not resolved: a condition is raised once, whichever replica sees it.
	// (The detect stage's system errors name their rule and are not held
	// to this: one per rule and hour.)
	CreateSystemAlert(ctx context.Context, a Alert, n []Notification) error
	ChangeAlert(ctx context.Context, c AlertChange) (Alert, error)
}
