package console

import (
	"net/http"
	"strings"
	"testing"
)

func TestOverviewEmpty(t *testing.T) {
	h := newHarness(t)
	r := h.get("/", h.analyst).want(t, http.StatusOK, "Overview", "No source yet", "Ask an admin", "<svg", "No open alert")
	if strings.Contains(r.body, "<script>") || strings.Contains(r.body, " style=") || strings.Contains(r.body, "<style") {
		t.Error("the page has inline script or style, which the CSP forbids")
	}
	h.get("/", h.admin).want(t, http.StatusOK, `href="/sources/new"`)
}

func TestStaticFiles(t *testing.T) {
	h := newHarness(t)
	h.get("/static/htmx.min.js", h.analyst).want(t, http.StatusOK, "htmx")
	h.get("/static/console.css", h.analyst).want(t, http.StatusOK, ".chart")
	h.get("/static/nope.js", h.analyst).want(t, http.StatusNotFound)
}

func TestUnauthenticated(t *testing.T) {
	h := newHarness(t)
	// The stylesheet and favicon are public (the login page needs them);
	// htmx is not.
	for _, path := range []string{"/", "/static/htmx.min.js", "/no/such/page"} {
		r := h.get(path, "")
		if r.StatusCode != http.StatusSeeOther && r.StatusCode != http.StatusFound {
			t.Errorf("GET %s without a login: status %d, want a redirect to the login page", path, r.StatusCode)
		}
		if loc := r.Header.Get("Location"); !strings.HasPrefix(loc, "/login") {
			t.Errorf("GET %s without a login: redirected to %q, want /login", path, loc)
		}
		r = h.get(path, "not-a-token-"+strings.Repeat("x", 30))
		if r.StatusCode == http.StatusOK {
			t.Errorf("GET %s with a wrong token: status 200", path)
		}
	}
}

func TestNotFoundPage(t *testing.T) {
	h := newHarness(t)
	h.get("/no/such/page", h.analyst).want(t, http.StatusNotFound, "Not Found", "opwatch has no page /no/such/page: use the links above")
}
