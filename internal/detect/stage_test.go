package detect

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

var t0 = time.Date(2026, 11, 30, 10, 0, 0, 0, time.UTC)

func at(h, m int) time.Time { return time.Date(2026, 11, 30, h, m, 0, 0, time.UTC) }

func loadTestRules(t *testing.T) *Set {
	t.Helper()
	s, err := LoadFS(testRules, "testrules")
	if err != nil {
		t.Fatalf("load test rules: %v", err)
	}
	return s
}

// drain runs the stage until it has read every event.
func drain(t *testing.T, st *Stage) {
	t.Helper()
	for range 10000 {
		res, err := st.Step(context.Background())
		if err != nil {
			t.Fatalf("step: %v", err)
		}
		if res.Events == 0 {
			return
		}
	}
	t.Fatal("the stage never caught up")
}

func newTestStage(t *testing.T, m *memStore, batch int) *Stage {
	t.Helper()
	return NewStage(StageConfig{Store: m, Rules: loadTestRules(t), Batch: batch, AlertsPerHour: 1000})
}

// Panther's knowledge-base example of a 60-minute dedup period: 10:07
// creates the alert, 10:36, 10:42 and 11:06 are appended, 11:07 opens a new
// alert. Another dedup string is another alert.
func TestStageDedupPeriodFromFirstMatch(t *testing.T) {
	m := newMemStore()
	for _, tm := range []time.Time{at(10, 7), at(10, 36), at(10, 42), at(11, 6), at(11, 7)} {
		m.add(tm, time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	}
	m.add(at(11, 8), time.Time{}, map[string]any{"action": "hit", "who": "bob"})
	m.add(at(11, 9), time.Time{}, map[string]any{"action": "other", "who": "bob"})
	drain(t, newTestStage(t, m, 1000))
	want := []string{
		`rule Test.Match "ann" [1 2 3 4]`,
		`rule Test.Match "ann" [5]`,
		`rule Test.Match "bob" [6]`,
	}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	a := m.alerts[0]
	if a.Title != "hit by ann" || a.Severity != "HIGH" || a.Status != store.AlertOpen || !a.PeriodEnd.Equal(at(11, 7)) {
		t.Errorf("first alert = %+v; want title 'hit by ann', HIGH, open, period ending 11:07", a)
	}
	if a.Events != 4 {
		t.Errorf("first alert has %d events, want 4", a.Events)
	}
}

// No alert until Threshold matches of one dedup string fall within the
// period; the matches counted on the way become the alert's events, and
// later ones in the period are appended.
func TestStageThreshold(t *testing.T) {
	m := newMemStore()
	// Two failures, then the period (10 minutes from the first) ends: no alert.
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "fail", "ip": "1.1.1.1"})
	m.add(at(10, 5), time.Time{}, map[string]any{"action": "fail", "ip": "1.1.1.1"})
	// A new period: three within it open an alert, a fourth is appended.
	m.add(at(10, 11), time.Time{}, map[string]any{"action": "fail", "ip": "1.1.1.1"})
	m.add(at(10, 12), time.Time{}, map[string]any{"action": "fail", "ip": "2.2.2.2"})
	m.add(at(10, 13), time.Time{}, map[string]any{"action": "fail", "ip": "1.1.1.1"})
	m.add(at(10, 14), time.Time{}, map[string]any{"action": "fail", "ip": "1.1.1.1"})
	m.add(at(10, 15), time.Time{}, map[string]any{"action": "fail", "ip": "1.1.1.1"})
	// Batches of 2: the pending matches span batches and commits.
	drain(t, newTestStage(t, m, 2))
	want := []string{`rule Test.Threshold "1.1.1.1" [3 5 6 7]`}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if a := m.alerts[0]; !a.FirstEventAt.Equal(at(10, 11)) {
		t.Errorf("alert's first event at %v, want 10:11 (the first of the matches that reached the threshold)", a.FirstEventAt)
	}
	// 2.2.2.2 is still counting; the expired 1.1.1.1 group is gone.
	if g, ok := m.groups[groupKey{"Test.Threshold", "2.2.2.2"}]; !ok || g.Matches != 1 || g.AlertID != "" || len(g.Pending) != 1 {
		t.Errorf("group of 2.2.2.2 = %+v, %v; want one pending match", g, ok)
	}
}

