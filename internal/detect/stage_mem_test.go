package detect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"testing/fstest"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// memStore is store.Detect in memory, atomic per commit like an engine,
// with a hook to fail commits.
type memStore struct {
	mu       sync.Mutex
	events   []store.StoredEvent
	pos      map[string]int64
	alerts   []store.Alert
	alertIdx map[string]int
	matches  []store.AlertMatch
	groups   map[groupKey]store.DedupGroup
	state    map[stateKey]store.StateValue
	tables   []store.LookupTable
	rows     map[string]map[string]json.RawMessage
	commits  int
	// failCommit, when it returns an error for a commit, fails it: nothing
	// of it is stored.
	failCommit func(n int, c store.DetectCommit) error
	// stateReads counts RuleState calls; stateLoads the values RuleStates gave.
	stateReads, stateLoads int
	epoch                  int64
}

func newMemStore() *memStore {
	return &memStore{pos: map[string]int64{}, alertIdx: map[string]int{}, groups: map[groupKey]store.DedupGroup{},
		state: map[stateKey]store.StateValue{}, rows: map[string]map[string]json.RawMessage{}}
}

// add stores an event of OnePassword.AuditEvent with the given fields,
// parsed at parse (its p_event_time is event, or parse when zero).
func (m *memStore) add(parse, event time.Time, fields map[string]any) int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	seq := int64(len(m.events) + 1)
	if _, ok := fields["uuid"]; !ok {
		fields["uuid"] = fmt.Sprintf("uuid-%d", seq)
	}
	if event.IsZero() {
		event = parse
	}
	raw, _ := json.Marshal(fields)
	lt := "OnePassword.AuditEvent"
	if s, ok := fields["log_type"].(string); ok {
		lt = s
	}
	m.events = append(m.events, store.StoredEvent{Seq: seq, LogType: lt, UUID: fields["uuid"].(string),
		EventTime: event.UTC(), ParseTime: parse.UTC(), RowID: fmt.Sprintf("row-%d", seq), SourceID: "src", SourceLabel: "test", Raw: raw})
	return seq
}

func (m *memStore) EventsAfter(ctx context.Context, after int64, limit int) ([]store.StoredEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.StoredEvent
	for _, e := range m.events {
		if e.Seq > after && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) EventsBySeq(ctx context.Context, seqs []int64) ([]store.StoredEvent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.StoredEvent
	for _, e := range m.events {
		if slices.Contains(seqs, e.Seq) {
			out = append(out, e)
		}
	}
	return out, nil
}

func (m *memStore) Position(ctx context.Context, stage string) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos[stage], nil
}

func (m *memStore) CommitDetect(ctx context.Context, c store.DetectCommit) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.commits++
	if m.failCommit != nil {
		if err := m.failCommit(m.commits, c); err != nil {
			return err
		}
	}
	if m.pos[c.Stage] != c.From || c.Epoch != m.epoch {
		return store.ErrPositionMoved
	}
	m.pos[c.Stage] = c.To
	for _, a := range c.Alerts {
		a.Events = 0
		m.alertIdx[a.ID] = len(m.alerts)
		m.alerts = append(m.alerts, a)
	}
	for _, mt := range c.Matches {
		i, ok := m.alertIdx[mt.AlertID]
		if !ok {
			panic("match of an unknown alert " + mt.AlertID)
		}
		m.alerts[i].Events++
		m.matches = append(m.matches, mt)
	}
	for _, g := range c.Groups {
		g.Pending = slices.Clone(g.Pending)
		m.groups[groupKey{g.RuleID, g.Dedup}] = g
	}
	for _, g := range c.DropGroups {
		delete(m.groups, groupKey{g.RuleID, g.Dedup})
	}
	for _, s := range c.State {
		k := stateKey{s.RuleID, s.Key}
		if s.Delete {
			delete(m.state, k)
			continue
		}
		m.state[k] = store.StateValue{Value: s.Value, ExpiresAt: s.ExpiresAt}
	}
	return nil
}

func (m *memStore) DedupGroups(ctx context.Context) ([]store.DedupGroup, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.DedupGroup
	for _, g := range m.groups {
		g.Pending = slices.Clone(g.Pending)
		out = append(out, g)
	}
	return out, nil
}

func (m *memStore) RuleState(ctx context.Context, ruleID, key string, now time.Time) (store.StateValue, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stateReads++
	v, ok := m.state[stateKey{ruleID, key}]
	if !ok || !live(v.ExpiresAt, now) {
		return store.StateValue{}, false, nil
	}
	return v, true, nil
}

