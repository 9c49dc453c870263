package config

import (
	"strings"
	"testing"
	"time"
)

func TestLakeCompactAfter(t *testing.T) {
	if c := Default(); c.Lake.CompactAfter != 0 {
		t.Errorf("default compact_after %s, want not given (the engine decides)", c.Lake.CompactAfter)
	}
	for _, c := range []struct {
		flag, file Age
		postgres   bool
		want       time.Duration
	}{
		{0, 0, false, day}, {0, 0, true, 0}, {0, Age(7 * day), true, 7 * day}, {Off, Age(7 * day), false, 0},
		{Age(2 * day), Off, true, 2 * day},
	} {
		if got := CompactAfterFor(c.flag, c.file, c.postgres); got != c.want {
			t.Errorf("CompactAfterFor(%s, %s, postgres %t) = %v, want %v", c.flag, c.file, c.postgres, got, c.want)
		}
	}
	for in, want := range map[string]Age{
		"lake:\n  compact_after: 7d\n":  Age(7 * day),
		"lake:\n  compact_after: 90m\n": Age(90 * time.Minute),
		"lake:\n  compact_after: off\n": Off,
		"lake: {}\n":                    0,
	} {
		c, err := Parse(strings.NewReader(in))
		if err != nil || c.Lake.CompactAfter != want {
			t.Errorf("Parse(%q): compact_after %s, %v; want %s", in, c.Lake.CompactAfter, err, want)
		}
	}
	if Off.Duration() != 0 || Off.String() != "off" || Age(0).Or(Off) != Off || Age(day).Or(Off) != Age(day) {
		t.Errorf("Off: duration %v, %q; Or picks the flag over the file", Off.Duration(), Off.String())
	}
	for in, want := range map[string]string{
		"lake:\n  compact_after: 30m\n":   "shorter than 1h",
		"lake:\n  compact_after: 0\n":     "shorter than 1h",
		"lake:\n  compact_after: never\n": "invalid duration",
		"lake:\n  compact_after: -1d\n":   "invalid duration",
		"lake:\n  compact_afterr: 1d\n":   "unknown key compact_afterr",
	} {
		_, err := Parse(strings.NewReader(in))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) = %v, want an error saying %q", in, err, want)
		}
	}
}

func TestParseCompactAfter(t *testing.T) {
	for in, want := range map[string]Age{"off": Off, " OFF ": Off, "1h": Age(time.Hour), "1d": Age(day), "36h": Age(36 * time.Hour)} {
		if got, err := ParseCompactAfter(in); err != nil || got != want {
			t.Errorf("ParseCompactAfter(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "59m", "-2h", "1w", "off-ish"} {
		if got, err := ParseCompactAfter(in); err == nil {
			t.Errorf("ParseCompactAfter(%q) = %s, want an error", in, got)
		}
	}
}

// FuzzParseCompactAfter: an accepted age is off or at least an hour, and
// reads back as it prints.
func FuzzParseCompactAfter(f *testing.F) {
	for _, s := range []string{"1d", "off", "59m59s", "1h", "-1d", "9223372036854775807ns", "106751d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		a, err := ParseCompactAfter(in)
		if err != nil {
			return
		}
		if a != Off && a.Duration() < MinCompactAfter {
			t.Fatalf("ParseCompactAfter(%q) accepted %v", in, a.Duration())
		}
		if back, err := ParseCompactAfter(a.String()); err != nil || back != a {
			t.Fatalf("%q read as %s, which reads back as %s, %v", in, a, back, err)
		}
	})
}
