package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// systemActor is who created an alert, in its history.
const systemActor = "opwatch"

// addHistory appends one entry to an alert's history in tx.
func addHistory(ctx context.Context, tx *sql.Tx, h store.AlertHistory, now string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO alert_history (alert_id, at, actor, action, from_status, to_status, assignee, comment)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, h.AlertID, now, h.Actor, h.Action, h.FromStatus, h.ToStatus, h.Assignee, h.Comment)
	if err != nil {
		return fmt.Errorf("history of alert %s: %w", h.AlertID, err)
	}
	return nil
}

// transition is the status an action moves an alert from to, or why it
// cannot.
func transition(id, from string, c store.AlertChange) (string, error) {
	bad := func(what string) error {
		return fmt.Errorf("alert %s is %s: %w (%s)", id, from, store.ErrBadTransition, what)
	}
	switch c.Action {
	case store.ActionTriage:
		if from != store.AlertOpen {
			return "", bad("only an open alert can be triaged")
		}
		return store.AlertTriaged, nil
	case store.ActionResolve:
		if from == store.AlertResolved {
			return "", bad("it is resolved already")
		}
		return store.AlertResolved, nil
	case store.ActionReopen:
		if from == store.AlertOpen {
			return "", bad("it is open already")
		}
		return store.AlertOpen, nil
	case store.ActionAssign:
		return from, nil
	case store.ActionComment:
		if c.Comment == "" {
			return "", errors.New("a comment action needs a comment")
		}
		return from, nil
	}
	return "", fmt.Errorf("unknown triage action %q (want %s, %s, %s, %s or %s)", c.Action,
		store.ActionTriage, store.ActionResolve, store.ActionReopen, store.ActionAssign, store.ActionComment)
}

