package onepassword

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ParseClaims reads the claims of an Events API bearer token without
// verifying its signature: the server verifies it, and the client only needs
// the host and the features. Errors never quote the token.
func ParseClaims(token string) (Claims, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return Claims{}, errors.New("the 1Password token is empty: paste the bearer token of an Events Reporting integration")
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("the 1Password token is not a JWT (it has %d dot-separated parts, want 3): paste the whole bearer token of an Events Reporting integration", len(parts))
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return Claims{}, errors.New("the 1Password token's claims are not base64url: paste the whole bearer token again")
	}
	var raw struct {
		Aud   json.RawMessage `json:"aud"`
		Fts   []string        `json:"1password.com/fts"`
		Auuid string          `json:"1password.com/auuid"`
		Iat   *json.Number    `json:"iat"`
		Exp   *json.Number    `json:"exp"`
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if err := dec.Decode(&raw); err != nil {
		return Claims{}, errors.New("the 1Password token's claims are not a JSON object with the expected types: paste the whole bearer token again")
	}
	var c Claims
	if c.Audience, err = parseAudience(raw.Aud); err != nil {
		return Claims{}, err
	}
	for _, f := range raw.Fts {
		c.Features = append(c.Features, Feature(f))
	}
	c.AccountUUID = raw.Auuid
	if c.IssuedAt, err = numericDate("iat", raw.Iat); err != nil {
		return Claims{}, err
	}
	if c.ExpiresAt, err = numericDate("exp", raw.Exp); err != nil {
		return Claims{}, err
	}
	return c, nil
}

// decodeSegment decodes base64url, with or without padding.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// parseAudience accepts the two forms RFC 7519 allows: a string or an array
// of strings.
func parseAudience(raw json.RawMessage) ([]string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var one string
	if err := json.Unmarshal(raw, &one); err == nil {
		return []string{one}, nil
	}
	var many []string
	if err := json.Unmarshal(raw, &many); err != nil {
		return nil, errors.New("the 1Password token's aud claim is neither a string nor an array of strings: paste the whole bearer token again")
	}
	return many, nil
}

// numericDate converts a JWT NumericDate (seconds, possibly fractional).
func numericDate(name string, n *json.Number) (time.Time, error) {
	if n == nil {
		return time.Time{}, nil
	}
	f, err := n.Float64()
	// Beyond ±1e11 s (year ~5000) time.Unix would overflow or be nonsense.
	if err != nil || math.IsNaN(f) || math.Abs(f) > 1e11 {
		return time.Time{}, fmt.Errorf("the 1Password token's %s claim is not a valid time: paste the whole bearer token again", name)
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)).UTC(), nil
}

// ExpiryText says when the token expires, for people: "never",
// "2026-12-01T10:00:00Z (in 40s)" or "2026-12-01T10:00:00Z (expired 3h ago)".
func (c Claims) ExpiryText(now time.Time) string {
	if c.ExpiresAt.IsZero() {
		return "never"
	}
	at := c.ExpiresAt.UTC().Format(time.RFC3339)
	d := c.ExpiresAt.Sub(now)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%s (in %s)", at, approxDuration(d))
	case d > -time.Second:
		return fmt.Sprintf("%s (expires now)", at)
	}
	return fmt.Sprintf("%s (expired %s ago)", at, approxDuration(-d))
}

// approxDuration rounds d (positive) to its largest sensible unit, so that
// 40s stays "40s" and 89 days is not "2136h0m0s".
func approxDuration(d time.Duration) string {
	if s := d.Round(time.Second); s < time.Minute {
		return fmt.Sprintf("%ds", s/time.Second)
	}
	if m := d.Round(time.Minute); m < time.Hour {
		return fmt.Sprintf("%dm", m/time.Minute)
	}
	if h := d.Round(time.Hour); h < 48*time.Hour {
		return fmt.Sprintf("%dh", h/time.Hour)
	}
	days := d.Round(24*time.Hour) / (24 * time.Hour)
	return fmt.Sprintf("%d days", days)
}