func (m *memStore) RuleStates(ctx context.Context, now time.Time, max int, fn func(ruleID, key string, v store.StateValue)) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, v := range m.state {
		if !live(v.ExpiresAt, now) {
			continue
		}
		if n == max {
			return false, nil
		}
		fn(k.rule, k.key, v)
		n++
		m.stateLoads++
	}
	return true, nil
}

func (m *memStore) AlertEpoch(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch, nil
}

func (m *memStore) LatestSeq(ctx context.Context) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return int64(len(m.events)), nil
}

// resolve resolves an alert as triage does: its group ends, the epoch moves.
func (m *memStore) resolve(id string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.alerts[m.alertIdx[id]].Status = store.AlertResolved
	for k, g := range m.groups {
		if g.AlertID == id {
			delete(m.groups, k)
		}
	}
	m.epoch++
}

func (m *memStore) LookupTables(ctx context.Context) ([]store.LookupTable, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.tables), nil
}

func (m *memStore) LookupRows(ctx context.Context, name string) (map[string]json.RawMessage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rows[name], nil
}

func (m *memStore) AlertsSince(ctx context.Context, ruleID string, since time.Time) (int, error) {
	return 0, errors.New("not used by the stage")
}

// summary is the stored alerts as comparable lines: type, rule, dedup and
// the seqs of their matches, in the order they opened.
func (m *memStore) summary() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return summarize(m.alerts, m.matches)
}

func summarize(alerts []store.Alert, matches []store.AlertMatch) []string {
	seqs := map[string][]int64{}
	for _, mt := range matches {
		seqs[mt.AlertID] = append(seqs[mt.AlertID], mt.Seq)
	}
	var out []string
	for _, a := range alerts {
		s := seqs[a.ID]
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		out = append(out, fmt.Sprintf("%s %s %q %v", a.Type, a.RuleID, a.Dedup, s))
	}
	return out
}

// testRules are small rules over OnePassword.AuditEvent with the stage's
// semantics in view.
var testRules = fstest.MapFS{
	"match.yml": {Data: []byte(`AnalysisType: rule
RuleID: Test.Match
Filename: match.star
Enabled: true
LogTypes: [OnePassword.AuditEvent]
Severity: High
DedupPeriodMinutes: 60
`)},
	"match.star": {Data: []byte(`
def rule(event):
    return event.get("action") == "hit"

def title(event):
    return "hit by " + event.get("who", "nobody")

def dedup(event):
    return event.get("who", "")
`)},
	"threshold.yml": {Data: []byte(`AnalysisType: rule
RuleID: Test.Threshold
Filename: threshold.star
Enabled: true
LogTypes: [OnePassword.AuditEvent]
Severity: Medium
DedupPeriodMinutes: 10
Threshold: 3
`)},
	"threshold.star": {Data: []byte(`
def rule(event):
    return event.get("action") == "fail"

def dedup(event):
    return event.get("ip", "")
`)},
	"broken.yml": {Data: []byte(`AnalysisType: rule
RuleID: Test.Broken
Filename: broken.star
Enabled: true
LogTypes: [OnePassword.AuditEvent]
Severity: Low
DedupPeriodMinutes: 30
`)},
	"broken.star": {Data: []byte(`
def rule(event):
    if event.get("action") == "boom":
        return 1 // 0
    return False
`)},
	"memory.yml": {Data: []byte(`AnalysisType: rule
RuleID: Test.Memory
Filename: memory.star
Enabled: true
LogTypes: [OnePassword.AuditEvent]
Severity: Critical
DedupPeriodMinutes: 5
`)},
	"memory.star": {Data: []byte(`
def rule(event):
    if event.get("action") != "again":
        return False
    # Matches the second "again" of a user within 60 seconds.
    return state.incr("again:" + event.get("who", ""), ttl_seconds=60) == 2

def dedup(event):
    return event.get("who", "")
`)},
	"lookup.yml": {Data: []byte(`AnalysisType: rule
RuleID: Test.Lookup
Filename: lookup.star
Enabled: true
LogTypes: [OnePassword.AuditEvent]
Severity: Info
`)},
	"lookup.star": {Data: []byte(`
def rule(event):
    return event.deep_get("p_enrichment", "bad_ips", "ip", "listed", default=False) == True

def dedup(event):
    return event.get("ip", "")
`)},
	"disabled.yml": {Data: []byte(`AnalysisType: rule
RuleID: Test.Disabled
Filename: disabled.star
Enabled: false
LogTypes: [OnePassword.AuditEvent]
Severity: Info
`)},
	"disabled.star": {Data: []byte(`
def rule(event):
    return event.get("action") == "hit"
`)},
}
