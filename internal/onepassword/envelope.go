package onepassword

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/opwatch/opwatch/internal/jsonscan"
)

// errTooManyItems: a page holds more items than the request allowed.
var errTooManyItems = errors.New("more items than the page limit")

// decodePage reads a page envelope {cursor, has_more, items} in one pass.
// Items are sub-slices of body, exactly as sent, so the caller owns body
// with the page.
//
// The envelope's own parts are validated (as encoding/json would, but
// rejecting text that is not UTF-8); the items are only cut apart by their
// structure (jsonscan.SkipStructure) and not judged: each is validated
// once, by package logtype, and one bad item is quarantined there instead
// of failing the page. A body whose items cannot be told apart (an
// unterminated string or array, brackets that do not match) is an error.
// More than maxItems items is errTooManyItems, found before they are all
// kept. Of duplicate keys the last one counts, as in encoding/json.
func decodePage(body []byte, maxItems int) (Page, error) {
	s := jsonscan.Scanner{Data: body}
	var p Page
	s.SkipWS()
	if s.Pos < len(body) && body[s.Pos] == 'n' {
		if !s.Literal("null") {
			return Page{}, s.Err
		}
		if !end(&s) {
			return Page{}, s.Err
		}
		return p, nil
	}
	if s.Pos >= len(body) || body[s.Pos] != '{' {
		if s.Pos >= len(body) {
			return Page{}, errors.New("the response is empty")
		}
		return Page{}, errors.New("the response is not a JSON object")
	}
	s.Pos++
	s.SkipWS()
	var cursor, hasMore []byte
	var itemsErr error
	if s.Pos < len(body) && body[s.Pos] == '}' {
		s.Pos++
	} else {
		var scratch [16]byte
		for {
			if s.Pos >= len(body) || body[s.Pos] != '"' {
				s.Unexpected("looking for a key of the response object")
				return Page{}, s.Err
			}
			k, ok := s.String()
			if !ok {
				return Page{}, s.Err
			}
			key := body[k.Start:k.End]
			if k.Escaped {
				key = s.Decode(scratch[:0], k)
			}
			if !s.Colon() {
				return Page{}, s.Err
			}
			start := s.Pos
			switch string(key) {
			case "items":
				p.Items, itemsErr = items(&s, p.Items[:0], maxItems)
				if s.Err != nil {
					return Page{}, s.Err
				}
				if errors.Is(itemsErr, errTooManyItems) {
					return Page{}, itemsErr
				}
			default:
				if !s.SkipValue(1) {
					return Page{}, s.Err
				}
				switch string(key) {
				case "cursor":
					cursor = body[start:s.Pos]
				case "has_more":
					hasMore = body[start:s.Pos]
				}
			}
			more, ok := s.Next('}')
			if !ok {
				return Page{}, s.Err
			}
			if !more {
				break
			}
		}
	}
	if !end(&s) {
		return Page{}, s.Err
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

// end checks that nothing but spaces follows the response.
func end(s *jsonscan.Scanner) bool {
	s.SkipWS()
	if s.Pos < len(s.Data) {
		return s.Syntax("data after the response")
	}
	return true
}

// items cuts the items value, an array or null, into raw items. A value
// of another type is stepped over and reported, after the whole body has
// been read.
func items(s *jsonscan.Scanner, dst []json.RawMessage, maxItems int) ([]json.RawMessage, error) {
	d := s.Data
	if s.Pos < len(d) && d[s.Pos] == 'n' {
		s.Literal("null")
		return nil, nil
	}
	if s.Pos >= len(d) || d[s.Pos] != '[' {
		s.SkipValue(1)
		return nil, errors.New("items is not an array")
	}
	s.Pos++
	s.SkipWS()
	if s.Pos < len(d) && d[s.Pos] == ']' {
		s.Pos++
		return dst, nil
	}
	for {
		if len(dst) >= maxItems {
			return nil, fmt.Errorf("%w (%d)", errTooManyItems, maxItems)
		}
		start := s.Pos
		if !s.SkipStructure(2) {
			return nil, s.Err
		}
		dst = append(dst, d[start:s.Pos])
		more, ok := s.Next(']')
		if !ok {
			return nil, s.Err
		}
		if !more {
			return dst, nil
		}
	}
}

// stringValue decodes the cursor, a JSON string or null, already checked
// by the scanner; raw is empty when absent.
func stringValue(raw []byte) (string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] != '"' {
		return "", errors.New("cursor is not a string")
	}
	s := jsonscan.Scanner{Data: raw}
	tok, ok := s.String()
	if !ok {
		return "", fmt.Errorf("cursor: %w", s.Err)
	}
	return string(s.Decode(nil, tok)), nil
}
