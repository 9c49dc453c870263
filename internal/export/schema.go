package export

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// RawColumn is the column that keeps each event's JSON exactly as 1Password
// sent it. It is opwatch's, not Panther's: the typed columns hold the
// declared fields only, and this one holds everything else.
const RawColumn = "p_raw"

// node is one column of a log type's table: a leaf, an object (a Parquet
// group) or a list of strings (the p_any_ fields). Children are kept in the
// order Parquet writes them (by name), so that walking the tree visits the
// leaves in column order.
type node struct {
	name     string
	kind     logtype.FieldType // String, Timestamp, BigInt, Float, Boolean, Object, Array
	optional bool
	children []*node
	leaf     int // column index of a leaf (of the element for a list)
}

// Table is the Parquet schema of one log type and how its rows are built.
type Table struct {
	LogType string
	Schema  *parquet.Schema
	fields  []*node // the event's declared top-level fields
	all     []*node // every top-level column, in column order
	// doc, when set, makes the document the event columns are read from
	// (a mapping such as ECS); nil reads them from the event itself.
	doc func(ev *store.StoredEvent, obj map[string]any) map[string]any
}

// NewTable builds the table of lt: every declared field of the event as a
// nullable column of its Panther type (objects as groups of nullable
// members, timestamps as TIMESTAMP(MICROS, UTC)), the p_ fields, and
// RawColumn.
func NewTable(lt *logtype.LogType) (*Table, error) {
	var fields []*node
	for _, f := range lt.Fields {
		fields = append(fields, fieldNode(f))
	}
	return newTable(lt.Name, lt.Table, fields, nil)
}

// newTable builds a table of the event columns fields, followed by the p_
// fields and RawColumn.
func newTable(logType, name string, fields []*node, doc func(*store.StoredEvent, map[string]any) map[string]any) (*Table, error) {
	lt := struct{ Name string }{logType}
	t := &Table{LogType: logType, fields: fields, doc: doc}
	names := map[string]bool{}
	for _, f := range fields {
		names[f.name] = true
	}
	p := []*node{
		{name: "p_log_type", kind: logtype.String},
		{name: "p_row_id", kind: logtype.String},
		{name: "p_event_time", kind: logtype.Timestamp},
		{name: "p_parse_time", kind: logtype.Timestamp},
		{name: "p_source_id", kind: logtype.String},
		{name: "p_source_label", kind: logtype.String},
		{name: "p_any_ip_addresses", kind: logtype.Array, optional: true},
		{name: "p_any_emails", kind: logtype.Array, optional: true},
		{name: RawColumn, kind: logtype.String},
	}
	for _, n := range p {
		if names[n.name] {
			return nil, fmt.Errorf("log type %s: field %s collides with a column opwatch adds", lt.Name, n.name)
		}
	}
	t.all = append(append([]*node{}, t.fields...), p...)
	sortNodes(t.all)
	root := parquet.Group{}
	for _, n := range t.all {
		root[n.name] = n.parquet()
	}
	t.Schema = parquet.NewSchema(name, root)
	// Number the leaves as Parquet does (depth first, by name), and check
	// that the schema agrees: a row is a list of values in this order.
	next := 0
	for _, n := range t.all {
		n.number(&next)
	}
	cols := t.Schema.Columns()
	if len(cols) != next {
		return nil, fmt.Errorf("log type %s: %d leaf columns, Parquet has %d", lt.Name, next, len(cols))
	}
	var check func(path []string, n *node) error
	check = func(path []string, n *node) error {
		path = append(path, n.name)
		if len(n.children) > 0 {
			for _, c := range n.children {
				if err := check(path, c); err != nil {
					return err
				}
			}
			return nil
		}
		if n.kind == logtype.Array {
			path = append(path, "list", "element")
		}
		leaf, ok := t.Schema.Lookup(path...)
		if !ok || leaf.ColumnIndex != n.leaf {
			return fmt.Errorf("log type %s: column %v is not where it was numbered", lt.Name, path)
		}
		return nil
	}
	for _, n := range t.all {
		if err := check(nil, n); err != nil {
			return nil, err
		}
	}
	return t, nil
}

func fieldNode(f logtype.Field) *node {
	n := &node{name: f.Name, kind: f.Type, optional: true}
	if f.Type == logtype.Object {
		for _, c := range f.Fields {
			n.children = append(n.children, fieldNode(c))
		}
		sortNodes(n.children)
	}
	return n
}

func sortNodes(ns []*node) { sort.Slice(ns, func(i, j int) bool { return ns[i].name < ns[j].name }) }

func (n *node) number(next *int) {
	if len(n.children) > 0 {
		for _, c := range n.children {
			c.number(next)
		}
		return
	}
	n.leaf = *next
	*next++
}

func (n *node) parquet() parquet.Node {
	var p parquet.Node
	switch n.kind {
	case logtype.Object:
		g := parquet.Group{}
		for _, c := range n.children {
			g[c.name] = c.parquet()
		}
		p = g
	case logtype.Timestamp:
		p = parquet.TimestampAdjusted(parquet.Microsecond, true)
	case logtype.BigInt:
		p = parquet.Int(64)
	case logtype.Float:
		p = parquet.Leaf(parquet.DoubleType)
	case logtype.Boolean:
		p = parquet.Leaf(parquet.BooleanType)
	case logtype.Array:
		p = parquet.List(parquet.String())
	default: // String, and any type a schema may add later: its JSON text
		p = parquet.String()
	}
	if n.optional {
		p = parquet.Optional(p)
	}
	return p
}

