package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const exampleRules = "../detect/testdata/rules"

func TestRulesTestBuiltinAndPath(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "", "rules", "test")
	if code != 0 {
		t.Fatalf("rules test (built-in): exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, nil, "", "rules", "test", "--path", exampleRules)
	if code != 0 || !strings.Contains(out, "PASS  Example.Unusual.Client / Bad client") || !strings.Contains(out, "3 passed, 0 failed, in 1 rule(s)") {
		t.Fatalf("rules test --path: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out, "OnePassword.") {
		t.Errorf("--path tested the built-in rules too:\n%s", out)
	}
	_, errOut, code = runCLI(t, nil, "", "rules", "test", "--path", exampleRules, "--filter", "RuleID=Nope")
	if code != 1 || !strings.Contains(errOut, "no test matched the filter") {
		t.Errorf("empty filter: exit %d %s", code, errOut)
	}
	_, errOut, code = runCLI(t, nil, "", "rules", "test", "--filter", "Colour=red")
	if code != 2 || !strings.Contains(errOut, "unknown key Colour") {
		t.Errorf("bad filter key: exit %d %s", code, errOut)
	}
}

func writeRule(t *testing.T, dir, star, tests string) {
	t.Helper()
	yml := "AnalysisType: rule\nRuleID: User.Rule\nEnabled: true\nFilename: r.star\nLogTypes: [OnePassword.SignInAttempt]\nSeverity: High\n" + tests
	if err := os.WriteFile(filepath.Join(dir, "r.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "r.star"), []byte(star), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRulesTestFailsAndNamesTheLine(t *testing.T) {
	dir := t.TempDir()
	writeRule(t, dir, "def rule(event):\n    return event['category'] == 'x'\n",
		"Tests:\n  - Name: wrong\n    ExpectedResult: true\n    Log: {category: y}\n  - Name: missing key\n    ExpectedResult: false\n    Log: {}\n")
	out, errOut, code := runCLI(t, nil, "", "rules", "test", "--path", dir)
	if code != 1 || !strings.Contains(out, "FAIL  User.Rule / wrong") || !strings.Contains(out, "rule() returned False, want True") ||
		!strings.Contains(out, "r.star:2:17: key \"category\" not in dict") || !strings.Contains(out, "0 passed, 2 failed") ||
		!strings.Contains(errOut, "2 of 2 tests failed") {
		t.Errorf("exit %d\n%s%s", code, out, errOut)
	}
	writeRule(t, dir, "def rule(event):\n    return event['category'] == 'x'\n", "Sevrity: Low\n")
	_, errOut, code = runCLI(t, nil, "", "rules", "test", "--path", dir)
	if code != 1 || !strings.Contains(errOut, filepath.Join(dir, "r.yml")+`:7: unknown key "Sevrity"`) {
		t.Errorf("load error: exit %d %s", code, errOut)
	}
}

func TestRulesListAndEval(t *testing.T) {
	out, errOut, code := runCLI(t, nil, "", "rules", "list", "--path", exampleRules, "--format", "json", "--filter", "Pack=Example.Pack")
	var r ruleJSON
	if code != 0 || json.Unmarshal([]byte(out), &r) != nil || r.ID != "Example.Unusual.Client" || r.DedupPeriodMinutes != 120 || r.Severity != "MEDIUM" {
		t.Fatalf("list: exit %d %s %s", code, out, errOut)
	}
	out, _, code = runCLI(t, nil, "", "rules", "list", "--path", exampleRules)
	if code != 0 || !strings.Contains(out, "Example.Unusual.Client") || !strings.Contains(out, "RULE") {
		t.Errorf("list table: exit %d\n%s", code, out)
	}
	in := strings.Join([]string{
		// wire form, log type from the flag
		`{"uuid":"u1","session_uuid":"s","timestamp":"2024-01-02T03:04:05Z","category":"success","type":"credentials_ok","target_user":{"uuid":"t","name":"A","email":"a@example.com"},"client":{"app_name":"Evil","app_version":"1","platform_name":"p","platform_version":"1","os_name":"o","os_version":"1","ip_address":"192.0.2.1"},"location":{"country":"CA","region":"r","city":"c","latitude":1,"longitude":2}}`,
		// Panther form, an allowed client: no match
		`{"p_log_type":"OnePassword.SignInAttempt","p_event_time":"2024-01-02 03:04:05","client":{"app_name":"1Password CLI"}}`,
		// not JSON
		`{`,
	}, "\n")
	out, errOut, code = runCLI(t, nil, in, "rules", "eval", "--rule", "Example.Unusual.Client", "--path", exampleRules, "--log-type", "OnePassword.SignInAttempt")
	var m matchJSON
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 1 || len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &m) != nil || !strings.Contains(errOut, "line 3:") {
		t.Fatalf("eval: exit %d\n%s\n%s", code, out, errOut)
	}
	if m.RuleID != "Example.Unusual.Client" || m.Title != "Unusual 1Password client - Evil detected" || m.Dedup != m.Title || m.Severity != "MEDIUM" ||
		!strings.Contains(string(m.AlertContext), `"time_seen":"2024-01-02 03:04:05.000000000"`) || !strings.Contains(string(m.AlertContext), `"ip_address":"192.0.2.1"`) {
		t.Errorf("match %+v %s", m, m.AlertContext)
	}
	_, errOut, code = runCLI(t, nil, "", "rules", "eval", "--rule", "Nope")
	if code != 2 || !strings.Contains(errOut, "no such rule") {
		t.Errorf("unknown rule: exit %d %s", code, errOut)
	}
}
