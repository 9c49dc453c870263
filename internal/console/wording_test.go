package console

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

// Advice the services word for the command line names the console's form
// on a page.
func TestConsoleWording(t *testing.T) {
	for in, want := range map[string]string{
		// internal/onepassword's words.
		"127.0.0.1:9 does not speak TLS (is it plain http? give --base-url http://127.0.0.1:9)":                                                 "put http://127.0.0.1:9 in the Custom base URL field)",
		"…remove the base URL, or, if this server is meant (the emulator, a proxy), allow it with --allow-other-host (config allow_other_host)": `ticking "send the token there anyway" under Custom base URL`,
		// internal/source's and internal/health's.
		"remove one of them unless you mean to rotate the token (source update --token-file)":                                                                            "(the Rotate the token form on the source's page)",
		"issue a new Events Reporting token in 1Password and give it with opwatch source update acme --token-file F; collection stops":                                   "store it with the Rotate the token form on source acme's page; collection stops",
		"A new token given with opwatch source update acme --token-file F resumes the stopped streams; after fixing anything else, opwatch source reset acme polls them": "the Poll now button on source acme's page",
	} {
		got := consoleWording(in)
		if !strings.Contains(got, want) || strings.Contains(got, "--") {
			t.Errorf("consoleWording(%q) = %q, want it to hold %q and no flag", in, got, want)
		}
	}
}

// The token-expiry advice on a source's page names the Rotate form.
func TestSourcePageTokenAdviceNamesTheForm(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("acme", emulator.TokenOptions{ExpiresIn: 2 * time.Hour})
	r := h.get("/sources/"+src.ID, h.admin).want(t, http.StatusOK, "Rotate the token form on source acme")
	if strings.Contains(r.body, "--token-file") {
		t.Errorf("the source page tells the user to use a CLI flag:\n%s", r.body)
	}
}

// A token that expires soon is spelled one way on the Sources list, and a
// source added just now has had its conditions since just now.
func TestTokenExpiryWording(t *testing.T) {
	h := newHarness(t)
	src := h.addSource("acme", emulator.TokenOptions{ExpiresIn: 2 * time.Hour})
	r := h.get("/sources", h.admin).want(t, http.StatusOK, "its token expires in 2 h (")
	if strings.Contains(r.body, " hours") {
		t.Errorf("the Sources list spells the expiry two ways:\n%s", r.body)
	}
	r = h.get("/sources/"+src.ID, h.admin).want(t, http.StatusOK, "its token expires in 2 h (", "since just now")
	if strings.Contains(r.body, "22 h ago") {
		t.Errorf("a new source's condition holds since before it was added:\n%s", r.body)
	}
}
