// Package detect is opwatch's rule engine: Panther-format detections (YAML
// metadata, Starlark instead of Python), loaded and checked at load time,
// evaluated over read-only events, and tested as panther_analysis_tool
// tests them. The detect stage (stage*.go) drives it over stored events.
package detect

import (
	"encoding/json"
	"sort"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Rule is one detection.
type Rule struct {
	ID, DisplayName   string
	File              string // the YAML file, as messages name it
	Enabled           bool
	LogTypes          []string
	Severity          string // INFO, LOW, MEDIUM, HIGH or CRITICAL
	DedupPeriod       time.Duration
	Threshold         int
	Description       string
	Reference         string
	Runbook           string
	Tags              []string
	Reports           map[string][]string
	SummaryAttributes []string
	OutputIds         []string
	Status            string
	Pack              string // the pack (PackID) it belongs to, "" for none
	Tests             []Test
	// Destinations overrides where alerts go (Overrides); it wins over the
	// rule's destinations(). DestinationsSet with none suppresses alerts.
	Destinations    []string
	DestinationsSet bool

	mod    *module
	filter *filter // InlineFilters, nil for none
}

// Test is one of a rule's unit tests.
type Test struct {
	Name           string
	ExpectedResult bool
	Log            json.RawMessage // the event, Panther form
	Mocks          []Mock
	State          []json.RawMessage // prior events fed through the rule first (opwatch)
	Line           int               // of the test in the YAML file
}

// Mock replaces a global of the rule's module by a function that returns
// ReturnValue, as panther_analysis_tool's mocks.
type Mock struct {
	ObjectName  string
	ReturnValue any
}

// Pack groups rules (pack.yml).
type Pack struct {
	ID, DisplayName, Description string
	File                         string
	IDs                          []string
	Enabled                      bool // false only by Overrides
}

// Set is a loaded, checked set of rules and packs.
type Set struct {
	rules     map[string]*Rule
	sorted    []*Rule
	byLogType map[string][]*Rule
	packs     map[string]*Pack
}

func newSet() *Set {
	return &Set{rules: map[string]*Rule{}, packs: map[string]*Pack{}}
}

// index rebuilds the sorted list and the enabled rules by log type.
func (s *Set) index() {
	s.sorted = s.sorted[:0]
	for _, r := range s.rules {
		s.sorted = append(s.sorted, r)
	}
	sort.Slice(s.sorted, func(i, j int) bool { return s.sorted[i].ID < s.sorted[j].ID })
	s.byLogType = map[string][]*Rule{}
	for _, r := range s.sorted {
		if !r.Enabled {
			continue
		}
		for _, lt := range r.LogTypes {
			s.byLogType[lt] = append(s.byLogType[lt], r)
		}
	}
}

// Rules returns every rule, enabled or not, sorted by ID.
func (s *Set) Rules() []*Rule { return s.sorted }

// Rule returns the rule with this ID, or nil.
func (s *Set) Rule(id string) *Rule { return s.rules[id] }

// ForLogType returns the enabled rules of a log type, sorted by ID.
func (s *Set) ForLogType(lt string) []*Rule { return s.byLogType[lt] }

// Packs returns the packs, sorted by ID.
func (s *Set) Packs() []*Pack {
	out := make([]*Pack, 0, len(s.packs))
	for _, p := range s.packs {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Outcome is the result of evaluating one rule on one event.
type Outcome struct {
	Matched                bool
	Title, Dedup, Severity string
	Context                json.RawMessage // alert_context, a JSON object; nil for none
	Description, Reference string
	Runbook                string
	Destinations           []string
	DestinationsSet        bool  // destinations() returned a list ([] suppresses the alert)
	Err                    error // the rule failed: a rule error
	// AuxErr: an auxiliary function (title, dedup, ...) failed on a match;
	// the alert opens with Panther's fallbacks for it. Report it, as a
	// rule error, without dropping the match.
	AuxErr error

	filtered *filter // the InlineFilters condition that rejected the event
}

// TestResult is one test's result.
type TestResult struct {
	Rule, Name string
	Passed     bool
	Err        string
}

// Function names a rule module may define, in the order they run.
const (
	fnRule = iota
	fnTitle
	fnDedup
	fnSeverity
	fnAlertContext
	fnDescription
	fnReference
	fnRunbook
	fnDestinations
	nFns
)

var fnNames = [nFns]string{"rule", "title", "dedup", "severity", "alert_context", "description", "reference", "runbook", "destinations"}

// module is a rule's compiled Starlark file.
type module struct {
	label   string // path as messages name it
	src     []byte
	file    *syntax.File
	globals starlark.StringDict
	fns     [nFns]starlark.Callable
	ld      *loader
	guard   *guard // rule()'s leading checks in Go; nil for none (and with mocks)
}
