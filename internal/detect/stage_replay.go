package detect

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// ReplayOptions asks what rules would have raised over stored history.
type ReplayOptions struct {
	Store  store.Detect
	Rules  []*Rule   // evaluated whether enabled or not
	Since  time.Time // events with p_event_time before it are skipped
	Batch  int
	Logger *slog.Logger
}

// ReplayResult is what a replay would have raised. Nothing of it is stored.
type ReplayResult struct {
	Events     int           // events evaluated
	Alerts     []store.Alert // in the order they would have opened; Events counts their matches
	Matches    map[string][]int64
	RuleErrors int
}

// Replay runs rules over the stored events from the start, through the
// same dedup, threshold, limiter and memory as the stage, in memory only:
// it raises nothing and reads nothing of the live stage's groups or
// memory. Its clock is p_event_time (the history's own time), so dedup
// periods and thresholds count as they would have when the events came.
func Replay(ctx context.Context, o ReplayOptions) (ReplayResult, error) {
	rs := &replayStore{Detect: o.Store, since: o.Since, state: map[stateKey]store.StateValue{},
		matches: map[string][]int64{}, index: map[string]int{}}
	only := o.Rules
	if only == nil {
		only = []*Rule{}
	}
	s := NewStage(StageConfig{Store: rs, Rules: &Set{}, Only: only, EventClock: true,
		Stage: "replay", Batch: o.Batch, Logger: o.Logger, Workers: 1})
	var res ReplayResult
	for {
		r, err := s.Step(ctx)
		if err != nil {
			return res, err
		}
		res.Events += r.Events
		res.RuleErrors += r.RuleErrors
		if r.Events == 0 { // Step flushed: every commit is in rs
			break
		}
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	res.Alerts, res.Matches = rs.alerts, rs.matches
	return res, nil
}

// replayStore is the store as a replay sees it: the events and lookup
// tables of the real one, and an empty memory of its own that keeps what
// the replay commits.
type replayStore struct {
	store.Detect
	since time.Time

	mu      sync.Mutex // the stage commits in the background
	pos     int64
	state   map[stateKey]store.StateValue
	alerts  []store.Alert
	index   map[string]int
	matches map[string][]int64
}

func (r *replayStore) EventsAfter(ctx context.Context, after int64, limit int) ([]store.StoredEvent, error) {
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		evs, err := r.Detect.EventsAfter(ctx, after, limit)
		if err != nil {
			return nil, err
		}
		more := len(evs) == limit
		if len(evs) > 0 {
			after = evs[len(evs)-1].Seq // before DeleteFunc, which zeroes the tail
		}
		kept := slices.DeleteFunc(evs, func(e store.StoredEvent) bool { return e.EventTime.Before(r.since) })
		if len(kept) > 0 || !more {
			return kept, nil
		}
	}
}

func (r *replayStore) Position(ctx context.Context, stage string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos, nil
}

// DedupGroups is none: a replay starts without the live stage's groups
// (and keeps its own in memory).
func (r *replayStore) DedupGroups(ctx context.Context) ([]store.DedupGroup, error) {
	return nil, nil
}

func (r *replayStore) RuleState(ctx context.Context, ruleID, key string, now time.Time) (store.StateValue, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.state[stateKey{ruleID, key}]
	if !ok || !live(v.ExpiresAt, now) {
		return store.StateValue{}, false, nil
	}
	return v, true, nil
}

func (r *replayStore) AlertsSince(ctx context.Context, ruleID string, since time.Time) (int, error) {
	return 0, nil
}

func (r *replayStore) CommitDetect(ctx context.Context, c store.DetectCommit) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pos = c.To
	for _, a := range c.Alerts {
		a.Events = 0
		r.index[a.ID] = len(r.alerts)
		r.alerts = append(r.alerts, a)
	}
	for _, m := range c.Matches {
		r.matches[m.AlertID] = append(r.matches[m.AlertID], m.Seq)
		a := &r.alerts[r.index[m.AlertID]]
		a.Events++
		if m.EventTime.After(a.LastEventAt) {
			a.LastEventAt = m.EventTime
		}
	}
	for _, ch := range c.State {
		k := stateKey{ch.RuleID, ch.Key}
		if ch.Delete {
			delete(r.state, k)
			continue
		}
		r.state[k] = store.StateValue{Value: ch.Value, ExpiresAt: ch.ExpiresAt}
	}
	return nil
}

// RuleStates is the replay's own memory, empty at its start.
func (r *replayStore) RuleStates(ctx context.Context, now time.Time, max int, fn func(ruleID, key string, v store.StateValue)) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.state) > max {
		return false, nil
	}
	for k, v := range r.state {
		if live(v.ExpiresAt, now) {
			fn(k.rule, k.key, v)
		}
	}
	return true, nil
}

// AlertEpoch never moves: nothing resolves a replay's alerts.
func (r *replayStore) AlertEpoch(ctx context.Context) (int64, error) { return 0, nil }
