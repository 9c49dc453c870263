package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testEnv is a Service on a fresh SQLite store and a fake clock, mounted
// on a mux with a page, an API endpoint and admin-only routes that echo
// the principal.
type testEnv struct {
	t    testing.TB
	svc  *Service
	st   store.Store
	clk  *clock
	logs *syncBuffer
	mux  *http.ServeMux
	// bodies and headers of every response, to look for secrets in.
	seen strings.Builder
}

const testPassword = "correct horse battery"

func newEnv(t testing.TB, edit ...func(*Config)) *testEnv {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	st, err := sqlite.Open(context.Background(), t.TempDir()+"/opwatch.db", sqlite.Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	logs := &syncBuffer{}
	cfg := Config{Store: st, Now: clk.Now, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, f := range edit {
		f(&cfg)
	}
	svc := New(cfg)
	svc.kdf = kdfParams{memory: 64, time: 1, threads: 1, saltLen: 16, keyLen: 32} // cheap, for tests
	e := &testEnv{t: t, svc: svc, st: st, clk: clk, logs: logs, mux: http.NewServeMux()}
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			t.Error("a handler behind Middleware has no principal")
		}
		fmt.Fprintf(w, "hello %s %s %s", p.Name, p.Role, p.TokenID)
	})
	svc.Mount(e.mux)
	e.mux.Handle("/", svc.Middleware(echo))
	e.mux.Handle("/api/", svc.Middleware(echo))
	e.mux.Handle("POST /sources/x", svc.Middleware(RequireAdmin(echo)))
	e.mux.Handle("POST /api/v1/sources", svc.Middleware(RequireAdmin(echo)))
	return e
}

type req struct {
	method, path string
	form         url.Values
	header       map[string]string
	cookie       string // the session cookie's value
}

func (e *testEnv) do(r req) *httptest.ResponseRecorder {
	e.t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	var body io.Reader
	if r.form != nil {
		body = strings.NewReader(r.form.Encode())
	}
	hr := httptest.NewRequest(r.method, r.path, body)
	if r.form != nil {
		hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.cookie != "" {
		hr.AddCookie(&http.Cookie{Name: e.svc.cookieName(), Value: r.cookie})
	}
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, hr)
	fmt.Fprintf(&e.seen, "%v\n%s\n", w.Header(), w.Body.String())
	return w
}

func (e *testEnv) addUser(name, role string) store.User {
	e.t.Helper()
	u, err := e.svc.AddUser(context.Background(), name, role, testPassword)
	if err != nil {
		e.t.Fatal(err)
	}
	return u
}

// login signs in and returns the session cookie's value.
func (e *testEnv) login(name, password string) string {
	e.t.Helper()
	w := e.do(req{method: "POST", path: "/login", form: url.Values{"name": {name}, "password": {password}}})
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("sign in as %s: %d %s", name, w.Code, w.Body)
	}
	c := sessionCookie(e.t, e.svc, w)
	if c == nil {
		e.t.Fatal("signed in without a session cookie")
	}
	return c.Value
}

func sessionCookie(t testing.TB, svc *Service, w *httptest.ResponseRecorder) *http.Cookie {
	t.Helper()
	for _, c := range w.Result().Cookies() {
		if c.Name == svc.cookieName() {
			return c
		}
	}
	return nil
}

func jsonError(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q; want application/json", ct)
	}
	var body map[string]string
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || body["error"] == "" {
		t.Errorf("body %q: want {\"error\": \"...\"} (%v)", w.Body, err)
	}
	return body["error"]
}