// A rule that fails raises one rule-error alert per dedup period, holding
// the events it failed on, and the stage and the other rules go on.
func TestStageRuleErrors(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "boom"})
	m.add(at(10, 1), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	m.add(at(10, 10), time.Time{}, map[string]any{"action": "boom"})
	m.add(at(10, 31), time.Time{}, map[string]any{"action": "boom"})
	drain(t, newTestStage(t, m, 1000))
	want := []string{
		`rule_error Test.Broken "rule error" [1 3]`,
		`rule Test.Match "ann" [2]`,
		`rule_error Test.Broken "rule error" [4]`,
	}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if a := m.alerts[0]; !strings.Contains(a.Title, "Test.Broken") || !strings.Contains(string(a.Context), "division") {
		t.Errorf("rule error alert: title %q, context %s; want the rule and its error", a.Title, a.Context)
	}
	if m.pos[StageName] != 4 {
		t.Errorf("position %d, want 4", m.pos[StageName])
	}
}

// The limiter: past AlertsPerHour alerts of one rule in a clock hour, the
// rule opens no more alerts until the hour ends, and one system error says
// so. Matches of its open alerts still count.
func TestStageLimiter(t *testing.T) {
	m := newMemStore()
	for i, who := range []string{"a", "b", "c", "d", "e"} {
		m.add(at(10, i), time.Time{}, map[string]any{"action": "hit", "who": who})
	}
	m.add(at(10, 30), time.Time{}, map[string]any{"action": "hit", "who": "a"}) // joins a's open alert
	m.add(at(11, 0), time.Time{}, map[string]any{"action": "hit", "who": "f"})  // a new hour
	st := NewStage(StageConfig{Store: m, Rules: loadTestRules(t), Batch: 3, AlertsPerHour: 3})
	drain(t, st)
	want := []string{
		`rule Test.Match "a" [1 6]`,
		`rule Test.Match "b" [2]`,
		`rule Test.Match "c" [3]`,
		`system_error Test.Match "alert limit" []`,
		`rule Test.Match "f" [7]`,
	}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// A crash at any commit loses and doubles nothing: the batch is evaluated
// again from the stored position, by the same stage or a new one (a
// restart), with the same decisions as a run that never failed, whatever
// the batch sizes.
func TestStageExactAfterFailedCommit(t *testing.T) {
	fill := func(m *memStore) {
		for i := range 40 {
			tm := t0.Add(time.Duration(i) * 90 * time.Second)
			switch i % 5 {
			case 0:
				m.add(tm, time.Time{}, map[string]any{"action": "hit", "who": []string{"ann", "bob"}[i%2]})
			case 1, 2:
				m.add(tm, time.Time{}, map[string]any{"action": "fail", "ip": "9.9.9.9"})
			case 3:
				m.add(tm, time.Time{}, map[string]any{"action": "again", "who": "cy"})
			case 4:
				m.add(tm, time.Time{}, map[string]any{"action": "boom"})
			}
		}
	}
	clean := newMemStore()
	fill(clean)
	drain(t, newTestStage(t, clean, 1000))
	want := clean.summary()
	if len(want) < 5 {
		t.Fatalf("the clean run raised too little to compare: %v", want)
	}
	for fail := 1; fail <= 12; fail++ {
		for _, restart := range []bool{false, true} {
			m := newMemStore()
			fill(m)
			m.failCommit = func(n int, c store.DetectCommit) error {
				if n == fail {
					return errors.New("disk full")
				}
				return nil
			}
			st := newTestStage(t, m, 4)
			for range 100 {
				res, err := st.Step(context.Background())
				if err != nil {
					if restart {
						st = newTestStage(t, m, 3) // another batch size, too
					}
					continue
				}
				if res.Events == 0 {
					break
				}
			}
			if diff := cmp.Diff(want, m.summary()); diff != "" {
				t.Errorf("commit %d failed (restart %v): alerts differ from a clean run (-want +got):\n%s", fail, restart, diff)
			}
		}
	}
}

// A rule's memory lives by the events' clock: two "again" of one user 60
// seconds apart or less match, further apart they do not; values written in
// one batch are read by the next one through the store.
func TestStageRuleMemoryTTL(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "again", "who": "ann"})
	m.add(at(10, 0).Add(61*time.Second), time.Time{}, map[string]any{"action": "again", "who": "ann"}) // expired: counts 1 again
	m.add(at(10, 0).Add(100*time.Second), time.Time{}, map[string]any{"action": "again", "who": "ann"})
	m.add(at(10, 5), time.Time{}, map[string]any{"action": "again", "who": "bob"})
	m.add(at(10, 5).Add(time.Second), time.Time{}, map[string]any{"action": "again", "who": "bob"})
	drain(t, newTestStage(t, m, 1))
	want := []string{
		`rule Test.Memory "ann" [3]`,
		`rule Test.Memory "bob" [5]`,
	}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if m.stateReads != 0 {
		t.Errorf("%d reads of the store for values the stage holds or knows absent", m.stateReads)
	}
}

