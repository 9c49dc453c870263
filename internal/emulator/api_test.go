package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRoutes(t *testing.T) {
	e := start(t, Options{Seed: 1, Events: 10})
	tok := token(t, e, TokenOptions{})
	tests := []struct {
		method, path string
		want         int
	}{
		{"POST", "/api/v1/signinattempts", 200},
		{"POST", "/api/v1/itemusages", 200},
		{"POST", "/api/v1/auditevents", 200},
		{"POST", "/api/v2/signinattempts", 200},
		{"POST", "/api/v2/itemusages", 200},
		{"POST", "/api/v2/auditevents", 200},
		{"GET", "/api/auth/introspect", 200},
		{"GET", "/api/v2/auth/introspect", 200},
		{"GET", "/api/v1/signinattempts", 404},
		{"PUT", "/api/v2/itemusages", 404},
		{"POST", "/api/v2/auth/introspect", 404},
		{"GET", "/api/v1/auth/introspect", 404},
		{"POST", "/api/v3/auditevents", 404},
		{"GET", "/api/v3/auditevents", 404},
		{"POST", "/api/v2/itemusages/", 404},
		{"POST", "/api/v2/ItemUsages", 404},
		{"POST", "/api/v2/users", 404},
		{"GET", "/", 404},
	}
	for _, tt := range tests {
		body := ""
		if tt.method == "POST" {
			body = "{}"
		}
		status, h, b := call(t, e, tok, tt.method, tt.path, body)
		if status != tt.want {
			t.Errorf("%s %s = %d, want %d: %s", tt.method, tt.path, status, tt.want, b)
		}
		if ct := h.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s %s: Content-Type %q", tt.method, tt.path, ct)
		}
		if !json.Valid(b) {
			t.Errorf("%s %s: body is not JSON: %s", tt.method, tt.path, b)
		}
	}
	if got := e.Requests()["POST /api/v2/itemusages 200"]; got != 1 {
		t.Errorf(`Requests()["POST /api/v2/itemusages 200"] = %d, want 1`, got)
	}
	if got := e.Requests()["GET (unknown) 404"]; got != 4 {
		t.Errorf(`Requests()["GET (unknown) 404"] = %d, want 4 (%v)`, got, e.Requests())
	}
}

func TestIntrospect(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 1, Now: c.Now})
	tok := token(t, e, TokenOptions{Features: []string{"signinattempts", "auditevents"}, Account: "KHUVUCTBHVDSNDHXKDGM7UESYU"})

	_, _, b := call(t, e, tok, "GET", "/api/auth/introspect", "")
	v1 := decodeObject(t, b)
	if err := checkOrder(v1.keys, req("UUID", "IssuedAt", "Features")); err != nil {
		t.Fatalf("v1 introspect: %v", err)
	}
	checkID(t, "UUID", v1.str(t, "UUID"), true)
	if got := v1.str(t, "IssuedAt"); got != "2025-07-28T19:00:00Z" {
		t.Errorf("IssuedAt = %q", got)
	}
	if got := string(v1.values["Features"]); got != `["auditevents","signinattempts"]` {
		t.Errorf("Features = %s", got)
	}

	_, _, b = call(t, e, tok, "GET", "/api/v2/auth/introspect", "")
	v2 := decodeObject(t, b)
	if err := checkOrder(v2.keys, req("uuid", "issued_at", "features", "account_uuid")); err != nil {
		t.Fatalf("v2 introspect: %v", err)
	}
	if v2.str(t, "uuid") != v1.str(t, "UUID") || v2.str(t, "issued_at") != v1.str(t, "IssuedAt") {
		t.Errorf("v1 and v2 disagree: %s vs %s", b, v1.values)
	}
	if got := v2.str(t, "account_uuid"); got != "KHUVUCTBHVDSNDHXKDGM7UESYU" {
		t.Errorf("account_uuid = %q", got)
	}

	// A token with no features may still introspect.
	none := token(t, e, TokenOptions{Features: []string{}})
	status, _, b := call(t, e, none, "GET", "/api/v2/auth/introspect", "")
	if status != 200 || !strings.Contains(string(b), `"features":[]`) {
		t.Errorf("introspect without features = %d %s", status, b)
	}
}

