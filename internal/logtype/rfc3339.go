package logtype

import "time"

// rfc3339 is an RFC 3339 time in parts.
type rfc3339 struct {
	year, month, day, hour, minute, sec, nsec int
	offset                                    int // seconds east of UTC
}

func (f rfc3339) utc() time.Time {
	t := time.Date(f.year, time.Month(f.month), f.day, f.hour, f.minute, f.sec, f.nsec, time.UTC)
	if f.offset != 0 {
		t = t.Add(-time.Duration(f.offset) * time.Second)
	}
	return t
}

// splitRFC3339 checks and splits an RFC 3339 time. It accepts what
// time.Time's UnmarshalJSON accepts on its strict path, so an event reads
// the same here as in encoding/json: upper-case T and Z, any number of
// fractional digits (nanoseconds kept), seconds 00-59, offsets up to
// ±23:59. It never allocates, and validating a time costs no time.Date.
func splitRFC3339(b []byte) (rfc3339, bool) {
	var f rfc3339
	if len(b) < len("2006-01-02T15:04:05Z") {
		return f, false
	}
	if b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return f, false
	}
	var ok [6]bool
	f.year, ok[0] = digits(b[0:4], 0, 9999)
	f.month, ok[1] = digits(b[5:7], 1, 12)
	f.hour, ok[2] = digits(b[11:13], 0, 23)
	f.minute, ok[3] = digits(b[14:16], 0, 59)
	f.sec, ok[4] = digits(b[17:19], 0, 59)
	if ok != [6]bool{true, true, true, true, true} {
		return f, false
	}
	if f.day, ok[5] = digits(b[8:10], 1, daysIn(f.month, f.year)); !ok[5] {
		return f, false
	}
	b = b[19:]

	if len(b) >= 2 && b[0] == '.' && isDigit(b[1]) {
		n := 1
		scale := 100000000
		for ; n < len(b) && isDigit(b[n]); n++ {
			f.nsec += int(b[n]-'0') * scale
			scale /= 10 // digits beyond the ninth add nothing
		}
		b = b[n:]
	}

	switch {
	case len(b) == 1 && b[0] == 'Z':
	case len(b) == len("-07:00") && (b[0] == '+' || b[0] == '-') && b[3] == ':':
		hh, okh := digits(b[1:3], 0, 23)
		mm, okm := digits(b[4:6], 0, 59)
		if !okh || !okm {
			return f, false
		}
		f.offset = (hh*60 + mm) * 60
		if b[0] == '-' {
			f.offset = -f.offset
		}
	default:
		return f, false
	}
	return f, true
}

// digits parses b as a decimal number within [lo, hi].
func digits(b []byte, lo, hi int) (int, bool) {
	x := 0
	for _, c := range b {
		if !isDigit(c) {
			return 0, false
		}
		x = x*10 + int(c-'0')
	}
	return x, lo <= x && x <= hi
}

func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
