package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/opwatch/opwatch/internal/store"
)

// viewSQL is the one place that says what a log type's view looks like: the
// Panther p_ columns, then one column per top-level field of the raw JSON.
func viewSQL(v store.View) (string, error) {
	if v.Name == "" || v.LogType == "" {
		return "", fmt.Errorf("view %q of log type %q: both a name and a log type are needed", v.Name, v.LogType)
	}
	// The hot events' columns, and the same from the compacted events
	// (event_cold, cold.go).
	hot := []string{"log_type", "p_row_id", "p_event_time", "p_parse_time", "source_id",
		"p_source_label", "p_any_ip_addresses", "p_any_emails"}
	cold := []string{"c.log_type", "c.p_row_id", "c.p_event_time", "c.p_parse_time", "c.source_id",
		"c.p_source_label", "c.p_any_ip_addresses", "c.p_any_emails"}
	names := []string{"p_log_type", "p_row_id", "p_event_time", "p_parse_time", "p_source_id",
		"p_source_label", "p_any_ip_addresses", "p_any_emails"}
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
		// A quoted label, so any key name is a valid path.
		path := quoteString(`$."` + c.Name + `"`)
		extract, coldExtract := "json_extract(raw, "+path+")", "json_extract(c.raw, "+path+")"
		switch c.Kind {
		case "string", "timestamp", "json", "boolean":
			// json_extract gives text for strings and timestamps, minified
			// JSON text for objects and arrays, 1/0 for booleans, and NULL for
			// absent fields and JSON null.
		case "integer":
			extract, coldExtract = "CAST("+extract+" AS INTEGER)", "CAST("+coldExtract+" AS INTEGER)" // NULL stays NULL
		case "float":
			extract, coldExtract = "CAST("+extract+" AS REAL)", "CAST("+coldExtract+" AS REAL)" // 3 reads as 3.0, like its neighbours
		default:
			return "", fmt.Errorf("view %s: column %q has unknown kind %q (want string, integer, float, timestamp, boolean or json)", v.Name, c.Name, c.Kind)
		}
		hot, cold, names = append(hot, extract), append(cold, coldExtract), append(names, c.Name)
	}
	var b strings.Builder
	b.WriteString("CREATE VIEW " + quoteIdent(v.Name) + " AS SELECT\n")
	for i := range hot {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("\t" + hot[i] + " AS " + quoteIdent(names[i]))
	}
	b.WriteString("\nFROM events WHERE log_type = " + quoteString(v.LogType))
	b.WriteString("\nUNION ALL SELECT\n")
	for i := range cold {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("\t" + cold[i])
	}
	b.WriteString("\nFROM event_cold c WHERE c.log_type = " + quoteString(v.LogType) +
		" AND c.below = (SELECT compacted_below FROM lake_compaction)")
	return b.String(), nil
}

func quoteIdent(s string) string  { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
func quoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// SyncViews drops and recreates the views in one transaction, so a reader
// never sees a log type without its view.
func (s *Store) SyncViews(ctx context.Context, views []store.View) error {
	stmts := make([]string, 0, 2*len(views))
	for _, v := range views {
		create, err := viewSQL(v)
		if err != nil {
			return fmt.Errorf("sync views: %w", err)
		}
		stmts = append(stmts, "DROP VIEW IF EXISTS "+quoteIdent(v.Name), create)
	}
	// Every verb opens the store, often while `serve` writes: when the views
	// are already as wanted, change nothing, so the schema stays put and the
	// server's prepared statements stay valid.
	if same, err := s.viewsAre(ctx, views, stmts); err == nil && same {
		return nil
	}
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		for _, q := range stmts {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("%w in %s", err, q)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("sync views: %w", err)
	}
	return nil
}

// viewsAre reports whether the database holds exactly these views, created
// by the CREATE statements among stmts (every second one).
func (s *Store) viewsAre(ctx context.Context, views []store.View, stmts []string) (bool, error) {
	have := map[string]string{}
	rows, err := s.reader.QueryContext(ctx, `SELECT name, sql FROM sqlite_master WHERE type = 'view'`)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, q string
		if err := rows.Scan(&name, &q); err != nil {
			return false, err
		}
		have[name] = q
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	for i, v := range views {
		if have[v.Name] != stmts[2*i+1] {
			return false, nil
		}
	}
	return true, nil
}
