package logtype

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// reference is Parse written the slow, obvious way: encoding/json into a
// map, then the schema rules applied to the map. Tests compare the two.
// ok is false when the event is rejected. encoding/json keeps only the last
// of duplicate keys, so on input with duplicate keys reference may accept
// what Parse rejects (Parse checks every occurrence), never the reverse.
func reference(lt *LogType, raw []byte) (ev Event, ok bool) {
	if !json.Valid(raw) || !utf8.Valid(raw) {
		return Event{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keeps numbers exact, and huge ones decodable
	var v any
	if err := dec.Decode(&v); err != nil {
		return Event{}, false
	}
	m, isObject := v.(map[string]any)
	if !isObject || !refValid(lt.Fields, m) {
		return Event{}, false
	}
	ev.UUID = m["uuid"].(string)
	ev.Time = refTime(m["timestamp"].(string))
	ev.Raw = raw
	var emails, ips []string
	refIndicators(lt.Fields, m, &emails, &ips)
	ev.Emails, ev.IPs = refList(emails), refList(ips)
	return ev, true
}

func refValid(fields []Field, m map[string]any) bool {
	for _, f := range fields {
		v, present := m[f.Name]
		if !present || v == nil {
			if f.Required {
				return false
			}
			continue
		}
		switch f.Type {
		case String:
			s, ok := v.(string)
			if !ok || f.Required && s == "" {
				return false
			}
		case Timestamp:
			s, ok := v.(string)
			if !ok || !refIsRFC3339(s) {
				return false
			}
		case BigInt:
			n, ok := v.(json.Number)
			if !ok {
				return false
			}
			if _, err := strconv.ParseInt(string(n), 10, 64); err != nil {
				return false
			}
		case Float:
			n, ok := v.(json.Number)
			if !ok {
				return false
			}
			if _, err := strconv.ParseFloat(string(n), 64); err != nil {
				return false
			}
		case Boolean:
			if _, ok := v.(bool); !ok {
				return false
			}
		case Array:
			if _, ok := v.([]any); !ok {
				return false
			}
		case Object:
			sub, ok := v.(map[string]any)
			if !ok || !refValid(f.Fields, sub) {
				return false
			}
		}
	}
	return true
}

// rfc3339Pattern is RFC 3339's date-time with upper-case T and Z, which is
// what Parse accepts; time.Time.UnmarshalText then checks the ranges.
var rfc3339Pattern = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$`)

func refIsRFC3339(s string) bool {
	var t time.Time
	return rfc3339Pattern.MatchString(s) && t.UnmarshalText([]byte(s)) == nil
}

func refTime(s string) time.Time {
	var t time.Time
	if err := t.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return t.UTC()
}

func refIndicators(fields []Field, m map[string]any, emails, ips *[]string) {
	for _, f := range fields {
		switch v := m[f.Name].(type) {
		case string:
			s := strings.TrimSpace(v)
			switch {
			case f.Indicator == "email" && strings.Contains(s, "@"):
				*emails = append(*emails, s)
			case f.Indicator == "ip":
				if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
					*ips = append(*ips, s)
				}
			}
		case map[string]any:
			refIndicators(f.Fields, v, emails, ips)
		}
	}
}

func refList(l []string) []string {
	slices.Sort(l)
	l = slices.Compact(l)
	if len(l) == 0 {
		return nil
	}
	return l
}

// hasDuplicateKeys reports whether any object in the valid JSON raw has a
// key twice.
func hasDuplicateKeys(raw []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(raw))
	type frame struct {
		object bool
		keys   map[string]bool
		key    bool // the next string token in this object is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return false
		}
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if s, ok := tok.(string); ok {
				if top.keys[s] {
					return true
				}
				top.keys[s] = true
				top.key = false
				continue
			}
		}
		// tok is a value (or a closing delimiter) in top.
		switch tok {
		case json.Delim('{'):
			if top != nil && top.object {
				top.key = true
			}
			stack = append(stack, &frame{object: true, keys: map[string]bool{}, key: true})
			continue
		case json.Delim('['):
			if top != nil && top.object {
				top.key = true
			}
			stack = append(stack, &frame{})
			continue
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
			continue
		}
		if top != nil && top.object {
			top.key = true
		}
	}
}