// ChangeAlert applies one triage action with its history entry and
// notifications in one transaction. Resolving ends the alert's dedup groups
// and, when it ended one, moves the alert epoch, so that a detect stage
// holding the group in memory reloads before it commits.
func (s *Store) ChangeAlert(ctx context.Context, c store.AlertChange) (store.Alert, error) {
	if err := checkNotifications(c.Notifications); err != nil {
		return store.Alert{}, fmt.Errorf("change alert %s: %w", c.AlertID, err)
	}
	var a store.Alert
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		cur, err := scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, c.AlertID))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("alert %q: %w", c.AlertID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		to, err := transition(cur.ID, cur.Status, c)
		if err != nil {
			return err
		}
		h := store.AlertHistory{AlertID: cur.ID, Actor: c.Actor, Action: c.Action, FromStatus: cur.Status, ToStatus: to,
			Comment: c.Comment}
		assignee := cur.Assignee
		if c.Action == store.ActionAssign {
			assignee, h.Assignee = c.Assignee, c.Assignee
		}
		now := timeText(s.now())
		_, err = tx.ExecContext(ctx, `UPDATE alerts SET status = ?, assignee = ?, updated_at = ? WHERE id = ?`,
			to, assignee, now, cur.ID)
		if isUniqueViolation(err) {
			return fmt.Errorf("alert %s: %w: its condition was raised again since it was resolved; triage that alert instead",
				cur.ID, store.ErrExists)
		}
		if err != nil {
			return err
		}
		if err := addHistory(ctx, tx, h, now); err != nil {
			return err
		}
		if to == store.AlertResolved && cur.Status != store.AlertResolved {
			res, err := tx.ExecContext(ctx, `DELETE FROM dedup_groups WHERE alert_id = ?`, cur.ID)
			if err != nil {
				return fmt.Errorf("end the dedup group: %w", err)
			}
			if n, _ := res.RowsAffected(); n > 0 {
				if err := bumpCounter(ctx, tx, alertEpoch); err != nil {
					return err
				}
			}
		}
		if err := insertNotifications(ctx, tx, c.Notifications, now); err != nil {
			return err
		}
		a, err = scanAlert(tx.QueryRowContext(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = ?`, cur.ID))
		return err
	})
	if err != nil {
		return store.Alert{}, fmt.Errorf("%s alert %s: %w", c.Action, c.AlertID, err)
	}
	return a, nil
}

// AlertHistory returns an alert's history, oldest first.
func (s *Store) AlertHistory(ctx context.Context, id string) ([]store.AlertHistory, error) {
	var one int
	err := s.reader.QueryRowContext(ctx, `SELECT 1 FROM alerts WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("alert %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("history of alert %q: %w", id, err)
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT alert_id, at, actor, action, from_status, to_status, assignee, comment
		FROM alert_history WHERE alert_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("history of alert %q: %w", id, err)
	}
	defer rows.Close()
	var hs []store.AlertHistory
	for rows.Next() {
		var h store.AlertHistory
		if err := rows.Scan(&h.AlertID, timeCol{&h.At}, &h.Actor, &h.Action, &h.FromStatus, &h.ToStatus, &h.Assignee, &h.Comment); err != nil {
			return nil, fmt.Errorf("history of alert %q: %w", id, err)
		}
		hs = append(hs, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history of alert %q: %w", id, err)
	}
	return hs, nil
}

// CreateSystemAlert stores a system error about no rule with its
// notifications. The partial unique index alerts_condition makes a second
// unresolved one of the same dedup impossible; the read before it only
// names the alert that holds the condition.
func (s *Store) CreateSystemAlert(ctx context.Context, a store.Alert, n []store.Notification) error {
	switch {
	case a.ID == "":
		return errors.New("create system alert: no id")
	case a.Type != store.AlertSystemError:
		return fmt.Errorf("create system alert %s: type %q, want %s", a.ID, a.Type, store.AlertSystemError)
	case a.RuleID != "":
		return fmt.Errorf("create system alert %s: it names rule %s; a rule's system errors come from the detect stage", a.ID, a.RuleID)
	case a.Dedup == "":
		return fmt.Errorf("create system alert %s: no dedup naming its condition", a.ID)
	case a.Status != "" && a.Status != store.AlertOpen:
		return fmt.Errorf("create system alert %s: status %q, a new alert is %s", a.ID, a.Status, store.AlertOpen)
	}
	if err := checkNotifications(n); err != nil {
		return fmt.Errorf("create system alert %s: %w", a.ID, err)
	}
	a.Status = store.AlertOpen
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var holder string
		err := tx.QueryRowContext(ctx, `SELECT id FROM alerts
			WHERE type = 'system_error' AND rule_id = '' AND dedup <> '' AND status <> 'resolved' AND dedup = ?`, a.Dedup).Scan(&holder)
		if err == nil {
			return fmt.Errorf("%w: alert %s holds condition %q until it is resolved", store.ErrExists, holder, a.Dedup)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		now := timeText(s.now())
		if err := insertAlerts(ctx, tx, []store.Alert{a}, now); err != nil {
			return err
		}
		return insertNotifications(ctx, tx, n, now)
	})
	if err != nil {
		return fmt.Errorf("create system alert %s: %w", a.ID, err)
	}
	return nil
}

// purgeBatch is how many alerts one transaction of PurgeAlerts deletes, so
// that a first purge of years of alerts does not hold the writer for long.
const purgeBatch = 500

// PurgeAlerts deletes resolved alerts last updated before before; their
// matches, history and notifications go with them (ON DELETE CASCADE). A
// dedup group still naming one (an alert stored resolved) ends too, and
// moves the epoch, so the detect stage never joins a deleted alert.
func (s *Store) PurgeAlerts(ctx context.Context, before time.Time) (int, error) {
	cut := timeText(before)
	total := 0
	for {
		var n int64
		err := s.withTx(ctx, func(tx *sql.Tx) error {
			const batch = `SELECT id FROM alerts WHERE status = 'resolved' AND updated_at < ? ORDER BY updated_at, id LIMIT ?`
			res, err := tx.ExecContext(ctx, `DELETE FROM dedup_groups WHERE alert_id IN (`+batch+`)`, cut, purgeBatch)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k > 0 {
				if err := bumpCounter(ctx, tx, alertEpoch); err != nil {
					return err
				}
			}
			if res, err = tx.ExecContext(ctx, `DELETE FROM alerts WHERE id IN (`+batch+`)`, cut, purgeBatch); err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("purge alerts resolved before %s (%d purged): %w", before.UTC().Format(time.RFC3339), total, err)
		}
		total += int(n)
		if n < purgeBatch {
			return total, nil
		}
	}
}
