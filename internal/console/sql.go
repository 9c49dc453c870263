package console

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

// SQL over the lake: one read-only statement, through the store's Query
// (the same guard as `opwatch query`: anything that writes is refused, and
// so is reading a token, a destination secret or a cursor).

const (
	// defaultQueryTimeout stops a console or API query well before the
	// server's WriteTimeout (60s), so the answer still reaches the browser
	// instead of the connection being dropped without a word.
	defaultQueryTimeout = 30 * time.Second
	maxShownRows        = 1000    // rows a page or a JSON answer holds
	maxDownloadRow      = 1000000 // rows a download holds
)

// sqlResult is a query's result as a page or the API shows it.
type sqlResult struct {
	Columns   []string `json:"columns"`
	Rows      [][]any  `json:"rows"`
	Truncated bool     `json:"truncated"` // more rows than shown
	Elapsed   string   `json:"elapsed"`
}

// errStop ends a query early: enough rows.
var errStop = errors.New("enough rows")

// runSQL runs q and keeps up to most rows.
func (c *console) runSQL(ctx context.Context, q string, most int) (sqlResult, error) {
	q = strings.TrimSpace(q)
	if q == "" {
		return sqlResult{}, badRequest("the SQL statement is empty: write a SELECT, such as SELECT * FROM onepassword_signinattempt ORDER BY p_event_time DESC LIMIT 10")
	}
	ctx, cancel := context.WithTimeout(ctx, c.queryTimeout)
	defer cancel()
	start := time.Now()
	res := sqlResult{Rows: [][]any{}}
	jsonCols := jsonColumns()
	err := c.d.Store.Query(ctx, q, func(cols []string, vals []any) error {
		if res.Columns == nil {
			res.Columns = append([]string{}, cols...)
		}
		if vals == nil {
			return nil
		}
		if len(res.Rows) == most {
			res.Truncated = true
			return errStop
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			row[i] = cellValue(cols[i], v, jsonCols)
		}
		res.Rows = append(res.Rows, row)
		return nil
	})
	res.Elapsed = time.Since(start).Round(time.Millisecond).String()
	if err != nil && !errors.Is(err, errStop) {
		return res, c.sqlError(ctx, err)
	}
	return res, nil
}

// sqlError words a failed query: the statement is the user's own, so its
// error is shown (SQLite and PostgreSQL name the problem, not a path).
func (c *console) sqlError(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, store.ErrReadOnly):
		return userError(http.StatusBadRequest, fmt.Errorf("%w: the console runs one SELECT statement, and never reads tokens, secrets or cursors", err))
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		c.log.Warn("console query stopped at its time limit", "limit", c.queryTimeout.String())
		return fail(http.StatusRequestTimeout, "the query ran past %s and was stopped: narrow it (a WHERE on p_event_time, a LIMIT)", c.queryTimeout)
	}
	return fail(http.StatusBadRequest, "the query failed: %s", safetext.Terminal(err.Error()))
}

// jsonColumns are the columns whose text is JSON by the schema: nested in
// JSON answers, as `opwatch query --format json` does.
func jsonColumns() map[string]bool {
	cols := map[string]bool{"p_any_ip_addresses": true, "p_any_emails": true, "raw": true}
	for _, lt := range logtype.All() {
		for _, f := range lt.Fields {
			if f.Type == logtype.Object || f.Type == logtype.Array {
				cols[f.Name] = true
			}
		}
	}
	return cols
}

// cellValue is a value as JSON carries it: JSON columns nested, bytes as
// text, infinities as text.
func cellValue(col string, v any, jsonCols map[string]bool) any {
	switch x := v.(type) {
	case []byte:
		v = string(x)
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return strconv.FormatFloat(x, 'g', -1, 64)
		}
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	if s, ok := v.(string); ok && jsonCols[col] {
		t := strings.TrimLeft(s, " \t\r\n")
		if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[")) && json.Valid([]byte(s)) {
			return json.RawMessage(s)
		}
	}
	return v
}

// cellText is a value as a table cell or a CSV field shows it.
func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case json.RawMessage:
		return string(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case int64:
		return strconv.FormatInt(x, 10)
	}
	return text(v)
}

// download streams a query's result as CSV or JSON (an array of objects),
// as a file.
func (c *console) download(w http.ResponseWriter, r *http.Request, q, format string) error {
	q = strings.TrimSpace(q)
	if q == "" {
		return badRequest("the SQL statement is empty")
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.queryTimeout)
	defer cancel()
	jsonCols := jsonColumns()
	bw := bufio.NewWriterSize(w, 64<<10)
	var cw *csv.Writer
	started, rows := false, 0
	begin := func() {
		started = true
		h := w.Header()
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		name := "opwatch-" + c.now().UTC().Format("20060102-150405")
		if format == "csv" {
			h.Set("Content-Type", "text/csv; charset=utf-8")
			h.Set("Content-Disposition", `attachment; filename="`+name+`.csv"`)
			cw = csv.NewWriter(bw)
		} else {
			h.Set("Content-Type", "application/json; charset=utf-8")
			h.Set("Content-Disposition", `attachment; filename="`+name+`.json"`)
			bw.WriteString("[")
		}
		w.WriteHeader(http.StatusOK)
	}
	var buf bytes.Buffer
	err := c.d.Store.Query(ctx, q, func(cols []string, vals []any) error {
		if !started {
			begin()
			if cw != nil {
				rec := make([]string, len(cols))
				for i, col := range cols {
					rec[i] = safetext.CSVCell(col)
				}
				cw.Write(rec)
			}
		}
		if vals == nil {
			return nil
		}
		if rows == maxDownloadRow {
			return errStop
		}
		rows++
		if cw != nil {
			rec := make([]string, len(vals))
			for i, v := range vals {
				s := cellText(cellValue(cols[i], v, jsonCols))
				if _, isText := v.(string); isText {
					s = safetext.CSVCell(s)
				}
				rec[i] = s
			}
			return cw.Write(rec)
		}
		buf.Reset()
		if rows > 1 {
			buf.WriteString(",")
		}
		buf.WriteString("\n{")
		for i, col := range cols {
			if i > 0 {
				buf.WriteString(",")
			}
			k, _ := json.Marshal(col)
			buf.Write(k)
			buf.WriteString(":")
			val, err := json.Marshal(cellValue(col, vals[i], jsonCols))
			if err != nil {
				val, _ = json.Marshal(fmt.Sprint(vals[i]))
			}
			buf.Write(val)
		}
		buf.WriteString("}")
		_, err := bw.Write(buf.Bytes())
		return err
	})
	if err != nil && !errors.Is(err, errStop) {
		if !started {
			return c.sqlError(ctx, err)
		}
		// Too late for a status: the file ends here, and the log says why.
		c.log.Warn("console download cut short", "err", err, "rows", rows)
	}
	if !started {
		begin()
	}
	if cw != nil {
		cw.Flush()
	} else {
		bw.WriteString("\n]\n")
	}
	return bw.Flush()
}
