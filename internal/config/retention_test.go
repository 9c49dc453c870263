package config

import (
	"strings"
	"testing"
	"time"
)

const day = 24 * time.Hour

func TestRetentionDefaults(t *testing.T) {
	c := Default()
	if c.Retention.Events != Period(365*day) || c.Retention.Quarantine != Period(30*day) {
		t.Errorf("defaults: events %s, quarantine %s; want 365d and 30d", c.Retention.Events, c.Retention.Quarantine)
	}
	for lt, d := range c.Retention.EventPeriods(0) {
		if d != 365*day {
			t.Errorf("%s kept %v by default, want 365d", lt, d)
		}
	}
	if n := len(c.Retention.EventPeriods(0)); n != len(LogTypeNames()) {
		t.Errorf("EventPeriods has %d log types, want every one (%d)", n, len(LogTypeNames()))
	}
}

func TestRetentionParse(t *testing.T) {
	c, err := Parse(strings.NewReader(`retention:
  events: 400d
  quarantine: off
  log_types:
    itemusages: 90d
    SignInAttempt: off
`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Retention.Quarantine != KeepForever || c.Retention.Quarantine.Duration() != 0 || c.Retention.Quarantine.String() != "off" {
		t.Errorf("quarantine: off read as %v", c.Retention.Quarantine)
	}
	got := c.Retention.EventPeriods(0)
	want := map[string]time.Duration{"OnePassword.ItemUsage": 90 * day, "OnePassword.SignInAttempt": 0, "OnePassword.AuditEvent": 400 * day}
	for lt, d := range want {
		if got[lt] != d {
			t.Errorf("%s kept %v, want %v", lt, got[lt], d)
		}
	}
	// The flag replaces retention.events, not a log type's own period.
	got = c.Retention.EventPeriods(Period(10 * day))
	if got["OnePassword.AuditEvent"] != 10*day || got["OnePassword.ItemUsage"] != 90*day {
		t.Errorf("with --retention 10d: %v", got)
	}
	if got = c.Retention.EventPeriods(KeepForever); got["OnePassword.AuditEvent"] != 0 {
		t.Errorf("with --retention off: %v", got)
	}
}

func TestRetentionInvalid(t *testing.T) {
	for in, want := range map[string]string{
		"retention:\n  events: 12h\n":                                  "shorter than 1d",
		"retention:\n  events: 2d\n":                                   "not longer than ingest.reconcile_window 2d",
		"retention:\n  events: forever\n":                              "invalid duration",
		"retention:\n  quarantine: 0\n":                                "shorter than 1d",
		"retention:\n  log_types: {Nope: 30d}\n":                       `unknown log type "Nope"`,
		"retention:\n  log_types: {itemusages: 30d, ItemUsage: 40d}\n": "are both OnePassword.ItemUsage",
		"retention:\n  log_types: {auditevents: 1d}\n":                 "retention.log_types.auditevents 1d is not longer than",
		"retention:\n  evnts: 30d\n":                                   "unknown key evnts",
	} {
		_, err := Parse(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, want)
		}
	}
	// A shorter reconciliation window allows a shorter period.
	if _, err := Parse(strings.NewReader("ingest: {reconcile_every: 6h, reconcile_window: 12h}\nretention:\n  events: 1d\n  quarantine: 1d\n")); err != nil {
		t.Errorf("1d with a 12h window: %v", err)
	}
}

func TestParsePeriod(t *testing.T) {
	for in, want := range map[string]Period{"off": KeepForever, " OFF ": KeepForever, "1d": Period(day), "365d": Period(365 * day), "36h": Period(36 * time.Hour)} {
		if got, err := ParsePeriod(in); err != nil || got != want {
			t.Errorf("ParsePeriod(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1d", "23h", "1y", "offf"} {
		if got, err := ParsePeriod(in); err == nil {
			t.Errorf("ParsePeriod(%q) = %v, want an error", in, got)
		}
	}
}

// FuzzParseRetention: an accepted retention section keeps every period at
// least a day and longer than the reconciliation window (or forever), and
// names each log type once.
func FuzzParseRetention(f *testing.F) {
	f.Add("retention:\n  events: 400d\n  quarantine: off\n  log_types: {itemusages: 90d, SignInAttempt: off}\n")
	f.Add("retention:\n  events: 1d\n")
	f.Add("ingest: {reconcile_every: 1h, reconcile_window: 1h}\nretention: {events: 25h, quarantine: 1d}\n")
	f.Add("retention:\n  log_types: {itemusages: 30d, ItemUsage: 40d}\n")
	f.Add("retention: {events: -1d}\n")
	f.Add("retention: {log_types: {\"\": 2d}}\n")
	f.Fuzz(func(t *testing.T, in string) {
		c, err := Parse(strings.NewReader(in))
		if err != nil {
			return
		}
		r := c.Retention
		window := time.Duration(c.Ingest.ReconcileWindow)
		ok := func(p Period, w time.Duration) bool {
			return p == KeepForever || time.Duration(p) >= MinRetention && time.Duration(p) > w
		}
		if !ok(r.Events, window) || !ok(r.Quarantine, 0) {
			t.Fatalf("Parse accepted events %s, quarantine %s with reconcile_window %s", r.Events, r.Quarantine, c.Ingest.ReconcileWindow)
		}
		for k, p := range r.LogTypes {
			if !ok(p, window) {
				t.Fatalf("Parse accepted %s for %q", p, k)
			}
		}
		periods := r.EventPeriods(0)
		if len(periods) != len(LogTypeNames()) {
			t.Fatalf("EventPeriods = %v: not one per log type", periods)
		}
		for lt, d := range periods {
			if d != 0 && (d < MinRetention || d <= window) {
				t.Fatalf("%s kept %v", lt, d)
			}
		}
	})
}
