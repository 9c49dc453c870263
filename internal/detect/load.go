package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"go.yaml.in/yaml/v4"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/rules"
)

// Limits on Starlark work: a module's top level at load time, and one
// evaluation (rule and auxiliary functions on one event).
const (
	loadSteps = 10_000_000
	// MaxSteps bounds one evaluation: a rule looping forever fails with a
	// rule error instead of stalling the stage.
	MaxSteps = 1_000_000
)

// fileOptions: Starlark as Panther users expect Python: while loops,
// if/for at top level, set(), recursion (bounded by the step limit).
var fileOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, Recursion: true}

// LoadBuiltin loads the built-in packs (rules.FS).
func LoadBuiltin() (*Set, error) {
	return loadFS(rules.FS, "rules", nil)
}

// LoadDir loads a user's rule folder. Its modules may load helpers from
// its own helpers/ folder, or else from the built-in ones.
func LoadDir(dir string) (*Set, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("rule folder: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("rule folder %s is not a folder: give the folder that holds the rules' .yml files", dir)
	}
	builtin := newLoader(rules.FS, "rules", nil)
	return loadFS(os.DirFS(dir), dir, builtin)
}

// LoadFS loads rules from fsys; label prefixes paths in messages.
func LoadFS(fsys fs.FS, label string) (*Set, error) {
	return loadFS(fsys, label, newLoader(rules.FS, "rules", nil))
}

