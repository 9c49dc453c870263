package auth

import (
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// ContentSecurityPolicy is sent with every response: scripts, styles and
// everything else only from opwatch itself, no inline script or style, no
// framing.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// touchEvery is how stale a session's SeenAt (a token's LastUsedAt) may get
// before a request writes it again: not a write per request.
const touchEvery = time.Minute

// cookieName is the session cookie's name: with the __Host- prefix under
// TLS, which browsers accept only Secure, for this host and path /.
func (s *Service) cookieName() string {
	if s.secureCookies {
		return "__Host-opwatch_session"
	}
	return "opwatch_session"
}

// Middleware authenticates by "Authorization: Bearer <token>" or else the
// session cookie, and puts the Principal in the request's context. Without
// either, paths under /api/ get 401 with a JSON error, htmx requests 401
// with HX-Redirect to the login page, others a redirect to
// /login?next=<path>. Around it: the security headers and
// http.CrossOriginProtection (a cross-origin POST, PUT, PATCH or DELETE
// from a browser is refused with 403).
func (s *Service) Middleware(next http.Handler) http.Handler {
	return s.secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Pages show what only signed-in people may see: no cache keeps them.
		w.Header().Set("Cache-Control", "no-store")
		p, why := s.authenticate(w, r)
		switch {
		case why == errCheckFailed:
			// The store failed: signing in again would not help.
			w.Header().Set("Retry-After", "5")
			deny(w, r, http.StatusServiceUnavailable, why)
			return
		case why != "":
			s.unauthenticated(w, r, why)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	}))
}

// secure sets the security headers and refuses cross-origin writes.
func (s *Service) secure(h http.Handler) http.Handler {
	protected := s.cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		protected.ServeHTTP(w, r)
	})
}

func (s *Service) crossOriginDenied(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("cross-origin request refused", "method", r.Method, "path", r.URL.Path,
		"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
	deny(w, r, http.StatusForbidden, "cross-origin request refused: change things from opwatch's own pages, or call the API without a browser")
}

// errCheckFailed is authenticate's answer when the store could not be read.
const errCheckFailed = "your sign-in could not be checked (opwatch's database did not answer): try again shortly"

// errBadToken answers any API token that does not sign in, malformed or
// unknown alike: one message, which tells the fix for both and nothing
// about which it was.
const errBadToken = "the API token is not valid: send the header Authorization: Bearer opw_... with the whole token, one that is not revoked or expired (admins see the tokens on the console's Tokens page or with opwatch tokens list)"

// authenticate returns the request's principal, or why there is none.
func (s *Service) authenticate(w http.ResponseWriter, r *http.Request) (Principal, string) {
	ctx := r.Context()
	now := s.now()
	if tok, bearer := bearerToken(r.Header.Values("Authorization")); bearer {
		if tok == "" {
			return Principal{}, errBadToken
		}
		t, err := s.st.TokenByHash(ctx, digest(tok), now)
		if err != nil {
			if !errors.Is(err, store.ErrNotFound) {
				s.log.Error("read API token", "err", err)
				return Principal{}, errCheckFailed
			}
			return Principal{}, errBadToken
		}
		if now.Sub(t.LastUsedAt) >= touchEvery {
			if err := s.st.TouchToken(ctx, t.ID, now); err != nil {
				s.log.Warn("record API token use", "token_id", t.ID, "err", err)
			}
		}
		return Principal{Name: "token:" + t.Name, Role: t.Role, TokenID: t.ID}, ""
	}
	c, err := r.Cookie(s.cookieName())
	if err != nil {
		return Principal{}, "sign in first, or send Authorization: Bearer <API token>"
	}
	if !isSecret(c.Value) {
		s.clearCookie(w)
		return Principal{}, "your session ended: sign in again"
	}
	hash := digest(c.Value)
	se, u, err := s.st.Session(ctx, hash, now)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			s.log.Error("read session", "err", err)
			return Principal{}, errCheckFailed
		}
		s.clearCookie(w)
		return Principal{}, "your session ended: sign in again"
	}
	if now.Sub(se.SeenAt) >= touchEvery {
		if err := s.st.TouchSession(ctx, hash, now, minTime(now.Add(s.idle), se.ExpiresAt)); err != nil {
			s.log.Warn("refresh session", "user", u.Name, "err", err)
		}
	}
	return Principal{UserID: u.ID, Name: u.Name, Role: u.Role}, ""
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// bearerToken takes the token out of the Authorization header's values.
// bearer is false when no value uses the Bearer scheme (another scheme,
// such as a proxy's Basic, is not opwatch's business: the session cookie
// is checked instead). A Bearer value counts only alone and in the API
// token's exact form; otherwise tok is "".
func bearerToken(values []string) (tok string, bearer bool) {
	for _, v := range values {
		scheme, _, _ := strings.Cut(strings.TrimLeft(v, " "), " ")
		if strings.EqualFold(scheme, "Bearer") {
			bearer = true
		}
	}
	if !bearer {
		return "", false
	}
	if len(values) != 1 {
		return "", true
	}
	_, rest, _ := strings.Cut(strings.TrimLeft(values[0], " "), " ")
	tok = strings.Trim(rest, " ")
	body, ok := strings.CutPrefix(tok, TokenPrefix)
	if !ok || !isSecret(body) {
		return "", true
	}
	return tok, true
}

func (s *Service) unauthenticated(w http.ResponseWriter, r *http.Request, why string) {
	if isAPI(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="opwatch"`)
		writeJSONError(w, http.StatusUnauthorized, why)
		return
	}
	to := "/login?next=" + url.QueryEscape(r.URL.RequestURI())
	if r.Header.Get("HX-Request") == "true" {
		// htmx would swap a redirected login page into a fragment: have it
		// load the login page instead.
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func isAPI(r *http.Request) bool {
	return r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/")
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": msg})
}

// deny answers a refused request: JSON under /api/, a small page otherwise.
func deny(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if isAPI(r) {
		writeJSONError(w, status, msg)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	deniedPage.Execute(w, struct {
		Status  int
		Text    string
		Message string
	}{status, http.StatusText(status), msg})
}

// deniedPage has the console's look where the console is mounted (its
// stylesheet, its header's brand), without an inline script or style, which
// the policy forbids. Without the console the stylesheet is missing and the
// page reads plainly.
var deniedPage = template.Must(template.New("denied").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Text}} · opwatch</title>
<link rel="stylesheet" href="/static/console.css"></head>
<body><header class="top"><a class="brand" href="/">opwatch</a></header>
<main id="main"><h1>{{.Text}}</h1><p class="error" role="alert">{{.Message}}</p><p><a href="/">Back to the overview</a></p></main></body></html>
`))

// RequireAdmin lets only admins through (inside Middleware): analysts get
// 403, as JSON under /api/ and as a page otherwise.
func RequireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := FromContext(r.Context())
		if !ok {
			// Mounted without Middleware: refuse rather than guess.
			deny(w, r, http.StatusUnauthorized, "sign in first")
			return
		}
		if !p.IsAdmin() {
			deny(w, r, http.StatusForbidden, "only an admin can change this; your role is "+p.Role+": ask an admin")
			return
		}
		next.ServeHTTP(w, r)
	})
}
