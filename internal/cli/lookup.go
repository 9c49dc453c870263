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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

const lookupUsage = `Usage: opwatch lookup SUBCOMMAND [flags]

Subcommands:
  load    NAME FILE.csv|FILE.jsonl --key COLUMN --log-type T --selector PATH:
          load a lookup table, or replace all its rows
  list    list the lookup tables
  remove  NAME: delete a lookup table

A lookup table enriches the events of one log type: the value of the
selector field (a dotted path, e.g. item_uuid or client.ip_address) is looked
up by the table's key column, and the row is what rules see as
event["p_enrichment"][NAME][SELECTOR].

Flags may come before or after the arguments. Run 'opwatch lookup SUBCOMMAND --help' for details.
`

func runLookup(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, lookupUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "load", "list", "ls", "remove", "rm")
	switch sub {
	case "load":
		return lookupLoad(ctx, e, args)
	case "list", "ls":
		return lookupList(ctx, e, args)
	case "remove", "rm":
		return lookupRemove(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, lookupUsage)
		return nil
	}
	fmt.Fprint(e.stderr, lookupUsage)
	return usagef("unknown subcommand %q", sub)
}

func lookupLoad(ctx context.Context, e *env, args []string) error {
	fs := e.flags("lookup load", "lookup load NAME FILE --key COLUMN --log-type T --selector PATH [--format csv|jsonl]",
		"Load a lookup table from a CSV file (a header row, then one row per line: each row becomes a\n"+
			"JSON object of its columns, all strings) or a JSONL file (one JSON object per line).\n"+
			"Loading a table that exists replaces all its rows at once. The key column must be in every\n"+
			"row, and unique. FILE - reads stdin (give --format).")
	var key, logType, selector, format string
	fs.StringVar(&key, "key", "", "the `column` (CSV) or field (JSONL) whose value the selector is looked up by")
	fs.StringVar(&logType, "log-type", "", "the `log type` whose events the table enriches, e.g. OnePassword.ItemUsage")
	fs.StringVar(&selector, "selector", "", "the dotted `path` of the events' field to look up, e.g. item_uuid")
	fs.StringVar(&format, "format", "", "`format` of FILE: csv or jsonl (default: from its extension)")
	pos, err := parseWant(fs, args, 2, 2, "table name and file (opwatch lookup load NAME FILE --key COLUMN ...)")
	if err != nil {
		return err
	}
	name, file := pos[0], pos[1]
	switch {
	case key == "":
		return usagef("name the key column with --key COLUMN")
	case logType == "":
		return usagef("name the log type the table enriches with --log-type (%s)", logTypeNames())
	case logtype.ByName(logType) == nil:
		return usagef("unknown log type %q: want one of %s", logType, logTypeNames())
	case selector == "":
		return usagef("name the events' field to look up with --selector PATH (e.g. item_uuid, client.ip_address)")
	case !validSelector(selector):
		return usagef("--selector %q is not a dotted path of field names (e.g. client.ip_address)", selector)
	}
	if err := config.CheckSelector(logType, selector); err != nil {
		return usagef("--selector: %v", err)
	}
	if format == "" {
		switch strings.ToLower(filepath.Ext(file)) {
		case ".csv":
			format = "csv"
		case ".jsonl", ".ndjson":
			format = "jsonl"
		default:
			return usagef("cannot tell the format of %q from its name: give --format csv or --format jsonl", file)
		}
	}
	if format != "csv" && format != "jsonl" {
		return usagef("--format %q: want csv or jsonl", format)
	}
	// Read and check the whole file before the database is touched: a
	// refused file changes nothing.
	rows, err := readLookupFile(e.stdin, file, format, key)
	if err != nil {
		return err
	}
	a, err := e.openWrite(ctx, engine.ReadWrite, keyOptional)
	if err != nil {
		return err
	}
	defer a.Close()
	t := store.LookupTable{Name: name, KeyColumn: key, LogType: logType, Selector: selector}
	if err := a.store.LoadLookup(ctx, t, rows); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "Loaded lookup table %s: %d rows, keyed by %s, enriching %s events by %s.\n",
		safetext.Terminal(name), len(rows), safetext.Terminal(key), logType, selector)
	return nil
}

func logTypeNames() string {
	var names []string
	for _, lt := range logtype.All() {
		names = append(names, lt.Name)
	}
	return strings.Join(names, ", ")
}

// validSelector: dot-separated field names, none empty (the configuration
// checks its lookups' selectors alike).
func validSelector(s string) bool { return config.ValidSelector(s) }

