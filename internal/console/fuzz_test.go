package console

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// Query parameters are anyone's input: parsing them never panics, and a
// refusal is a 400 that says what to give.
func FuzzParseAlertQuery(f *testing.F) {
	for _, s := range []string{"status=open&since=7d", "since=2026-01-02T15:04", "cursor=eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpZCI6IngifQ", "limit=-1", "since=99999999d", "until=1h30m"} {
		f.Add(s)
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, err := parseAlertQuery(v, now)
		if err != nil {
			if he, ok := err.(*httpError); !ok || he.status != 400 {
				t.Fatalf("%q: %v, want a 400", raw, err)
			}
			return
		}
		if q.Limit < 1 || q.Limit > 500 {
			t.Fatalf("%q: limit %d", raw, q.Limit)
		}
		if q.Cursor != "" {
			decodeCursor(q.Cursor)
		}
		if _, err := parseIndicatorQuery(v, now); err != nil {
			if _, ok := err.(*httpError); !ok {
				t.Fatalf("%q: %v", raw, err)
			}
		}
	})
}

// Series names and labels come from the log types and severities, but the
// charts escape whatever they are given.
func FuzzCharts(f *testing.F) {
	f.Add("OnePassword.SignInAttempt", int64(3))
	f.Add(`<script>alert(1)</script>"'&`, int64(-5))
	f.Fuzz(func(t *testing.T, name string, v int64) {
		if !utf8.ValidString(name) {
			return
		}
		b := []time.Time{time.Unix(0, 0), time.Unix(3600, 0)}
		svg := string(timeChart(name, b, time.Hour, []series{{Name: name, Values: []int64{v, v / 2}}}))
		svg += string(barChart(name, []bar{{Label: name, Value: v, Class: name}}))
		if strings.Contains(svg, "<script") || strings.Count(svg, "<svg") != 2 {
			t.Fatalf("unescaped: %s", svg)
		}
	})
}
