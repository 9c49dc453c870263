package onepassword

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// maxDepth is encoding/json's nesting limit, kept so both accept the same
// documents.
const maxDepth = 10000

// decodePage reads a page envelope {cursor, has_more, items} in one pass,
// about eight times faster than encoding/json (BenchmarkDecodePage). Items
// are sub-slices of body, exactly as sent, so the caller owns body with the
// page. The whole body is validated, so a truncated or garbled response is
// an error and never half a page. It accepts exactly what encoding/json
// decodes into map[string]json.RawMessage, the last of duplicate keys
// winning (FuzzDecodePage checks this).
func decodePage(body []byte) (Page, error) {
	s := scanner{data: body}
	var p Page
	s.space()
	if s.literal("null") {
		s.space()
		if s.pos != len(s.data) {
			return Page{}, s.errorf("data after the response")
		}
		return p, nil
	}
	if !s.consume('{') {
		return Page{}, s.errorf("the response is not a JSON object")
	}
	var cursor, hasMore []byte
	var itemsErr error
	s.space()
	if !s.consume('}') {
		for {
			s.space()
			ks, ke, esc, err := s.str()
			if err != nil {
				return Page{}, err
			}
			key := s.data[ks:ke]
			if esc {
				key = unquoteKey(s.data[ks-1 : ke+1])
			}
			s.space()
			if !s.consume(':') {
				return Page{}, s.errorf("expected ':' after a key")
			}
			s.space()
			start := s.pos
			switch string(key) {
			case "items":
				var items []json.RawMessage
				items, itemsErr = s.items(p.Items[:0])
				if itemsErr != nil && s.err != nil {
					return Page{}, s.err
				}
				p.Items = items
			default:
				if err := s.value(1); err != nil {
					return Page{}, err
				}
				switch string(key) {
				case "cursor":
					cursor = s.data[start:s.pos]
				case "has_more":
					hasMore = s.data[start:s.pos]
				}
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				break
			}
			return Page{}, s.errorf("expected ',' or '}' in the response object")
		}
	}
	s.space()
	if s.pos != len(s.data) {
		return Page{}, s.errorf("data after the response object")
	}
	if itemsErr != nil {
		return Page{}, itemsErr
	}
	var err error
	if p.Cursor, err = stringValue(cursor); err != nil {
		return Page{}, err
	}
	switch string(hasMore) {
	case "", "null", "false":
	case "true":
		p.HasMore = true
	default:
		return Page{}, errors.New("has_more is not a boolean")
	}
	return p, nil
}

// items reads the items value: an array, or null. A value of another type
// is skipped and reported, but only after the whole body proved valid.
func (s *scanner) items(dst []json.RawMessage) ([]json.RawMessage, error) {
	if s.literal("null") {
		return nil, nil
	}
	if !s.consume('[') {
		if err := s.value(1); err != nil {
			return nil, err
		}
		return nil, errors.New("items is not an array")
	}
	s.space()
	if s.consume(']') {
		return dst, nil
	}
	for {
		s.space()
		start := s.pos
		if err := s.value(2); err != nil {
			return nil, err
		}
		dst = append(dst, s.data[start:s.pos])
		s.space()
		if s.consume(',') {
			continue
		}
		if s.consume(']') {
			return dst, nil
		}
		return nil, s.errorf("expected ',' or ']' in items")
	}
}

// stringValue decodes a JSON string or null; raw is empty when absent.
func stringValue(raw []byte) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] != '"' {
		return "", errors.New("cursor is not a string")
	}
	in := raw[1 : len(raw)-1]
	if bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in), nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", fmt.Errorf("cursor: %w", err)
	}
	return v, nil
}

func unquoteKey(raw []byte) []byte {
	var v string
	if json.Unmarshal(raw, &v) != nil {
		return nil
	}
	return []byte(v)
}

// scanner validates JSON the way encoding/json does, without building values.
type scanner struct {
	data []byte
	pos  int
	err  error
}