func TestTokenClaims(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 1, Now: c.Now})
	tok := token(t, e, TokenOptions{Features: []string{"itemusages"}, ExpiresIn: time.Hour})
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	var header map[string]any
	decodeSegment(t, parts[0], &header)
	if header["alg"] != "ES256" || header["typ"] != "JWT" || header["kid"] == "" {
		t.Errorf("header = %v", header)
	}
	var claims struct {
		Aud []string `json:"aud"`
		Fts []string `json:"1password.com/fts"`
		Acc string   `json:"1password.com/auuid"`
		Iat int64    `json:"iat"`
		Exp int64    `json:"exp"`
		Iss string   `json:"iss"`
		Sub string   `json:"sub"`
		Jti string   `json:"jti"`
	}
	decodeSegment(t, parts[1], &claims)
	if len(claims.Aud) != 1 || claims.Aud[0] != e.Host() {
		t.Errorf("aud = %v, want [%s]", claims.Aud, e.Host())
	}
	if len(claims.Fts) != 1 || claims.Fts[0] != "itemusages" || claims.Acc != e.DefaultAccount() {
		t.Errorf("claims = %+v", claims)
	}
	if claims.Exp-claims.Iat != 3600 || claims.Iat != c.Now().Unix() || claims.Iss == "" || claims.Sub == "" || claims.Jti == "" {
		t.Errorf("claims = %+v", claims)
	}

	if _, err := e.IssueToken(TokenOptions{Features: []string{"users"}}); err == nil {
		t.Error("IssueToken accepted an unknown feature")
	}
	if _, err := e.IssueToken(TokenOptions{Account: "bad account!"}); err == nil {
		t.Error("IssueToken accepted an invalid account")
	}
	unhosted, _ := New(Options{})
	if _, err := unhosted.IssueToken(TokenOptions{}); err == nil {
		t.Error("IssueToken without a host succeeded")
	}
}

func TestUnauthorized(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 1, Events: 5, Now: c.Now})
	other := start(t, Options{Seed: 1, Events: 5, Now: c.Now})
	good := token(t, e, TokenOptions{})
	expiring := token(t, e, TokenOptions{ExpiresIn: time.Minute})
	revoked := token(t, e, TokenOptions{})
	e.Revoke(revoked)
	auditOnly := token(t, e, TokenOptions{Features: []string{"auditevents"}})
	foreign := token(t, other, TokenOptions{})
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + strings.TrimSuffix(parts[1], "Q") + "R." + parts[2]
	c.Advance(2 * time.Minute)

	tests := []struct {
		name, auth, path string
	}{
		{"no header", "", "/api/v2/itemusages"},
		{"basic scheme", "Basic dXNlcjpwYXNz", "/api/v2/itemusages"},
		{"empty bearer", "Bearer ", "/api/v2/itemusages"},
		{"garbage", "Bearer not.a.jwt", "/api/v2/itemusages"},
		{"two parts", "Bearer " + parts[0] + "." + parts[1], "/api/v2/itemusages"},
		{"tampered claims", "Bearer " + tampered, "/api/v2/itemusages"},
		{"other emulator's key", "Bearer " + foreign, "/api/v2/itemusages"},
		{"expired", "Bearer " + expiring, "/api/v2/itemusages"},
		{"expired introspect", "Bearer " + expiring, "/api/v2/auth/introspect"},
		{"revoked", "Bearer " + revoked, "/api/v2/itemusages"},
		{"revoked introspect", "Bearer " + revoked, "/api/auth/introspect"},
		{"unscoped v2", "Bearer " + auditOnly, "/api/v2/itemusages"},
		{"unscoped v1", "Bearer " + auditOnly, "/api/v1/signinattempts"},
	}
	for _, tt := range tests {
		method := "POST"
		if strings.Contains(tt.path, "introspect") {
			method = "GET"
		}
		r, _ := http.NewRequest(method, e.URL()+tt.path, strings.NewReader("{}"))
		if tt.auth != "" {
			r.Header.Set("Authorization", tt.auth)
		}
		resp, err := e.HTTPClient().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			Status  int    `json:"status"`
			Message string `json:"message"`
		}
		json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if resp.StatusCode != 401 || body.Status != 401 || body.Message != "Unauthorized" {
			t.Errorf("%s: %d %+v, want 401 {401 Unauthorized}", tt.name, resp.StatusCode, body)
		}
	}
	// The scoped token still works where it is scoped, and case does not matter in the scheme.
	r, _ := http.NewRequest("POST", e.URL()+"/api/v2/auditevents", strings.NewReader("{}"))
	r.Header.Set("Authorization", "bearer "+auditOnly)
	if resp, err := e.HTTPClient().Do(r); err != nil || resp.StatusCode != 200 {
		t.Errorf("scoped token on its own feature: %v %v", resp, err)
	}
}

func TestLegacyErrorBody(t *testing.T) {
	e := start(t, Options{Seed: 1, LegacyErrorBody: true})
	status, _, b := call(t, e, "", "POST", "/api/v1/itemusages", "{}")
	if status != 401 || string(b) != `{"Error":{"Message":"Unauthorized"}}` {
		t.Errorf("got %d %s", status, b)
	}
	status, _, b = call(t, e, "", "GET", "/nope", "")
	if status != 404 || string(b) != `{"Error":{"Message":"Not Found"}}` {
		t.Errorf("got %d %s", status, b)
	}
}

