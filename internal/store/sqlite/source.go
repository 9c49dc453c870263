package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// settings is the JSON form of a source's settings column.
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

// tokenArg stores an empty token as NULL.
func tokenArg(token []byte) any {
	if len(token) == 0 {
		return nil
	}
	return token
}

// CreateSource uses src.ID when set (the source service makes the id first,
// to seal the token bound to it), else makes one.
func (s *Store) CreateSource(ctx context.Context, src *store.Source, logTypes []string) error {
	if src.Name == "" {
		return errors.New("create source: the name is empty")
	}
	now := s.now().UTC()
	id := src.ID
	if id == "" {
		id = store.NewID()
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var taken string
		err := tx.QueryRowContext(ctx, `SELECT CASE WHEN id = ? THEN 'id' ELSE 'name' END FROM sources WHERE id = ? OR name = ?`,
			id, id, src.Name).Scan(&taken)
		switch {
		case err == nil && taken == "id":
			return fmt.Errorf("source id %s: %w", id, store.ErrExists)
		case err == nil:
			return fmt.Errorf("source %q: %w: choose another name", src.Name, store.ErrExists)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO sources (id, name, account_uuid, settings, token, token_expires_at,
			no_events_alarm, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			id, src.Name, src.AccountUUID, settingsJSON(src), tokenArg(src.Token), timeArg(src.TokenExpiresAt),
			alarmSeconds(src.NoEventsAlarm), timeText(now), timeText(now)); err != nil {
			return err
		}
		return enableStreams(ctx, tx, id, logTypes, now)
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
func enableStreams(ctx context.Context, tx *sql.Tx, sourceID string, logTypes []string, now time.Time) error {
	for _, lt := range logTypes {
		if lt == "" {
			return errors.New("a log type is empty")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO streams (source_id, log_type, next_poll_at) VALUES ($1, $2, $3)
			ON CONFLICT (source_id, log_type) DO UPDATE SET enabled = 1,
				next_poll_at = CASE WHEN enabled = 0 THEN $3 ELSE next_poll_at END`,
			sourceID, lt, timeText(now)); err != nil {
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
	now := s.now().UTC()
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM sources WHERE id = ?`, src.ID).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("source %s: %w", src.ID, store.ErrNotFound)
		}
		if err != nil {
			return err
		}
		if c.LogTypes != nil {
			if err := enableStreams(ctx, tx, src.ID, c.LogTypes, now); err != nil {
				return err
			}
			list, _ := json.Marshal(c.LogTypes)
			if _, err := tx.ExecContext(ctx, `UPDATE streams SET enabled = 0
				WHERE source_id = ? AND log_type NOT IN (SELECT value FROM json_each(?))`, src.ID, string(list)); err != nil {
				return err
			}
		}
		if c.ResumeStopped {
			if _, err := tx.ExecContext(ctx, `UPDATE streams SET status = 'ok', consecutive_failures = 0, next_poll_at = ?
				WHERE source_id = ? AND status = 'stopped'`, timeText(now), src.ID); err != nil {
				return err
			}
		}
		if c.DropCursors {
			if _, err := tx.ExecContext(ctx, `UPDATE streams SET cursor = '', next_poll_at = ? WHERE source_id = ?`,
				timeText(now), src.ID); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `UPDATE sources SET name = ?, account_uuid = ?, settings = ?, token = ?,
			token_expires_at = ?, no_events_alarm = ?, updated_at = ? WHERE id = ?`,
			src.Name, src.AccountUUID, settingsJSON(&src), tokenArg(src.Token), timeArg(src.TokenExpiresAt),
			alarmSeconds(src.NoEventsAlarm), timeText(now), src.ID)
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
	res, err := s.exec(ctx, `UPDATE sources SET account_uuid = ? WHERE id = ?`, account, sourceID)
	if err != nil {
		return fmt.Errorf("set the account of source %s: %w", sourceID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set the account of source %s: %w", sourceID, store.ErrNotFound)
	}
	return nil
}

const sourceColumns = `id, name, account_uuid, settings, token, token_expires_at, no_events_alarm, created_at, updated_at`

func scanSource(row interface{ Scan(...any) error }) (store.Source, error) {
	var src store.Source
	var text string
	var alarm int64
	err := row.Scan(&src.ID, &src.Name, &src.AccountUUID, &text, &src.Token, timeCol{&src.TokenExpiresAt}, &alarm,
		timeCol{&src.CreatedAt}, timeCol{&src.UpdatedAt})
	if err != nil {
		return store.Source{}, err
	}
	src.NoEventsAlarm = time.Duration(alarm) * time.Second
	return src, parseSettings(text, &src)
}

// alarmSeconds is the stored form of the no-events alarm: whole seconds
// (its range is minutes to days), never negative.
func alarmSeconds(d time.Duration) int64 {
	return int64(max(d, 0) / time.Second)
}

func (s *Store) SourceByName(ctx context.Context, name string) (store.Source, error) {
	src, err := scanSource(s.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return src, fmt.Errorf("source %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return src, fmt.Errorf("read source %q: %w", name, err)
	}
	return src, nil
}

func (s *Store) SourceByID(ctx context.Context, id string) (store.Source, error) {
	src, err := scanSource(s.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return src, fmt.Errorf("source %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return src, fmt.Errorf("read source %s: %w", id, err)
	}
	return src, nil
}

func (s *Store) ListSources(ctx context.Context) ([]store.Source, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+sourceColumns+` FROM sources ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	defer rows.Close()
	var srcs []store.Source
	for rows.Next() {
		src, err := scanSource(rows)
		if err != nil {
			return nil, fmt.Errorf("list sources: %w", err)
		}
		srcs = append(srcs, src)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list sources: %w", err)
	}
	return srcs, nil
}

// DeleteSource deletes the source; its streams go with it (ON DELETE
// CASCADE), its events and quarantined events stay.
func (s *Store) DeleteSource(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM sources WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete source %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete source %s: %w", id, store.ErrNotFound)
	}
	return nil
}