func TestUnauthenticated(t *testing.T) {
	e := newEnv(t)
	w := e.do(req{path: "/alerts?status=open"})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login?next=%2Falerts%3Fstatus%3Dopen" {
		t.Errorf("a page without a session: %d to %q; want 303 to the login page with next", w.Code, w.Header().Get("Location"))
	}
	w = e.do(req{path: "/api/v1/alerts"})
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("the API without a token: %d, WWW-Authenticate %q; want 401 Bearer", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	jsonError(t, w)
	w = e.do(req{path: "/alerts/1", header: map[string]string{"HX-Request": "true"}})
	if w.Code != http.StatusUnauthorized || w.Header().Get("HX-Redirect") != "/login?next=%2Falerts%2F1" {
		t.Errorf("htmx without a session: %d, HX-Redirect %q", w.Code, w.Header().Get("HX-Redirect"))
	}
	for _, c := range []string{"not-a-session", strings.Repeat("A", 43)} {
		w = e.do(req{path: "/api/v1/alerts", cookie: c})
		if w.Code != http.StatusUnauthorized {
			t.Errorf("cookie %q: %d; want 401", c, w.Code)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	c := e.login("alice", testPassword)
	for _, r := range []req{{path: "/"}, {path: "/api/v1/x"}, {path: "/login"}, {path: "/", cookie: c},
		{method: "POST", path: "/login", form: url.Values{"name": {"alice"}}}} {
		w := e.do(r)
		h := w.Header()
		if h.Get("Content-Security-Policy") != ContentSecurityPolicy || h.Get("X-Content-Type-Options") != "nosniff" ||
			h.Get("Referrer-Policy") != "same-origin" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: headers %v", r.method, r.path, h)
		}
	}
	for _, d := range []string{"script-src 'self';", "style-src 'self';", "frame-ancestors 'none'"} {
		if !strings.Contains(ContentSecurityPolicy, d) || strings.Contains(ContentSecurityPolicy, "unsafe") {
			t.Errorf("CSP %q lacks %q or allows unsafe sources", ContentSecurityPolicy, d)
		}
	}
	// The login page works under that CSP: no inline script or style.
	body := e.do(req{path: "/login"}).Body.String()
	for _, bad := range []string{"<script", "<style", "style=", "onclick", "onsubmit", "javascript:"} {
		if strings.Contains(body, bad) {
			t.Errorf("the login page has %q, which the CSP blocks", bad)
		}
	}
}

func TestLoginLogout(t *testing.T) {
	e := newEnv(t)
	alice := e.addUser("Alice", RoleAnalyst) // stored lower case
	if alice.Name != "alice" {
		t.Fatalf("name %q; want alice", alice.Name)
	}
	w := e.do(req{path: "/login?next=%2Falerts%3Fstatus%3Dopen"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `name="next" value="/alerts?status=open"`) {
		t.Fatalf("login page: %d %s", w.Code, w.Body)
	}
	w = e.do(req{method: "POST", path: "/login", form: url.Values{"name": {" ALICE "}, "password": {testPassword}, "next": {"/alerts?status=open"}}})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/alerts?status=open" {
		t.Fatalf("sign in: %d to %q", w.Code, w.Header().Get("Location"))
	}
	c := sessionCookie(t, e.svc, w)
	if c == nil || c.Name != "opwatch_session" || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Path != "/" ||
		c.Secure || c.MaxAge != 7*24*3600 || !isSecret(c.Value) {
		t.Fatalf("cookie %+v: want HttpOnly, SameSite=Lax, Path=/, not Secure without TLS, a week", c)
	}
	// Only the hash is stored.
	if _, _, err := e.st.Session(context.Background(), c.Value, e.clk.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the session id itself is a stored key: %v", err)
	}
	if w := e.do(req{path: "/alerts", cookie: c.Value}); w.Code != 200 || w.Body.String() != "hello alice analyst " {
		t.Errorf("with the session: %d %q", w.Code, w.Body)
	}
	if u, _ := e.st.UserByName(context.Background(), "alice"); !u.LastLoginAt.Equal(e.clk.Now()) {
		t.Errorf("LastLoginAt %v; want %v", u.LastLoginAt, e.clk.Now())
	}
	// Signed in, the login page sends you on.
	if w := e.do(req{path: "/login?next=/sources", cookie: c.Value}); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/sources" {
		t.Errorf("login page while signed in: %d to %q", w.Code, w.Header().Get("Location"))
	}
	w = e.do(req{method: "POST", path: "/logout", cookie: c.Value})
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Errorf("logout: %d to %q", w.Code, w.Header().Get("Location"))
	}
	if gone := sessionCookie(t, e.svc, w); gone == nil || gone.MaxAge >= 0 {
		t.Errorf("logout cookie %+v; want it removed", gone)
	}
	if w := e.do(req{path: "/api/v1/x", cookie: c.Value}); w.Code != http.StatusUnauthorized {
		t.Errorf("the old cookie after logout: %d; want 401 (the session is deleted)", w.Code)
	}
	c2 := e.login("alice", testPassword)
	e.do(req{path: "/logout", cookie: c2})
	if w := e.do(req{path: "/x", cookie: c2}); w.Code != 200 {
		t.Errorf("after GET /logout: %d; want the session alive (a link must not sign out)", w.Code)
	}
}

func TestSecureCookie(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SecureCookies = true })
	e.addUser("alice", RoleAnalyst)
	w := e.do(req{method: "POST", path: "/login", form: url.Values{"name": {"alice"}, "password": {testPassword}}})
	c := sessionCookie(t, e.svc, w)
	if c == nil || !c.Secure || c.Name != "__Host-opwatch_session" || c.Path != "/" || c.Domain != "" {
		t.Fatalf("cookie under TLS: %+v; want Secure, __Host-, Path=/ and no Domain", c)
	}
}

// A new sign-in gets a new id and ends the session the browser had.
func TestLoginRotatesSession(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	old := e.login("alice", testPassword)
	w := e.do(req{method: "POST", path: "/login", form: url.Values{"name": {"alice"}, "password": {testPassword}}, cookie: old})
	c := sessionCookie(t, e.svc, w)
	if c == nil || c.Value == old {
		t.Fatalf("second sign-in kept the id")
	}
	if w := e.do(req{path: "/x", cookie: old}); w.Code != http.StatusSeeOther {
		t.Errorf("the old session after a new sign-in: %d; want it ended", w.Code)
	}
}

