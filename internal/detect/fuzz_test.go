package detect

import (
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// FuzzEvent: any bytes, as a Panther-form event or a stored one, never
// panic the wrapper or a rule that reads every part of it.
func FuzzEvent(f *testing.F) {
	for _, e := range benchEvents {
		f.Add([]byte(e.raw))
	}
	for _, s := range []string{`{}`, `[]`, `null`, `{"a":{"a":{"a":[1,2.5e400,-0,"\u00e9\ud800"]}}}`, `{"A":1,"a":2}`, `{"p_log_type":3}`,
		`{"p_event_time":"2024-01-01 00:00:00","p_parse_time":"x"}`, `{"x":123456789012345678901234567890}`, `{`, `"`} {
		f.Add([]byte(s))
	}
	s, err := LoadFS(fstest.MapFS{
		"r.yml": {Data: []byte(ruleYML)},
		"r.star": {Data: []byte(`
def walk(v, depth):
    if depth > 50:
        return
    if type(v) == "dict":
        for k in v:
            walk(v[k], depth + 1)
            walk(v.get(k), depth + 1)
        v.deep_get("a", "b", default=1)
    elif type(v) == "list":
        for e in v:
            walk(e, depth + 1)
    else:
        str(v)

def rule(event):
    walk(event, 0)
    event.udm("source_ip")
    event.udm("event_type")
    return len(event.keys()) > 1
def title(event):
    return str(event)
def alert_context(event):
    return {"e": event}
`)},
	}, "f")
	if err != nil {
		f.Fatal(err)
	}
	r := s.Rule("T.Rule")
	f.Fuzz(func(t *testing.T, data []byte) {
		if ev, err := EventFromPanther("OnePassword.SignInAttempt", data); err == nil {
			r.Evaluate(ev, MemState{}, time.Time{})
		}
		ev := NewEvent(store.StoredEvent{LogType: "OnePassword.SignInAttempt", Raw: data}, nil)
		o := r.Evaluate(ev, MemState{}, time.Time{})
		if o.Err == nil && o.Matched && o.Context == nil && o.AuxErr == nil {
			t.Fatalf("a match with no context and no error")
		}
	})
}

// FuzzLoad: any YAML in a rule file loads or fails with an error, never a
// panic.
func FuzzLoad(f *testing.F) {
	f.Add([]byte(ruleYML))
	f.Add([]byte(ruleYML + "Tests:\n  - Name: a\n    ExpectedResult: true\n    Log: {a: [1, {b: null}]}\n    Mocks: [{objectName: x, returnValue: y}]\n    State: [{}]\n"))
	f.Add([]byte("AnalysisType: pack\nPackID: P\nPackDefinition: {IDs: [T.Rule, Nope]}\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("AnalysisType: rule\nRuleID: [x]\nTests: 3\nDedupPeriodMinutes: {a: 1}\n"))
	f.Add([]byte("&a [*a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := LoadFS(fstest.MapFS{
			"r.yml":  {Data: data},
			"r.star": {Data: []byte("def rule(event):\n    return True\n")},
		}, "f")
		if err == nil {
			s.Test(nil)
		}
	})
}

// FuzzDecodeTop: the lazy top-level decoding reads every input as the
// eager decoder does: the same value, or the same error.
func FuzzDecodeTop(f *testing.F) {
	for _, e := range benchEvents {
		f.Add([]byte(e.raw))
	}
	for _, s := range []string{`{}`, `[]`, `null`, `{"a":{"a":{"a":[1,2.5e400,-0,"\u00e9\ud800"]}}}`, `{"A":1,"a":2}`, `{"a":[1],"a":{"b":2}}`,
		`{"a":[1,}`, `{"a":{"b":1} x`, `{"\u0061":[{"b":"\"q"}]}`, `{"a":` + strings.Repeat("[", 1200) + strings.Repeat("]", 1200) + `}`, `{`, `"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := decodeJSON(data)
		for _, readOnly := range []bool{false, true} {
			got, gerr := decodeTop(data, readOnly)
			if (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
				t.Fatalf("errors: lazy %v, eager %v", gerr, werr)
			}
			if werr == nil && got.String() != want.String() {
				t.Fatalf("lazy %s, eager %s", got, want)
			}
		}
	})
}