// Memory written before a restart is read back from the store, all at
// once when it fits the cache, key by key when it does not.
func TestStageRuleMemoryAcrossRestart(t *testing.T) {
	for _, capacity := range []int{maxCachedState, 1} {
		m := newMemStore()
		m.add(at(10, 0), time.Time{}, map[string]any{"action": "again", "who": "ann"})
		m.add(at(10, 0), time.Time{}, map[string]any{"action": "again", "who": "bob"})
		drain(t, newTestStage(t, m, 1000))
		m.add(at(10, 0).Add(30*time.Second), time.Time{}, map[string]any{"action": "again", "who": "ann"})
		m.add(at(10, 0).Add(30*time.Second), time.Time{}, map[string]any{"action": "again", "who": "bob"})
		m.add(at(10, 0).Add(30*time.Second), time.Time{}, map[string]any{"action": "again", "who": "cy"})
		st := newTestStage(t, m, 1000)
		st.stateCap = capacity
		m.stateReads, m.stateLoads = 0, 0
		drain(t, st)
		want := []string{`rule Test.Memory "ann" [3]`, `rule Test.Memory "bob" [4]`}
		if diff := cmp.Diff(want, m.summary()); diff != "" {
			t.Errorf("capacity %d: alerts (-want +got):\n%s", capacity, diff)
		}
		if capacity > 2 && (m.stateLoads != 2 || m.stateReads != 0) {
			t.Errorf("capacity %d: %d values preloaded, %d read one by one; want 2 and 0", capacity, m.stateLoads, m.stateReads)
		}
		if capacity == 1 && m.stateReads != 3 {
			t.Errorf("capacity %d: %d values read one by one; want 3 (the cache cannot hold them all)", capacity, m.stateReads)
		}
	}
}

// A resolved alert's dedup key starts fresh, even for a stage that held
// the group in memory: its next commit finds the epoch moved, reloads and
// opens a new alert.
func TestStageResolvedAlertStartsFresh(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	st := newTestStage(t, m, 1000)
	drain(t, st)
	m.resolve(m.alerts[0].ID)
	m.add(at(10, 5), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	moved := false
	for range 3 {
		_, err := st.Step(context.Background())
		moved = moved || errors.Is(err, store.ErrPositionMoved)
		if err != nil && !errors.Is(err, store.ErrPositionMoved) {
			t.Fatal(err)
		}
	}
	if err := st.Flush(); err != nil {
		t.Fatal(err)
	}
	if !moved {
		t.Error("the stage's commit never found the epoch moved")
	}
	want := []string{`rule Test.Match "ann" [1]`, `rule Test.Match "ann" [2]`}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// New alerts are committed with their notifications; a routing failure
// stores nothing and the batch is evaluated again.
func TestStageRoutesNewAlerts(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	m.add(at(10, 1), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	var got []store.Notification
	m.failCommit = func(n int, c store.DetectCommit) error {
		got = append(got, c.Notifications...)
		return nil
	}
	fail := true
	route := func(ctx context.Context, a store.Alert) ([]store.Notification, error) {
		if fail {
			fail = false
			return nil, errors.New("destinations unreadable")
		}
		return []store.Notification{{ID: "n-" + a.RuleID, AlertID: a.ID, DestinationID: "d", Kind: store.NotifyTrigger}}, nil
	}
	st := NewStage(StageConfig{Store: m, Rules: loadTestRules(t), Batch: 1000, Route: route})
	if _, err := st.Step(context.Background()); err == nil {
		t.Fatal("a routing failure did not fail the batch")
	}
	if len(m.alerts) != 0 {
		t.Fatalf("a batch whose routing failed stored %d alerts", len(m.alerts))
	}
	drain(t, st)
	if len(got) != 1 || got[0].AlertID != m.alerts[0].ID || len(m.alerts) != 1 {
		t.Errorf("notifications %+v for alerts %v; want one for the one alert", got, m.summary())
	}
}

// A late event (its p_event_time a day old) is evaluated when it arrives:
// the stage reads by position, not by time.
func TestStageLateEvent(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "other"})
	st := newTestStage(t, m, 1000)
	drain(t, st)
	m.add(at(10, 5), at(10, 5).Add(-24*time.Hour), map[string]any{"action": "hit", "who": "late"})
	drain(t, st)
	want := []string{`rule Test.Match "late" [2]`}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
	if got := m.alerts[0].FirstEventAt; !got.Equal(at(10, 5).Add(-24 * time.Hour)) {
		t.Errorf("alert's first event at %v, want the event's own time a day back", got)
	}
}

// Lookup tables enrich the events of their log type by the selector's
// value, as p_enrichment[table][selector]; a table loaded again (a new
// version) is read again.
func TestStageLookupEnrichment(t *testing.T) {
	m := newMemStore()
	m.tables = []store.LookupTable{{Name: "bad_ips", KeyColumn: "ip", LogType: "OnePassword.AuditEvent", Selector: "ip", Version: 1}}
	m.rows["bad_ips"] = map[string]json.RawMessage{"6.6.6.6": json.RawMessage(`{"ip":"6.6.6.6","listed":true}`)}
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "x", "ip": "6.6.6.6"})
	m.add(at(10, 1), time.Time{}, map[string]any{"action": "x", "ip": "7.7.7.7"})
	st := newTestStage(t, m, 1000)
	drain(t, st)
	m.mu.Lock()
	m.tables[0].Version = 2
	m.rows["bad_ips"] = map[string]json.RawMessage{"7.7.7.7": json.RawMessage(`{"ip":"7.7.7.7","listed":true}`)}
	m.mu.Unlock()
	m.add(at(10, 2), time.Time{}, map[string]any{"action": "x", "ip": "7.7.7.7"})
	drain(t, st)
	want := []string{`rule Test.Lookup "6.6.6.6" [1]`, `rule Test.Lookup "7.7.7.7" [3]`}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// After a restart the stage goes on from the stored groups: a match in an