func TestWrongPassword(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	var bodies []string
	for _, f := range []url.Values{
		{"name": {"alice"}, "password": {"wrong password here"}},
		{"name": {"mallory"}, "password": {testPassword}},
		{"name": {"alice"}, "password": {""}},
		{"name": {"alice"}, "password": {strings.Repeat("x", 2000)}},
	} {
		w := e.do(req{method: "POST", path: "/login", form: f})
		if w.Code != http.StatusUnauthorized || sessionCookie(t, e.svc, w) != nil {
			t.Errorf("%v: %d, cookie %v; want 401 and none", f, w.Code, sessionCookie(t, e.svc, w))
		}
		if !strings.Contains(w.Body.String(), wrongCredentials) {
			t.Errorf("%v: the page does not say %q", f, wrongCredentials)
		}
		bodies = append(bodies, strings.ReplaceAll(w.Body.String(), f.Get("name"), "NAME"))
	}
	if bodies[0] != bodies[1] {
		t.Errorf("a wrong password and an unknown user read differently:\n%s\n%s", bodies[0], bodies[1])
	}
	// The unknown user's password was checked against the dummy hash.
	if e.svc.dummy == "" {
		t.Error("an unknown user was answered without hashing")
	}
	if strings.Contains(e.logs.String(), "mallory") {
		t.Error("an unknown user name (perhaps a password typed there) was logged")
	}
	if strings.Contains(e.logs.String(), "wrong password here") || strings.Contains(e.logs.String(), testPassword) {
		t.Error("a password was logged")
	}
}

func TestRateLimit(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	e.addUser("bob", RoleAnalyst)
	try := func(name, password, ip string) *httptest.ResponseRecorder {
		hr := req{method: "POST", path: "/login", form: url.Values{"name": {name}, "password": {password}}}
		w := httptest.NewRecorder()
		r := httptest.NewRequest(hr.method, hr.path, strings.NewReader(hr.form.Encode()))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.RemoteAddr = ip + ":1234"
		e.mux.ServeHTTP(w, r)
		return w
	}
	// Per user name: five wrong guesses from five addresses lock alice.
	for i := range 5 {
		if w := try("alice", "wrong guess!!", fmt.Sprintf("198.51.100.%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d: %d", i, w.Code)
		}
	}
	w := try("alice", testPassword, "203.0.113.9")
	if w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" || sessionCookie(t, e.svc, w) != nil {
		t.Fatalf("the right password while locked: %d, Retry-After %q; want 429, 1", w.Code, w.Header().Get("Retry-After"))
	}
	if !strings.Contains(w.Body.String(), "Too many failed sign-ins") {
		t.Errorf("429 page: %s", w.Body)
	}
	// Bob from a clean address is not locked.
	if w := try("bob", testPassword, "203.0.113.9"); w.Code != http.StatusSeeOther {
		t.Errorf("bob: %d", w.Code)
	}
	e.clk.Advance(time.Second)
	if w := try("alice", testPassword, "203.0.113.9"); w.Code != http.StatusSeeOther {
		t.Errorf("after the delay, the right password: %d", w.Code)
	}
	// A sign-in clears the name's failures: four more are free again.
	for i := range 4 {
		if w := try("alice", "wrong guess!!", fmt.Sprintf("198.51.101.%d", i)); w.Code != http.StatusUnauthorized {
			t.Fatalf("guess %d after signing in: %d; want 401", i, w.Code)
		}
	}
	if w := try("alice", testPassword, "203.0.113.10"); w.Code != http.StatusSeeOther {
		t.Errorf("four failures after a sign-in: %d; want the name unlocked", w.Code)
	}
	// Per address: five wrong guesses at five names lock the address.
	for i := range 5 {
		try(fmt.Sprintf("user%d", i), "wrong guess!!", "192.0.2.66")
	}
	if w := try("bob", testPassword, "192.0.2.66"); w.Code != http.StatusTooManyRequests {
		t.Errorf("a locked address: %d; want 429", w.Code)
	}
	// The delay doubles.
	e.clk.Advance(time.Second)
	try("carol", "wrong guess!!", "192.0.2.66")
	if w := try("bob", testPassword, "192.0.2.66"); w.Header().Get("Retry-After") != "2" {
		t.Errorf("sixth failure: Retry-After %q; want 2", w.Header().Get("Retry-After"))
	}
}

