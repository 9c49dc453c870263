package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/opwatch/opwatch/internal/store/sqlite"
)

func runQuery(ctx context.Context, e *env, args []string) error {
	fs := e.flags("query", "query [--format table|json|csv] SQL",
		"Run one read-only SQL statement over the lake. Tables: onepassword_signinattempt,\n"+
			"onepassword_itemusage, onepassword_auditevent (a column per top-level field, objects\n"+
			"as JSON text: use json_extract(client, '$.ip_address')), and quarantine. SQL '-' reads stdin.")
	format := fs.String("format", "table", "output `format`: table, json (one object per line) or csv")
	if err := fs.Parse(args); err != nil {
		return err
	}
	q := strings.TrimSpace(strings.Join(fs.Args(), " "))
	if q == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return err
		}
		q = strings.TrimSpace(string(b))
	}
	if q == "" {
		fs.Usage()
		return usagef("give a SQL statement")
	}
	var out rowWriter
	switch *format {
	case "table":
		out = &tableWriter{tw: tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)}
	case "json":
		out = &jsonWriter{enc: json.NewEncoder(e.stdout)}
	case "csv":
		out = &csvWriter{w: csv.NewWriter(e.stdout)}
	default:
		return usagef("unknown --format %q: use table, json or csv", *format)
	}
	a, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	n := 0
	err = a.store.Query(ctx, q, func(cols []string, vals []any) error {
		if n == 0 {
			out.header(cols)
		}
		n++
		return out.row(cols, vals)
	})
	if ferr := out.flush(); err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	if *format == "table" {
		fmt.Fprintf(e.stderr, "(%d rows)\n", n)
	}
	return nil
}

type rowWriter interface {
	header(cols []string)
	row(cols []string, vals []any) error
	flush() error
}

type tableWriter struct{ tw *tabwriter.Writer }

func (t *tableWriter) header(cols []string) { fmt.Fprintln(t.tw, strings.Join(cols, "\t")) }
func (t *tableWriter) row(_ []string, vals []any) error {
	cells := make([]string, len(vals))
	for i, v := range vals {
		cells[i] = cell(v)
	}
	_, err := fmt.Fprintln(t.tw, strings.Join(cells, "\t"))
	return err
}
func (t *tableWriter) flush() error { return t.tw.Flush() }

func cell(v any) string {
	if v == nil {
		return "NULL"
	}
	s := fmt.Sprint(v)
	s = strings.NewReplacer("\t", " ", "\n", " ").Replace(s)
	return s
}

type jsonWriter struct{ enc *json.Encoder }

func (j *jsonWriter) header([]string) {}
func (j *jsonWriter) row(cols []string, vals []any) error {
	// Keep column order: encode by hand as an ordered object.
	var b strings.Builder
	b.WriteByte('{')
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(c)
		b.Write(k)
		b.WriteByte(':')
		v, err := json.Marshal(vals[i])
		if err != nil {
			return err
		}
		b.Write(v)
	}
	b.WriteByte('}')
	return j.enc.Encode(json.RawMessage(b.String()))
}
func (j *jsonWriter) flush() error { return nil }

type csvWriter struct{ w *csv.Writer }

func (c *csvWriter) header(cols []string) { c.w.Write(cols) }
func (c *csvWriter) row(_ []string, vals []any) error {
	rec := make([]string, len(vals))
	for i, v := range vals {
		if v != nil {
			rec[i] = fmt.Sprint(v)
		}
	}
	return c.w.Write(rec)
}
func (c *csvWriter) flush() error { c.w.Flush(); return c.w.Error() }

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("migrate", "migrate", "Create or upgrade the database schema, then exit.")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	v, err := a.store.(*sqlite.Store).SchemaVersion(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: schema version %d\n", e.db, v)
	return nil
}
