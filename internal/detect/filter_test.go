package detect

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// failRule fails whenever Starlark runs: a rejected event must not reach it.
const failRule = "def rule(event):\n    fail(\"rule() ran\")\n"

const filterEvent = `{"p_log_type":"OnePassword.SignInAttempt","category":"success","type":"credentials_ok","Country":"CA",
"count":5,"ratio":0.5,"flag":true,"none":null,"empty":"","tags":["a","b"],"nothing":[],
"client":{"ip_address":"10.1.2.3","app_name":"1Password for Mac"},"p_any_ip_addresses":["198.51.100.7","10.9.9.9"]}`

func TestInlineFiltersConditions(t *testing.T) {
	cases := []struct {
		cond string // the condition's YAML, indented as an All item
		pass bool
	}{
		{"KeyPath: category\n      Condition: Equals\n      Value: success", true},
		{"KeyPath: category\n      Condition: Equals\n      Value: Success", false}, // values are case-sensitive
		{"KeyPath: country\n      Condition: Equals\n      Value: CA", true},        // keys are not
		{"KeyPath: missing\n      Condition: Equals\n      Value: x", false},
		{"KeyPath: count\n      Condition: Equals\n      Value: 5", true},
		{"KeyPath: count\n      Condition: Equals\n      Value: \"5\"", false},
		{"KeyPath: ratio\n      Condition: Equals\n      Value: 0.5", true},
		{"KeyPath: flag\n      Condition: Equals\n      Value: true", true},
		{"KeyPath: count\n      Condition: Equals\n      Value: true", false},
		{"KeyPath: category\n      Condition: DoesNotEqual\n      Value: success", false},
		{"KeyPath: missing\n      Condition: DoesNotEqual\n      Value: x", true},
		{"KeyPath: category\n      Condition: IsIn\n      Values: [mfa_failed, success]", true},
		{"KeyPath: category\n      Condition: IsIn\n      Values: [mfa_failed]", false},
		{"KeyPath: missing\n      Condition: IsIn\n      Values: [a]", false},
		{"KeyPath: category\n      Condition: IsNotIn\n      Values: [mfa_failed]", true},
		{"KeyPath: category\n      Condition: IsNotIn\n      Values: [success]", false},
		{"KeyPath: client.app_name\n      Condition: Contains\n      Value: for Mac", true},
		{"KeyPath: tags\n      Condition: Contains\n      Value: b", true},
		{"KeyPath: tags\n      Condition: Contains\n      Value: c", false},
		{"KeyPath: tags\n      Condition: DoesNotContain\n      Value: c", true},
		{"KeyPath: client.app_name\n      Condition: StartsWith\n      Value: 1Password", true},
		{"KeyPath: client.app_name\n      Condition: StartsWith\n      Value: Mac", false},
		{"KeyPath: client.app_name\n      Condition: DoesNotStartWith\n      Value: Mac", true},
		{"KeyPath: client.app_name\n      Condition: EndsWith\n      Value: Mac", true},
		{"KeyPath: client.app_name\n      Condition: DoesNotEndWith\n      Value: Mac", false},
		{"KeyPath: count\n      Condition: StartsWith\n      Value: \"5\"", false}, // not a string
		{"KeyPath: none\n      Condition: IsNull", true},
		{"KeyPath: missing\n      Condition: IsNull", true},
		{"KeyPath: client.app_name.deeper\n      Condition: IsNull", true}, // through a non-object
		{"KeyPath: category\n      Condition: IsNull", false},
		{"KeyPath: category\n      Condition: IsNotNull", true},
		{"KeyPath: none\n      Condition: IsNotNull", false},
		{"KeyPath: empty\n      Condition: IsNullOrEmpty", true},
		{"KeyPath: nothing\n      Condition: IsNullOrEmpty", true},
		{"KeyPath: tags\n      Condition: IsNullOrEmpty", false},
		{"KeyPath: tags\n      Condition: IsNotNullOrEmpty", true},
		{"KeyPath: count\n      Condition: GreaterThan\n      Value: 4", true},
		{"KeyPath: count\n      Condition: GreaterThan\n      Value: 5", false},
		{"KeyPath: count\n      Condition: GreaterThanOrEqual\n      Value: 5", true},
		{"KeyPath: ratio\n      Condition: LessThan\n      Value: 1", true},
		{"KeyPath: count\n      Condition: LessThanOrEqual\n      Value: 4.5", false},
		{"KeyPath: category\n      Condition: GreaterThan\n      Value: 1", false}, // not a number
		{"KeyPath: tags[1]\n      Condition: Equals\n      Value: b", true},
		{"KeyPath: tags[2]\n      Condition: IsNull", true},
		{"KeyPath: client.ip_address\n      Condition: IsIPAddressInCIDR\n      Value: 10.0.0.0/8", true},
		{"KeyPath: client.ip_address\n      Condition: IsIPAddressNotInCIDR\n      Value: 10.0.0.0/8", false},
		{"KeyPath: p_any_ip_addresses\n      Condition: IsIPAddressInCIDR\n      Values: [192.168.0.0/16, 198.51.100.0/24]", true},
		{"KeyPath: category\n      Condition: IsIPAddressInCIDR\n      Value: 10.0.0.0/8", false},
	}
	ev := []byte(filterEvent)
	for _, c := range cases {
		name := strings.ReplaceAll(c.cond, "\n      ", " ")
		t.Run(name, func(t *testing.T) {
			s, err := loadOne(t, "InlineFilters:\n  All:\n    - "+c.cond+"\n", "def rule(event):\n    return True\n")
			if err != nil {
				t.Fatal(err)
			}
			e, err := EventFromPanther("", ev)
			if err != nil {
				t.Fatal(err)
			}
			o := s.Rule("T.Rule").Evaluate(e, MemState{}, time.Now())
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			if o.Matched != c.pass {
				t.Errorf("matched = %v, want %v", o.Matched, c.pass)
			}
		})
	}
}

