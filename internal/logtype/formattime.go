package logtype

import "time"

// FormatTime formats t in UTC the way Panther's data lake stores times:
// "2006-01-02 15:04:05.000000000". The fraction always has nine digits, so
// comparing the text orders the times (for years 0 to 9999).
func FormatTime(t time.Time) string {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.Format("2006-01-02 15:04:05.000000000")
	}
	hour, minute, sec := t.Clock()
	var b [29]byte
	put := func(at, n, v int) {
		for i := at + n - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, 4, year)
	b[4] = '-'
	put(5, 2, int(month))
	b[7] = '-'
	put(8, 2, day)
	b[10] = ' '
	put(11, 2, hour)
	b[13] = ':'
	put(14, 2, minute)
	b[16] = ':'
	put(17, 2, sec)
	b[19] = '.'
	put(20, 9, t.Nanosecond())
	return string(b[:])
}
