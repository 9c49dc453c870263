package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// systemActor is who created an alert, in its history.
const systemActor = "opwatch"

// historyStep appends one entry to an alert's history.
func historyStep(h store.AlertHistory, now time.Time) step {
	return step{sql: `INSERT INTO alert_history (alert_id, at, actor, action, from_status, to_status, assignee, comment)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		args: []any{enc(h.AlertID), now, enc(h.Actor), enc(h.Action), enc(h.FromStatus), enc(h.ToStatus), enc(h.Assignee), enc(h.Comment)},
		fail: func(err error) error { return fmt.Errorf("history of alert %s: %w", h.AlertID, err) }}
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
// notifications in one transaction, the alert's row locked so that two
// changes of one alert (two replicas, two people) apply one after the
// other. Resolving ends the alert's dedup groups and, when it ended one,
// moves the alert epoch, so that a detect stage holding the group in memory
// reloads before it commits.
func (s *Store) ChangeAlert(ctx context.Context, c store.AlertChange) (store.Alert, error) {
	if err := checkNotifications(c.Notifications); err != nil {
		return store.Alert{}, fmt.Errorf("change alert %s: %w", c.AlertID, err)
	}
	var a store.Alert
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		if c.Action == store.ActionResolve {
			if err := lockEpoch(ctx, tx); err != nil {
				return err
			}
		}
		cur, err := scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1 FOR UPDATE`, enc(c.AlertID)))
		if errors.Is(err, pgx.ErrNoRows) {
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
		_, err = tx.Exec(ctx, `UPDATE alerts SET status = $1, assignee = $2, updated_at = $3 WHERE id = $4`,
			enc(to), enc(assignee), now, enc(cur.ID))
		if isUniqueViolation(err) {
			return fmt.Errorf("alert %s: %w: its condition was raised again since it was resolved; triage that alert instead",
				cur.ID, store.ErrExists)
		}
		if err != nil {
			return err
		}
		if to == store.AlertResolved && cur.Status != store.AlertResolved {
			tag, err := tx.Exec(ctx, `DELETE FROM dedup_groups WHERE alert_id = $1`, enc(cur.ID))
			if err != nil {
				return fmt.Errorf("end the dedup group: %w", err)
			}
			if tag.RowsAffected() > 0 {
				if _, err := bumpCounter(ctx, tx, alertEpoch); err != nil {
					return err
				}
			}
		}
		steps := append([]step{historyStep(h, now)}, notificationSteps(c.Notifications, now)...)
		if _, err := runSteps(ctx, tx, steps); err != nil {
			return err
		}
		a, err = scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, enc(cur.ID)))
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
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM alerts WHERE id = $1`, enc(id)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("alert %q: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("history of alert %q: %w", id, err)
	}
	rows, err := s.pool.Query(ctx, `SELECT alert_id, at, actor, action, from_status, to_status, assignee, comment
		FROM alert_history WHERE alert_id = $1 ORDER BY id`, enc(id))
	if err != nil {
		return nil, fmt.Errorf("history of alert %q: %w", id, err)
	}
	hs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.AlertHistory, error) {
		var h store.AlertHistory
		err := r.Scan(textCol{&h.AlertID}, timeCol{&h.At}, textCol{&h.Actor}, textCol{&h.Action}, textCol{&h.FromStatus},
			textCol{&h.ToStatus}, textCol{&h.Assignee}, textCol{&h.Comment})
		return h, err
	})
	if err != nil {
		return nil, fmt.Errorf("history of alert %q: %w", id, err)
	}
	return hs, nil
}

// CreateSystemAlert stores a system error about no rule with its
// notifications. The partial unique index alerts_condition makes a second
// unresolved one of the same dedup impossible, whichever replica tries; the
// read before it only names the alert that holds the condition.
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
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var holder string
		err := tx.QueryRow(ctx, `SELECT id FROM alerts
			WHERE type = 'system_error' AND rule_id = '' AND dedup <> '' AND status <> 'resolved' AND dedup = $1`,
			enc(a.Dedup)).Scan(textCol{&holder})
		if err == nil {
			return fmt.Errorf("%w: alert %s holds condition %q until it is resolved", store.ErrExists, holder, a.Dedup)
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		steps, err := alertSteps([]store.Alert{a}, now)
		if err != nil {
			return err
		}
		_, err = runSteps(ctx, tx, append(steps, notificationSteps(n, now)...))
		return err
	})
	if err != nil {
		return fmt.Errorf("create system alert %s: %w", a.ID, err)
	}
	return nil
}

// lockEpoch locks the alert epoch's row before a change that may move it,
// and before any alert's row: CommitDetect locks the epoch (shared) before
// the alerts it adds matches to, so taking them in the same order keeps a
// resolve and a detect commit from waiting on each other for good.
func lockEpoch(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SELECT 1 FROM counters WHERE name = $1 FOR UPDATE`, alertEpoch); err != nil {
		return fmt.Errorf("lock the alert epoch: %w", err)
	}
	return nil
}

// purgeBatch is how many alerts one transaction of PurgeAlerts deletes, so
// that a first purge of years of alerts holds no lock for long.
const purgeBatch = 500

// PurgeAlerts deletes resolved alerts last updated before before; their
// matches, history and notifications go with them (ON DELETE CASCADE). A
// dedup group still naming one ends too, and moves the epoch.
func (s *Store) PurgeAlerts(ctx context.Context, before time.Time) (int, error) {
	cut := ceilMicro(before)
	total := 0
	for {
		var n int64
		err := s.withTx(ctx, func(tx pgx.Tx) error {
			if err := lockEpoch(ctx, tx); err != nil {
				return err
			}
			var ids []string
			rows, err := tx.Query(ctx, `SELECT id FROM alerts WHERE status = 'resolved' AND updated_at < $1
				ORDER BY updated_at, id LIMIT $2 FOR UPDATE SKIP LOCKED`, cut, purgeBatch)
			if err != nil {
				return err
			}
			if ids, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `DELETE FROM dedup_groups WHERE alert_id = ANY ($1)`, ids)
			if err != nil {
				return err
			}
			if tag.RowsAffected() > 0 {
				if _, err := bumpCounter(ctx, tx, alertEpoch); err != nil {
					return err
				}
			}
			if tag, err = tx.Exec(ctx, `DELETE FROM alerts WHERE id = ANY ($1)`, ids); err != nil {
				return err
			}
			n = tag.RowsAffected()
			return nil
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
