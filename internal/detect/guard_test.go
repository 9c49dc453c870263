package detect

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"github.com/opwatch/opwatch/internal/store"
)

// The guard must never change what a rule gives: every test here runs a
// rule twice on the same events, with its guard and without (the module
// as it was before guards), each with its own rule memory, and wants the
// same Outcome and the same memory. Runs go with InlineFilters (as the
// stage runs rules) and without them (so that the guard, not the filter,
// sees every event).

var guardNow = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// guardPair runs one rule guarded and unguarded, side by side.
type guardPair struct {
	r, rNoFilter *Rule
	plain        *module // the rule's module without its guard
	stG, stP     MemState
	noFilter     bool
	rejected     int // events the guard answered (no Starlark call)
	called       int // events it left to Starlark
}

func newGuardPair(r *Rule, noFilter bool) *guardPair {
	plain := *r.mod
	plain.guard = nil
	rf := *r
	rf.filter = nil
	return &guardPair{r: r, rNoFilter: &rf, plain: &plain, stG: MemState{}, stP: MemState{}, noFilter: noFilter}
}

// check evaluates one event both ways. mk makes a fresh copy of the event
// (nil, nil: not an event), so that the two runs share nothing.
func (p *guardPair) check(t testing.TB, what string, mk func() (*Event, error)) {
	t.Helper()
	evG, err := mk()
	if err != nil || evG == nil {
		return
	}
	evP, _ := mk()
	r := p.r
	if p.noFilter {
		r = p.rNoFilter
	}
	if _, err := evG.Value(); err == nil && p.r.mod.guard.rejects(evG.top) {
		p.rejected++
	} else {
		p.called++
	}
	got := outcomeText(func() Outcome { return r.evaluate(evG, p.stG, guardNow, p.r.mod) })
	want := outcomeText(func() Outcome { return r.evaluate(evP, p.stP, guardNow, p.plain) })
	if got != want {
		t.Fatalf("%s, %s (InlineFilters off: %v): with the guard\n  %s\nwithout\n  %s", p.r.ID, what, p.noFilter, got, want)
	}
	if !reflect.DeepEqual(p.stG, p.stP) {
		t.Fatalf("%s, %s: the rule's memory differs with the guard:\n  %v\nwithout\n  %v", p.r.ID, what, p.stG, p.stP)
	}
}

// outcomeText is all an Outcome says, as text; a panic (the stage turns
// it into a rule error) reads as one.
func outcomeText(eval func() Outcome) (s string) {
	defer func() {
		if p := recover(); p != nil {
			s = fmt.Sprintf("panic: %v", p)
		}
	}()
	o := eval()
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	filtered := ""
	if o.filtered != nil {
		filtered = o.filtered.text
	}
	return fmt.Sprintf("matched=%v title=%q dedup=%q severity=%q context=%s description=%q reference=%q runbook=%q destinations=%q/%v err=%q auxErr=%q filtered=%q",
		o.Matched, o.Title, o.Dedup, o.Severity, o.Context, o.Description, o.Reference, o.Runbook, o.Destinations, o.DestinationsSet,
		errText(o.Err), errText(o.AuxErr), filtered)
}

// pantherEvent and storedEvent wrap raw as the rules' tests and as the stage do.
func pantherEvent(lt string, raw []byte) func() (*Event, error) {
	return func() (*Event, error) { return EventFromPanther(lt, raw) }
}

func storedEvent(lt string, raw []byte) func() (*Event, error) {
	return func() (*Event, error) {
		return NewEvent(store.StoredEvent{Seq: 1, LogType: lt, EventTime: guardNow, ParseTime: guardNow, SourceID: "s", RowID: "r", Raw: raw}, nil), nil
	}
}

// guardCorpus is every event at hand: the built-in rules' tests (their
// State events too), the bench events, and, when ../shared is there, the
// Panther conformance cases and the 1Password fixtures.
func guardCorpus(t *testing.T, set *Set) [][]byte {
	var out [][]byte
	for _, r := range set.Rules() {
		for _, tc := range r.Tests {
			for _, st := range tc.State {
				out = append(out, st)
			}
			out = append(out, tc.Log)
		}
	}
	for _, e := range benchEvents {
		out = append(out, []byte(e.raw))
	}
	shared := filepath.Join("..", "..", "..", "shared")
	files, _ := filepath.Glob(filepath.Join(shared, "conformance", "panther-analysis", "*.json"))
	fixtures, _ := filepath.Glob(filepath.Join(shared, "fixtures", "onepassword", "*"))
	if len(files) == 0 && len(fixtures) == 0 {
		t.Logf("no Panther conformance cases or fixtures in %s: the rules' own events only", shared)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var cases []struct {
			Log json.RawMessage `json:"log"`
		}
		if err := json.Unmarshal(b, &cases); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, c := range cases {
			out = append(out, c.Log)
		}
	}
	for _, f := range fixtures {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if json.Unmarshal(b, &page) == nil && len(page.Items) > 0 {
			for _, it := range page.Items {
				out = append(out, it)
			}
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<22)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 && line[0] == '{' {
				out = append(out, append([]byte(nil), line...))
			}
		}
	}
	return out
}

