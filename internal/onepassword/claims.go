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
