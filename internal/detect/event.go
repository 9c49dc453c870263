package detect

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/opwatch/opwatch/internal/jsonscan"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// Event is one event as rules see it: the Panther form (the event's fields
// plus its p_ fields), read-only. It wraps the stored JSON and decodes it
// once, on first use, for all the rules that read it; it is safe for
// concurrent use.
type Event struct {
	LogType   string
	Seq       int64     // 0 outside the stage
	EventTime time.Time // p_event_time
	ParseTime time.Time // p_parse_time: TTLs of rule state count from it

	raw        []byte
	stored     *store.StoredEvent // nil for the Panther form
	enrichment map[string]map[string]json.RawMessage

	once sync.Once
	top  *Dict
	err  error

	// The methods rules call most, bound to top, without an allocation per call.
	get, deepGet, udm method
}

// NewEvent wraps a stored event. enrichment is p_enrichment: rows of lookup
// tables by table name and selector path; nil for none. Nothing is decoded
// until a rule reads the event.
func NewEvent(ev store.StoredEvent, enrichment map[string]map[string]json.RawMessage) *Event {
	return &Event{
		LogType:    ev.LogType,
		Seq:        ev.Seq,
		EventTime:  ev.EventTime,
		ParseTime:  ev.ParseTime,
		raw:        ev.Raw,
		stored:     &ev,
		enrichment: enrichment,
	}
}

// EventFromPanther wraps an event in Panther form: a JSON object holding the
// event's fields and its p_ fields, as in a rule's Tests. logType is used
// when the object has no p_log_type ("" to require one). p_parse_time falls
// back to p_event_time, which falls back to the zero time.
func EventFromPanther(logType string, obj []byte) (*Event, error) {
	e := &Event{raw: obj, LogType: logType}
	e.once.Do(e.decode)
	if e.err != nil {
		return nil, e.err
	}
	if v, ok := e.top.lookup("p_log_type"); ok {
		s, isStr := v.(starlark.String)
		if !isStr {
			return nil, fmt.Errorf("p_log_type is %s, not a string", v.Type())
		}
		e.LogType = string(s)
	} else if logType == "" {
		return nil, errors.New("the event has no p_log_type: add it, or name the log type")
	} else {
		e.top.entries = append(e.top.entries, entry{"p_log_type", starlark.String(logType)})
	}
	var err error
	if e.EventTime, err = pantherTime(e.top, "p_event_time"); err != nil {
		return nil, err
	}
	if e.ParseTime, err = pantherTime(e.top, "p_parse_time"); err != nil {
		return nil, err
	}
	if e.ParseTime.IsZero() {
		e.ParseTime = e.EventTime
	}
	return e, nil
}

func pantherTime(d *Dict, key string) (time.Time, error) {
	v, ok := d.lookup(key)
	if !ok || v == starlark.None {
		return time.Time{}, nil
	}
	s, isStr := v.(starlark.String)
	if !isStr {
		return time.Time{}, fmt.Errorf("%s is %s, not a time string", key, v.Type())
	}
	t, err := parseTime(string(s))
	if err != nil {
		return time.Time{}, fmt.Errorf("%s: %w", key, err)
	}
	return t, nil
}

// parseTime reads RFC 3339 or Panther's "2006-01-02 15:04:05.999999999"
// (UTC) form.
func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02T15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is neither RFC 3339 nor Panther's 2006-01-02 15:04:05.000 form", s)
}

// Value returns the event as the rules see it: a read-only dict.
func (e *Event) Value() (starlark.Value, error) {
	e.once.Do(e.decode)
	if e.err != nil {
		return nil, e.err
	}
	return e.top, nil
}