// unguarded are the built-in rules that get no guard, and why.
var unguarded = map[string]string{
	"OpWatch.OnePassword.SignIn.From.Listed.IP": "rule() is return _hit(event) != None: a call",
	"Standard.BruteForceByIP":                   "event.udm() is not followed",
	"Standard.BruteForceByUser":                 "event.udm() is not followed",
	"Standard.SignInFromRogueState":             "event.udm() is not followed",
}

func TestGuardBuiltinRules(t *testing.T) {
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	guarded := 0
	for _, r := range set.Rules() {
		_, no := unguarded[r.ID]
		if got := r.mod.guard != nil; got == no {
			t.Errorf("%s: guard built %v, want %v", r.ID, got, !no)
		}
		if r.mod.guard != nil {
			guarded++
		}
	}
	if want := len(set.Rules()) - len(unguarded); guarded != want || guarded < 24 {
		t.Errorf("%d of %d built-in rules have a guard, want %d", guarded, len(set.Rules()), want)
	}
}

// TestGuardDifferential: every guarded built-in rule, on every event at
// hand, in both forms, with and without InlineFilters, gives the same
// with its guard as without it; and the guard does answer for each rule.
func TestGuardDifferential(t *testing.T) {
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	corpus := guardCorpus(t, set)
	for _, r := range set.Rules() {
		if r.mod.guard == nil {
			continue
		}
		t.Run(r.ID, func(t *testing.T) {
			for _, noFilter := range []bool{false, true} {
				p := newGuardPair(r, noFilter)
				for i, raw := range corpus {
					for _, lt := range r.LogTypes {
						p.check(t, fmt.Sprintf("event %d as %s, Panther form", i, lt), pantherEvent(lt, raw))
						p.check(t, fmt.Sprintf("event %d as %s, stored", i, lt), storedEvent(lt, raw))
					}
				}
				if noFilter && (p.rejected == 0 || p.called == 0) {
					t.Errorf("over %d events the guard answered %d and left %d to Starlark: want some of each", len(corpus), p.rejected, p.called)
				}
			}
		})
	}
}

