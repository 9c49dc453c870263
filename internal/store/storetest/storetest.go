// Package storetest is the behaviour suite every storage engine must pass,
// as river's riverdrivertest is for its drivers: one set of tests, run by
// each engine's own test with a function that opens a fresh store. It is
// split as the store is: RunSources, RunIngest, RunLake, RunAdmin,
// RunDetect, RunAlerts, RunLookups, RunDestinations, RunOutbox, RunTriage,
// RunHealth and RunCoordination; Run runs them all.
//
// Beyond the interfaces' comments, the suite pins down what a caller can
// rely on whatever the engine:
//   - times come back in UTC, equal (time.Time.Equal) to what went in at
//     microsecond precision;
//   - the store's own clock, never a caller's, stamps polls and creations
//     and fences leases: no caller can take over a live lease, or keep one
//     alive past its end, whatever time it believes; an expired one can be
//     claimed by anyone;
//   - an event is unique per (account, log type, event time, uuid): two
//     sources on one account, or a source deleted and created again, store
//     it once; CommitResult.Duplicates counts the events already stored for
//     that account. Event.Account, when empty, is the source's AccountUUID;
//     a source whose account is not known yet keeps its events apart from
//     every other source's;
//   - CreateSource keeps a given ID; UpdateSource applies a SourceChange
//     (settings, token, rename, log types, resuming stopped streams,
//     dropping cursors) all or nothing; a stream left out of the log types
//     is disabled, keeps its cursor and counts, and is never claimed by
//     ClaimStreams;
//   - Query returns p_event_time and p_parse_time as text in Panther's lake
//     format, "2006-01-02 15:04:05.000000000"; p_any_ columns and "json"
//     columns as JSON text; absent fields and JSON null as nil; it refuses
//     writes and the secret columns (sources.token, streams.cursor) with
//     store.ErrReadOnly, a second statement with another error, and stops
//     at ctx's deadline with an error wrapping context.DeadlineExceeded;
//   - a stream's LastError and LastErrorAt stay after a later success (the
//     status says whether the stream is failing now);
//   - EventsAfter never skips an event, even while pages are committed
//     concurrently; a CommitDetect stores all or nothing, and nothing when
//     the stage's stored position is not its From (ErrPositionMoved); a
//     match given twice counts once; rule state expires by the time the
//     caller passes (RuleState's now, DetectCommit.Now), never the store's
//     clock; alerts' CreatedAt and UpdatedAt are the store's clock, nil and
//     empty Destinations stay apart; a lookup load replaces all rows at
//     once and takes a version never given before;
//   - a CommitDetect is refused (ErrPositionMoved, nothing stored) when the
//     alert epoch moved since its Epoch; the epoch moves exactly when a
//     resolve (ChangeAlert) ends a dedup group, and a resolve ends every
//     group of its alert; other changes, and reopening, move neither;
//   - notifications are stored only with the commit that writes their alert
//     (CommitDetect, ChangeAlert, CreateSystemAlert): pending, due at once
//     by the store's clock unless NextAttemptAt says later, all or nothing;
//     one to a destination that does not exist is silently not stored;
//   - ClaimNotifications leases due pending rows, the longest due first,
//     counting an attempt per claim; a live lease is never taken, an
//     expired one is (a crashed deliverer's notification is sent again);
//     FinishNotification lands only while its owner holds a live lease by
//     the store's clock, else ErrLeaseLost and no change; a retry keeps the
//     caller's NextAttempt; DestinationStats counts by status and reports
//     the newest error;
//   - a destination's name is unique, its secret round-trips byte for byte
//     and Query refuses it as it refuses tokens; removing it drops its
//     pending notifications and keeps the sent and failed ones;
//   - triage moves open → triaged → resolved, reopens, assigns and comments
//     as AlertChange says, else ErrBadTransition with nothing changed; each
//     change and each creation (actor "opwatch") is one history entry,
//     oldest first even within one instant;
//   - CreateSystemAlert takes system errors about no rule: one unresolved
//     per dedup, whichever of several concurrent callers wins (the others
//     get ErrExists), again after a resolve; a reopen that would make two
//     is ErrExists; the detect stage's system errors (naming a rule) are
//     not held to it;
//   - PurgeAlerts deletes resolved alerts updated before the caller's cut,
//     with their matches, history and notifications, never their events;
//   - a source's TokenExpiresAt and NoEventsAlarm round-trip as given (0:
//     off); a stream's LastStoredAt is the store's time of the last commit
//     (CommitPage or InsertEvents) that inserted an event.
package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Clock is the store's clock during a test: the engine opens its store on
// Now, and the suite moves it. It starts at a fixed time.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	ignored bool
}

