// Package jsonscan reads JSON text in place, without building values. It
// has two readers over one Scanner:
//
//   - the validator (String, Number, Literal, SkipValue, ...) accepts exactly
//     what encoding/json's json.Valid accepts, except text that is not UTF-8,
//     and reports the first error with its offset; package logtype builds
//     its event parser on it, the one place an event is judged;
//   - SkipStructure finds where a value ends from its brackets and quotes
//     alone, so that the Events API client can cut a page into raw items
//     without judging them.
package jsonscan

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is encoding/json's limit on nesting; json.Valid rejects deeper input.
const MaxDepth = 10000

// Scanner reads Data from Pos. Err is the first error; once it is set the
// methods that found it return false and Pos is where it was found.
type Scanner struct {
	Data []byte
	Pos  int
	Err  *Error
}

// Error is a place where Data is not valid JSON, or not UTF-8 text.
type Error struct {
	Offset  int
	What    string
	NotUTF8 bool
}

func (e *Error) Error() string {
	if e.NotUTF8 {
		return fmt.Sprintf("not UTF-8 text: %s at offset %d", e.What, e.Offset)
	}
	return fmt.Sprintf("not valid JSON: %s at offset %d", e.What, e.Offset)
}

func (p *Scanner) SkipWS() {
	for p.Pos < len(p.Data) {
		switch p.Data[p.Pos] {
		case ' ', '\t', '\n', '\r':
			p.Pos++
		default:
			return
		}
	}
}

// Syntax records a syntax error at the current offset. It always returns
// false, for the callers' convenience.
func (p *Scanner) Syntax(what string) bool {
	p.Err = &Error{Offset: p.Pos, What: what}
	return false
}

// Unexpected reports the byte at the current offset, or the end of input.
func (p *Scanner) Unexpected(context string) bool {
	if p.Pos >= len(p.Data) {
		return p.Syntax("unexpected end of input " + context)
	}
	return p.Syntax(fmt.Sprintf("unexpected %s %s", quoteByte(p.Data[p.Pos]), context))
}

func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return fmt.Sprintf("byte 0x%02x", c)
	}
	return strconv.QuoteRune(rune(c))
}

// Token is a JSON string in p.Data: its contents lie between start
// and end, and escaped says whether they need decoding.
type Token struct {
	Start, End int
	Escaped    bool
}

// Empty reports whether the string has no contents.
func (s Token) Empty() bool { return s.Start == s.End }

