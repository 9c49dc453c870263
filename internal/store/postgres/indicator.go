package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

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
	args := []any{enc(prefix + key)}
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
	rows, err := s.pool.Query(ctx, `SELECT `+storedEventColumns+` FROM events e WHERE `+strings.Join(where, " AND ")+`
		ORDER BY e.p_event_time DESC, e.seq DESC LIMIT `+arg(q.Limit), args...)
	if err != nil {
		return nil, fmt.Errorf("search indicator: %w", err)
	}
	evs, err := pgx.CollectRows(rows, scanStoredEvent)
	if err != nil {
		return nil, fmt.Errorf("search indicator: %w", err)
	}
	return evs, nil
}