// Start is where every Clock starts.
var Start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newClock() *Clock { return &Clock{now: Start} }

// Now is the clock's time; safe for concurrent use.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Ignore tells the suite that the store keeps its own clock (a database
// server's now(), which a test cannot set): the cases that move the store's
// time or pin it exactly are skipped.
func (c *Clock) Ignore() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ignored = true
}

// moves says whether the store follows the suite's clock.
func (c *Clock) moves() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.ignored
}

// needClock skips a case that needs the store to follow the suite's clock.
func needClock(t *testing.T, c *Clock) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ignored {
		t.Skip("the store keeps its own clock")
	}
}

// Opener returns a new, empty store at the latest schema whose clock is
// clock.Now (or that calls clock.Ignore), and closes it when the test ends
// (t.Cleanup).
type Opener func(t *testing.T, clock *Clock) store.Store

type testCase struct {
	name string
	fn   func(t *testing.T, s store.Store, c *Clock)
}

// Run runs the whole suite.
func Run(t *testing.T, open Opener) {
	RunSources(t, open)
	RunIngest(t, open)
	RunLake(t, open)
	RunAdmin(t, open)
	RunDetect(t, open)
	RunAlerts(t, open)
	RunLookups(t, open)
	RunDestinations(t, open)
	RunOutbox(t, open)
	RunTriage(t, open)
	RunHealth(t, open)
	RunCoordination(t, open)
	RunAuth(t, open)
	RunIndicators(t, open)
	RunRetention(t, open)
	RunCompaction(t, open)
}

// RunAuth runs the cases of the Auth part: users, sessions and API tokens.
func RunAuth(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"UserCRUD", testUserCRUD},
		{"AuthUniqueNames", testAuthUniqueNames},
		{"SessionExpiry", testSessionExpiry},
		{"SessionCascade", testSessionCascade},
		{"Tokens", testTokens},
	})
}

// RunCoordination runs the cases of the Coordination part: heartbeats and
// stage leases.
func RunCoordination(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"Heartbeat", testHeartbeat},
		{"StageLease", testStageLease},
		{"StageLeaseRace", testStageLeaseRace},
	})
}

// RunSources runs the cases of the Sources part.
func RunSources(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"SourceCRUD", testSourceCRUD},
		{"CreateSourceGivenID", testCreateSourceGivenID},
		{"SourceDuplicateName", testSourceDuplicateName},
		{"SourceNotFound", testSourceNotFound},
		{"UpdateSource", testUpdateSource},
		{"UpdateSourceLogTypes", testUpdateSourceLogTypes},
		{"UpdateSourceResumeStopped", testUpdateSourceResumeStopped},
		{"UpdateSourceDropCursors", testUpdateSourceDropCursors},
		{"UpdateSourceAtomic", testUpdateSourceAtomic},
		{"SetSourceAccount", testSetSourceAccount},
		{"DeleteSourceKeepsEvents", testDeleteSourceKeepsEvents},
		{"StreamsPerLogType", testStreamsPerLogType},
		{"ResetStream", testResetStream},
	})
}

// RunIngest runs the cases of the Ingest part.
func RunIngest(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"ClaimDueOnly", testClaimDueOnly},
		{"ClaimSkipsStopped", testClaimSkipsStopped},
		{"ClaimSkipsDisabled", testClaimSkipsDisabled},
		{"ClaimLiveLeaseBlocks", testClaimLiveLeaseBlocks},
		{"LeaseOnStoreClock", testLeaseOnStoreClock},
		{"ClaimMax", testClaimMax},
		{"ClaimStream", testClaimStream},
		{"ExtendLease", testExtendLease},
		{"CommitPage", testCommitPage},
		{"CommitPageFencing", testCommitPageFencing},
		{"CommitPageAtomic", testCommitPageAtomic},
		{"Duplicates", testDuplicates},
		{"AccountKey", testAccountKey},
		{"AccountKeyRecreatedSource", testAccountKeyRecreatedSource},
		{"InsertEvents", testInsertEvents},
		{"LastEventAt", testLastEventAt},
		{"Quarantine", testQuarantine},
		{"FinishPollSuccess", testFinishPollSuccess},
		{"FinishPollFailure", testFinishPollFailure},
		{"FinishPollStopped", testFinishPollStopped},
		{"FinishPollCursorAndReconcile", testFinishPollCursorAndReconcile},
		{"FinishPollLeaseLost", testFinishPollLeaseLost},
		{"LargePage", testLargePage},
		{"ConcurrentPollers", testConcurrentPollers},
		{"ConcurrentCommitsOneStream", testConcurrentCommitsOneStream},
	})
}

