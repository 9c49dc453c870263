package logtype

import "strconv"

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

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
