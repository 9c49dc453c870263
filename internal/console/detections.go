package console

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/rules"
)

// ruleView is a rule as pages and answers show it.
type ruleView struct {
	ID                 string              `json:"id"`
	DisplayName        string              `json:"display_name"`
	Enabled            bool                `json:"enabled"`
	Pack               string              `json:"pack,omitempty"`
	LogTypes           []string            `json:"log_types"`
	Severity           string              `json:"severity"`
	DedupPeriodMinutes int                 `json:"dedup_period_minutes"`
	Threshold          int                 `json:"threshold"`
	Description        string              `json:"description,omitempty"`
	Reference          string              `json:"reference,omitempty"`
	Runbook            string              `json:"runbook,omitempty"`
	Tags               []string            `json:"tags,omitempty"`
	Reports            map[string][]string `json:"reports,omitempty"`
	SummaryAttributes  []string            `json:"summary_attributes,omitempty"`
	Destinations       []string            `json:"destinations,omitempty"` // the override, when set
	DestinationsSet    bool                `json:"destinations_set,omitempty"`
	Status             string              `json:"status,omitempty"`
	File               string              `json:"file"`
	BuiltIn            bool                `json:"built_in"`
	Tests              []string            `json:"tests"`
}

func ruleViewOf(r *detect.Rule) ruleView {
	v := ruleView{ID: r.ID, DisplayName: r.DisplayName, Enabled: r.Enabled, Pack: r.Pack, LogTypes: r.LogTypes, Severity: r.Severity,
		DedupPeriodMinutes: int(r.DedupPeriod / time.Minute), Threshold: r.Threshold, Description: r.Description, Reference: r.Reference,
		Runbook: r.Runbook, Tags: r.Tags, Reports: r.Reports, SummaryAttributes: r.SummaryAttributes, Destinations: r.Destinations,
		DestinationsSet: r.DestinationsSet, Status: r.Status, File: r.File, BuiltIn: strings.HasPrefix(r.File, "rules/"), Tests: []string{}}
	for _, t := range r.Tests {
		v.Tests = append(v.Tests, t.Name)
	}
	return v
}

// packView is a pack with the rules it holds. A pack's definition also
// names data models (Standard.OnePassword.SignInAttempt), which are not
// detections: they are counted apart, so the packs' counts add up to the
// rules listed.
type packView struct {
	ID          string   `json:"id"`
	DisplayName string   `json:"display_name"`
	Description string   `json:"description"`
	Enabled     bool     `json:"enabled"`
	Rules       []string `json:"rules"`         // the pack's detections
	EnabledN    int      `json:"enabled_rules"` // how many of them run
	Other       []string `json:"other_ids"`     // data models and IDs opwatch has no rule for
}

func (c *console) packs() []packView {
	var out []packView
	for _, p := range c.rules.Packs() {
		v := packView{ID: p.ID, DisplayName: p.DisplayName, Description: p.Description, Enabled: p.Enabled, Rules: []string{}, Other: []string{}}
		for _, id := range p.IDs {
			r := c.rules.Rule(id)
			if r == nil {
				v.Other = append(v.Other, id)
				continue
			}
			v.Rules = append(v.Rules, id)
			if r.Enabled {
				v.EnabledN++
			}
		}
		out = append(out, v)
	}
	return out
}

// filteredRules are the rules the filters keep: detect's FilterKeys and a
// text. A pack keeps the rules its definition names (a rule may be in
// more than one pack), as the Packs table counts them.
func (c *console) filteredRules(q map[string]string, text string) []ruleView {
	var out []ruleView
	var inPack map[string]bool
	if pack, ok := q["Pack"]; ok {
		inPack = map[string]bool{}
		for _, p := range c.rules.Packs() {
			for _, w := range strings.Split(pack, ",") {
				if strings.EqualFold(strings.TrimSpace(w), p.ID) {
					for _, id := range p.IDs {
						inPack[id] = true
					}
				}
			}
		}
		q = maps.Clone(q)
		delete(q, "Pack")
	}
	text = strings.ToLower(strings.TrimSpace(text))
	for _, r := range c.rules.Rules() {
		if inPack != nil && !inPack[r.ID] {
			continue
		}
		if !r.Matches(q) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(r.ID+" "+r.DisplayName+" "+r.Description+" "+strings.Join(r.Tags, " ")), text) {
			continue
		}
		out = append(out, ruleViewOf(r))
	}
	return out
}

