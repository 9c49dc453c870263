package console

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/detect"
)

// userRules writes a rule folder with one rule whose second test fails.
func userRules(t *testing.T) (string, *detect.Set) {
	dir := t.TempDir()
	files := map[string]string{
		"my_rule.yml": `AnalysisType: rule
RuleID: Acme.Admin.SignIn
DisplayName: Acme admin signs in
Enabled: true
Filename: my_rule.star
LogTypes:
  - OnePassword.SignInAttempt
Severity: Low
Description: An admin of Acme signed in.
Tests:
  - Name: admin signs in
    ExpectedResult: true
    Log: {"uuid": "u1", "timestamp": "2026-11-30T10:00:00Z", "category": "success", "target_user": {"email": "admin@acme.com"}}
  - Name: deliberately wrong expectation
    ExpectedResult: true
    Log: {"uuid": "u2", "timestamp": "2026-11-30T10:00:00Z", "category": "success", "target_user": {"email": "bob@acme.com"}}
`,
		"my_rule.star": "# acme's own rule\ndef rule(event):\n    return event.deep_get(\"target_user\", \"email\") == \"admin@acme.com\"\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	builtin, err := detect.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	mine, err := detect.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	set, err := detect.Merge(builtin, mine)
	if err != nil {
		t.Fatal(err)
	}
	return dir, set
}

func TestDetectionsPages(t *testing.T) {
	dir, set := userRules(t)
	h := newHarness(t, func(d *Deps) { d.Rules, d.RuleDirs = set, []string{dir} })
	h.get("/detections", h.analyst).want(t, http.StatusOK, "Packs", "Acme.Admin.SignIn", "OpWatch.OnePassword.MFA.Disabled", "Lookup tables")
	r := h.get("/detections?severity=LOW&q=acme", h.analyst).want(t, http.StatusOK, "Acme.Admin.SignIn", "1 rule(s)")
	if strings.Contains(r.body, "OpWatch.OnePassword.MFA.Disabled</small>") {
		t.Error("the filter shows a rule it excludes")
	}
	// A built-in rule: metadata, code from the embedded packs, its tests.
	h.get("/detections/rules/OpWatch.OnePassword.MFA.Disabled", h.analyst).want(t, http.StatusOK,
		"built-in (read-only)", "def rule(event):", "disblmfa", "Run tests", "MFA disabled for a user by an admin", "TA0005:T1556.006")
	h.form("/detections/rules/OpWatch.OnePassword.MFA.Disabled/test", h.analyst, nil).want(t, http.StatusOK, "5 of 5 passed", "PASS")
	// The user's rule: its code from its folder, one test failing with why.
	h.get("/detections/rules/Acme.Admin.SignIn", h.analyst).want(t, http.StatusOK, "your rule", "# acme&#39;s own rule")
	h.form("/detections/rules/Acme.Admin.SignIn/test", h.analyst, nil).want(t, http.StatusOK, "1 of 2 passed", "FAIL deliberately wrong expectation", "want True")
	h.get("/detections/rules/No.Such.Rule", h.analyst).want(t, http.StatusNotFound)
}

// The Packs table counts the detections each pack holds (not the data
// models its definition also names), so the counts add up to the rule
// list, and filtering by a pack lists as many rules as its count.
func TestPackCountsMatchTheRules(t *testing.T) {
	h := newHarness(t)
	var packs list[packView]
	h.api("GET", "/api/v1/packs", h.analyst, nil, &packs).want(t, http.StatusOK)
	c, err := newConsole(h.deps)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, p := range packs.Items {
		total += len(p.Rules)
		enabled := 0
		for _, id := range p.Rules {
			if r := c.rules.Rule(id); r == nil {
				t.Errorf("pack %s counts %s, which is not a rule", p.ID, id)
			} else if r.Enabled {
				enabled++
			}
		}
		if p.EnabledN != enabled {
			t.Errorf("pack %s: %d enabled, want %d", p.ID, p.EnabledN, enabled)
		}
		r := h.get("/detections?pack="+p.ID, h.analyst).want(t, http.StatusOK)
		if want := fmt.Sprintf("%d rule(s)", len(p.Rules)); !strings.Contains(r.body, want) {
			t.Errorf("filtering by pack %s does not list %s", p.ID, want)
		}
	}
	if n := len(c.rules.Rules()); total != n {
		t.Errorf("the packs count %d detections, the rule list %d", total, n)
	}
}