// open alert's period is appended to it, not a new alert.
func TestStageRestartKeepsOpenAlerts(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "fail", "ip": "3.3.3.3"})
	drain(t, newTestStage(t, m, 1000))
	m.add(at(10, 1), time.Time{}, map[string]any{"action": "fail", "ip": "3.3.3.3"})
	m.add(at(10, 2), time.Time{}, map[string]any{"action": "fail", "ip": "3.3.3.3"})
	m.add(at(10, 20), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	drain(t, newTestStage(t, m, 1000))
	want := []string{`rule Test.Match "ann" [1 5]`, `rule Test.Threshold "3.3.3.3" [2 3 4]`}
	if diff := cmp.Diff(want, m.summary()); diff != "" {
		t.Errorf("alerts (-want +got):\n%s", diff)
	}
}

// Run polls when caught up and stops with its context.
func TestStageRunPollsUntilCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemStore()
		st := NewStage(StageConfig{Store: m, Rules: loadTestRules(t), Idle: time.Second})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- st.Run(ctx) }()
		time.Sleep(3 * time.Second)
		m.add(time.Now(), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
		time.Sleep(time.Second + time.Millisecond) // one idle interval
		synctest.Wait()
		if got := m.summary(); len(got) != 1 {
			t.Errorf("after one idle interval: alerts %v, want the new event's", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after cancel, want nil", err)
		}
	})
}

// A replay evaluates one rule, enabled or not, over history since a time,
// raises nothing and reads none of the live stage's state.
func TestReplay(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), at(10, 0).Add(-40*24*time.Hour), map[string]any{"action": "hit", "who": "old"})
	m.add(at(10, 0), at(10, 0).Add(-2*time.Hour), map[string]any{"action": "hit", "who": "ann"})
	m.add(at(10, 0), at(10, 0).Add(-1*time.Hour), map[string]any{"action": "hit", "who": "ann"})
	m.add(at(10, 0), at(10, 0).Add(-30*time.Minute), map[string]any{"action": "hit", "who": "ann"})
	rules := loadTestRules(t)
	res, err := Replay(context.Background(), ReplayOptions{Store: m, Rules: []*Rule{rules.Rule("Test.Disabled")},
		Since: at(10, 0).Add(-30 * 24 * time.Hour), Batch: 2})
	if err != nil {
		t.Fatal(err)
	}
	// The event clock: 08:00 opens, 09:00 is the next period, 09:30 joins it.
	got := summarize(res.Alerts, nil)
	want := []string{`rule Test.Disabled "defaultDedupString:Test.Disabled" []`, `rule Test.Disabled "defaultDedupString:Test.Disabled" []`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("replayed alerts (-want +got):\n%s", diff)
	}
	if res.Events != 3 || res.Alerts[0].Events != 1 || res.Alerts[1].Events != 2 {
		t.Errorf("replay: %d events, alerts %+v; want 3 events, alerts of 1 and 2 matches", res.Events, res.Alerts)
	}
	if len(m.alerts) != 0 || m.commits != 0 {
		t.Errorf("a replay stored %d alerts in %d commits, want none", len(m.alerts), m.commits)
	}
}

