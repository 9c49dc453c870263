package logtype

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The JSON scanner: it accepts exactly what encoding/json's json.Valid
// accepts, except bytes that are not UTF-8 (see scanString), and reports
// the first syntax error with its offset.

// maxDepth is encoding/json's limit on nesting; json.Valid rejects deeper input.
const maxDepth = 10000

func (p *parser) skipWS() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// syntax records a syntax error at the current offset. It always returns
// false, for the callers' convenience.
func (p *parser) syntax(what string) bool {
	p.err = &ValidationError{Reason: fmt.Sprintf("not valid JSON: %s at offset %d", what, p.pos)}
	return false
}

// unexpected reports the byte at the current offset, or the end of input.
func (p *parser) unexpected(context string) bool {
	if p.pos >= len(p.data) {
		return p.syntax("unexpected end of input " + context)
	}
	return p.syntax(fmt.Sprintf("unexpected %s %s", quoteByte(p.data[p.pos]), context))
}

func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return strconv.QuoteRune(rune(c))
}

// stringToken is a JSON string in p.data: its contents lie between start
// and end, and escaped says whether they need decoding.
type stringToken struct {
	start, end int
	escaped    bool
}

func (s stringToken) empty() bool { return s.start == s.end }

// scanString reads the string at p.pos (which holds '"') and checks its
// escapes. Unlike encoding/json, which silently turns bytes that are not
// UTF-8 into U+FFFD, it rejects them: the stored event must read the same
// in every engine and tool.
func (p *parser) scanString() (stringToken, bool) {
	d := p.data
	i := p.pos + 1
	tok := stringToken{start: i}
	for {
		i = nextSpecial(d, i)
		if i >= len(d) {
			p.pos = len(d)
			return tok, p.unexpected("in string")
		}
		switch c := d[i]; {
		case c == '"':
			tok.end = i
			p.pos = i + 1
			return tok, true
		case c == '\\':
			tok.escaped = true
			if i+1 >= len(d) {
				p.pos = len(d)
				return tok, p.unexpected("in string escape")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d) || !isHex(d[j]) {
						p.pos = j
						return tok, p.unexpected(`in \u escape`)
					}
				}
				i += 6
			default:
				p.pos = i + 1
				return tok, p.unexpected("after backslash in string")
			}
		case c < 0x20:
			p.pos = i
			return tok, p.syntax(fmt.Sprintf("control character 0x%02x in string", c))
		default: // from 0x80
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				p.pos = i
				p.err = &ValidationError{Reason: fmt.Sprintf("not UTF-8 text: invalid byte 0x%02x at offset %d", c, i)}
				return tok, false
			}
			i += size
		}
	}
}

