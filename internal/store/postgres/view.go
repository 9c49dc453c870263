package postgres

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// viewSQL is the one place that says what a log type's view looks like: the
// Panther p_ columns, then one column per top-level field of the raw JSON.
//
// The raw event is read as jsonb once per row, in a lateral subquery (its
// HAVING makes it one row, so a query that reads only p_ columns, such as a
// count, drops the join and parses nothing), and each column extracts from
// it with the opwatch_ functions of the first migration. The compacted
// events follow (UNION ALL), read from their segments' JSON. Unlike SQLite,
// p_any_ columns are text arrays ('192.0.2.1' = ANY (p_any_ip_addresses),
// or @> to use their index); Query prints them as JSON arrays.
func viewSQL(v store.View) (string, error) {
	if v.Name == "" || v.LogType == "" {
		return "", fmt.Errorf("view %q of log type %q: both a name and a log type are needed", v.Name, v.LogType)
	}
	var b strings.Builder
	var cols strings.Builder
	seen := map[string]bool{"p_log_type": true, "p_row_id": true, "p_event_time": true, "p_parse_time": true,
		"p_source_id": true, "p_source_label": true, "p_any_ip_addresses": true, "p_any_emails": true}
	for _, c := range v.Columns {
		if c.Name == "" || strings.ContainsAny(c.Name, "\"\\") || strings.ContainsFunc(c.Name, func(r rune) bool { return r < ' ' }) {
			return "", fmt.Errorf("view %s: column name %q cannot be a JSON path", v.Name, c.Name)
		}
		if seen[strings.ToLower(c.Name)] {
			return "", fmt.Errorf("view %s: column %q appears twice", v.Name, c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		var fn string
		switch c.Kind {
		case "string", "timestamp":
			fn = "opwatch_text" // the text of a string (and of a number: its JSON text)
		case "json":
			fn = "opwatch_json" // objects and arrays as JSON text, scalars as their text
		case "integer", "boolean":
			fn = "opwatch_integer" // true and false read as 1 and 0, as in SQLite
		case "float":
			fn = "opwatch_float"
		default:
			return "", fmt.Errorf("view %s: column %q has unknown kind %q (want string, integer, float, timestamp, boolean or json)", v.Name, c.Name, c.Kind)
		}
		cols.WriteString(",\n\t" + fn + "(x.j -> " + quoteString(c.Name) + ") AS " + quoteIdent(c.Name))
	}
	lt := quoteString(enc(v.LogType))
	b.WriteString("CREATE VIEW " + quoteIdent(v.Name) + " AS SELECT\n")
	b.WriteString("\te.log_type AS p_log_type, e.p_row_id, e.p_event_time, e.p_parse_time, e.source_id AS p_source_id,\n")
	b.WriteString("\te.p_source_label, e.p_any_ip_addresses, e.p_any_emails")
	b.WriteString(cols.String())
	b.WriteString("\nFROM events e LEFT JOIN LATERAL (SELECT opwatch_event_json(e.raw) AS j HAVING true) x ON true")
	b.WriteString("\nWHERE e.log_type = " + lt)
	// The compacted events (see compact.go): the same columns, read from
	// the segments of the log type, whose text is in the same stored forms.
	b.WriteString("\nUNION ALL SELECT\n")
	b.WriteString("\tc.log_type COLLATE \"C\", c.p_row_id COLLATE \"C\", c.p_event_time, c.p_parse_time, c.source_id COLLATE \"C\",\n")
	b.WriteString("\tc.p_source_label COLLATE \"C\", c.p_any_ip_addresses, c.p_any_emails")
	b.WriteString(cols.String())
	b.WriteString("\nFROM event_segments s CROSS JOIN LATERAL opwatch_segment_events(s.data, s.nul) c")
	b.WriteString("\n\tLEFT JOIN LATERAL (SELECT opwatch_event_json(c.raw) AS j HAVING true) x ON true")
	b.WriteString("\nWHERE s.log_type = " + lt)
	return b.String(), nil
}

// viewMark is what a view's comment holds: the hash of the statement that
// made it, so that SyncViews can tell its views are in place without
// comparing PostgreSQL's rewritten form of them.
func viewMark(create string) string {
	h := sha256.Sum256([]byte(create))
	return "opwatch view " + hex.EncodeToString(h[:16])
}

// SyncViews drops and recreates the views in one transaction, so a reader
// never sees a log type without its view, and grants them to the role Query
// runs as. It changes nothing when they are in place: every verb opens the
// store, often while replicas serve, and a DROP waits for every query on
// the view.
func (s *Store) SyncViews(ctx context.Context, views []store.View) error {
	creates := make([]string, len(views))
	for i, v := range views {
		create, err := viewSQL(v)
		if err != nil {
			return fmt.Errorf("sync views: %w", err)
		}
		creates[i] = create
	}
	if same, err := s.viewsAre(ctx, views, creates); err == nil && same {
		return nil
	}
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		// Replicas starting together sync one after the other.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, migrateLock); err != nil {
			return err
		}
		var user string
		if err := tx.QueryRow(ctx, `SELECT current_user`).Scan(&user); err != nil {
			return err
		}
		for i, v := range views {
			name := quoteIdent(v.Name)
			for _, q := range []string{
				"DROP VIEW IF EXISTS " + name,
				creates[i],
				"COMMENT ON VIEW " + name + " IS " + quoteString(viewMark(creates[i])),
				"GRANT SELECT ON " + name + " TO " + quoteIdent(lakeRole(user)),
			} {
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("%w in %s", err, q)
				}
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync views: %w", err)
	}
	return nil
}

// viewsAre reports whether the schema holds exactly these views.
func (s *Store) viewsAre(ctx context.Context, views []store.View, creates []string) (bool, error) {
	names := make([]string, len(views))
	for i, v := range views {
		names[i] = v.Name
	}
	rows, err := s.pool.Query(ctx, `SELECT c.relname, coalesce(obj_description(c.oid, 'pg_class'), '') FROM pg_class c
		WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind = 'v' AND c.relname = ANY ($1)`, names)
	if err != nil {
		return false, err
	}
	have := map[string]string{}
	var name, mark string
	_, err = pgx.ForEachRow(rows, []any{&name, &mark}, func() error { have[name] = mark; return nil })
	if err != nil {
		return false, err
	}
	for i, v := range views {
		if have[v.Name] != viewMark(creates[i]) {
			return false, nil
		}
	}
	return true, nil
}
