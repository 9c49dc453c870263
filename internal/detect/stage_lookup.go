package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/opwatch/opwatch/internal/store"
)

// lookups caches the lookup tables' rows by table version: the list of
// tables is read each batch (cheap), the rows only when a table changed.
type lookups struct {
	versions  map[string]int64
	rows      map[string]map[string]json.RawMessage
	byLogType map[string][]store.LookupTable
}

func newLookups() *lookups {
	return &lookups{versions: map[string]int64{}, rows: map[string]map[string]json.RawMessage{}, byLogType: map[string][]store.LookupTable{}}
}

// refresh brings the cache up to the store's tables.
func (l *lookups) refresh(ctx context.Context, st store.Detect) error {
	tables, err := st.LookupTables(ctx)
	if err != nil {
		return fmt.Errorf("list lookup tables: %w", err)
	}
	seen := make(map[string]bool, len(tables))
	byLogType := map[string][]store.LookupTable{}
	for _, t := range tables {
		seen[t.Name] = true
		if v, ok := l.versions[t.Name]; !ok || v != t.Version {
			rows, err := st.LookupRows(ctx, t.Name)
			if err != nil {
				return fmt.Errorf("read lookup table %q: %w", t.Name, err)
			}
			l.rows[t.Name] = rows
			l.versions[t.Name] = t.Version
		}
		if t.LogType != "" && t.Selector != "" {
			byLogType[t.LogType] = append(byLogType[t.LogType], t)
		}
	}
	for name := range l.versions {
		if !seen[name] {
			delete(l.versions, name)
			delete(l.rows, name)
		}
	}
	l.byLogType = byLogType
	return nil
}

// enrich is an event's p_enrichment: for each table of its log type, the
// row whose key is the value at the table's selector, as
// p_enrichment[table][selector] (Panther's form). A selector that holds an
// array enriches with the list of rows found for its elements. Nil when
// nothing matched.
func (l *lookups) enrich(ev store.StoredEvent) map[string]map[string]json.RawMessage {
	tables := l.byLogType[ev.LogType]
	if len(tables) == 0 {
		return nil
	}
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(ev.Raw))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		return nil
	}
	var out map[string]map[string]json.RawMessage
	for _, t := range tables {
		rows := l.rows[t.Name]
		if len(rows) == 0 {
			continue
		}
		var found json.RawMessage
		switch v := selectorValue(ev, obj, t.Selector).(type) {
		case []any:
			var list []json.RawMessage
			for _, x := range v {
				if k, ok := keyText(x); ok {
					if row, ok := rows[k]; ok {
						list = append(list, row)
					}
				}
			}
			if len(list) > 0 {
				found, _ = json.Marshal(list)
			}
		default:
			if k, ok := keyText(v); ok {
				found = rows[k]
			}
		}
		if found == nil {
			continue
		}
		if out == nil {
			out = map[string]map[string]json.RawMessage{}
		}
		if out[t.Name] == nil {
			out[t.Name] = map[string]json.RawMessage{}
		}
		out[t.Name][t.Selector] = found
	}
	return out
}

// selectorValue is the value at a dotted path of the event, the p_any_
// fields included.
func selectorValue(ev store.StoredEvent, obj map[string]any, path string) any {
	switch path {
	case "p_any_ip_addresses":
		return stringsAny(ev.IPs)
	case "p_any_emails":
		return stringsAny(ev.Emails)
	}
	var cur any = obj
	for part := range strings.SplitSeq(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[part]
	}
	return cur
}

func stringsAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// keyText is a scalar as a table key: strings as they are, numbers as
// written, booleans as true/false.
func keyText(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, x != ""
	case json.Number:
		return x.String(), true
	case bool:
		if x {
			return "true", true
		}
		return "false", true
	}
	return "", false
}
