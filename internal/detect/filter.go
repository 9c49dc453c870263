package detect

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.yaml.in/yaml/v4"
)

// InlineFilters, Panther's: conditions on the event's fields, checked in Go
// before the rule's Starlark runs. An event they reject is no match and
// costs no Starlark call, which is most events for most rules.
//
//	InlineFilters:
//	  All:                       # every item holds (Any: one item holds)
//	    - KeyPath: action        # dot-separated, case-insensitive; [N] indexes a list
//	      Condition: IsIn
//	      Values: [export, join]
//	    - Any: [...]             # groups nest
//
// A missing field, or a path through a non-object, reads as null.

// filter is one compiled condition or group.
type filter struct {
	group  int // groupNone, groupAll or groupAny
	items  []*filter
	path   []pathStep
	cond   condition
	value  starlark.Value   // Value
	values []starlark.Value // Values
	num    float64          // numeric conditions
	prefix []netip.Prefix   // CIDR conditions
	text   string           // as written, for test messages
}

const (
	groupNone = iota
	groupAll
	groupAny
)

type pathStep struct {
	key   string
	index int // ≥ 0: a list index instead of a key
}

type condition int

const (
	condEquals condition = iota
	condDoesNotEqual
	condIsIn
	condIsNotIn
	condContains
	condDoesNotContain
	condStartsWith
	condDoesNotStartWith
	condEndsWith
	condDoesNotEndWith
	condIsNull
	condIsNotNull
	condIsNullOrEmpty
	condIsNotNullOrEmpty
	condGreaterThan
	condGreaterThanOrEqual
	condLessThan
	condLessThanOrEqual
	condIsIPAddressInCIDR
	condIsIPAddressNotInCIDR
)

// conditions: names as Panther writes them, and what operand each takes.
var conditions = []struct {
	name    string
	operand int // opNone, opValue (a scalar), opValues (a list), opNumber, opCIDR
}{
	condEquals:               {"Equals", opValue},
	condDoesNotEqual:         {"DoesNotEqual", opValue},
	condIsIn:                 {"IsIn", opValues},
	condIsNotIn:              {"IsNotIn", opValues},
	condContains:             {"Contains", opValue},
	condDoesNotContain:       {"DoesNotContain", opValue},
	condStartsWith:           {"StartsWith", opString},
	condDoesNotStartWith:     {"DoesNotStartWith", opString},
	condEndsWith:             {"EndsWith", opString},
	condDoesNotEndWith:       {"DoesNotEndWith", opString},
	condIsNull:               {"IsNull", opNone},
	condIsNotNull:            {"IsNotNull", opNone},
	condIsNullOrEmpty:        {"IsNullOrEmpty", opNone},
	condIsNotNullOrEmpty:     {"IsNotNullOrEmpty", opNone},
	condGreaterThan:          {"GreaterThan", opNumber},
	condGreaterThanOrEqual:   {"GreaterThanOrEqual", opNumber},
	condLessThan:             {"LessThan", opNumber},
	condLessThanOrEqual:      {"LessThanOrEqual", opNumber},
	condIsIPAddressInCIDR:    {"IsIPAddressInCIDR", opCIDR},
	condIsIPAddressNotInCIDR: {"IsIPAddressNotInCIDR", opCIDR},
}

const (
	opNone = iota
	opValue
	opValues
	opString
	opNumber
	opCIDR
)

