package metrics

import (
	"context"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// StreamReader is the part of the store the streams collector reads.
type StreamReader interface {
	ListSources(ctx context.Context) ([]store.Source, error)
	Streams(ctx context.Context, sourceID string) ([]store.Stream, error)
}

// OutboxReader is the part of the store the outbox collector reads.
type OutboxReader interface {
	Destinations(ctx context.Context) ([]store.Destination, error)
	DestinationStats(ctx context.Context, id string) (store.DestinationStats, error)
}

// PositionReader is the part of the store the detect lag collector reads.
type PositionReader interface {
	// Position is a stage's stored position (0 before its first commit).
	Position(ctx context.Context, stage string) (int64, error)
	// LatestSeq is the position of the newest stored event.
	LatestSeq(ctx context.Context) (int64, error)
}

// CollectStreams reads every stream at each scrape (collector "streams"):
// the store's event and quarantine totals, the ages of the last success,
// the newest event and the last insert, how overdue the next poll is, the
// failures in a row and the status. Ages of a stream that never had the
// thing count from its source's creation, so a stream that never worked
// ages too. Streams that are not collected only give their totals.
func (m *Opwatch) CollectStreams(s StreamReader) {
	r := m.reg
	labels := []string{"source", "log_type"}
	events := r.ScrapedCounter("opwatch_stream_events_total",
		"Events stored for the stream, all time, by every replica (from the store).", labels...)
	quarantined := r.ScrapedCounter("opwatch_stream_quarantined_total",
		"Events quarantined for the stream, all time (from the store).", labels...)
	success := r.ScrapedGauge("opwatch_stream_last_success_age_seconds",
		"Seconds since the stream's last successful poll (since its source's creation if none).", labels...)
	event := r.ScrapedGauge("opwatch_stream_last_event_age_seconds",
		"Seconds since the timestamp of the newest event stored for the stream (since its source's creation if none).", labels...)
	stored := r.ScrapedGauge("opwatch_stream_last_stored_age_seconds",
		"Seconds since an event was last stored for the stream, by ingest time (since its source's creation if never).", labels...)
	overdue := r.ScrapedGauge("opwatch_stream_poll_overdue_seconds",
		"Seconds the stream's next poll is overdue (0 when on schedule; stopped streams are not polled).", labels...)
	failures := r.ScrapedGauge("opwatch_stream_consecutive_failures", "Failed polls in a row.", labels...)
	status := r.ScrapedGauge("opwatch_stream_status",
		"1 for the stream's status (ok, error, stopped), 0 for the others.", "source", "log_type", "status")
	r.Collect("streams", func(ctx context.Context, e *Emitter) error {
		srcs, err := s.ListSources(ctx)
		if err != nil {
			return fmt.Errorf("list sources: %w", err)
		}
		byID := make(map[string]store.Source, len(srcs))
		for _, src := range srcs {
			byID[src.ID] = src
		}
		streams, err := s.Streams(ctx, "")
		if err != nil {
			return fmt.Errorf("list streams: %w", err)
		}
		now := m.now()
		for _, st := range streams {
			src, ok := byID[st.SourceID]
			name := src.Name
			if !ok {
				name = st.SourceID // removed since the sources were listed
			}
			e.Set(events, float64(st.Events), name, st.LogType)
			e.Set(quarantined, float64(st.Quarantined), name, st.LogType)
			if !st.Enabled {
				continue
			}
			e.Set(success, age(now, st.LastSuccessAt, src.CreatedAt), name, st.LogType)
			e.Set(event, age(now, st.LastEventAt, src.CreatedAt), name, st.LogType)
			e.Set(stored, age(now, st.LastStoredAt, src.CreatedAt), name, st.LogType)
			late := 0.0
			if st.Status != store.StreamStopped && !st.NextPollAt.IsZero() {
				late = max(0, now.Sub(st.NextPollAt).Seconds())
			}
			e.Set(overdue, late, name, st.LogType)
			e.Set(failures, float64(st.ConsecutiveFailures), name, st.LogType)
			for _, s := range []string{store.StreamOK, store.StreamError, store.StreamStopped} {
				v := 0.0
				if st.Status == s || (s == store.StreamOK && st.Status == "") {
					v = 1
				}
				e.Set(status, v, name, st.LogType, s)
			}
		}
		return nil
	})
}

// age is the seconds from t (or, when zero, from since) to now; 0 for a
// time in the future (an event's timestamp is the sender's word) or when
// both are unknown.
func age(now, t, since time.Time) float64 {
	if t.IsZero() {
		t = since
	}
	if t.IsZero() {
		return 0
	}
	return max(0, now.Sub(t).Seconds())
}

// CollectOutbox reads every destination's outbox at each scrape
// (collector "outbox"): its pending, sent and failed notifications.
func (m *Opwatch) CollectOutbox(s OutboxReader) {
	r := m.reg
	notes := r.ScrapedGauge("opwatch_notifications",
		"Notifications in the outbox per destination and status (pending, sent, failed; from the store).", "destination", "status")
	r.Collect("outbox", func(ctx context.Context, e *Emitter) error {
		dests, err := s.Destinations(ctx)
		if err != nil {
			return fmt.Errorf("list destinations: %w", err)
		}
		for _, d := range dests {
			st, err := s.DestinationStats(ctx, d.ID)
			if err != nil {
				return fmt.Errorf("outbox of destination %s: %w", d.ID, err)
			}
			e.Set(notes, float64(st.Pending), d.Name, store.NotificationPending)
			e.Set(notes, float64(st.Sent), d.Name, store.NotificationSent)
			e.Set(notes, float64(st.Failed), d.Name, store.NotificationFailed)
		}
		return nil
	})
}

// CollectDetectLag reads the detect stage's position and the newest
// event's at each scrape (collector "detect").
func (m *Opwatch) CollectDetectLag(s PositionReader) {
	r := m.reg
	position := r.ScrapedGauge("opwatch_detect_position", "The last event position the detect stage committed.")
	latest := r.ScrapedGauge("opwatch_events_latest_seq", "The position of the newest stored event.")
	lag := r.ScrapedGauge("opwatch_detect_lag_events", "Stored events the detect stage has not evaluated yet.")
	r.Collect("detect", func(ctx context.Context, e *Emitter) error {
		pos, err := s.Position(ctx, "detect")
		if err != nil {
			return fmt.Errorf("detect position: %w", err)
		}
		seq, err := s.LatestSeq(ctx)
		if err != nil {
			return fmt.Errorf("latest event position: %w", err)
		}
		e.Set(position, float64(pos))
		e.Set(latest, float64(seq))
		e.Set(lag, float64(max(0, seq-pos)))
		return nil
	})
}
