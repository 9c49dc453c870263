package storetest

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// RuleStates gives every value live at now, of every rule, once; it stops
// at max and says so; it agrees with RuleState; and it sees many values
// written in one commit (engines batch those writes) and deleted in the
// next.
func testRuleStates(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	var changes []store.StateChange
	want := map[string]string{}
	for i := range 300 {
		rule := fmt.Sprintf("R%d", i%3)
		key := fmt.Sprintf("k%03d", i)
		ch := store.StateChange{RuleID: rule, Key: key, Value: fmt.Appendf(nil, `{"n":%d}`, i)}
		if i%10 == 0 {
			ch.ExpiresAt = t0.Add(time.Minute) // expired at the read below
		} else {
			want[rule+"/"+key] = string(ch.Value)
		}
		changes = append(changes, ch)
	}
	changes = append(changes, store.StateChange{RuleID: "R0", Key: "empty", Value: []byte{}})
	want["R0/empty"] = ""
	mustDetect(t, s, store.DetectCommit{From: 0, To: 1, State: changes})

	read := func(now time.Time, max int) (map[string]string, bool) {
		t.Helper()
		got := map[string]string{}
		complete, err := s.RuleStates(ctx, now, max, func(rule, key string, v store.StateValue) {
			if _, dup := got[rule+"/"+key]; dup {
				t.Errorf("RuleStates gave %s/%s twice", rule, key)
			}
			if v.Value == nil {
				t.Errorf("RuleStates gave %s/%s a nil value", rule, key)
			}
			got[rule+"/"+key] = string(v.Value)
		})
		if err != nil {
			t.Fatal(err)
		}
		return got, complete
	}
	now := t0.Add(time.Hour)
	got, complete := read(now, len(want))
	if !complete || !maps.Equal(got, want) {
		t.Errorf("RuleStates at its bound: complete %v, %d values; want all %d", complete, len(got), len(want))
	}
	got, complete = read(now, len(want)-1)
	if complete || len(got) != len(want)-1 {
		t.Errorf("RuleStates below its bound: complete %v with %d values; want false with %d", complete, len(got), len(want)-1)
	}
	for k, v := range got {
		if want[k] != v {
			t.Errorf("RuleStates gave %s = %q; want %q", k, v, want[k])
		}
	}
	if got, _ := read(t0, 1000); len(got) != 301 {
		t.Errorf("RuleStates before the expiries gave %d values; want 301", len(got))
	}
	var deletes []store.StateChange
	for _, ch := range changes {
		deletes = append(deletes, store.StateChange{RuleID: ch.RuleID, Key: ch.Key, Delete: true})
	}
	mustDetect(t, s, store.DetectCommit{From: 1, To: 2, State: deletes})
	if got, complete := read(t0, 1000); len(got) != 0 || !complete {
		t.Errorf("after deleting every value RuleStates gave %d (complete %v)", len(got), complete)
	}
	if _, ok, err := s.RuleState(ctx, "R1", "k001", t0); ok || err != nil {
		t.Errorf("RuleState of a deleted value: %v, %v", ok, err)
	}
}