func conditionNames() string {
	var names []string
	for _, c := range conditions {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

// readFilters compiles an InlineFilters block: a mapping of All and/or Any,
// or (a shorthand) a list, meaning All.
func readFilters(file string, n *yaml.Node) (*filter, error) {
	if n.Kind == yaml.SequenceNode {
		return readGroup(file, n, groupAll, 0)
	}
	return readFilterItem(file, n, 0, true)
}

func readGroup(file string, n *yaml.Node, kind, depth int) (*filter, error) {
	name := map[int]string{groupAll: "All", groupAny: "Any"}[kind]
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s must be a list of conditions", file, n.Line, name)
	}
	if len(n.Content) == 0 {
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s is empty: give at least one condition, or remove it", file, n.Line, name)
	}
	g := &filter{group: kind}
	var errs []error
	for _, c := range n.Content {
		f, err := readFilterItem(file, c, depth+1, false)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		g.items = append(g.items, f)
	}
	return g, errors.Join(errs...)
}

var filterKeys = []string{"KeyPath", "Condition", "Value", "Values", "All", "Any"}

// readFilterItem reads a condition, or a group (All/Any). top: the
// InlineFilters mapping itself, which must be a group.
func readFilterItem(file string, n *yaml.Node, depth int, top bool) (*filter, error) {
	if depth > 16 {
		return nil, fmt.Errorf("%s:%d: InlineFilters: groups nest too deep: at most 16 levels", file, n.Line)
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:%d: InlineFilters: want a condition (KeyPath, Condition, Value or Values) or a group (All, Any)", file, n.Line)
	}
	keys := map[string]*yaml.Node{}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !slices.Contains(filterKeys, k.Value) {
			hint := ""
			for _, a := range filterKeys {
				if strings.EqualFold(a, k.Value) {
					hint = fmt.Sprintf(" (did you mean %s?)", a)
				}
			}
			errs = append(errs, fmt.Errorf("%s:%d: InlineFilters: unknown key %q%s: a condition has KeyPath, Condition, Value or Values; a group All or Any", file, k.Line, k.Value, hint))
			continue
		}
		if _, dup := keys[k.Value]; dup {
			errs = append(errs, fmt.Errorf("%s:%d: InlineFilters: key %s given twice", file, k.Line, k.Value))
		}
		keys[k.Value] = v
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	all, hasAll := keys["All"]
	anyN, hasAny := keys["Any"]
	if hasAll || hasAny {
		for _, k := range []string{"KeyPath", "Condition", "Value", "Values"} {
			if _, ok := keys[k]; ok {
				return nil, fmt.Errorf("%s:%d: InlineFilters: %s beside All/Any: put the condition inside the group", file, n.Line, k)
			}
		}
		var groups []*filter
		if hasAll {
			g, err := readGroup(file, all, groupAll, depth)
			errs = append(errs, err)
			groups = append(groups, g)
		}
		if hasAny {
			g, err := readGroup(file, anyN, groupAny, depth)
			errs = append(errs, err)
			groups = append(groups, g)
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		if len(groups) == 1 {
			return groups[0], nil
		}
		return &filter{group: groupAll, items: groups}, nil // both: All holds and one of Any holds
	}
	if top {
		return nil, fmt.Errorf("%s:%d: InlineFilters: want All or Any (a list of conditions)", file, n.Line)
	}
	return readCondition(file, n, keys)
}

func readCondition(file string, n *yaml.Node, keys map[string]*yaml.Node) (*filter, error) {
	kp, ok := keys["KeyPath"]
	if !ok || kp.Kind != yaml.ScalarNode || kp.Value == "" {
		return nil, fmt.Errorf("%s:%d: InlineFilters: a condition needs KeyPath: the field, e.g. action or client.ip_address", file, n.Line)
	}
	path, err := parseKeyPath(kp.Value)
	if err != nil {
		return nil, fmt.Errorf("%s:%d: InlineFilters: KeyPath %q: %w", file, kp.Line, kp.Value, err)
	}
	cn, ok := keys["Condition"]
	if !ok || cn.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("%s:%d: InlineFilters: a condition needs Condition: one of %s", file, n.Line, conditionNames())
	}
	cond := -1
	for i, c := range conditions {
		if c.name == cn.Value {
			cond = i
		}
	}
	if cond < 0 {
		return nil, fmt.Errorf("%s:%d: InlineFilters: Condition %q: want one of %s", file, cn.Line, cn.Value, conditionNames())
	}
	f := &filter{path: path, cond: condition(cond)}
	val, hasVal := keys["Value"]
	vals, hasVals := keys["Values"]
	op := conditions[cond].operand
	name := conditions[cond].name
	switch {
	case op == opNone && (hasVal || hasVals):
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s takes no Value: remove it", file, n.Line, name)
	case op == opValues && hasVal:
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s takes Values (a list), not Value", file, val.Line, name)
	case op == opValues && !hasVals:
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s needs Values: a list of what the field may be", file, n.Line, name)
	case op != opNone && op != opValues && op != opCIDR && hasVals:
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s takes Value, not Values (IsIn takes a list)", file, vals.Line, name)
	case op != opNone && op != opValues && op != opCIDR && !hasVal:
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s needs Value", file, n.Line, name)
	case op == opCIDR && hasVal == hasVals:
		return nil, fmt.Errorf("%s:%d: InlineFilters: %s needs Value (a CIDR) or Values (a list of them)", file, n.Line, name)
	}
	text := kp.Value + " " + name
	switch op {
	case opValue, opString:
		v, err := scalarValue(val)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: InlineFilters: %s Value: %w", file, val.Line, name, err)
		}
		if _, isStr := v.(starlark.String); op == opString && !isStr {
			return nil, fmt.Errorf("%s:%d: InlineFilters: %s Value must be a string, not %s", file, val.Line, name, v.Type())
		}
		f.value = v
		text += " " + v.String()
	case opValues:
		if vals.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s:%d: InlineFilters: %s Values must be a list", file, vals.Line, name)
		}
		for _, e := range vals.Content {
			v, err := scalarValue(e)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: InlineFilters: %s Values: %w", file, e.Line, name, err)
			}
			f.values = append(f.values, v)
		}
		text += " " + starlark.NewList(f.values).String()
	case opNumber:
		v, err := scalarValue(val)
		var num float64
		switch x := v.(type) {
		case starlark.Int:
			num = float64(x.Float())
		case starlark.Float:
			num = float64(x)
		default:
			if err == nil {
				err = fmt.Errorf("want a number, not %s", v.Type())
			}
		}
		if err != nil {
			return nil, fmt.Errorf("%s:%d: InlineFilters: %s Value: %w", file, val.Line, name, err)
		}
		f.num = num
		text += " " + v.String()
	case opCIDR:
		nodes := []*yaml.Node{val}
		if hasVals {
			if vals.Kind != yaml.SequenceNode || len(vals.Content) == 0 {
				return nil, fmt.Errorf("%s:%d: InlineFilters: %s Values must be a list of CIDRs", file, vals.Line, name)
			}
			nodes = vals.Content
		}
		var cidrs []string
		for _, e := range nodes {
			p, err := netip.ParsePrefix(e.Value)
			if e.Kind != yaml.ScalarNode || err != nil {
				return nil, fmt.Errorf("%s:%d: InlineFilters: %s: %q is not a CIDR such as 10.0.0.0/8", file, e.Line, name, e.Value)
			}
			f.prefix = append(f.prefix, p.Masked())
			cidrs = append(cidrs, e.Value)
		}
		text += " " + strings.Join(cidrs, ", ")
	}
	f.text = text
	return f, nil
}

