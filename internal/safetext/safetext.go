// Package safetext makes attacker-written text safe to show: event fields
// come from whoever can sign in to, or use items of, a 1Password account, so
// they may hold terminal escape sequences, bidi overrides or spreadsheet
// formulas.
package safetext

import (
	"strings"
	"unicode/utf8"
)

// Terminal returns s with everything that could move the cursor, recolour,
// retitle or reorder a terminal's display written as a visible escape:
//
//   - tab, newline and carriage return as \t \n \r (they break table layout
//     and let a value forge lines of its own);
//   - other C0 controls (ESC, BEL, NUL, …) and DEL as \x1b, \x7f;
//   - C1 controls (U+0080–U+009F, e.g. the 8-bit CSI) as \u009b;
//   - bidi controls (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069)
//     and the line and paragraph separators U+2028, U+2029 as \u202e;
//   - bytes that are not UTF-8 as \xff.
//
// Printable text, non-ASCII letters and emoji (with their joiners) pass
// unchanged. Backslashes are not doubled, so the output is for reading, not
// for decoding. When nothing needs escaping, s itself is returned without
// allocating.
func Terminal(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != 0x7f {
				b.WriteByte(c)
			} else {
				writeByteEscape(&b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeByteEscape(&b, c)
		case unsafeRune(r):
			writeRuneEscape(&b, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// firstUnsafe returns the index of the first byte of s that Terminal must
// escape, or -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafeRune(r) {
			return i
		}
		i += size
	}
	return -1
}

// unsafeRune reports whether a non-ASCII rune is a C1 control, a bidi
// control or a line/paragraph separator.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x2028 && r <= 0x202e: // separators, then LRE RLE PDF LRO RLO
		return true
	case r >= 0x2066 && r <= 0x2069: // LRI RLI FSI PDI
		return true
	}
	return false
}

const hexDigits = "0123456789abcdef"

func writeByteEscape(b *strings.Builder, c byte) {
	switch c {
	case '\t':
		b.WriteString(`\t`)
	case '\n':
		b.WriteString(`\n`)
	case '\r':
		b.WriteString(`\r`)
	default:
		b.WriteString(`\x`)
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&0xf])
	}
}

func writeRuneEscape(b *strings.Builder, r rune) {
	b.WriteString(`\u`)
	for shift := 12; shift >= 0; shift -= 4 {
		b.WriteByte(hexDigits[(r>>shift)&0xf])
	}
}

// CSVCell neutralises a spreadsheet formula as OWASP advises for CSV
// injection: a cell that starts with = + - @, a tab or a carriage return
// gets a leading single quote, so spreadsheets show it as text instead of
// evaluating it (=HYPERLINK(...) from an event field). Every other cell is
// returned exactly. The quoting of separators is the CSV writer's job.
func CSVCell(s string) string {
	if s == "" {
		return s
	}
	switch s[0] {
	case '=', '+', '-', '@', '\t', '\r':
		return "'" + s
	}
	return s
}
