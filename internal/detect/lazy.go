package detect

import (
	"sync"
	"unsafe"

	"go.starlark.net/starlark"

	"github.com/opwatch/opwatch/internal/jsonscan"
)

// An event's top-level objects and arrays are decoded when a rule first
// reads them: most rules read a few fields, and InlineFilters reject most
// events on one top-level string, so decoding every nested object (client,
// location, target_user, ...) up front was most of an event's decoding.

// skipDepth: SkipValue's nesting budget for a member, stricter than the
// decoder's 1000 levels, so a member that passes the check always decodes.
const skipDepth = jsonscan.MaxDepth - 900

// lazyValue is a top-level member not yet decoded: checked, but not built.
// It never reaches Starlark: entry.val resolves it. Safe for concurrent
// use, as the Event.
type lazyValue struct {
	once  sync.Once
	data  []byte
	src   *string // data as one string, shared by the event's members
	start int
	v     starlark.Value
}

func (l *lazyValue) get() starlark.Value {
	l.once.Do(func() {
		d := &decoder{s: jsonscan.Scanner{Data: l.data, Pos: l.start}, src: *l.src}
		v, ok := d.value(1)
		if !ok { // not reached: the member was checked before
			v = starlark.None
		}
		l.v = v
	})
	return l.v
}

// starlark.Value, should one ever escape unresolved.
func (l *lazyValue) String() string        { return l.get().String() }
func (l *lazyValue) Type() string          { return l.get().Type() }
func (l *lazyValue) Freeze()               {}
func (l *lazyValue) Truth() starlark.Bool  { return l.get().Truth() }
func (l *lazyValue) Hash() (uint32, error) { return l.get().Hash() }

// val is the member's value, decoded if it was not yet.
func (e *entry) val() starlark.Value {
	if l, ok := e.v.(*lazyValue); ok {
		return l.get()
	}
	return e.v
}

// decodeTop decodes an event's top level: scalars now, objects and arrays
// checked and left for lazyValue. Anything it does not take on (not an
// object, invalid or too deep JSON) goes to decodeJSON, whose result and
// error messages are the reference. readOnly: data is never written (a
// stored event's Raw, by the store's contract), so the event's strings can
// be slices of it instead of a copy.
func decodeTop(data []byte, readOnly bool) (starlark.Value, error) {
	d := &decoder{s: jsonscan.Scanner{Data: data}}
	if readOnly && len(data) > 0 {
		d.src = unsafe.String(unsafe.SliceData(data), len(data))
	}
	p := &d.s
	p.SkipWS()
	if p.Pos >= len(data) || data[p.Pos] != '{' {
		return decodeJSON(data)
	}
	p.Pos++
	p.SkipWS()
	dict := &Dict{}
	if p.Pos < len(data) && data[p.Pos] == '}' {
		p.Pos++
	} else {
		var lazies []lazyValue
		src := new(string)
		var seen uint64
		for {
			if p.Pos >= len(data) || data[p.Pos] != '"' {
				return decodeJSON(data)
			}
			k, ok := d.str()
			if !ok || !p.Colon() {
				return decodeJSON(data)
			}
			p.SkipWS()
			var v starlark.Value
			if p.Pos < len(data) && (data[p.Pos] == '{' || data[p.Pos] == '[') {
				start := p.Pos
				if !p.SkipValue(skipDepth) {
					return decodeJSON(data)
				}
				if lazies == nil {
					lazies = make([]lazyValue, 0, 8)
				}
				if len(lazies) == cap(lazies) { // a new chunk: earlier ones stay where entries point
					lazies = make([]lazyValue, 0, 2*cap(lazies))
				}
				lazies = append(lazies, lazyValue{data: data, src: src, start: start})
				v = &lazies[len(lazies)-1]
			} else if v, ok = d.value(1); !ok {
				return decodeJSON(data)
			}
			d.member(0, k, v, &seen)
			more, ok := p.Next('}')
			if !ok {
				return decodeJSON(data)
			}
			if !more {
				break
			}
		}
		dict.entries = make([]entry, len(d.stack), len(d.stack)+8) // room for the p_ fields
		copy(dict.entries, d.stack)
		*src = d.src
	}
	p.SkipWS()
	if p.Pos < len(data) {
		return decodeJSON(data)
	}
	return dict, nil
}
