package detect

import (
	"context"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// The rules' memory as the stage keeps it: values committed in the store
// (cached), plus the changes of the batch being evaluated, which reads see
// at once and which commit with the batch's position. Expiry counts from
// the event's p_parse_time, so a replay of a batch sees what the first
// evaluation saw.

type stateKey struct{ rule, key string }

// cachedValue is a committed value (or its absence) as the store gave it.
type cachedValue struct {
	value   []byte
	expires time.Time
	found   bool
}

// change is a batch's uncommitted write.
type change struct {
	value   []byte
	expires time.Time
	deleted bool
}

// maxCachedState bounds the cache of committed values; past it the cache
// is dropped between batches and refilled from the store.
const maxCachedState = 200_000

// ruleState is one rule's memory during one batch. Each rule's evaluations
// run in order on one goroutine, so it needs no lock; different rules touch
// different ruleStates.
type ruleState struct {
	ctx   context.Context
	store store.Detect
	now   time.Time
	cache map[stateKey]cachedValue // committed values, shared across batches (this rule's keys only)
	// complete: the cache holds every committed value, so a key it lacks
	// is absent and needs no read.
	complete bool
	changes  map[stateKey]change
	order    []stateKey // first-write order, so the commit is deterministic
	err      error      // the first store error: it fails the batch
}

func newRuleState(ctx context.Context, st store.Detect, cache map[stateKey]cachedValue, complete bool) *ruleState {
	return &ruleState{ctx: ctx, store: st, cache: cache, complete: complete, changes: map[stateKey]change{}}
}

func live(expires, now time.Time) bool { return expires.IsZero() || now.Before(expires) }

// Get implements State.
func (s *ruleState) Get(ruleID, key string) ([]byte, bool) {
	k := stateKey{ruleID, key}
	if c, ok := s.changes[k]; ok {
		if c.deleted || !live(c.expires, s.now) {
			return nil, false
		}
		return c.value, true
	}
	c, ok := s.cache[k]
	if !ok && !s.complete {
		v, found, err := s.store.RuleState(s.ctx, ruleID, key, s.now)
		if err != nil {
			if s.err == nil {
				s.err = err
			}
			return nil, false
		}
		// The store answers for now; an expired value reads as absent
		// here, and may be absent or expired for any later time too.
		c = cachedValue{value: v.Value, expires: v.ExpiresAt, found: found}
		s.cache[k] = c
	}
	if !c.found || !live(c.expires, s.now) {
		return nil, false
	}
	return c.value, true
}

// Put implements State.
func (s *ruleState) Put(ruleID, key string, v []byte, expires time.Time) {
	s.set(stateKey{ruleID, key}, change{value: v, expires: expires})
}

// Delete implements State.
func (s *ruleState) Delete(ruleID, key string) {
	s.set(stateKey{ruleID, key}, change{deleted: true})
}

func (s *ruleState) set(k stateKey, c change) {
	if _, ok := s.changes[k]; !ok {
		s.order = append(s.order, k)
	}
	s.changes[k] = c
}

// commitChanges lists the batch's writes for the store.
func (s *ruleState) commitChanges() []store.StateChange {
	out := make([]store.StateChange, 0, len(s.order))
	for _, k := range s.order {
		c := s.changes[k]
		out = append(out, store.StateChange{RuleID: k.rule, Key: k.key, Value: c.value, ExpiresAt: c.expires, Delete: c.deleted})
	}
	return out
}

// committed folds the batch's writes into the cache once they are stored.
func (s *ruleState) committed() {
	for k, c := range s.changes {
		if c.deleted {
			s.cache[k] = cachedValue{}
			continue
		}
		s.cache[k] = cachedValue{value: c.value, expires: c.expires, found: true}
	}
}
