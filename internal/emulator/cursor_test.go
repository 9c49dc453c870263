package emulator

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCursorRoundTrip(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	for _, c := range []cursorState{
		{account: "KHUVUCTBHVDSNDHXKDGM7UESYU", feature: auditEvents, version: 2, pos: 0, limit: 1, start: 0},
		{account: "KHUVUCTBHVDSNDHXKDGM7UESYU", feature: itemUsages, version: 1, pos: 123456789, limit: 1000,
			start: 1753730000440749100, end: 1753733600000000000, hasEnd: true},
		{account: "a", feature: signInAttempts, version: 2, pos: 7, inj: 3, limit: 100, start: -5},
	} {
		s := encodeCursor(key, c)
		if strings.ContainsAny(s, "+/=") {
			t.Errorf("cursor %q: want url-safe base64 without padding", s)
		}
		if len(c.account) == 26 && (len(s) < 100 || len(s) > 200) {
			t.Errorf("cursor %q has %d characters, want 100-200 like real ones", s, len(s))
		}
		got, err := decodeCursor(key, s)
		if err != nil {
			t.Fatalf("decodeCursor(encodeCursor(%+v)): %v", c, err)
		}
		if diff := cmp.Diff(c, got, cmp.AllowUnexported(cursorState{})); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
		// Standard base64 with padding is accepted too.
		raw, _ := base64.RawURLEncoding.DecodeString(s)
		if _, err := decodeCursor(key, base64.StdEncoding.EncodeToString(raw)); err != nil {
			t.Errorf("standard base64 cursor rejected: %v", err)
		}
	}
}

func TestCursorRejectsTampering(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	c := cursorState{account: "KHUVUCTBHVDSNDHXKDGM7UESYU", feature: itemUsages, version: 2, pos: 42, limit: 100, start: 1}
	s := encodeCursor(key, c)
	raw, _ := base64.RawURLEncoding.DecodeString(s)
	for i := range raw {
		for _, bit := range []byte{1, 0x80} {
			b := append([]byte(nil), raw...)
			b[i] ^= bit
			if _, err := decodeCursor(key, base64.RawURLEncoding.EncodeToString(b)); err == nil {
				t.Fatalf("flipping bit %#x of byte %d went unnoticed", bit, i)
			}
		}
	}
	if _, err := decodeCursor([]byte("another key"), s); err == nil {
		t.Error("cursor signed with another key accepted")
	}
	for _, bad := range []string{"", "x", "aGVsbG8hIGlzIGl0IG1lIHlvdSBhcmUgbG9va2luZyBmb3IK", "cursor_1", "!!!!", s[:len(s)-1], s + "A", strings.Repeat("A", 600)} {
		if _, err := decodeCursor(key, bad); err == nil {
			t.Errorf("decodeCursor(%q) accepted", bad)
		}
	}
}

func FuzzDecodeCursor(f *testing.F) {
	key := []byte("0123456789abcdef0123456789abcdef")
	f.Add(encodeCursor(key, cursorState{account: "A", feature: 1, version: 2, pos: 3, limit: 4, start: 5}))
	f.Add("aGVsbG8hIGlzIGl0IG1lIHlvdSBhcmUgbG9va2luZyBmb3IK")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(key, s)
		if err != nil {
			return
		}
		// Whatever decodes must be a cursor we could have made.
		if c.limit < 1 || c.limit > maxLimit || c.pos < 0 || c.feature < 0 || c.feature >= numFeatures {
			t.Fatalf("decoded an impossible cursor %+v", c)
		}
		if encodeCursor(key, c) != strings.TrimRight(strings.NewReplacer("+", "-", "/", "_").Replace(s), "=") {
			t.Fatalf("decoded %q, which does not re-encode to itself", s)
		}
	})
}