// TestGuardSemantics: forms where Starlark's answer is easy to get wrong
// (a missing key, None, int against float, a string against a number,
// unhashable values, a local read before it is set, case-insensitive
// keys), each rule on events that cross them.
func TestGuardSemantics(t *testing.T) {
	rules := []string{
		// event[k] raises on a missing key: the guard must not hide it.
		`if event["action"] != "x":
        return False
    return True`,
		`if event.get("n") != 1:
        return False
    return True`,
		`if event.get("n", default = 3) == 3.0:
        return False
    return True`,
		`if event.get("n") == 12345678901234567890123:
        return False
    return True`,
		// in a dict: an unhashable value (list, object) is not in it (no error).
		`return event.get("a") in _D`,
		`return event.get("a") not in _T`,
		`return event.get("a") in _L and event.get("n") != None`,
		// in a string: a non-string raises.
		`if "x" in event.get("s"):
        return False
    return True`,
		`return "x" in event.get("s")`,
		`a = event.get("a")
    if type(a) != "dict":
        return False
    return a.get("b") == 1`,
		// b is set only on one branch: reading it otherwise raises.
		`if event.get("c") == "y":
        b = 1
    elif event.get("a") == "x":
        b = 2
    if b != 1:
        return False
    return True`,
		`return event.deep_get("a", "b", default = "z") not in ("z", None)`,
		`return event.deep_get("a", "b") == None`,
		`x = event.get("a") or event.get("s")
    if not x:
        return False
    return x == "q"`,
		`a = event.get("a")
    if a == "x":
        return False
    elif a == "y":
        return True
    else:
        return a if a else False`,
		`if event.get("a") == None:
        return None
    return False`,
		`if (event.get("a"), event.get("c")) in _W:
        return False
    return event.get("n") == -1`,
		// A JSON list against a list literal panics in the engine's list
		// comparison: the same with the guard (it leaves it to Starlark).
		`if event.get("a") == "x" or event.get("a") == ["x"] or event.get("a") == ("x",):
        return False
    return True`,
		`"""A docstring."""
    pass
    if event.get("a") != "x" or not event.get("n"):
        return False
    return True`,
		`return event.get("a", "x") == "x" and event.get("A") == event.get("a")`,
		// A right operand the guard does not follow (a call; it raises
		// on events without k): the left one decides, or Starlark does.
		`if event.get("a") != "x" or helper(event):
        return False
    return True`,
		`return event.get("a") == "x" and helper(event)`,
	}
	events := []string{`{}`, `{"k":1}`, `{"a":"x","k":1}`, `{"a":"x","k":2}`, `{"action":"x"}`, `{"ACTION":"x"}`, `{"action":"X"}`, `{"action":null}`, `{"action":1}`,
		`{"n":1}`, `{"n":1.0}`, `{"n":"1"}`, `{"n":true}`, `{"n":3}`, `{"n":-1}`, `{"n":null}`, `{"n":12345678901234567890123}`, `{"n":1.2345678901234568e22}`,
		`{"a":"x"}`, `{"a":"y"}`, `{"a":"q"}`, `{"a":""}`, `{"a":["x"]}`, `{"a":{"b":1}}`, `{"a":{"b":null}}`, `{"a":{"B":"z"}}`, `{"a":{}}`, `{"a":[]}`,
		`{"a":1}`, `{"a":1.5}`, `{"a":false}`, `{"a":null}`, `{"A":"x","a":"y"}`, `{"a":"x","c":"y"}`, `{"a":"y","c":"y"}`, `{"a":"q","c":"y","n":-1}`,
		`{"s":"xyz"}`, `{"s":"abc"}`, `{"s":5}`, `{"s":null}`, `{"s":"q"}`, `{"c":"y"}`, `{"c":"y","a":"x","n":2}`, `{"a":"x","n":0}`, `{"a":"x","n":5}`}
	for i, body := range rules {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			star := `_D = {"x": True, "y": False}
_T = ("x", "q", 1)
_L = ["x", "y", None]
_W = {("x", "y"): 1}

def helper(event):
    return event["k"] == 1

def rule(event):
    ` + body + `
`
			set, err := loadOne(t, "", star)
			if err != nil {
				t.Fatalf("%v\n%s", err, star)
			}
			r := set.Rule("T.Rule")
			if r.mod.guard == nil {
				t.Fatalf("no guard for\n%s", star)
			}
			p := newGuardPair(r, true)
			for _, e := range events {
				p.check(t, e, pantherEvent("OnePassword.SignInAttempt", []byte(e)))
			}
			if p.rejected == 0 || p.called == 0 {
				t.Errorf("the guard answered %d events and left %d to Starlark: want some of each\n%s", p.rejected, p.called, star)
			}
		})
	}
}

// TestGuardNotBuilt: forms the guard must leave alone get none.
func TestGuardNotBuilt(t *testing.T) {
	for _, body := range []string{
		`return helper(event) == False`, // a call of rule code
		`if event.udm("x") != "y":
        return False
    return True`,
		`if helper(event) or event.get("a") != "x":
        return False
    return True`, // the left operand is a call
		`if state.get("k") != None:
        return False
    return True`, // rule memory
		`if event.get("n") < 1:
        return False
    return True`, // < may raise on mixed types: not followed
		`for k in event:
        return False
    return True`,
	} {
		star := "def helper(e):\n    return True\n\ndef rule(event):\n    " + body + "\n"
		set, err := loadOne(t, "", star)
		if err != nil {
			t.Fatalf("%v\n%s", err, star)
		}
		if g := set.Rule("T.Rule").mod.guard; g != nil {
			t.Errorf("a guard for\n%s", star)
		}
	}
}

// FuzzRuleGuard: events whose fields the guards read hold random values
// (the rules' own constants, other cases, numbers, null, objects, lists,
// keys in other cases, duplicates) give the same with the guard as without.
func FuzzRuleGuard(f *testing.F) {
	for _, s := range []string{"", "\x00", "\x01\x02\x03\x04\x05\x06\x07\x08", "\xff\xfe\xfd\xfc\xfb\xfa", "abcdefghijklmnopqrstuvwxyz0123456789",
		strings.Repeat("\x07\x03", 40), strings.Repeat("\x02\x09\x11", 50)} {
		f.Add([]byte(s))
	}
	g := loadGuarded(f)
	f.Fuzz(func(t *testing.T, data []byte) { g.run(t, data) })
}

// TestGuardRandomEvents runs FuzzRuleGuard's check on a few hundred
// inputs, so that go test sees random events and not only the seeds.
func TestGuardRandomEvents(t *testing.T) {
	g := loadGuarded(t)
	for i := range 300 {
		g.run(t, []byte(fmt.Sprint(i)))
	}
}

type guardedRules struct {
	rules []*Rule
	pools map[*Rule][]string
}

func loadGuarded(t testing.TB) *guardedRules {
	set, err := LoadBuiltin()
	if err != nil {
		t.Fatal(err)
	}
	g := &guardedRules{pools: map[*Rule][]string{}}
	for _, r := range set.Rules() {
		if r.mod.guard != nil {
			g.rules = append(g.rules, r)
			g.pools[r] = guardPool(r.mod.guard)
		}
	}
	return g
}

