package store

import (
	"context"
	"time"
)

// CompactStage is the stage whose position bounds compaction: an event the
// detect stage has not evaluated yet stays in the hot table, where it reads
// fastest.
const CompactStage = "detect"

// Compaction is the part that keeps old events compressed (issue 11). The
// events stored before a point move, in seq order, into segments (package
// segment) of one log type each, compressed as a whole; the lake's readers
// do not tell the difference: EventsAfter, EventsBySeq, AlertEvents,
// SearchIndicator, the log-type views through Query, PurgeEvents and
// LakeStats see a compacted event as before, byte for byte, and it stays
// part of the unique key (storing it again is a duplicate).
type Compaction interface {
	// CompactEvents moves, in one transaction, up to max events into
	// segments: the oldest by seq that were stored (p_parse_time) before
	// storedBefore and are at or below CompactStage's position. It reports
	// what it moved; Events 0 means nothing is left to move. It never
	// blocks the writers of new events for longer than the transaction.
	CompactEvents(ctx context.Context, storedBefore time.Time, max int) (CompactResult, error)
	// ReclaimSpace gives the space that compaction and retention freed back
	// to the file system, as far as the engine can while others use the
	// database (SQLite: incremental vacuum, or a full VACUUM when full is
	// set, which holds the write lock throughout; PostgreSQL: VACUUM of
	// the lake's tables, VACUUM FULL of the hot events table when full).
	ReclaimSpace(ctx context.Context, full bool) error
}

// CompactResult is what one CompactEvents call moved.
type CompactResult struct {
	Events   int   // events moved into segments
	Segments int   // segments written
	RawBytes int64 // the raw bytes of those events
	Bytes    int64 // what their segments hold (compressed), as stored
}
