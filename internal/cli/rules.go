package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

const rulesUsage = `Usage: opwatch rules SUBCOMMAND [flags]

Detections in Panther's format (a .yml and a .star file per rule).

Subcommands:
  test   run the rules' unit tests, as panther_analysis_tool test does
  list   list the rules (enabled or not) and their packs
  eval   run one rule over events read from stdin and print its matches
  replay run one rule over stored history: what it would have raised

Without --path they read the built-in packs; with --path DIR, DIR's rules
beside the built-in ones (a RuleID in both is an error).
`

func runRules(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, rulesUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "test", "list", "ls", "eval", "replay")
	switch sub {
	case "test":
		return rulesTest(e, args)
	case "list", "ls":
		return rulesList(e, args)
	case "eval":
		return rulesEval(e, args)
	case "replay":
		return runRulesReplay(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, rulesUsage)
		return nil
	}
	fmt.Fprint(e.stderr, rulesUsage)
	return usagef("unknown subcommand %q", sub)
}

// loadRules returns the built-in rules and, with dir, dir's beside them;
// own is dir's alone (nil without dir).
func loadRules(dir string) (all, own *detect.Set, err error) {
	builtin, err := detect.LoadBuiltin()
	if err != nil {
		return nil, nil, fmt.Errorf("the built-in rules do not load: %w", err)
	}
	if dir == "" {
		return builtin, nil, nil
	}
	own, err = detect.LoadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	all, err = detect.Merge(builtin, own)
	if err != nil {
		return nil, nil, err
	}
	return all, own, nil
}

// loadConfiguredRules is loadRules with a configuration's detections: the
// rule folders of both dir and d beside the built-in packs, then d's packs
// and overrides applied. A RuleID or PackID d names that is not loaded is
// an error.
func loadConfiguredRules(dir string, d config.Detections) (*detect.Set, error) {
	builtin, err := detect.LoadBuiltin()
	if err != nil {
		return nil, fmt.Errorf("the built-in rules do not load: %w", err)
	}
	sets := []*detect.Set{builtin}
	seen := map[string]bool{}
	for i, dir := range append([]string{dir}, d.Rules...) {
		// The folder given with --rules may also be in the configuration.
		if dir == "" || seen[filepath.Clean(dir)] {
			continue
		}
		seen[filepath.Clean(dir)] = true
		set, err := detect.LoadDir(dir)
		if err != nil {
			if i > 0 {
				return nil, fmt.Errorf("detections.rules[%d]: %w", i-1, err)
			}
			return nil, err
		}
		sets = append(sets, set)
	}
	all, err := detect.Merge(sets...)
	if err != nil {
		return nil, err
	}
	o, err := detectOverrides(all, d)
	if err != nil {
		return nil, err
	}
	return all.WithOverrides(o)
}

// detectOverrides turns the configuration's packs and overrides into the
// engine's, checking that each rule and pack they name is loaded.
func detectOverrides(set *detect.Set, d config.Detections) (detect.Overrides, error) {
	var errs []error
	packs := map[string]bool{}
	for _, p := range set.Packs() {
		packs[p.ID] = true
	}
	for _, id := range slices.Sorted(maps.Keys(d.Packs)) {
		if !packs[id] {
			errs = append(errs, fmt.Errorf("detections.packs: no pack %s%s: see `opwatch rules list`", safetext.Terminal(id),
				didYouMean(id, slices.Collect(maps.Keys(packs)))))
		}
	}
	var ruleIDs []string
	for _, r := range set.Rules() {
		ruleIDs = append(ruleIDs, r.ID)
	}
	o := detect.Overrides{Packs: d.Packs, Rules: map[string]detect.RuleOverride{}}
	for _, id := range slices.Sorted(maps.Keys(d.Overrides)) {
		if set.Rule(id) == nil {
			errs = append(errs, fmt.Errorf("detections.overrides: no rule %s%s: see `opwatch rules list`", safetext.Terminal(id), didYouMean(id, ruleIDs)))
			continue
		}
		c := d.Overrides[id]
		ro := detect.RuleOverride{Enabled: c.Enabled, Severity: c.Severity}
		if c.Threshold != nil {
			ro.Threshold = *c.Threshold
		}
		if c.DedupPeriod != nil {
			ro.DedupPeriod = time.Duration(*c.DedupPeriod)
		}
		if c.Destinations != nil {
			ro.Destinations, ro.DestinationsSet = *c.Destinations, true
		}
		o.Rules[id] = ro
	}
	// Enabling a pack enables its detections, as in Panther, also those
	// off by default; a rule's own override still wins.
	on := true
	for _, r := range set.Rules() {
		if en, ok := d.Packs[r.Pack]; ok && en && r.Pack != "" {
			if ro := o.Rules[r.ID]; ro.Enabled == nil {
				ro.Enabled = &on
				o.Rules[r.ID] = ro
			}
		}
	}
	return o, errors.Join(errs...)
}