func (e *Event) decode() {
	v, err := decodeTop(e.raw, e.stored != nil)
	if err != nil {
		e.err = fmt.Errorf("the event is not valid JSON: %w", err)
		if e.Seq != 0 {
			e.err = fmt.Errorf("event %d is not valid JSON: %w", e.Seq, err)
		}
		return
	}
	d, ok := v.(*Dict)
	if !ok {
		e.err = fmt.Errorf("the event is a JSON %s, not an object", v.Type())
		return
	}
	d.ev = e
	e.top = d
	e.get = method{name: "get", recv: d, fn: dictGet}
	e.deepGet = method{name: "deep_get", recv: d, fn: dictDeepGet}
	e.udm = method{name: "udm", recv: d, fn: eventUDM}
	if e.stored == nil {
		return
	}
	s := e.stored
	// One value for the times that are equal (formatting is most of the
	// p_ fields' cost).
	eventTime := starlark.Value(starlark.String(logtype.FormatTime(s.EventTime)))
	parseTime := eventTime
	if !s.ParseTime.Equal(s.EventTime) { // FormatTime writes UTC: equal instants, equal text
		parseTime = starlark.String(logtype.FormatTime(s.ParseTime))
	}
	// Panther's form writes the event's time field as it writes p_event_time.
	if !s.EventTime.IsZero() {
		for i := range d.entries {
			if d.entries[i].k == "timestamp" {
				d.entries[i].v = eventTime
			}
		}
	}
	add := func(k string, v starlark.Value) { d.entries = append(d.entries, entry{k, v}) }
	add("p_log_type", starlark.String(s.LogType))
	add("p_event_time", eventTime)
	add("p_parse_time", parseTime)
	add("p_source_id", starlark.String(s.SourceID))
	add("p_source_label", starlark.String(s.SourceLabel))
	add("p_row_id", starlark.String(s.RowID))
	if len(s.IPs) > 0 {
		add("p_any_ip_addresses", stringList(s.IPs))
	}
	if len(s.Emails) > 0 {
		add("p_any_emails", stringList(s.Emails))
	}
	if len(e.enrichment) > 0 {
		tables := &Dict{}
		for name, bySel := range e.enrichment {
			sel := &Dict{}
			for path, row := range bySel {
				rv, err := decodeJSON(row)
				if err != nil {
					rv = starlark.None
				}
				sel.entries = append(sel.entries, entry{path, rv})
			}
			tables.entries = append(tables.entries, entry{name, sel})
		}
		add("p_enrichment", tables)
	}
}

func stringList(ss []string) *List {
	l := &List{elems: make([]starlark.Value, len(ss))}
	for i, s := range ss {
		l.elems[i] = starlark.String(s)
	}
	return l
}

// decodeJSON builds read-only Starlark values from JSON text: objects
// become *Dict, arrays *List, integral numbers int, others float.
func decodeJSON(data []byte) (starlark.Value, error) {
	d := &decoder{s: jsonscan.Scanner{Data: data}}
	d.s.SkipWS()
	v, ok := d.value(0)
	if ok {
		d.s.SkipWS()
		if d.s.Pos < len(data) {
			d.s.Syntax("after top-level value")
			ok = false
		}
	}
	if !ok {
		if d.s.Err != nil {
			return nil, d.s.Err
		}
		return nil, errors.New("not valid JSON")
	}
	return v, nil
}

// member adds k: v to the object being read from base, the last of
// duplicate keys winning, as Python's json.
//
// seen: a bit per hash of the object's keys so far (length and first
// byte), so that a key no earlier one can equal is appended without
// comparing it to every earlier key.
func (d *decoder) member(base int, k string, v starlark.Value, seen *uint64) {
	h := uint(len(k))
	if len(k) > 0 {
		h = h*7 + uint(k[0])
	}
	bit := uint64(1) << (h & 63)
	if *seen&bit == 0 {
		*seen |= bit
		d.stack = append(d.stack, entry{k, v})
		return
	}
	for i := base; i < len(d.stack); i++ {
		if d.stack[i].k == k {
			d.stack[i].v = v
			return
		}
	}
	d.stack = append(d.stack, entry{k, v})
}

func (d *decoder) entrySlab(es []entry) []entry {
	if len(d.slab) < len(es) {
		d.slab = make([]entry, max(16, len(es)))
	}
	out := d.slab[:len(es):len(es)]
	d.slab = d.slab[len(es):]
	copy(out, es)
	return out
}

