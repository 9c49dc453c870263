package console

import (
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/store"
)

// Users and API tokens, for admins only. A new password or token is shown
// once, in the answer that made it; never again, and never in a redirect
// or a cookie.

// userView is a user without the password hash.
type userView struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Role        string    `json:"role"`
	CreatedAt   time.Time `json:"created_at"`
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
}

func userViewOf(u store.User) userView {
	return userView{ID: u.ID, Name: u.Name, Role: u.Role, CreatedAt: u.CreatedAt, LastLoginAt: u.LastLoginAt}
}

// tokenView is an API token without its hash.
type tokenView struct {
	ID         string    `json:"id"`
	Name       string    `json:"name"`
	Role       string    `json:"role"`
	Last4      string    `json:"last4"`
	CreatedBy  string    `json:"created_by"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at,omitzero"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

func tokenViewOf(t store.APIToken) tokenView {
	return tokenView{ID: t.ID, Name: t.Name, Role: t.Role, Last4: t.Last4, CreatedBy: t.CreatedBy, CreatedAt: t.CreatedAt,
		ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

// authError classifies an error of the auth service: its messages are
// written for people.
func authError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, auth.ErrInvalid):
		return userError(http.StatusUnprocessableEntity, err)
	case errors.Is(err, store.ErrExists):
		return fail(http.StatusConflict, "%s", takenMessage(err))
	case errors.Is(err, auth.ErrLastAdmin):
		return userError(http.StatusConflict, err)
	case errors.Is(err, store.ErrNotFound):
		return userError(http.StatusNotFound, err)
	}
	return err
}

// newPassword is a random password to hand to a new user.
func newPassword() string { return rand.Text() }

// parseTTL reads a token's lifetime: never, or a duration such as 90d.
func parseTTL(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "never" || s == "0" {
		return 0, nil
	}
	d, ok := parseSpan(s)
	if !ok {
		return 0, badRequest("lifetime %q: give never, or a duration such as 30d or 12h", limit(s, 20))
	}
	return d, nil
}

type usersPageData struct {
	Users    []userView
	Created  string // a user just added, or whose password was reset
	Password string // its new password, shown once
	Me       string
}

func (c *console) usersPage(w http.ResponseWriter, r *http.Request) error {
	return c.showUsers(w, r, http.StatusOK, usersPageData{}, "")
}

func (c *console) showUsers(w http.ResponseWriter, r *http.Request, status int, d usersPageData, errMsg string) error {
	us, err := c.d.Auth.Users(r.Context())
	if err != nil {
		return err
	}
	for _, u := range us {
		d.Users = append(d.Users, userViewOf(u))
	}
	d.Me = principal(r).Name
	c.render(w, r, status, "users", view{Title: "Users", Nav: "users", Data: d, Error: errMsg})
	return nil
}

func (c *console) userAddAction(w http.ResponseWriter, r *http.Request) error {
	pw := r.FormValue("password")
	generated := pw == ""
	if generated {
		pw = newPassword()
	}
	u, err := c.d.Auth.AddUser(r.Context(), r.FormValue("name"), r.FormValue("role"), pw)
	if err != nil {
		status, msg := c.classify(r, authError(err))
		return c.showUsers(w, r, status, usersPageData{}, msg)
	}
	d := usersPageData{Created: u.Name}
	if generated {
		d.Password = pw
	}
	return c.showUsers(w, r, http.StatusOK, d, "")
}

func (c *console) userResetAction(w http.ResponseWriter, r *http.Request) error {
	name := r.PathValue("name")
	pw, err := c.d.Auth.ResetPassword(r.Context(), name)
	if err != nil {
		status, msg := c.classify(r, authError(err))
		return c.showUsers(w, r, status, usersPageData{}, msg)
	}
	return c.showUsers(w, r, http.StatusOK, usersPageData{Created: auth.NormalizeName(name), Password: pw}, "")
}

func (c *console) userRemoveAction(w http.ResponseWriter, r *http.Request) error {
	name := auth.NormalizeName(r.PathValue("name"))
	if p := principal(r); p.TokenID == "" && p.Name == name {
		return c.showUsers(w, r, http.StatusConflict, usersPageData{}, "You cannot remove yourself: ask another admin.")
	}
	if err := c.d.Auth.RemoveUser(r.Context(), name); err != nil {
		status, msg := c.classify(r, authError(err))
		return c.showUsers(w, r, status, usersPageData{}, msg)
	}
	redirect(w, r, "/users", "Removed "+name+"; their sessions ended.")
	return nil
}

type tokensPageData struct {
	Tokens []tokenView
	New    *tokenView
	Plain  string // the new token, shown once
}

func (c *console) tokensPage(w http.ResponseWriter, r *http.Request) error {
	return c.showTokens(w, r, http.StatusOK, tokensPageData{}, "")
}

func (c *console) showTokens(w http.ResponseWriter, r *http.Request, status int, d tokensPageData, errMsg string) error {
	ts, err := c.d.Auth.Tokens(r.Context())
	if err != nil {
		return err
	}
	for _, t := range ts {
		d.Tokens = append(d.Tokens, tokenViewOf(t))
	}
	c.render(w, r, status, "tokens", view{Title: "API tokens", Nav: "tokens", Data: d, Error: errMsg})
	return nil
}

func (c *console) tokenCreateAction(w http.ResponseWriter, r *http.Request) error {
	ttl, err := parseTTL(r.FormValue("ttl"))
	if err != nil {
		_, msg := c.classify(r, err)
		return c.showTokens(w, r, http.StatusBadRequest, tokensPageData{}, msg)
	}
	plain, t, err := c.d.Auth.CreateToken(r.Context(), r.FormValue("name"), r.FormValue("role"), principal(r).Name, ttl)
	if err != nil {
		status, msg := c.classify(r, authError(err))
		return c.showTokens(w, r, status, tokensPageData{}, msg)
	}
	v := tokenViewOf(t)
	return c.showTokens(w, r, http.StatusOK, tokensPageData{New: &v, Plain: plain}, "")
}

func (c *console) tokenRevokeAction(w http.ResponseWriter, r *http.Request) error {
	if err := c.d.Auth.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		status, msg := c.classify(r, authError(err))
		return c.showTokens(w, r, status, tokensPageData{}, msg)
	}
	redirect(w, r, "/tokens", "Revoked: the token no longer works.")
	return nil
}
