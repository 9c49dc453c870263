package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
)

// Panther's limits on auxiliary outputs.
const (
	maxTitle        = 1000
	truncatedSuffix = "... (truncated)"
	maxContext      = 200 * 1024
	maxDestinations = 10
)

// Evaluate runs the rule on one event. now stands in for the event's
// p_parse_time when it has none (rule-state TTLs count from it).
//
// On a match, auxiliary functions that fail or return the wrong type fall
// back to the rule's defaults, as Panther's engine does at run time, and
// the failure is reported in AuxErr; the match is kept. A failing rule()
// returns Err, and nothing else.
func (r *Rule) Evaluate(ev *Event, st State, now time.Time) Outcome {
	return r.evaluate(ev, st, now, r.mod)
}

func (r *Rule) evaluate(ev *Event, st State, now time.Time, mod *module) Outcome {
	val, err := ev.Value()
	if err != nil {
		return Outcome{Err: fmt.Errorf("rule %s: %w", r.ID, err)}
	}
	if r.filter != nil {
		if ok, why := r.filter.match(ev.top); !ok {
			return Outcome{filtered: why}
		}
	}
	if mod.guard != nil && mod.guard.rejects(ev.top) {
		return Outcome{} // what rule() returning False gives, without the call
	}
	base := ev.ParseTime
	if base.IsZero() {
		base = now
	}
	if base.IsZero() {
		base = time.Unix(0, 0) // Unix nanoseconds of the zero time overflow
	}
	ex := getExec()
	ex.ctx = evalCtx{ruleID: r.ID, st: st, base: base}
	ex.args[0] = val
	o := r.run(ex, mod)
	ex.ctx = evalCtx{}
	ex.args[0] = nil
	if o.Err == nil && o.AuxErr == nil { // a failed thread may be cancelled: not reused
		execPool.Put(ex)
	}
	return o
}

// executor is a reusable thread, its evaluation context and arguments:
// allocating them for each rule and event cost more than most rules.
type executor struct {
	thread *starlark.Thread
	ctx    evalCtx
	args   [1]starlark.Value
}

var execPool = sync.Pool{New: func() any {
	// print() goes nowhere: rules have no I/O.
	ex := &executor{thread: &starlark.Thread{Name: "rule", Print: func(*starlark.Thread, string) {}}}
	ex.thread.SetMaxExecutionSteps(MaxSteps)
	ex.thread.SetLocal(ctxKey, &ex.ctx)
	return ex
}}

func getExec() *executor {
	ex := execPool.Get().(*executor)
	ex.thread.Steps = 0 // the limit is per evaluation
	return ex
}

