package logtype

import (
	"fmt"
	"strconv"
	"time"
)

// Parse validates one event object of the log type and extracts its uuid,
// time and indicator values. The error, if any, is a *ValidationError.
//
// Parse reads raw once, without building a tree: it checks the JSON syntax
// (exactly as json.Valid does, and rejects text that is not UTF-8), checks
// the type of every known field wherever it appears, and steps over unknown
// fields, which are kept. Enum values are not checked: a new value is data,
// not an error. null is accepted for every optional field. When a key
// appears twice, every occurrence is checked and the last one counts, as
// in encoding/json.
//
// The returned Event's Raw is raw itself, not a copy: the caller must not
// change raw afterwards (copy it first if the buffer is reused).
func (lt *LogType) Parse(raw []byte) (Event, error) {
	pl := lt.plan
	if pl == nil {
		pl = compile(lt.Fields)
	}
	p := parser{data: raw, plan: pl}
	p.parseEvent()
	if p.err != nil {
		return Event{}, p.err
	}
	return p.event(), nil
}

type parser struct {
	data []byte
	pos  int
	plan *plan
	// err is the first problem found. A syntax error replaces a field's
	// problem and stops the reading (the functions return false).
	err *ValidationError

	slots   [maxSlots]stringToken // the extracted strings, by plan slot; end 0 = unset
	time    time.Time
	scratch [64]byte // for decoding escaped keys and times
}

func (p *parser) parseEvent() {
	p.skipWS()
	if p.pos >= len(p.data) {
		p.err = &ValidationError{Reason: "not valid JSON: the event is empty"}
		return
	}
	if c := p.data[p.pos]; c != '{' {
		if p.skipValue(0) && p.end() {
			p.err = &ValidationError{Reason: "not a JSON object: the event is " + kindOf(c)}
		}
		return
	}
	if p.object(&p.plan.root, 1) {
		p.end()
	}
}

// end checks that nothing but spaces follows the event.
func (p *parser) end() bool {
	p.skipWS()
	if p.pos < len(p.data) {
		return p.syntax("unexpected data after the event")
	}
	return true
}

// invalid records a problem with a field's value, unless one was found
// before. Reading goes on, so a syntax error further on still wins.
func (p *parser) invalid(n *node, reason string) {
	if p.err == nil {
		p.err = &ValidationError{Field: n.path, Reason: reason}
	}
}

// object reads the object at p.pos as node n. depth is its nesting depth.
func (p *parser) object(n *node, depth int) bool {
	p.pos++ // '{'
	p.skipWS()
	var seen uint64 // children present, for the required check
	hint := 0
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
	} else {
		for {
			if p.pos >= len(p.data) || p.data[p.pos] != '"' {
				return p.unexpected("looking for an object key")
			}
			k, ok := p.scanString()
			if !ok {
				return false
			}
			key := p.data[k.start:k.end]
			if k.escaped {
				key = p.decode(p.scratch[:0], k)
			}
			i := n.find(key, hint)
			if !p.colon() {
				return false
			}
			if i < 0 {
				ok = p.skipValue(depth)
			} else {
				hint = i + 1
				if i < 64 {
					seen |= 1 << i
				}
				ok = p.value(&n.children[i], depth)
			}
			if !ok {
				return false
			}
			more, ok := p.next('}')
			if !ok {
				return false
			}
			if !more {
				break
			}
		}
	}
	for i := range n.children {
		if c := &n.children[i]; c.required && i < 64 && seen&(1<<i) == 0 {
			p.invalid(c, "required, but missing")
		}
	}
	return true
}

// value reads the value at p.pos as the known field n, found in an object
// at nesting depth depth.
func (p *parser) value(n *node, depth int) bool {
	if p.pos >= len(p.data) {
		return p.unexpected("looking for a value")
	}
	c := p.data[p.pos]
	// This occurrence replaces any earlier one.
	for s := n.lo; s < n.hi; s++ {
		p.slots[s] = stringToken{}
	}
	if c == 'n' {
		if !p.literal("null") {
			return false
		}
		if n.required {
			p.invalid(n, "is null; "+n.want()+" is required")
		}
		return true
	}
	switch n.kind {
	case kindString, kindTimestamp:
		if c != '"' {
			return p.mismatch(n, depth)
		}
		s, ok := p.scanString()
		if !ok {
			return false
		}
		if n.required && s.empty() {
			p.invalid(n, "is empty; a non-empty string is required")
		}
		if n.slot >= 0 {
			p.slots[n.slot] = s
		}
		if n.kind == kindTimestamp {
			p.timestamp(n, s)
		}
		return true
	case kindBigInt, kindFloat:
		if c != '-' && !isDigit(c) {
			return p.mismatch(n, depth)
		}
		num, ok := p.scanNumber()
		if !ok {
			return false
		}
		text := p.data[num.start:num.end]
		switch {
		case n.kind == kindBigInt && !num.integer:
			p.invalid(n, fmt.Sprintf("expected an integer, got %s", clip(text)))
		case n.kind == kindBigInt && !fitsInt64(text):
			p.invalid(n, fmt.Sprintf("%s does not fit in a 64-bit integer", clip(text)))
		case n.kind == kindFloat && !fitsFloat64(text):
			p.invalid(n, fmt.Sprintf("%s does not fit in a 64-bit floating-point number", clip(text)))
		}
		return true
	case kindBoolean:
		if c != 't' && c != 'f' {
			return p.mismatch(n, depth)
		}
		return p.skipValue(depth)
	case kindObject:
		if c != '{' {
			return p.mismatch(n, depth)
		}
		if depth+1 > maxDepth {
			return p.syntax(fmt.Sprintf("nested more than %d levels deep", maxDepth))
		}
		return p.object(n, depth+1)
	case kindArray:
		if c != '[' {
			return p.mismatch(n, depth)
		}
	}
	return p.skipValue(depth)
}

// mismatch records that the value at p.pos has the wrong type for n, and
// steps over it.
func (p *parser) mismatch(n *node, depth int) bool {
	p.invalid(n, "expected "+n.want()+", got "+kindOf(p.data[p.pos]))
	return p.skipValue(depth)
}

// timestamp checks the time in s, and keeps it if it is the event time.
func (p *parser) timestamp(n *node, s stringToken) {
	b := p.data[s.start:s.end]
	if s.escaped {
		b = p.decode(p.scratch[:0], s)
	}
	f, ok := splitRFC3339(b)
	if !ok {
		p.invalid(n, "not an RFC 3339 time: "+strconv.Quote(clip(b)))
		return
	}
	if n.eventTime {
		p.time = f.utc()
	}
}

// want names what a field of n's type must hold.
func (n *node) want() string {
	switch n.typ {
	case String:
		return "a string"
	case Timestamp:
		return "an RFC 3339 time string"
	case BigInt:
		return "an integer"
	case Float:
		return "a number"
	case Boolean:
		return "true or false"
	case Object:
		return "an object"
	case Array:
		return "an array"
	}
	return "a value"
}

// kindOf names the JSON type of a value from its first byte.
func kindOf(c byte) string {
	switch {
	case c == '{':
		return "an object"
	case c == '[':
		return "an array"
	case c == '"':
		return "a string"
	case c == 't' || c == 'f':
		return "a boolean"
	case c == 'n':
		return "null"
	}
	return "a number"
}

// clip shortens a value quoted in an error message.
func clip(b []byte) string {
	const max = 64
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}