// limitedReader fails once more than n bytes were read: a lookup table is
// held in memory by the detect stage, so its file is bounded.
type limitedReader struct {
	r io.Reader
	n int64
}

var errLookupFileTooLarge = fmt.Errorf("%w: the file is over %d MiB", store.ErrLookupTooLarge, store.MaxLookupBytes>>20)

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n < 0 {
		return 0, errLookupFileTooLarge
	}
	if int64(len(p)) > l.n+1 {
		p = p[:l.n+1]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if l.n < 0 {
		return n, errLookupFileTooLarge
	}
	return n, err
}

// readLookupFile reads a lookup table's rows from file (- for stdin) in
// format (csv or jsonl), keyed by key, as `lookup load` and serve's
// configured lookups load them. Errors name the file.
func readLookupFile(stdin io.Reader, file, format, key string) (map[string]json.RawMessage, error) {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("read the table: %w", err)
		}
		defer f.Close()
		r = f
	}
	rows, err := readLookup(r, format, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", safetext.Terminal(file), err)
	}
	return rows, nil
}

// readLookup reads a table's rows by key from CSV or JSONL. Errors name the
// line (and never repeat a long value whole).
func readLookup(r io.Reader, format, key string) (map[string]json.RawMessage, error) {
	r = &limitedReader{r: r, n: store.MaxLookupBytes}
	if format == "csv" {
		return readLookupCSV(r, key)
	}
	return readLookupJSONL(r, key)
}

func readLookupCSV(r io.Reader, key string) (map[string]json.RawMessage, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, errors.New("the file is empty: a CSV lookup table starts with a header row naming its columns")
	}
	if err != nil {
		return nil, csvError(err)
	}
	cols := make([]string, len(header))
	copy(cols, header)
	cols[0] = strings.TrimPrefix(cols[0], "\ufeff") // a BOM, as spreadsheets write
	keyIdx := -1
	seen := map[string]bool{}
	for i, c := range cols {
		switch {
		case c == "":
			return nil, fmt.Errorf("line 1: column %d of the header has no name", i+1)
		case !utf8.ValidString(c):
			return nil, fmt.Errorf("line 1: column %d of the header is not valid UTF-8", i+1)
		case seen[c]:
			return nil, fmt.Errorf("line 1: the header names the column %s twice", quoteShort(c))
		}
		seen[c] = true
		if c == key {
			keyIdx = i
		}
	}
	if keyIdx < 0 {
		return nil, fmt.Errorf("line 1: the header has no column %s (the --key column); it has %s", quoteShort(key), quoteList(cols))
	}
	// The JSON form of each column name, once.
	names := make([][]byte, len(cols))
	for i, c := range cols {
		names[i], _ = json.Marshal(c)
	}
	rows := map[string]json.RawMessage{}
	lines := map[string]int{}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return rows, nil
		}
		if err != nil {
			return nil, csvError(err)
		}
		line, _ := cr.FieldPos(0)
		k := rec[keyIdx]
		if err := checkKey(k, line, lines); err != nil {
			return nil, err
		}
		var b bytes.Buffer
		b.WriteByte('{')
		for i, v := range rec {
			if !utf8.ValidString(v) {
				return nil, fmt.Errorf("line %d: column %s is not valid UTF-8", line, quoteShort(cols[i]))
			}
			if i > 0 {
				b.WriteByte(',')
			}
			b.Write(names[i])
			b.WriteByte(':')
			vb, _ := json.Marshal(v)
			b.Write(vb)
		}
		b.WriteByte('}')
		if b.Len() > store.MaxLookupRowBytes {
			return nil, fmt.Errorf("line %d: %w: the row is %d bytes as JSON, at most %d", line, store.ErrLookupTooLarge, b.Len(), store.MaxLookupRowBytes)
		}
		if len(rows) == store.MaxLookupRows {
			return nil, fmt.Errorf("line %d: %w: more than %d rows", line, store.ErrLookupTooLarge, store.MaxLookupRows)
		}
		rows[k] = b.Bytes()
		lines[k] = line
	}
}

// csvError keeps encoding/csv's line and reason, and the size bound's error.
func csvError(err error) error {
	if errors.Is(err, store.ErrLookupTooLarge) {
		return err
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		if errors.Is(pe.Err, csv.ErrFieldCount) {
			return fmt.Errorf("line %d: %w (every row needs as many columns as the header)", pe.Line, pe.Err)
		}
		return fmt.Errorf("line %d, column %d: %w", pe.Line, pe.Column, pe.Err)
	}
	return err
}

