package postgres

import (
	"strings"
)

// splitStatement reads the first statement of q as PostgreSQL lexes it:
// quoted strings ('...', E'...' with backslash escapes, $tag$...$tag$),
// quoted identifiers, -- and nested /* */ comments. It returns the
// statement without the ';' that ends it, and whether anything but spaces,
// comments and semicolons follows (a second statement).
func splitStatement(q string) (first string, more bool) {
	end := -1 // where the first statement ended
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == ';':
			if end < 0 {
				end = i
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				i = len(q)
				continue
			}
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			i = skipBlockComment(q, i)
		case end >= 0:
			return q[:end], true
		case c == '\'':
			escapes := i > 0 && (q[i-1] == 'E' || q[i-1] == 'e') && (i == 1 || !identChar(q[i-2]))
			i = skipQuoted(q, i, '\'', escapes)
		case c == '"':
			i = skipQuoted(q, i, '"', false)
		case c == '$' && (i == 0 || !identChar(q[i-1])):
			if tag, ok := dollarTag(q[i:]); ok {
				j := strings.Index(q[i+len(tag):], tag)
				if j < 0 {
					i = len(q)
					continue
				}
				i += len(tag) + j + len(tag) - 1
			}
		case identChar(c):
			for i+1 < len(q) && identChar(q[i+1]) {
				i++
			}
		}
	}
	if end < 0 {
		return q, false
	}
	return q[:end], false
}

// skipBlockComment returns the index of the '/' closing the comment that
// opens at i (PostgreSQL's comments nest), or len(q)-1.
func skipBlockComment(q string, i int) int {
	depth := 0
	for ; i+1 < len(q); i++ {
		switch {
		case q[i] == '/' && q[i+1] == '*':
			depth++
			i++
		case q[i] == '*' && q[i+1] == '/':
			depth--
			i++
			if depth == 0 {
				return i
			}
		}
	}
	return len(q) - 1
}

// skipQuoted returns the index of the quote closing the string that opens
// at i; a doubled quote is one quote, and with escapes a backslash escapes
// the next byte.
func skipQuoted(q string, i int, quote byte, escapes bool) int {
	for i++; i < len(q); i++ {
		switch q[i] {
		case '\\':
			if escapes {
				i++
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
				continue
			}
			return i
		}
	}
	return len(q) - 1
}

// dollarTag is the $tag$ that opens a dollar-quoted string at the start of
// s, if one does ($1 is a parameter, not a tag).
func dollarTag(s string) (string, bool) {
	for j := 1; j < len(s); j++ {
		c := s[j]
		switch {
		case c == '$':
			return s[:j+1], true
		case c >= '0' && c <= '9':
			if j == 1 {
				return "", false
			}
		case !identChar(c):
			return "", false
		}
	}
	return "", false
}

func identChar(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// leadingWord is the first keyword of a statement, upper-cased, after
// spaces, comments and opening parentheses ("(" alone for "(SELECT ...)").
func leadingWord(q string) string {
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				return ""
			}
			i += j
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			i = skipBlockComment(q, i)
		case c == '(':
			return "("
		case identChar(c):
			j := i
			for j < len(q) && identChar(q[j]) {
				j++
			}
			return strings.ToUpper(q[i:j])
		default:
			return string(c)
		}
	}
	return ""
}
