package store

import (
	"context"
	"encoding/json"
	"errors"
	"time"
)

// ErrPositionMoved: a stage's commit found its stored position moved since
// it read (another runner of the stage committed): nothing was stored.
var ErrPositionMoved = errors.New("stage position moved: another runner committed first")

// StoredEvent is an event as the later stages read it, by its position.
type StoredEvent struct {
	Seq         int64
	Account     string
	SourceID    string
	LogType     string
	UUID        string
	EventTime   time.Time // p_event_time
	ParseTime   time.Time // p_parse_time
	RowID       string
	SourceLabel string
	IPs         []string
	Emails      []string
	Raw         []byte // read-only: an engine may hand out memory it shares
}

// Alert types.
const (
	AlertRule        = "rule"         // a rule matched
	AlertRuleError   = "rule_error"   // a rule failed to evaluate
	AlertSystemError = "system_error" // opwatch itself (limiter, source health, delivery)
)

// Alert statuses.
const (
	AlertOpen     = "open"
	AlertTriaged  = "triaged"
	AlertResolved = "resolved"
)

// Alert is one alert: a rule's matches grouped by dedup string within the
// rule's dedup period, or an error.
type Alert struct {
	ID           string // set by the caller (NewID)
	Type         string // AlertRule, AlertRuleError, AlertSystemError
	RuleID       string // "" for system errors not about a rule
	Dedup        string
	Title        string
	Severity     string          // INFO, LOW, MEDIUM, HIGH, CRITICAL
	Status       string          // AlertOpen on creation
	Context      json.RawMessage // alert_context, a JSON object; nil for none
	Description  string
	Reference    string
	Runbook      string
	Destinations []string // from destinations(); nil: route by severity
	Assignee     string   // triage; "" for none
	Events       int      // matches (the store counts them from AlertMatch rows)
	FirstEventAt time.Time
	LastEventAt  time.Time
	PeriodEnd    time.Time // matches before this join the alert (dedup period from its first match)
	CreatedAt    time.Time // set by the store
	UpdatedAt    time.Time // set by the store
}

// AlertMatch ties a matched event to its alert.
type AlertMatch struct {
	AlertID   string
	Seq       int64
	EventTime time.Time
}

// DedupGroup is the state of one dedup key (rule + dedup string) in its
// current period: matches counted towards the threshold, and the alert
// once the threshold is reached.
type DedupGroup struct {
	RuleID    string
	Dedup     string
	PeriodEnd time.Time // the period started at its first match
	AlertID   string    // "" while below the threshold
	Matches   int       // in this period
	Pending   []int64   // seqs matched before the threshold: they become the alert's events
}

// StateChange changes one value of a rule's persisted memory.
type StateChange struct {
	RuleID    string
	Key       string
	Value     []byte    // nil with Delete
	ExpiresAt time.Time // zero: never
	Delete    bool
}

// StateValue is one value of a rule's memory.
type StateValue struct {
	Value     []byte
	ExpiresAt time.Time
}

// DetectCommit is one batch of the detect stage, stored atomically with the
// stage's new position: a crash replays the batch exactly.
type DetectCommit struct {
	Stage   string // "detect"
	From    int64  // the position the batch was read after; ErrPositionMoved if no longer stored
	To      int64  // the new position (the last seq evaluated)
	Alerts  []Alert
	Matches []AlertMatch // for new and existing alerts; each alert's Events and LastEventAt follow
	Groups  []DedupGroup // upserted by (RuleID, Dedup)
	// DropGroups removes groups whose period ended (by RuleID, Dedup).
	DropGroups []DedupGroup
	State      []StateChange
	// Notifications of the new alerts (the outbox), written with them.
	Notifications []Notification
	// Epoch is the alert epoch the stage loaded its dedup groups at;
	// ErrPositionMoved when an alert was resolved since (its group ended).
	Epoch int64
	// Now, when set, purges the rule state that expired at Now (the time
	// the stage evaluated to, so a replay purges exactly the same); a value
	// expired but not yet purged is never returned by RuleState anyway.
	Now time.Time
}

