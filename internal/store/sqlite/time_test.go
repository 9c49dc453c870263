package sqlite

import (
	"testing"
	"time"
)

func TestTimeText(t *testing.T) {
	east := time.FixedZone("east", 5*3600+1800)
	for _, tm := range []time.Time{
		time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(2026, 1, 1, 2, 3, 4, 5, east), // the day before in UTC
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 123000000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, 0),
	} {
		want := tm.UTC().Format(timeLayout)
		if got := timeText(tm); got != want {
			t.Errorf("timeText(%v) = %q, want %q", tm, got, want)
		}
		if tm.Year() > 9999 {
			continue // Go cannot parse its own five-digit years back
		}
		var back time.Time
		if err := (timeCol{&back}).Scan(want); err != nil || !back.Equal(tm) {
			t.Errorf("scan %q = %v, %v; want %v", want, back, err, tm)
		}
	}
}
