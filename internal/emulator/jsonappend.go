package emulator

import (
	"strconv"
	"unicode/utf8"
)

// The wire format is written by hand with appends, not encoding/json:
// serving pages is the emulator's hot path and reflection would dominate it.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped the way encoding/json
// escapes it (including <, > and & and U+2028/U+2029), which is what a Go
// server such as 1Password's sends.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
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
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendFloat(b []byte, f float64) []byte {
	return strconv.AppendFloat(b, f, 'f', -1, 64)
}

// appendTime appends a Unix time in nanoseconds as a quoted RFC 3339 UTC
// timestamp with trailing zeros of the fraction trimmed, byte for byte what
// time.Time.Format(time.RFC3339Nano) gives for a UTC time, several times
// faster. Years outside 0000-9999 are not produced by the emulator.
func appendTime(b []byte, ns int64) []byte {
	secs := ns / 1e9
	frac := ns % 1e9
	if frac < 0 {
		frac += 1e9
		secs--
	}
	days := secs / 86400
	rem := secs % 86400
	if rem < 0 {
		rem += 86400
		days--
	}
	y, m, d := civil(days)
	hh, mm, ss := rem/3600, rem/60%60, rem%60
	b = append(b, '"',
		byte('0'+y/1000), byte('0'+y/100%10), byte('0'+y/10%10), byte('0'+y%10), '-',
		byte('0'+m/10), byte('0'+m%10), '-',
		byte('0'+d/10), byte('0'+d%10), 'T',
		byte('0'+hh/10), byte('0'+hh%10), ':',
		byte('0'+mm/10), byte('0'+mm%10), ':',
		byte('0'+ss/10), byte('0'+ss%10))
	if frac != 0 {
		var digits [9]byte
		n := 9
		for i := 8; i >= 0; i-- {
			digits[i] = byte('0' + frac%10)
			frac /= 10
		}
		for n > 0 && digits[n-1] == '0' {
			n--
		}
		b = append(b, '.')
		b = append(b, digits[:n]...)
	}
	return append(b, 'Z', '"')
}

// civil converts days since 1970-01-01 to a proleptic Gregorian date
// (Howard Hinnant's days_from_civil inverse).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y = yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	d = doy - (153*mp+2)/5 + 1
	if mp < 10 {
		m = mp + 3
	} else {
		m = mp - 9
	}
	if m <= 2 {
		y++
	}
	return y, m, d
}

const (
	base32Upper = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	base32Lower = "abcdefghijklmnopqrstuvwxyz234567"
)

// appendID appends a 26-character 1Password-style base32 id made from the
// 128 bits of h1 and h2, unquoted. Event, user, session and account ids are
// upper-case on the wire; device, vault and item ids lower-case.
func appendID(b []byte, h1, h2 uint64, upper bool) []byte {
	alpha := base32Lower
	if upper {
		alpha = base32Upper
	}
	for i := 0; i < 12; i++ {
		b = append(b, alpha[h1&31])
		h1 >>= 5
	}
	for i := 0; i < 12; i++ {
		b = append(b, alpha[h2&31])
		h2 >>= 5
	}
	// 4 bits left in each word: 8 bits for the last two characters.
	last := h1 | h2<<4
	return append(b, alpha[last&31], alpha[(last>>5)&7])
}

// id returns appendID as a string, for the population built once per account.
func id(h1, h2 uint64, upper bool) string {
	return string(appendID(make([]byte, 0, 26), h1, h2, upper))
}
