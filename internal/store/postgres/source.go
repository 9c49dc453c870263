package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// settings is the JSON form of a source's settings column, the same as the
// SQLite engine's.
type settings struct {
	Region             string `json:"region,omitempty"`
	BaseURL            string `json:"base_url,omitempty"`
	APIVersion         int    `json:"api_version,omitempty"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify,omitempty"`
	AllowOtherHost     bool   `json:"allow_other_host,omitempty"`
	AllowInsecure      bool   `json:"allow_insecure,omitempty"`
	Interval           string `json:"interval"`
	Lookback           string `json:"lookback"`
}

// settingsJSON is valid UTF-8 without NUL (json.Marshal escapes both), so
// it needs no enc.
func settingsJSON(src *store.Source) string {
	b, _ := json.Marshal(settings{
		Region:             src.Region,
		BaseURL:            src.BaseURL,
		APIVersion:         src.APIVersion,
		InsecureSkipVerify: src.InsecureSkipVerify,
		AllowOtherHost:     src.AllowOtherHost,
		AllowInsecure:      src.AllowInsecure,
		Interval:           src.Interval.String(),
		Lookback:           src.Lookback.String(),
	})
	return string(b)
}

func parseSettings(text string, src *store.Source) error {
	var st settings
	if err := json.Unmarshal([]byte(text), &st); err != nil {
		return fmt.Errorf("source %s: stored settings are not valid JSON: %w", src.Name, err)
	}
	src.Region, src.BaseURL, src.APIVersion, src.InsecureSkipVerify = st.Region, st.BaseURL, st.APIVersion, st.InsecureSkipVerify
	src.AllowOtherHost, src.AllowInsecure = st.AllowOtherHost, st.AllowInsecure
	var err error
	if src.Interval, err = parseDuration(st.Interval); err != nil {
		return fmt.Errorf("source %s: stored interval: %w", src.Name, err)
	}
	if src.Lookback, err = parseDuration(st.Lookback); err != nil {
		return fmt.Errorf("source %s: stored lookback: %w", src.Name, err)
	}
	return nil
}

func parseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	return time.ParseDuration(s)
}

// bytesArg stores an empty token or secret as NULL.
func bytesArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// alarmSeconds is the stored form of the no-events alarm: whole seconds,
// never negative.
func alarmSeconds(d time.Duration) int64 {
	return int64(max(d, 0) / time.Second)
}