// ruleFilterOf reads the filters of a query: pack, log_type, severity,
// enabled, tag (as `opwatch rules list --filter`).
func ruleFilterOf(get func(string) string) map[string]string {
	f := map[string]string{}
	for k, key := range map[string]string{"pack": "Pack", "log_type": "LogTypes", "severity": "Severity", "enabled": "Enabled", "tag": "Tags"} {
		if v := strings.TrimSpace(get(k)); v != "" {
			f[key] = v
		}
	}
	return f
}

type detectionsPageData struct {
	Packs   []packView
	Rules   []ruleView
	Lookups []store.LookupTable
	Q       map[string]string
	Text    string
}

func (c *console) detectionsPage(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	d := detectionsPageData{Packs: c.packs(), Q: map[string]string{}, Text: q.Get("q")}
	for _, k := range []string{"pack", "log_type", "severity", "enabled"} {
		d.Q[k] = q.Get(k)
	}
	d.Rules = c.filteredRules(ruleFilterOf(q.Get), d.Text)
	var err error
	if d.Lookups, err = c.d.Store.LookupTables(r.Context()); err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "detections", view{Title: "Detections", Nav: "detections", Data: d})
	return nil
}

type rulePageData struct {
	R       ruleView
	YAML    string
	Code    string
	CodeErr string
	Results []detect.TestResult
	Ran     bool
	Passed  int
}

func (c *console) rulePage(w http.ResponseWriter, r *http.Request) error {
	return c.showRule(w, r, false)
}

func (c *console) ruleTestAction(w http.ResponseWriter, r *http.Request) error {
	return c.showRule(w, r, true)
}

func (c *console) showRule(w http.ResponseWriter, r *http.Request, run bool) error {
	rl := c.rules.Rule(r.PathValue("id"))
	if rl == nil {
		return notFound("rule " + limit(r.PathValue("id"), 80))
	}
	d := rulePageData{R: ruleViewOf(rl)}
	yml, code, err := c.ruleSource(rl)
	d.YAML, d.Code = yml, code
	if err != nil {
		d.CodeErr = err.Error()
	}
	if run {
		d.Ran = true
		d.Results = c.runTests(rl.ID)
		for _, t := range d.Results {
			if t.Passed {
				d.Passed++
			}
		}
	}
	c.render(w, r, http.StatusOK, "rule", view{Title: rl.ID, Nav: "detections", Data: d})
	return nil
}

// runTests runs a rule's unit tests as panther_analysis_tool does.
func (c *console) runTests(id string) []detect.TestResult {
	res := c.rules.Test(map[string]string{"RuleID": id})
	if res == nil {
		res = []detect.TestResult{}
	}
	return res
}

// ruleSource reads a rule's YAML and its Starlark code: the built-in ones
// from the embedded packs, the user's from their rule folders.
func (c *console) ruleSource(r *detect.Rule) (yml, code string, err error) {
	var fsys fs.FS
	var p string
	if rest, ok := strings.CutPrefix(r.File, "rules/"); ok && fs.ValidPath(rest) {
		fsys, p = rules.FS, rest
	} else {
		for _, dir := range c.d.RuleDirs {
			rel, err := filepath.Rel(filepath.Clean(dir), filepath.Clean(r.File))
			if err == nil && !strings.HasPrefix(rel, "..") && fs.ValidPath(filepath.ToSlash(rel)) {
				fsys, p = os.DirFS(dir), filepath.ToSlash(rel)
				break
			}
		}
	}
	if fsys == nil {
		return "", "", errors.New("the rule's files are not in the built-in packs nor in the rule folders the console was given")
	}
	b, err := fs.ReadFile(fsys, p)
	if err != nil {
		return "", "", errors.New("the rule's YAML file cannot be read")
	}
	yml = string(b)
	name := yamlValue(b, "Filename")
	if name == "" {
		return yml, "", nil // InlineFilters only
	}
	src, err := fs.ReadFile(fsys, path.Join(path.Dir(p), name))
	if err != nil {
		return yml, "", errors.New("the rule's code file " + name + " cannot be read")
	}
	return yml, string(src), nil
}

// yamlValue is a top-level scalar of a YAML file, read by line.
func yamlValue(b []byte, key string) string {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			return strings.Trim(strings.TrimSpace(v), `"'`)
		}
	}
	return ""
}