// Batches wholly before the replay's start are skipped, not read again from
// the start (it looped forever on a lake whose older part filled batches).
func TestReplaySkipsOldBatches(t *testing.T) {
	m := newMemStore()
	for i := range 5 {
		m.add(at(10, 0), at(10, 0).Add(-40*24*time.Hour+time.Duration(i)*time.Minute), map[string]any{"action": "hit", "who": "old"})
	}
	m.add(at(10, 0), at(10, 0).Add(-time.Hour), map[string]any{"action": "hit", "who": "ann"})
	rules := loadTestRules(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := Replay(ctx, ReplayOptions{Store: m, Rules: []*Rule{rules.Rule("Test.Disabled")},
		Since: at(10, 0).Add(-30 * 24 * time.Hour), Batch: 2})
	if err != nil {
		t.Fatalf("Replay: %v (it did not end)", err)
	}
	if res.Events != 1 {
		t.Errorf("replayed %d events, want the 1 since the start", res.Events)
	}
}

// Enrichment reads attacker-written events: whatever their JSON and the
// table's selector, it never fails the stage, and a string at the selector
// that is a key finds its row.
func FuzzLookupEnrich(f *testing.F) {
	f.Add([]byte(`{"ip":"6.6.6.6"}`), "ip", "6.6.6.6")
	f.Add([]byte(`{"client":{"ip_address":"1.2.3.4"}}`), "client.ip_address", "1.2.3.4")
	f.Add([]byte(`{"a":[1,"x",true,null,{"b":2}]}`), "a", "x")
	f.Add([]byte(`{"n":12.50}`), "n", "12.50")
	f.Add([]byte(`not json`), "p_any_ip_addresses", "9.9.9.9")
	f.Fuzz(func(t *testing.T, raw []byte, selector, key string) {
		l := newLookups()
		l.rows["t"] = map[string]json.RawMessage{key: json.RawMessage(`{"hit":true}`)}
		l.byLogType["L"] = []store.LookupTable{{Name: "t", LogType: "L", Selector: selector}}
		ev := store.StoredEvent{LogType: "L", Raw: raw, IPs: []string{"9.9.9.9"}}
		got := l.enrich(ev)
		var obj map[string]any
		if json.Unmarshal(raw, &obj) == nil && !strings.Contains(selector, ".") && !strings.HasPrefix(selector, "p_any_") && key != "" {
			if s, ok := obj[selector].(string); ok && s == key && string(got["t"][selector]) != `{"hit":true}` {
				t.Errorf("selector %q = %q, a key of the table, found %v", selector, s, got)
			}
		}
	})
}

type fakeMetrics struct {
	mu     sync.Mutex
	evals  map[string]int
	errs   map[string]int
	alerts map[string]int
}

func (f *fakeMetrics) ObserveRules(ruleID string, n int, d time.Duration, errs int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.evals[ruleID] += n
	f.errs[ruleID] += errs
}

func (f *fakeMetrics) AlertRaised(alertType, severity string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alerts[alertType+"/"+severity]++
}

// The stage tells its metrics every rule's evaluations and failures, and
// the alerts it stored.
func TestStageMetrics(t *testing.T) {
	m := newMemStore()
	m.add(at(10, 0), time.Time{}, map[string]any{"action": "hit", "who": "ann"})
	m.add(at(10, 1), time.Time{}, map[string]any{"action": "boom"})
	m.add(at(10, 2), time.Time{}, map[string]any{"action": "other"})
	fm := &fakeMetrics{evals: map[string]int{}, errs: map[string]int{}, alerts: map[string]int{}}
	drain(t, NewStage(StageConfig{Store: m, Rules: loadTestRules(t), Batch: 2, Metrics: fm}))
	if fm.evals["Test.Match"] != 3 || fm.evals["Test.Broken"] != 3 || fm.errs["Test.Broken"] != 1 || fm.errs["Test.Match"] != 0 {
		t.Errorf("evaluations %v, errors %v; want 3 per rule and Test.Broken's one error", fm.evals, fm.errs)
	}
	want := map[string]int{"rule/HIGH": 1, "rule_error/LOW": 1}
	if diff := cmp.Diff(want, fm.alerts); diff != "" {
		t.Errorf("alerts raised (-want +got):\n%s", diff)
	}
}
