package emulator

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestIntegrationUUIDIsSharedByItsTokens(t *testing.T) {
	e := start(t, Options{Seed: 1})
	introspect := func(tok string) (v1, v2 string) {
		t.Helper()
		_, _, b := call(t, e, tok, "GET", "/api/auth/introspect", "")
		v1 = decodeObject(t, b).str(t, "UUID")
		_, _, b = call(t, e, tok, "GET", "/api/v2/auth/introspect", "")
		return v1, decodeObject(t, b).str(t, "uuid")
	}
	first := token(t, e, TokenOptions{Integration: "SIEMINTEGRATION", Account: "ACCOUNTONE"})
	second := token(t, e, TokenOptions{Integration: "SIEMINTEGRATION", Features: []string{"auditevents"}})
	other := token(t, e, TokenOptions{Account: "ACCOUNTONE"})
	a1, a2 := introspect(first)
	b1, b2 := introspect(second)
	c1, _ := introspect(other)
	if a1 != "SIEMINTEGRATION" || a2 != a1 || b1 != a1 || b2 != a1 {
		t.Errorf("tokens of one integration introspect to %s, %s, %s, %s; want SIEMINTEGRATION", a1, a2, b1, b2)
	}
	if c1 == a1 {
		t.Error("a token of another integration introspects to the same uuid")
	}
	// The second token names no account: it belongs to the integration's.
	_, _, b := call(t, e, second, "GET", "/api/v2/auth/introspect", "")
	if got := decodeObject(t, b).str(t, "account_uuid"); got != "ACCOUNTONE" {
		t.Errorf("account_uuid = %q, want the integration's ACCOUNTONE", got)
	}
	if _, err := e.IssueToken(TokenOptions{Integration: "SIEMINTEGRATION", Account: "ACCOUNTTWO"}); err == nil {
		t.Error("IssueToken moved an integration to another account")
	}
	if _, err := e.IssueToken(TokenOptions{Integration: "bad integration!"}); err == nil {
		t.Error("IssueToken accepted an invalid integration uuid")
	}
}

func TestTokenWithoutAccountClaim(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 2, Events: 40, Now: c.Now, RateLimitPerMinute: 5})
	bare := token(t, e, TokenOptions{Account: "SHAREDACCOUNT", NoAccountClaim: true})
	claimed := token(t, e, TokenOptions{Account: "SHAREDACCOUNT"})

	var claims map[string]any
	decodeSegment(t, strings.Split(bare, ".")[1], &claims)
	if _, ok := claims["1password.com/auuid"]; ok {
		t.Errorf("claims %v carry 1password.com/auuid", claims)
	}
	if claims["sub"] == "" || claims["aud"] == nil || claims["1password.com/fts"] == nil {
		t.Errorf("claims %v lack sub, aud or fts", claims)
	}
	// Introspection still reports the account, and the events are the
	// account's.
	_, _, b := call(t, e, bare, "GET", "/api/v2/auth/introspect", "")
	if got := decodeObject(t, b).str(t, "account_uuid"); got != "SHAREDACCOUNT" {
		t.Errorf("introspection account_uuid = %q, want SHAREDACCOUNT", got)
	}
	if diff := cmp.Diff(all(e, "SHAREDACCOUNT", "auditevents", 2), drain(t, e, bare, "/api/v2/auditevents", everything)); diff != "" {
		t.Errorf("events of a token without the claim (-want +got):\n%s", diff)
	}
	// Both tokens draw on the one account's budget (5 a minute): 2
	// requests so far, 3 more fit, whichever token sends them.
	for i, tok := range []string{claimed, bare, claimed} {
		if status, _, _ := call(t, e, tok, "GET", "/api/v2/auth/introspect", ""); status != 200 {
			t.Fatalf("request %d within the budget: %d", i+3, status)
		}
	}
	for _, tok := range []string{claimed, bare} {
		if status, _, _ := call(t, e, tok, "GET", "/api/v2/auth/introspect", ""); status != 429 {
			t.Errorf("past the shared budget: %d, want 429", status)
		}
	}
}
