package onepassword

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseClaims(t *testing.T) {
	enc := func(payload string) string {
		return "eyJhbGciOiJFUzI1NiJ9." + base64.RawURLEncoding.EncodeToString([]byte(payload)) + ".c2ln"
	}
	tests := []struct {
		name    string
		token   string
		want    Claims
		wantErr string
	}{
		{
			name:  "array aud, all claims",
			token: enc(`{"aud":["events.1password.eu"],"1password.com/fts":["signinattempts","auditevents"],"1password.com/auuid":"ACC","iat":1700000000,"exp":1800000000,"sub":"x"}`),
			want: Claims{Audience: []string{"events.1password.eu"}, Features: []Feature{SignInAttempts, AuditEvents},
				AccountUUID: "ACC", IssuedAt: time.Unix(1700000000, 0).UTC(), ExpiresAt: time.Unix(1800000000, 0).UTC()},
		},
		{
			name:  "string aud, no exp",
			token: enc(`{"aud":"events.1password.com","1password.com/fts":["itemusages"],"iat":1700000000}`),
			want:  Claims{Audience: []string{"events.1password.com"}, Features: []Feature{ItemUsages}, IssuedAt: time.Unix(1700000000, 0).UTC()},
		},
		{
			name:  "legacy aud, fractional iat",
			token: enc(`{"aud":["com.1password.streamingservice"],"iat":1700000000.5}`),
			want:  Claims{Audience: []string{"com.1password.streamingservice"}, IssuedAt: time.Unix(1700000000, 5e8).UTC()},
		},
		{
			name:  "padded segment and surrounding space",
			token: "  eyJhbGciOiJFUzI1NiJ9." + base64.URLEncoding.EncodeToString([]byte(`{"aud":"a.b"}`)) + ".c2ln\n",
			want:  Claims{Audience: []string{"a.b"}},
		},
		{name: "unknown feature kept", token: enc(`{"1password.com/fts":["newthing"]}`), want: Claims{Features: []Feature{"newthing"}}},
		{name: "null aud", token: enc(`{"aud":null}`), want: Claims{}},
		{name: "empty", token: " ", wantErr: "empty"},
		{name: "two parts", token: "abc.def", wantErr: "not a JWT"},
		{name: "bad base64", token: "a.!!!.c", wantErr: "base64url"},
		{name: "not json", token: enc(`nope`), wantErr: "JSON object"},
		{name: "features not strings", token: enc(`{"1password.com/fts":[1]}`), wantErr: "JSON object"},
		{name: "aud number", token: enc(`{"aud":5}`), wantErr: "aud claim"},
		{name: "exp string", token: enc(`{"exp":"soon"}`), wantErr: "JSON object"},
		{name: "exp huge", token: enc(`{"exp":1e300}`), wantErr: "exp claim"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClaims(tt.token)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClaimsHas(t *testing.T) {
	c := Claims{Features: []Feature{ItemUsages}}
	if !c.Has(ItemUsages) || c.Has(AuditEvents) {
		t.Errorf("Has is wrong for %v", c.Features)
	}
}

func FuzzParseClaims(f *testing.F) {
	f.Add(allFeaturesToken(f, "events.1password.com"))
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJhdWQiOjV9.c2ln")
	f.Add("eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjEuNWUxMH0.c2ln")
	f.Fuzz(func(t *testing.T, token string) {
		c, err := ParseClaims(token)
		if err != nil {
			// An error must not echo the token, or any long part of it.
			for _, part := range strings.Split(strings.TrimSpace(token), ".") {
				if len(part) >= 12 && strings.Contains(err.Error(), part) {
					t.Fatalf("error %q quotes the token", err)
				}
			}
			return
		}
		if !c.ExpiresAt.IsZero() && c.ExpiresAt.Location() != time.UTC {
			t.Errorf("exp not in UTC: %v", c.ExpiresAt)
		}
	})
}

func TestExpiryText(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   time.Duration // expiry minus now
		want string
	}{
		{40 * time.Second, "(in 40s)"},
		{1500 * time.Millisecond, "(in 2s)"},
		{59*time.Second + 600*time.Millisecond, "(in 1m)"},
		{12*time.Minute + 20*time.Second, "(in 12m)"},
		{59*time.Minute + 40*time.Second, "(in 1h)"},
		{3*time.Hour + 20*time.Minute, "(in 3h)"},
		{47 * time.Hour, "(in 47h)"},
		{90*24*time.Hour - time.Minute, "(in 90 days)"},
		{300 * time.Millisecond, "(expires now)"},
		{-3 * time.Hour, "(expired 3h ago)"},
		{-20 * time.Second, "(expired 20s ago)"},
	}
	for _, tt := range tests {
		c := Claims{ExpiresAt: now.Add(tt.in)}
		got := c.ExpiryText(now)
		if !strings.HasSuffix(got, tt.want) || !strings.HasPrefix(got, c.ExpiresAt.UTC().Format(time.RFC3339)) {
			t.Errorf("expiry in %s: %q, want the time and %q", tt.in, got, tt.want)
		}
	}
	if got := (Claims{}).ExpiryText(now); got != "never" {
		t.Errorf("no exp claim: %q, want never", got)
	}
	if got := (Claims{ExpiresAt: now.Add(40 * time.Second)}).ExpiryText(now); got != "2026-12-01T10:00:40Z (in 40s)" {
		t.Errorf("got %q", got)
	}
}
