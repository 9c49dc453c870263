// Package segment is the format of the lake's cold events (issue 11): a run
// of events of one log type written as one JSON array, which an engine
// compresses as a whole. Events of one log type repeat their keys and most
// of their values, so a compressor that sees a few hundred at once stores
// each in about a tenth of its size, where a row per event cannot.
//
// JSON, not a binary layout, because both engines must read it in SQL for
// the log-type views: SQLite's json_each over the decompressed text,
// PostgreSQL's json_array_elements over a TOAST-compressed text column. The
// raw event is embedded as it is (it is a JSON object), so that a reader
// cuts it out byte for byte; an object element of the array is
//
//	{"seq":1,"account":"…","source_id":"…","log_type":"…","uuid":"…",
//	 "p_event_time":"2006-01-02 15:04:05.000000000","p_parse_time":"…",
//	 "p_row_id":"…","p_source_label":"…","p_any_ip_addresses":[…]|null,
//	 "p_any_emails":[…]|null,"raw":{…}}
//
// with the keys in this order. A raw event that is not one JSON object with
// nothing around it (no stored event is, but the store does not rely on it)
// goes in "raw_text" as a JSON string instead, or in "raw_base64" when it is
// not even UTF-8. The other text (ids, labels, indicators) is UTF-8 by the
// time it is stored: Encode refuses anything else.
package segment

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/jsonscan"
	"github.com/opwatch/opwatch/internal/store"
)

// TimeLayout is how times are written: UTC, nine fractional digits, so that
// the text sorts as the time does and equals SQLite's stored form.
const TimeLayout = "2006-01-02 15:04:05.000000000"

