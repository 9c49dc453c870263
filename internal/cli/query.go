package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

func runQuery(ctx context.Context, e *env, args []string) error {
	fs := e.flags("query", "query [--format table|json|csv] [--timeout 1m] SQL",
		"Run one read-only SQL statement over the lake. Tables: onepassword_signinattempt,\n"+
			"onepassword_itemusage, onepassword_auditevent (a column per top-level field, objects\n"+
			"as JSON text: use json_extract(client, '$.ip_address')), and quarantine. SQL '-' reads\n"+
			"stdin. The database is opened read-only: nothing is created, migrated or written, and\n"+
			"no key is needed.\n\n"+
			"Output: table escapes control characters (\\x1b, \\n, ...) in every cell, as event\n"+
			"fields are written by whoever uses the account; json (one object per line) is exact,\n"+
			"with object and array columns as JSON; csv is exact except that a text cell starting\n"+
			"with = + - @, a tab or a carriage return gets a leading ' so spreadsheets do not run\n"+
			"it as a formula.")
	format := fs.String("format", "table", "output `format`: table, json (one object per line) or csv")
	timeout := fs.Duration("timeout", time.Minute, "stop the query after this `duration`")
	pos, err := parseWant(fs, args, 1, 1, "SQL statement (or - to read it from stdin)")
	if err != nil {
		return err
	}
	q := strings.TrimSpace(pos[0])
	if q == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return fmt.Errorf("read the statement from stdin: %w", err)
		}
		q = strings.TrimSpace(string(b))
	}
	if q == "" {
		return usagef("the SQL statement is empty")
	}
	if *timeout <= 0 {
		return usagef("--timeout %v: want a positive duration such as 30s or 5m", *timeout)
	}
	out, err := newRowWriter(*format, e.stdout)
	if err != nil {
		return err
	}
	st, err := openReadOnly(ctx, e)
	if err != nil {
		return err
	}
	defer st.Close()

	qctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	p := &printer{out: out}
	err = st.Query(qctx, q, p.row)
	n := p.rows
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		if errors.Is(qctx.Err(), context.DeadlineExceeded) && ctx.Err() == nil {
			return fmt.Errorf("the query ran past --timeout %v and was stopped: narrow it (a WHERE on p_event_time, a LIMIT) or give a longer --timeout: %w",
				*timeout, context.DeadlineExceeded)
		}
		return err
	}
	if *format == "table" {
		if n == 1 {
			fmt.Fprintln(e.stderr, "(1 row)")
		} else {
			fmt.Fprintf(e.stderr, "(%d rows)\n", n)
		}
	}
	return nil
}

// lake is the part of the store that query uses.
type lake interface {
	store.Lake
	Close() error
}

// openReadOnly opens the database for reading only: no key, no migration,
// nothing created (a mistyped --db is named, not made).
func openReadOnly(ctx context.Context, e *env) (lake, error) {
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.ReadOnly, Logger: e.logger()})
	if errors.Is(err, store.ErrNoDatabase) {
		if !strings.Contains(err.Error(), e.db) {
			err = fmt.Errorf("%s: %w", dbName(e.db), err)
		}
		return nil, fmt.Errorf("%w: check --db or OPWATCH_DB ('opwatch migrate' creates an empty database)", err)
	}
	if err != nil {
		return nil, dbError(err)
	}
	return st, nil
}

// noDatabase words store.ErrNoDatabase for the command line, naming the
// database once (the engine's error may name the file already).
func noDatabase(dsn string, err error) error {
	if !strings.Contains(err.Error(), dsn) {
		err = fmt.Errorf("%s: %w", dbName(dsn), err)
	}
	return fmt.Errorf("%w: check --db or OPWATCH_DB", err)
}

// dbName is the database as it may be shown: a server DSN without its
// password.
func dbName(dsn string) string {
	if engine.Local(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "the database"
	}
	return u.Redacted()
}