func loadFS(fsys fs.FS, label string, fallback *loader) (*Set, error) {
	ld := newLoader(fsys, label, fallback)
	s := newSet()
	var errs []error
	var ruleFiles []string
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", ld.display(p), err))
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if p != "." && (name == "helpers" || name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return fs.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".yml") || strings.HasSuffix(name, ".yaml") {
			ruleFiles = append(ruleFiles, p)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	dirPack := map[string]string{} // folder → its pack
	for _, p := range ruleFiles {
		r, pk, err := ld.loadYAML(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if pk != nil {
			if prev, dup := s.packs[pk.ID]; dup {
				errs = append(errs, fmt.Errorf("%s: PackID %s is also defined in %s", pk.File, pk.ID, prev.File))
				continue
			}
			s.packs[pk.ID] = pk
			dirPack[path.Dir(p)] = pk.ID
			continue
		}
		if prev, dup := s.rules[r.ID]; dup {
			errs = append(errs, fmt.Errorf("%s: RuleID %s is also defined in %s", r.File, r.ID, prev.File))
			continue
		}
		s.rules[r.ID] = r
	}
	ruleErrs := len(errs) > 0
	// A rule's pack: the pack listing it, else its folder's (or an
	// enclosing folder's) pack.yml.
	for _, pk := range s.packs {
		for _, id := range pk.IDs {
			r, ok := s.rules[id]
			if !ok {
				if isDataModelID(id) || ruleErrs { // a rule that failed to load is reported already
					continue
				}
				errs = append(errs, fmt.Errorf("%s: PackDefinition lists %s, which is no rule here: remove it or add the rule", pk.File, id))
				continue
			}
			if r.Pack != "" && r.Pack != pk.ID {
				errs = append(errs, fmt.Errorf("%s: rule %s is already in pack %s", pk.File, id, r.Pack))
				continue
			}
			r.Pack = pk.ID
		}
	}
	for _, r := range s.rules {
		if r.Pack != "" {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(r.File, ld.label), "/")
		for dir := path.Dir(filepath.ToSlash(rel)); ; dir = path.Dir(dir) {
			if id, ok := dirPack[dir]; ok {
				r.Pack = id
				s.packs[id].IDs = append(s.packs[id].IDs, r.ID)
				break
			}
			if dir == "." || dir == "/" || dir == "" {
				break
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	s.index()
	return s, nil
}

// isDataModelID: Panther's packs list data models by ID; opwatch's data
// models are built in.
func isDataModelID(id string) bool {
	switch id {
	case "Standard.OnePassword.SignInAttempt", "Standard.OnePassword.ItemUsage", "Standard.OnePassword.AuditEvent":
		return true
	}
	return false
}

// Merge combines sets; a rule or pack ID in two sets is an error.
func Merge(sets ...*Set) (*Set, error) {
	out := newSet()
	for _, s := range sets {
		if s == nil {
			continue
		}
		for id, r := range s.rules {
			if prev, dup := out.rules[id]; dup {
				return nil, fmt.Errorf("rule %s is defined twice, in %s and %s: rename one RuleID", id, prev.File, r.File)
			}
			out.rules[id] = r
		}
		for id, p := range s.packs {
			if prev, dup := out.packs[id]; dup {
				return nil, fmt.Errorf("pack %s is defined twice, in %s and %s: rename one PackID", id, prev.File, p.File)
			}
			out.packs[id] = p
		}
	}
	out.index()
	return out, nil
}

// Keys, as Panther's schema names them.
var ruleKeys = []string{"AnalysisType", "RuleID", "DisplayName", "Enabled", "Filename", "LogTypes", "Severity",
	"DedupPeriodMinutes", "Threshold", "Description", "Reference", "Runbook", "Tags", "Reports",
	"SummaryAttributes", "OutputIds", "Status", "Tests", "InlineFilters"}

// Panther keys opwatch does not implement: named as such, not as typos.
var unsupportedKeys = []string{"DynamicSeverities", "AlertTitle", "AlertContext", "GroupBy",
	"CreateAlert", "OnlyUseBaseRiskScore", "BaseVersion", "Detection", "ScheduledQueries", "DisplayDescription"}

var packKeys = []string{"AnalysisType", "PackID", "DisplayName", "Description", "PackDefinition", "PackVersion"}
var testKeys = []string{"Name", "ExpectedResult", "Log", "Mocks", "State", "LogType"}
var mockKeys = []string{"objectName", "returnValue"}

var severities = []string{"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

type loader struct {
	fsys     fs.FS
	label    string
	fallback *loader
	pre      starlark.StringDict
	mods     map[string]*loadEntry
}

type loadEntry struct {
	globals starlark.StringDict
	err     error
	busy    bool
}

func newLoader(fsys fs.FS, label string, fallback *loader) *loader {
	return &loader{fsys: fsys, label: label, fallback: fallback, pre: predeclared(), mods: map[string]*loadEntry{}}
}

// where names the folders a module is looked up in.
func (ld *loader) where() string {
	if ld.fallback != nil {
		return ld.label + " nor in the built-in " + ld.fallback.where()
	}
	return ld.label
}

func (ld *loader) display(p string) string {
	if ld.label == "" {
		return p
	}
	return ld.label + "/" + p
}

// mapping reads a YAML mapping's keys, refusing unknown ones.
type ymap struct {
	file string
	keys map[string]*yaml.Node // key → value
	line map[string]int
}

func (ld *loader) readMap(file string, n *yaml.Node, allowed []string, what string) (*ymap, error) {
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: %s must be a mapping of keys", file, n.Line, what)
	}
	m := &ymap{file: file, keys: map[string]*yaml.Node{}, line: map[string]int{}}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case slices.Contains(allowed, k.Value):
		case slices.Contains(unsupportedKeys, k.Value):
			errs = append(errs, fmt.Errorf("%s:%d: %s is a Panther key opwatch does not support: write it in the Starlark file", file, k.Line, k.Value))
			continue
		default:
			hint := ""
			for _, a := range allowed {
				if strings.EqualFold(a, k.Value) {
					hint = fmt.Sprintf(" (did you mean %s?)", a)
				}
			}
			errs = append(errs, fmt.Errorf("%s:%d: unknown key %q in %s%s", file, k.Line, k.Value, what, hint))
			continue
		}
		if _, dup := m.keys[k.Value]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: key %s given twice", file, k.Line, k.Value))
		}
		m.keys[k.Value] = v
		m.line[k.Value] = k.Line
	}
	return m, errors.Join(errs...)
}

func (m *ymap) decode(key string, out any) error {
	v, ok := m.keys[key]
	if !ok {
		return nil
	}
	if err := v.Decode(out); err != nil {
		return fmt.Errorf("%s:%d: %s: %v", m.file, v.Line, key, yamlMsg(err))
	}
	return nil
}

// yamlMsg drops yaml's own "yaml: " prefix.
func yamlMsg(err error) string {
	return strings.TrimPrefix(err.Error(), "yaml: ")
}

func (ld *loader) loadYAML(p string) (*Rule, *Pack, error) {
	file := ld.display(p)
	data, err := fs.ReadFile(ld.fsys, p)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		msg := yamlMsg(err)
		// "line 3: ..." → "file:3: ...", as every other message.
		var line int
		if n, _ := fmt.Sscanf(msg, "line %d:", &line); n == 1 {
			return nil, nil, fmt.Errorf("%s:%d:%s", file, line, strings.SplitN(msg, ":", 2)[1])
		}
		return nil, nil, fmt.Errorf("%s: %s", file, msg)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil, fmt.Errorf("%s: empty file: a rule needs AnalysisType, RuleID, Filename, LogTypes, Severity and Enabled", file)
	}
	root := doc.Content[0]
	var kind string
	if root.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(root.Content); i += 2 {
			if root.Content[i].Value == "AnalysisType" {
				kind = root.Content[i+1].Value
			}
		}
	}
	switch kind {
	case "rule":
		r, err := ld.loadRule(file, p, root)
		return r, nil, err
	case "pack":
		pk, err := ld.loadPack(file, root)
		return nil, pk, err
	case "":
		return nil, nil, fmt.Errorf("%s:%d: no AnalysisType: write AnalysisType: rule (or pack)", file, root.Line)
	}
	return nil, nil, fmt.Errorf("%s:%d: AnalysisType %q is not supported: opwatch loads rule and pack", file, root.Line, kind)
}