// didYouMean names the ID that differs from id only in case, if any.
func didYouMean(id string, ids []string) string {
	for _, known := range ids {
		if strings.EqualFold(known, id) {
			return " (did you mean " + known + "?)"
		}
	}
	return ""
}

// overriddenBy names what the configuration changes of rule r: the keys of
// its override, and "pack" when its pack is switched by the configuration.
func overriddenBy(r *detect.Rule, d config.Detections) []string {
	keys := d.Overrides[r.ID].Keys()
	if _, ok := d.Packs[r.Pack]; ok && r.Pack != "" {
		keys = append(keys, "pack")
	}
	return keys
}

// filterFlag collects --filter Key=Value (repeatable).
type filterFlag map[string]string

func (f filterFlag) String() string { return "" }

func (f filterFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q: want Key=Value, such as RuleID=OnePassword.Unusual.Client", s)
	}
	for _, known := range detect.FilterKeys {
		if strings.EqualFold(k, known) {
			f[known] = v
			return nil
		}
	}
	return fmt.Errorf("%q: unknown key %s: want one of %s", s, k, strings.Join(detect.FilterKeys, ", "))
}

func rulesTest(e *env, args []string) error {
	fs := e.flags("rules test", "rules test [--path DIR] [--filter Key=Value]... [--show-failures-only]",
		"Run the rules' Tests as panther_analysis_tool test does: mocks replace globals by\n"+
			"objectName; a test expecting True also fails if title, dedup, severity,\n"+
			"alert_context, description, reference, runbook or destinations fail. A test's State\n"+
			"events run through the rule first, in order (for stateful rules).\n\n"+
			"Without --path it tests the built-in packs; with --path DIR only DIR's rules (loaded\n"+
			"beside the built-in ones). The exit code is 0 only when every test passes.")
	path := fs.String("path", "", "test the rules in this `folder`")
	filter := filterFlag{}
	fs.Var(filter, "filter", "test only rules with `Key=Value` ("+strings.Join(detect.FilterKeys, ", ")+"; repeatable; Value may list alternatives a,b)")
	failuresOnly := fs.Bool("show-failures-only", false, "print only failed tests and the summary")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	all, own, err := loadRules(*path)
	if err != nil {
		return err
	}
	set := all
	if own != nil {
		set = own
	}
	results := set.Test(filter)
	rulesSeen := map[string]bool{}
	failed := 0
	w := bufio.NewWriter(e.stdout)
	for _, r := range results {
		rulesSeen[r.Rule] = true
		name := safetext.Terminal(r.Rule + " / " + r.Name)
		if r.Passed {
			if !*failuresOnly {
				fmt.Fprintf(w, "PASS  %s\n", name)
			}
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s\n      %s\n", name, strings.ReplaceAll(safetext.Terminal(r.Err), "\\n", "\n      "))
	}
	untested := 0
	for _, r := range set.Rules() {
		if r.Matches(filter) && len(r.Tests) == 0 {
			untested++
		}
	}
	fmt.Fprintf(w, "\n%d passed, %d failed, in %d rule(s)", len(results)-failed, failed, len(rulesSeen))
	if untested > 0 {
		fmt.Fprintf(w, " (%d rules have no tests)", untested)
	}
	fmt.Fprintln(w)
	if err := w.Flush(); err != nil {
		return err
	}
	if len(results) == 0 && len(filter) > 0 {
		return errors.New("no test matched the filter: see opwatch rules list")
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d tests failed", failed, len(results))
	}
	return nil
}

// ruleJSON is a rule as rules list --format json prints it.
type ruleJSON struct {
	ID                 string              `json:"id"`
	DisplayName        string              `json:"display_name"`
	Enabled            bool                `json:"enabled"`
	Pack               string              `json:"pack,omitempty"`
	LogTypes           []string            `json:"log_types"`
	Severity           string              `json:"severity"`
	DedupPeriodMinutes int                 `json:"dedup_period_minutes"`
	Threshold          int                 `json:"threshold"`
	Tags               []string            `json:"tags,omitempty"`
	Reports            map[string][]string `json:"reports,omitempty"`
	Status             string              `json:"status,omitempty"`
	Tests              int                 `json:"tests"`
	File               string              `json:"file"`
	// Destinations are the configuration's (with DestinationsSet; [] sends
	// the rule's alerts nowhere); Overridden names the settings it changes.
	Destinations    []string `json:"destinations,omitempty"`
	DestinationsSet bool     `json:"destinations_set,omitempty"`
	Overridden      []string `json:"overridden,omitempty"`
}

func rulesList(e *env, args []string) error {
	fs := e.flags("rules list", "rules list [--path DIR] [--config FILE] [--format table|json] [--filter Key=Value]...",
		"List the rules: the built-in packs, and with --path DIR that folder's rules beside them.\n"+
			"With --config, as serve --config runs them: the file's rule folders, packs and overrides\n"+
			"applied (OVERRIDDEN names what the file changes). json prints one object per line.")
	path := fs.String("path", "", "also list the rules in this `folder`")
	cfgPath := fs.String("config", "", "apply the detections of this configuration `file` (rule folders, packs, overrides)")
	format := fs.String("format", "table", "output `format`: table or json (one object per line)")
	filter := filterFlag{}
	fs.Var(filter, "filter", "list only rules with `Key=Value` (repeatable)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format %q: want table or json", *format)
	}
	var det config.Detections
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath)
		if err != nil {
			return err
		}
		det = cfg.Detections
	}
	set, err := loadConfiguredRules(*path, det)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(e.stdout)
	if *format == "json" {
		enc := json.NewEncoder(w)
		for _, r := range set.Rules() {
			if !r.Matches(filter) {
				continue
			}
			if err := enc.Encode(ruleJSON{ID: r.ID, DisplayName: r.DisplayName, Enabled: r.Enabled, Pack: r.Pack,
				LogTypes: r.LogTypes, Severity: r.Severity, DedupPeriodMinutes: int(r.DedupPeriod / time.Minute),
				Threshold: r.Threshold, Tags: r.Tags, Reports: r.Reports, Status: r.Status, Tests: len(r.Tests), File: r.File,
				Destinations: r.Destinations, DestinationsSet: r.DestinationsSet, Overridden: overriddenBy(r, det)}); err != nil {
				return err
			}
		}
		return w.Flush()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "RULE\tENABLED\tSEVERITY\tDEDUP\tTHRESHOLD\tLOG TYPES\tPACK\tTESTS\tOVERRIDDEN")
	for _, r := range set.Rules() {
		if !r.Matches(filter) {
			continue
		}
		lts := make([]string, len(r.LogTypes))
		for i, lt := range r.LogTypes {
			lts[i] = strings.TrimPrefix(lt, "OnePassword.")
		}
		over := strings.Join(overriddenBy(r, det), ",")
		if over == "" {
			over = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\n", safetext.Terminal(r.ID), yesNo(r.Enabled), r.Severity,
			r.DedupPeriod, r.Threshold, strings.Join(lts, ","), safetext.Terminal(r.Pack), len(r.Tests), over)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	return w.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// matchJSON is one match as rules eval prints it.
type matchJSON struct {
	RuleID          string          `json:"rule_id"`
	Line            int             `json:"line"`
	Title           string          `json:"title"`
	Dedup           string          `json:"dedup"`
	Severity        string          `json:"severity"`
	AlertContext    json.RawMessage `json:"alert_context"`
	Destinations    []string        `json:"destinations,omitempty"`
	AuxiliaryErrors string          `json:"auxiliary_errors,omitempty"`
}

func rulesEval(e *env, args []string) error {
	fs := e.flags("rules eval", "rules eval --rule ID [--path DIR] [--log-type T] < events.ndjson",
		"Run one rule over events, one JSON object per line of stdin, and print one JSON line\n"+
			"(rule_id, line, title, dedup, severity, alert_context) per event the rule matches.\n"+
			"Threshold and dedup period do not apply; rule state lives for the run.\n\n"+
			"An event is in Panther's form when it has p_event_time (its p_ fields are used as\n"+
			"given), else in the Events API's wire form, checked as ingestion checks it, its log\n"+
			"type from its p_log_type field or --log-type, its p_parse_time its event time.\n"+
			"Events that fail to parse or make the rule fail are reported on stderr, and the exit\n"+
			"code is then 1.")
	path := fs.String("path", "", "also load the rules in this `folder`")
	ruleID := fs.String("rule", "", "the `RuleID` to run (required)")
	lt := fs.String("log-type", "", "the log `type` of events that do not name theirs (p_log_type)")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *ruleID == "" {
		return usagef("--rule is required: name the RuleID to run (see opwatch rules list)")
	}
	if *lt != "" && logtype.ByName(*lt) == nil {
		return usagef("--log-type %q: want one of OnePassword.SignInAttempt, OnePassword.ItemUsage, OnePassword.AuditEvent", *lt)
	}
	set, _, err := loadRules(*path)
	if err != nil {
		return err
	}
	rule := set.Rule(*ruleID)
	if rule == nil {
		return usagef("--rule %s: no such rule (see opwatch rules list)", *ruleID)
	}
	st := detect.MemState{}
	out := bufio.NewWriter(e.stdout)
	enc := json.NewEncoder(out)
	in := bufio.NewReader(e.stdin)
	failures := 0
	for n := 1; ; n++ {
		line, rerr := in.ReadBytes('\n')
		if len(strings.TrimSpace(string(line))) > 0 {
			if err := evalLine(rule, st, *lt, n, line, enc); err != nil {
				failures++
				if err := out.Flush(); err != nil {
					return err
				}
				fmt.Fprintf(e.stderr, "line %d: %s\n", n, safetext.Terminal(err.Error()))
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("read stdin: %w", rerr)
		}
	}
	if err := out.Flush(); err != nil {
		return err
	}
	if failures > 0 {
		return fmt.Errorf("%d events could not be evaluated", failures)
	}
	return nil
}

func evalLine(rule *detect.Rule, st detect.State, lt string, n int, line []byte, enc *json.Encoder) error {
	ev, err := eventFromLine(lt, line)
	if err != nil {
		return err
	}
	if !slices.Contains(rule.LogTypes, ev.LogType) {
		return nil // the rule does not see this log type
	}
	o := rule.Evaluate(ev, st, time.Now())
	if o.Err != nil {
		return o.Err
	}
	if !o.Matched {
		return nil
	}
	m := matchJSON{RuleID: rule.ID, Line: n, Title: o.Title, Dedup: o.Dedup, Severity: o.Severity,
		AlertContext: o.Context, Destinations: o.Destinations}
	if m.AlertContext == nil {
		m.AlertContext = json.RawMessage("{}")
	}
	if o.AuxErr != nil {
		m.AuxiliaryErrors = o.AuxErr.Error()
	}
	return enc.Encode(m)
}

// eventFromLine reads an event in Panther's form or the wire form.
func eventFromLine(lt string, line []byte) (*detect.Event, error) {
	var head struct {
		LogType   *string         `json:"p_log_type"`
		EventTime json.RawMessage `json:"p_event_time"`
	}
	if err := json.Unmarshal(line, &head); err != nil {
		return nil, fmt.Errorf("not a JSON object: %w", err)
	}
	if head.EventTime != nil {
		return detect.EventFromPanther(lt, line)
	}
	name := lt
	if head.LogType != nil {
		name = *head.LogType
	}
	if name == "" {
		return nil, errors.New("no p_log_type in the event: add it or give --log-type")
	}
	typ := logtype.ByName(name)
	if typ == nil {
		return nil, fmt.Errorf("log type %s: want one of OnePassword.SignInAttempt, OnePassword.ItemUsage, OnePassword.AuditEvent", strconv.Quote(name))
	}
	raw := append([]byte(nil), line...)
	parsed, err := typ.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("not a valid %s event: %w", name, err)
	}
	return detect.NewEvent(store.StoredEvent{LogType: name, UUID: parsed.UUID, EventTime: parsed.Time,
		ParseTime: parsed.Time, IPs: parsed.IPs, Emails: parsed.Emails, Raw: parsed.Raw}, nil), nil
}
