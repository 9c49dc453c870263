package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
)

// listedRules runs rules list --format json with args and returns the rules
// by ID.
func listedRules(t *testing.T, args ...string) map[string]ruleJSON {
	t.Helper()
	out, errOut, code := runCLI(t, nil, "", append([]string{"rules", "list", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("rules list %s: exit %d\n%s", strings.Join(args, " "), code, errOut)
	}
	rules := map[string]ruleJSON{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var r ruleJSON
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("not JSON: %s", sc.Text())
		}
		rules[r.ID] = r
	}
	return rules
}

// The configuration's packs and overrides change the rules as serve runs
// them, and rules list --config shows that effective state.
func TestRulesListConfigOverrides(t *testing.T) {
	const (
		unusual   = "OnePassword.Unusual.Client"
		sensitive = "OnePassword.Sensitive.Item"
		panther   = "PantherManaged.OnePassword"
	)
	before := listedRules(t)
	if r := before[unusual]; !r.Enabled || r.Severity != "MEDIUM" || r.Threshold != 1 || r.DedupPeriodMinutes != 120 || len(r.Overridden) > 0 {
		t.Fatalf("%s without a configuration: %+v", unusual, r)
	}
	if before[sensitive].Enabled {
		t.Fatalf("%s is enabled by default: the test needs a rule that is not", sensitive)
	}
	dir := t.TempDir()
	cfg := writeFile(t, dir, "opwatch.yaml", "detections:\n"+
		"  rules: ["+exampleRules+"]\n"+
		"  packs: {"+panther+": true}\n"+
		"  overrides:\n"+
		"    "+unusual+": {severity: critical, threshold: 3, dedup_period: 5h, destinations: [pager]}\n"+
		"    OnePassword.Lut.Sensitive.Item: {enabled: false}\n")
	after := listedRules(t, "--config", cfg)
	u := after[unusual]
	if !u.Enabled || u.Severity != "CRITICAL" || u.Threshold != 3 || u.DedupPeriodMinutes != 300 ||
		!u.DestinationsSet || !slices.Equal(u.Destinations, []string{"pager"}) ||
		!slices.Equal(u.Overridden, []string{"severity", "threshold", "dedup_period", "destinations", "pack"}) {
		t.Errorf("%s with the configuration: %+v", unusual, u)
	}
	// Enabling the pack enables its rules that are off by default; a
	// rule's own override wins over its pack.
	if s := after[sensitive]; !s.Enabled || !slices.Equal(s.Overridden, []string{"pack"}) {
		t.Errorf("%s in an enabled pack: %+v", sensitive, s)
	}
	if l := after["OnePassword.Lut.Sensitive.Item"]; l.Enabled {
		t.Errorf("OnePassword.Lut.Sensitive.Item overridden off is enabled: %+v", l)
	}
	// The configuration's rule folder loads beside the built-in packs, also
	// when --path names the same folder.
	if _, ok := after["Example.Unusual.Client"]; !ok {
		t.Errorf("the rule folder of the configuration is not listed")
	}
	if again := listedRules(t, "--config", cfg, "--path", exampleRules); len(again) != len(after) {
		t.Errorf("--path and the configuration naming one folder: %d rules, want %d", len(again), len(after))
	}
	// The table names what the configuration changes.
	out, _, _ := runCLI(t, nil, "", "rules", "list", "--config", cfg, "--filter", "RuleID="+unusual)
	if !strings.Contains(out, "OVERRIDDEN") || !strings.Contains(out, "severity,threshold,dedup_period,destinations,pack") || !strings.Contains(out, "CRITICAL") {
		t.Errorf("rules list --config table:\n%s", out)
	}

	// A pack disabled in the configuration disables its rules.
	off := writeFile(t, dir, "off.yaml", "detections:\n  packs: {"+panther+": false}\n")
	if r := listedRules(t, "--config", off)[unusual]; r.Enabled || !slices.Equal(r.Overridden, []string{"pack"}) {
		t.Errorf("%s in a disabled pack: %+v", unusual, r)
	}
}

// Overrides of rules or packs that are not loaded are refused, naming the
// key and where to look, at serve start as in rules list.
func TestConfigOverridesUnknownIDs(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "opwatch.yaml", "detections:\n"+
		"  packs: {No.Such.Pack: false}\n"+
		"  overrides:\n    onepassword.unusual.client: {enabled: false}\n")
	for _, args := range [][]string{
		{"rules", "list", "--config", cfg},
		{"--db", filepath.Join(dir, "x.db"), "serve", "--config", cfg},
	} {
		_, errOut, code := runCLI(t, nil, "", args...)
		for _, want := range []string{
			"detections.packs: no pack No.Such.Pack: see `opwatch rules list`",
			"detections.overrides: no rule onepassword.unusual.client (did you mean OnePassword.Unusual.Client?): see `opwatch rules list`",
		} {
			if code != 1 || !strings.Contains(errOut, want) {
				t.Errorf("%s: exit %d, want an error containing %q:\n%s", strings.Join(args, " "), code, want, errOut)
			}
		}
	}
	bad := writeFile(t, dir, "bad.yaml", "detections:\n  overrides:\n    OnePassword.Unusual.Client: {dedup_period: 1m}\n")
	if _, errOut, code := runCLI(t, nil, "", "rules", "list", "--config", bad); code != 1 ||
		!strings.Contains(errOut, "detections.overrides.OnePassword.Unusual.Client: dedup_period 1m0s must be between 5m and 24h") {
		t.Errorf("out-of-range override: exit %d %s", code, errOut)
	}
}

