// Package console is opwatch's web console and its HTTP JSON API: pages
// rendered on the server from html/template (embedded), a little htmx
// (vendored, one file) for partial updates, charts drawn as SVG on the
// server, and the same operations under /api/v1/ for scripts, documented by
// an OpenAPI 3 document at /api/v1/openapi.json.
//
// Every page and endpoint is behind package auth's middleware (a session
// or an API token, cross-origin protection, security headers). Changes to
// sources, destinations, users and tokens need an admin; analysts triage
// alerts, search and run rule tests. A stored 1Password token or
// destination secret is never rendered nor returned: pages and answers show
// at most its last four characters.
package console

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

//go:embed templates static
var assets embed.FS

// Deps is what the console needs. Store, Auth, Sources and Triage are
// required; the others have defaults or switch a feature off.
type Deps struct {
	// Store is the database (every part: sources, alerts, destinations,
	// the lake for SQL and charts).
	Store store.Store
	// Auth authenticates every request (its Middleware), guards changes
	// (auth.RequireAdmin) and manages users and API tokens.
	Auth *auth.Service
	// Sources adds, updates and removes sources. Build it with the key
	// (source.Options.Box) and the default online check: the wizard never
	// stores a token that 1Password refused.
	Sources *source.Service
	// Triage moves alerts through their statuses (alert.NewTriage over the
	// same store).
	Triage *alert.Triage
	// Sender sends destination tests; nil: an alert.HTTPSender.
	Sender alert.Sender
	// Secrets seals and opens destination secrets and reads source tokens'
	// last characters (package secret's Box). nil: destinations cannot be
	// created or tested here (the pages say so).
	Secrets Box
	// Rules are the loaded rules with their overrides, as the detect stage
	// runs them (Detections pages, rule tests, alert summaries). nil: the
	// built-in packs.
	Rules *detect.Set
	// RuleDirs are the user's rule folders (serve --rules and the
	// configuration's detections.rules), read to show a rule's code.
	RuleDirs []string
	// Search is the indicator search (package search); nil: the indicator
	// search form says it is not available.
	Search SearchFunc
	// OnePassword tunes the wizard's calls to 1Password (its HTTP client,
	// for tests through a proxy); zero: the defaults.
	OnePassword onepassword.Options
	// PublicURL is the console's address as people reach it (serve
	// --public-url), for links in test alerts; "" for none.
	PublicURL string
	// QueryTimeout stops a SQL search or download; zero: 30s. Keep it
	// below the HTTP server's WriteTimeout, or the answer is lost.
	QueryTimeout time.Duration
	Logger       *slog.Logger
	Now          func() time.Time // default time.Now
}

