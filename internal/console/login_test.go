package console

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// The console's login page, as auth renders it with RenderLogin: the
// stylesheet and header, the fields auth reads, what was typed escaped, and
// no inline script or style.
func TestRenderLogin(t *testing.T) {
	var b bytes.Buffer
	if err := RenderLogin(&b, auth.LoginData{Next: `/alerts?q="x"`, Name: "<b>bob</b>", Error: "wrong <name> or password"}); err != nil {
		t.Fatal(err)
	}
	body := b.String()
	for _, s := range []string{`<link rel="stylesheet" href="/static/console.css">`, `<a class="brand" href="/">opwatch</a>`,
		"<h1>Sign in to opwatch</h1>", `<label for="name">User name</label>`, `<label for="password">Password</label>`,
		`name="next" value="/alerts?q=&#34;x&#34;"`, `value="&lt;b&gt;bob&lt;/b&gt;"`, `role="alert">wrong &lt;name&gt; or password</p>`,
		`<form class="stack" method="post" action="/login">`} {
		if !strings.Contains(body, s) {
			t.Errorf("the login page lacks %s\n%s", s, body)
		}
	}
	for _, s := range []string{"<script", "<style", "style=", "<nav"} {
		if strings.Contains(body, s) {
			t.Errorf("the login page holds %s\n%s", s, body)
		}
	}
	b.Reset()
	if err := RenderLogin(&b, auth.LoginData{Next: "/"}); err != nil || strings.Contains(b.String(), `role="alert"`) {
		t.Errorf("a first visit shows an error: %v\n%s", err, b.String())
	}

	// Through auth: the form signs in.
	ctx := context.Background()
	st, err := engine.Open(ctx, filepath.Join(t.TempDir(), "opwatch.db"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	as := auth.New(auth.Config{Store: st, RenderLogin: RenderLogin})
	const pw = "correct horse battery staple"
	if _, err := as.AddUser(ctx, "bob", auth.RoleAnalyst, pw); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	as.Mount(mux)
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/login?next=/alerts", nil))
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `name="next" value="/alerts"`) {
		t.Errorf("GET /login: %d\n%s", w.Code, w.Body)
	}
	req := httptest.NewRequest("POST", "/login", strings.NewReader(url.Values{"name": {"bob"}, "password": {pw}, "next": {"/alerts"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/alerts" {
		t.Errorf("POST /login: %d to %q", w.Code, w.Header().Get("Location"))
	}
}

// Mounting the console gives auth's login page the console's look, and the
// stylesheet and favicon it links are served before anyone signs in; the
// other static files stay behind the login.
func TestLoginPageStyledWithoutAWiring(t *testing.T) {
	h := newHarness(t)
	h.get("/login", "").want(t, http.StatusOK, `<a class="brand" href="/">opwatch</a>`, "<h1>Sign in to opwatch</h1>", `href="/static/favicon.svg"`)
	r := h.get("/static/console.css", "").want(t, http.StatusOK, ".chart")
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("the stylesheet is served as %q", ct)
	}
	h.get("/static/favicon.svg", "").want(t, http.StatusOK, "<svg")
	if r := h.get("/favicon.ico", ""); r.StatusCode != http.StatusMovedPermanently || r.Header.Get("Location") != "/static/favicon.svg" {
		t.Errorf("/favicon.ico: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if r := h.get("/static/htmx.min.js", ""); r.StatusCode == http.StatusOK {
		t.Error("htmx is served without a login")
	}
	h.get("/static/htmx.min.js", h.analyst).want(t, http.StatusOK)
}