// printer feeds a result to a rowWriter: the header once, then the rows.
// An engine reports the columns of a result without rows by calling row
// once with nil values, so even an empty result has its header.
type printer struct {
	out    rowWriter
	headed bool
	rows   int
}

func (p *printer) row(cols []string, vals []any) error {
	if !p.headed {
		if err := p.out.header(cols); err != nil {
			return err
		}
		p.headed = true
	}
	if vals == nil {
		return nil
	}
	p.rows++
	return p.out.row(cols, vals)
}

// rowWriter prints a result: the header once (even for no rows), then rows.
type rowWriter interface {
	header(cols []string) error
	row(cols []string, vals []any) error
	flush() error
}

func newRowWriter(format string, w io.Writer) (rowWriter, error) {
	switch format {
	case "table":
		return &tableWriter{tw: newTab(w)}, nil
	case "json":
		return &jsonWriter{w: bufio.NewWriter(w), jsonCols: jsonColumns()}, nil
	case "csv":
		return &csvWriter{w: csv.NewWriter(w)}, nil
	}
	return nil, usagef("unknown --format %q: use table, json or csv", format)
}

// tableWriter aligns columns. Every cell is escaped: event fields are
// written by whoever uses the account, and an ESC, BEL or CR reaching the
// terminal could rewrite what the analyst sees.
type tableWriter struct {
	tw   *tabwriter.Writer
	rows int
}

// tableBlock bounds what the table holds before printing: columns align
// within each block of rows.
const tableBlock = 1000

func newTab(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func (t *tableWriter) header(cols []string) error {
	cells := make([]string, len(cols))
	for i, c := range cols {
		cells[i] = safetext.Terminal(c)
	}
	_, err := fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	return err
}

func (t *tableWriter) row(_ []string, vals []any) error {
	cells := make([]string, len(vals))
	for i, v := range vals {
		cells[i] = tableCell(v)
	}
	if _, err := fmt.Fprintln(t.tw, strings.Join(cells, "\t")); err != nil {
		return err
	}
	if t.rows++; t.rows%tableBlock == 0 {
		return t.tw.Flush()
	}
	return nil
}

func (t *tableWriter) flush() error { return t.tw.Flush() }

// tableCell shows a value for a person; Terminal also escapes tab and
// newline, so no cell breaks the table's layout.
func tableCell(v any) string {
	if v == nil {
		return "NULL"
	}
	return safetext.Terminal(text(v))
}

// text is a value's exact text.
func text(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// jsonColumns names the columns whose values are JSON text by the schema:
// the object and array fields of the log types' views, Panther's p_any_
// arrays, and the raw event. Only these are nested as JSON, so a text field
// that merely looks like JSON stays a string.
func jsonColumns() map[string]bool {
	cols := map[string]bool{"p_any_ip_addresses": true, "p_any_emails": true, "raw": true}
	for _, v := range Views() {
		for _, c := range v.Columns {
			if c.Kind == "json" {
				cols[c.Name] = true
			}
		}
	}
	return cols
}

// jsonWriter prints one JSON object per row, keys in column order.
type jsonWriter struct {
	w        *bufio.Writer
	jsonCols map[string]bool
	buf      bytes.Buffer
}

func (j *jsonWriter) header([]string) error { return nil }
func (j *jsonWriter) flush() error          { return j.w.Flush() }

func (j *jsonWriter) row(cols []string, vals []any) error {
	b := &j.buf
	b.Reset()
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSON(b, c)
		b.WriteByte(':')
		j.value(b, c, vals[i])
	}
	b.WriteString("}\n")
	_, err := j.w.Write(b.Bytes())
	return err
}

func (j *jsonWriter) value(b *bytes.Buffer, col string, v any) {
	switch x := v.(type) {
	case nil:
		b.WriteString("null")
		return
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			writeJSON(b, text(x)) // JSON has no infinities: say it as text
			return
		}
	case string:
		if j.jsonCols[col] && nestable(x) {
			// Compact keeps every value exactly and the line one line.
			if err := json.Compact(b, []byte(x)); err == nil {
				return
			}
		}
	case []byte:
		v = string(x)
	}
	writeJSON(b, v)
}

