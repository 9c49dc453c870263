package emulator

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/asn1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Bearer tokens are compact JWS (ES256), shaped like 1Password's Events
// Reporting tokens: 1Password's own clients read aud[0] to find the server
// and 1password.com/fts for the features, without verifying anything. The
// emulator verifies the signature, expiry, revocation and features.

// TokenOptions says what a token issued by the emulator may do.
type TokenOptions struct {
	// Features the token grants: "signinattempts", "itemusages",
	// "auditevents". Nil grants all three; an empty, non-nil slice none.
	Features []string
	// Account the token belongs to: "" for the default account (see
	// DefaultAccount), or any other account UUID-like name (letters, digits,
	// - and _, at most 64), which gets its own data and rate limits.
	Account string
	// ExpiresIn, when positive, sets the token's exp claim.
	ExpiresIn time.Duration
	// Integration is the UUID of the Events Reporting integration the token
	// is issued for (letters, digits, - and _, at most 64). Introspection
	// reports it, the same for every token of the integration. "" makes a
	// new integration for this token alone. The first token naming an
	// integration creates it in Account; later ones belong to that account
	// (naming another Account is an error).
	Integration string
	// NoAccountClaim leaves out the 1password.com/auuid claim, which is
	// inferred from other 1Password tokens, not documented for Events API
	// ones (reference §6): the server still knows the account from the
	// integration, and v2 introspection still reports it.
	NoAccountClaim bool
}

type tokenClaims struct {
	Account  string   `json:"1password.com/auuid,omitempty"`
	Features []string `json:"1password.com/fts"`
	Audience []string `json:"aud"`
	Expiry   int64    `json:"exp,omitempty"`
	IssuedAt int64    `json:"iat"`
	Issuer   string   `json:"iss"`
	ID       string   `json:"jti"`
	Subject  string   `json:"sub"` // the Events Reporting integration's UUID
}

type tokenHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

const tokenIssuer = "com.1password.b5"

// signer holds the emulator's token key.
type signer struct {
	key *ecdsa.PrivateKey
	kid string
}

func newSigner() (*signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate token signing key: %w", err)
	}
	return &signer{key: key, kid: randomID(false)}, nil
}

// randomID returns a fresh 26-character base32 id.
func randomID(upper bool) string {
	var b [16]byte
	rand.Read(b[:])
	h1 := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	h2 := uint64(b[8]) | uint64(b[9])<<8 | uint64(b[10])<<16 | uint64(b[11])<<24 | uint64(b[12])<<32 | uint64(b[13])<<40 | uint64(b[14])<<48 | uint64(b[15])<<56
	return id(h1, h2, upper)
}

func (s *signer) sign(c tokenClaims) (string, error) {
	h, err := json.Marshal(tokenHeader{Alg: "ES256", Kid: s.kid, Typ: "JWT"})
	if err != nil {
		return "", err
	}
	p, err := json.Marshal(c)
	if err != nil {
		return "", err
	}
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	digest := sha256.Sum256([]byte(input))
	der, err := ecdsa.SignASN1(rand.Reader, s.key, digest[:])
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	var sig struct{ R, S *big.Int }
	if _, err := asn1.Unmarshal(der, &sig); err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	// JWS wants r||s, each 32 bytes big-endian.
	raw := make([]byte, 64)
	sig.R.FillBytes(raw[:32])
	sig.S.FillBytes(raw[32:])
	return input + "." + base64.RawURLEncoding.EncodeToString(raw), nil
}

var errBadToken = errors.New("invalid token")

// verify checks the token's form and signature and returns its claims. It
// does not check expiry or revocation, which change with time.
func (s *signer) verify(token string) (*tokenClaims, error) {
	if len(token) > 8<<10 {
		return nil, errBadToken
	}
	h, rest, ok := strings.Cut(token, ".")
	if !ok {
		return nil, errBadToken
	}
	p, sig64, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(sig64, ".") {
		return nil, errBadToken
	}
	hb, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return nil, errBadToken
	}
	var hdr tokenHeader
	if json.Unmarshal(hb, &hdr) != nil || hdr.Alg != "ES256" || hdr.Kid != s.kid {
		return nil, errBadToken
	}
	raw, err := base64.RawURLEncoding.DecodeString(sig64)
	if err != nil || len(raw) != 64 {
		return nil, errBadToken
	}
	der, err := asn1.Marshal(struct{ R, S *big.Int }{new(big.Int).SetBytes(raw[:32]), new(big.Int).SetBytes(raw[32:])})
	if err != nil {
		return nil, errBadToken
	}
	digest := sha256.Sum256([]byte(token[:len(h)+1+len(p)]))
	if !ecdsa.VerifyASN1(&s.key.PublicKey, digest[:], der) {
		return nil, errBadToken
	}
	pb, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return nil, errBadToken
	}
	var c tokenClaims
	if json.Unmarshal(pb, &c) != nil || c.ID == "" || c.Subject == "" || c.Account != "" && validAccount(c.Account) != nil {
		return nil, errBadToken
	}
	return &c, nil
}

// has reports whether the claims grant feature f.
func (c *tokenClaims) has(f string) bool { return slices.Contains(c.Features, f) }

// unverifiedID returns a token's jti without checking anything, for Revoke.
func unverifiedID(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	pb, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c tokenClaims
	if json.Unmarshal(pb, &c) != nil {
		return ""
	}
	return c.ID
}

func validAccount(a string) error {
	if a == "" || len(a) > maxAccountLen {
		return fmt.Errorf("account %q: want 1 to %d letters, digits, - or _", a, maxAccountLen)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return fmt.Errorf("account %q: want 1 to %d letters, digits, - or _", a, maxAccountLen)
		}
	}
	return nil
}
