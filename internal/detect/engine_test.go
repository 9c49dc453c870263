package detect

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

func TestLoadExampleAndRunTests(t *testing.T) {
	s, err := LoadDir("testdata/rules")
	if err != nil {
		t.Fatal(err)
	}
	r := s.Rule("Example.Unusual.Client")
	if r == nil || r.Pack != "Example.Pack" || r.Severity != "MEDIUM" || r.DedupPeriod != 120*time.Minute || r.Threshold != 1 {
		t.Fatalf("rule = %+v", r)
	}
	if got := s.ForLogType("OnePassword.SignInAttempt"); len(got) != 1 || got[0] != r {
		t.Errorf("ForLogType = %v", got)
	}
	res := s.Test(nil)
	if len(res) != 3 {
		t.Fatalf("%d results, want 3", len(res))
	}
	for _, res := range res {
		if !res.Passed {
			t.Errorf("%s / %s: %s", res.Rule, res.Name, res.Err)
		}
	}
}

func TestBuiltinPacksLoadAndPass(t *testing.T) {
	s, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	for _, res := range s.Test(nil) {
		if !res.Passed {
			t.Errorf("%s / %s: %s", res.Rule, res.Name, res.Err)
		}
	}
}

const ruleYML = `AnalysisType: rule
RuleID: T.Rule
DisplayName: Test Rule
Enabled: true
Filename: r.star
LogTypes: [OnePassword.SignInAttempt]
Severity: Low
`

// loadOne loads a rule from r.yml (ruleYML plus extra) and r.star.
func loadOne(t *testing.T, extraYML, star string, more ...string) (*Set, error) {
	t.Helper()
	fsys := fstest.MapFS{
		"r.yml":  {Data: []byte(ruleYML + extraYML)},
		"r.star": {Data: []byte(star)},
	}
	for i := 0; i+1 < len(more); i += 2 {
		fsys[more[i]] = &fstest.MapFile{Data: []byte(more[i+1])}
	}
	return LoadFS(fsys, "u")
}

func mustRule(t *testing.T, star string, more ...string) *Rule {
	t.Helper()
	s, err := loadOne(t, "", star, more...)
	if err != nil {
		t.Fatal(err)
	}
	return s.Rule("T.Rule")
}

