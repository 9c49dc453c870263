package emulator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A dense history has more members, not members who sign in all day: no
// member fails to sign in anywhere near Standard.BruteForceByUser's 20
// times over it (a first pull evaluates the whole history within one dedup
// period), and a sparse one keeps its 150 members.
func TestDenseHistoryHasMoreMembers(t *testing.T) {
	for _, c := range []struct{ events, minMembers int }{{2000, numUsers}, {100000, 100000 / maxSignInsPerMember}} {
		e, err := New(Options{Seed: 21, Events: c.events, Span: 24 * time.Hour, Now: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		attempts, failed := map[string]int{}, map[string]int{}
		e.Each("", "signinattempts", 2, func(uuid string, raw []byte) bool {
			var s seen
			if err := json.Unmarshal(raw, &s); err != nil {
				t.Fatal(err)
			}
			if s.TargetUser == nil || strings.HasSuffix(s.TargetUser.Email, "@1passwordserviceaccounts.com") {
				return true
			}
			attempts[s.TargetUser.Email]++
			switch s.Category {
			case "credentials_failed", "mfa_failed", "modern_version_failed":
				failed[s.TargetUser.Email]++
			}
			return true
		})
		if len(attempts) < c.minMembers*9/10 {
			t.Errorf("%d events a day: %d members signed in, want about %d or more", c.events, len(attempts), c.minMembers)
		}
		most, mostFailed := 0, 0
		for m, n := range attempts {
			most, mostFailed = max(most, n), max(mostFailed, failed[m])
		}
		if most > 2*maxSignInsPerMember || mostFailed >= 15 {
			t.Errorf("%d events a day: a member signs in up to %d times and fails up to %d", c.events, most, mostFailed)
		}
	}
}
