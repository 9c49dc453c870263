package emulator

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestAppendTimeMatchesRFC3339Nano(t *testing.T) {
	tests := []time.Time{
		time.Unix(0, 0),
		time.Date(2025, 7, 28, 19, 32, 38, 440749100, time.UTC),
		time.Date(2024, 12, 2, 11, 54, 21, 246459830, time.UTC),
		time.Date(2000, 2, 29, 23, 59, 59, 999999999, time.UTC),
		time.Date(1999, 12, 31, 0, 0, 0, 100, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 500000000, time.UTC),
		time.Date(2100, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2262, 4, 11, 23, 47, 16, 854775807, time.UTC), // the last UnixNano
	}
	r := newRNG(1)
	for i := 0; i < 2000; i++ {
		tests = append(tests, time.Unix(0, int64(r.next()>>2)-int64(1)<<61))
	}
	for _, tm := range tests {
		want := `"` + tm.UTC().Format(time.RFC3339Nano) + `"`
		if got := string(appendTime(nil, tm.UnixNano())); got != want {
			t.Errorf("appendTime(%d) = %s, want %s", tm.UnixNano(), got, want)
		}
	}
}

func FuzzAppendTime(f *testing.F) {
	f.Add(int64(0))
	f.Add(int64(1753730000440749100))
	f.Add(int64(-1))
	f.Fuzz(func(t *testing.T, ns int64) {
		tm := time.Unix(0, ns).UTC()
		if tm.Year() < 0 || tm.Year() > 9999 {
			return
		}
		want := `"` + tm.Format(time.RFC3339Nano) + `"`
		if got := string(appendTime(nil, ns)); got != want {
			t.Errorf("appendTime(%d) = %s, want %s", ns, got, want)
		}
	})
}

func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{
		"", "plain", `quote " and \ backslash`, "tab\tnewline\nreturn\r", "\x00\x1f\x7f",
		"<script>&amp;</script>", "Łukasz Müller’s MacBook Pro", "emoji 🔑", "\u2028\u2029",
		"bad utf-8 \xff\xfe end", string([]byte{0xe2, 0x82}),
	} {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("hello")
	f.Add("\"\\<>&\u2028\x01é")
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendString(nil, s); string(got) != string(want) {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendID(t *testing.T) {
	seen := map[string]bool{}
	r := newRNG(7)
	for i := 0; i < 10000; i++ {
		for _, upper := range []bool{true, false} {
			s := string(appendID(nil, r.next(), r.next(), upper))
			alpha := base32Lower
			if upper {
				alpha = base32Upper
			}
			if len(s) != 26 || strings.Trim(s, alpha) != "" {
				t.Fatalf("appendID = %q: want 26 characters of %s", s, alpha)
			}
			if seen[s] {
				t.Fatalf("appendID repeated %q", s)
			}
			seen[s] = true
		}
	}
}