// String reads the string at p.Pos (which holds '"') and checks its
// escapes. Unlike encoding/json, which silently turns bytes that are not
// UTF-8 into U+FFFD, it rejects them: the stored event must read the same
// in every engine and tool.
func (p *Scanner) String() (Token, bool) {
	d := p.Data
	i := p.Pos + 1
	tok := Token{Start: i}
	for {
		i = nextSpecial(d, i)
		if i >= len(d) {
			p.Pos = len(d)
			return tok, p.Unexpected("in string")
		}
		switch c := d[i]; {
		case c == '"':
			tok.End = i
			p.Pos = i + 1
			return tok, true
		case c == '\\':
			tok.Escaped = true
			if i+1 >= len(d) {
				p.Pos = len(d)
				return tok, p.Unexpected("in string escape")
			}
			switch d[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for j := i + 2; j < i+6; j++ {
					if j >= len(d) || !isHex(d[j]) {
						p.Pos = j
						return tok, p.Unexpected(`in \u escape`)
					}
				}
				i += 6
			default:
				p.Pos = i + 1
				return tok, p.Unexpected("after backslash in string")
			}
		case c < 0x20:
			p.Pos = i
			return tok, p.Syntax(fmt.Sprintf("control character 0x%02x in string", c))
		default: // from 0x80
			r, size := utf8.DecodeRune(d[i:])
			if r == utf8.RuneError && size == 1 {
				p.Pos = i
				p.Err = &Error{Offset: i, What: fmt.Sprintf("invalid byte 0x%02x", c), NotUTF8: true}
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

// Decode appends the contents of s to dst, unescaped as encoding/json does
// (a lone UTF-16 surrogate becomes U+FFFD). s has been checked by scanString.
func (p *Scanner) Decode(dst []byte, s Token) []byte {
	d := p.Data[s.Start:s.End]
	if !s.Escaped {
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

// Number is a JSON number in Data.
type Number struct {
	Start, End int
	Integer    bool // no fraction, no exponent
}

// Number reads the number at p.Pos (which holds '-' or a digit).
func (p *Scanner) Number() (Number, bool) {
	d := p.Data
	i := p.Pos
	n := Number{Start: i, Integer: true}
	if d[i] == '-' {
		i++
	}
	switch {
	case i >= len(d):
		p.Pos = i
		return n, p.Unexpected("in number")
	case d[i] == '0':
		i++
	case '1' <= d[i] && d[i] <= '9':
		for i++; i < len(d) && isDigit(d[i]); i++ {
		}
	default:
		p.Pos = i
		return n, p.Unexpected("in number")
	}
	if i < len(d) && d[i] == '.' {
		n.Integer = false
		i++
		if i >= len(d) || !isDigit(d[i]) {
			p.Pos = i
			return n, p.Unexpected("after decimal point in number")
		}
		for ; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		n.Integer = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || !isDigit(d[i]) {
			p.Pos = i
			return n, p.Unexpected("in exponent of number")
		}
		for ; i < len(d) && isDigit(d[i]); i++ {
		}
	}
	n.End = i
	p.Pos = i
	return n, true
}

// Literal reads true, false or null at p.Pos.
func (p *Scanner) Literal(word string) bool {
	if len(p.Data)-p.Pos >= len(word) && string(p.Data[p.Pos:p.Pos+len(word)]) == word {
		p.Pos += len(word)
		return true
	}
	for i := 0; i < len(word); i++ {
		if p.Pos >= len(p.Data) || p.Data[p.Pos] != word[i] {
			return p.Unexpected("in literal " + word)
		}
		p.Pos++
	}
	return true // not reached
}

// SkipValue checks and steps over any value at p.Pos. depth is the nesting
// depth of the value's container.
func (p *Scanner) SkipValue(depth int) bool {
	if p.Pos >= len(p.Data) {
		return p.Unexpected("looking for a value")
	}
	switch c := p.Data[p.Pos]; {
	case c == '{':
		return p.skipObject(depth + 1)
	case c == '[':
		return p.skipArray(depth + 1)
	case c == '"':
		_, ok := p.String()
		return ok
	case c == '-' || isDigit(c):
		_, ok := p.Number()
		return ok
	case c == 't':
		return p.Literal("true")
	case c == 'f':
		return p.Literal("false")
	case c == 'n':
		return p.Literal("null")
	}
	return p.Unexpected("looking for a value")
}

func (p *Scanner) skipObject(depth int) bool {
	if depth > MaxDepth {
		return p.Syntax(fmt.Sprintf("nested more than %d levels deep", MaxDepth))
	}
	p.Pos++ // '{'
	p.SkipWS()
	if p.Pos < len(p.Data) && p.Data[p.Pos] == '}' {
		p.Pos++
		return true
	}
	for {
		if p.Pos >= len(p.Data) || p.Data[p.Pos] != '"' {
			return p.Unexpected("looking for an object key")
		}
		if _, ok := p.String(); !ok {
			return false
		}
		if !p.Colon() {
			return false
		}
		if !p.SkipValue(depth) {
			return false
		}
		more, ok := p.Next('}')
		if !ok || !more {
			return ok
		}
	}
}

func (p *Scanner) skipArray(depth int) bool {
	if depth > MaxDepth {
		return p.Syntax(fmt.Sprintf("nested more than %d levels deep", MaxDepth))
	}
	p.Pos++ // '['
	p.SkipWS()
	if p.Pos < len(p.Data) && p.Data[p.Pos] == ']' {
		p.Pos++
		return true
	}
	for {
		if !p.SkipValue(depth) {
			return false
		}
		more, ok := p.Next(']')
		if !ok || !more {
			return ok
		}
	}
}

// Colon steps over the ':' after an object key, and the spaces around it.
func (p *Scanner) Colon() bool {
	p.SkipWS()
	if p.Pos >= len(p.Data) || p.Data[p.Pos] != ':' {
		return p.Unexpected("after object key")
	}
	p.Pos++
	p.SkipWS()
	return true
}

// Next steps over the ',' or the closing byte after a member or element.
// more says whether another one follows.
func (p *Scanner) Next(closing byte) (more, ok bool) {
	p.SkipWS()
	if p.Pos < len(p.Data) {
		switch p.Data[p.Pos] {
		case ',':
			p.Pos++
			p.SkipWS()
			return true, true
		case closing:
			p.Pos++
			return false, true
		}
	}
	if closing == '}' {
		return false, p.Unexpected("after object value")
	}
	return false, p.Unexpected("after array element")
}

// SkipStructure steps over the value at Pos by its structure alone: a
// string ends at its first unescaped quote, an object or array at its
// matching closer, anything else before the next delimiter. Nothing else
// is checked (bytes that are not UTF-8, control characters, bad numbers or
// literals, missing commas): what lies inside is for a validator to judge.
// It fails only when the end cannot be found: an unterminated string or
// container, a closer that does not match, nesting deeper than MaxDepth,
// or no value at all. depth is the nesting depth of the value's container.
func (p *Scanner) SkipStructure(depth int) bool {
	d := p.Data
	i := p.Pos
	var buf [64]byte
	open := buf[:0] // the closers awaited, innermost last
	for {
		if i >= len(d) {
			p.Pos = i
			if len(open) == 0 {
				return p.Unexpected("looking for a value")
			}
			return p.Unexpected("in an unclosed " + containerName(open[len(open)-1]))
		}
		switch c := d[i]; c {
		case '"':
			j := endOfString(d, i+1)
			if j < 0 {
				p.Pos = len(d)
				return p.Unexpected("in string")
			}
			i = j + 1
		case '{', '[':
			if depth+len(open)+1 > MaxDepth {
				p.Pos = i
				return p.Syntax(fmt.Sprintf("nested more than %d levels deep", MaxDepth))
			}
			if c == '{' {
				open = append(open, '}')
			} else {
				open = append(open, ']')
			}
			i++
			continue
		case '}', ']':
			if len(open) == 0 || open[len(open)-1] != c {
				p.Pos = i
				if len(open) == 0 {
					return p.Unexpected("looking for a value")
				}
				return p.Unexpected("closing " + containerName(open[len(open)-1]))
			}
			open = open[:len(open)-1]
			i++
		default:
			if len(open) > 0 {
				i++
				continue
			}
			// A scalar outside any container ends at a delimiter.
			j := i
			for j < len(d) && !isDelimiter(d[j]) {
				j++
			}
			p.Pos = j
			if j == i {
				return p.Unexpected("looking for a value")
			}
			return true
		}
		if len(open) == 0 {
			p.Pos = i
			return true
		}
	}
}

func containerName(closer byte) string {
	if closer == '}' {
		return "object"
	}
	return "array"
}

func isDelimiter(c byte) bool {
	switch c {
	case ',', ']', '}', ':', '"', '[', '{', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

// endOfString returns the offset of the quote that ends the string whose
// contents start at i, or -1 when it is not terminated. It reads 8 bytes
// at a time, as nextSpecial does.
func endOfString(d []byte, i int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for i < len(d) {
		for ; i+8 <= len(d); i += 8 {
			x := binary.LittleEndian.Uint64(d[i:])
			quote := x ^ ('"' * ones)
			backslash := x ^ ('\\' * ones)
			if m := ((quote-ones)&^quote | (backslash-ones)&^backslash) & highs; m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
		}
		for ; i < len(d) && d[i] != '"' && d[i] != '\\'; i++ {
		}
		if i >= len(d) {
			return -1
		}
		if d[i] == '"' {
			return i
		}
		i += 2 // the backslash and the byte it escapes
	}
	return -1
}
