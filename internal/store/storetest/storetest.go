// Package storetest is the behaviour suite every storage engine must pass,
// as river's riverdrivertest is for its drivers: one set of tests, run by
// each engine's own test with a function that opens a fresh store.
//
// Beyond the Store interface's comments, the suite pins down what a caller
// can rely on whatever the engine:
//   - times come back in UTC, equal (time.Time.Equal) to what went in at
//     microsecond precision;
//   - Query returns p_event_time and p_parse_time as text in Panther's lake
//     format, "2006-01-02 15:04:05.000000000"; p_any_ columns and "json"
//     columns as JSON text; absent fields and JSON null as nil;
//   - a stream's LastError and LastErrorAt stay after a later success (the
//     status says whether the stream is failing now).
package storetest

import (
	"testing"

	"github.com/opwatch/opwatch/internal/store"
)

// Run runs the suite. open must return a new, empty, migrated store for
// each call and close it when the test ends (t.Cleanup). Its clock must be
// the real one: streams are "due at once" at the time of CreateSource.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"SourceCRUD", testSourceCRUD},
		{"SourceDuplicateName", testSourceDuplicateName},
		{"SourceNotFound", testSourceNotFound},
		{"UpdateSource", testUpdateSource},
		{"DeleteSourceKeepsEvents", testDeleteSourceKeepsEvents},
		{"StreamsPerLogType", testStreamsPerLogType},
		{"ClaimDueOnly", testClaimDueOnly},
		{"ClaimSkipsStopped", testClaimSkipsStopped},
		{"ClaimLiveLeaseBlocks", testClaimLiveLeaseBlocks},
		{"ClaimMax", testClaimMax},
		{"ClaimStream", testClaimStream},
		{"ExtendLease", testExtendLease},
		{"CommitPage", testCommitPage},
		{"CommitPageFencing", testCommitPageFencing},
		{"CommitPageAtomic", testCommitPageAtomic},
		{"Duplicates", testDuplicates},
		{"InsertEvents", testInsertEvents},
		{"LastEventAt", testLastEventAt},
		{"Quarantine", testQuarantine},
		{"FinishPollSuccess", testFinishPollSuccess},
		{"FinishPollFailure", testFinishPollFailure},
		{"FinishPollStopped", testFinishPollStopped},
		{"FinishPollCursorAndReconcile", testFinishPollCursorAndReconcile},
		{"FinishPollLeaseLost", testFinishPollLeaseLost},
		{"ResetStream", testResetStream},
		{"Views", testViews},
		{"ViewsResync", testViewsResync},
		{"QueryRefusesWrites", testQueryRefusesWrites},
		{"QueryErrors", testQueryErrors},
		{"LargePage", testLargePage},
		{"ConcurrentPollers", testConcurrentPollers},
		{"ConcurrentCommitsOneStream", testConcurrentCommitsOneStream},
		{"QueryCancelStress", testQueryCancelStress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open(t))
		})
	}
}