// Encode appends events, in the order given, as one segment to dst. It fails
// on text that is not UTF-8 (JSON cannot hold it), which no stored event has.
func Encode(dst []byte, events []store.StoredEvent) ([]byte, error) {
	dst = append(dst, '[')
	for i := range events {
		e := &events[i]
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"seq":`...)
		dst = strconv.AppendInt(dst, e.Seq, 10)
		var err error
		for _, f := range [...]struct{ key, val string }{
			{`,"account":`, e.Account}, {`,"source_id":`, e.SourceID}, {`,"log_type":`, e.LogType},
			{`,"uuid":`, e.UUID},
		} {
			dst = append(dst, f.key...)
			if dst, err = appendString(dst, f.val); err != nil {
				return nil, fmt.Errorf("event %d: %w", e.Seq, err)
			}
		}
		dst = append(dst, `,"p_event_time":"`...)
		dst = e.EventTime.UTC().AppendFormat(dst, TimeLayout)
		dst = append(dst, `","p_parse_time":"`...)
		dst = e.ParseTime.UTC().AppendFormat(dst, TimeLayout)
		dst = append(dst, `","p_row_id":`...)
		if dst, err = appendString(dst, e.RowID); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.Seq, err)
		}
		dst = append(dst, `,"p_source_label":`...)
		if dst, err = appendString(dst, e.SourceLabel); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.Seq, err)
		}
		dst = append(dst, `,"p_any_ip_addresses":`...)
		if dst, err = appendStrings(dst, e.IPs); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.Seq, err)
		}
		dst = append(dst, `,"p_any_emails":`...)
		if dst, err = appendStrings(dst, e.Emails); err != nil {
			return nil, fmt.Errorf("event %d: %w", e.Seq, err)
		}
		if embeddable(e.Raw) {
			dst = append(dst, `,"raw":`...)
			dst = append(dst, e.Raw...)
		} else if utf8.Valid(e.Raw) {
			dst = append(dst, `,"raw_text":`...)
			if dst, err = appendString(dst, string(e.Raw)); err != nil {
				return nil, fmt.Errorf("event %d: %w", e.Seq, err)
			}
		} else {
			dst = append(dst, `,"raw_base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, e.Raw)
			dst = append(dst, '"')
		}
		dst = append(dst, '}')
	}
	return append(dst, ']'), nil
}

// embeddable says whether raw is exactly one valid JSON object.
func embeddable(raw []byte) bool {
	if len(raw) == 0 || raw[0] != '{' || raw[len(raw)-1] != '}' {
		return false
	}
	p := jsonscan.Scanner{Data: raw}
	return p.SkipValue(0) && p.Pos == len(raw)
}

func appendStrings(dst []byte, ss []string) ([]byte, error) {
	if len(ss) == 0 {
		return append(dst, "null"...), nil
	}
	dst = append(dst, '[')
	for i, s := range ss {
		if i > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = appendString(dst, s); err != nil {
			return nil, err
		}
	}
	return append(dst, ']'), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Only what JSON requires is
// escaped (quote, backslash, control characters), plus U+2028/U+2029 as
// encoding/json does.
func appendString(dst []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("text %q is not UTF-8", s)
	}
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x80 {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == '\u2028' || r == '\u2029' {
				dst = append(dst, s[start:i]...)
				dst = append(dst, `\u202`...)
				dst = append(dst, hexDigits[r&0xf])
				start = i + size
			}
			i += size
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"'), nil
}

// ErrCorrupt is what Decode returns for data that is not a segment.
var ErrCorrupt = errors.New("not a lake segment")

// Decode reads a segment. Raw of each event shares data's memory.
func Decode(data []byte) ([]store.StoredEvent, error) {
	p := jsonscan.Scanner{Data: data}
	p.SkipWS()
	if p.Pos >= len(data) || data[p.Pos] != '[' {
		return nil, fmt.Errorf("%w: it does not start with [", ErrCorrupt)
	}
	p.Pos++
	p.SkipWS()
	var evs []store.StoredEvent
	if p.Pos < len(data) && data[p.Pos] == ']' {
		p.Pos++
		return evs, trailing(&p)
	}
	for {
		e, err := decodeEvent(&p)
		if err != nil {
			return nil, fmt.Errorf("%w: event %d: %w", ErrCorrupt, len(evs), err)
		}
		evs = append(evs, e)
		more, ok := p.Next(']')
		if !ok {
			return nil, fmt.Errorf("%w: %w", ErrCorrupt, p.Err)
		}
		if !more {
			return evs, trailing(&p)
		}
	}
}

func trailing(p *jsonscan.Scanner) error {
	p.SkipWS()
	if p.Pos != len(p.Data) {
		return fmt.Errorf("%w: text after the array at byte %d", ErrCorrupt, p.Pos)
	}
	return nil
}

func decodeEvent(p *jsonscan.Scanner) (store.StoredEvent, error) {
	var e store.StoredEvent
	if p.Pos >= len(p.Data) || p.Data[p.Pos] != '{' {
		return e, errors.New("not an object")
	}
	p.Pos++
	p.SkipWS()
	var key []byte
	seen := 0
	for {
		if p.Pos >= len(p.Data) || p.Data[p.Pos] != '"' {
			return e, errors.New("not an object key")
		}
		k, ok := p.String()
		if !ok || !p.Colon() {
			return e, p.Err
		}
		key = p.Decode(key[:0], k)
		var err error
		switch string(key) {
		case "seq":
			if p.Pos >= len(p.Data) || (p.Data[p.Pos] != '-' && (p.Data[p.Pos] < '0' || p.Data[p.Pos] > '9')) {
				return e, errors.New("not a number")
			}
			n, ok := p.Number()
			if !ok {
				return e, p.Err
			}
			if e.Seq, err = strconv.ParseInt(string(p.Data[n.Start:n.End]), 10, 64); err != nil {
				return e, fmt.Errorf("seq: %w", err)
			}
		case "account":
			e.Account, err = str(p)
		case "source_id":
			e.SourceID, err = str(p)
		case "log_type":
			e.LogType, err = str(p)
		case "uuid":
			e.UUID, err = str(p)
		case "p_event_time":
			e.EventTime, err = timeValue(p)
		case "p_parse_time":
			e.ParseTime, err = timeValue(p)
		case "p_row_id":
			e.RowID, err = str(p)
		case "p_source_label":
			e.SourceLabel, err = str(p)
		case "p_any_ip_addresses":
			e.IPs, err = strs(p)
		case "p_any_emails":
			e.Emails, err = strs(p)
		case "raw":
			start := p.Pos
			if !p.SkipValue(1) {
				return e, p.Err
			}
			e.Raw = p.Data[start:p.Pos:p.Pos]
		case "raw_text":
			var s string
			s, err = str(p)
			e.Raw = []byte(s)
		case "raw_base64":
			var s string
			if s, err = str(p); err == nil {
				e.Raw, err = base64.StdEncoding.DecodeString(s)
			}
		default:
			return e, fmt.Errorf("unknown key %q", key)
		}
		if err != nil {
			return e, fmt.Errorf("%s: %w", key, err)
		}
		seen++
		more, ok := p.Next('}')
		if !ok {
			return e, p.Err
		}
		if !more {
			break
		}
	}
	if seen != 12 {
		return e, fmt.Errorf("%d keys, want 12", seen)
	}
	return e, nil
}

func str(p *jsonscan.Scanner) (string, error) {
	if p.Pos >= len(p.Data) || p.Data[p.Pos] != '"' {
		return "", errors.New("not a string")
	}
	t, ok := p.String()
	if !ok {
		return "", p.Err
	}
	if !t.Escaped {
		return string(p.Data[t.Start:t.End]), nil
	}
	return string(p.Decode(nil, t)), nil
}

func strs(p *jsonscan.Scanner) ([]string, error) {
	if bytes.HasPrefix(p.Data[p.Pos:], []byte("null")) {
		p.Pos += 4
		return nil, nil
	}
	if p.Pos >= len(p.Data) || p.Data[p.Pos] != '[' {
		return nil, errors.New("not an array of strings")
	}
	p.Pos++
	p.SkipWS()
	if p.Pos < len(p.Data) && p.Data[p.Pos] == ']' {
		p.Pos++
		return []string{}, nil
	}
	var ss []string
	for {
		s, err := str(p)
		if err != nil {
			return nil, err
		}
		ss = append(ss, s)
		more, ok := p.Next(']')
		if !ok {
			return nil, p.Err
		}
		if !more {
			return ss, nil
		}
	}
}

func timeValue(p *jsonscan.Scanner) (time.Time, error) {
	s, err := str(p)
	if err != nil {
		return time.Time{}, err
	}
	return time.ParseInLocation(TimeLayout, s, time.UTC)
}

// Elements calls fn with the text of each event of a segment, in order,
// found by the JSON's structure alone: a reader that wants a few events of
// a segment (an indicator's, an alert's) looks at each one's bytes and
// decodes only those with DecodeOne, at a fraction of Decode's cost.
func Elements(data []byte, fn func(elem []byte) error) error {
	p := jsonscan.Scanner{Data: data}
	p.SkipWS()
	if p.Pos >= len(data) || data[p.Pos] != '[' {
		return fmt.Errorf("%w: it does not start with [", ErrCorrupt)
	}
	p.Pos++
	p.SkipWS()
	if p.Pos < len(data) && data[p.Pos] == ']' {
		return nil
	}
	for {
		start := p.Pos
		if !p.SkipStructure(1) {
			return fmt.Errorf("%w: %w", ErrCorrupt, p.Err)
		}
		if err := fn(data[start:p.Pos]); err != nil {
			return err
		}
		more, ok := p.Next(']')
		if !ok {
			return fmt.Errorf("%w: %w", ErrCorrupt, p.Err)
		}
		if !more {
			return nil
		}
	}
}

// DecodeOne decodes one event that Elements found. Raw shares elem's
// memory.
func DecodeOne(elem []byte) (store.StoredEvent, error) {
	p := jsonscan.Scanner{Data: elem}
	e, err := decodeEvent(&p)
	if err != nil {
		return e, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	p.SkipWS()
	if p.Pos != len(elem) {
		return e, fmt.Errorf("%w: text after the event", ErrCorrupt)
	}
	return e, nil
}

// ElementSeq reads the seq an event's text starts with (Encode writes it
// first), without decoding the rest; false when the text does not start so.
func ElementSeq(elem []byte) (int64, bool) {
	const prefix = `{"seq":`
	if !bytes.HasPrefix(elem, []byte(prefix)) {
		return 0, false
	}
	end := len(prefix)
	for end < len(elem) && (elem[end] == '-' || '0' <= elem[end] && elem[end] <= '9') {
		end++
	}
	n, err := strconv.ParseInt(string(elem[len(prefix):end]), 10, 64)
	return n, err == nil
}

// Field returns the text of one of the event's own fields (not the raw
// event's) in an event's text from Elements, such as "p_any_emails": a
// reader tests a few bytes instead of the event. Encode writes those fields
// before the raw event, so the first match is the field. ok is false when
// the field is not found.
func Field(elem []byte, name string) (value []byte, ok bool) {
	key := make([]byte, 0, len(name)+4)
	key = append(append(append(key, ',', '"'), name...), '"', ':')
	i := bytes.Index(elem, key)
	if i < 0 {
		return nil, false
	}
	p := jsonscan.Scanner{Data: elem, Pos: i + len(key)}
	start := p.Pos
	if !p.SkipValue(1) {
		return nil, false
	}
	return elem[start:p.Pos], true
}
