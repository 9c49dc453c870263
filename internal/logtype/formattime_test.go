package logtype

import (
	"slices"
	"testing"
	"time"
)

func TestFormatTime(t *testing.T) {
	tests := []struct {
		in   time.Time
		want string
	}{
		{time.Date(2024, 8, 16, 19, 18, 43, 784550714, time.UTC), "2024-08-16 19:18:43.784550714"},
		{time.Date(2022, 2, 23, 22, 11, 50, 591000000, time.UTC), "2022-02-23 22:11:50.591000000"},
		{time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC), "2025-01-02 03:04:05.000000000"},
		{time.Date(2020, 6, 11, 16, 32, 50, 1, time.FixedZone("", -3*3600)), "2020-06-11 19:32:50.000000001"},
		{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), "0001-01-01 00:00:00.000000000"},
		{time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), "9999-12-31 23:59:59.999999999"},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), "10000-01-01 00:00:00.000000000"},
	}
	for _, tt := range tests {
		if got := FormatTime(tt.in); got != tt.want {
			t.Errorf("FormatTime(%v) = %q, want %q", tt.in, got, tt.want)
		}
		if got, want := FormatTime(tt.in), tt.in.UTC().Format("2006-01-02 15:04:05.000000000"); got != want {
			t.Errorf("FormatTime(%v) = %q, time.Format gives %q", tt.in, got, want)
		}
	}
}

// Text order is time order: the lake sorts and compares these strings.
func TestFormatTimeOrder(t *testing.T) {
	base := time.Date(2025, 7, 28, 19, 32, 38, 0, time.UTC)
	var times []time.Time
	for _, d := range []time.Duration{0, 1, 9, 10, 999, time.Microsecond, time.Millisecond, 100 * time.Millisecond, time.Second, time.Hour, 24 * time.Hour, 365 * 24 * time.Hour} {
		times = append(times, base.Add(d), base.Add(-d))
	}
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	var texts []string
	for _, tm := range times {
		texts = append(texts, FormatTime(tm))
	}
	if !slices.IsSorted(texts) {
		t.Errorf("formatted times are not in time order: %q", texts)
	}
}
