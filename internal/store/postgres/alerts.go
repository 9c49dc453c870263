package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

const alertColumns = `id, type, rule_id, dedup, title, severity, status, context, description, reference, runbook,
	destinations, assignee, events, first_event_at, last_event_at, period_end, created_at, updated_at`

func scanAlert(row pgx.Row) (store.Alert, error) {
	var a store.Alert
	var ctxJSON, dests *string
	err := row.Scan(textCol{&a.ID}, textCol{&a.Type}, textCol{&a.RuleID}, textCol{&a.Dedup}, textCol{&a.Title},
		textCol{&a.Severity}, textCol{&a.Status}, &ctxJSON, textCol{&a.Description}, textCol{&a.Reference},
		textCol{&a.Runbook}, &dests, textCol{&a.Assignee}, &a.Events, timeCol{&a.FirstEventAt},
		timeCol{&a.LastEventAt}, timeCol{&a.PeriodEnd}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if err != nil {
		return a, err
	}
	if ctxJSON != nil {
		a.Context = json.RawMessage(dec(*ctxJSON))
	}
	if dests != nil {
		a.Destinations = []string{}
		if err := json.Unmarshal([]byte(dec(*dests)), &a.Destinations); err != nil {
			return a, fmt.Errorf("alert %s: stored destinations: %w", a.ID, err)
		}
	}
	return a, nil
}

func scanAlerts(rows pgx.Rows) ([]store.Alert, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Alert, error) { return scanAlert(r) })
}

// whereEqual is a WHERE clause holding "column = $n" for each value given
// ("" for none), in column order, so that the planner sees only the
// filters that apply and can use their indexes (partial ones too).
func whereEqual(eq map[string]string) (string, []any) {
	cols := make([]string, 0, len(eq))
	for c, v := range eq {
		if v != "" {
			cols = append(cols, c)
		}
	}
	sort.Strings(cols)
	args := make([]any, len(cols))
	for i, c := range cols {
		args[i] = enc(eq[c])
		cols[i] += " = $" + strconv.Itoa(i+1)
	}
	if len(cols) == 0 {
		return "", nil
	}
	return " WHERE " + strings.Join(cols, " AND "), args
}

// ListAlerts returns the alerts f selects, newest first (by creation).
func (s *Store) ListAlerts(ctx context.Context, f store.AlertFilter) ([]store.Alert, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := whereEqual(map[string]string{"status": f.Status, "rule_id": f.RuleID, "type": f.Type,
		"dedup": f.Dedup, "severity": f.Severity})
	if f.Unresolved {
		if where == "" {
			where = " WHERE"
		} else {
			where += " AND"
		}
		where += " status <> 'resolved'"
	}
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts`+where+
		` ORDER BY created_at DESC, ord DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	as, err := scanAlerts(rows)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return as, nil
}

// Alert returns one alert by id (store.ErrNotFound).
func (s *Store) Alert(ctx context.Context, id string) (store.Alert, error) {
	a, err := scanAlert(s.pool.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, enc(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Alert{}, fmt.Errorf("alert %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return store.Alert{}, fmt.Errorf("alert %q: %w", id, err)
	}
	return a, nil
}

// AlertEvents returns up to limit (0: all) of an alert's matched events, in
// seq order; store.ErrNotFound when there is no such alert.
func (s *Store) AlertEvents(ctx context.Context, id string, limit int) ([]store.StoredEvent, error) {
	// The alert first: one purged between the two reads has no events, as
	// it would a moment later. Its matches below the compaction boundary
	// are read from the segments, in the same snapshot.
	var evs []store.StoredEvent
	err := s.readSnapshot(ctx, func(tx pgx.Tx, below int64) error {
		var one int
		if err := tx.QueryRow(ctx, `SELECT 1 FROM alerts WHERE id = $1`, enc(id)).Scan(&one); err != nil {
			return err
		}
		var cold []int64
		rows, err := tx.Query(ctx, `SELECT seq FROM alert_matches WHERE alert_id = $1 AND seq < $2 ORDER BY seq`, enc(id), below)
		if err == nil {
			cold, err = pgx.CollectRows(rows, pgx.RowTo[int64])
		}
		if err != nil {
			return err
		}
		if evs, err = coldEventsBySeq(ctx, tx, cold, limit); err != nil {
			return err
		}
		if limit > 0 && len(evs) >= limit {
			return nil
		}
		var lim any
		if limit > 0 {
			lim = limit - len(evs)
		}
		rows, err = tx.Query(ctx, `SELECT `+storedEventColumns+` FROM alert_matches m
			JOIN events e ON e.seq = m.seq WHERE m.alert_id = $1 AND m.seq >= $2 ORDER BY m.seq LIMIT $3`, enc(id), below, lim)
		if err != nil {
			return err
		}
		hot, err := pgx.CollectRows(rows, scanStoredEvent)
		evs = append(evs, hot...)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("alert %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("events of alert %q: %w", id, err)
	}
	return evs, nil
}
