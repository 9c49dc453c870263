package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// lookupChunk is the rows one INSERT of lookup rows binds (as arrays).
const lookupChunk = 10000

// LoadLookup replaces the rows of table t (created if new) in one
// transaction, and gives it a version no table has had before. Two loads
// at once run one after the other: the version counter's row is locked.
func (s *Store) LoadLookup(ctx context.Context, t store.LookupTable, rows map[string]json.RawMessage) error {
	if err := checkLookup(t, rows); err != nil {
		return fmt.Errorf("load lookup table %q: %w", t.Name, err)
	}
	keys := make([]string, 0, len(rows))
	for k := range rows {
		keys = append(keys, k)
	}
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		version, err := bumpCounter(ctx, tx, "lookup_version")
		if err != nil {
			return fmt.Errorf("next version: %w", err)
		}
		_, err = tx.Exec(ctx, `INSERT INTO lookup_tables (name, key_column, log_type, selector, rows, version, loaded_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (name) DO UPDATE SET key_column = excluded.key_column, log_type = excluded.log_type,
				selector = excluded.selector, rows = excluded.rows, version = excluded.version, loaded_at = excluded.loaded_at`,
			enc(t.Name), enc(t.KeyColumn), enc(t.LogType), enc(t.Selector), len(rows), version, now)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM lookup_rows WHERE table_name = $1`, enc(t.Name)); err != nil {
			return fmt.Errorf("drop the old rows: %w", err)
		}
		ks := make([]string, 0, min(len(keys), lookupChunk))
		vs := make([]string, 0, min(len(keys), lookupChunk))
		for len(keys) > 0 {
			n := min(len(keys), lookupChunk)
			ks, vs = ks[:0], vs[:0]
			for _, k := range keys[:n] {
				ks = append(ks, enc(k))
				vs = append(vs, enc(string(rows[k])))
			}
			if _, err := tx.Exec(ctx, `INSERT INTO lookup_rows (table_name, key, row)
				SELECT $1, * FROM unnest($2::text[], $3::text[])`, enc(t.Name), ks, vs); err != nil {
				return fmt.Errorf("store rows: %w", err)
			}
			keys = keys[n:]
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load lookup table %q (nothing changed): %w", t.Name, err)
	}
	return nil
}

// checkLookup bounds what a user may load: the detect stage holds every
// table in memory.
func checkLookup(t store.LookupTable, rows map[string]json.RawMessage) error {
	if err := checkLookupName(t.Name); err != nil {
		return err
	}
	switch {
	case strings.TrimSpace(t.KeyColumn) == "":
		return errors.New("no key column given")
	case strings.TrimSpace(t.LogType) == "":
		return errors.New("no log type given: the table enriches events of one log type")
	case strings.TrimSpace(t.Selector) == "":
		return errors.New("no selector given: name the field of the events whose value is looked up")
	case len(rows) > store.MaxLookupRows:
		return fmt.Errorf("%w: %d rows, at most %d", store.ErrLookupTooLarge, len(rows), store.MaxLookupRows)
	}
	total := 0
	for k, row := range rows {
		switch {
		case k == "":
			return errors.New("a row has an empty key")
		case len(k) > store.MaxLookupKeyBytes:
			return fmt.Errorf("%w: the key %.40q... is %d bytes, at most %d", store.ErrLookupTooLarge, k, len(k), store.MaxLookupKeyBytes)
		case !utf8.ValidString(k):
			return errors.New("a key is not valid UTF-8")
		case !utf8.Valid(row):
			return fmt.Errorf("the row of key %.40q is not valid UTF-8", k)
		case len(row) > store.MaxLookupRowBytes:
			return fmt.Errorf("%w: the row of key %.40q is %d bytes, at most %d", store.ErrLookupTooLarge, k, len(row), store.MaxLookupRowBytes)
		}
		if err := checkObject(row); err != nil {
			return fmt.Errorf("the row of key %.40q: %w", k, err)
		}
		total += len(k) + len(row)
		if total > store.MaxLookupBytes {
			return fmt.Errorf("%w: over %d MiB of keys and rows", store.ErrLookupTooLarge, store.MaxLookupBytes>>20)
		}
	}
	return nil
}

func checkObject(row json.RawMessage) error {
	trimmed := strings.TrimLeft(string(row), " \t\r\n")
	if !strings.HasPrefix(trimmed, "{") || !json.Valid(row) {
		return errors.New("not a JSON object")
	}
	return nil
}

// checkLookupName: a table's name is how rules reach it (p_enrichment[name]).
func checkLookupName(name string) error {
	switch {
	case name == "":
		return errors.New("the table has no name")
	case len(name) > 100:
		return errors.New("the name is longer than 100 bytes")
	case !utf8.ValidString(name):
		return errors.New("the name is not valid UTF-8")
	case strings.TrimSpace(name) != name:
		return errors.New("the name starts or ends with spaces")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return errors.New("the name holds a control character")
		}
	}
	return nil
}

// LookupTables lists the loaded tables by name.
func (s *Store) LookupTables(ctx context.Context) ([]store.LookupTable, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, key_column, log_type, selector, rows, version, loaded_at
		FROM lookup_tables ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list lookup tables: %w", err)
	}
	ts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.LookupTable, error) {
		var t store.LookupTable
		err := r.Scan(textCol{&t.Name}, textCol{&t.KeyColumn}, textCol{&t.LogType}, textCol{&t.Selector}, &t.Rows, &t.Version,
			timeCol{&t.LoadedAt})
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("list lookup tables: %w", err)
	}
	return ts, nil
}

// LookupRows returns a table's rows by key (store.ErrNotFound). A load
// between a caller's LookupTables and this call gives it the newer rows
// under the older version: its next look at the versions reloads them.
func (s *Store) LookupRows(ctx context.Context, name string) (map[string]json.RawMessage, error) {
	// One statement, so one snapshot; an empty result asks whether the
	// table exists at all.
	rows, err := s.pool.Query(ctx, `SELECT key, row FROM lookup_rows WHERE table_name = $1`, enc(name))
	if err != nil {
		return nil, fmt.Errorf("read lookup table %q: %w", name, err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var k, row string
		if err := rows.Scan(textCol{&k}, textCol{&row}); err != nil {
			return nil, fmt.Errorf("read lookup table %q: %w", name, err)
		}
		out[k] = json.RawMessage(row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read lookup table %q: %w", name, err)
	}
	if len(out) == 0 {
		var one int
		err := s.pool.QueryRow(ctx, `SELECT 1 FROM lookup_tables WHERE name = $1`, enc(name)).Scan(&one)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("lookup table %q: %w", name, store.ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read lookup table %q: %w", name, err)
		}
	}
	return out, nil
}

// DeleteLookup removes a table and its rows (store.ErrNotFound).
func (s *Store) DeleteLookup(ctx context.Context, name string) error {
	tag, err := s.exec(ctx, `DELETE FROM lookup_tables WHERE name = $1`, enc(name))
	if err != nil {
		return fmt.Errorf("remove lookup table %q: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("lookup table %q: %w", name, store.ErrNotFound)
	}
	return nil
}