func (s *scanner) errorf(format string, args ...any) error {
	if s.err == nil {
		if s.pos >= len(s.data) {
			s.err = fmt.Errorf("the response ends early (after %d bytes): %s", len(s.data), fmt.Sprintf(format, args...))
		} else {
			s.err = fmt.Errorf("invalid JSON at byte %d: %s", s.pos, fmt.Sprintf(format, args...))
		}
	}
	return s.err
}

func (s *scanner) space() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

func (s *scanner) consume(c byte) bool {
	if s.pos < len(s.data) && s.data[s.pos] == c {
		s.pos++
		return true
	}
	return false
}

func (s *scanner) literal(word string) bool {
	if len(s.data)-s.pos >= len(word) && string(s.data[s.pos:s.pos+len(word)]) == word {
		s.pos += len(word)
		return true
	}
	return false
}

// value skips one JSON value at the given nesting depth of its container.
func (s *scanner) value(depth int) error {
	if s.pos >= len(s.data) {
		return s.errorf("expected a value")
	}
	switch c := s.data[s.pos]; {
	case c == '"':
		_, _, _, err := s.str()
		return err
	case c == '{':
		if depth+1 > maxDepth {
			return s.errorf("nested too deeply")
		}
		s.pos++
		s.space()
		if s.consume('}') {
			return nil
		}
		for {
			s.space()
			if _, _, _, err := s.str(); err != nil {
				return err
			}
			s.space()
			if !s.consume(':') {
				return s.errorf("expected ':' after a key")
			}
			s.space()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume('}') {
				return nil
			}
			return s.errorf("expected ',' or '}' in an object")
		}
	case c == '[':
		if depth+1 > maxDepth {
			return s.errorf("nested too deeply")
		}
		s.pos++
		s.space()
		if s.consume(']') {
			return nil
		}
		for {
			s.space()
			if err := s.value(depth + 1); err != nil {
				return err
			}
			s.space()
			if s.consume(',') {
				continue
			}
			if s.consume(']') {
				return nil
			}
			return s.errorf("expected ',' or ']' in an array")
		}
	case c == '-' || ('0' <= c && c <= '9'):
		return s.number()
	case c == 't':
		if s.literal("true") {
			return nil
		}
	case c == 'f':
		if s.literal("false") {
			return nil
		}
	case c == 'n':
		if s.literal("null") {
			return nil
		}
	}
	return s.errorf("unexpected character %q", s.data[s.pos])
}

// str skips a string at s.pos and returns the bounds of its contents and
// whether it holds escapes.
func (s *scanner) str() (start, end int, escaped bool, err error) {
	if !s.consume('"') {
		return 0, 0, false, s.errorf("expected a string")
	}
	start = s.pos
	d := s.data
	for i := s.pos; i < len(d); {
		// Most bytes are plain; skip them in a tight loop.
		for i < len(d) && d[i] >= 0x20 && d[i] != '"' && d[i] != '\\' {
			i++
		}
		if i >= len(d) {
			break
		}
		c := d[i]
		switch {
		case c == '"':
			s.pos = i + 1
			return start, i, escaped, nil
		case c == '\\':
			escaped = true
			if i+1 >= len(d) {
				s.pos = len(d)
				return 0, 0, false, s.errorf("unterminated string")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(d) {
					s.pos = len(d)
					return 0, 0, false, s.errorf("unterminated string")
				}
				for _, h := range d[i+2 : i+6] {
					if !isHex(h) {
						s.pos = i
						return 0, 0, false, s.errorf("invalid \\u escape")
					}
				}
				i += 6
			default:
				s.pos = i
				return 0, 0, false, s.errorf("invalid escape in a string")
			}
		case c < 0x20:
			s.pos = i
			return 0, 0, false, s.errorf("control character in a string")
		default:
			i++
		}
	}
	s.pos = len(d)
	return 0, 0, false, s.errorf("unterminated string")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number skips a JSON number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() error {
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return s.errorf("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return s.errorf("invalid number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return s.errorf("invalid number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return nil
}