// serve --config loads the configuration's lookup tables at start,
// replacing their rows; a refused file changes nothing.
func TestServeConfigLoadsLookups(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "l.db")
	h := &cliHarness{t: t, vars: map[string]string{"OPWATCH_DB": db}}
	old := writeFile(t, dir, "old.csv", "item_uuid,title\ni1,Old\n")
	h.run(0, "", "lookup", "load", "translation", old, "--key", "item_uuid", "--log-type", "OnePassword.ItemUsage", "--selector", "item_uuid")

	fresh := writeFile(t, dir, "items.csv", "item_uuid,title\ni2,Prod DB\ni3,Root key\n")
	ips := writeFile(t, dir, "ips.txt", `{"ip":"192.0.2.1","list":"tor"}`+"\n")
	dup := writeFile(t, dir, "dup.jsonl", `{"ip":"a"}`+"\n"+`{"ip":"a"}`+"\n")
	const lookups = "detections:\n  lookups:\n" +
		"    - {name: translation, file: %s, key: item_uuid, log_type: ItemUsage, selector: item_uuid}\n" +
		"    - {name: bad_ips, file: %s, format: jsonl, key: ip, log_type: signinattempts, selector: client.ip_address}\n"
	badCfg := writeFile(t, dir, "bad.yaml", fmt.Sprintf(lookups, fresh, dup))
	if out := h.run(1, "", "serve", "--config", badCfg); !strings.Contains(out, "detections.lookups[1] (bad_ips): "+dup+": line 2: the key \"a\" is already on line 1") {
		t.Errorf("a refused lookup file:\n%s", out)
	}
	if got := storedLookup(t, db, "translation"); len(got) != 1 || got["i1"] == nil {
		t.Fatalf("a refused configuration changed a lookup table: %v", got)
	}

	cfg := writeFile(t, dir, "opwatch.yaml", fmt.Sprintf(lookups, fresh, ips))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &waitWriter{want: "opwatch serving", seen: make(chan struct{})}
	e := &env{stdin: strings.NewReader(""), stdout: io.Discard, stderr: logs, getenv: func(string) string { return "" }}
	done := make(chan int, 1)
	go func() { done <- run(ctx, []string{"--db", db, "serve", "--config", cfg}, e) }()
	// The tables are loaded before serving starts: wait for that line.
	select {
	case <-logs.seen:
	case code := <-done:
		t.Fatalf("serve exited %d:\n%s", code, logs.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d:\n%s", code, logs.String())
	}
	if !strings.Contains(logs.String(), "lookup table from the configuration") {
		t.Errorf("serve does not log the tables it loaded:\n%s", logs.String())
	}
	got := storedLookup(t, db, "translation")
	if len(got) != 2 || got["i1"] != nil || got["i2"].(map[string]any)["title"] != "Prod DB" {
		t.Errorf("translation after serve: %v (want the configuration's rows, replacing the old)", got)
	}
	if got := storedLookup(t, db, "bad_ips"); got["192.0.2.1"].(map[string]any)["list"] != "tor" {
		t.Errorf("bad_ips after serve: %v", got)
	}
	listed := h.run(0, "", "lookup", "list")
	if !strings.Contains(listed, "OnePassword.SignInAttempt") || !strings.Contains(listed, "client.ip_address") {
		t.Errorf("lookup list after serve:\n%s", listed)
	}
}

// waitWriter keeps what is written and closes seen once want was written.
type waitWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	done bool
}

func (w *waitWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.want) {
		w.done = true
		close(w.seen)
	}
	return len(p), nil
}

func (w *waitWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A destinations override from the configuration is carried on the rule
// into each match's outcome (which the detect stage copies onto the
// alert), and [] is kept as "nowhere", not as "not set".
func TestConfigDestinationsReachTheOutcome(t *testing.T) {
	builtin, err := detect.LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	var d config.Detections
	if err := yaml.Unmarshal([]byte("overrides:\n"+
		"  OnePassword.Unusual.Client: {destinations: [pager, slack]}\n"+
		"  Standard.BruteForceByIP: {destinations: []}\n"), &d); err != nil {
		t.Fatal(err)
	}
	o, err := detectOverrides(builtin, d)
	if err != nil {
		t.Fatal(err)
	}
	set, err := builtin.WithOverrides(o)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := detect.EventFromPanther("OnePassword.SignInAttempt", []byte(`{"p_log_type":"OnePassword.SignInAttempt","p_event_time":"2024-01-02 03:04:05","category":"success","client":{"app_name":"Evil"}}`))
	if err != nil {
		t.Fatal(err)
	}
	out := set.Rule("OnePassword.Unusual.Client").Evaluate(ev, nil, time.Now())
	if !out.Matched || !out.DestinationsSet || !slices.Equal(out.Destinations, []string{"pager", "slack"}) {
		t.Errorf("outcome = matched %v, destinations %q (set %v): want the configuration's", out.Matched, out.Destinations, out.DestinationsSet)
	}
	if r := set.Rule("Standard.BruteForceByIP"); !r.DestinationsSet || r.Destinations == nil || len(r.Destinations) != 0 {
		t.Errorf("destinations: [] on the rule = %q (set %v): want set and empty", r.Destinations, r.DestinationsSet)
	}
	if r := set.Rule("OnePassword.Sensitive.Item"); r.DestinationsSet {
		t.Errorf("a rule without an override has destinations set: %q", r.Destinations)
	}
}