func (r *Rule) run(ex *executor, mod *module) Outcome {
	thread := ex.thread
	args := starlark.Tuple(ex.args[:])

	res, err := starlark.Call(thread, mod.fns[fnRule], args, nil)
	if err != nil {
		return Outcome{Err: fmt.Errorf("rule %s: rule(): %w", r.ID, starlarkError(err))}
	}
	b, ok := res.(starlark.Bool)
	if !ok {
		return Outcome{Err: fmt.Errorf("rule %s: %s: rule() returned %s %s, want True or False", r.ID, mod.label, res.Type(), clipValue(res))}
	}
	if !b {
		return Outcome{}
	}
	o := Outcome{Matched: true}
	var auxErrs []error
	call := func(fn int) starlark.Value {
		f := mod.fns[fn]
		if f == nil {
			return nil
		}
		v, err := starlark.Call(thread, f, args, nil)
		if err != nil {
			auxErrs = append(auxErrs, fmt.Errorf("%s(): %w", fnNames[fn], starlarkError(err)))
			return nil
		}
		return v
	}
	str := func(fn int, v starlark.Value) (string, bool) {
		if v == nil {
			return "", false
		}
		s, ok := v.(starlark.String)
		if !ok {
			auxErrs = append(auxErrs, fmt.Errorf("%s: %s() returned %s %s, want a string", mod.label, fnNames[fn], v.Type(), clipValue(v)))
			return "", false
		}
		return string(s), true
	}

	// title: default DisplayName, else RuleID.
	title, hasTitle := str(fnTitle, call(fnTitle))
	if title == "" {
		hasTitle = false
		title = r.DisplayName
		if title == "" {
			title = r.ID
		}
	}
	o.Title = truncateTitle(title)
	// dedup → title (if title() gave one) → defaultDedupString:<RuleID>.
	dedup, _ := str(fnDedup, call(fnDedup))
	switch {
	case dedup != "":
		o.Dedup = truncateTitle(dedup)
	case hasTitle:
		o.Dedup = o.Title
	default:
		o.Dedup = "defaultDedupString:" + r.ID
	}
	o.Severity = r.Severity
	if sev, ok := str(fnSeverity, call(fnSeverity)); ok {
		up := strings.ToUpper(sev)
		switch {
		case up == "DEFAULT":
		case isSeverity(up):
			o.Severity = up
		default:
			auxErrs = append(auxErrs, fmt.Errorf("%s: severity() returned %q, want INFO, LOW, MEDIUM, HIGH, CRITICAL or DEFAULT", mod.label, sev))
		}
	}
	if v := call(fnAlertContext); v != nil {
		ctx, err := alertContext(v)
		if err != nil {
			auxErrs = append(auxErrs, fmt.Errorf("%s: alert_context(): %w", mod.label, err))
		}
		o.Context = ctx
	}
	o.Description = r.Description
	if s, ok := str(fnDescription, call(fnDescription)); ok && s != "" {
		o.Description = s
	}
	o.Reference = r.Reference
	if s, ok := str(fnReference, call(fnReference)); ok && s != "" {
		o.Reference = s
	}
	o.Runbook = r.Runbook
	if s, ok := str(fnRunbook, call(fnRunbook)); ok && s != "" {
		o.Runbook = s
	}
	if v := call(fnDestinations); v != nil && v != starlark.None {
		dests, err := destinations(v)
		if err != nil {
			auxErrs = append(auxErrs, fmt.Errorf("%s: destinations(): %w", mod.label, err))
		} else {
			o.Destinations, o.DestinationsSet = dests, true
		}
	}
	if r.DestinationsSet {
		o.Destinations, o.DestinationsSet = r.Destinations, true
	}
	if len(auxErrs) > 0 {
		o.AuxErr = fmt.Errorf("rule %s: %w", r.ID, errors.Join(auxErrs...))
	}
	return o
}

func isSeverity(s string) bool {
	for _, v := range severities {
		if v == s {
			return true
		}
	}
	return false
}

func truncateTitle(s string) string {
	if len(s) <= maxTitle {
		return s
	}
	cut := maxTitle - len(truncatedSuffix)
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedSuffix
}

func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }

// alertContext serializes alert_context(): a dict, at most 200 KB, or
// Panther's _error object in its place.
func alertContext(v starlark.Value) (json.RawMessage, error) {
	if _, ok := v.(starlark.IterableMapping); !ok {
		return nil, fmt.Errorf("returned %s %s, want a dict", v.Type(), clipValue(v))
	}
	b, err := appendJSON(nil, v, 0)
	if err != nil {
		return nil, err
	}
	if len(b) > maxContext {
		msg := fmt.Sprintf("alert_context size is %d characters, bigger than maximum of %d KB", len(b), maxContext/1024)
		b, _ = json.Marshal(map[string]string{"_error": msg})
		return b, errors.New(msg)
	}
	return b, nil
}

func destinations(v starlark.Value) ([]string, error) {
	it, ok := v.(starlark.Iterable)
	if !ok {
		return nil, fmt.Errorf("returned %s %s, want a list of destination names", v.Type(), clipValue(v))
	}
	out := []string{}
	iter := it.Iterate()
	defer iter.Done()
	var e starlark.Value
	for iter.Next(&e) {
		s, ok := e.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("destination %s is %s, want a string", clipValue(e), e.Type())
		}
		if len(out) < maxDestinations {
			out = append(out, string(s))
		}
	}
	return out, nil
}

func clipValue(v starlark.Value) string {
	s := v.String()
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// starlarkError names where a Starlark failure happened: the innermost
// frame in a .star file, as file:line:col, then the message.
func starlarkError(err error) error {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		return err
	}
	for i := len(ee.CallStack) - 1; i >= 0; i-- {
		pos := ee.CallStack[i].Pos
		if strings.HasSuffix(pos.Filename(), ".star") {
			return &RuleError{Pos: pos.String(), Msg: ee.Msg, Backtrace: ee.Backtrace()}
		}
	}
	return &RuleError{Msg: ee.Msg, Backtrace: ee.Backtrace()}
}

// RuleError is a failure inside Starlark code, where it happened.
type RuleError struct {
	Pos       string // file:line:col, "" when unknown
	Msg       string
	Backtrace string
}

func (e *RuleError) Error() string {
	if e.Pos == "" {
		return e.Msg
	}
	return e.Pos + ": " + e.Msg
}
