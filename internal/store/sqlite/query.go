package sqlite

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Query runs one read-only statement on the lake pool. Those connections
// cannot write or read secrets (see openReaders), and cap every value at
// maxValueBytes; ctx's deadline interrupts the statement. singleStatement
// keeps a second statement from hiding behind the first.
func (s *Store) Query(ctx context.Context, query string, row func(columns []string, values []any) error) error {
	if strings.TrimSpace(strings.TrimRight(strings.TrimSpace(query), ";")) == "" {
		return errors.New("the statement is empty")
	}
	if !singleStatement(query) {
		return errors.New("it holds more than one statement: run one statement at a time")
	}
	conn, err := s.lake.Conn(ctx)
	if err != nil {
		return queryError(ctx, err)
	}
	defer conn.Close()
	if err := limitQueryConn(conn); err != nil {
		return fmt.Errorf("cap its memory: %w", err)
	}
	rows, err := conn.QueryContext(ctx, query)
	if err != nil {
		return queryError(ctx, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return queryError(ctx, err)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	n := 0
	for rows.Next() {
		n++
		if err := rows.Scan(ptrs...); err != nil {
			return queryError(ctx, err)
		}
		for i, v := range vals {
			vals[i] = plain(v)
		}
		if err := row(cols, vals); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return queryError(ctx, err)
	}
	if n == 0 {
		return row(cols, nil) // the columns of an empty result
	}
	return nil
}

func queryError(ctx context.Context, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		// SQLite says "interrupted"; say why.
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			return fmt.Errorf("stopped at its time limit: %w", ctxErr)
		}
		return fmt.Errorf("%w", ctxErr)
	}
	if isReadOnlyError(err) {
		for col := range secretColumns {
			if strings.Contains(err.Error(), col[0]+"."+col[1]) {
				return deniedError(fmt.Sprintf("%s.%s is secret and cannot be read by queries; name the columns you need", col[0], col[1]))
			}
		}
		if strings.Contains(err.Error(), "sqlite_dbpage") {
			return deniedError("sqlite_dbpage (the raw pages) cannot be read by queries: they hold the secrets")
		}
		return fmt.Errorf("%w (%v)", store.ErrReadOnly, err)
	}
	if isTooBig(err) {
		return fmt.Errorf("a value would exceed %d MiB, the most one query may make: %w", maxValueBytes>>20, err)
	}
	return fmt.Errorf("%w", err)
}

// plain turns a driver value into int64, float64, string or nil.
func plain(v any) any {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case bool:
		if x {
			return int64(1)
		}
		return int64(0)
	case time.Time:
		return timeText(x)
	}
	return v
}

// singleStatement reports whether q holds at most one SQL statement: nothing
// but spaces, comments and semicolons may follow the first semicolon that is
// outside a quoted string, identifier or comment.
func singleStatement(q string) bool {
	ended := false // a ';' ended the first statement
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == ';':
			ended = true
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return true
			}
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return true // SQLite ends an open comment at the end of input
			}
			i += j + 3
		case ended:
			return false
		case c == '\'' || c == '"' || c == '`' || c == '[':
			end := c
			if c == '[' {
				end = ']'
			}
			// Doubling escapes the quote: the scan sees two quoted runs.
			j := strings.IndexByte(q[i+1:], end)
			if j < 0 {
				return true // unterminated: SQLite refuses it anyway
			}
			i += j + 1
		}
	}
	return true
}

// deniedError refuses a read-only statement that reads a secret. It is
// store.ErrReadOnly for errors.Is, but does not say "only read-only queries
// are allowed": the statement was read-only, and that would mislead.
type deniedError string

func (e deniedError) Error() string { return string(e) }
func (e deniedError) Unwrap() error { return store.ErrReadOnly }
