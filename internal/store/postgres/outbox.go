package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

const destinationColumns = `id, name, type, min_severity, alert_types, settings, secret, enabled, created_at, updated_at`

func scanDestination(row pgx.Row) (store.Destination, error) {
	var d store.Destination
	var types, settings *string
	err := row.Scan(textCol{&d.ID}, textCol{&d.Name}, textCol{&d.Type}, textCol{&d.MinSeverity}, &types, &settings,
		&d.Secret, &d.Enabled, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt})
	if err != nil {
		return d, err
	}
	if types != nil {
		if err := json.Unmarshal([]byte(dec(*types)), &d.AlertTypes); err != nil {
			return d, fmt.Errorf("destination %s: stored alert types: %w", d.Name, err)
		}
	}
	if settings != nil {
		d.Settings = json.RawMessage(dec(*settings))
	}
	return d, nil
}

// destinationArgs are the stored forms of d's settings: alert types as a
// JSON array (NULL for all), settings as JSON text (NULL for none), an empty
// secret as NULL.
func destinationArgs(d *store.Destination) (types, settings, secret any, err error) {
	if d.Name == "" {
		return nil, nil, nil, errors.New("the name is empty")
	}
	if d.Type == "" {
		return nil, nil, nil, fmt.Errorf("destination %q has no type", d.Name)
	}
	if len(d.AlertTypes) > 0 {
		b, err := json.Marshal(d.AlertTypes)
		if err != nil {
			return nil, nil, nil, err
		}
		types = string(b)
	}
	if len(d.Settings) > 0 {
		if !json.Valid(d.Settings) {
			return nil, nil, nil, fmt.Errorf("destination %q: its settings are not valid JSON", d.Name)
		}
		settings = enc(string(d.Settings))
	}
	return types, settings, bytesArg(d.Secret), nil
}

// CreateDestination stores d; it keeps a given ID (the caller seals the
// secret bound to it), else makes one.
func (s *Store) CreateDestination(ctx context.Context, d *store.Destination) error {
	types, settings, secret, err := destinationArgs(d)
	if err != nil {
		return fmt.Errorf("create destination: %w", err)
	}
	id := d.ID
	if id == "" {
		id = store.NewID()
	}
	var now time.Time
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		if now, err = s.now(ctx, tx); err != nil {
			return err
		}
		var taken string
		err := tx.QueryRow(ctx, `SELECT CASE WHEN id = $1 THEN 'id' ELSE 'name' END FROM destinations WHERE id = $1 OR name = $2`,
			enc(id), enc(d.Name)).Scan(&taken)
		switch {
		case err == nil && taken == "id":
			return fmt.Errorf("destination id %s: %w", id, store.ErrExists)
		case err == nil:
			return fmt.Errorf("destination %q: %w: choose another name", d.Name, store.ErrExists)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO destinations (id, name, type, min_severity, alert_types, settings, secret,
			enabled, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)`,
			enc(id), enc(d.Name), enc(d.Type), enc(d.MinSeverity), types, settings, secret, d.Enabled, now)
		if isUniqueViolation(err) {
			return fmt.Errorf("destination %q: %w: choose another name", d.Name, store.ErrExists)
		}
		return err
	})
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("create destination: %w", err)
		}
		return fmt.Errorf("create destination %q: %w", d.Name, err)
	}
	d.ID, d.CreatedAt, d.UpdatedAt = id, now, now
	return nil
}

// UpdateDestination replaces every setting of d.ID; CreatedAt stays.
func (s *Store) UpdateDestination(ctx context.Context, d store.Destination) error {
	types, settings, secret, err := destinationArgs(&d)
	if err != nil {
		return fmt.Errorf("update destination: %w", err)
	}
	var n int64
	err = s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE destinations SET name = $1, type = $2, min_severity = $3, alert_types = $4,
			settings = $5, secret = $6, enabled = $7, updated_at = $8 WHERE id = $9`,
			enc(d.Name), enc(d.Type), enc(d.MinSeverity), types, settings, secret, d.Enabled, now, enc(d.ID))
		n = tag.RowsAffected()
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("update destination: %q: %w: choose another name", d.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("update destination %q: %w", d.Name, err)
	}
	if n == 0 {
		return fmt.Errorf("update destination %s: %w", d.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteDestination removes the destination and its pending notifications
// in one transaction; its sent and failed ones stay as the alerts' record.
func (s *Store) DeleteDestination(ctx context.Context, id string) error {
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM destinations WHERE id = $1`, enc(id))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		_, err = tx.Exec(ctx, `DELETE FROM notifications WHERE destination_id = $1 AND status = 'pending'`, enc(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("delete destination %s: %w", id, err)
	}
	return nil
}

// DestinationByName returns one destination (store.ErrNotFound).
func (s *Store) DestinationByName(ctx context.Context, name string) (store.Destination, error) {
	d, err := scanDestination(s.pool.QueryRow(ctx, `SELECT `+destinationColumns+` FROM destinations WHERE name = $1`, enc(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("destination %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("read destination %q: %w", name, err)
	}
	return d, nil
}

// Destinations lists every destination by name.
func (s *Store) Destinations(ctx context.Context) ([]store.Destination, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+destinationColumns+` FROM destinations ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	ds, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Destination, error) { return scanDestination(r) })
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	return ds, nil
}

const notificationColumns = `id, alert_id, destination_id, kind, status, attempts, next_attempt_at, last_attempt_at,
	last_error, sent_at, created_at, lease_owner, lease_until`

func scanNotifications(rows pgx.Rows) ([]store.Notification, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Notification, error) {
		var n store.Notification
		err := r.Scan(textCol{&n.ID}, textCol{&n.AlertID}, textCol{&n.DestinationID}, &n.Kind, &n.Status, &n.Attempts,
			timeCol{&n.NextAttemptAt}, timeCol{&n.LastAttemptAt}, textCol{&n.LastError}, timeCol{&n.SentAt},
			timeCol{&n.CreatedAt}, textCol{&n.LeaseOwner}, timeCol{&n.LeaseUntil})
		return n, err
	})
}

