package detect_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/detect"
)

// The Panther conformance suite: every unit test of Panther's own 1Password
// detections (../shared/conformance/panther-analysis, extracted from
// panther-labs/panther-analysis; see SOURCES.md there) must hold for the
// built-in rules with the same RuleIDs. Each case runs twice:
//
//   - through the test runner (Set.Test), with the case's Mocks applied by
//     objectName as panther_analysis_tool applies them, so a true case also
//     fails when title, dedup, alert_context or severity raise;
//   - through Rule.Evaluate without mocks, the way the detect stage runs a
//     rule, asserting the result and, for matches, the title, dedup string,
//     severity and alert context that Panther's rule produces for the case
//     (panther.md §3 words them; the cases themselves state only the result).
//
// Evaluating without the mocks is sound for every case here, because no mock
// decides a result in opwatch's versions of the rules:
//   - geoinfo_from_ip (the brute-force rules) feeds only alert_context, not
//     rule(); unmocked it falls back to what the event itself says.
//   - is_rogue_state (Standard.SignInFromRogueState) is mocked true on an
//     event whose location.country is "RU", which opwatch's rule reads and
//     finds in ROGUE_STATES on its own (Panther's reads IPinfo instead, whose
//     enrichment the case also carries, also "RU").

// notPorted lists the cases' rules that opwatch deliberately does not ship,
// with the reason; a case of any other missing rule fails.
func notPorted() map[string]string {
	return map[string]string{
		"OnePassword.Login.From.CrowdStrike.Unmanaged.Device": "a scheduled rule over a SQL join of " +
			"sign-ins with CrowdStrike's device inventory, which opwatch does not collect; Panther " +
			"disabled it and dropped it from its pack in 2024-09",
	}
}

// want is what Panther's rule yields on a matching case, beyond the result.
// Context is compared as JSON, after decoding both sides.
type want struct {
	title   string
	context map[string]any
}

// conformanceWant holds the expectations per "RuleID/case name", for every
// case that matches. Values follow Panther's rule code; where opwatch
// differs on purpose the comment says so.
func conformanceWant() map[string]want {
	return map[string]want{
		"OnePassword.Unusual.Client/1Password - Bad Client": {
			title: "Unusual 1Password client - Bartco 1Password Manager detected",
			context: map[string]any{
				"user": "Homer Simpson", "user_email": "homer@springfield.gov", "ip_address": "1.1.1.1",
				"client": "Bartco 1Password Manager", "OS": "MacOSX", "login_result": "success",
				"time_seen": "2021-12-15 18:02:23",
			},
		},
		"OnePassword.Sensitive.Item/1Password - Sensitive Item Accessed": {
			title: "A Sensitive 1Password Item was Accessed by user Homer Simpson",
			// ip_address: Panther's ItemUsage data model maps source_ip to
			// client.ipaddress (a typo), so Panther's is always null; opwatch
			// maps client.ip_address.
			context: map[string]any{
				"user": "Homer Simpson", "item_name": nil, "client": "1Password Browser Extension",
				"ip_address": "1.1.1.1.1", "event_time": "2022-02-23 20:27:17.071",
			},
		},
		"OnePassword.Lut.Sensitive.Item/1Password - Sensitive Item Accessed": {
			title: "A Sensitive 1Password Item was Accessed by user Homer Simpson",
			context: map[string]any{
				"user": "Homer Simpson", "item_name": "demo_item", "client": "1Password Browser Extension",
				"ip_address": "1.1.1.1", "event_time": "2022-02-23 22:11:50.591",
			},
		},
		"Standard.BruteForceByIP/1Password - Failed Login": {
			title: "OnePassword.SignInAttempt: Login attempts from IP [111.111.111.111] have exceeded the failed logins threshold",
			// Unmocked, with neither IPinfo nor a location in the event, opwatch
			// falls back to the sign-in's top-level country where Panther's
			// IPinfo helper raises; Panther's defaults fill the rest. (The
			// runner checks the mocked form.)
			context: map[string]any{
				"geolocation": "None, None in US", "ip": "111.111.111.111",
				"reverse_lookup": "No reverse lookup hostname", "ip_org": "No organization listed",
				"parseDelay": "2 minute(s) 40 second(s)",
			},
		},
		"Standard.BruteForceByUser/1Password - Failed Login": {
			title: "OnePassword.SignInAttempt: User [homer@springfield.gov] has exceeded the failed logins threshold",
			context: map[string]any{
				"geolocation": "None, None in US", "ip": "111.111.111.111",
				"reverse_lookup": "No reverse lookup hostname", "ip_org": "No organization listed",
				"parseDelay": "2 minute(s) 40 second(s)",
			},
		},
		"Standard.SignInFromRogueState/OnePassword - Rogue State Sign-In": {
			// The country's ISO short name, as Panther's pycountry lookup prints it.
			title: "OnePassword.SignInAttempt: Sign-In for account dude.lightbulb@example.co from Rogue State 'Russian Federation'",
			context: map[string]any{
				"udm_path": "client.ip_address", "event_type": "successful_login", "source_ip": "1.1.1.1",
				"country": "Russian Federation", "account_name": "dude.lightbulb@example.co",
			},
		},
	}
}