// nextSpecial returns the offset of the first byte from i that a string
// scan must look at: '"', '\\', a control character, or a byte from 0x80
// (the start of a multi-byte UTF-8 sequence); len(d) if there is none.
// It reads 8 bytes at a time: strings are most of an event's bytes.
func nextSpecial(d []byte, i int) int {
	for ; i+8 <= len(d); i += 8 {
		if m := special8(binary.LittleEndian.Uint64(d[i:])); m != 0 {
			return i + bits.TrailingZeros64(m)/8
		}
	}
	for ; i < len(d); i++ {
		if c := d[i]; c == '"' || c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

// special8 flags, in the high bit of each byte of the result, the bytes
// of x (8 bytes, little-endian) that nextSpecial looks for. The tests for a
// zero byte and for a byte below n are the classic ones ("Bit Twiddling
// Hacks"): they can flag a plain byte above a special one, never one below
// it, so the lowest flag is exact.
func special8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote := x ^ ('"' * ones)
	backslash := x ^ ('\\' * ones)
	m := (quote - ones) &^ quote
	m |= (backslash - ones) &^ backslash
	m |= (x - 0x20*ones) &^ x // a byte below 0x20
	m |= x                    // a byte from 0x80
	return m & highs
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// decode appends the contents of s to dst, unescaped as encoding/json does
// (a lone UTF-16 surrogate becomes U+FFFD). s has been checked by scanString.
func (p *parser) decode(dst []byte, s stringToken) []byte {
	d := p.data[s.start:s.end]
	if !s.escaped {
		return append(dst, d...)
	}
	for i := 0; i < len(d); {
		c := d[i]
		if c != '\\' {
			dst = append(dst, c)
			i++
			continue
		}
		switch d[i+1] {
		case 'b':
			dst = append(dst, '\b')
		case 'f':
			dst = append(dst, '\f')
		case 'n':
			dst = append(dst, '\n')
		case 'r':
			dst = append(dst, '\r')
		case 't':
			dst = append(dst, '\t')
		case 'u':
			r := hex4(d[i+2 : i+6])
			i += 6
			if utf16.IsSurrogate(r) {
				if i+6 <= len(d) && d[i] == '\\' && d[i+1] == 'u' {
					if dec := utf16.DecodeRune(r, hex4(d[i+2:i+6])); dec != utf8.RuneError {
						r = dec
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			dst = utf8.AppendRune(dst, r)
			continue
		default: // '"', '\\', '/'
			dst = append(dst, d[i+1])
		}
		i += 2
	}
	return dst
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case c <= '9':
			c -= '0'
		case c <= 'F':
			c -= 'A' - 10
		default:
			c -= 'a' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
}

// number is a JSON number in p.data.
type number struct {
	start, end int
	integer    bool // no fraction, no exponent
}

// scanNumber reads the number at p.pos (which holds '-' or a digit).
func (p *parser) scanNumber() (number, bool) {
	d := p.data
	i := p.pos
	n := number{start: i, integer: true}
	if d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		p.pos = i
		return n, p.unexpected("in number")
	case d[i] == '0':
		i++
	case '1' <= d[i] && d[i] <= '9':
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	default:
		p.pos = i
		return n, p.unexpected("in number")
	}
	if i < len(d) && d[i] == '.' {
		n.integer = false
		i++
		if i >= len(d) || !isDigit(d[i]) {
			p.pos = i
			return n, p.unexpected("after decimal point in number")
		}
		for ; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		n.integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			p.pos = i
			return n, p.unexpected("in exponent of number")
		}
		for ; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	n.end = i
	p.pos = i
	return n, true
}

// fitsInt64 reports whether an integer number is within int64, as
// encoding/json requires to decode it into an int64.
func fitsInt64(b []byte) bool {
	limit := "9223372036854775807"
	if b[0] == '-' {
		b = b[1:]
		limit = "9223372036854775808"
	}
	// JSON integers have no leading zeros, so length orders them.
	return len(b) < len(limit) || len(b) == len(limit) && string(b) <= limit
}

// fitsFloat64 reports whether a number is within float64, as encoding/json
// requires to decode it into a float64. Numbers of ordinary magnitude are
// answered without strconv, which would need a string.
func fitsFloat64(b []byte) bool {
	i := 0
	if b[i] == '-' {
		i++
	}
	// The decimal exponent of the first significant digit, roughly.
	mag := 0
	for ; i < len(b) && isDigit(b[i]); i++ {
		mag++
	}
	if i < len(b) && b[i] == '.' {
		i++
		for ; i < len(b) && isDigit(b[i]); i++ {
		}
	}
	if i < len(b) {
		i++ // e or E
		neg := false
		if b[i] == '+' || b[i] == '-' {
			neg = b[i] == '-'
			i++
		}
		exp := 0
		for ; i < len(b) && exp < 1e6; i++ {
			exp = exp*10 + int(b[i]-'0')
		}
		if neg {
			exp = -exp
		}
		mag += exp
	}
	if -300 < mag && mag < 300 {
		return true
	}
	_, err := strconv.ParseFloat(string(b), 64)
	return err == nil
}

// literal reads true, false or null at p.pos.
func (p *parser) literal(word string) bool {
	if len(p.data)-p.pos >= len(word) && string(p.data[p.pos:p.pos+len(word)]) == word {
		p.pos += len(word)
		return true
	}
	for i := 0; i < len(word); i++ {
		if p.pos >= len(p.data) || p.data[p.pos] != word[i] {
			return p.unexpected("in literal " + word)
		}
		p.pos++
	}
	return true // not reached
}

// skipValue checks and steps over any value at p.pos. depth is the nesting
// depth of the value's container.
func (p *parser) skipValue(depth int) bool {
	if p.pos >= len(p.data) {
		return p.unexpected("looking for a value")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.skipObject(depth + 1)
	case c == '[':
		return p.skipArray(depth + 1)
	case c == '"':
		_, ok := p.scanString()
		return ok
	case c == '-' || isDigit(c):
		_, ok := p.scanNumber()
		return ok
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return p.unexpected("looking for a value")
}

func (p *parser) skipObject(depth int) bool {
	if depth > maxDepth {
		return p.syntax(fmt.Sprintf("nested more than %d levels deep", maxDepth))
	}
	p.pos++ // '{'
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return true
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return p.unexpected("looking for an object key")
		}
		if _, ok := p.scanString(); !ok {
			return false
		}
		if !p.colon() {
			return false
		}
		if !p.skipValue(depth) {
			return false
		}
		more, ok := p.next('}')
		if !ok || !more {
			return ok
		}
	}
}

func (p *parser) skipArray(depth int) bool {
	if depth > maxDepth {
		return p.syntax(fmt.Sprintf("nested more than %d levels deep", maxDepth))
	}
	p.pos++ // '['
	p.skipWS()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return true
	}
	for {
		if !p.skipValue(depth) {
			return false
		}
		more, ok := p.next(']')
		if !ok || !more {
			return ok
		}
	}
}

// colon steps over the ':' after an object key, and the spaces around it.
func (p *parser) colon() bool {
	p.skipWS()
	if p.pos >= len(p.data) || p.data[p.pos] != ':' {
		return p.unexpected("after object key")
	}
	p.pos++
	p.skipWS()
	return true
}

// next steps over the ',' or the closing byte after a member or element.
// more says whether another one follows.
func (p *parser) next(closing byte) (more, ok bool) {
	p.skipWS()
	if p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ',':
			p.pos++
			p.skipWS()
			return true, true
		case closing:
			p.pos++
			return false, true
		}
	}
	if closing == '}' {
		return false, p.unexpected("after object value")
	}
	return false, p.unexpected("after array element")
}