func TestRequireAdmin(t *testing.T) {
	e := newEnv(t)
	e.addUser("ana", RoleAnalyst)
	e.addUser("root", RoleAdmin)
	ana, root := e.login("ana", testPassword), e.login("root", testPassword)
	w := e.do(req{method: "POST", path: "/api/v1/sources", cookie: ana})
	if w.Code != http.StatusForbidden || !strings.Contains(jsonError(t, w), "admin") {
		t.Errorf("analyst on the API: %d %s", w.Code, w.Body)
	}
	w = e.do(req{method: "POST", path: "/sources/x", cookie: ana})
	if w.Code != http.StatusForbidden || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(w.Body.String(), "only an admin") {
		t.Errorf("analyst on a page: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	for _, p := range []string{"/api/v1/sources", "/sources/x"} {
		if w := e.do(req{method: "POST", path: p, cookie: root}); w.Code != 200 || w.Body.String() != "hello root admin " {
			t.Errorf("admin %s: %d %s", p, w.Code, w.Body)
		}
	}
	// A role change counts at once.
	if err := e.svc.SetRole(context.Background(), "ana", RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if w := e.do(req{method: "POST", path: "/sources/x", cookie: ana}); w.Code != 200 {
		t.Errorf("ana made admin: %d", w.Code)
	}
	// Without Middleware, RequireAdmin refuses.
	w = httptest.NewRecorder()
	RequireAdmin(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("POST", "/api/v1/x", nil))
	if w.Code != http.StatusUnauthorized {
		t.Errorf("RequireAdmin alone: %d", w.Code)
	}
}

// A refusal as a page has the console's look (its stylesheet and header)
// within the policy: no inline script or style. The message stays.
func TestDeniedPageLook(t *testing.T) {
	e := newEnv(t)
	e.addUser("ana", RoleAnalyst)
	w := e.do(req{method: "POST", path: "/sources/x", cookie: e.login("ana", testPassword)})
	body := w.Body.String()
	for _, s := range []string{`<link rel="stylesheet" href="/static/console.css">`, `<header class="top"><a class="brand" href="/">opwatch</a></header>`,
		"<h1>Forbidden</h1>", `role="alert">only an admin can change this; your role is analyst: ask an admin</p>`} {
		if !strings.Contains(body, s) {
			t.Errorf("the denied page lacks %s\n%s", s, body)
		}
	}
	for _, s := range []string{"<script", "<style", "style=", "onload=", "onclick="} {
		if strings.Contains(strings.ToLower(body), s) {
			t.Errorf("the denied page holds %q, which the policy %q refuses\n%s", s, w.Header().Get("Content-Security-Policy"), body)
		}
	}
}

func TestCrossOrigin(t *testing.T) {
	e := newEnv(t)
	e.addUser("root", RoleAdmin)
	root := e.login("root", testPassword)
	plain, _, err := e.svc.CreateToken(context.Background(), "ci", RoleAdmin, "root", 0)
	if err != nil {
		t.Fatal(err)
	}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	for _, r := range []req{
		{method: "POST", path: "/sources/x", cookie: root, header: cross},
		{method: "POST", path: "/api/v1/sources", cookie: root, header: map[string]string{"Sec-Fetch-Site": "same-site"}},
		{method: "DELETE", path: "/api/v1/x", cookie: root, header: cross},
		{method: "POST", path: "/sources/x", cookie: root, header: map[string]string{"Origin": "https://evil.example"}}, // older browsers: Origin vs Host
		{method: "POST", path: "/logout", cookie: root, header: cross},
		{method: "POST", path: "/login", form: url.Values{"name": {"root"}, "password": {testPassword}}, header: cross},
		{method: "POST", path: "/api/v1/sources", header: map[string]string{"Authorization": "Bearer " + plain, "Sec-Fetch-Site": "cross-site"}},
	} {
		w := e.do(r)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s %s %v: %d; want 403", r.method, r.path, r.header, w.Code)
		}
		if strings.HasPrefix(r.path, "/api/") {
			jsonError(t, w)
		}
	}
	if w := e.do(req{path: "/api/v1/x", cookie: root}); w.Code != 200 {
		t.Errorf("the session survived the refused logout? %d", w.Code)
	}
	for _, r := range []req{
		{method: "POST", path: "/sources/x", cookie: root, header: map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://example.com"}},
		{method: "POST", path: "/sources/x", cookie: root, header: map[string]string{"Origin": "http://example.com"}},
		{method: "GET", path: "/sources", cookie: root, header: cross},                                           // reads are not refused: a link from elsewhere works
		{method: "POST", path: "/api/v1/sources", header: map[string]string{"Authorization": "Bearer " + plain}}, // a program
	} {
		if w := e.do(r); w.Code != 200 {
			t.Errorf("%s %s %v: %d; want 200", r.method, r.path, r.header, w.Code)
		}
	}
	if err := e.svc.AddTrustedOrigin("https://opwatch.example.com"); err != nil {
		t.Fatal(err)
	}
	if w := e.do(req{method: "POST", path: "/sources/x", cookie: root, header: map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://opwatch.example.com"}}); w.Code != 200 {
		t.Errorf("a trusted origin: %d", w.Code)
	}
	if err := e.svc.AddTrustedOrigin("https://x.example/path"); err == nil {
		t.Error("an origin with a path was accepted")
	}
}

func TestSessionExpiry(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	c := e.login("alice", testPassword)
	ok := func() bool { return e.do(req{path: "/api/v1/x", cookie: c}).Code == 200 }
	// Active every 11 hours: the idle end keeps moving, for almost a week.
	for range 15 {
		e.clk.Advance(11 * time.Hour)
		if !ok() {
			t.Fatalf("a session used every 11 hours ended after %v", e.clk.Now().Sub(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
		}
	}
	e.clk.Advance(3 * time.Hour) // 168 h since sign-in
	if ok() {
		t.Error("a session outlived its 7 days")
	}
	c = e.login("alice", testPassword)
	e.clk.Advance(12 * time.Hour)
	if ok() {
		t.Error("a session idle for 12 hours is live")
	}
	w := e.do(req{path: "/alerts", cookie: c})
	if w.Code != http.StatusSeeOther || sessionCookie(t, e.svc, w) == nil || sessionCookie(t, e.svc, w).MaxAge >= 0 {
		t.Errorf("an ended session: %d, cookie %v; want a redirect that removes the cookie", w.Code, sessionCookie(t, e.svc, w))
	}
	// A new sign-in purges ended sessions.
	e.login("alice", testPassword)
	if n, _ := e.st.PurgeSessions(context.Background(), e.clk.Now()); n != 0 {
		t.Errorf("%d ended sessions left after a sign-in", n)
	}
}

func TestSessionTTLConfig(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.SessionTTL = time.Hour; c.SessionMaxAge = 2 * time.Hour })
	e.addUser("alice", RoleAnalyst)
	c := e.login("alice", testPassword)
	e.clk.Advance(59 * time.Minute)
	if e.do(req{path: "/x", cookie: c}).Code != 200 {
		t.Fatal("ended before SessionTTL")
	}
	e.clk.Advance(59 * time.Minute)
	if e.do(req{path: "/x", cookie: c}).Code != 200 {
		t.Fatal("a used session ended before SessionMaxAge")
	}
	e.clk.Advance(2 * time.Minute)
	if e.do(req{path: "/x", cookie: c}).Code == 200 {
		t.Fatal("a session outlived SessionMaxAge")
	}
}

func TestTokens(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	plain, tok, err := e.svc.CreateToken(ctx, "ci", RoleAnalyst, "root", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(plain, "opw_") || len(plain) != 47 || tok.Last4 != plain[43:] || tok.Hash != "" ||
		!tok.ExpiresAt.Equal(e.clk.Now().Add(24*time.Hour)) || tok.CreatedBy != "root" {
		t.Fatalf("token %q, %+v", plain, tok)
	}
	bearer := func(v string) *httptest.ResponseRecorder {
		return e.do(req{path: "/api/v1/alerts", header: map[string]string{"Authorization": v}})
	}
	if w := bearer("Bearer " + plain); w.Code != 200 || w.Body.String() != "hello token:ci analyst "+tok.ID {
		t.Errorf("with the token: %d %q", w.Code, w.Body)
	}
	if w := bearer("bearer   " + plain); w.Code != 200 {
		t.Errorf("scheme in lower case, extra spaces: %d", w.Code)
	}
	if w := e.do(req{method: "POST", path: "/api/v1/sources", header: map[string]string{"Authorization": "Bearer " + plain}}); w.Code != http.StatusForbidden {
		t.Errorf("an analyst token on an admin route: %d; want 403", w.Code)
	}
	ts, _ := e.svc.Tokens(ctx)
	if len(ts) != 1 || !ts[0].LastUsedAt.Equal(e.clk.Now()) || ts[0].Hash != "" {
		t.Errorf("Tokens: %+v; want one, used now, no hash", ts)
	}
	other := "A" // another token of the right form: the last character changed
	if strings.HasSuffix(plain, other) {
		other = "B" // (it failed 1 run in 64, when the token ended in A)
	}
	for _, v := range []string{
		"Bearer " + plain[:len(plain)-1] + other,
		"Bearer " + plain[:len(plain)-1],
		"Bearer " + strings.TrimPrefix(plain, "opw_"),
		"Bearer",
		"Bearer " + plain + " x",
	} {
		if w := bearer(v); w.Code != http.StatusUnauthorized {
			t.Errorf("%q: %d; want 401", v, w.Code)
		} else {
			jsonError(t, w)
		}
	}
	// Two Authorization headers: refused, whichever is right.
	r := httptest.NewRequest("GET", "/api/v1/x", nil)
	r.Header.Add("Authorization", "Bearer "+plain)
	r.Header.Add("Authorization", "Basic eDp5")
	w := httptest.NewRecorder()
	e.mux.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized {
		t.Errorf("two Authorization headers: %d", w.Code)
	}
	// Not in the query string.
	if w := e.do(req{path: "/api/v1/x?access_token=" + plain}); w.Code != http.StatusUnauthorized {
		t.Errorf("a token in the URL: %d; want 401", w.Code)
	}
	e.clk.Advance(24 * time.Hour)
	if w := bearer("Bearer " + plain); w.Code != http.StatusUnauthorized {
		t.Errorf("an expired token: %d", w.Code)
	}
	never, tok2, err := e.svc.CreateToken(ctx, "forever", RoleAdmin, "cli", 0)
	if err != nil || !tok2.ExpiresAt.IsZero() {
		t.Fatal(err, tok2)
	}
	if w := bearer("Bearer " + never); w.Code != 200 {
		t.Errorf("a token without expiry: %d", w.Code)
	}
	if err := e.svc.RevokeToken(ctx, tok2.ID); err != nil {
		t.Fatal(err)
	}
	if w := bearer("Bearer " + never); w.Code != http.StatusUnauthorized {
		t.Errorf("a revoked token: %d", w.Code)
	}
	if err := e.svc.RevokeToken(ctx, tok2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke twice: %v", err)
	}
	for _, bad := range []struct {
		name, role string
		ttl        time.Duration
	}{{"", RoleAdmin, 0}, {"x", "root", 0}, {"x", RoleAdmin, -time.Hour}, {"a\nb", RoleAdmin, 0}, {strings.Repeat("n", 65), RoleAdmin, 0}} {
		if _, _, err := e.svc.CreateToken(ctx, bad.name, bad.role, "cli", bad.ttl); !errors.Is(err, ErrInvalid) {
			t.Errorf("CreateToken(%q, %q, %v): %v; want ErrInvalid", bad.name, bad.role, bad.ttl, err)
		}
	}
	if _, _, err := e.svc.CreateToken(ctx, "ci", RoleAdmin, "cli", 0); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second token ci: %v", err)
	}
}

// Another scheme (a proxy's Basic) is not a token: the session decides.
func TestOtherAuthorizationScheme(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	c := e.login("alice", testPassword)
	if w := e.do(req{path: "/api/v1/x", cookie: c, header: map[string]string{"Authorization": "Basic eDp5"}}); w.Code != 200 {
		t.Errorf("Basic with a session: %d", w.Code)
	}
	if w := e.do(req{path: "/api/v1/x", header: map[string]string{"Authorization": "Basic eDp5"}}); w.Code != 401 {
		t.Errorf("Basic alone: %d", w.Code)
	}
	// A bad Bearer is refused even with a good session.
	if w := e.do(req{path: "/api/v1/x", cookie: c, header: map[string]string{"Authorization": "Bearer nope"}}); w.Code != 401 {
		t.Errorf("a bad bearer with a session: %d", w.Code)
	}
}

// A token is shown once, by CreateToken; it is in no response and no log
// line, and the store holds only its hash.
func TestTokenNeverShown(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.addUser("root", RoleAdmin)
	root := e.login("root", testPassword)
	plain, tok, err := e.svc.CreateToken(ctx, "ci", RoleAdmin, "root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	e.seen.Reset() // the sign-in's Set-Cookie is the one place the session id belongs
	e.do(req{path: "/api/v1/x", header: map[string]string{"Authorization": "Bearer " + plain}})
	e.do(req{method: "POST", path: "/api/v1/sources", header: map[string]string{"Authorization": "Bearer " + plain, "Sec-Fetch-Site": "cross-site"}})
	e.do(req{path: "/x", cookie: root})
	e.clk.Advance(2 * time.Hour)
	e.do(req{path: "/api/v1/x", header: map[string]string{"Authorization": "Bearer " + plain}})
	if err := e.svc.RevokeToken(ctx, tok.ID); err != nil {
		t.Fatal(err)
	}
	e.do(req{path: "/api/v1/x", header: map[string]string{"Authorization": "Bearer " + plain}})
	body := strings.TrimPrefix(plain, TokenPrefix)
	for where, text := range map[string]string{"responses": e.seen.String(), "logs": e.logs.String()} {
		if strings.Contains(text, body) || strings.Contains(text, body[:20]) {
			t.Errorf("the token appears in the %s", where)
		}
		if strings.Contains(text, root) {
			t.Errorf("the session id appears in the %s", where)
		}
	}
	ts, _ := e.st.ListTokens(ctx)
	for _, tk := range ts {
		if strings.Contains(tk.Hash, body) || tk.Hash != digest(plain) {
			t.Errorf("stored %+v; want only the hash", tk)
		}
	}
	if tok.Last4 != plain[len(plain)-4:] {
		t.Errorf("Last4 %q", tok.Last4)
	}
}

func TestEnsureAdmin(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var out bytes.Buffer
	if err := e.svc.EnsureAdmin(ctx, &out); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	if !strings.Contains(text, "opwatch users reset-password admin") {
		t.Errorf("no word on how to change it:\n%s", text)
	}
	var password string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, "    ") {
			password = strings.TrimSpace(l)
		}
	}
	if len(password) < 20 {
		t.Fatalf("no password of 20 characters or more in:\n%s", text)
	}
	c := e.login("admin", password)
	if w := e.do(req{method: "POST", path: "/api/v1/sources", cookie: c}); w.Code != 200 {
		t.Errorf("the first admin on an admin route: %d", w.Code)
	}
	if strings.Contains(e.logs.String(), password) {
		t.Error("the first password is in the log")
	}
	out.Reset()
	if err := e.svc.EnsureAdmin(ctx, &out); err != nil || out.Len() != 0 {
		t.Errorf("second start: %v, printed %q; want nothing", err, out.String())
	}
	// A database with users but no admin named "admin" is left alone too.
	e2 := newEnv(t)
	e2.addUser("alice", RoleAdmin)
	if err := e2.svc.EnsureAdmin(ctx, &out); err != nil || out.Len() != 0 {
		t.Errorf("with a user: %v, %q", err, out.String())
	}
}

func TestUserManagement(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, bad := range []struct{ name, role, pw string }{
		{"", RoleAdmin, testPassword},
		{"-x", RoleAdmin, testPassword},
		{"a b", RoleAdmin, testPassword},
		{"é", RoleAdmin, testPassword},
		{strings.Repeat("a", 65), RoleAdmin, testPassword},
		{"ok", "root", testPassword},
		{"ok", RoleAdmin, "short"},
		{"ok", RoleAdmin, strings.Repeat("x", 1025)},
	} {
		if _, err := e.svc.AddUser(ctx, bad.name, bad.role, bad.pw); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddUser(%q, %q, %d chars): %v; want ErrInvalid", bad.name, bad.role, len(bad.pw), err)
		}
	}
	root := e.addUser("root", RoleAdmin)
	e.addUser("ana", RoleAnalyst)
	if _, err := e.svc.AddUser(ctx, "ROOT", RoleAnalyst, testPassword); !errors.Is(err, store.ErrExists) {
		t.Errorf("ROOT again: %v", err)
	}
	if err := e.svc.RemoveUser(ctx, "root"); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("removing the last admin: %v", err)
	}
	if err := e.svc.SetRole(ctx, "root", RoleAnalyst); !errors.Is(err, ErrLastAdmin) {
		t.Errorf("demoting the last admin: %v", err)
	}
	if err := e.svc.RemoveUser(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing nobody: %v", err)
	}
	users, err := e.svc.Users(ctx)
	if err != nil || len(users) != 2 || users[0].Name != "ana" || users[1].ID != root.ID {
		t.Fatalf("Users: %+v, %v", users, err)
	}
	for _, u := range users {
		if u.PasswordHash != "" {
			t.Errorf("Users shows %s's hash", u.Name)
		}
	}
	// A new password ends the sessions; the old password stops working.
	ana := e.login("ana", testPassword)
	pw, err := e.svc.ResetPassword(ctx, "ANA")
	if err != nil || len(pw) < 20 {
		t.Fatalf("ResetPassword: %q, %v", pw, err)
	}
	if e.do(req{path: "/x", cookie: ana}).Code == 200 {
		t.Error("a session outlived a password reset")
	}
	if w := e.do(req{method: "POST", path: "/login", form: url.Values{"name": {"ana"}, "password": {testPassword}}}); w.Code != 401 {
		t.Errorf("the old password after a reset: %d", w.Code)
	}
	ana = e.login("ana", pw)
	u, _ := e.st.UserByName(ctx, "ana")
	if err := e.svc.ChangePassword(ctx, u.ID, "not it at all", "a brand new password"); !errors.Is(err, ErrWrongPassword) {
		t.Errorf("ChangePassword with a wrong old one: %v", err)
	}
	if err := e.svc.ChangePassword(ctx, u.ID, pw, "short"); !errors.Is(err, ErrInvalid) {
		t.Errorf("ChangePassword to a short one: %v", err)
	}
	if err := e.svc.ChangePassword(ctx, u.ID, pw, "a brand new password"); err != nil {
		t.Fatal(err)
	}
	e.login("ana", "a brand new password")
	if err := e.svc.SetPassword(ctx, "ana", "set by an admin!"); err != nil {
		t.Fatal(err)
	}
	e.login("ana", "set by an admin!")
	// Removing a user ends its sessions.
	ana = e.login("ana", "set by an admin!")
	if err := e.svc.RemoveUser(ctx, "ana"); err != nil {
		t.Fatal(err)
	}
	if e.do(req{path: "/x", cookie: ana}).Code == 200 {
		t.Error("a removed user's session lives")
	}
	e.addUser("second", RoleAdmin)
	if err := e.svc.RemoveUser(ctx, "root"); err != nil {
		t.Errorf("removing an admin while another is left: %v", err)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                     "/",
		"/alerts?status=open":  "/alerts?status=open",
		"//evil.example/":      "/",
		"/\\evil.example":      "/",
		"https://evil.example": "/",
		"evil":                 "/",
		"/login?next=/x":       "/",
		"/a\r\nSet-Cookie: x":  "/",
		"/%2F%2Fevil":          "/%2F%2Fevil",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q; want %q", in, got, want)
		}
	}
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	w := e.do(req{method: "POST", path: "/login", form: url.Values{"name": {"alice"}, "password": {testPassword}, "next": {"//evil.example"}}})
	if w.Header().Get("Location") != "/" {
		t.Errorf("sign in with next=//evil.example went to %q", w.Header().Get("Location"))
	}
}

