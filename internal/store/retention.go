package store

import (
	"context"
	"time"
)

// RetentionStage is the stage whose position bounds what retention may
// delete: an event the detect stage has not evaluated yet is kept, however
// old, so that a backfill of old events is still detected.
const RetentionStage = "detect"

// Retention is the part that deletes events past their retention period,
// and reports what the lake holds.
type Retention interface {
	// PurgeEvents deletes, in one transaction, up to batch events of
	// logType whose p_event_time is before before, oldest first, and
	// returns how many it deleted (fewer than batch: none are left). It
	// never deletes an event that an open or triaged alert points at
	// (alert_matches), one a dedup group whose period has not ended (by
	// the store's clock) holds below its threshold, or one
	// after RetentionStage's position (not evaluated yet). Whatever the
	// engine keeps beside an event (the indicator index) goes with it;
	// alert_matches rows stay: they are their alert's record, purged with
	// it. Compacted events go a segment at a time (the whole segment past
	// before), so one kept for an alert keeps its segment's neighbours.
	PurgeEvents(ctx context.Context, logType string, before time.Time, batch int) (int, error)
	// PurgeQuarantine deletes, in one transaction, up to batch quarantined
	// events stored before before, oldest first. The streams' counts of
	// quarantined events stay as they were (they count what was received).
	PurgeQuarantine(ctx context.Context, before time.Time, batch int) (int, error)
	// LakeStats reports what the lake holds by log type and source, with
	// the events whose p_event_time is at or after recentSince counted
	// apart (the current rate).
	LakeStats(ctx context.Context, recentSince time.Time) (LakeStats, error)
}

// LakeStats is what the lake holds.
type LakeStats struct {
	Groups     []LakeGroup // by log type, then source id
	Quarantine LakeGroup   // LogType and SourceID empty; Recent* zero
	// StoredBytes is what the events take on disk with everything kept
	// beside them, as the engine measures it (SQLite: the database file's
	// size, free pages included; PostgreSQL: the events table with its indexes and
	// TOAST); 0 when the engine cannot tell.
	StoredBytes int64
	// Compacted is the events held in compressed segments (Compaction),
	// also counted in Groups; CompactedBytes what their segments hold.
	Compacted      int64
	CompactedBytes int64
}

// LakeGroup is the events of one log type from one source.
type LakeGroup struct {
	LogType     string
	SourceID    string
	SourceLabel string // p_source_label of its newest event
	Events      int64
	RawBytes    int64     // the raw events' bytes, as received
	Oldest      time.Time // p_event_time (quarantine: stored at)
	Newest      time.Time
	Recent      int64 // events at or after LakeStats' recentSince
	RecentBytes int64 // their raw bytes
}
