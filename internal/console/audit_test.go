package console

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/emulator"
)

// Every change made in the console is logged once with what was done, to
// what and by whom; a failed one (a refused token) as a warning; a search
// is not a change.
func TestAuditLogsChanges(t *testing.T) {
	var logs syncBuffer
	h := newHarness(t, func(d *Deps) { d.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	src := h.addSource("acme", emulator.TokenOptions{})
	path := "/sources/" + src.ID
	h.form(path+"/streams/OnePassword.ItemUsage/pause", h.admin, nil).want(t, http.StatusSeeOther)
	h.form(path+"/token", h.admin, url.Values{"token": {"garbage"}}).want(t, http.StatusUnprocessableEntity)
	h.form(path+"/delete", h.admin, url.Values{"confirm": {"acme"}}).want(t, http.StatusSeeOther)
	h.form("/search/sql", h.analyst, url.Values{"sql": {"SELECT 1"}}).want(t, http.StatusOK)

	lines := strings.Split(logs.String(), "\n")
	find := func(parts ...string) int {
		n := 0
	next:
		for _, l := range lines {
			for _, p := range parts {
				if !strings.Contains(l, p) {
					continue next
				}
			}
			n++
		}
		return n
	}
	for _, want := range [][]string{
		{"level=INFO", "console change", `action="POST /sources/{id}/streams/{logtype}/pause"`, "id=" + src.ID, "logtype=OnePassword.ItemUsage", "by=token:admin-bot"},
		{"level=WARN", "console change not made", `action="POST /sources/{id}/token"`, "id=" + src.ID, "status=422", "by=token:admin-bot"},
		{"level=INFO", "console change", `action="POST /sources/{id}/delete"`, "id=" + src.ID, "status=303"},
	} {
		if n := find(want...); n != 1 {
			t.Errorf("%d log lines hold %q, want 1:\n%s", n, want, logs.String())
		}
	}
	if find("/search/sql") != 0 {
		t.Errorf("a search is logged as a change:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "garbage") {
		t.Error("the log holds the token the form sent")
	}
}