type conformanceCase struct {
	Name     string          `json:"name"`
	Expected bool            `json:"expected"`
	Log      json.RawMessage `json:"log"`
	Mocks    []struct {
		ObjectName  string `json:"objectName"`
		ReturnValue any    `json:"returnValue"`
	} `json:"mocks"`
}

// conformanceDir finds ../shared beside the repository (three levels up
// from this package), or skips the test when it is absent.
func conformanceDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "conformance", "panther-analysis")
	if _, err := os.Stat(filepath.Join(dir, "SOURCES.md")); err != nil {
		t.Skipf("Panther conformance cases not found beside the repository (%v)", err)
	}
	return dir
}

func TestConformancePanther(t *testing.T) {
	dir := conformanceDir(t)
	files, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files in %s (%v)", dir, err)
	}
	sort.Strings(files)
	set, err := detect.LoadBuiltin()
	if err != nil {
		t.Fatalf("LoadBuiltin: %v", err)
	}

	expect := conformanceWant()
	skip := notPorted()
	seen := map[string]bool{}
	for _, file := range files {
		ruleID := strings.TrimSuffix(filepath.Base(file), ".json")
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cases []conformanceCase
		if err := json.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		t.Run(ruleID, func(t *testing.T) {
			if reason, ok := skip[ruleID]; ok {
				if set.Rule(ruleID) != nil {
					t.Fatalf("%s is built in now: remove it from notPorted so its %d cases run", ruleID, len(cases))
				}
				t.Skipf("%d cases skipped: not ported: %s", len(cases), reason)
			}
			rule := set.Rule(ruleID)
			if rule == nil {
				t.Fatalf("no built-in rule %s for the %d cases of %s", ruleID, len(cases), filepath.Base(file))
			}
			for _, c := range cases {
				key := ruleID + "/" + c.Name
				seen[key] = true
				t.Run(c.Name, func(t *testing.T) {
					runViaRunner(t, set, rule, c)
					w, ok := expect[key]
					if c.Expected && !ok {
						t.Fatalf("no title/context expectation for matching case %q: add one to conformanceWant", key)
					}
					evaluateUnmocked(t, rule, c, w)
				})
			}
		})
	}
	// An expectation whose case vanished from the suite (renamed upstream)
	// would otherwise never be checked.
	for key := range expect {
		if !seen[key] {
			t.Errorf("conformanceWant()[%q] names no case in %s", key, dir)
		}
	}
}

// runViaRunner runs the case as one of the rule's Tests, mocks and all.
func runViaRunner(t *testing.T, set *detect.Set, rule *detect.Rule, c conformanceCase) {
	t.Helper()
	tc := detect.Test{Name: c.Name, ExpectedResult: c.Expected, Log: c.Log}
	for _, m := range c.Mocks {
		tc.Mocks = append(tc.Mocks, detect.Mock{ObjectName: m.ObjectName, ReturnValue: m.ReturnValue})
	}
	saved := rule.Tests
	rule.Tests = []detect.Test{tc}
	defer func() { rule.Tests = saved }()
	results := set.Test(map[string]string{"RuleID": rule.ID})
	if len(results) != 1 {
		t.Fatalf("runner: %d results for one case, want 1: %+v", len(results), results)
	}
	if r := results[0]; !r.Passed {
		t.Errorf("runner (mocks %v): failed: %s", c.Mocks, r.Err)
	}
}