// scalarValue reads a YAML scalar as the event would hold it.
func scalarValue(n *yaml.Node) (starlark.Value, error) {
	if n.Kind != yaml.ScalarNode {
		return nil, errors.New("want a string, number, bool or null")
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, errors.New(yamlMsg(err))
	}
	switch x := v.(type) {
	case nil:
		return starlark.None, nil
	case bool:
		return starlark.Bool(x), nil
	case int:
		return starlark.MakeInt(x), nil
	case int64:
		return starlark.MakeInt64(x), nil
	case uint64:
		return starlark.MakeUint64(x), nil
	case float64:
		return starlark.Float(x), nil
	case string:
		return starlark.String(x), nil
	}
	return starlark.String(n.Value), nil // timestamps and the like: as written
}

// parseKeyPath splits "a.b[0].c" into steps.
func parseKeyPath(s string) ([]pathStep, error) {
	var out []pathStep
	for _, part := range strings.Split(s, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key == "" && len(out) == 0 {
			return nil, errors.New("empty key: write keys joined by dots, e.g. client.ip_address")
		}
		if key != "" {
			out = append(out, pathStep{key: key, index: -1})
		} else if rest == "" {
			return nil, errors.New("empty key between dots")
		}
		for rest != "" {
			num, after, ok := strings.Cut(rest, "]")
			i, err := strconv.Atoi(num)
			if !ok || err != nil || i < 0 {
				return nil, fmt.Errorf("[%s: want a list index such as [0]", rest)
			}
			out = append(out, pathStep{index: i})
			if after == "" {
				break
			}
			if !strings.HasPrefix(after, "[") {
				return nil, fmt.Errorf("%q after ]: join keys with dots", after)
			}
			rest = after[1:]
		}
	}
	return out, nil
}

// lookupPath reads a field; nil when missing.
func lookupPath(v starlark.Value, path []pathStep) starlark.Value {
	for _, st := range path {
		switch x := v.(type) {
		case *Dict:
			if st.index >= 0 {
				return nil
			}
			next, ok := x.lookup(st.key)
			if !ok {
				return nil
			}
			v = next
		case *List:
			if st.index < 0 || st.index >= len(x.elems) {
				return nil
			}
			v = x.elems[st.index]
		default:
			return nil
		}
	}
	return v
}