// AlertFilter selects alerts, newest first.
type AlertFilter struct {
	Status     string // "" for all
	Unresolved bool   // open or triaged
	RuleID     string
	Type       string
	Dedup      string
	Severity   string
	Limit      int // 0: 100
}

// LookupTable is a user-loaded table that enriches events: the value of
// Selector (a dotted path in events of LogType) is looked up by the table's
// primary key, and the row lands in p_enrichment[Name][Selector].
type LookupTable struct {
	Name      string
	KeyColumn string
	LogType   string
	Selector  string
	Rows      int
	Version   int64 // changes whenever the rows change
	LoadedAt  time.Time
}

// Bounds of one lookup table: a user loads it, and the detect stage holds
// it in memory. LoadLookup refuses more with ErrLookupTooLarge.
const (
	MaxLookupRows     = 1_000_000
	MaxLookupBytes    = 128 << 20 // keys and rows together
	MaxLookupRowBytes = 64 << 10  // one row's JSON
	MaxLookupKeyBytes = 1 << 10
)

// ErrLookupTooLarge: a lookup table (or one of its rows) is over a bound.
var ErrLookupTooLarge = errors.New("lookup table too large")

// Detect is the part the detect stage needs.
type Detect interface {
	// EventsAfter returns up to limit events with seq > after, in seq order,
	// never one past a position a concurrent writer could still fill below.
	EventsAfter(ctx context.Context, after int64, limit int) ([]StoredEvent, error)
	// EventsBySeq returns the events of the given positions (for replays and
	// an alert's events), in seq order.
	EventsBySeq(ctx context.Context, seqs []int64) ([]StoredEvent, error)
	// Position is a stage's stored position (0 before its first commit).
	Position(ctx context.Context, stage string) (int64, error)
	// CommitDetect stores a batch and the new position in one transaction.
	CommitDetect(ctx context.Context, c DetectCommit) error
	// DedupGroups returns the stored groups (the stage keeps them in memory
	// between commits, and reloads them at start).
	DedupGroups(ctx context.Context) ([]DedupGroup, error)
	// RuleState reads one value of a rule's memory; ok is false when it is
	// absent or expired at now.
	RuleState(ctx context.Context, ruleID, key string, now time.Time) (v StateValue, ok bool, err error)
	// LookupTables lists the loaded tables; LookupRows returns a table's
	// rows by key (the stage caches them by Version).
	LookupTables(ctx context.Context) ([]LookupTable, error)
	LookupRows(ctx context.Context, name string) (map[string]json.RawMessage, error)
	// RuleStates calls fn with every value of the rules' memory live at
	// now, up to max of them; complete is false when there were more.
	RuleStates(ctx context.Context, now time.Time, max int, fn func(ruleID, key string, v StateValue)) (complete bool, err error)
	// AlertEpoch moves whenever a resolve ends a dedup group behind the
	// stage's back (see DetectCommit.Epoch).
	AlertEpoch(ctx context.Context) (int64, error)
	// LatestSeq is the highest seq stored (0 for none): the stage's lag is
	// LatestSeq - Position.
	LatestSeq(ctx context.Context) (int64, error)
	// Alerts counts rule alerts created at or after since (the limiter).
	AlertsSince(ctx context.Context, ruleID string, since time.Time) (int, error)
}

// Alerts is the part that reads alerts (cli, console).
type Alerts interface {
	ListAlerts(ctx context.Context, f AlertFilter) ([]Alert, error)
	Alert(ctx context.Context, id string) (Alert, error)
	// AlertEvents returns an alert's matched events, in seq order.
	AlertEvents(ctx context.Context, id string, limit int) ([]StoredEvent, error)
}

// Lookups is the part that loads lookup tables.
type Lookups interface {
	// LoadLookup replaces the rows of table t (created if new) in one
	// transaction; t.Version and LoadedAt are set by the store.
	LoadLookup(ctx context.Context, t LookupTable, rows map[string]json.RawMessage) error
	DeleteLookup(ctx context.Context, name string) error
	LookupTables(ctx context.Context) ([]LookupTable, error)
}
