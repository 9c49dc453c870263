package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opwatch/opwatch/internal/store"
)

const destinationColumns = `id, name, type, min_severity, alert_types, settings, secret, enabled, created_at, updated_at`

func scanDestination(row interface{ Scan(...any) error }) (store.Destination, error) {
	var d store.Destination
	var types, settings sql.NullString
	err := row.Scan(&d.ID, &d.Name, &d.Type, &d.MinSeverity, &types, &settings, &d.Secret, &d.Enabled,
		timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt})
	if err != nil {
		return d, err
	}
	if types.Valid {
		if err := json.Unmarshal([]byte(types.String), &d.AlertTypes); err != nil {
			return d, fmt.Errorf("destination %s: stored alert types: %w", d.Name, err)
		}
	}
	if settings.Valid {
		d.Settings = json.RawMessage(settings.String)
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
		settings = string(d.Settings)
	}
	return types, settings, tokenArg(d.Secret), nil
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
	now := s.now().UTC()
	err = s.withTx(ctx, func(tx *sql.Tx) error {
		var taken string
		err := tx.QueryRowContext(ctx, `SELECT CASE WHEN id = ? THEN 'id' ELSE 'name' END FROM destinations WHERE id = ? OR name = ?`,
			id, id, d.Name).Scan(&taken)
		switch {
		case err == nil && taken == "id":
			return fmt.Errorf("destination id %s: %w", id, store.ErrExists)
		case err == nil:
			return fmt.Errorf("destination %q: %w: choose another name", d.Name, store.ErrExists)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO destinations (id, name, type, min_severity, alert_types, settings, secret,
			enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, d.Name, d.Type, d.MinSeverity, types, settings, secret, d.Enabled, timeText(now), timeText(now))
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
	res, err := s.exec(ctx, `UPDATE destinations SET name = ?, type = ?, min_severity = ?, alert_types = ?, settings = ?,
		secret = ?, enabled = ?, updated_at = ? WHERE id = ?`,
		d.Name, d.Type, d.MinSeverity, types, settings, secret, d.Enabled, timeText(s.now()), d.ID)
	if isUniqueViolation(err) {
		return fmt.Errorf("update destination: %q: %w: choose another name", d.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("update destination %q: %w", d.Name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("update destination %s: %w", d.ID, store.ErrNotFound)
	}
	return nil
}

// DeleteDestination removes the destination and its pending notifications
// in one transaction; its sent and failed ones stay as the alerts' record.
func (s *Store) DeleteDestination(ctx context.Context, id string) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM destinations WHERE id = ?`, id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM notifications WHERE destination_id = ? AND status = 'pending'`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete destination %s: %w", id, err)
	}
	return nil
}

// DestinationByName returns one destination (store.ErrNotFound).
func (s *Store) DestinationByName(ctx context.Context, name string) (store.Destination, error) {
	d, err := scanDestination(s.reader.QueryRowContext(ctx, `SELECT `+destinationColumns+` FROM destinations WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("destination %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return d, fmt.Errorf("read destination %q: %w", name, err)
	}
	return d, nil
}

// Destinations lists every destination by name.
func (s *Store) Destinations(ctx context.Context) ([]store.Destination, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+destinationColumns+` FROM destinations ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	defer rows.Close()
	var ds []store.Destination
	for rows.Next() {
		d, err := scanDestination(rows)
		if err != nil {
			return nil, fmt.Errorf("list destinations: %w", err)
		}
		ds = append(ds, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list destinations: %w", err)
	}
	return ds, nil
}
