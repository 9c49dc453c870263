package detect

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"

	"go.starlark.net/starlark"
)

// appendJSON writes a Starlark value as JSON, dict keys in their order
// (as Python's json.dumps, which Panther's alert_context goes through).
// It is the hot path of every match and every rule-state write, so it
// writes directly instead of building Go values for encoding/json.
func appendJSON(b []byte, v starlark.Value, depth int) ([]byte, error) {
	if depth > 100 {
		return nil, errors.New("value nested too deep")
	}
	switch x := v.(type) {
	case starlark.NoneType:
		return append(b, "null"...), nil
	case starlark.Bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case starlark.Int:
		if i, ok := x.Int64(); ok {
			return strconv.AppendInt(b, i, 10), nil
		}
		return append(b, x.String()...), nil
	case starlark.Float:
		f := float64(x)
		if math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fmt.Errorf("%v cannot be stored as JSON", x)
		}
		return appendFloat(b, f), nil
	case starlark.String:
		return appendString(b, string(x)), nil
	case starlark.IterableMapping:
		b = append(b, '{')
		for i, kv := range x.Items() {
			k, ok := kv[0].(starlark.String)
			if !ok {
				return nil, fmt.Errorf("dict key %s is %s, want a string", kv[0], kv[0].Type())
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, string(k))
			b = append(b, ':')
			var err error
			if b, err = appendJSON(b, kv[1], depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case starlark.Iterable:
		b = append(b, '[')
		it := x.Iterate()
		defer it.Done()
		var e starlark.Value
		for i := 0; it.Next(&e); i++ {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendJSON(b, e, depth+1); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	return nil, fmt.Errorf("a %s cannot be stored as JSON", v.Type())
}

// appendFloat formats as encoding/json does.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// e-09 → e-9, as encoding/json
		n := len(b)
		if n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// appendString quotes s as JSON; text that is not UTF-8 becomes U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
