package console

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/opwatch/opwatch/internal/emulator"
)

// Reloading the page a failed form answered (its address is the form's)
// goes to the page that owns the form, never to a 404.
func TestReloadAfterFormError(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("acme", emulator.TokenOptions{})
	path := "/sources/" + src.ID
	h.form(path+"/token", h.admin, url.Values{"token": {"bad-token"}}).want(t, http.StatusUnprocessableEntity)
	for get, owner := range map[string]string{
		path + "/token": path,
		path + "/alarm": path,
		path + "/streams/OnePassword.ItemUsage/pause": path,
		"/alerts/abc/comment":                         "/alerts/abc",
		"/destinations/d1/delete":                     "/destinations/d1",
		"/users/carol/delete":                         "/users",
		"/tokens/t1/revoke":                           "/tokens",
		"/search/sql":                                 "/search",
		"/detections/rules/r1/test":                   "/detections/rules/r1",
	} {
		r := h.get(get, h.admin)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != owner {
			t.Errorf("GET %s: %d to %q, want 303 to %s", get, r.StatusCode, r.Header.Get("Location"), owner)
		}
	}
	// A GET the console has a page for keeps it.
	h.get(path+"/delete", h.admin).want(t, http.StatusOK, "Type the source")
}
