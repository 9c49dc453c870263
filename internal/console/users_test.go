package console

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

func TestUsersPage(t *testing.T) {
	h := newHarness(t)
	admin := h.user("root", "admin")
	analyst := h.user("ann", "analyst")
	h.get("/users", analyst).want(t, http.StatusForbidden)
	h.form("/users", analyst, url.Values{"name": {"eve"}, "role": {"admin"}}).want(t, http.StatusForbidden)
	// Removing a user or resetting a password asks first (htmx's confirm,
	// no inline script).
	h.get("/users", admin).want(t, http.StatusOK, "root", "ann", "Add a user",
		`hx-confirm="Remove the user ann? Their sessions end."`, `hx-confirm="Give ann a new password? The current one stops working."`)

	// Added without a password: a random one, shown once, that works.
	r := h.form("/users", admin, url.Values{"name": {"carol"}, "role": {"analyst"}}).want(t, http.StatusOK, "shown only this once")
	m := regexp.MustCompile(`<code class="secret">([^<]+)</code>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no password shown:\n%s", r.body)
	}
	h.secret(m[1])
	carol := h.login("carol", m[1])
	h.get("/", carol).want(t, http.StatusOK, "carol")
	h.get("/users", admin).want(t, http.StatusOK, "carol") // and the scan: the password is not shown again

	h.form("/users", admin, url.Values{"name": {"Bad Name!"}, "role": {"analyst"}}).want(t, http.StatusUnprocessableEntity, "user name")
	h.form("/users", admin, url.Values{"name": {"dave"}, "role": {"analyst"}, "password": {"short"}}).want(t, http.StatusUnprocessableEntity)
	h.form("/users", admin, url.Values{"name": {"carol"}, "role": {"analyst"}, "password": {"long enough password"}}).want(t, http.StatusConflict)

	r = h.form("/users/carol/reset-password", admin, nil).want(t, http.StatusOK, "shown only this once")
	if m2 := regexp.MustCompile(`<code class="secret">([^<]+)</code>`).FindStringSubmatch(r.body); m2 == nil || m2[1] == m[1] {
		t.Error("reset-password did not show a new password")
	} else {
		h.secret(m2[1])
	}
	// The old session ended with the new password.
	if r := h.get("/", carol); r.StatusCode == http.StatusOK {
		t.Error("carol's session survived a password reset")
	}
	h.form("/users/root/delete", admin, nil).want(t, http.StatusConflict, "cannot remove yourself")
	h.form("/users/carol/delete", admin, nil).want(t, http.StatusSeeOther)
	h.form("/users/nobody/delete", admin, nil).want(t, http.StatusNotFound)
	if r := h.get("/users", admin); strings.Contains(r.body, ">carol<") {
		t.Error("carol is still listed")
	}
}

func TestTokensPage(t *testing.T) {
	h := newHarness(t)
	h.get("/tokens", h.analyst).want(t, http.StatusForbidden)
	h.get("/tokens", h.admin).want(t, http.StatusOK, "admin-bot", "analyst-bot", "Create a token", `hx-confirm="Revoke the token analyst-bot?`)
	r := h.form("/tokens", h.admin, url.Values{"name": {"soar"}, "role": {"analyst"}, "ttl": {"30d"}}).want(t, http.StatusOK, "shown only this once")
	m := regexp.MustCompile(`<code class="secret">(opw_[^<]+)</code>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no token shown:\n%s", r.body)
	}
	tok := m[1]
	h.secret(tok)
	h.get("/alerts", tok).want(t, http.StatusOK)
	h.get("/tokens", tok).want(t, http.StatusForbidden) // an analyst token
	r = h.get("/tokens", h.admin).want(t, http.StatusOK, "soar", "…"+tok[len(tok)-4:])
	m = regexp.MustCompile(`(?s)<tr><td>soar</td>.*?action="/tokens/([^/"]+)/revoke"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("no revoke form for soar:\n%s", r.body)
	}
	h.form("/tokens/"+m[1]+"/revoke", h.admin, nil).want(t, http.StatusSeeOther)
	if r := h.get("/alerts", tok); r.StatusCode == http.StatusOK {
		t.Error("the token still works after revoking")
	}
	h.get("/tokens", h.admin).want(t, http.StatusOK, "analyst-bot")
	h.form("/tokens/"+m[1]+"/revoke", h.admin, nil).want(t, http.StatusNotFound)
	h.form("/tokens", h.admin, url.Values{"name": {"x"}, "role": {"root"}}).want(t, http.StatusUnprocessableEntity, "role")
	h.form("/tokens", h.admin, url.Values{"name": {"y"}, "role": {"analyst"}, "ttl": {"soon"}}).want(t, http.StatusBadRequest, "lifetime")
}
