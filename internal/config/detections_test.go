package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseDetections(t *testing.T) {
	c, err := Parse(strings.NewReader(`
detections:
  rules: [/etc/opwatch/rules, ./more-rules]
  packs:
    OnePassword.Panther: false
    OnePassword.Audit: true
  overrides:
    Standard.BruteForceByIP:
      severity: critical
      threshold: 50
      dedup_period: 2h
      destinations: [pagerduty, slack]
    OnePassword.Unusual.Client:
      enabled: false
    OnePassword.Sensitive.Item:
      destinations: []
  lookups:
    - name: translation
      file: /etc/opwatch/items.csv
      key: item_uuid
      log_type: itemusage
      selector: item_uuid
    - name: bad_ips
      file: /etc/opwatch/bad.txt
      format: JSONL
      key: ip
      log_type: OnePassword.SignInAttempt
      selector: client.ip_address
`))
	if err != nil {
		t.Fatal(err)
	}
	d := c.Detections
	if !slices.Equal(d.Rules, []string{"/etc/opwatch/rules", "./more-rules"}) {
		t.Errorf("rules = %q", d.Rules)
	}
	if en, ok := d.Packs["OnePassword.Panther"]; !ok || en {
		t.Errorf("packs = %v: want OnePassword.Panther disabled", d.Packs)
	}
	bf := d.Overrides["Standard.BruteForceByIP"]
	if bf.Severity != "critical" || bf.Threshold == nil || *bf.Threshold != 50 || bf.DedupPeriod == nil ||
		time.Duration(*bf.DedupPeriod) != 2*time.Hour || bf.Destinations == nil || !slices.Equal(*bf.Destinations, []string{"pagerduty", "slack"}) || bf.Enabled != nil {
		t.Errorf("BruteForceByIP override = %+v", bf)
	}
	if got := bf.Keys(); !slices.Equal(got, []string{"severity", "threshold", "dedup_period", "destinations"}) {
		t.Errorf("Keys() = %q", got)
	}
	if uc := d.Overrides["OnePassword.Unusual.Client"]; uc.Enabled == nil || *uc.Enabled || uc.Destinations != nil || uc.Threshold != nil {
		t.Errorf("Unusual.Client override = %+v: want only enabled: false", uc)
	}
	// An empty list is a setting (send nowhere), not the absence of one.
	if si := d.Overrides["OnePassword.Sensitive.Item"]; si.Destinations == nil || len(*si.Destinations) != 0 {
		t.Errorf("Sensitive.Item destinations = %v: want set and empty", si.Destinations)
	}
	want := []Lookup{
		{Name: "translation", File: "/etc/opwatch/items.csv", Key: "item_uuid", LogType: "OnePassword.ItemUsage", Selector: "item_uuid", Format: "csv"},
		{Name: "bad_ips", File: "/etc/opwatch/bad.txt", Key: "ip", LogType: "OnePassword.SignInAttempt", Selector: "client.ip_address", Format: "jsonl"},
	}
	if !slices.Equal(d.Lookups, want) {
		t.Errorf("lookups = %+v\nwant %+v", d.Lookups, want)
	}
}