func TestInlineFiltersGroups(t *testing.T) {
	cases := []struct {
		name, yml string
		pass      bool
	}{
		{"all of two", "  All:\n    - {KeyPath: category, Condition: Equals, Value: success}\n    - {KeyPath: type, Condition: Equals, Value: credentials_ok}\n", true},
		{"all, one fails", "  All:\n    - {KeyPath: category, Condition: Equals, Value: success}\n    - {KeyPath: type, Condition: Equals, Value: nope}\n", false},
		{"any, one holds", "  Any:\n    - {KeyPath: category, Condition: Equals, Value: nope}\n    - {KeyPath: type, Condition: Equals, Value: credentials_ok}\n", true},
		{"any, none holds", "  Any:\n    - {KeyPath: category, Condition: Equals, Value: nope}\n    - {KeyPath: type, Condition: Equals, Value: nope}\n", false},
		{"all and any both", "  All:\n    - {KeyPath: category, Condition: Equals, Value: success}\n  Any:\n    - {KeyPath: type, Condition: Equals, Value: nope}\n", false},
		{"nested any in all", "  All:\n    - {KeyPath: category, Condition: Equals, Value: success}\n    - Any:\n        - {KeyPath: count, Condition: LessThan, Value: 1}\n        - {KeyPath: flag, Condition: Equals, Value: true}\n", true},
		{"list shorthand", "  - {KeyPath: category, Condition: Equals, Value: success}\n", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := loadOne(t, "InlineFilters:\n"+c.yml, "def rule(event):\n    return True\n")
			if err != nil {
				t.Fatal(err)
			}
			e, err := EventFromPanther("", []byte(filterEvent))
			if err != nil {
				t.Fatal(err)
			}
			if o := s.Rule("T.Rule").Evaluate(e, MemState{}, time.Now()); o.Matched != c.pass || o.Err != nil {
				t.Errorf("matched = %v (err %v), want %v", o.Matched, o.Err, c.pass)
			}
		})
	}
}

