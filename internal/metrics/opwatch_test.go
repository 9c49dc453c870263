package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/metrics/metricstest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

func TestOpwatchHooks(t *testing.T) {
	m := NewOpwatch(OpwatchOptions{Build: BuildInfo{Version: "1.2.3", Revision: "abc"}})
	const src, lt = `acme "prod"`, "OnePassword.ItemUsage"
	m.PageStored(src, lt, store.CommitResult{Inserted: 10, Duplicates: 2, Quarantined: 1})
	m.PageStored(src, lt, store.CommitResult{Inserted: 5})
	m.PollDone(src, lt, 2*time.Second, "")
	m.PollDone(src, lt, 40*time.Second, "rate_limited")
	m.ObserveRequest(onepassword.RequestInfo{Endpoint: "itemusages", Status: 200, Duration: time.Second})
	m.ObserveRequest(onepassword.RequestInfo{Endpoint: "itemusages", Status: 429})
	m.ObserveRequest(onepassword.RequestInfo{Endpoint: "itemusages", Status: 0, Kind: onepassword.Network})
	m.ObserveRequest(onepassword.RequestInfo{Endpoint: "/anything/else", Status: 503})
	m.ObserveRule("Rule.A", 3*time.Millisecond, false)
	m.ObserveRule("Rule.A", time.Millisecond, true)
	m.ObserveRules("Rule.B", 100, time.Second, 2)
	m.AlertRaised(store.AlertRule, "HIGH")
	m.AlertRaised(store.AlertRule, "HIGH")

	fams := parse(t, scrape(t, m.Registry()))
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"opwatch_build_info", []string{"version", "1.2.3", "revision", "abc", "goversion", m.goVersion(t)}, 1},
		{"opwatch_events_stored_total", []string{"source", src, "log_type", lt}, 15},
		{"opwatch_events_duplicate_total", []string{"source", src, "log_type", lt}, 2},
		{"opwatch_events_quarantined_total", []string{"source", src, "log_type", lt}, 1},
		{"opwatch_poll_duration_seconds_count", []string{"source", src, "log_type", lt}, 2},
		{"opwatch_poll_duration_seconds_bucket", []string{"source", src, "log_type", lt, "le", "2.5"}, 1},
		{"opwatch_poll_duration_seconds_sum", []string{"source", src, "log_type", lt}, 42},
		{"opwatch_poll_errors_total", []string{"source", src, "log_type", lt, "kind", "rate_limited"}, 1},
		{"opwatch_api_requests_total", []string{"endpoint", "itemusages", "status_class", "2xx"}, 1},
		{"opwatch_api_requests_total", []string{"endpoint", "itemusages", "status_class", "4xx"}, 1},
		{"opwatch_api_requests_total", []string{"endpoint", "itemusages", "status_class", "none"}, 1},
		{"opwatch_api_requests_total", []string{"endpoint", "other", "status_class", "5xx"}, 1},
		{"opwatch_api_rate_limited_total", []string{"endpoint", "itemusages"}, 1},
		{"opwatch_api_request_duration_seconds_count", []string{"endpoint", "itemusages"}, 3},
		{"opwatch_rule_evaluations_total", []string{"rule", "Rule.A"}, 2},
		{"opwatch_rule_errors_total", []string{"rule", "Rule.A"}, 1},
		{"opwatch_rule_evaluation_seconds_total", []string{"rule", "Rule.A"}, 0.004},
		{"opwatch_rule_evaluations_total", []string{"rule", "Rule.B"}, 100},
		{"opwatch_rule_errors_total", []string{"rule", "Rule.B"}, 2},
		{"opwatch_alerts_raised_total", []string{"type", "rule", "severity", "HIGH"}, 2},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%q = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if _, ok := fams["opwatch_poll_errors_total"]; !ok || len(fams["opwatch_poll_errors_total"].Samples) != 1 {
		t.Error("a successful poll was counted as an error")
	}
}

func (m *Opwatch) goVersion(t *testing.T) string {
	for _, s := range m.reg.families["opwatch_build_info"].vec.snapshot() {
		return s.labels[2]
	}
	t.Fatal("no build info")
	return ""
}

// Rule ids label series; past the bound they share the overflow series,
// and the lookup cache does not grow with them.
func TestRuleSeriesBounded(t *testing.T) {
	m := NewOpwatch(OpwatchOptions{MaxSeries: 2})
	for _, id := range []string{"a", "b", "c", "d", "e"} {
		m.ObserveRule(id, time.Millisecond, false)
	}
	m.ObserveRule("e", time.Millisecond, false)
	fams := parse(t, scrape(t, m.Registry()))
	if n := len(fams["opwatch_rule_evaluations_total"].Samples); n != 3 {
		t.Errorf("%d rule series, want 2 and the overflow", n)
	}
	if got := value(t, fams, "opwatch_rule_evaluations_total", "rule", OverflowValue); got != 4 {
		t.Errorf("overflow %v, want 4", got)
	}
	n := 0
	m.rules.Range(func(_, _ any) bool { n++; return true })
	if n != 2 {
		t.Errorf("%d rules cached, want 2", n)
	}
}

// fakeStore is the store as the collectors read it.
type fakeStore struct {
	sources   []store.Source
	streams   []store.Stream
	dests     []store.Destination
	stats     map[string]store.DestinationStats
	statsErr  error
	pos, seq  int64
	streamErr error
}

