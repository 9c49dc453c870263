package postgres

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestEnc(t *testing.T) {
	for _, s := range []string{"", "plain", "jane@example.com", "with\x00nul", "\x00", "bad\xffutf8", escapeMark,
		escapeMark + `"x"`, "a" + escapeMark, "\x1e", `"quoted"`, "é中"} {
		e := enc(s)
		if strings.IndexByte(e, 0) >= 0 || !utf8.ValidString(e) {
			t.Errorf("enc(%q) = %q: PostgreSQL text cannot hold it", s, e)
		}
		if got := dec(e); got != s {
			t.Errorf("dec(enc(%q)) = %q", s, got)
		}
		if plainText := strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) && !strings.HasPrefix(s, escapeMark); plainText && e != s {
			t.Errorf("enc(%q) = %q: text PostgreSQL can hold is stored as it is", s, e)
		}
	}
}

// FuzzEnc: every string is stored as text PostgreSQL can hold, distinct
// strings stay distinct (unique keys keep their meaning), and each comes
// back exactly.
func FuzzEnc(f *testing.F) {
	for _, s := range []string{"", "a", "\x00", escapeMark, escapeMark + `"\x00"`, "\xff"} {
		f.Add(s, s+"x")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ea, eb := enc(a), enc(b)
		if strings.IndexByte(ea, 0) >= 0 || !utf8.ValidString(ea) {
			t.Fatalf("enc(%q) = %q: not storable", a, ea)
		}
		if dec(ea) != a {
			t.Fatalf("dec(enc(%q)) = %q", a, dec(ea))
		}
		if a != b && ea == eb {
			t.Fatalf("enc(%q) == enc(%q) = %q", a, b, ea)
		}
		if j := joinArray([]string{a, b}); j == nil || len(strings.Split(*j, arraySep)) != 2 {
			t.Fatalf("joinArray(%q, %q) = %v: does not split back into two", a, b, j)
		}
	})
}

func TestSplitStatement(t *testing.T) {
	tests := []struct {
		q     string
		first string
		more  bool
	}{
		{"SELECT 1", "SELECT 1", false},
		{"SELECT 1;", "SELECT 1", false},
		{"SELECT 1 ;; \n", "SELECT 1 ", false},
		{"SELECT 1; -- done", "SELECT 1", false},
		{"SELECT 1 /* x */ ; /* y */", "SELECT 1 /* x */ ", false},
		{"SELECT 1; SELECT 2", "SELECT 1", true},
		{"SELECT 'a;'; /* c */ SELECT 'b'", "SELECT 'a;'", true},
		{"SELECT 'it''s;'", "SELECT 'it''s;'", false},
		{`SELECT E'\';' ; x`, `SELECT E'\';' `, true},
		{`SELECT '\'; SELECT 1`, `SELECT '\'`, true}, // a backslash is no escape in a standard string
		{`SELECT "a;b" FROM t`, `SELECT "a;b" FROM t`, false},
		{"SELECT $$;$$, $tag$ ; $$ ; $tag$", "SELECT $$;$$, $tag$ ; $$ ; $tag$", false},
		{"SELECT $1; DELETE FROM t", "SELECT $1", true},
		{"SELECT 1 /* a /* nested; */ still; */", "SELECT 1 /* a /* nested; */ still; */", false},
		{"SELECT 1 -- a; comment\n; DROP TABLE t", "SELECT 1 -- a; comment\n", true},
		{"SELECT a$b$; SELECT 2", "SELECT a$b$", true},
	}
	for _, tt := range tests {
		first, more := splitStatement(tt.q)
		if first != tt.first || more != tt.more {
			t.Errorf("splitStatement(%q) = %q, %v; want %q, %v", tt.q, first, more, tt.first, tt.more)
		}
	}
}

// FuzzSplitStatement: the first statement is a prefix of the text, and when
// nothing more is said to follow, what follows it holds no statement.
func FuzzSplitStatement(f *testing.F) {
	for _, q := range []string{"SELECT 1; SELECT 2", "SELECT $a$;$a$", "SELECT E'\\';'", "/* /* */ ; */ x", "-- ;\nx"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		first, more := splitStatement(q)
		if !strings.HasPrefix(q, first) {
			t.Fatalf("splitStatement(%q) = %q: not a prefix", q, first)
		}
		if rest := q[len(first):]; !more && leadingWord(strings.ReplaceAll(rest, ";", " ")) != "" {
			t.Fatalf("splitStatement(%q) = %q, nothing more; but %q follows", q, first, rest)
		}
	})
}