func signIn(t *testing.T, obj string) *Event {
	t.Helper()
	ev, err := EventFromPanther("OnePassword.SignInAttempt", []byte(obj))
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	ok := "def rule(event):\n    return True\n"
	cases := []struct {
		name, yml, star, want string
	}{
		{"unknown key", "Sevrity: Low\n", ok, `u/r.yml:8: unknown key "Sevrity"`},
		{"unsupported Panther key", "DynamicSeverities: []\n", ok, "u/r.yml:8: DynamicSeverities is a Panther key opwatch does not support"},
		{"bad severity", "", ok, ""},
		{"dedup too short", "DedupPeriodMinutes: 4\n", ok, "u/r.yml:8: DedupPeriodMinutes 4: want 5 to 1440"},
		{"dedup too long", "DedupPeriodMinutes: 1441\n", ok, "u/r.yml:8: DedupPeriodMinutes 1441: want 5 to 1440"},
		{"threshold", "Threshold: 0\n", ok, "u/r.yml:8: Threshold 0: want at least 1"},
		{"no rule()", "", "def title(event):\n    return 'x'\n", "u/r.star: no rule(event) function"},
		{"syntax", "", "def rule(event):\n    return (\n", "u/r.star:3:1: "},
		{"undefined name", "", "def rule(event):\n    return nonesuch(event)\n", "u/r.star:2:12: undefined: nonesuch"},
		{"arity", "", "def rule():\n    return True\n", "u/r.star:1:1: rule takes 0 parameters, want one (event)"},
		{"top-level failure", "", "X = 1 // 0\ndef rule(event):\n    return True\n", "u/r.star:1:7: floored division by zero"},
		{"test without ExpectedResult", "Tests:\n  - Name: a\n    Log: {}\n", ok, `u/r.yml:9: test "a" has no ExpectedResult`},
		{"unknown test key", "Tests:\n  - Name: a\n    ExpectedResult: true\n    Log: {}\n    Mock: []\n", ok, `u/r.yml:12: unknown key "Mock" in a test`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadOne(t, c.yml, c.star)
			if c.want == "" {
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	fsys := fstest.MapFS{"r.yml": {Data: []byte(strings.Replace(ruleYML, "Severity: Low", "Severity: Urgent", 1))}, "r.star": {Data: []byte(ok)}}
	if _, err := LoadFS(fsys, "u"); err == nil || !strings.Contains(err.Error(), `u/r.yml:7: Severity "Urgent"`) {
		t.Errorf("bad severity: %v", err)
	}
	fsys = fstest.MapFS{"r.yml": {Data: []byte(strings.Replace(ruleYML, "OnePassword.SignInAttempt", "Okta.SystemLog", 1))}, "r.star": {Data: []byte(ok)}}
	if _, err := LoadFS(fsys, "u"); err == nil || !strings.Contains(err.Error(), `u/r.yml:6: LogTypes: "Okta.SystemLog" is not a log type`) {
		t.Errorf("bad log type: %v", err)
	}
	fsys = fstest.MapFS{"r.yml": {Data: []byte(strings.Replace(ruleYML, "Filename: r.star\n", "", 1))}}
	if _, err := LoadFS(fsys, "u"); err == nil || !strings.Contains(err.Error(), "Filename is missing") {
		t.Errorf("no Filename: %v", err)
	}
	fsys = fstest.MapFS{"r.yml": {Data: []byte(strings.Replace(ruleYML, "r.star", "gone.star", 1))}}
	if _, err := LoadFS(fsys, "u"); err == nil || !strings.Contains(err.Error(), "u/r.yml:5: Filename: u/gone.star does not exist") {
		t.Errorf("missing file: %v", err)
	}
}

func TestDuplicateIDsAndMerge(t *testing.T) {
	a, err := loadOne(t, "", "def rule(event):\n    return True\n")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := loadOne(t, "", "def rule(event):\n    return False\n")
	if _, err := Merge(a, b); err == nil || !strings.Contains(err.Error(), "rule T.Rule is defined twice") {
		t.Errorf("Merge: %v", err)
	}
}

func TestHelpersLoadAndErrorsPointIntoThem(t *testing.T) {
	r := mustRule(t, `load("helpers/h.star", "boom")
def rule(event):
    return boom(event)
`, "helpers/h.star", "def boom(event):\n    return event['nope'] == 1\n")
	o := r.Evaluate(signIn(t, `{}`), MemState{}, time.Now())
	if o.Err == nil || !strings.Contains(o.Err.Error(), "u/helpers/h.star:2:17: key \"nope\" not in dict") {
		t.Fatalf("Err = %v", o.Err)
	}
}

func TestDefaultsAndFallbacks(t *testing.T) {
	ev := signIn(t, `{"category":"success"}`)
	// No aux functions: title DisplayName, dedup the default string, static severity.
	o := mustRule(t, "def rule(event):\n    return True\n").Evaluate(ev, MemState{}, time.Now())
	if !o.Matched || o.Title != "Test Rule" || o.Dedup != "defaultDedupString:T.Rule" || o.Severity != "LOW" || o.Context != nil || o.AuxErr != nil {
		t.Errorf("defaults: %+v", o)
	}
	// title() gives the dedup string; severity DEFAULT is the static one.
	o = mustRule(t, "def rule(event):\n    return True\ndef title(event):\n    return 'T'\ndef severity(event):\n    return 'DEFAULT'\n").Evaluate(ev, MemState{}, time.Now())
	if o.Title != "T" || o.Dedup != "T" || o.Severity != "LOW" {
		t.Errorf("title as dedup: %+v", o)
	}
	// dedup() wins; dynamic severity, any case.
	o = mustRule(t, "def rule(event):\n    return True\ndef title(event):\n    return 'T'\ndef dedup(event):\n    return 'D'\ndef severity(event):\n    return 'high'\n").Evaluate(ev, MemState{}, time.Now())
	if o.Dedup != "D" || o.Severity != "HIGH" {
		t.Errorf("dedup, severity: %+v", o)
	}
	// Raising aux functions fall back, and are reported, the match kept.
	o = mustRule(t, "def rule(event):\n    return True\ndef title(event):\n    return 1 // 0\ndef dedup(event):\n    return ''\ndef severity(event):\n    return 'urgent'\ndef alert_context(event):\n    return ['x']\n").Evaluate(ev, MemState{}, time.Now())
	if !o.Matched || o.Err != nil || o.Title != "Test Rule" || o.Dedup != "defaultDedupString:T.Rule" || o.Severity != "LOW" || o.Context != nil {
		t.Errorf("fallbacks: %+v", o)
	}
	for _, want := range []string{"u/r.star:4:14: floored division by zero", `severity() returned "urgent"`, "alert_context(): returned list"} {
		if o.AuxErr == nil || !strings.Contains(o.AuxErr.Error(), want) {
			t.Errorf("AuxErr = %v, want %q", o.AuxErr, want)
		}
	}
	// Long titles are cut to 1000 characters.
	o = mustRule(t, "def rule(event):\n    return True\ndef title(event):\n    return 'x' * 2000\n").Evaluate(ev, MemState{}, time.Now())
	if len(o.Title) != 1000 || !strings.HasSuffix(o.Title, "... (truncated)") || o.Dedup != o.Title {
		t.Errorf("title of %d characters", len(o.Title))
	}
	// destinations [] suppresses; a big alert_context becomes Panther's _error.
	o = mustRule(t, "def rule(event):\n    return True\ndef destinations(event):\n    return []\ndef alert_context(event):\n    return {'x': 'y' * 300000}\n").Evaluate(ev, MemState{}, time.Now())
	if !o.DestinationsSet || len(o.Destinations) != 0 || !strings.Contains(string(o.Context), "_error") || o.AuxErr == nil {
		t.Errorf("destinations/context: %+v", o)
	}
	// rule() must return a bool.
	o = mustRule(t, "def rule(event):\n    return 'yes'\n").Evaluate(ev, MemState{}, time.Now())
	if o.Err == nil || !strings.Contains(o.Err.Error(), "rule() returned string") {
		t.Errorf("non-bool: %+v", o)
	}
}

func TestEventReadsLikePanthers(t *testing.T) {
	r := mustRule(t, `
def rule(event):
    checks = [
        event["Category"] == "success",
        event.get("CATEGORY") == "success",
        event.get("missing", "d") == "d",
        event.get("missing", default="d") == "d",
        "CLIENT" in event,
        "nope" not in event,
        event["client"]["APP_NAME"] == "1Password CLI",
        event.deep_get("client", "App_Name") == "1Password CLI",
        event.deep_get("client", "nope", default="d") == "d",
        event.deep_get("category", "x", default="d") == "d",
        event.deep_get("location", default="d") == "d",
        deep_get(event, "client", "app_name") == "1Password CLI",
        event["n"] == 3 and type(event["n"]) == "int",
        event["f"] == 2.5,
        event["big"] == 12345678901234567890,
        event["list"][1] == "b" and len(event["list"]) == 2,
        event["list"] == ["a", "b"] and event["list"] != ["a"] and event["list"] != ["a", "c"],
        event["client"] != {"app_name": "1Password CLI"},
        event["client"] == {"app_name": "1Password CLI", "ip_address": "192.0.2.1"},
        event.udm("actor_user") == "a@example.com",
        event.udm("source_ip") == "192.0.2.1",
        event.udm("event_type") == "successful_login",
        event.udm("nope") == None,
        event.udm_path("source_ip") == "client.ip_address",
        event["p_log_type"] == "OnePassword.SignInAttempt",
        event_time(event) == 1645654310.591,
        time.parse_time("2022-02-23T22:11:50.591Z") == 1645654310.591,
        int(geo.distance_km(48.8566, 2.3522, 51.5074, -0.1278)) == 343,
        json.decode(json.encode(event["client"]))["app_name"] == "1Password CLI",
    ]
    for i, c in enumerate(checks):
        if not c:
            fail("check %d" % i)
    return True
`)
	ev := signIn(t, `{"category":"success","client":{"app_name":"1Password CLI","ip_address":"192.0.2.1"},
		"target_user":{"email":"a@example.com"},"location":null,"n":3,"f":2.5,"big":12345678901234567890,"list":["a","b"],
		"p_event_time":"2022-02-23 22:11:50.591"}`)
	if o := r.Evaluate(ev, MemState{}, time.Now()); o.Err != nil || !o.Matched {
		t.Fatalf("%+v", o)
	}
	// The event is read-only.
	for _, src := range []string{"event['x'] = 1", "event['client']['x'] = 1", "event['list'].append(1)"} {
		r := mustRule(t, "def rule(event):\n    "+src+"\n    return True\n")
		if o := r.Evaluate(signIn(t, `{"client":{},"list":[]}`), MemState{}, time.Now()); o.Err == nil {
			t.Errorf("%s: no error", src)
		}
	}
	// udm on a log type without a data model is an error.
	ev, _ = EventFromPanther("Custom.Type", []byte(`{}`))
	r = mustRule(t, "def rule(event):\n    return event.udm('source_ip') == None\n")
	if o := r.Evaluate(ev, MemState{}, time.Now()); o.Err == nil || !strings.Contains(o.Err.Error(), `log type "Custom.Type" has no data model`) {
		t.Errorf("udm without a model: %+v", o)
	}
}

func TestAlertContextJSON(t *testing.T) {
	// Keys in the rule's order, as Python's json.dumps; text escaped as JSON.
	r := mustRule(t, "def rule(event):\n    return True\ndef alert_context(event):\n    return {'z': 1, 'a': [1.5, 1e-7, 1e21, 10000000000000000000000000], 'q': 'a\"b\\\\c\\n\\x01\u00e9', 'n': None, 'b': False, 'e': event}\n")
	o := r.Evaluate(signIn(t, `{"x":{"y":[1,2]}}`), MemState{}, time.Now())
	want := `{"z":1,"a":[1.5,1e-7,1e+21,10000000000000000000000000],"q":"a\"b\\c\n\u0001é","n":null,"b":false,"e":{"x":{"y":[1,2]},"p_log_type":"OnePassword.SignInAttempt"}}`
	if string(o.Context) != want {
		t.Errorf("context %s\nwant    %s (%v %v)", o.Context, want, o.Err, o.AuxErr)
	}
	var v any
	if err := json.Unmarshal(o.Context, &v); err != nil {
		t.Error(err)
	}
}

func TestDataModels(t *testing.T) {
	r := mustRule(t, "def rule(event):\n    return True\ndef alert_context(event):\n    return {'u': event.udm('actor_user'), 'ip': event.udm('source_ip'), 't': event.udm('event_type')}\n")
	cases := []struct{ lt, obj, want string }{
		{"OnePassword.SignInAttempt", `{"category":"mfa_failed","target_user":{"email":"a@x"},"client":{"ip_address":"1.2.3.4"}}`, `{"u":"a@x","ip":"1.2.3.4","t":"failed_login"}`},
		{"OnePassword.SignInAttempt", `{"category":"sso_failed"}`, `{"u":null,"ip":null,"t":null}`},
		{"OnePassword.ItemUsage", `{"user":{"email":"b@x"},"client":{"ip_address":"5.6.7.8"}}`, `{"u":"b@x","ip":"5.6.7.8","t":null}`},
		{"OnePassword.AuditEvent", `{"actor_details":{"email":"c@x"},"session":{"ip":"9.9.9.9"}}`, `{"u":"c@x","ip":"9.9.9.9","t":null}`},
	}
	for _, c := range cases {
		ev, err := EventFromPanther(c.lt, []byte(c.obj))
		if err != nil {
			t.Fatal(err)
		}
		if o := r.Evaluate(ev, MemState{}, time.Now()); string(o.Context) != c.want {
			t.Errorf("%s %s: context %s, want %s (%v)", c.lt, c.obj, o.Context, c.want, o.Err)
		}
	}
}

func TestNewEventPantherFields(t *testing.T) {
	et := time.Date(2024, 8, 16, 19, 18, 43, 784550714, time.UTC)
	ev := NewEvent(store.StoredEvent{Seq: 7, LogType: "OnePassword.ItemUsage", EventTime: et, ParseTime: et.Add(time.Second),
		SourceID: "src", SourceLabel: "Main", RowID: "row", IPs: []string{"192.0.2.1"}, Emails: []string{"a@x"},
		Raw: []byte(`{"uuid":"u","timestamp":"2024-08-16T19:18:43.784550714Z","item_uuid":"i1"}`)},
		map[string]map[string]json.RawMessage{"1Password Translation": {"item_uuid": json.RawMessage(`{"title":"demo_item"}`)}})
	r := mustRule(t, "def rule(event):\n    return True\ndef alert_context(event):\n    return {k: event[k] for k in ['timestamp', 'p_event_time', 'p_parse_time', 'p_log_type', 'p_source_id', 'p_source_label', 'p_row_id', 'p_any_ip_addresses', 'p_any_emails']} | {'item': event.deep_get('p_enrichment', '1Password Translation', 'item_uuid', 'title')}\n")
	o := r.Evaluate(ev, MemState{}, time.Now())
	want := `{"timestamp":"2024-08-16 19:18:43.784550714","p_event_time":"2024-08-16 19:18:43.784550714","p_parse_time":"2024-08-16 19:18:44.784550714","p_log_type":"OnePassword.ItemUsage","p_source_id":"src","p_source_label":"Main","p_row_id":"row","p_any_ip_addresses":["192.0.2.1"],"p_any_emails":["a@x"],"item":"demo_item"}`
	if o.Err != nil || string(o.Context) != want {
		t.Errorf("context %s (%v)\nwant    %s", o.Context, o.Err, want)
	}
}

func TestStepLimit(t *testing.T) {
	r := mustRule(t, "def rule(event):\n    n = 0\n    while True:\n        n += 1\n    return False\n")
	o := r.Evaluate(signIn(t, `{}`), MemState{}, time.Now())
	if o.Err == nil || !strings.Contains(o.Err.Error(), "too many steps") {
		t.Errorf("Err = %v", o.Err)
	}
}

func TestStateTTLCountsFromParseTime(t *testing.T) {
	r := mustRule(t, `
def rule(event):
    if event.get("op") == "put":
        state.put("k", {"v": [1, "a"]}, ttl_seconds=60)
        state.add_to_set("s", "x", ttl_seconds=60)
        state.incr("c", ttl_seconds=60)
        return False
    return state.get("k") != None
def alert_context(event):
    return {"k": state.get("k"), "s": state.set_members("s"), "c": state.incr("c"), "new": state.add_to_set("s", "y")}
`)
	st := MemState{}
	at := func(op, ts string) Outcome {
		return r.Evaluate(signIn(t, `{"op":"`+op+`","p_event_time":"2020-01-01 00:00:00","p_parse_time":"`+ts+`"}`), st, time.Now())
	}
	at("put", "2026-01-01 00:00:00")
	o := at("get", "2026-01-01 00:00:59.999")
	if !o.Matched || string(o.Context) != `{"k":{"v":[1,"a"]},"s":["x"],"c":2,"new":true}` {
		t.Errorf("before expiry: %+v %s", o, o.Context)
	}
	// A set and a counter keep the expiry of their creation.
	if o := at("get", "2026-01-01 00:01:00"); o.Matched {
		t.Errorf("after expiry: %+v", o)
	}
	// The wall clock plays no part: a replay years later reads the same.
	st2 := MemState{}
	r.Evaluate(signIn(t, `{"op":"put","p_parse_time":"2001-01-01 00:00:00"}`), st2, time.Now())
	if o := r.Evaluate(signIn(t, `{"p_parse_time":"2001-01-01 00:00:30"}`), st2, time.Now()); !o.Matched {
		t.Errorf("replay: %+v", o)
	}
	// Values must be JSON.
	r = mustRule(t, "def rule(event):\n    state.put('k', rule)\n    return True\n")
	if o := r.Evaluate(signIn(t, `{}`), st, time.Now()); o.Err == nil || !strings.Contains(o.Err.Error(), "cannot be stored as JSON") {
		t.Errorf("put function: %+v", o)
	}
}

func TestTestRunnerSemantics(t *testing.T) {
	s, err := loadOne(t, `Tests:
  - Name: pass
    ExpectedResult: true
    Log: {"client": {"app_name": "x"}}
  - Name: wrong result
    ExpectedResult: false
    Log: {"client": {"app_name": "x"}}
  - Name: title raises on a true case
    ExpectedResult: true
    Log: {"boom": true, "client": {"app_name": "x"}}
  - Name: title raising does not matter on a false case
    ExpectedResult: false
    Log: {"boom": true}
  - Name: global mocked
    ExpectedResult: false
    Mocks: [{objectName: is_bad, returnValue: false}]
    Log: {"client": {"app_name": "x"}}
  - Name: loaded name mocked, with a JSON string
    ExpectedResult: true
    Mocks:
      - objectName: lookup
        returnValue: >-
          {"country": "RU"}
    Log: {}
  - Name: unknown mock
    ExpectedResult: true
    Mocks: [{objectName: nonesuch, returnValue: x}]
    Log: {}
  - Name: state from prior events
    ExpectedResult: true
    State:
      - {"seen": true, "p_event_time": "2024-01-01 00:00:00"}
    Log: {"p_event_time": "2024-01-01 00:10:00"}
`, `load("helpers/h.star", "lookup")
def is_bad(event):
    return event.get("client") != None or json.decode(lookup(event)).get("country") == "RU"
def rule(event):
    if event.get("seen"):
        state.put("seen", True, ttl_seconds=3600)
        return False
    return is_bad(event) or state.get("seen", False)
def title(event):
    if event.get("boom"):
        fail("boom")
    return "t"
`, "helpers/h.star", "def lookup(event):\n    return '{}'\n")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range s.Test(nil) {
		got[r.Name] = r.Err
		if r.Passed != (r.Err == "") {
			t.Errorf("%s: Passed %v with Err %q", r.Name, r.Passed, r.Err)
		}
	}
	want := map[string]string{
		"pass":                        "",
		"wrong result":                "rule() returned True, want False",
		"title raises on a true case": "u/r.star:11:13: fail: boom",
		"title raising does not matter on a false case": "",
		"global mocked":                          "",
		"loaded name mocked, with a JSON string": "",
		"unknown mock":                           `mock "nonesuch": u/r.star has no global of that name`,
		"state from prior events":                "",
	}
	for name, w := range want {
		g, ok := got[name]
		if !ok || (w == "" && g != "") || (w != "" && !strings.Contains(g, w)) {
			t.Errorf("%s: Err %q, want %q", name, g, w)
		}
	}
	if res := s.Test(map[string]string{"RuleID": "Other"}); len(res) != 0 {
		t.Errorf("filter: %d results", len(res))
	}
}

func TestOverrides(t *testing.T) {
	s, err := LoadDir("testdata/rules")
	if err != nil {
		t.Fatal(err)
	}
	off := false
	o, err := s.WithOverrides(Overrides{Rules: map[string]RuleOverride{"Example.Unusual.Client": {Severity: "critical", Threshold: 3, DedupPeriod: 10 * time.Minute, DestinationsSet: true, Destinations: []string{"slack"}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := o.Rule("Example.Unusual.Client")
	if r.Severity != "CRITICAL" || r.Threshold != 3 || r.DedupPeriod != 10*time.Minute || s.Rule(r.ID).Severity != "MEDIUM" {
		t.Errorf("override: %+v", r)
	}
	out := r.Evaluate(signIn(t, `{"client":{"app_name":"bad"}}`), MemState{}, time.Now())
	if out.Severity != "CRITICAL" || !out.DestinationsSet || len(out.Destinations) != 1 {
		t.Errorf("outcome: %+v", out)
	}
	o, _ = s.WithOverrides(Overrides{Packs: map[string]bool{"Example.Pack": false}})
	if len(o.ForLogType("OnePassword.SignInAttempt")) != 0 {
		t.Error("a disabled pack left its rule enabled")
	}
	o, _ = s.WithOverrides(Overrides{Rules: map[string]RuleOverride{"Example.Unusual.Client": {Enabled: &off}}})
	if len(o.ForLogType("OnePassword.SignInAttempt")) != 0 {
		t.Error("a disabled rule is enabled")
	}
	if _, err := s.WithOverrides(Overrides{Rules: map[string]RuleOverride{"Nope": {}}}); err == nil {
		t.Error("override of an unknown rule accepted")
	}
	if _, err := s.WithOverrides(Overrides{Rules: map[string]RuleOverride{"Example.Unusual.Client": {DedupPeriod: time.Minute}}}); err == nil {
		t.Error("dedup period of a minute accepted")
	}
}

// One event is shared by rules evaluated in parallel: decoded once, read
// without races (go test -race).
func TestEventSharedAcrossGoroutines(t *testing.T) {
	r := mustRule(t, "def rule(event):\n    return event.deep_get('client', 'app_name') == 'x' and event.udm('source_ip') == '1.2.3.4'\n")
	ev := NewEvent(store.StoredEvent{LogType: "OnePassword.SignInAttempt", Raw: []byte(`{"client":{"app_name":"x","ip_address":"1.2.3.4"}}`)}, nil)
	done := make(chan Outcome)
	for range 8 {
		go func() { done <- r.Evaluate(ev, MemState{}, time.Now()) }()
	}
	for range 8 {
		if o := <-done; !o.Matched || o.Err != nil {
			t.Errorf("%+v", o)
		}
	}
}

func TestTestsWithoutTimesKeepState(t *testing.T) {
	s, err := loadOne(t, `Tests:
  - Name: no times anywhere
    ExpectedResult: true
    State: [{"first": true}]
    Log: {}
`, `print("at load")
def rule(event):
    print("during evaluation")
    if event.get("first"):
        state.put("k", 1, ttl_seconds=60)
        return False
    return state.get("k") == 1
`)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Test(nil) {
		if !r.Passed {
			t.Errorf("%s: %s", r.Name, r.Err)
		}
	}
}

// A user folder's rules load its own helpers/ first, then the built-in ones.
func TestUserFolderHelpersFallBackToBuiltin(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("r.yml", ruleYML)
	write("r.star", `load("helpers/panther_base.star", "FAILED_LOGIN")
load("helpers/mine.star", "MINE")
def rule(event):
    return event.udm("event_type") == FAILED_LOGIN and MINE
`)
	write("helpers/mine.star", "MINE = True\n")
	s, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if o := s.Rule("T.Rule").Evaluate(signIn(t, `{"category":"credentials_failed"}`), MemState{}, time.Now()); !o.Matched || o.Err != nil {
		t.Errorf("%+v", o)
	}
	write("r.star", "load(\"helpers/nope.star\", \"X\")\ndef rule(event):\n    return X\n")
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "r.star:1:1: cannot load helpers/nope.star: no such module: helpers/nope.star is not in "+dir+" nor in the built-in rules") {
		t.Errorf("missing helper: %v", err)
	}
	if _, err := LoadDir(filepath.Join(dir, "r.yml")); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Errorf("a file as folder: %v", err)
	}
}
