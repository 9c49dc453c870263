package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opwatch/opwatch/internal/store"
)

const alertColumns = `id, type, rule_id, dedup, title, severity, status, context, description, reference, runbook,
	destinations, assignee, events, first_event_at, last_event_at, period_end, created_at, updated_at`

func scanAlert(row interface{ Scan(...any) error }) (store.Alert, error) {
	var a store.Alert
	var ctxJSON, dests sql.NullString
	err := row.Scan(&a.ID, &a.Type, &a.RuleID, &a.Dedup, &a.Title, &a.Severity, &a.Status, &ctxJSON,
		&a.Description, &a.Reference, &a.Runbook, &dests, &a.Assignee, &a.Events, timeCol{&a.FirstEventAt},
		timeCol{&a.LastEventAt}, timeCol{&a.PeriodEnd}, timeCol{&a.CreatedAt}, timeCol{&a.UpdatedAt})
	if err != nil {
		return a, err
	}
	if ctxJSON.Valid {
		a.Context = json.RawMessage(ctxJSON.String)
	}
	if dests.Valid {
		a.Destinations = []string{}
		if err := json.Unmarshal([]byte(dests.String), &a.Destinations); err != nil {
			return a, fmt.Errorf("alert %s: stored destinations: %w", a.ID, err)
		}
	}
	return a, nil
}

// ListAlerts returns the alerts f selects, newest first (by creation). The
// WHERE clause holds only the filters given, so that the planner can use the
// partial index of unresolved alerts.
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
	q := `SELECT ` + alertColumns + ` FROM alerts` + where
	rows, err := s.reader.QueryContext(ctx, q+` ORDER BY created_at DESC, rowid DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	defer rows.Close()
	var as []store.Alert
	for rows.Next() {
		a, err := scanAlert(rows)
		if err != nil {
			return nil, fmt.Errorf("list alerts: %w", err)
		}
		as = append(as, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list alerts: %w", err)
	}
	return as, nil
}

// Alert returns one alert by id (store.ErrNotFound).
func (s *Store) Alert(ctx context.Context, id string) (store.Alert, error) {
	a, err := scanAlert(s.reader.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
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
	if limit <= 0 {
		limit = -1
	}
	// The alert first: one purged between the two reads has no events, as
	// it would a moment later.
	var one int
	err := s.reader.QueryRowContext(ctx, `SELECT 1 FROM alerts WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("alert %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("events of alert %q: %w", id, err)
	}
	// The matches' positions, then their events a chunk at a time (hot or
	// compacted), until limit of them exist.
	rows, err := s.reader.QueryContext(ctx, `SELECT seq FROM alert_matches WHERE alert_id = ? ORDER BY seq`, id)
	if err != nil {
		return nil, fmt.Errorf("events of alert %q: %w", id, err)
	}
	var seqs []int64
	for rows.Next() {
		var seq int64
		if err := rows.Scan(&seq); err != nil {
			rows.Close()
			return nil, fmt.Errorf("events of alert %q: %w", id, err)
		}
		seqs = append(seqs, seq)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("events of alert %q: %w", id, err)
	}
	var evs []store.StoredEvent
	for len(seqs) > 0 && (limit < 0 || len(evs) < limit) {
		n := 1024
		if limit > 0 {
			n = min(n, limit-len(evs))
		}
		n = min(n, len(seqs))
		found, err := s.EventsBySeq(ctx, seqs[:n])
		if err != nil {
			return nil, fmt.Errorf("events of alert %q: %w", id, err)
		}
		evs = append(evs, found...)
		seqs = seqs[n:]
	}
	return evs, nil
}
