package auth

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// LoginData is what the login page shows.
type LoginData struct {
	Next  string // where to go after signing in (a path on this site); a hidden field
	Name  string // the user name typed before, kept after a failure
	Error string // why the last attempt failed; empty at first
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in — opwatch</title></head>
<body><main>
<h1>Sign in to opwatch</h1>
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="next" value="{{.Next}}">
<p><label for="name">User name</label><br>
<input id="name" name="name" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus value="{{.Name}}"></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
</main></body></html>
`))

func renderLogin(w io.Writer, d LoginData) error { return loginPage.Execute(w, d) }

// Mount registers GET and POST /login and POST /logout on mux. They need no
// session; they have the security headers and the cross-origin check (a
// forged sign-in or sign-out from another site is refused).
func (s *Service) Mount(mux *http.ServeMux) {
	mux.Handle("GET /login", s.secure(http.HandlerFunc(s.loginForm)))
	mux.Handle("POST /login", s.secure(http.HandlerFunc(s.login)))
	mux.Handle("POST /logout", s.secure(http.HandlerFunc(s.logout)))
}

// safeNext keeps next only when it is a path on this site: never another
// host ("//evil", "/\evil", "https://evil"), so the login page cannot be
// used to send people elsewhere.
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 || strings.HasPrefix(next, "/login") {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	if strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	if u, err := url.Parse(next); err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

func (s *Service) loginForm(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if c, err := r.Cookie(s.cookieName()); err == nil && isSecret(c.Value) {
		if _, _, err := s.st.Session(r.Context(), digest(c.Value), s.now()); err == nil {
			http.Redirect(w, r, next, http.StatusSeeOther)
			return
		}
	}
	s.page(w, http.StatusOK, LoginData{Next: next})
}

func (s *Service) page(w http.ResponseWriter, status int, d LoginData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := s.render(w, d); err != nil {
		s.log.Error("render the login page", "err", err)
	}
}

// wrongCredentials is the one message for an unknown user and a wrong
// password alike: which one it was is not told.
const wrongCredentials = "Wrong user name or password."

func (s *Service) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.page(w, http.StatusBadRequest, LoginData{Error: "The form could not be read: reload the page and try again."})
		return
	}
	ctx := r.Context()
	name := NormalizeName(r.PostForm.Get("name"))
	password := r.PostForm.Get("password")
	d := LoginData{Next: safeNext(r.PostForm.Get("next")), Name: name}
	if len(d.Name) > maxNameLen {
		d.Name = ""
	}
	ipKey, nameKey := remoteKey(r.RemoteAddr), "user:"+name
	now := s.now()
	if wait := s.limit.wait(now, ipKey, nameKey); wait > 0 {
		secs := int((wait + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		d.Error = "Too many failed sign-ins: wait " + strconv.Itoa(secs) + " seconds, then try again."
		s.page(w, http.StatusTooManyRequests, d)
		return
	}
	u, err := s.st.UserByName(ctx, name)
	known := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("sign-in: read user", "err", err)
		d.Error = "Signing in failed on opwatch's side; try again, and see opwatch's log if it goes on."
		s.page(w, http.StatusInternalServerError, d)
		return
	}
	hash := u.PasswordHash
	if !known || len(password) > maxPasswordLen {
		// Hash all the same, so an unknown name takes as long.
		hash = s.dummyHash()
	}
	ok, err := s.verify(ctx, hash, password)
	if errors.Is(err, errBadHash) && known {
		s.log.Error("sign-in: the user's stored password hash cannot be read; reset it with `opwatch users reset-password`",
			"user", u.Name)
	} else if err != nil && !errors.Is(err, errBadHash) {
		return // the request went away while waiting
	}
	if !ok || !known || len(password) > maxPasswordLen {
		s.limit.fail(now, ipKey, nameKey)
		// An unknown name is not logged: people type passwords there.
		if known {
			s.log.Warn("sign-in failed", "user", u.Name, "remote", r.RemoteAddr)
		} else {
			s.log.Warn("sign-in failed for an unknown user", "remote", r.RemoteAddr)
		}
		d.Error = wrongCredentials
		s.page(w, http.StatusUnauthorized, d)
		return
	}
	s.limit.reset(nameKey)
	if old, err := r.Cookie(s.cookieName()); err == nil && isSecret(old.Value) {
		// A new id at every sign-in; the old session ends (no fixation).
		if err := s.st.DeleteSession(ctx, digest(old.Value)); err != nil {
			s.log.Warn("sign-in: end the previous session", "err", err)
		}
	}
	id := randomSecret()
	se := store.Session{Hash: digest(id), UserID: u.ID, CreatedAt: now, SeenAt: now,
		IdleUntil: now.Add(s.idle), ExpiresAt: now.Add(s.maxAge)}
	if err := s.st.CreateSession(ctx, se); err != nil {
		s.log.Error("sign-in: store the session", "user", u.Name, "err", err)
		d.Error = "Signing in failed on opwatch's side; try again, and see opwatch's log if it goes on."
		s.page(w, http.StatusInternalServerError, d)
		return
	}
	if err := s.st.RecordLogin(ctx, u.ID, now); err != nil {
		s.log.Warn("sign-in: record it", "user", u.Name, "err", err)
	}
	// Ended sessions go when someone signs in: no loop needed for them.
	if n, err := s.st.PurgeSessions(ctx, now); err != nil {
		s.log.Warn("purge ended sessions", "err", err)
	} else if n > 0 {
		s.log.Debug("purged ended sessions", "sessions", n)
	}
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: id, Path: "/", MaxAge: int(s.maxAge / time.Second),
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode})
	s.log.Info("signed in", "user", u.Name, "role", u.Role, "remote", r.RemoteAddr)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

func (s *Service) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(s.cookieName()); err == nil && isSecret(c.Value) {
		if err := s.st.DeleteSession(r.Context(), digest(c.Value)); err != nil {
			s.log.Error("sign-out: end the session", "err", err)
			deny(w, r, http.StatusInternalServerError, "signing out failed on opwatch's side: try again")
			return
		}
	}
	s.clearCookie(w)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

func (s *Service) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: s.cookieName(), Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: s.secureCookies, SameSite: http.SameSiteLaxMode})
}
