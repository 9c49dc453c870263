package sqlite

import (
	"fmt"
	"time"
)

// timeLayout is how every time is stored: UTC, fixed nine fractional digits,
// so text order is time order (and it is Panther's lake format for p_ times).
const timeLayout = "2006-01-02 15:04:05.000000000"

// timeArg is the stored form of t; the zero time is NULL.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// timeText is the stored form of a time that is never NULL.
func timeText(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// timeCol scans a stored time (or NULL, as the zero time) into *t.
type timeCol struct{ t *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.t = time.Time{}
		return nil
	case string:
		return c.parse(v)
	case []byte:
		return c.parse(string(v))
	case time.Time:
		*c.t = v.UTC()
		return nil
	}
	return fmt.Errorf("stored time has unexpected type %T", src)
}

func (c timeCol) parse(s string) error {
	t, err := time.ParseInLocation(timeLayout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("stored time %q: %w", s, err)
	}
	*c.t = t
	return nil
}
