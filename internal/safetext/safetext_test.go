package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTerminal(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"ascii", "alice@example.com signed in", "alice@example.com signed in"},
		{"letters and emoji", "Zoë Ødegård 東京 🔑 👩‍💻", "Zoë Ødegård 東京 🔑 👩‍💻"},
		{"backslash stays", `C:\Users\x1b`, `C:\Users\x1b`},
		{"colour escape", "\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"title set with BEL", "\x1b]0;pwned\x07", `\x1b]0;pwned\x07`},
		{"carriage return overwrites", "ok\rFAILED", `ok\rFAILED`},
		{"newline forges a row", "a\nb", `a\nb`},
		{"tab breaks columns", "a\tb", `a\tb`},
		{"nul and DEL", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 CSI", "a\u009b31mb", `a\u009b31mb`},
		{"C1 NEL", "\u0085", `\u0085`},
		{"bidi override", "invoice\u202egpj.exe", `invoice\u202egpj.exe`},
		{"bidi isolate", "\u2066x\u2069", `\u2066x\u2069`},
		{"bidi marks", "\u200e\u200f\u061c", `\u200e\u200f\u061c`},
		{"line separator", "a\u2028b\u2029", `a\u2028b\u2029`},
		{"invalid utf-8", "a\xffb\xc3", `a\xffb\xc3`},
		{"raw 8-bit CSI byte", "\x9b31m", `\x9b31m`},
		{"zero width joiner kept", "a\u200db", "a\u200db"},
		{"last rune before bidi kept", "\u2065\u206a", "\u2065\u206a"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Terminal(tt.in); got != tt.want {
				t.Errorf("Terminal(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// A clean value, the common case in a table of events, costs no allocation.
func TestTerminalCleanDoesNotAllocate(t *testing.T) {
	for _, s := range []string{"alice@example.com", "Zoë 東京 🔑", ""} {
		if n := testing.AllocsPerRun(100, func() { _ = Terminal(s) }); n != 0 {
			t.Errorf("Terminal(%q) allocates %v times", s, n)
		}
	}
}

func TestCSVCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"alice", "alice"},
		{`=HYPERLINK("http://evil","x")`, `'=HYPERLINK("http://evil","x")`},
		{"+1+cmd|' /C calc'!A0", "'+1+cmd|' /C calc'!A0"},
		{"-2+3", "'-2+3"},
		{"@SUM(A1)", "'@SUM(A1)"},
		{"\t=1", "'\t=1"},
		{"\r=1", "'\r=1"},
		{"a=1", "a=1"},
		{" =1", " =1"},
		{"'quoted", "'quoted"},
		{"line\nbreak", "line\nbreak"},
	}
	for _, tt := range tests {
		if got := CSVCell(tt.in); got != tt.want {
			t.Errorf("CSVCell(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// checkSafe fails the test when out holds anything a terminal would act on.
func checkSafe(t *testing.T, out string) {
	t.Helper()
	if !utf8.ValidString(out) {
		t.Fatalf("output %q is not valid UTF-8", out)
	}
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 || c == 0x7f {
			t.Fatalf("output %q holds control byte %#x", out, c)
		}
	}
	for _, r := range out {
		if unsafeRune(r) {
			t.Fatalf("output %q holds rune %U", out, r)
		}
	}
}

func FuzzTerminal(f *testing.F) {
	for _, s := range []string{"", "plain", "\x1b[2J", "a\u202eb", "\xff\xfe", "\u0085", "Zoë 🔑", "\t\n\r\x7f", "\xe2\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Terminal(in)
		checkSafe(t, out)
		// Safe output is a fixed point: escaping twice changes nothing.
		if again := Terminal(out); again != out {
			t.Fatalf("Terminal(Terminal(%q)) = %q, want %q", in, again, out)
		}
		// Text that needs nothing is returned as it is.
		if firstUnsafe(in) < 0 && out != in {
			t.Fatalf("Terminal(%q) = %q changed safe text", in, out)
		}
		// Every safe rune of the input survives, in order: removing the
		// escapes' effect, the printable content is what was given.
		var kept strings.Builder
		for i := 0; i < len(in); {
			r, size := utf8.DecodeRuneInString(in[i:])
			if !(r == utf8.RuneError && size == 1) && !unsafeRune(r) && r >= 0x20 && r != 0x7f {
				kept.WriteString(in[i : i+size])
			}
			i += size
		}
		if !isSubsequence(kept.String(), out) {
			t.Fatalf("Terminal(%q) = %q lost printable text %q", in, out, kept.String())
		}
	})
}

// isSubsequence reports whether the bytes of sub appear in s in order.
func isSubsequence(sub, s string) bool {
	j := 0
	for i := 0; i < len(s) && j < len(sub); i++ {
		if s[i] == sub[j] {
			j++
		}
	}
	return j == len(sub)
}

func FuzzCSVCell(f *testing.F) {
	for _, s := range []string{"", "=1+1", "-1", "@x", "\t", "\r", "abc", "'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := CSVCell(in)
		if out != in && out != "'"+in {
			t.Fatalf("CSVCell(%q) = %q: only a leading quote may be added", in, out)
		}
		if out != "" && strings.ContainsRune("=+-@\t\r", rune(out[0])) {
			t.Fatalf("CSVCell(%q) = %q still starts with a formula character", in, out)
		}
		if out != in && (in == "" || !strings.ContainsRune("=+-@\t\r", rune(in[0]))) {
			t.Fatalf("CSVCell(%q) = %q changed a harmless cell", in, out)
		}
	})
}

func BenchmarkTerminal(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"ascii", "alice@example.com from 192.0.2.1 (Chrome on macOS)"},
		{"unicode", "Zoë Ødegård signed in from 東京 🔑 with 1Password for Mac"},
		{"escaped", "\x1b[31malice\x1b[0m\r\u202eevil\ttab\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.in)))
			b.ReportAllocs()
			for b.Loop() {
				_ = Terminal(bc.in)
			}
		})
	}
}