type decoder struct {
	stack   []entry // members of the objects being read
	slab    []entry // where objects' members end up
	s       jsonscan.Scanner
	src     string // Data as one string: unescaped strings are slices of it
	buf     []byte
	mutable bool // ordinary Starlark dicts and lists (rule state), not read-only ones
}

func (d *decoder) str() (string, bool) {
	tok, ok := d.s.String()
	if !ok {
		return "", false
	}
	if !tok.Escaped {
		if d.src == "" {
			d.src = string(d.s.Data) // one copy for all the event's strings
		}
		return d.src[tok.Start:tok.End], true
	}
	d.buf = d.s.Decode(d.buf[:0], tok)
	return string(d.buf), true
}

func (d *decoder) value(depth int) (starlark.Value, bool) {
	p := &d.s
	if depth > 1000 {
		return nil, p.Syntax("nesting too deep")
	}
	if p.Pos >= len(p.Data) {
		return nil, p.Unexpected("looking for a value")
	}
	switch c := p.Data[p.Pos]; {
	case c == '{':
		p.Pos++
		p.SkipWS()
		if d.mutable {
			return d.mutableDict(depth)
		}
		dict := &Dict{}
		if p.Pos < len(p.Data) && p.Data[p.Pos] == '}' {
			p.Pos++
			return dict, true
		}
		// Members gather on a shared stack, then move to an exact-size
		// slice of one per-event slab: no slice growth per object.
		base := len(d.stack)
		var seen uint64
		for {
			if p.Pos >= len(p.Data) || p.Data[p.Pos] != '"' {
				return nil, p.Unexpected("looking for an object key")
			}
			k, ok := d.str()
			if !ok || !p.Colon() {
				return nil, false
			}
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			d.member(base, k, v, &seen)
			more, ok := p.Next('}')
			if !ok {
				return nil, false
			}
			if !more {
				dict.entries = d.entrySlab(d.stack[base:])
				d.stack = d.stack[:base]
				return dict, true
			}
		}
	case c == '[':
		p.Pos++
		p.SkipWS()
		list := &List{}
		if p.Pos < len(p.Data) && p.Data[p.Pos] == ']' {
			p.Pos++
			if d.mutable {
				return starlark.NewList(nil), true
			}
			return list, true
		}
		for {
			v, ok := d.value(depth + 1)
			if !ok {
				return nil, false
			}
			list.elems = append(list.elems, v)
			more, ok := p.Next(']')
			if !ok {
				return nil, false
			}
			if !more {
				if d.mutable {
					return starlark.NewList(list.elems), true
				}
				return list, true
			}
		}
	case c == '"':
		s, ok := d.str()
		return starlark.String(s), ok
	case c == '-' || ('0' <= c && c <= '9'):
		n, ok := p.Number()
		if !ok {
			return nil, false
		}
		text := string(p.Data[n.Start:n.End])
		if n.Integer {
			if i, err := strconv.ParseInt(text, 10, 64); err == nil {
				return starlark.MakeInt64(i), true
			}
			b, _ := new(big.Int).SetString(text, 10)
			return starlark.MakeBigInt(b), true
		}
		f, _ := strconv.ParseFloat(text, 64) // out of range: ±Inf, as Python's json does
		return starlark.Float(f), true
	case c == 't':
		return starlark.True, p.Literal("true")
	case c == 'f':
		return starlark.False, p.Literal("false")
	case c == 'n':
		return starlark.None, p.Literal("null")
	}
	return nil, p.Unexpected("looking for a value")
}

func (d *decoder) mutableDict(depth int) (starlark.Value, bool) {
	p := &d.s
	dict := starlark.NewDict(0)
	if p.Pos < len(p.Data) && p.Data[p.Pos] == '}' {
		p.Pos++
		return dict, true
	}
	for {
		if p.Pos >= len(p.Data) || p.Data[p.Pos] != '"' {
			return nil, p.Unexpected("looking for an object key")
		}
		k, ok := d.str()
		if !ok || !p.Colon() {
			return nil, false
		}
		v, ok := d.value(depth + 1)
		if !ok {
			return nil, false
		}
		_ = dict.SetKey(starlark.String(k), v)
		more, ok := p.Next('}')
		if !ok {
			return nil, false
		}
		if !more {
			return dict, true
		}
	}
}