// Box seals and opens secrets bound to what they belong to (package
// secret's *Box).
type Box interface {
	Seal(plain, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// console serves the pages and the API.
type console struct {
	d     Deps
	log   *slog.Logger
	now   func() time.Time
	rules *detect.Set
	pages *pages
	// queryTimeout is Deps.QueryTimeout or its default.
	queryTimeout time.Duration
	static       fs.FS // the embedded stylesheet and htmx
}

// Mount registers the console's pages ("/"), static files ("/static/") and
// the JSON API ("/api/v1/") on mux, every one behind d.Auth's middleware
// and the changes behind auth.RequireAdmin. The login page is the auth
// service's own (auth.Service.Mount).
func Mount(mux *http.ServeMux, d Deps) error {
	c, err := newConsole(d)
	if err != nil {
		return err
	}
	d.Auth.UseLoginPage(RenderLogin)
	for _, rt := range c.routes() {
		mux.Handle(rt.method+" "+rt.pattern, c.guard(rt))
	}
	return nil
}

func newConsole(d Deps) (*console, error) {
	switch {
	case d.Store == nil:
		return nil, errors.New("console: no store")
	case d.Auth == nil:
		return nil, errors.New("console: no auth service: every page needs a signed-in user")
	case d.Sources == nil:
		return nil, errors.New("console: no source service")
	case d.Triage == nil:
		return nil, errors.New("console: no triage service")
	}
	c := &console{d: d, log: d.Logger, now: d.Now, rules: d.Rules}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.queryTimeout = d.QueryTimeout
	if c.queryTimeout <= 0 {
		c.queryTimeout = defaultQueryTimeout
	}
	if c.d.Sender == nil {
		c.d.Sender = &alert.HTTPSender{UserAgent: "opwatch"}
	}
	if c.rules == nil {
		set, err := detect.LoadBuiltin()
		if err != nil {
			return nil, fmt.Errorf("console: the built-in rules do not load: %w", err)
		}
		c.rules = set
	}
	p, err := loadPages(c.funcs())
	if err != nil {
		return nil, err
	}
	c.pages = p
	c.static, err = fs.Sub(assets, "static")
	if err != nil {
		return nil, err
	}
	return c, nil
}

// maxBody bounds a request's body: forms, JSON, a SQL statement.
const maxBody = 1 << 20

// route is one method and pattern of the console.
type route struct {
	method, pattern string
	admin           bool // a change that needs an admin
	public          bool // served without a login (the favicon)
	h               http.Handler
}

// guard wraps a route in the authorization it needs: every route needs a
// principal (auth's middleware), changes need an admin.
func (c *console) guard(rt route) http.Handler {
	h := rt.h
	if rt.public {
		return h
	}
	if rt.method != "GET" {
		inner := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, maxBody)
			inner.ServeHTTP(w, r)
		})
	}
	if rt.changes() {
		h = c.audit(rt, h)
	}
	if rt.admin {
		h = c.requireAdmin(auth.RequireAdmin(h))
	}
	h = c.d.Auth.Middleware(h)
	if rt.pattern == staticPattern {
		// The login page's stylesheet and the favicon are served to
		// anyone: the sign-in page needs them before anyone is signed
		// in, and they hold nothing private. Everything else (htmx)
		// stays behind the login.
		authed, open := h, rt.h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if publicStatic[r.PathValue("file")] {
				open.ServeHTTP(w, r)
				return
			}
			authed.ServeHTTP(w, r)
		})
	}
	return h
}

// staticPattern is the static files' route; publicStatic are the files of
// it served without a login.
const staticPattern = "/static/{file}"

var publicStatic = map[string]bool{"console.css": true, "favicon.svg": true}

// deniedMessage is what an analyst is told on an admin's page or form
// (auth.RequireAdmin's words).
func deniedMessage(role string) string {
	return "only an admin can change this; your role is " + role + ": ask an admin"
}

// requireAdmin refuses a page or form of an admin's to anyone else with the
// console's error page (its header, its navigation), where auth's own
// refusal is a bare page. The API keeps auth.RequireAdmin's JSON answer,
// which also stays inside as the check of record.
func (c *console) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := auth.FromContext(r.Context())
		if !ok || p.IsAdmin() || r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			next.ServeHTTP(w, r)
			return
		}
		c.render(w, r, http.StatusForbidden, "error", view{Title: http.StatusText(http.StatusForbidden),
			Error: deniedMessage(p.Role), Data: http.StatusForbidden})
	})
}

// routes lists every route: the pages, the static files and the API.
func (c *console) routes() []route {
	var rs []route
	pages := c.pageRoutes()
	rs = append(rs, pages...)
	rs = append(rs, reloadRoutes(pages)...)
	rs = append(rs, c.apiRoutes()...)
	rs = append(rs, c.apiFallbacks()...)
	return rs
}

// principal is who makes the request (auth's middleware put it there).
func principal(r *http.Request) auth.Principal {
	p, _ := auth.FromContext(r.Context())
	return p
}

// actor names the principal in an alert's history: the user's name, or
// "token:NAME" for an API token (auth names it so).
func actor(r *http.Request) string { return principal(r).Name }