// RunLake runs the cases of the Lake part.
func RunLake(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"Views", testViews},
		{"ViewsResync", testViewsResync},
		{"QueryRefusesWrites", testQueryRefusesWrites},
		{"QueryRefusesSecrets", testQueryRefusesSecrets},
		{"QueryOneStatement", testQueryOneStatement},
		{"QueryColumnsWithoutRows", testQueryColumnsWithoutRows},
		{"QueryDeadline", testQueryDeadline},
		{"QueryErrors", testQueryErrors},
		{"QueryCancelStress", testQueryCancelStress},
	})
}

// RunAdmin runs the cases of the Admin part.
func RunAdmin(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"SchemaVersion", testSchemaVersion},
	})
}

// RunDetect runs the cases of the Detect part: events by position,
// commits fenced by the stage's position, dedup groups and rule state.
func RunDetect(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"EventsAfter", testEventsAfter},
		{"EventsAfterFields", testEventsAfterFields},
		{"EventsAfterConcurrent", testEventsAfterConcurrent},
		{"CommitDetect", testCommitDetect},
		{"CommitDetectAtomic", testCommitDetectAtomic},
		{"PositionMoved", testPositionMoved},
		{"MatchCountedOnce", testMatchCountedOnce},
		{"DedupGroups", testDedupGroups},
		{"RuleStateTTL", testRuleStateTTL},
		{"RuleStates", testRuleStates},
		{"AlertsSince", testAlertsSince},
	})
}

// RunAlerts runs the cases of the Alerts part.
func RunAlerts(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"ListAlerts", testListAlerts},
		{"AlertRoundTrip", testAlertRoundTrip},
		{"AlertNotFound", testAlertNotFound},
	})
}

// RunDestinations runs the cases of the Destinations part.
func RunDestinations(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"DestinationCRUD", testDestinationCRUD},
		{"DestinationNames", testDestinationNames},
		{"DeleteDestinationKeepsRecord", testDeleteDestinationKeepsRecord},
		{"QueryRefusesDestinationSecret", testQueryRefusesDestinationSecret},
	})
}

// RunOutbox runs the cases of the outbox (the Deliver part, and
// CommitDetect's notifications).
func RunOutbox(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"OutboxCommit", testOutboxCommit},
		{"OutboxCommitAtomic", testOutboxCommitAtomic},
		{"ClaimNotifications", testClaimNotifications},
		{"ClaimNotificationsConcurrent", testClaimNotificationsConcurrent},
		{"FinishNotification", testFinishNotification},
		{"DestinationStats", testDestinationStats},
		{"NotificationUntried", testNotificationUntried},
	})
}

// RunTriage runs the cases of the Triage part, and of CreateSystemAlert.
func RunTriage(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"TriageTransitions", testTriageTransitions},
		{"TriageBadTransitions", testTriageBadTransitions},
		{"TriageNotifications", testTriageNotifications},
		{"ResolveEndsDedupGroup", testResolveEndsDedupGroup},
		{"SystemAlertOnce", testSystemAlertOnce},
		{"SystemAlertConcurrent", testSystemAlertConcurrent},
		{"PurgeAlerts", testPurgeAlerts},
		{"ListAlertsTriage", testListAlertsTriage},
	})
}

// RunHealth runs the cases of what the Health part reads.
func RunHealth(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"SourceHealthFields", testSourceHealthFields},
		{"LastStoredAt", testLastStoredAt},
		{"LatestSeq", testLatestSeq},
	})
}

// RunLookups runs the cases of the Lookups part.
func RunLookups(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"LookupLoadReplace", testLookupLoadReplace},
		{"LookupBounds", testLookupBounds},
		{"LookupMany", testLookupMany},
	})
}

func run(t *testing.T, open Opener, tests []testCase) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newClock()
			tt.fn(t, open(t, c), c)
		})
	}
}