type entry struct {
	k string
	v starlark.Value
}

// Dict is a read-only JSON object whose keys are looked up without regard
// to case, as Panther's ImmutableCaseInsensitiveDict. The event itself is a
// Dict with udm() and udm_path().
type Dict struct {
	entries []entry
	ev      *Event // set on the event's top level
}

var (
	_ starlark.IterableMapping = (*Dict)(nil)
	_ starlark.HasAttrs        = (*Dict)(nil)
	_ starlark.Sequence        = (*Dict)(nil)
	_ starlark.Comparable      = (*Dict)(nil)
)

func (d *Dict) lookup(k string) (starlark.Value, bool) {
	for i := range d.entries {
		if d.entries[i].k == k {
			return d.entries[i].val(), true
		}
	}
	for i := range d.entries {
		if foldEqual(d.entries[i].k, k) {
			return d.entries[i].val(), true
		}
	}
	return nil, false
}

// foldEqual is strings.EqualFold, quicker on the ASCII keys of events: a
// lookup that misses (a field the event lacks) compares every key.
func foldEqual(a, b string) bool {
	if len(a) != len(b) {
		// Only non-ASCII letters fold to a different length (K, ſ, ...).
		return (hasNonASCII(a) || hasNonASCII(b)) && strings.EqualFold(a, b)
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca|cb >= 0x80 {
			return strings.EqualFold(a, b) // whole runes, from the start
		}
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

func hasNonASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return true
		}
	}
	return false
}

func (d *Dict) String() string {
	var b strings.Builder
	b.WriteByte('{')
	for i, e := range d.entries {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(starlark.String(e.k).String())
		b.WriteString(": ")
		b.WriteString(e.val().String())
	}
	b.WriteByte('}')
	return b.String()
}
func (d *Dict) Type() string          { return "dict" }
func (d *Dict) Freeze()               {}
func (d *Dict) Truth() starlark.Bool  { return len(d.entries) > 0 }
func (d *Dict) Hash() (uint32, error) { return 0, errors.New("unhashable type: dict") }
func (d *Dict) Len() int              { return len(d.entries) }

func (d *Dict) Get(k starlark.Value) (starlark.Value, bool, error) {
	s, ok := k.(starlark.String)
	if !ok {
		return nil, false, nil
	}
	v, found := d.lookup(string(s))
	return v, found, nil
}

func (d *Dict) Iterate() starlark.Iterator { return &dictIter{d: d} }

func (d *Dict) Items() []starlark.Tuple {
	out := make([]starlark.Tuple, len(d.entries))
	for i, e := range d.entries {
		out[i] = starlark.Tuple{starlark.String(e.k), e.val()}
	}
	return out
}

// CompareSameType compares with another dict: an event's, or one the rule
// made.
func (d *Dict) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	switch y := y.(type) {
	case *Dict:
		return compareDicts(op, d, y, depth)
	case starlark.IterableMapping:
		eq := len(d.entries) == starlark.Len(y)
		for i := 0; eq && i < len(d.entries); i++ {
			yv, found, err := y.Get(starlark.String(d.entries[i].k))
			if err != nil {
				return false, err
			}
			if !found {
				eq = false
				break
			}
			if eq, err = starlark.EqualDepth(d.entries[i].val(), yv, depth-1); err != nil {
				return false, err
			}
		}
		return eqOp(op, eq, "dict")
	}
	return false, fmt.Errorf("dict %s %s not supported", op, y.Type())
}

type dictIter struct {
	d *Dict
	i int
}

func (it *dictIter) Next(p *starlark.Value) bool {
	if it.i >= len(it.d.entries) {
		return false
	}
	*p = starlark.String(it.d.entries[it.i].k)
	it.i++
	return true
}
func (it *dictIter) Done() {}

var dictMethods = []string{"deep_get", "get", "items", "keys", "values"}
var eventMethods = []string{"deep_get", "get", "items", "keys", "udm", "udm_path", "values"}

func (d *Dict) AttrNames() []string {
	if d.ev != nil {
		return eventMethods
	}
	return dictMethods
}

