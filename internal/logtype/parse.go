package logtype

import (
	"fmt"
	"strconv"
	"time"

	"github.com/opwatch/opwatch/internal/jsonscan"
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
	p := parser{Scanner: jsonscan.Scanner{Data: raw}, plan: pl}
	p.parseEvent()
	if p.Err != nil {
		return Event{}, &ValidationError{Reason: p.Err.Error()}
	}
	if p.err != nil {
		return Event{}, p.err
	}
	return p.event(), nil
}

type parser struct {
	// The scanner's Err is a syntax error: it stops the reading (the
	// functions return false) and outranks a field's problem.
	jsonscan.Scanner
	plan *plan
	// err is the first problem with a field's value; reading goes on.
	err *ValidationError

	slots   [maxSlots]jsonscan.Token // the extracted strings, by plan slot; end 0 = unset
	time    time.Time
	scratch [64]byte // for decoding escaped keys and times
}

func (p *parser) parseEvent() {
	p.SkipWS()
	if p.Pos >= len(p.Data) {
		p.err = &ValidationError{Reason: "not valid JSON: the event is empty"}
		return
	}
	if c := p.Data[p.Pos]; c != '{' {
		if p.SkipValue(0) && p.end() {
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
	p.SkipWS()
	if p.Pos < len(p.Data) {
		return p.Syntax("unexpected data after the event")
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

// object reads the object at p.Pos as node n. depth is its nesting depth.
func (p *parser) object(n *node, depth int) bool {
	p.Pos++ // '{'
	p.SkipWS()
	var seen uint64 // children present, for the required check
	hint := 0
	if p.Pos < len(p.Data) && p.Data[p.Pos] == '}' {
		p.Pos++
	} else {
		for {
			if p.Pos >= len(p.Data) || p.Data[p.Pos] != '"' {
				return p.Unexpected("looking for an object key")
			}
			k, ok := p.String()
			if !ok {
				return false
			}
			key := p.Data[k.Start:k.End]
			if k.Escaped {
				key = p.Decode(p.scratch[:0], k)
			}
			i := n.find(key, hint)
			if !p.Colon() {
				return false
			}
			if i < 0 {
				ok = p.SkipValue(depth)
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
			more, ok := p.Next('}')
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

// value reads the value at p.Pos as the known field n, found in an object
// at nesting depth depth.
func (p *parser) value(n *node, depth int) bool {
	if p.Pos >= len(p.Data) {
		return p.Unexpected("looking for a value")
	}
	c := p.Data[p.Pos]
	// This occurrence replaces any earlier one.
	for s := n.lo; s < n.hi; s++ {
		p.slots[s] = jsonscan.Token{}
	}
	if c == 'n' {
		if !p.Literal("null") {
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
		s, ok := p.String()
		if !ok {
			return false
		}
		if n.required && s.Empty() {
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
		num, ok := p.Number()
		if !ok {
			return false
		}
		text := p.Data[num.Start:num.End]
		switch {
		case n.kind == kindBigInt && !num.Integer:
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
		return p.SkipValue(depth)
	case kindObject:
		if c != '{' {
			return p.mismatch(n, depth)
		}
		if depth+1 > jsonscan.MaxDepth {
			return p.Syntax(fmt.Sprintf("nested more than %d levels deep", jsonscan.MaxDepth))
		}
		return p.object(n, depth+1)
	case kindArray:
		if c != '[' {
			return p.mismatch(n, depth)
		}
	}
	return p.SkipValue(depth)
}

// mismatch records that the value at p.Pos has the wrong type for n, and
// steps over it.
func (p *parser) mismatch(n *node, depth int) bool {
	p.invalid(n, "expected "+n.want()+", got "+kindOf(p.Data[p.Pos]))
	return p.SkipValue(depth)
}

// timestamp checks the time in s, and keeps it if it is the event time.
func (p *parser) timestamp(n *node, s jsonscan.Token) {
	b := p.Data[s.Start:s.End]
	if s.Escaped {
		b = p.Decode(p.scratch[:0], s)
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