// A rejected event runs no Starlark: a rule that fails when it runs is
// silent on it, and fails on an event that passes.
func TestInlineFiltersRunNoStarlarkOnRejection(t *testing.T) {
	s, err := loadOne(t, "InlineFilters:\n  All:\n    - KeyPath: category\n      Condition: Equals\n      Value: mfa_failed\n", failRule)
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rule("T.Rule")
	if o := r.Evaluate(signIn(t, `{"category":"success"}`), MemState{}, time.Now()); o.Err != nil || o.Matched {
		t.Errorf("rejected event: %+v, want no match and no rule error", o)
	}
	if o := r.Evaluate(signIn(t, `{"category":"mfa_failed"}`), MemState{}, time.Now()); o.Err == nil || !strings.Contains(o.Err.Error(), "rule() ran") {
		t.Errorf("passing event: err = %v, want the rule to run", o.Err)
	}
}

// The test runner applies the filters: a test whose log they reject
// expects false, and one expecting true is told why it fails.
func TestInlineFiltersInRuleTests(t *testing.T) {
	yml := "InlineFilters:\n  All:\n    - KeyPath: category\n      Condition: IsIn\n      Values: [success]\n" +
		"Tests:\n  - Name: rejected\n    ExpectedResult: false\n    Log: {category: mfa_failed}\n" +
		"  - Name: wrongly expected\n    ExpectedResult: true\n    Log: {category: mfa_failed}\n" +
		"  - Name: passes\n    ExpectedResult: true\n    Log: {category: success}\n"
	s, err := loadOne(t, yml, "def rule(event):\n    return True\n")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]TestResult{}
	for _, r := range s.Test(nil) {
		got[r.Name] = r
	}
	if !got["rejected"].Passed || !got["passes"].Passed {
		t.Errorf("results: %+v", got)
	}
	if w := got["wrongly expected"]; w.Passed || !strings.Contains(w.Err, "InlineFilters reject the event (category IsIn [\"success\"] does not hold)") {
		t.Errorf("wrongly expected: %+v", w)
	}
}