func (d *Dict) Attr(name string) (starlark.Value, error) {
	var fn methodFunc
	switch name {
	case "get":
		fn = dictGet
	case "deep_get":
		fn = dictDeepGet
	case "keys":
		fn = dictKeys
	case "values":
		fn = dictValues
	case "items":
		fn = dictItems
	case "udm":
		if d.ev != nil {
			fn = eventUDM
		}
	case "udm_path":
		if d.ev != nil {
			fn = eventUDMPath
		}
	}
	if fn == nil {
		return nil, nil
	}
	if d.ev != nil { // the event's methods, bound once per event
		switch name {
		case "get":
			return &d.ev.get, nil
		case "deep_get":
			return &d.ev.deepGet, nil
		case "udm":
			return &d.ev.udm, nil
		}
	}
	return &method{name: name, recv: d, fn: fn}, nil
}

// method is a Dict's bound method: one allocation where a bound
// starlark.Builtin takes two, on the hot path of every rule.
type method struct {
	name string
	recv *Dict
	fn   methodFunc
}

type methodFunc func(*starlark.Thread, *Dict, starlark.Tuple, []starlark.Tuple) (starlark.Value, error)

func (m *method) String() string       { return "<built-in method " + m.name + " of dict value>" }
func (m *method) Type() string         { return "builtin_function_or_method" }
func (m *method) Freeze()              {}
func (m *method) Truth() starlark.Bool { return true }
func (m *method) Hash() (uint32, error) {
	return 0, errors.New("unhashable type: builtin_function_or_method")
}
func (m *method) Name() string { return m.name }
func (m *method) CallInternal(th *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return m.fn(th, m.recv, args, kwargs)
}

func dictGet(_ *starlark.Thread, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	// The forms rules write, without the generic unpacking: get(k),
	// get(k, d), get(k, default=d).
	if v, ok := fastGet(d, args, kwargs); ok {
		return v, nil
	}
	var k, def starlark.Value = nil, starlark.None
	if err := starlark.UnpackPositionalArgs("get", args, kwargs, 1, &k, &def); err != nil {
		// Panther's rules write event.get("k", default=...) too.
		if err2 := starlark.UnpackArgs("get", args, kwargs, "key", &k, "default?", &def); err2 != nil {
			return nil, err2
		}
	}
	v, found, _ := d.Get(k)
	if !found {
		return def, nil
	}
	return v, nil
}

func fastGet(d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, bool) {
	if len(args) == 0 {
		return nil, false
	}
	key, isStr := args[0].(starlark.String)
	if !isStr {
		return nil, false
	}
	def := starlark.Value(starlark.None)
	switch {
	case len(args) == 1 && len(kwargs) == 0:
	case len(args) == 2 && len(kwargs) == 0:
		def = args[1]
	case len(args) == 1 && len(kwargs) == 1 && kwargs[0][0] == starlark.String("default"):
		def = kwargs[0][1]
	default:
		return nil, false
	}
	if v, found := d.lookup(string(key)); found {
		return v, true
	}
	return def, true
}

// deepGet walks keys from v; the default stands for a missing key, a hop
// that is not a mapping, and a null, as Panther's deep_get.
func deepGet(v starlark.Value, keys starlark.Tuple, def starlark.Value) starlark.Value {
	for _, k := range keys {
		m, ok := v.(starlark.Mapping)
		if !ok {
			return def
		}
		next, found, err := m.Get(k)
		if !found || err != nil {
			return def
		}
		v = next
	}
	if v == starlark.None {
		return def
	}
	return v
}

func unpackDeepGet(name string, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	def := starlark.Value(starlark.None)
	for _, kv := range kwargs {
		if string(kv[0].(starlark.String)) != "default" {
			return nil, fmt.Errorf("%s: unexpected keyword argument %s", name, kv[0])
		}
		def = kv[1]
	}
	return def, nil
}

func dictDeepGet(_ *starlark.Thread, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	def, err := unpackDeepGet("deep_get", args, kwargs)
	if err != nil {
		return nil, err
	}
	return deepGet(d, args, def), nil
}