func (ld *loader) loadPack(file string, root *yaml.Node) (*Pack, error) {
	m, err := ld.readMap(file, root, packKeys, "a pack")
	if err != nil {
		return nil, err
	}
	pk := &Pack{File: file, Enabled: true}
	var def struct {
		IDs []string `yaml:"IDs"`
	}
	errs := []error{m.decode("PackID", &pk.ID), m.decode("DisplayName", &pk.DisplayName), m.decode("Description", &pk.Description)}
	if n, ok := m.keys["PackDefinition"]; ok {
		dm, err := ld.readMap(file, n, []string{"IDs"}, "PackDefinition")
		if err == nil {
			err = dm.decode("IDs", &def.IDs)
		}
		errs = append(errs, err)
	}
	pk.IDs = def.IDs
	if pk.ID == "" {
		errs = append(errs, fmt.Errorf("%s:%d: PackID is missing", file, root.Line))
	}
	return pk, errors.Join(errs...)
}

func (ld *loader) loadRule(file, p string, root *yaml.Node) (*Rule, error) {
	m, err := ld.readMap(file, root, ruleKeys, "a rule")
	if err != nil {
		return nil, err
	}
	var (
		enabled          *bool
		filename, sev    string
		dedup, threshold *int
		errs             []error
		r                = &Rule{File: file}
	)
	for _, d := range []struct {
		k string
		v any
	}{{"RuleID", &r.ID}, {"DisplayName", &r.DisplayName}, {"Enabled", &enabled}, {"Filename", &filename},
		{"LogTypes", &r.LogTypes}, {"Severity", &sev}, {"DedupPeriodMinutes", &dedup}, {"Threshold", &threshold},
		{"Description", &r.Description}, {"Reference", &r.Reference}, {"Runbook", &r.Runbook}, {"Tags", &r.Tags},
		{"Reports", &r.Reports}, {"SummaryAttributes", &r.SummaryAttributes}, {"OutputIds", &r.OutputIds}, {"Status", &r.Status}} {
		errs = append(errs, m.decode(d.k, d.v))
	}
	at := func(k string) int {
		if l, ok := m.line[k]; ok {
			return l
		}
		return root.Line
	}
	if r.ID == "" {
		errs = append(errs, fmt.Errorf("%s:%d: RuleID is missing", file, at("RuleID")))
	}
	if enabled == nil {
		errs = append(errs, fmt.Errorf("%s:%d: Enabled is missing: write Enabled: true or false", file, at("Enabled")))
	} else {
		r.Enabled = *enabled
	}
	r.Severity = strings.ToUpper(sev)
	if !slices.Contains(severities, r.Severity) {
		errs = append(errs, fmt.Errorf("%s:%d: Severity %q: want Info, Low, Medium, High or Critical", file, at("Severity"), sev))
	}
	r.DedupPeriod = time.Hour
	if dedup != nil {
		if *dedup < 5 || *dedup > 1440 {
			errs = append(errs, fmt.Errorf("%s:%d: DedupPeriodMinutes %d: want 5 to 1440 minutes", file, at("DedupPeriodMinutes"), *dedup))
		}
		r.DedupPeriod = time.Duration(*dedup) * time.Minute
	}
	r.Threshold = 1
	if threshold != nil {
		if *threshold < 1 {
			errs = append(errs, fmt.Errorf("%s:%d: Threshold %d: want at least 1", file, at("Threshold"), *threshold))
		}
		r.Threshold = *threshold
	}
	if len(r.LogTypes) == 0 {
		errs = append(errs, fmt.Errorf("%s:%d: LogTypes is missing: name at least one of %s", file, at("LogTypes"), logTypeNames()))
	}
	for _, lt := range r.LogTypes {
		if logtype.ByName(lt) == nil {
			errs = append(errs, fmt.Errorf("%s:%d: LogTypes: %q is not a log type opwatch collects (%s)", file, at("LogTypes"), lt, logTypeNames()))
		}
	}
	if fn, ok := m.keys["InlineFilters"]; ok {
		f, err := readFilters(file, fn)
		errs = append(errs, err)
		r.filter = f
	}
	if tn, ok := m.keys["Tests"]; ok {
		tests, err := ld.readTests(file, tn)
		errs = append(errs, err)
		r.Tests = tests
	}
	if filename == "" {
		errs = append(errs, fmt.Errorf("%s:%d: Filename is missing: name the .star file that defines rule(event)", file, at("Filename")))
	} else if err := errors.Join(errs...); err == nil {
		mod, err := ld.compileRule(path.Join(path.Dir(p), filename), file, at("Filename"))
		if err != nil {
			errs = append(errs, err)
		}
		r.mod = mod
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return r, nil
}

func logTypeNames() string {
	var names []string
	for _, lt := range logtype.All() {
		names = append(names, lt.Name)
	}
	return strings.Join(names, ", ")
}

func (ld *loader) readTests(file string, n *yaml.Node) ([]Test, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: Tests must be a list", file, n.Line)
	}
	var tests []Test
	var errs []error
	for _, tn := range n.Content {
		m, err := ld.readMap(file, tn, testKeys, "a test")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		t := Test{Line: tn.Line}
		var expected *bool
		var logv any
		var mocks []*yaml.Node
		var state []any
		errs = append(errs, m.decode("Name", &t.Name), m.decode("ExpectedResult", &expected), m.decode("Log", &logv),
			m.decode("State", &state))
		if mn, ok := m.keys["Mocks"]; ok {
			if mn.Kind != yaml.SequenceNode {
				errs = append(errs, fmt.Errorf("%s:%d: Mocks must be a list", file, mn.Line))
			}
			mocks = mn.Content
		}
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%s:%d: a test has no Name", file, tn.Line))
		}
		if expected == nil {
			errs = append(errs, fmt.Errorf("%s:%d: test %q has no ExpectedResult", file, tn.Line, t.Name))
		} else {
			t.ExpectedResult = *expected
		}
		if logv == nil {
			errs = append(errs, fmt.Errorf("%s:%d: test %q has no Log", file, tn.Line, t.Name))
		} else if b, err := json.Marshal(jsonable(logv)); err != nil {
			errs = append(errs, fmt.Errorf("%s:%d: test %q: Log: %v", file, tn.Line, t.Name, err))
		} else {
			t.Log = b
		}
		for _, s := range state {
			b, err := json.Marshal(jsonable(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("%s:%d: test %q: State: %v", file, tn.Line, t.Name, err))
				continue
			}
			t.State = append(t.State, b)
		}
		for _, mn := range mocks {
			mm, err := ld.readMap(file, mn, mockKeys, "a mock")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			var mk Mock
			errs = append(errs, mm.decode("objectName", &mk.ObjectName), mm.decode("returnValue", &mk.ReturnValue))
			if mk.ObjectName == "" {
				errs = append(errs, fmt.Errorf("%s:%d: a mock has no objectName", file, mn.Line))
			}
			mk.ReturnValue = jsonable(mk.ReturnValue)
			t.Mocks = append(t.Mocks, mk)
		}
		tests = append(tests, t)
	}
	return tests, errors.Join(errs...)
}