// match reports whether the event passes; on a rejection, why names the
// condition that failed (the first, for a group).
func (f *filter) match(top *Dict) (ok bool, why *filter) {
	switch f.group {
	case groupAll:
		for _, it := range f.items {
			if ok, why := it.match(top); !ok {
				return false, why
			}
		}
		return true, nil
	case groupAny:
		var first *filter
		for _, it := range f.items {
			ok, why := it.match(top)
			if ok {
				return true, nil
			}
			if first == nil {
				first = why
			}
		}
		return false, first
	}
	if f.test(lookupPath(top, f.path)) {
		return true, nil
	}
	return false, f
}

func isNull(v starlark.Value) bool { return v == nil || v == starlark.None }

// test applies the condition to a field's value (nil: missing).
func (f *filter) test(v starlark.Value) bool {
	switch f.cond {
	case condEquals:
		return equal(v, f.value)
	case condDoesNotEqual:
		return !equal(v, f.value)
	case condIsIn:
		return slices.ContainsFunc(f.values, func(w starlark.Value) bool { return equal(v, w) })
	case condIsNotIn:
		return !slices.ContainsFunc(f.values, func(w starlark.Value) bool { return equal(v, w) })
	case condContains:
		return contains(v, f.value)
	case condDoesNotContain:
		return !contains(v, f.value)
	case condStartsWith, condDoesNotStartWith, condEndsWith, condDoesNotEndWith:
		s, isStr := v.(starlark.String)
		w := string(f.value.(starlark.String))
		switch f.cond {
		case condStartsWith:
			return isStr && strings.HasPrefix(string(s), w)
		case condDoesNotStartWith:
			return !isStr || !strings.HasPrefix(string(s), w)
		case condEndsWith:
			return isStr && strings.HasSuffix(string(s), w)
		}
		return !isStr || !strings.HasSuffix(string(s), w)
	case condIsNull:
		return isNull(v)
	case condIsNotNull:
		return !isNull(v)
	case condIsNullOrEmpty:
		return isEmpty(v)
	case condIsNotNullOrEmpty:
		return !isEmpty(v)
	case condGreaterThan, condGreaterThanOrEqual, condLessThan, condLessThanOrEqual:
		n, ok := number(v)
		if !ok {
			return false
		}
		switch f.cond {
		case condGreaterThan:
			return n > f.num
		case condGreaterThanOrEqual:
			return n >= f.num
		case condLessThan:
			return n < f.num
		}
		return n <= f.num
	case condIsIPAddressInCIDR:
		return f.anyIPIn(v)
	case condIsIPAddressNotInCIDR:
		return !f.anyIPIn(v)
	}
	return false
}

func equal(v, w starlark.Value) bool {
	if v == nil {
		return w == starlark.None
	}
	if s, ok := v.(starlark.String); ok { // the common case, without Starlark's dispatch
		t, ok := w.(starlark.String)
		return ok && s == t
	}
	// Python's rules: 1 == 1.0, but True is not 1 in a JSON event's sense.
	if _, vb := v.(starlark.Bool); vb {
		return v == w
	}
	if _, wb := w.(starlark.Bool); wb {
		return false
	}
	eq, err := starlark.Equal(v, w)
	return err == nil && eq
}

// contains: a substring of a string, an element of a list.
func contains(v, w starlark.Value) bool {
	switch x := v.(type) {
	case starlark.String:
		s, ok := w.(starlark.String)
		return ok && strings.Contains(string(x), string(s))
	case *List:
		return slices.ContainsFunc(x.elems, func(e starlark.Value) bool { return equal(e, w) })
	}
	return false
}

func isEmpty(v starlark.Value) bool {
	switch x := v.(type) {
	case nil, starlark.NoneType:
		return true
	case starlark.String:
		return x == ""
	case *List:
		return len(x.elems) == 0
	case *Dict:
		return len(x.entries) == 0
	}
	return false
}

func number(v starlark.Value) (float64, bool) {
	switch x := v.(type) {
	case starlark.Int:
		return float64(x.Float()), true
	case starlark.Float:
		f := float64(x)
		return f, !math.IsNaN(f)
	}
	return 0, false
}

// anyIPIn: the field is an address, or a list of them (p_any_ip_addresses),
// and one is in one of the prefixes.
func (f *filter) anyIPIn(v starlark.Value) bool {
	in := func(e starlark.Value) bool {
		s, ok := e.(starlark.String)
		if !ok {
			return false
		}
		a, err := netip.ParseAddr(string(s))
		if err != nil {
			return false
		}
		a = a.Unmap()
		return slices.ContainsFunc(f.prefix, func(p netip.Prefix) bool { return p.Contains(a) })
	}
	if l, ok := v.(*List); ok {
		return slices.ContainsFunc(l.elems, in)
	}
	return in(v)
}