func dictKeys(_ *starlark.Thread, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("keys", args, kwargs, 0); err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(d.entries))
	for i, e := range d.entries {
		out[i] = starlark.String(e.k)
	}
	return starlark.NewList(out), nil
}

func dictValues(_ *starlark.Thread, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("values", args, kwargs, 0); err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(d.entries))
	for i, e := range d.entries {
		out[i] = e.val()
	}
	return starlark.NewList(out), nil
}

func dictItems(_ *starlark.Thread, d *Dict, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackPositionalArgs("items", args, kwargs, 0); err != nil {
		return nil, err
	}
	items := d.Items()
	out := make([]starlark.Value, len(items))
	for i, t := range items {
		out[i] = t
	}
	return starlark.NewList(out), nil
}

// List is a read-only JSON array.
type List struct{ elems []starlark.Value }

var (
	_ starlark.Indexable  = (*List)(nil)
	_ starlark.Sequence   = (*List)(nil)
	_ starlark.Sliceable  = (*List)(nil)
	_ starlark.Comparable = (*List)(nil)
)

func (l *List) String() string {
	var b strings.Builder
	b.WriteByte('[')
	for i, e := range l.elems {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.String())
	}
	b.WriteByte(']')
	return b.String()
}
func (l *List) Type() string               { return "list" }
func (l *List) Freeze()                    {}
func (l *List) Truth() starlark.Bool       { return len(l.elems) > 0 }
func (l *List) Hash() (uint32, error)      { return 0, errors.New("unhashable type: list") }
func (l *List) Len() int                   { return len(l.elems) }
func (l *List) Index(i int) starlark.Value { return l.elems[i] }
func (l *List) Iterate() starlark.Iterator { return &listIter{l: l} }
func (l *List) Slice(start, end, step int) starlark.Value {
	var out []starlark.Value
	if step > 0 {
		for i := start; i < end; i += step {
			out = append(out, l.elems[i])
		}
	} else {
		for i := start; i > end; i += step {
			out = append(out, l.elems[i])
		}
	}
	return &List{elems: out}
}

// CompareSameType compares with another list: an event's, or one the rule
// made (Starlark calls it for any two values whose type is "list").
func (l *List) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	switch y := y.(type) {
	case *List:
		return compareLists(op, l, y, depth)
	case starlark.Indexable:
		eq := len(l.elems) == y.Len()
		for i := 0; eq && i < len(l.elems); i++ {
			e, err := starlark.EqualDepth(l.elems[i], y.Index(i), depth-1)
			if err != nil {
				return false, err
			}
			eq = e
		}
		return eqOp(op, eq, "list")
	}
	return false, fmt.Errorf("list %s %s not supported", op, y.Type())
}

type listIter struct {
	l *List
	i int
}

func (it *listIter) Next(p *starlark.Value) bool {
	if it.i >= len(it.l.elems) {
		return false
	}
	*p = it.l.elems[it.i]
	it.i++
	return true
}
func (it *listIter) Done() {}

func compareDicts(op syntax.Token, x, y *Dict, depth int) (bool, error) {
	eq := len(x.entries) == len(y.entries)
	for i := 0; eq && i < len(x.entries); i++ {
		yv, ok := y.lookup(x.entries[i].k)
		if !ok {
			eq = false
			break
		}
		e, err := starlark.EqualDepth(x.entries[i].val(), yv, depth-1)
		if err != nil {
			return false, err
		}
		eq = e
	}
	return eqOp(op, eq, "dict")
}

func compareLists(op syntax.Token, x, y *List, depth int) (bool, error) {
	eq := len(x.elems) == len(y.elems)
	for i := 0; eq && i < len(x.elems); i++ {
		e, err := starlark.EqualDepth(x.elems[i], y.elems[i], depth-1)
		if err != nil {
			return false, err
		}
		eq = e
	}
	return eqOp(op, eq, "list")
}

func eqOp(op syntax.Token, eq bool, typ string) (bool, error) {
	switch op {
	case syntax.EQL:
		return eq, nil
	case syntax.NEQ:
		return !eq, nil
	}
	return false, fmt.Errorf("%s %s %s not supported", typ, op, typ)
}
