package postgres

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// ScanEvents reads a log type's events in a time range: the segments that
// overlap it, then the hot rows by events_key (log type and time lead it),
// a page at a time, all in one snapshot.
func (s *Store) ScanEvents(ctx context.Context, logType string, from, to time.Time, maxSeq int64, fn func(*store.StoredEvent) error) error {
	if !from.Before(to) {
		return nil
	}
	lo, hi := ceilMicro(from), ceilMicro(to) // t >= from and t < to, for a stored (microsecond) t
	err := s.readSnapshot(ctx, func(tx pgx.Tx, below int64) error {
		if below > 0 {
			rows, err := tx.Query(ctx, `SELECT id FROM event_segments
				WHERE log_type = $1 AND max_t >= $2 AND min_t < $3 AND min_seq <= $4 ORDER BY max_t, id`, enc(logType), lo, hi, maxSeq)
			if err != nil {
				return err
			}
			ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
			if err != nil {
				return err
			}
			for _, id := range ids {
				evs, err := segmentData(ctx, tx, id)
				if err != nil {
					return err
				}
				for i := range evs {
					e := &evs[i]
					if !e.EventTime.Before(lo) && e.EventTime.Before(hi) && e.Seq <= maxSeq {
						if err := fn(e); err != nil {
							return err
						}
					}
				}
			}
		}
		// Keyset pages by (p_event_time, seq): a page bounds what is held.
		const page = 4096
		afterT, afterSeq := lo, int64(-1)
		for {
			rows, err := tx.Query(ctx, `SELECT `+storedEventColumns+` FROM events e
				WHERE e.log_type = $1 AND e.p_event_time >= $2 AND e.p_event_time < $3 AND (e.p_event_time, e.seq) > ($4, $5)
					AND e.seq <= $6
				ORDER BY e.p_event_time, e.seq LIMIT `+strconv.Itoa(page), enc(logType), lo, hi, afterT, afterSeq, maxSeq)
			if err != nil {
				return err
			}
			evs, err := pgx.CollectRows(rows, scanStoredEvent)
			if err != nil {
				return err
			}
			for i := range evs {
				if err := fn(&evs[i]); err != nil {
					return err
				}
			}
			if len(evs) < page {
				return nil
			}
			last := evs[len(evs)-1]
			afterT, afterSeq = last.EventTime, last.Seq
		}
	})
	if err != nil {
		return fmt.Errorf("read the %s events from %s to %s: %w", logType, from.UTC().Format(time.RFC3339), to.UTC().Format(time.RFC3339), err)
	}
	return nil
}
