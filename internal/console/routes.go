package console

import (
	"net/http"
)

// pageRoutes are the console's pages and forms. Forms post to the page's
// path plus an action; a change that needs an admin is marked admin.
func (c *console) pageRoutes() []route {
	p := c.page
	return []route{
		{method: "GET", pattern: "/{$}", h: p(c.overviewPage)},
		{method: "GET", pattern: "/static/{file}", h: c.staticFile()},
		// Anything else: a page that says so, behind the same login.
		{method: "GET", pattern: "/", h: p(func(w http.ResponseWriter, r *http.Request) error { return notFound("page " + r.URL.Path) })},
	}
}

// staticFile serves the embedded stylesheet and htmx. They change only
// with opwatch, so browsers may keep them for a day.
func (c *console) staticFile() http.Handler {
	fsrv := http.FileServerFS(c.static)
	return http.StripPrefix("/static", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "private, max-age=86400")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fsrv.ServeHTTP(w, r)
	}))
}
