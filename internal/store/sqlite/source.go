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
	Interval           string `json:"interval"`
	Lookback           string `json:"lookback"`
}

func settingsJSON(src *store.Source) string {
	b, _ := json.Marshal(settings{
		Region:             src.Region,
		BaseURL:            src.BaseURL,
		APIVersion:         src.APIVersion,
		InsecureSkipVerify: src.InsecureSkipVerify,
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

func (s *Store) CreateSource(ctx context.Context, src *store.Source, logTypes []string) error {
	if src.Name == "" {
		return errors.New("create source: the name is empty")
	}
	now := s.now().UTC()
	id := newID()
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO sources (id, name, settings, token, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			id, src.Name, settingsJSON(src), tokenArg(src.Token), timeText(now), timeText(now))
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("source %q: %w: choose another name", src.Name, store.ErrExists)
		}
		for _, lt := range logTypes {
			if _, err := tx.ExecContext(ctx, `INSERT INTO streams (source_id, log_type, next_poll_at) VALUES (?, ?, ?)
				ON CONFLICT (source_id, log_type) DO NOTHING`, id, lt, timeText(now)); err != nil {
				return err
			}
		}
		return nil
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

func (s *Store) UpdateSource(ctx context.Context, src *store.Source) error {
	if src.Name == "" {
		return errors.New("update source: the name is empty")
	}
	now := s.now().UTC()
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var other string
		err := tx.QueryRowContext(ctx, `SELECT id FROM sources WHERE name = ? AND id <> ?`, src.Name, src.ID).Scan(&other)
		if err == nil {
			return fmt.Errorf("source %q: %w: choose another name", src.Name, store.ErrExists)
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE sources SET name = ?, settings = ?, token = ?, updated_at = ? WHERE id = ?`,
			src.Name, settingsJSON(src), tokenArg(src.Token), timeText(now), src.ID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("source %s: %w", src.ID, store.ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("update source: %w", err)
	}
	src.UpdatedAt = now
	return nil
}

const sourceColumns = `id, name, settings, token, created_at, updated_at`

func scanSource(row interface{ Scan(...any) error }) (store.Source, error) {
	var src store.Source
	var text string
	err := row.Scan(&src.ID, &src.Name, &text, &src.Token, timeCol{&src.CreatedAt}, timeCol{&src.UpdatedAt})
	if err != nil {
		return store.Source{}, err
	}
	return src, parseSettings(text, &src)
}

func (s *Store) SourceByName(ctx context.Context, name string) (store.Source, error) {
	src, err := scanSource(s.reader.QueryRowContext(ctx, `SELECT `+sourceColumns+` FROM sources WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return src, fmt.Errorf("source %q: %w (list sources with: opwatch source list)", name, store.ErrNotFound)
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
	res, err := s.writer.ExecContext(ctx, `DELETE FROM sources WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete source %s: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete source %s: %w", id, store.ErrNotFound)
	}
	return nil
}