// evaluateUnmocked evaluates the case as the detect stage would.
func evaluateUnmocked(t *testing.T, rule *detect.Rule, c conformanceCase, w want) {
	t.Helper()
	ev, err := detect.EventFromPanther("", c.Log)
	if err != nil {
		t.Fatalf("EventFromPanther: %v", err)
	}
	out := rule.Evaluate(ev, detect.MemState{}, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	if out.Err != nil {
		t.Fatalf("Evaluate: rule error: %v", out.Err)
	}
	if out.AuxErr != nil {
		t.Errorf("Evaluate: an auxiliary function failed: %v", out.AuxErr)
	}
	if out.Matched != c.Expected {
		t.Fatalf("Evaluate: matched = %v, want %v", out.Matched, c.Expected)
	}
	if !c.Expected {
		return
	}
	if out.Title != w.title {
		t.Errorf("title:\n got %q\nwant %q", out.Title, w.title)
	}
	// No dedup(): Panther dedups by the title.
	if out.Dedup != w.title {
		t.Errorf("dedup = %q, want the title %q", out.Dedup, w.title)
	}
	if !strings.EqualFold(out.Severity, rule.Severity) {
		t.Errorf("severity = %q, want the rule's static %q", out.Severity, rule.Severity)
	}
	var got map[string]any
	if err := json.Unmarshal(out.Context, &got); err != nil {
		t.Fatalf("alert_context %s: %v", out.Context, err)
	}
	if diff := cmp.Diff(w.context, got); diff != "" {
		t.Errorf("alert_context (-want +got):\n%s", diff)
	}
}

// TestPantherPackTests runs the Tests of the Panther packs' rules (Panther's
// own and opwatch's additions), as `opwatch rules test` does.
func TestPantherPackTests(t *testing.T) {
	set, err := detect.LoadBuiltin()
	if err != nil {
		t.Fatalf("LoadBuiltin: %v", err)
	}
	results := set.Test(map[string]string{"Pack": "PantherManaged.OnePassword,PantherManaged.UniversalDetections"})
	perRule := map[string]int{}
	for _, r := range results {
		perRule[r.Rule]++
		if !r.Passed {
			t.Errorf("%s / %s: %s", r.Rule, r.Name, r.Err)
		}
	}
	for _, id := range []string{"OnePassword.Unusual.Client", "OnePassword.Sensitive.Item", "OnePassword.Lut.Sensitive.Item",
		"Standard.BruteForceByIP", "Standard.BruteForceByUser", "Standard.SignInFromRogueState"} {
		if perRule[id] == 0 {
			t.Errorf("%s: no tests ran: is it still in a Panther pack?", id)
		}
	}
}

// TestPantherRuleOutputs checks what opwatch's versions of Panther's rules
// add (the country from the event itself, in either form; geolocation from
// the event or from IPinfo-style lookup tables) on their own test logs: the
// Tests in the YAML assert only rule()'s result.
func TestPantherRuleOutputs(t *testing.T) {
	set, err := detect.LoadBuiltin()
	if err != nil {
		t.Fatalf("LoadBuiltin: %v", err)
	}
	for _, tc := range []struct {
		rule, test string
		title      string
		context    map[string]any // keys to compare; others ignored
	}{
		{
			rule: "Standard.SignInFromRogueState", test: "A country name in location.country (Russia)",
			title:   "OnePassword.SignInAttempt: Sign-In for account ana@example.com from Rogue State 'Russian Federation'",
			context: map[string]any{"country": "Russian Federation", "source_ip": "203.0.113.9", "account_name": "ana@example.com"},
		},
		{
			rule: "Standard.SignInFromRogueState", test: "A common name (Iran)",
			title:   "OnePassword.SignInAttempt: Sign-In for account ana@example.com from Rogue State 'Iran, Islamic Republic of'",
			context: map[string]any{"country": "Iran, Islamic Republic of"},
		},
		{
			rule: "Standard.SignInFromRogueState", test: "No location: the top-level country decides",
			context: map[string]any{"country": "Iran, Islamic Republic of"},
		},
		{
			rule: "Standard.SignInFromRogueState", test: "An IPinfo-style lookup table when the event has no location",
			context: map[string]any{"country": "China", "udm_path": "client.ip_address"},
		},
		{
			rule: "Standard.BruteForceByIP", test: "A wrong password is a failed login (context from the event's own location, no mock)",
			title: "OnePassword.SignInAttempt: Login attempts from IP [203.0.113.50] have exceeded the failed logins threshold",
			context: map[string]any{
				"geolocation": "Paris, Ile-de-France in France", "ip": "203.0.113.50",
				"reverse_lookup": "No reverse lookup hostname", "ip_org": "No organization listed",
				"parseDelay": "1 minute(s) 2 second(s)",
			},
		},
		{
			rule: "Standard.BruteForceByUser", test: "A failed login with IPinfo-style lookup tables loaded uses them",
			title: "OnePassword.SignInAttempt: User [ana@example.com] has exceeded the failed logins threshold",
			context: map[string]any{
				"geolocation": "Lyon, Auvergne-Rhone-Alpes in FR", "ip": "203.0.113.50",
				"ip_org": "AS64500 Example Net", "parseDelay": "1 hour(s) 1 second(s)",
			},
		},
		{
			rule: "Standard.BruteForceByUser", test: "A failed login with neither location, enrichment nor times still gives a context",
			title:   "OnePassword.SignInAttempt: User [None] has exceeded the failed logins threshold",
			context: map[string]any{"geolocation": "None, None in None", "ip": nil},
		},
		{
			rule: "OnePassword.Unusual.Client", test: "No client at all matches (absent is not in the list) and the context falls back",
			title:   "Unusual 1Password client - None detected",
			context: map[string]any{"user": "UNKNOWN_USER", "client": "UNKNOWN_CLIENT", "OS": "UNKNOWN_OS", "user_email": nil},
		},
		{
			rule: "OnePassword.Sensitive.Item", test: "A watched item with its title from the lookup table, any action",
			title:   "A Sensitive 1Password Item was Accessed by user Ana",
			context: map[string]any{"item_name": "demo_item", "ip_address": "198.51.100.7"},
		},
	} {
		t.Run(tc.rule+"/"+tc.test, func(t *testing.T) {
			r := set.Rule(tc.rule)
			if r == nil {
				t.Fatalf("no rule %s", tc.rule)
			}
			var log []byte
			for _, x := range r.Tests {
				if x.Name == tc.test {
					log = x.Log
				}
			}
			if log == nil {
				t.Fatalf("%s has no test %q", tc.rule, tc.test)
			}
			ev, err := detect.EventFromPanther("", log)
			if err != nil {
				t.Fatal(err)
			}
			out := r.Evaluate(ev, detect.MemState{}, time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
			if out.Err != nil || out.AuxErr != nil || !out.Matched {
				t.Fatalf("matched %v, err %v, aux err %v; want a clean match", out.Matched, out.Err, out.AuxErr)
			}
			if tc.title != "" && out.Title != tc.title {
				t.Errorf("title:\n got %q\nwant %q", out.Title, tc.title)
			}
			var got map[string]any
			if err := json.Unmarshal(out.Context, &got); err != nil {
				t.Fatalf("alert_context %s: %v", out.Context, err)
			}
			for k, v := range tc.context {
				if g, ok := got[k]; !ok || !cmp.Equal(g, v) {
					t.Errorf("alert_context[%q] = %#v (present %v), want %#v", k, g, ok, v)
				}
			}
		})
	}
}

// FuzzPantherRules feeds Panther's rules well-typed events with arbitrary
// strings where 1Password's users and clients choose them (client names,
// countries, emails, item titles): a rule never fails on them, and the
// results keep Panther's definitions.
func FuzzPantherRules(f *testing.F) {
	f.Add("success", "1Password for Mac", "US", "United States", "198.51.100.7", "ana@example.com", "demo_item")
	f.Add("credentials_failed", "Bartco 1Password Manager", "RU", "Russia", "203.0.113.9", "", "not_sensitive")
	f.Add("sso_failed", "", "", "Iran, Islamic Republic of", "", "x", "")
	f.Add("success", "1Password SDK", "cn", "\u00c5land", "2001:db8::1", "\x00", "\xff")
	set, err := detect.LoadBuiltin()
	if err != nil {
		f.Fatalf("LoadBuiltin: %v", err)
	}
	official := map[string]bool{}
	for _, n := range []string{"1Password CLI", "1Password for Web", "1Password for Mac", "1Password SCIM Bridge",
		"1Password for Windows", "1Password for iOS", "1Password Browser Extension", "1Password for Android",
		"1Password for Linux", "1Password SDK"} {
		official[n] = true
	}
	failed := map[string]bool{"credentials_failed": true, "mfa_failed": true, "modern_version_failed": true}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

	f.Fuzz(func(t *testing.T, category, app, country, locCountry, ip, email, itemTitle string) {
		client := map[string]any{"app_name": app, "ip_address": ip, "os_name": "MacOSX"}
		signIn, _ := json.Marshal(map[string]any{
			"uuid": "KMRWGJ3D5ZG7ZOXKRHA6M5KQXE", "timestamp": "2026-11-30T09:15:00Z",
			"category": category, "type": "credentials_ok", "country": country,
			"target_user": map[string]any{"email": email, "name": email},
			"client":      client,
			"location":    map[string]any{"country": locCountry, "city": "c", "region": "r", "latitude": 1.5, "longitude": -2.5},
			"p_log_type":  "OnePassword.SignInAttempt", "p_event_time": "2026-11-30 09:15:00", "p_parse_time": "2026-11-30 09:16:00",
		})
		usage, _ := json.Marshal(map[string]any{
			"uuid": "56YE2TYN2VFYRLNSHKPW5NVT5E", "timestamp": "2026-11-30T09:15:00Z", "action": "reveal",
			"item_uuid": itemTitle, "user": map[string]any{"email": email, "name": email}, "client": client,
			"location":     map[string]any{"country": locCountry},
			"p_enrichment": map[string]any{"1Password Translation": map[string]any{"item_uuid": map[string]any{"title": itemTitle}}},
			"p_log_type":   "OnePassword.ItemUsage",
		})
		for _, id := range []string{"OnePassword.Unusual.Client", "OnePassword.Sensitive.Item", "OnePassword.Lut.Sensitive.Item",
			"Standard.BruteForceByIP", "Standard.BruteForceByUser", "Standard.SignInFromRogueState"} {
			r := set.Rule(id)
			raw := signIn
			if r.LogTypes[0] == "OnePassword.ItemUsage" {
				raw = usage
			}
			ev, err := detect.EventFromPanther("", raw)
			if err != nil {
				t.Fatalf("EventFromPanther: %v", err)
			}
			out := r.Evaluate(ev, detect.MemState{}, now)
			if out.Err != nil || out.AuxErr != nil {
				t.Fatalf("%s failed on %s: %v / %v", id, raw, out.Err, out.AuxErr)
			}
			switch id {
			case "OnePassword.Unusual.Client":
				if out.Matched == official[app] {
					t.Errorf("%s: app_name %q matched = %v", id, app, out.Matched)
				}
			case "Standard.BruteForceByIP", "Standard.BruteForceByUser":
				if out.Matched != failed[category] {
					t.Errorf("%s: category %q matched = %v", id, category, out.Matched)
				}
			case "Standard.SignInFromRogueState":
				if out.Matched && (category != "success" || ip == "") {
					t.Errorf("%s: matched a sign-in of category %q from IP %q", id, category, ip)
				}
			}
		}
	})
}
