package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

var seeds = []string{
	`{"a":[1,2,{"b":"c\"]}"}],"d":null}`, `"x\\"`, `[]`, `{}`, `-1.5e3`, `true`, `nul`, `{"a":1]`,
	`[[[`, `"\u00e9\ud83d\ude00"`, "\"\xff\"", "\"\x01\"", `{"a" 1}`, ` 1 `, `[1,]`, `"abc`, `{"a":"b\`,
	strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth),
	strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1),
}

// The validator accepts exactly the UTF-8 text that json.Valid accepts.
func FuzzSkipValue(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := Scanner{Data: data}
		s.SkipWS()
		ok := s.SkipValue(0)
		if ok {
			s.SkipWS()
			ok = s.Pos == len(data)
		}
		if want := json.Valid(data) && utf8.Valid(data); ok != want {
			t.Fatalf("SkipValue(%q) = %v (err %v), json.Valid and UTF-8: %v", data, ok, s.Err, want)
		}
	})
}

// SkipStructure finds the end of every value that json.Valid accepts, and
// of whatever it accepts, stays within bounds and takes at least a byte.
func FuzzSkipStructure(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s := Scanner{Data: data}
		s.SkipWS()
		start := s.Pos
		ok := s.SkipStructure(0)
		if s.Pos < start || s.Pos > len(data) {
			t.Fatalf("SkipStructure(%q) left Pos %d outside %d..%d", data, s.Pos, start, len(data))
		}
		if ok && s.Pos == start {
			t.Fatalf("SkipStructure(%q) took nothing", data)
		}
		if !ok && s.Err == nil {
			t.Fatalf("SkipStructure(%q) failed without an error", data)
		}
		if json.Valid(data) {
			end := s.Pos
			s.SkipWS()
			if !ok || s.Pos != len(data) {
				t.Fatalf("SkipStructure(%q) = %v, ended at %d (err %v); the value is valid JSON", data, ok, end, s.Err)
			}
		}
	})
}

func TestSkipStructure(t *testing.T) {
	tests := []struct {
		in, rest, err string
	}{
		{in: `{"a":"]}"},x`, rest: `,x`},
		{in: `{"a":01,"b":"\x"}]`, rest: `]`}, // not judged, only cut
		{in: "[\"\xff\", \x01]", rest: ``},
		{in: `tru,`, rest: `,`},
		{in: `"a\"b" 1`, rest: ` 1`},
		{in: `{"a":[1}]`, err: "unexpected '}' closing array at offset 7"},
		{in: `{"a":"b`, err: "unexpected end of input in string"},
		{in: `[[1]`, err: "unexpected end of input in an unclosed array"},
		{in: `,1`, err: "unexpected ',' looking for a value at offset 0"},
		{in: strings.Repeat("[", MaxDepth+1), err: "nested more than 10000 levels deep"},
	}
	for _, tt := range tests {
		s := Scanner{Data: []byte(tt.in)}
		ok := s.SkipStructure(0)
		if tt.err != "" {
			if ok || !strings.Contains(s.Err.Error(), tt.err) {
				t.Errorf("%q: ok %v, err %v, want %q", tt.in, ok, s.Err, tt.err)
			}
			continue
		}
		if !ok || tt.in[s.Pos:] != tt.rest {
			t.Errorf("%q: ok %v (err %v), rest %q, want %q", tt.in, ok, s.Err, tt.in[s.Pos:], tt.rest)
		}
	}
}
