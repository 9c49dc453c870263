package console

import (
	"net/http"
	"net/url"
	"strings"
)

// A form that fails is answered with its page at the form's address
// (/sources/ID/token); reloading that page asks for it with GET. Rather
// than a 404, every such address sends the browser to the page that owns
// the form.

// reloadRoutes adds, for every page form's POST pattern that has no GET of
// its own, a GET that redirects to its owner: the longest leading part of
// the pattern that is a page (/sources/{id} for
// /sources/{id}/streams/{logtype}/pause, /users for /users/{name}/delete).
func reloadRoutes(pages []route) []route {
	gets := map[string]bool{}
	for _, rt := range pages {
		if rt.method == "GET" {
			gets[rt.pattern] = true
		}
	}
	var out []route
	seen := map[string]bool{}
	for _, rt := range pages {
		if rt.method != "POST" || gets[rt.pattern] || seen[rt.pattern] {
			continue
		}
		segs := strings.Split(rt.pattern, "/")
		for k := len(segs) - 1; k > 1; k-- {
			owner := strings.Join(segs[:k], "/")
			if !gets[owner] {
				continue
			}
			seen[rt.pattern] = true
			out = append(out, route{method: "GET", pattern: rt.pattern, h: redirectTo(owner)})
			break
		}
	}
	return out
}

// redirectTo answers 303 See Other to owner, its wildcards filled from the
// request's.
func redirectTo(owner string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		segs := strings.Split(owner, "/")
		for i, s := range segs {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				segs[i] = url.PathEscape(r.PathValue(strings.Trim(s, "{}")))
			}
		}
		http.Redirect(w, r, strings.Join(segs, "/"), http.StatusSeeOther)
	})
}
