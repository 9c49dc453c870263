package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

var _ store.Indicators = (*Store)(nil)

// indicatorKeys are the keys an event is found by: 'e:' and each e-mail's
// key, 'i:' and each IP's (store.IndicatorKey), without repeats. A value
// that is no indicator of its kind has none.
func indicatorKeys(emails, ips []string) []string {
	var keys []string
	add := func(kind, prefix string, vals []string) {
		for _, v := range vals {
			if k, err := store.IndicatorKey(kind, v); err == nil && !slices.Contains(keys, prefix+k) {
				keys = append(keys, prefix+k)
			}
		}
	}
	add(store.IndicatorEmail, "e:", emails)
	add(store.IndicatorIP, "i:", ips)
	return keys
}

// SearchIndicator finds the events whose indicators hold q's key, newest
// first, through the GIN index on events.indicators; the time range and
// log types narrow the rows it reads, and the order comes from a sort of
// the matches (a busy indicator over a wide range sorts many).
func (s *Store) SearchIndicator(ctx context.Context, q store.IndicatorQuery) ([]store.StoredEvent, error) {
	if q.Limit <= 0 {
		return nil, errors.New("search indicator: the limit must be positive")
	}
	key, err := store.IndicatorKey(q.Kind, q.Value)
	if err != nil {
		return nil, fmt.Errorf("search indicator: %w", err)
	}
	prefix := "e:"
	if q.Kind == store.IndicatorIP {
		prefix = "i:"
	}
	where := []string{"e.indicators @> ARRAY[$1]::text[]"}
	args := []any{arrayElem(prefix + key)} // as stored (see joinArray)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if !q.From.IsZero() {
		where = append(where, "e.p_event_time >= "+arg(ceilMicro(q.From)))
	}
	if !q.To.IsZero() {
		where = append(where, "e.p_event_time < "+arg(ceilMicro(q.To)))
	}
	if len(q.LogTypes) > 0 {
		lts := make([]string, len(q.LogTypes))
		for i, lt := range q.LogTypes {
			lts[i] = enc(lt)
		}
		where = append(where, "e.log_type = ANY ("+arg(lts)+")")
	}
	if q.After != nil {
		where = append(where, "(e.p_event_time, e.seq) < ("+arg(floorMicro(q.After.EventTime))+"::timestamptz, "+arg(q.After.Seq)+"::bigint)")
	}
	hot := `SELECT ` + storedEventColumns + ` FROM events e WHERE ` + strings.Join(where, " AND ") + `
		ORDER BY e.p_event_time DESC, e.seq DESC LIMIT ` + arg(q.Limit)
	var evs []store.StoredEvent
	err = s.readSnapshot(ctx, func(tx pgx.Tx, below int64) error {
		rows, err := tx.Query(ctx, hot, args...)
		if err != nil {
			return err
		}
		if evs, err = pgx.CollectRows(rows, scanStoredEvent); err != nil {
			return err
		}
		if below > 0 {
			evs, err = coldIndicator(ctx, tx, q, prefix+key, evs)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("search indicator: %w", err)
	}
	return evs, nil
}

// coldIndicator adds to hits (q's hot matches, in q's order) the compacted
// ones: it reads the segments that name key (their indicators), newest
// max_t first, and keeps their events that match q, until limit hits are
// newer than the next segment's newest event.
func coldIndicator(ctx context.Context, tx pgx.Tx, q store.IndicatorQuery, key string, hits []store.StoredEvent) ([]store.StoredEvent, error) {
	where := []string{"s.indicators @> ARRAY[$1]::text[]"}
	args := []any{arrayElem(key)}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	from, to := ceilMicro(q.From), ceilMicro(q.To)
	if !q.From.IsZero() {
		where = append(where, "s.max_t >= "+arg(from))
	}
	if !q.To.IsZero() {
		where = append(where, "s.min_t < "+arg(to))
	}
	lts := map[string]bool{}
	if len(q.LogTypes) > 0 {
		enced := make([]string, len(q.LogTypes))
		for i, lt := range q.LogTypes {
			enced[i] = enc(lt)
			lts[lt] = true
		}
		where = append(where, "s.log_type = ANY ("+arg(enced)+")")
	}
	var afterT time.Time
	if q.After != nil {
		afterT = floorMicro(q.After.EventTime)
		where = append(where, "s.min_t <= "+arg(afterT))
	}
	// A page of segments at a time, by (max_t, id) descending.
	lastT, lastID := arg(nil), arg(nil)
	where = append(where, "("+lastT+"::timestamptz IS NULL OR (s.max_t, s.id) < ("+lastT+", "+lastID+"::bigint))")
	const page = 32
	sql := `SELECT s.id, s.max_t FROM event_segments s WHERE ` + strings.Join(where, " AND ") + ` ORDER BY s.max_t DESC, s.id DESC LIMIT ` + strconv.Itoa(page)
	keep := func(e *store.StoredEvent) bool {
		switch {
		case len(lts) > 0 && !lts[e.LogType],
			!q.From.IsZero() && e.EventTime.Before(from),
			!q.To.IsZero() && !e.EventTime.Before(to),
			q.After != nil && !(e.EventTime.Before(afterT) || e.EventTime.Equal(afterT) && e.Seq < q.After.Seq):
			return false
		}
		return slices.Contains(indicatorKeys(e.Emails, e.IPs), key)
	}
	newestFirst := func(a, b store.StoredEvent) int {
		return cmp.Or(b.EventTime.Compare(a.EventTime), cmp.Compare(b.Seq, a.Seq))
	}
	for {
		rows, err := tx.Query(ctx, sql, args...)
		if err != nil {
			return nil, err
		}
		refs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (segmentRef, error) {
			var ref segmentRef
			err := r.Scan(&ref.id, timeCol{&ref.maxT})
			return ref, err
		})
		if err != nil {
			return nil, err
		}
		for _, r := range refs {
			if len(hits) >= q.Limit && hits[q.Limit-1].EventTime.After(r.maxT) {
				return hits[:q.Limit], nil
			}
			evs, err := segmentData(ctx, tx, r.id)
			if err != nil {
				return nil, err
			}
			for i := range evs {
				if keep(&evs[i]) {
					hits = append(hits, evs[i])
				}
			}
			slices.SortFunc(hits, newestFirst)
			args[len(args)-2], args[len(args)-1] = r.maxT, r.id
		}
		if len(refs) < page {
			return hits[:min(q.Limit, len(hits))], nil
		}
	}
}