// jsonable turns YAML-decoded values into JSON-encodable ones.
func jsonable(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = jsonable(e)
		}
		return x
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = jsonable(e)
		}
		return out
	case []any:
		for i, e := range x {
			x[i] = jsonable(e)
		}
		return x
	case time.Time:
		return x.Format(time.RFC3339Nano)
	}
	return v
}

// compileRule compiles and runs a rule's module, and checks its functions.
func (ld *loader) compileRule(p, yamlFile string, line int) (*module, error) {
	src, err := fs.ReadFile(ld.fsys, p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%s:%d: Filename: %s does not exist", yamlFile, line, ld.display(p))
		}
		return nil, fmt.Errorf("%s: %w", ld.display(p), err)
	}
	mod := &module{label: ld.display(p), src: src, ld: ld}
	globals, file, err := ld.exec(mod.label, src, nil, nil)
	if err != nil {
		return nil, err
	}
	mod.globals, mod.file = globals, file
	if err := mod.resolve(); err != nil {
		return nil, err
	}
	mod.guard = compileGuard(mod)
	return mod, nil
}

// resolve finds the rule's functions once, so evaluation does no lookups.
func (m *module) resolve() error {
	for i, name := range fnNames {
		v, ok := m.globals[name]
		if !ok {
			if i == fnRule {
				return fmt.Errorf("%s: no rule(event) function: define def rule(event): returning True or False", m.label)
			}
			continue
		}
		fn, ok := v.(starlark.Callable)
		if !ok {
			return fmt.Errorf("%s: %s is a %s, want a function of event", m.label, name, v.Type())
		}
		if f, ok := fn.(*starlark.Function); ok && f.NumParams() != 1 {
			pos := f.Position()
			return fmt.Errorf("%s:%d:%d: %s takes %d parameters, want one (event)", m.label, pos.Line, pos.Col, name, f.NumParams())
		}
		m.fns[i] = fn
	}
	return nil
}