func TestParseDetectionsRejects(t *testing.T) {
	const lk = "detections:\n  lookups:\n    - name: t\n      file: t.csv\n      key: k\n      log_type: ItemUsage\n      selector: item_uuid\n"
	for _, tc := range []struct{ yaml, want string }{
		{"detections:\n  rule: [x]\n", "unknown key rule"},
		{"detections:\n  rules: [\"\"]\n", "detections.rules[0] is empty"},
		{"detections:\n  rules: [a, ./a/]\n", "detections.rules[1]: the folder ./a/ is listed twice"},
		{"detections:\n  packs: {P: maybe}\n", "is not true or false"},
		{"detections:\n  packs: {\"a b\": true}\n", `detections.packs: a PackID "a b" has spaces`},
		{"detections:\n  overrides: {\"\": {enabled: false}}\n", "detections.overrides: a RuleID is empty"},
		{"detections:\n  overrides: {R: {severity: urgent}}\n", `detections.overrides.R: severity urgent: want one of Info, Low, Medium, High, Critical`},
		{"detections:\n  overrides: {R: {threshold: 0}}\n", "detections.overrides.R: threshold 0: want at least 1"},
		{"detections:\n  overrides: {R: {dedup_period: 1m}}\n", "detections.overrides.R: dedup_period 1m0s must be between 5m and 24h"},
		{"detections:\n  overrides: {R: {dedup_period: 2d}}\n", "dedup_period 2d must be between 5m and 24h"},
		{"detections:\n  overrides: {R: {dedup_period: soon}}\n", "invalid duration"},
		{"detections:\n  overrides: {R: {dedupperiod: 1h}}\n", "unknown key dedupperiod"},
		{"detections:\n  overrides: {R: {destinations: [a, a]}}\n", `detections.overrides.R: destinations[1]: a is listed twice`},
		{"detections:\n  overrides: {R: {destinations: [\"\"]}}\n", "detections.overrides.R: destinations[0] is required"},
		{"detections:\n  overrides: {R: {destinations: [a,b,c,d,e,f,g,h,i,j,k]}}\n", "destinations: 11 given, at most 10"},
		{"detections:\n  overrides: {R: {enabled: perhaps}}\n", "is not true or false"},
		{"detections:\n  lookups:\n    - file: t.csv\n      key: k\n      log_type: ItemUsage\n      selector: a\n", `detections.lookups[0] (""): name is required`},
		{"detections:\n  lookups:\n    - name: t\n      key: k\n      log_type: ItemUsage\n      selector: a\n", "detections.lookups[0] (t): file is required"},
		{"detections:\n  lookups:\n    - name: t\n      file: \"-\"\n      format: csv\n      key: k\n      log_type: ItemUsage\n      selector: a\n", "file - (standard input) is for `opwatch lookup load`"},
		{"detections:\n  lookups:\n    - name: t\n      file: t.txt\n      key: k\n      log_type: ItemUsage\n      selector: a\n", `cannot tell the format of t.txt from its name`},
		{"detections:\n  lookups:\n    - name: t\n      file: t.csv\n      format: xml\n      key: k\n      log_type: ItemUsage\n      selector: a\n", `format "xml": want csv or jsonl`},
		{"detections:\n  lookups:\n    - name: t\n      file: t.csv\n      log_type: ItemUsage\n      selector: a\n", "detections.lookups[0] (t): key is required"},
		{"detections:\n  lookups:\n    - name: t\n      file: t.csv\n      key: k\n      selector: a\n", "log_type is required"},
		{"detections:\n  lookups:\n    - name: t\n      file: t.csv\n      key: k\n      log_type: Logins\n      selector: a\n", `log_type: unknown log type "Logins"`},
		{"detections:\n  lookups:\n    - name: t\n      file: t.csv\n      key: k\n      log_type: ItemUsage\n", "selector is required"},
		{"detections:\n  lookups:\n    - name: t\n      file: t.csv\n      key: k\n      log_type: ItemUsage\n      selector: a..b\n", `selector "a..b" is not a dotted path`},
		{lk + "    - name: t\n      file: u.csv\n      key: k\n      log_type: ItemUsage\n      selector: item_uuid\n", "detections.lookups[1]: duplicate name t"},
	} {
		_, err := Parse(strings.NewReader(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want it to contain %q", tc.yaml, err, tc.want)
		}
	}
	if _, err := Parse(strings.NewReader(lk)); err != nil {
		t.Errorf("a valid lookup is refused: %v", err)
	}
}

// Every problem of the section is reported at once, so a user fixes the
// file in one go.
func TestParseDetectionsReportsAll(t *testing.T) {
	_, err := Parse(strings.NewReader("detections:\n  overrides:\n    A: {severity: x}\n    B: {threshold: -1}\n  rules: [\"\"]\n"))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"detections.overrides.A: severity", "detections.overrides.B: threshold -1", "detections.rules[0]"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v\nwant it to contain %q", err, want)
		}
	}
}

func TestLookupFormat(t *testing.T) {
	for _, tc := range []struct{ file, format, want string }{
		{"a.csv", "", "csv"}, {"a.CSV", "", "csv"}, {"a.jsonl", "", "jsonl"}, {"a.ndjson", "", "jsonl"},
		{"a.txt", "csv", "csv"}, {"a.csv", "JSONL", "jsonl"}, {"a.txt", "", ""}, {"a.csv", "tsv", ""},
	} {
		got, err := LookupFormat(tc.file, tc.format)
		if got != tc.want || (err != nil) != (tc.want == "") {
			t.Errorf("LookupFormat(%q, %q) = %q, %v; want %q", tc.file, tc.format, got, err, tc.want)
		}
	}
}

// A selector must name a field of the log type: a typo would enrich nothing.
func TestCheckSelector(t *testing.T) {
	for _, tc := range []struct {
		lt, sel string
		ok      bool
	}{
		{"OnePassword.ItemUsage", "item_uuid", true},
		{"OnePassword.ItemUsage", "client.ip_address", true},
		{"OnePassword.SignInAttempt", "client.ip_address", true},
		{"OnePassword.AuditEvent", "object_uuid", true},
		{"OnePassword.AuditEvent", "aux_uuid", true},
		{"OnePassword.AuditEvent", "session.ip", true},
		{"OnePassword.ItemUsage", "no.such.path", false},
		{"OnePassword.ItemUsage", "client.ipaddress", false},
		{"OnePassword.ItemUsage", "item_uid", false},
	} {
		err := CheckSelector(tc.lt, tc.sel)
		if (err == nil) != tc.ok {
			t.Errorf("CheckSelector(%s, %s) = %v, want ok %v", tc.lt, tc.sel, err, tc.ok)
		}
	}
}