func (f *fakeStore) ListSources(context.Context) ([]store.Source, error) { return f.sources, nil }
func (f *fakeStore) Streams(_ context.Context, id string) ([]store.Stream, error) {
	return f.streams, f.streamErr
}
func (f *fakeStore) Destinations(context.Context) ([]store.Destination, error) { return f.dests, nil }
func (f *fakeStore) DestinationStats(_ context.Context, id string) (store.DestinationStats, error) {
	return f.stats[id], f.statsErr
}
func (f *fakeStore) Position(_ context.Context, stage string) (int64, error) {
	if stage != "detect" {
		return 0, errors.New("unknown stage")
	}
	return f.pos, nil
}
func (f *fakeStore) LatestSeq(context.Context) (int64, error) { return f.seq, nil }

func TestStoreCollectors(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	const evil = "evil\"}\n# TYPE x gauge"
	fs := &fakeStore{
		sources: []store.Source{
			{ID: "s1", Name: "acme", CreatedAt: now.Add(-48 * time.Hour)},
			{ID: "s2", Name: evil, CreatedAt: now.Add(-2 * time.Hour)},
		},
		streams: []store.Stream{
			{SourceID: "s1", LogType: "OnePassword.SignInAttempt", Enabled: true, Status: store.StreamOK,
				LastSuccessAt: now.Add(-30 * time.Second), LastEventAt: now.Add(-10 * time.Minute),
				LastStoredAt: now.Add(-5 * time.Minute), NextPollAt: now.Add(-90 * time.Second),
				Events: 1234, Quarantined: 3},
			{SourceID: "s1", LogType: "OnePassword.AuditEvent", Enabled: false, Events: 7},
			// Never succeeded, failing: its ages count from its source's creation.
			{SourceID: "s2", LogType: "OnePassword.ItemUsage", Enabled: true, Status: store.StreamStopped,
				ConsecutiveFailures: 4, NextPollAt: now.Add(-time.Hour), LastEventAt: now.Add(time.Hour)},
		},
		dests: []store.Destination{{ID: "d1", Name: "soc"}},
		stats: map[string]store.DestinationStats{"d1": {Pending: 3, Sent: 40, Failed: 1}},
		pos:   90, seq: 100,
	}
	m := NewOpwatch(OpwatchOptions{Now: func() time.Time { return now }})
	m.CollectStreams(fs)
	m.CollectOutbox(fs)
	m.CollectDetectLag(fs)
	fams := parse(t, scrape(t, m.Registry()))
	si, au, iu := "OnePassword.SignInAttempt", "OnePassword.AuditEvent", "OnePassword.ItemUsage"
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"opwatch_stream_events_total", []string{"source", "acme", "log_type", si}, 1234},
		{"opwatch_stream_quarantined_total", []string{"source", "acme", "log_type", si}, 3},
		{"opwatch_stream_events_total", []string{"source", "acme", "log_type", au}, 7},
		{"opwatch_stream_last_success_age_seconds", []string{"source", "acme", "log_type", si}, 30},
		{"opwatch_stream_last_event_age_seconds", []string{"source", "acme", "log_type", si}, 600},
		{"opwatch_stream_last_stored_age_seconds", []string{"source", "acme", "log_type", si}, 300},
		{"opwatch_stream_poll_overdue_seconds", []string{"source", "acme", "log_type", si}, 90},
		{"opwatch_stream_status", []string{"source", "acme", "log_type", si, "status", "ok"}, 1},
		{"opwatch_stream_status", []string{"source", "acme", "log_type", si, "status", "error"}, 0},
		{"opwatch_stream_last_success_age_seconds", []string{"source", evil, "log_type", iu}, 7200},
		{"opwatch_stream_last_stored_age_seconds", []string{"source", evil, "log_type", iu}, 7200},
		{"opwatch_stream_last_event_age_seconds", []string{"source", evil, "log_type", iu}, 0}, // from the future
		{"opwatch_stream_poll_overdue_seconds", []string{"source", evil, "log_type", iu}, 0},   // stopped: not polled
		{"opwatch_stream_consecutive_failures", []string{"source", evil, "log_type", iu}, 4},
		{"opwatch_stream_status", []string{"source", evil, "log_type", iu, "status", "stopped"}, 1},
		{"opwatch_notifications", []string{"destination", "soc", "status", "pending"}, 3},
		{"opwatch_notifications", []string{"destination", "soc", "status", "sent"}, 40},
		{"opwatch_notifications", []string{"destination", "soc", "status", "failed"}, 1},
		{"opwatch_detect_lag_events", nil, 10},
		{"opwatch_detect_position", nil, 90},
		{"opwatch_events_latest_seq", nil, 100},
		{"opwatch_scrape_error", []string{"collector", "streams"}, 0},
		{"opwatch_scrape_error", []string{"collector", "outbox"}, 0},
		{"opwatch_scrape_error", []string{"collector", "detect"}, 0},
	} {
		if got := value(t, fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%q = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A stream that is not collected gives its totals only.
	if _, ok := metricstest.Value(fams, "opwatch_stream_last_success_age_seconds", "source", "acme", "log_type", au); ok {
		t.Error("a stream that is not collected has a freshness")
	}

	// One part of the store failing leaves the others served.
	fs.statsErr = errors.New("database is locked")
	fams = parse(t, scrape(t, m.Registry()))
	if _, ok := fams["opwatch_notifications"]; ok || value(t, fams, "opwatch_scrape_error", "collector", "outbox") != 1 {
		t.Error("a failing outbox read was not reported")
	}
	if value(t, fams, "opwatch_detect_lag_events") != 10 || value(t, fams, "opwatch_scrape_error", "collector", "streams") != 0 {
		t.Error("the other collectors suffered")
	}
}