// checkNotifications refuses what no engine could store, before a
// transaction starts.
func checkNotifications(ns []store.Notification) error {
	for i, n := range ns {
		switch {
		case n.ID == "":
			return fmt.Errorf("notification %d of %d has no id", i+1, len(ns))
		case n.AlertID == "" || n.DestinationID == "":
			return fmt.Errorf("notification %s names no alert or no destination", n.ID)
		case n.Kind != store.NotifyTrigger && n.Kind != store.NotifyResolve:
			return fmt.Errorf("notification %s: unknown kind %q (want %s or %s)", n.ID, n.Kind, store.NotifyTrigger, store.NotifyResolve)
		}
	}
	return nil
}

// notificationSteps write the outbox rows, pending and due at
// NextAttemptAt (now when zero). A notification to a destination that is
// gone (removed since the caller read the destinations) is not stored: it
// could never be sent, and a removed destination keeps no pending rows.
func notificationSteps(ns []store.Notification, now time.Time) []step {
	steps := make([]step, 0, len(ns))
	for _, n := range ns {
		due := now
		if !n.NextAttemptAt.IsZero() {
			due = floorMicro(n.NextAttemptAt)
		}
		n := n
		steps = append(steps, step{sql: `INSERT INTO notifications (id, alert_id, destination_id, kind, status, next_attempt_at, created_at)
			SELECT $1, $2, $3, $4, 'pending', $5, $6 WHERE EXISTS (SELECT 1 FROM destinations WHERE id = $3)`,
			args: []any{enc(n.ID), enc(n.AlertID), enc(n.DestinationID), n.Kind, due, now},
			fail: func(err error) error {
				switch {
				case isUniqueViolation(err):
					return fmt.Errorf("notification %s: %w", n.ID, store.ErrExists)
				case isForeignKeyViolation(err):
					return fmt.Errorf("notification %s: alert %s: %w", n.ID, n.AlertID, store.ErrNotFound)
				}
				return fmt.Errorf("notification %s: %w", n.ID, err)
			}})
	}
	return steps
}

// ClaimNotifications leases the pending rows due at the store's now and
// not under a live lease, the longest due first; FOR UPDATE SKIP LOCKED
// lets deliverers on several replicas claim at once, each row to one. A
// claim is an attempt: Attempts and LastAttemptAt move.
func (s *Store) ClaimNotifications(ctx context.Context, owner string, lease time.Duration, max int) ([]store.Notification, error) {
	if owner == "" {
		return nil, errors.New("claim notifications: the lease owner is empty")
	}
	if max <= 0 || lease <= 0 {
		return nil, nil
	}
	var ns []store.Notification
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `UPDATE notifications
			SET lease_owner = $1, lease_until = $2, attempts = attempts + 1, last_attempt_at = $3
			WHERE id IN (
				SELECT id FROM notifications
				WHERE status = 'pending' AND next_attempt_at <= $3 AND (lease_until IS NULL OR lease_until <= $3)
				ORDER BY next_attempt_at, created_at, id LIMIT $4
				FOR UPDATE SKIP LOCKED)
			RETURNING `+notificationColumns,
			enc(owner), now.Add(lease), now, max)
		if err != nil {
			return err
		}
		ns, err = scanNotifications(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	sort.Slice(ns, func(i, j int) bool {
		a, b := ns[i], ns[j]
		if !a.NextAttemptAt.Equal(b.NextAttemptAt) {
			return a.NextAttemptAt.Before(b.NextAttemptAt)
		}
		if !a.CreatedAt.Equal(b.CreatedAt) {
			return a.CreatedAt.Before(b.CreatedAt)
		}
		return a.ID < b.ID
	})
	return ns, nil
}

