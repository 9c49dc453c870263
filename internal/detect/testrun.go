package detect

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// FilterKeys are the keys Test's filter takes, as panther_analysis_tool's
// --filter Key=Value (case-insensitive; a value may list alternatives
// separated by commas).
var FilterKeys = []string{"RuleID", "DisplayName", "LogTypes", "Severity", "Tags", "Pack", "Enabled", "Status"}

// Matches reports whether the rule passes a filter; an unknown key matches
// nothing (check keys against FilterKeys first).
func (r *Rule) Matches(filter map[string]string) bool {
	for k, want := range filter {
		var have []string
		switch strings.ToLower(k) {
		case "ruleid", "id":
			have = []string{r.ID}
		case "displayname":
			have = []string{r.DisplayName}
		case "logtypes", "logtype":
			have = r.LogTypes
		case "severity":
			have = []string{r.Severity}
		case "tags", "tag":
			have = r.Tags
		case "pack":
			have = []string{r.Pack}
		case "enabled":
			// rules list prints yes/no; Panther's files say true/false.
			have = []string{strconv.FormatBool(r.Enabled), map[bool]string{true: "yes", false: "no"}[r.Enabled]}
		case "status":
			have = []string{r.Status}
		default:
			return false
		}
		found := false
		for _, w := range strings.Split(want, ",") {
			for _, h := range have {
				if strings.EqualFold(strings.TrimSpace(w), h) {
					found = true
				}
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// Test runs the tests of the rules that pass filter (nil for all), as
// panther_analysis_tool does: mocks by object name; a test expecting True
// also fails when title, dedup, severity, alert_context, description,
// reference, runbook or destinations fail. A test's State events go
// through the rule first, with the same memory, in order.
func (s *Set) Test(filter map[string]string) []TestResult {
	var out []TestResult
	for _, r := range s.sorted {
		if !r.Matches(filter) {
			continue
		}
		for _, t := range r.Tests {
			res := TestResult{Rule: r.ID, Name: t.Name}
			if err := r.runTest(t); err != nil {
				res.Err = err.Error()
			} else {
				res.Passed = true
			}
			out = append(out, res)
		}
	}
	return out
}

func (r *Rule) runTest(t Test) error {
	mod := r.mod
	if len(t.Mocks) > 0 {
		var err error
		if mod, err = r.mod.withMocks(t.Mocks); err != nil {
			return err
		}
	}
	st := MemState{}
	lt := ""
	if len(r.LogTypes) > 0 {
		lt = r.LogTypes[0]
	}
	for i, prior := range t.State {
		ev, err := EventFromPanther(lt, prior)
		if err != nil {
			return fmt.Errorf("%s:%d: State[%d]: %w", r.File, t.Line, i, err)
		}
		if o := r.evaluate(ev, st, time.Time{}, mod); o.Err != nil {
			return fmt.Errorf("State[%d]: %w", i, o.Err)
		}
	}
	ev, err := EventFromPanther(lt, t.Log)
	if err != nil {
		return fmt.Errorf("%s:%d: Log: %w", r.File, t.Line, err)
	}
	o := r.evaluate(ev, st, time.Time{}, mod)
	if o.Err != nil {
		return o.Err
	}
	if o.filtered != nil && t.ExpectedResult {
		return fmt.Errorf("InlineFilters reject the event (%s does not hold), want True", o.filtered.text)
	}
	if o.Matched != t.ExpectedResult {
		return fmt.Errorf("rule() returned %s, want %s", pyBool(o.Matched), pyBool(t.ExpectedResult))
	}
	if t.ExpectedResult && o.AuxErr != nil {
		return o.AuxErr
	}
	return nil
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// MemState is rule memory in a map (tests, rules eval): ruleID → key → value.
type MemState map[string]map[string][]byte

func (m MemState) Get(ruleID, key string) ([]byte, bool) {
	v, ok := m[ruleID][key]
	return v, ok
}

func (m MemState) Put(ruleID, key string, v []byte, _ time.Time) {
	if m[ruleID] == nil {
		m[ruleID] = map[string][]byte{}
	}
	m[ruleID][key] = v
}

func (m MemState) Delete(ruleID, key string) { delete(m[ruleID], key) }

func mockFunc(name string, v any) *starlark.Builtin {
	ret := goToStarlark(v)
	return starlark.NewBuiltin(name, func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
		return ret, nil
	})
}

// withMocks runs the module again with the mocked names replaced: a
// global of the module is reassigned after the module's own code (so its
// functions see the mock), a name bound by load() is replaced in what
// load() returns, a predeclared name is shadowed. A name that is none of
// these is an error, as with Python's patch.multiple.
func (m *module) withMocks(mocks []Mock) (*module, error) {
	loaded := map[string][2]string{} // local name → module, name there
	for _, stmt := range m.file.Stmts {
		if ls, ok := stmt.(*syntax.LoadStmt); ok {
			for i, to := range ls.To {
				loaded[to.Name] = [2]string{ls.ModuleName(), ls.From[i].Name}
			}
		}
	}
	extra := starlark.StringDict{}
	patches := map[string]map[string]starlark.Value{} // module → name → mock
	src := append([]byte(nil), m.src...)
	for i, mk := range mocks {
		fn := mockFunc(mk.ObjectName, mk.ReturnValue)
		switch _, isGlobal := m.globals[mk.ObjectName]; {
		case isGlobal:
			alias := fmt.Sprintf("__opwatch_mock_%d", i)
			extra[alias] = fn
			src = fmt.Appendf(src, "\n%s = %s\n", mk.ObjectName, alias)
		case loaded[mk.ObjectName] != [2]string{}:
			l := loaded[mk.ObjectName]
			if patches[l[0]] == nil {
				patches[l[0]] = map[string]starlark.Value{}
			}
			patches[l[0]][l[1]] = fn
		case m.ld.pre.Has(mk.ObjectName):
			extra[mk.ObjectName] = fn
		default:
			return nil, fmt.Errorf("mock %q: %s has no global of that name", mk.ObjectName, m.label)
		}
	}
	if len(extra) == 0 {
		extra = nil
		if len(patches) > 0 {
			extra = starlark.StringDict{} // any non-nil extra builds a fresh predeclared set
		}
	}
	patch := func(module string, d starlark.StringDict) starlark.StringDict {
		p := patches[module]
		if p == nil {
			return d
		}
		out := make(starlark.StringDict, len(d))
		for k, v := range d {
			out[k] = v
		}
		for k, v := range p {
			out[k] = v
		}
		return out
	}
	globals, file, err := m.ld.exec(m.label, src, extra, patch)
	if err != nil {
		return nil, fmt.Errorf("with mocks: %w", err)
	}
	mm := &module{label: m.label, src: src, file: file, globals: globals, ld: m.ld}
	if err := mm.resolve(); err != nil {
		return nil, err
	}
	return mm, nil
}
