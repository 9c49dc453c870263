package detect

import "testing"

// rules list prints enabled as yes/no; --filter Enabled= takes that form
// and Panther's true/false alike.
func TestMatchesEnabledForms(t *testing.T) {
	on, off := &Rule{ID: "a", Enabled: true}, &Rule{ID: "b"}
	for _, tc := range []struct {
		want string
		r    *Rule
		ok   bool
	}{
		{"yes", on, true}, {"true", on, true}, {"no", on, false},
		{"no", off, true}, {"False", off, true}, {"yes", off, false},
	} {
		if got := tc.r.Matches(map[string]string{"Enabled": tc.want}); got != tc.ok {
			t.Errorf("Enabled=%s on %s: %v, want %v", tc.want, tc.r.ID, got, tc.ok)
		}
	}
}