// FinishNotification ends an attempt and releases the lease, only while
// o.LeaseOwner holds a live lease by the store's clock: a deliverer whose
// lease ran out may have been overtaken by another, whose word counts.
func (s *Store) FinishNotification(ctx context.Context, o store.NotificationOutcome) error {
	if o.Sent && o.Failed {
		return fmt.Errorf("finish notification %s: an outcome cannot be both sent and failed", o.ID)
	}
	var n int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		var errAt any
		if o.Err != "" {
			errAt = now
		}
		const fence = ` WHERE id = $1 AND lease_owner = $2 AND $2 <> '' AND lease_until > $3 AND status = 'pending'`
		const lastError = `last_error = CASE WHEN $4 <> '' THEN $4 ELSE last_error END,
			last_error_at = coalesce($5, last_error_at), lease_owner = '', lease_until = NULL`
		args := []any{enc(o.ID), enc(o.LeaseOwner), now, enc(o.Err), errAt}
		var q string
		switch {
		case o.Sent:
			q = `UPDATE notifications SET status = 'sent', sent_at = $3, ` + lastError + fence
		case o.Failed:
			q = `UPDATE notifications SET status = 'failed', ` + lastError + fence
		default:
			next := now
			if !o.NextAttempt.IsZero() {
				next = floorMicro(o.NextAttempt)
			}
			q = `UPDATE notifications SET next_attempt_at = $6,
				attempts = CASE WHEN $7 AND attempts > 0 THEN attempts - 1 ELSE attempts END, ` + lastError + fence
			args = append(args, next, o.Untried)
		}
		tag, err := tx.Exec(ctx, q, args...)
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("finish notification %s: %w", o.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("finish notification %s: %w: %q no longer holds a live lease; it will be sent again",
			o.ID, store.ErrLeaseLost, o.LeaseOwner)
	}
	return nil
}

// ListNotifications returns the notifications f selects, newest first.
func (s *Store) ListNotifications(ctx context.Context, f store.NotificationFilter) ([]store.Notification, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	where, args := whereEqual(map[string]string{"alert_id": f.AlertID, "destination_id": f.DestinationID, "status": f.Status})
	args = append(args, limit)
	rows, err := s.pool.Query(ctx, `SELECT `+notificationColumns+` FROM notifications`+where+`
		ORDER BY created_at DESC, id COLLATE "C" DESC LIMIT $`+strconv.Itoa(len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	ns, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("list notifications: %w", err)
	}
	return ns, nil
}

// DestinationStats sums up the outbox of destination id (store.ErrNotFound
// when there is no such destination).
func (s *Store) DestinationStats(ctx context.Context, id string) (store.DestinationStats, error) {
	var st store.DestinationStats
	var one int
	err := s.pool.QueryRow(ctx, `SELECT 1 FROM destinations WHERE id = $1`, enc(id)).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("destination %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return st, fmt.Errorf("stats of destination %s: %w", id, err)
	}
	err = s.pool.QueryRow(ctx, `SELECT
			count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'sent'),
			count(*) FILTER (WHERE status = 'failed'), max(sent_at)
		FROM notifications WHERE destination_id = $1`, enc(id)).Scan(&st.Pending, &st.Sent, &st.Failed, timeCol{&st.LastSentAt})
	if err != nil {
		return st, fmt.Errorf("stats of destination %s: %w", id, err)
	}
	err = s.pool.QueryRow(ctx, `SELECT last_error, last_error_at FROM notifications
		WHERE destination_id = $1 AND last_error_at IS NOT NULL ORDER BY last_error_at DESC LIMIT 1`, enc(id)).
		Scan(textCol{&st.LastError}, timeCol{&st.LastErrorAt})
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return st, fmt.Errorf("stats of destination %s: %w", id, err)
	}
	return st, nil
}