// exec compiles and runs a module. extra adds predeclared names (mocks);
// patchLoad changes what load() binds (mocks of loaded names).
func (ld *loader) exec(label string, src []byte, extra starlark.StringDict, patchLoad func(module string, d starlark.StringDict) starlark.StringDict) (starlark.StringDict, *syntax.File, error) {
	pre := ld.pre
	opts := fileOptions
	if extra != nil {
		pre = starlark.StringDict{}
		for k, v := range ld.pre {
			pre[k] = v
		}
		for k, v := range extra {
			pre[k] = v
		}
		o := *fileOptions
		o.GlobalReassign = true
		opts = &o
	}
	file, prog, err := starlark.SourceProgramOptions(opts, label, src, pre.Has)
	if err != nil {
		return nil, nil, compileError(err)
	}
	thread := &starlark.Thread{Name: label, Print: func(*starlark.Thread, string) {}, Load: func(th *starlark.Thread, module string) (starlark.StringDict, error) {
		d, err := ld.load(module)
		if err == nil && patchLoad != nil {
			d = patchLoad(module, d)
		}
		return d, err
	}}
	thread.SetMaxExecutionSteps(loadSteps)
	globals, err := prog.Init(thread, pre)
	if err != nil {
		err = starlarkError(err)
		if re, ok := err.(*RuleError); ok && re.Pos != "" {
			return nil, nil, err // names the file already
		}
		return nil, nil, fmt.Errorf("%s: %w", label, err)
	}
	globals.Freeze()
	return globals, file, nil
}

func compileError(err error) error {
	var list resolve.ErrorList
	if errors.As(err, &list) {
		errs := make([]error, len(list))
		for i, e := range list {
			errs[i] = e
		}
		return errors.Join(errs...)
	}
	return err
}

// load resolves load("helpers/x.star") against the set's folder, then the
// built-in one. Modules are run once and shared, frozen.
func (ld *loader) load(module string) (starlark.StringDict, error) {
	p := path.Clean(module)
	if path.IsAbs(p) || strings.HasPrefix(p, "../") || p == ".." || !strings.HasSuffix(p, ".star") {
		return nil, fmt.Errorf("load(%q): name a .star file inside the rule folder, such as helpers/NAME.star", module)
	}
	if e, ok := ld.mods[p]; ok {
		if e.busy {
			return nil, fmt.Errorf("load(%q): a cycle of load()s", module)
		}
		return e.globals, e.err
	}
	src, err := fs.ReadFile(ld.fsys, p)
	if errors.Is(err, fs.ErrNotExist) && ld.fallback != nil {
		g, err := ld.fallback.load(module)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no such module: %s is not in %s: %w", p, ld.where(), fs.ErrNotExist)
		}
		return g, err
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no such module: %s is not in %s: %w", p, ld.where(), fs.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	e := &loadEntry{busy: true}
	ld.mods[p] = e
	e.globals, _, e.err = ld.exec(ld.display(p), src, nil, nil)
	e.busy = false
	return e.globals, e.err
}
