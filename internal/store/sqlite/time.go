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

// timeText is the stored form of a time that is never NULL. It formats by
// hand: time.Format is a tenth of the cost of storing an event.
func timeText(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format(timeLayout)
	}
	hour, min, sec := t.Clock()
	var b [len(timeLayout)]byte
	digits(b[0:4], year)
	b[4] = '-'
	digits(b[5:7], int(month))
	b[7] = '-'
	digits(b[8:10], day)
	b[10] = ' '
	digits(b[11:13], hour)
	b[13] = ':'
	digits(b[14:16], min)
	b[16] = ':'
	digits(b[17:19], sec)
	b[19] = '.'
	digits(b[20:29], t.Nanosecond())
	return string(b[:])
}

// digits writes v into b as decimal, zero-padded to len(b).
func digits(b []byte, v int) {
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + v%10)
		v /= 10
	}
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
