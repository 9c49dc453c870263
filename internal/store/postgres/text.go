package postgres

import (
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgtype"
)

// PostgreSQL text holds valid UTF-8 without NUL. Event data can hold NUL
// (the JSON escape \u0000 decodes to it), and so can what rules make of it
// (alert titles, dedup strings, state keys) and what servers answer (errors,
// cursors): refusing such a value would stop a stream or the detect stage
// for good on one crafted event. So text is stored through enc: a value
// PostgreSQL can hold and that does not start with escapeMark is stored as
// it is; any other is stored as escapeMark followed by its Go-quoted form.
// Every stored form is distinct, so unique keys keep their meaning, and dec
// gives back the exact value. Queries see the escaped form of such values.
const escapeMark = "\uE000" // a private-use character: no real text starts with it

// enc is the stored form of s.
func enc(s string) string {
	if strings.IndexByte(s, 0) < 0 && !strings.HasPrefix(s, escapeMark) && utf8.ValidString(s) {
		return s
	}
	return escapeMark + strconv.Quote(s)
}

// dec is the value of a stored form.
func dec(s string) string {
	if !strings.HasPrefix(s, escapeMark) {
		return s
	}
	v, err := strconv.Unquote(s[len(escapeMark):])
	if err != nil {
		return s // not written by enc: keep what is there
	}
	return v
}

// decAll decodes each of vs in place; nil when empty.
func decAll(vs []string) []string {
	if len(vs) == 0 {
		return nil
	}
	for i, v := range vs {
		vs[i] = dec(v)
	}
	return vs
}

// textCol scans a stored text (or NULL, as "") and decodes it.
type textCol struct{ s *string }

func (c textCol) ScanText(v pgtype.Text) error {
	if !v.Valid {
		*c.s = ""
		return nil
	}
	*c.s = dec(v.String)
	return nil
}

// The server keeps microseconds. A time going in is rounded to them in
// the direction that keeps a comparison's meaning: stored times and times
// compared with "> t" or "<= t" are floored; times compared with ">= t" or
// "< t" are ceiled (x >= t holds for a microsecond x exactly when x >=
// ceil(t)).

func floorMicro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ceilMicro(t time.Time) time.Time {
	f := floorMicro(t)
	if f.Before(t) {
		f = f.Add(time.Microsecond)
	}
	return f
}

// timeArg is the stored form of t; the zero time is NULL.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return floorMicro(t)
}

// timeCol scans a timestamptz (or NULL, as the zero time) into *t, in UTC.
type timeCol struct{ t *time.Time }

func (c timeCol) ScanTimestamptz(v pgtype.Timestamptz) error {
	if !v.Valid {
		*c.t = time.Time{}
		return nil
	}
	*c.t = v.Time.UTC()
	return nil
}

// lakeLayout is how Query renders times: Panther's lake format, as the
// SQLite engine stores them.
const lakeLayout = "2006-01-02 15:04:05.000000000"

func lakeTime(t time.Time) string { return t.UTC().Format(lakeLayout) }