// Row appends the row of ev to row (reset to length 0) and returns it. It
// never fails: a field whose value is not of its declared type (the store
// validated it, so only a hand-made lake has one) or raw JSON that cannot
// be read leaves the typed columns null, and RawColumn still holds the
// event byte for byte.
func (t *Table) Row(row parquet.Row, ev *store.StoredEvent) parquet.Row {
	row = row[:0]
	obj := decodeObject(ev.Raw)
	if t.doc != nil {
		obj = t.doc(ev, obj)
	}
	for _, n := range t.all {
		switch n.name {
		case "p_log_type":
			row = append(row, str(ev.LogType).Level(0, 0, n.leaf))
		case "p_row_id":
			row = append(row, str(ev.RowID).Level(0, 0, n.leaf))
		case "p_event_time":
			row = append(row, parquet.Int64Value(ev.EventTime.UnixMicro()).Level(0, 0, n.leaf))
		case "p_parse_time":
			row = append(row, parquet.Int64Value(ev.ParseTime.UnixMicro()).Level(0, 0, n.leaf))
		case "p_source_id":
			row = append(row, str(ev.SourceID).Level(0, 0, n.leaf))
		case "p_source_label":
			row = append(row, str(ev.SourceLabel).Level(0, 0, n.leaf))
		case "p_any_ip_addresses":
			row = appendList(row, ev.IPs, n.leaf, 0)
		case "p_any_emails":
			row = appendList(row, ev.Emails, n.leaf, 0)
		case RawColumn:
			row = append(row, parquet.ByteArrayValue(ev.Raw).Level(0, 0, n.leaf))
		default:
			v, ok := obj[n.name]
			row = n.appendValue(row, v, ok, 0)
		}
	}
	return row
}

func str(s string) parquet.Value { return parquet.ByteArrayValue([]byte(s)) }

// appendList writes an optional LIST<STRING> whose optional ancestors
// that are present make definition level def: null when empty, as Panther
// omits an empty p_any_ field. No list is inside another, so an element
// repeats at level 1.
func appendList(row parquet.Row, vs []string, leaf, def int) parquet.Row {
	if len(vs) == 0 {
		return append(row, parquet.NullValue().Level(0, def, leaf))
	}
	for i, v := range vs {
		rep := 1
		if i == 0 {
			rep = 0
		}
		row = append(row, str(v).Level(rep, def+2, leaf))
	}
	return row
}

// appendValue writes an optional column at definition level def (the
// optional ancestors that are present) from the decoded JSON value v.
func (n *node) appendValue(row parquet.Row, v any, present bool, def int) parquet.Row {
	if n.kind == logtype.Object {
		m, ok := v.(map[string]any)
		if !present || !ok {
			return n.appendNulls(row, def)
		}
		for _, c := range n.children {
			cv, cok := m[c.name]
			row = c.appendValue(row, cv, cok, def+1)
		}
		return row
	}
	if n.kind == logtype.Array {
		vs, _ := v.([]string)
		return appendList(row, vs, n.leaf, def)
	}
	if present {
		if pv, ok := n.leafValue(v); ok {
			return append(row, pv.Level(0, def+1, n.leaf))
		}
	}
	return append(row, parquet.NullValue().Level(0, def, n.leaf))
}

func (n *node) appendNulls(row parquet.Row, def int) parquet.Row {
	if len(n.children) == 0 {
		return append(row, parquet.NullValue().Level(0, def, n.leaf))
	}
	for _, c := range n.children {
		row = c.appendNulls(row, def)
	}
	return row
}

// leafValue converts a decoded JSON value to the column's type; ok is false
// for JSON null and for a value of another type.
func (n *node) leafValue(v any) (parquet.Value, bool) {
	switch n.kind {
	case logtype.String:
		s, ok := v.(string)
		return str(s), ok
	case logtype.Timestamp:
		s, ok := v.(string)
		if !ok {
			return parquet.Value{}, false
		}
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return parquet.Value{}, false
		}
		return parquet.Int64Value(tm.UnixMicro()), true
	case logtype.BigInt:
		num, ok := v.(json.Number)
		if !ok {
			return parquet.Value{}, false
		}
		i, err := strconv.ParseInt(string(num), 10, 64)
		return parquet.Int64Value(i), err == nil
	case logtype.Float:
		num, ok := v.(json.Number)
		if !ok {
			return parquet.Value{}, false
		}
		f, err := strconv.ParseFloat(string(num), 64)
		return parquet.DoubleValue(f), err == nil
	case logtype.Boolean:
		b, ok := v.(bool)
		return parquet.BooleanValue(b), ok
	}
	if v == nil {
		return parquet.Value{}, false
	}
	b, err := json.Marshal(v)
	return parquet.ByteArrayValue(b), err == nil
}

// decodeObject reads raw as a JSON object; nil when it is not one. A key
// given twice keeps its last value, as the store's validation reads it.
func decodeObject(raw []byte) map[string]any {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		return nil
	}
	return m
}