func checkKey(k string, line int, lines map[string]int) error {
	switch {
	case k == "":
		return fmt.Errorf("line %d: the key is empty", line)
	case len(k) > store.MaxLookupKeyBytes:
		return fmt.Errorf("line %d: %w: the key is %d bytes, at most %d", line, store.ErrLookupTooLarge, len(k), store.MaxLookupKeyBytes)
	case lines[k] > 0:
		return fmt.Errorf("line %d: the key %s is already on line %d: keys must be unique", line, quoteShort(k), lines[k])
	}
	return nil
}

func readLookupJSONL(r io.Reader, key string) (map[string]json.RawMessage, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), store.MaxLookupRowBytes+2) // the row and its line end
	rows := map[string]json.RawMessage{}
	lines := map[string]int{}
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\ufeff"))
		}
		if len(text) == 0 {
			continue
		}
		if len(text) > store.MaxLookupRowBytes {
			return nil, fmt.Errorf("line %d: %w: the row is %d bytes, at most %d", line, store.ErrLookupTooLarge, len(text), store.MaxLookupRowBytes)
		}
		if !utf8.Valid(text) {
			return nil, fmt.Errorf("line %d: not valid UTF-8", line)
		}
		if text[0] != '{' {
			return nil, fmt.Errorf("line %d: not a JSON object (each line holds one object)", line)
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(text, &fields); err != nil {
			return nil, fmt.Errorf("line %d: not a JSON object: %w", line, err)
		}
		raw, ok := fields[key]
		if !ok {
			return nil, fmt.Errorf("line %d: the object has no %s field (the --key)", line, quoteShort(key))
		}
		k, err := keyText(raw)
		if err != nil {
			return nil, fmt.Errorf("line %d: the %s field: %w", line, quoteShort(key), err)
		}
		if err := checkKey(k, line, lines); err != nil {
			return nil, err
		}
		if len(rows) == store.MaxLookupRows {
			return nil, fmt.Errorf("line %d: %w: more than %d rows", line, store.ErrLookupTooLarge, store.MaxLookupRows)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, text); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		rows[k] = b.Bytes()
		lines[k] = line
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: %w: a line is over %d bytes", line+1, store.ErrLookupTooLarge, store.MaxLookupRowBytes)
		}
		return nil, err
	}
	if line == 0 {
		return nil, errors.New("the file is empty")
	}
	return rows, nil
}

// keyText is a key field's value as text: a string, or a number as written.
func keyText(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(raw, &n); err == nil {
		return n.String(), nil
	}
	return "", errors.New("want a string or a number")
}

// quoteShort quotes s for an error, cut to 60 characters.
func quoteShort(s string) string {
	if utf8.RuneCountInString(s) > 60 {
		r := []rune(s)
		return strconv.Quote(string(r[:60])) + "..."
	}
	return strconv.Quote(s)
}

func quoteList(ss []string) string {
	q := make([]string, 0, len(ss))
	for i, s := range ss {
		if i == 20 {
			q = append(q, "...")
			break
		}
		q = append(q, quoteShort(s))
	}
	return strings.Join(q, ", ")
}

func lookupList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("lookup list", "lookup list", "List the lookup tables: what each enriches, its rows, when it was loaded.")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	ts, err := a.store.LookupTables(ctx)
	if err != nil {
		return err
	}
	if len(ts) == 0 {
		fmt.Fprintln(e.stdout, "No lookup tables. Load one with `opwatch lookup load NAME FILE.csv --key COLUMN --log-type T --selector PATH`.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tLOG TYPE\tSELECTOR\tKEY\tROWS\tLOADED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", safetext.Terminal(t.Name), safetext.Terminal(t.LogType),
			safetext.Terminal(t.Selector), safetext.Terminal(t.KeyColumn), t.Rows, ago(t.LoadedAt))
	}
	return tw.Flush()
}

func lookupRemove(ctx context.Context, e *env, args []string) error {
	fs := e.flags("lookup remove", "lookup remove NAME", "Delete a lookup table and its rows; events are no longer enriched by it.")
	pos, err := parseWant(fs, args, 1, 1, "table name")
	if err != nil {
		return err
	}
	a, err := e.openWrite(ctx, engine.Existing, keyOptional)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := a.store.DeleteLookup(ctx, pos[0]); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no lookup table named %s (see `opwatch lookup list`)", quoteShort(pos[0]))
		}
		return err
	}
	fmt.Fprintf(e.stdout, "Removed lookup table %s.\n", safetext.Terminal(pos[0]))
	return nil
}