func (g *guardedRules) run(t *testing.T, data []byte) {
	h := fnv.New64a()
	h.Write(data)
	src := &fuzzBytes{b: data, rng: rand.New(rand.NewPCG(h.Sum64(), uint64(len(data))))}
	for _, r := range g.rules {
		for _, noFilter := range []bool{true, false} {
			p := newGuardPair(r, noFilter)
			for range 3 { // later events see the earlier ones' memory
				raw := fuzzGuardEvent(src, r, g.pools[r])
				lt := r.LogTypes[src.n(len(r.LogTypes))]
				if src.n(2) == 0 {
					p.check(t, string(raw), pantherEvent(lt, raw))
				} else {
					p.check(t, string(raw), storedEvent(lt, raw))
				}
			}
		}
	}
}

// fuzzBytes: choices from the input, then from a generator it seeds.
type fuzzBytes struct {
	b   []byte
	i   int
	rng *rand.Rand
}

// n is a choice in [0, k).
func (s *fuzzBytes) n(k int) int {
	if k <= 1 {
		return 0
	}
	if s.i >= len(s.b) {
		return s.rng.IntN(k)
	}
	v := int(s.b[s.i]) % k
	s.i++
	return v
}

// guardPool is JSON values for the guard's fields: its constants (and the
// members of constant tuples, lists, dicts), their other cases, and others.
func guardPool(g *guard) []string {
	pool := []string{`null`, `""`, `"x"`, `0`, `1`, `1.0`, `-1`, `1.5`, `true`, `false`, `12345678901234567890123`,
		`[]`, `{}`, `["reveal"]`, `{"a":1}`, `"1"`, `"success"`, `"SUCCESS"`, `"OnePassword.ItemUsage"`, `"OnePassword.AuditEvent"`}
	add := func(v starlark.Value) {
		switch v := v.(type) {
		case starlark.String:
			s := string(v)
			for _, x := range []string{s, strings.ToUpper(s), s + " "} {
				b, _ := json.Marshal(x)
				pool = append(pool, string(b))
			}
		case starlark.Int, starlark.Float, starlark.Bool:
			pool = append(pool, v.String())
		}
	}
	for _, c := range g.consts {
		switch c := c.(type) {
		case starlark.Tuple:
			for _, e := range c {
				add(e)
			}
		case starlark.Iterable: // list, dict (its keys), set
			it := c.Iterate()
			var e starlark.Value
			for it.Next(&e) {
				add(e)
			}
			it.Done()
		default:
			add(c)
		}
	}
	slices.Sort(pool)
	return slices.Compact(pool)
}

// fuzzGuardEvent builds a JSON object with the guard's paths set from the
// pool, in random key cases, sometimes missing, duplicated or not objects.
func fuzzGuardEvent(src *fuzzBytes, r *Rule, pool []string) []byte {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	member := func(k, v string) {
		if !first {
			b.WriteByte(',')
		}
		first = false
		kb, _ := json.Marshal(k)
		b.Write(kb)
		b.WriteByte(':')
		b.WriteString(v)
	}
	keyCase := func(k string) string {
		switch src.n(6) {
		case 1:
			return strings.ToUpper(k)
		case 2:
			if k != "" {
				return strings.ToUpper(k[:1]) + k[1:]
			}
		}
		return k
	}
	var value func(rest []string, depth int) string
	value = func(rest []string, depth int) string {
		if len(rest) == 0 || depth > 4 || src.n(5) == 0 {
			return pool[src.n(len(pool))]
		}
		var o strings.Builder
		o.WriteByte('{')
		kb, _ := json.Marshal(keyCase(rest[0]))
		o.Write(kb)
		o.WriteByte(':')
		o.WriteString(value(rest[1:], depth+1))
		if src.n(3) == 0 {
			o.WriteString(`,"other":`)
			o.WriteString(pool[src.n(len(pool))])
		}
		o.WriteByte('}')
		return o.String()
	}
	for _, path := range r.mod.guard.keys {
		if src.n(5) == 0 {
			continue // missing
		}
		for range 1 + src.n(2) { // sometimes twice: the last one wins
			member(keyCase(path[0]), value(path[1:], 0))
		}
	}
	if src.n(3) == 0 {
		lt := []string{`"OnePassword.ItemUsage"`, `"OnePassword.AuditEvent"`, `"OnePassword.SignInAttempt"`}
		member("p_log_type", lt[src.n(len(lt))])
	}
	if src.n(2) == 0 {
		member("timestamp", `"2024-03-01T11:00:00Z"`)
	}
	b.WriteByte('}')
	return []byte(b.String())
}