// Whatever next is, the login redirect stays on this site.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "//x", "/\\x", "/\t/x", "https://x", "/a?b=//c", "/%09/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		u, err := url.Parse(got)
		if err != nil || u.Host != "" || u.Scheme != "" || !strings.HasPrefix(got, "/") ||
			strings.HasPrefix(got, "//") || strings.HasPrefix(got, "/\\") {
			t.Fatalf("safeNext(%q) = %q leaves the site", next, got)
		}
	})
}

// Whatever the Authorization header and cookie hold, nothing panics and
// only the real token or session gets in.
func FuzzAuthenticate(f *testing.F) {
	e := newEnv(f)
	ctx := context.Background()
	if _, err := e.svc.AddUser(ctx, "alice", RoleAnalyst, testPassword); err != nil {
		f.Fatal(err)
	}
	plain, _, err := e.svc.CreateToken(ctx, "ci", RoleAnalyst, "cli", 0)
	if err != nil {
		f.Fatal(err)
	}
	session := e.login("alice", testPassword)
	f.Add("", session)
	f.Add("Bearer "+plain, "")
	f.Add("Bearer opw_"+strings.Repeat("A", 43), "")
	f.Add("", strings.Repeat("A", 43))
	f.Add("bearer\t"+plain, "x")
	f.Add("Basic eDp5", "%00")
	f.Fuzz(func(t *testing.T, authz, cookie string) {
		r := httptest.NewRequest("GET", "/api/v1/x", nil)
		if authz != "" {
			r.Header["Authorization"] = []string{authz}
		}
		if cookie != "" {
			r.Header["Cookie"] = []string{e.svc.cookieName() + "=" + cookie}
		}
		w := httptest.NewRecorder()
		e.mux.ServeHTTP(w, r)
		tok, _ := bearerToken([]string{authz})
		if w.Code == 200 && tok != plain && !(authz == "" && strings.Contains(cookie, session)) {
			t.Fatalf("Authorization %q, cookie %q got in", authz, cookie)
		}
		if w.Code != 200 && w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

// When the store fails, a request is answered 503, not sent to sign in.
func TestStoreDown(t *testing.T) {
	e := newEnv(t)
	e.addUser("alice", RoleAnalyst)
	c := e.login("alice", testPassword)
	plain, _, err := e.svc.CreateToken(context.Background(), "ci", RoleAnalyst, "cli", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.svc.st = brokenStore{e.st}
	if w := e.do(req{path: "/alerts", cookie: c}); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Errorf("a page with the store closed: %d", w.Code)
	}
	w := e.do(req{path: "/api/v1/x", header: map[string]string{"Authorization": "Bearer " + plain}})
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(jsonError(t, w), "could not be checked") {
		t.Errorf("the API with the store closed: %d %s", w.Code, w.Body)
	}
}

// brokenStore fails the lookups of sessions and tokens.
type brokenStore struct{ store.Auth }

func (brokenStore) Session(context.Context, string, time.Time) (store.Session, store.User, error) {
	return store.Session{}, store.User{}, errors.New("database is locked")
}

func (brokenStore) TokenByHash(context.Context, string, time.Time) (store.APIToken, error) {
	return store.APIToken{}, errors.New("database is locked")
}

// The console can render the login page in its own look; the built-in page
// escapes what was typed.
func TestLoginPageRendering(t *testing.T) {
	var got LoginData
	e := newEnv(t, func(c *Config) {
		c.RenderLogin = func(w io.Writer, d LoginData) error {
			got = d
			_, err := io.WriteString(w, "console login page")
			return err
		}
	})
	w := e.do(req{method: "POST", path: "/login", form: url.Values{"name": {"Bob"}, "password": {"x"}, "next": {"/alerts"}}})
	if w.Code != http.StatusUnauthorized || w.Body.String() != "console login page" ||
		got != (LoginData{Next: "/alerts", Name: "bob", Error: wrongCredentials}) {
		t.Errorf("custom render: %d %q with %+v", w.Code, w.Body, got)
	}
	e = newEnv(t)
	w = e.do(req{method: "POST", path: "/login", form: url.Values{"name": {"<script>alert(1)</script>"}, "password": {"x"},
		"next": {`/"><script>alert(2)</script>`}}})
	if strings.Contains(w.Body.String(), "<script>") || !strings.Contains(w.Body.String(), "&lt;script&gt;alert(1)") {
		t.Errorf("typed text not escaped:\n%s", w.Body)
	}
}

// UseLoginPage sets the login page's renderer unless Config chose one.
func TestUseLoginPage(t *testing.T) {
	page := func(text string) func(io.Writer, LoginData) error {
		return func(w io.Writer, _ LoginData) error { _, err := io.WriteString(w, text); return err }
	}
	e := newEnv(t)
	e.svc.UseLoginPage(page("the console's page"))
	if w := e.do(req{path: "/login"}); !strings.Contains(w.Body.String(), "the console's page") {
		t.Errorf("UseLoginPage was not used:\n%s", w.Body.String())
	}
	e = newEnv(t, func(c *Config) { c.RenderLogin = page("the caller's page") })
	e.svc.UseLoginPage(page("the console's page"))
	if w := e.do(req{path: "/login"}); !strings.Contains(w.Body.String(), "the caller's page") {
		t.Errorf("UseLoginPage replaced Config.RenderLogin:\n%s", w.Body.String())
	}
}

// Any API token that does not sign in, malformed or unknown, gets one
// message.
func TestBadTokenOneMessage(t *testing.T) {
	e := newEnv(t)
	var bodies []string
	for _, h := range []string{"Bearer ", "Bearer opw_" + strings.Repeat("x", 40)} {
		w := e.do(req{path: "/api/v1/x", header: map[string]string{"Authorization": h}})
		if w.Code != http.StatusUnauthorized {
			t.Errorf("%q: status %d, want 401", h, w.Code)
		}
		bodies = append(bodies, w.Body.String())
	}
	if bodies[0] != bodies[1] || !strings.Contains(bodies[0], "the API token is not valid") {
		t.Errorf("a malformed and an unknown token are answered differently:\n%s\n%s", bodies[0], bodies[1])
	}
}
