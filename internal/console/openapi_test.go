package console

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// The OpenAPI document is held to the routes: every API route documented
// (with the same admin guard), every documented operation served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	h := newHarness(t)
	c, err := newConsole(h.deps)
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ method, path string }
	routes := map[key]bool{} // → admin
	for _, rt := range c.apiRoutes() {
		routes[key{rt.method, rt.pattern}] = rt.admin
	}
	documented := map[key]bool{}
	for _, op := range apiDoc() {
		k := key{op.Method, op.Path}
		documented[k] = op.Admin
		admin, ok := routes[k]
		switch {
		case !ok:
			t.Errorf("documented but not a route: %s %s", op.Method, op.Path)
		case admin != op.Admin:
			t.Errorf("%s %s: the route's admin guard is %v, the document says %v", op.Method, op.Path, admin, op.Admin)
		}
	}
	for k := range routes {
		if _, ok := documented[k]; !ok {
			t.Errorf("a route not documented: %s %s", k.method, k.path)
		}
	}

	// The served document: valid, every path there, every $ref resolved.
	r := h.get("/api/v1/openapi.json", h.analyst).want(t, http.StatusOK, `"openapi": "3.0.3"`)
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.body), &doc); err != nil {
		t.Fatal(err)
	}
	paths := doc["paths"].(map[string]any)
	for k := range documented {
		item, ok := paths[k.path].(map[string]any)
		if !ok || item[strings.ToLower(k.method)] == nil {
			t.Errorf("the served document lacks %s %s", k.method, k.path)
		}
	}
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if _, ok := schemas[strings.TrimPrefix(ref, "#/components/schemas/")]; !ok {
					t.Errorf("unresolved %s", ref)
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	src := schemas["Source"].(map[string]any)["properties"].(map[string]any)
	if _, ok := src["token"]; !ok || src["Token"] != nil {
		t.Errorf("the Source schema is not drawn from its JSON tags: %v", src)
	}
}

// concrete fills a documented path's parameters.
func concrete(path string) string {
	return strings.NewReplacer("{id}", "no-such-id", "{name}", "nobody", "{action}", "comment").Replace(path)
}

// Every documented operation is served, and guarded: no credentials get
// 401 JSON, a wrong token 401, an analyst 403 on an admin's operation,
// and a cross-origin browser request that changes something 403.
func TestOpenAPIOperationsServedAndGuarded(t *testing.T) {
	h := newHarness(t)
	for _, op := range apiDoc() {
		path := concrete(op.Path)
		body := func() *strings.Reader {
			if op.Method == "GET" || op.Method == "DELETE" {
				return strings.NewReader("")
			}
			return strings.NewReader("{}")
		}
		name := op.Method + " " + path
		r := h.do(op.Method, path, h.admin, body(), "Content-Type", "application/json")
		if strings.Contains(r.body, "no such endpoint") || r.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("%s is documented but not served: %d %s", name, r.StatusCode, limit(r.body, 200))
		}
		if ct := r.Header.Get("Content-Type"); r.StatusCode != http.StatusNoContent && !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s answers %s, want JSON", name, ct)
		}
		if r.StatusCode >= 400 && !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s: %d without an error message: %s", name, r.StatusCode, limit(r.body, 200))
		}

		if op.Path == "/api/v1/openapi.json" {
			continue
		}
		r = h.do(op.Method, path, "", body(), "Content-Type", "application/json")
		if r.StatusCode != http.StatusUnauthorized || !strings.Contains(r.body, `"error"`) {
			t.Errorf("%s without credentials: %d %s, want 401 JSON", name, r.StatusCode, limit(r.body, 200))
		}
		r = h.do(op.Method, path, "opw_"+strings.Repeat("x", 43), body(), "Content-Type", "application/json")
		if r.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", name, r.StatusCode)
		}
		r = h.do(op.Method, path, h.analyst, body(), "Content-Type", "application/json")
		if op.Admin != (r.StatusCode == http.StatusForbidden) {
			t.Errorf("%s as an analyst: %d (admin only: %v)", name, r.StatusCode, op.Admin)
		}
		if op.Method != "GET" {
			r = h.do(op.Method, path, h.admin, body(), "Content-Type", "application/json", "Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site")
			if r.StatusCode != http.StatusForbidden {
				t.Errorf("%s cross-origin: %d, want 403", name, r.StatusCode)
			}
		}
	}
	h.get("/api/v1/nope", h.admin).want(t, http.StatusNotFound, "no such endpoint", "openapi.json")
	h.do("PUT", "/api/v1/sources", h.admin, strings.NewReader("{}")).want(t, http.StatusNotFound, "no such endpoint")
}

// The API's document is served without a token: a script reads it first.
func TestOpenAPIPublic(t *testing.T) {
	h := newHarness(t)
	h.get("/api/v1/openapi.json", "").want(t, http.StatusOK, `"openapi": "3.0.3"`, "no token needed")
}