// nestable reports whether s is JSON text of an object or an array.
func nestable(s string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(s))
}

// writeJSON encodes v without HTML escaping, so text stays as written.
func writeJSON(b *bytes.Buffer, v any) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		enc.Encode(fmt.Sprint(v)) // a type JSON cannot say: its text
	}
	// Encode ends with a newline; the row ends its own line.
	b.Truncate(b.Len() - 1)
}

// csvWriter prints RFC 4180 CSV. Text cells that a spreadsheet would run
// as a formula get a leading ' (OWASP); numbers and everything else are
// exact.
type csvWriter struct{ w *csv.Writer }

func (c *csvWriter) header(cols []string) error {
	rec := make([]string, len(cols))
	for i, col := range cols {
		rec[i] = safetext.CSVCell(col)
	}
	return c.w.Write(rec)
}

func (c *csvWriter) row(_ []string, vals []any) error {
	rec := make([]string, len(vals))
	for i, v := range vals {
		switch x := v.(type) {
		case nil:
		case int64, float64:
			rec[i] = text(x) // a negative number is not a formula
		default:
			rec[i] = safetext.CSVCell(text(x))
		}
	}
	return c.w.Write(rec)
}

func (c *csvWriter) flush() error { c.w.Flush(); return c.w.Error() }

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("migrate", "migrate",
		"Create the database, or upgrade its schema to this opwatch's, then exit. It is the only\n"+
			"command that upgrades a schema: back the database up first. It needs no key and\n"+
			"creates none.")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	log := e.logger()
	before, err := schemaBefore(ctx, e.db, log)
	if err != nil {
		return err
	}
	st, err := engine.Open(ctx, e.db, engine.Options{Mode: engine.Migrate, Logger: log})
	if err != nil {
		return dbError(err)
	}
	defer st.Close()
	now, _, err := st.SchemaVersion(ctx)
	if err != nil {
		return fmt.Errorf("read the schema version: %w", err)
	}
	// Read verbs open read-only and cannot make the views; make them here.
	if err := st.SyncViews(ctx, Views()); err != nil {
		return fmt.Errorf("create log-type views: %w", err)
	}
	name := dbName(e.db)
	switch {
	case before == schemaNone:
		fmt.Fprintf(e.stdout, "%s: created at schema version %d\n", name, now)
	case before == schemaOlder:
		fmt.Fprintf(e.stdout, "%s: schema upgraded to version %d\n", name, now)
	case before == now:
		fmt.Fprintf(e.stdout, "%s: schema version %d, up to date\n", name, now)
	default:
		fmt.Fprintf(e.stdout, "%s: schema version %d → %d\n", name, before, now)
	}
	return nil
}

// What schemaBefore found when it could not read a version.
const (
	schemaNone  = -1 // no database yet
	schemaOlder = -2 // an older schema the engine would not open to read
)

// schemaBefore reads the schema version before migrating, read-only so
// that nothing changes before the migration proper.
func schemaBefore(ctx context.Context, dsn string, log interface{ Debug(string, ...any) }) (int, error) {
	st, err := engine.Open(ctx, dsn, engine.Options{Mode: engine.ReadOnly})
	switch {
	case errors.Is(err, store.ErrNoDatabase):
		return schemaNone, nil
	case errors.Is(err, store.ErrSchemaOutdated):
		log.Debug("older schema not readable before migrating", "err", err)
		return schemaOlder, nil
	case err != nil:
		return 0, dbError(err)
	}
	defer st.Close()
	v, _, err := st.SchemaVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read the schema version: %w", err)
	}
	return v, nil
}