func TestBadRequests(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 1, Events: 50, Now: c.Now})
	tok := token(t, e, TokenOptions{})
	otherAccount := token(t, e, TokenOptions{Account: "OTHERACCOUNT"})
	p := fetch(t, e, tok, "/api/v2/itemusages", `{"limit":10,"start_time":"2020-01-01T00:00:00Z"}`)
	good := p.Cursor
	raw := []byte(good)
	raw[len(raw)/2] ^= 1 // still base64, no longer signed
	tampered := string(raw)

	tests := []struct {
		name, tok, path, body string
	}{
		{"not JSON", tok, "/api/v2/itemusages", "limit=10"},
		{"empty body", tok, "/api/v2/itemusages", ""},
		{"array", tok, "/api/v2/itemusages", "[]"},
		{"limit 0", tok, "/api/v2/itemusages", `{"limit":0}`},
		{"limit 1001", tok, "/api/v2/itemusages", `{"limit":1001}`},
		{"limit fraction", tok, "/api/v2/itemusages", `{"limit":2.5}`},
		{"limit string", tok, "/api/v2/itemusages", `{"limit":"10"}`},
		{"bad start", tok, "/api/v2/itemusages", `{"start_time":"last week"}`},
		{"bad end", tok, "/api/v2/itemusages", `{"end_time":"2021-13-01T00:00:00Z"}`},
		{"start after end", tok, "/api/v2/itemusages", `{"start_time":"2025-07-28T18:00:00Z","end_time":"2025-07-28T17:00:00Z"}`},
		{"garbled cursor", tok, "/api/v2/itemusages", `{"cursor":"garbled!"}`},
		{"doc example cursor", tok, "/api/v2/itemusages", `{"cursor":"aGVsbG8hIGlzIGl0IG1lIHlvdSBhcmUgbG9va2luZyBmb3IK"}`},
		{"tampered cursor", tok, "/api/v2/itemusages", `{"cursor":"` + tampered + `"}`},
		{"cursor of another feature", tok, "/api/v2/auditevents", `{"cursor":"` + good + `"}`},
		{"cursor of another version", tok, "/api/v1/itemusages", `{"cursor":"` + good + `"}`},
		{"cursor of another account", otherAccount, "/api/v2/itemusages", `{"cursor":"` + good + `"}`},
		{"huge body", tok, "/api/v2/itemusages", `{"x":"` + strings.Repeat("a", 100<<10) + `"}`},
	}
	for _, tt := range tests {
		status, _, b := call(t, e, tt.tok, "POST", tt.path, tt.body)
		if status != 400 || string(b) != `{"status":400,"message":"Bad Request"}` {
			t.Errorf("%s: %d %s, want 400", tt.name, status, b)
		}
	}
	// The good cursor still works, until cursors are invalidated.
	fetch(t, e, tok, "/api/v2/itemusages", `{"cursor":"`+good+`"}`)
	e.InvalidateCursors()
	if status, _, _ := call(t, e, tok, "POST", "/api/v2/itemusages", `{"cursor":"`+good+`"}`); status != 400 {
		t.Errorf("cursor after InvalidateCursors: %d, want 400", status)
	}
	// A reset still works and hands out cursors that work.
	p = fetch(t, e, tok, "/api/v2/itemusages", `{"limit":10,"start_time":"2020-01-01T00:00:00Z"}`)
	fetch(t, e, tok, "/api/v2/itemusages", `{"cursor":"`+p.Cursor+`"}`)
}

func decodeSegment(t *testing.T, seg string, v any) {
	t.Helper()
	b, err := base64RawURL(seg)
	if err != nil {
		t.Fatalf("segment %q: %v", seg, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("segment %s: %v", b, err)
	}
}

func TestAnyContentType(t *testing.T) {
	e := start(t, Options{Seed: 1, Events: 3})
	tok := token(t, e, TokenOptions{})
	for _, ct := range []string{"", "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"} {
		req, _ := http.NewRequest("POST", e.URL()+"/api/v1/signinattempts", strings.NewReader(everything))
		req.Header.Set("Authorization", "Bearer "+tok)
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := e.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p page
		json.NewDecoder(resp.Body).Decode(&p)
		resp.Body.Close()
		if resp.StatusCode != 200 || len(p.Items) != 3 {
			t.Errorf("Content-Type %q: %d with %d items, want 200 with 3", ct, resp.StatusCode, len(p.Items))
		}
	}
}