// CreateSource uses src.ID when set (the source service makes the id first,
// to seal the token bound to it), else makes one.
func (s *Store) CreateSource(ctx context.Context, src *store.Source, logTypes []string) error {
	if src.Name == "" {
		return errors.New("create source: the name is empty")
	}
	id := src.ID
	if id == "" {
		id = store.NewID()
	}
	var now time.Time
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		if now, err = s.now(ctx, tx); err != nil {
			return err
		}
		var taken string
		err = tx.QueryRow(ctx, `SELECT CASE WHEN id = $1 THEN 'id' ELSE 'name' END FROM sources WHERE id = $1 OR name = $2`,
			enc(id), enc(src.Name)).Scan(&taken)
		switch {
		case err == nil && taken == "id":
			return fmt.Errorf("source id %s: %w", id, store.ErrExists)
		case err == nil:
			return fmt.Errorf("source %q: %w: choose another name", src.Name, store.ErrExists)
		case !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO sources (id, name, account_uuid, settings, token, token_expires_at,
			no_events_alarm, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)`,
			enc(id), enc(src.Name), enc(src.AccountUUID), settingsJSON(src), bytesArg(src.Token), timeArg(src.TokenExpiresAt),
			alarmSeconds(src.NoEventsAlarm), now)
		if isUniqueViolation(err) {
			// Created meanwhile by another replica.
			return fmt.Errorf("source %q: %w: choose another name", src.Name, store.ErrExists)
		}
		if err != nil {
			return err
		}
		return enableStreams(ctx, tx, enc(id), logTypes, now)
	})
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("create source: %w", err)
		}
		return fmt.Errorf("create source %q: %w", src.Name, err)
	}
	src.ID, src.CreatedAt, src.UpdatedAt = id, now, now
	return nil
}

// enableStreams makes the streams of logTypes exist and be enabled; one
// created or enabled again is due at once.
func enableStreams(ctx context.Context, tx pgx.Tx, sourceID string, logTypes []string, now time.Time) error {
	for _, lt := range logTypes {
		if lt == "" {
			return errors.New("a log type is empty")
		}
		if _, err := tx.Exec(ctx, `INSERT INTO streams (source_id, log_type, next_poll_at) VALUES ($1, $2, $3)
			ON CONFLICT (source_id, log_type) DO UPDATE SET enabled = true,
				next_poll_at = CASE WHEN streams.enabled THEN streams.next_poll_at ELSE $3 END`,
			sourceID, enc(lt), now); err != nil {
			return err
		}
	}
	return nil
}

// UpdateSource applies the change in one transaction: the streams first, the
// source's row last, so that a refusal at any step (a taken name) undoes all.
func (s *Store) UpdateSource(ctx context.Context, c store.SourceChange) error {
	src := c.Source
	if src.Name == "" {
		return errors.New("update source: the name is empty")
	}
	id := enc(src.ID)
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		// The row lock keeps a concurrent change of the same source out
		// until this one commits.
		var one int
		err = tx.QueryRow(ctx, `SELECT 1 FROM sources WHERE id = $1 FOR UPDATE`, id).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("source %s: %w", src.ID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if c.LogTypes != nil {
			if err := enableStreams(ctx, tx, id, c.LogTypes, now); err != nil {
				return err
			}
			keep := make([]string, len(c.LogTypes))
			for i, lt := range c.LogTypes {
				keep[i] = enc(lt)
			}
			if _, err := tx.Exec(ctx, `UPDATE streams SET enabled = false WHERE source_id = $1 AND NOT (log_type = ANY ($2))`,
				id, keep); err != nil {
				return err
			}
		}
		if c.ResumeStopped {
			if _, err := tx.Exec(ctx, `UPDATE streams SET status = 'ok', consecutive_failures = 0, next_poll_at = $1
				WHERE source_id = $2 AND status = 'stopped'`, now, id); err != nil {
				return err
			}
		}
		if c.DropCursors {
			if _, err := tx.Exec(ctx, `UPDATE streams SET cursor = '', next_poll_at = $1 WHERE source_id = $2`, now, id); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `UPDATE sources SET name = $1, account_uuid = $2, settings = $3, token = $4,
			token_expires_at = $5, no_events_alarm = $6, updated_at = $7 WHERE id = $8`,
			enc(src.Name), enc(src.AccountUUID), settingsJSON(&src), bytesArg(src.Token), timeArg(src.TokenExpiresAt),
			alarmSeconds(src.NoEventsAlarm), now, id)
		if isUniqueViolation(err) {
			return fmt.Errorf("source %q: %w: choose another name", src.Name, store.ErrExists)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("update source: %w", err)
	}
	return nil
}

// SetSourceAccount records the account once learned. It is not a change by
// the user: UpdatedAt stays.
func (s *Store) SetSourceAccount(ctx context.Context, sourceID, account string) error {
	tag, err := s.exec(ctx, `UPDATE sources SET account_uuid = $1 WHERE id = $2`, enc(account), enc(sourceID))
	if err != nil {
		return fmt.Errorf("set the account of source %s: %w", sourceID, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set the account of source %s: %w", sourceID, store.ErrNotFound)
	}
	return nil
}

const sourceColumns = `id, name, account_uuid, settings, token, token_expires_at, no_events_alarm, created_at, updated_at`

func scanSource(row pgx.Row) (store.Source, error) {
	var src store.Source
	var text string
	var alarm int64
	err := row.Scan(textCol{&src.ID}, textCol{&src.Name}, textCol{&src.AccountUUID}, &text, &src.Token,
		timeCol{&src.TokenExpiresAt}, &alarm, timeCol{&src.CreatedAt}, timeCol{&src.UpdatedAt})
	if err != nil {
		return store.Source{}, err
	}
	src.NoEventsAlarm = time.Duration(alarm) * time.Second
	return src, parseSettings(text, &src)
}

func (s *Store) SourceByName(ctx context.Context, name string) (store.Source, error) {
	src, err := scanSource(s.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE name = $1`, enc(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return src, fmt.Errorf("source %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return src, fmt.Errorf("read source %q: %w", name, err)
	}
	return src, nil
}

func (s *Store) SourceByID(ctx context.Context, id string) (store.Source, error) {
	src, err := scanSource(s.pool.QueryRow(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = $1`, enc(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return src, fmt.Errorf("source %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return src, fmt.Errorf("read source %s: %w", id, err)
	}
	return src, nil
}

func (s *Store) ListSources(ctx context.Context) ([]store.Source, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+sourceColumns+` FROM sources ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	srcs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Source, error) { return scanSource(r) })
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return srcs, nil
}

// DeleteSource deletes the source; its streams go with it (ON DELETE
// CASCADE), its events and quarantined events stay.
func (s *Store) DeleteSource(ctx context.Context, id string) error {
	tag, err := s.exec(ctx, `DELETE FROM sources WHERE id = $1`, enc(id))
	if err != nil {
		return fmt.Errorf("delete source %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete source %s: %w", id, store.ErrNotFound)
	}
	return nil
}