func TestInlineFiltersLoadErrors(t *testing.T) {
	ok := "def rule(event):\n    return True\n"
	cases := []struct{ name, yml, want string }{
		{"empty list", "InlineFilters: []\n", "u/r.yml:8: InlineFilters: All is empty"},
		{"scalar", "InlineFilters: action\n", "u/r.yml:8: InlineFilters: want a condition"},
		{"no group", "InlineFilters:\n  KeyPath: action\n  Condition: IsNull\n", "u/r.yml:9: InlineFilters: want All or Any"},
		{"unknown key", "InlineFilters:\n  All:\n    - KeyPath: action\n      Condition: IsNull\n      Valeu: x\n", `u/r.yml:12: InlineFilters: unknown key "Valeu"`},
		{"case typo", "InlineFilters:\n  all:\n    - {KeyPath: a, Condition: IsNull}\n", `(did you mean All?)`},
		{"no KeyPath", "InlineFilters:\n  All:\n    - Condition: IsNull\n", "u/r.yml:10: InlineFilters: a condition needs KeyPath"},
		{"bad KeyPath", "InlineFilters:\n  All:\n    - {KeyPath: \"a..b\", Condition: IsNull}\n", "u/r.yml:10: InlineFilters: KeyPath \"a..b\""},
		{"bad index", "InlineFilters:\n  All:\n    - {KeyPath: \"a[x]\", Condition: IsNull}\n", "want a list index"},
		{"no Condition", "InlineFilters:\n  All:\n    - KeyPath: action\n", "u/r.yml:10: InlineFilters: a condition needs Condition"},
		{"unknown Condition", "InlineFilters:\n  All:\n    - KeyPath: action\n      Condition: Is\n", `u/r.yml:11: InlineFilters: Condition "Is": want one of Equals,`},
		{"missing Value", "InlineFilters:\n  All:\n    - KeyPath: action\n      Condition: Equals\n", "u/r.yml:10: InlineFilters: Equals needs Value"},
		{"Value for IsIn", "InlineFilters:\n  All:\n    - KeyPath: action\n      Condition: IsIn\n      Value: x\n", "u/r.yml:12: InlineFilters: IsIn takes Values (a list), not Value"},
		{"Values not a list", "InlineFilters:\n  All:\n    - KeyPath: action\n      Condition: IsIn\n      Values: x\n", "u/r.yml:12: InlineFilters: IsIn Values must be a list"},
		{"Values for Equals", "InlineFilters:\n  All:\n    - KeyPath: action\n      Condition: Equals\n      Values: [x]\n", "u/r.yml:12: InlineFilters: Equals takes Value, not Values"},
		{"Value for IsNull", "InlineFilters:\n  All:\n    - KeyPath: action\n      Condition: IsNull\n      Value: x\n", "u/r.yml:10: InlineFilters: IsNull takes no Value"},
		{"non-number", "InlineFilters:\n  All:\n    - KeyPath: n\n      Condition: GreaterThan\n      Value: ten\n", "u/r.yml:12: InlineFilters: GreaterThan Value: want a number"},
		{"non-string prefix", "InlineFilters:\n  All:\n    - KeyPath: n\n      Condition: StartsWith\n      Value: 5\n", "u/r.yml:12: InlineFilters: StartsWith Value must be a string"},
		{"bad CIDR", "InlineFilters:\n  All:\n    - KeyPath: ip\n      Condition: IsIPAddressInCIDR\n      Value: 10.0.0.0/33\n", `u/r.yml:12: InlineFilters: IsIPAddressInCIDR: "10.0.0.0/33" is not a CIDR`},
		{"condition beside group", "InlineFilters:\n  All:\n    - KeyPath: a\n      Condition: IsNull\n      Any: []\n", "u/r.yml:10: InlineFilters: KeyPath beside All/Any"},
		{"list Value", "InlineFilters:\n  All:\n    - KeyPath: a\n      Condition: Equals\n      Value: [x]\n", "u/r.yml:12: InlineFilters: Equals Value: want a string, number, bool or null"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadOne(t, c.yml, ok)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// The built-in rules' InlineFilters only skip work: every rule decides, and
// keeps state, exactly as it would without them. The corpus is every
// built-in test's Log and State events, fed in turn to every rule of its
// log type, so each rule also sees the other rules' events.
func TestBuiltinInlineFiltersChangeNoDecision(t *testing.T) {
	s, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	var corpus []*Event
	for _, r := range s.Rules() {
		for _, tc := range r.Tests {
			for _, raw := range append(append([]json.RawMessage{}, tc.State...), tc.Log) {
				ev, err := EventFromPanther(r.LogTypes[0], raw)
				if err != nil {
					t.Fatal(err)
				}
				corpus = append(corpus, ev)
			}
		}
	}
	filtered := 0
	for _, r := range s.Rules() {
		if r.filter == nil {
			continue
		}
		filtered++
		bare := *r
		bare.filter = nil
		withSt, bareSt := MemState{}, MemState{}
		skipped := 0
		for i, ev := range corpus {
			if !slices.Contains(r.LogTypes, ev.LogType) {
				continue
			}
			now := time.Unix(1700000000, 0)
			got, want := r.Evaluate(ev, withSt, now), bare.Evaluate(ev, bareSt, now)
			if got.filtered != nil {
				skipped++
			}
			if got.Matched != want.Matched || (got.Err == nil) != (want.Err == nil) {
				t.Errorf("%s on event %d: matched %v (err %v) with InlineFilters, %v (err %v) without", r.ID, i, got.Matched, got.Err, want.Matched, want.Err)
			}
			if !reflect.DeepEqual(withSt, bareSt) {
				t.Fatalf("%s on event %d: state %v with InlineFilters, %v without", r.ID, i, withSt, bareSt)
			}
		}
		if skipped == 0 {
			t.Errorf("%s: InlineFilters rejected no event of the corpus", r.ID)
		}
	}
	if filtered < 20 {
		t.Errorf("%d built-in rules have InlineFilters, want at least 20", filtered)
	}
}
