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
		{method: "GET", pattern: staticPattern, h: c.staticFile()},
		// Browsers ask for /favicon.ico whatever the page links.
		{method: "GET", pattern: "/favicon.ico", public: true, h: http.RedirectHandler("/static/favicon.svg", http.StatusMovedPermanently)},

		{method: "GET", pattern: "/sources", h: p(c.sourcesPage)},
		{method: "GET", pattern: "/sources/new", admin: true, h: p(c.catalogPage)},
		{method: "GET", pattern: "/sources/new/onepassword", admin: true, h: p(c.tilePage)},
		{method: "GET", pattern: "/sources/new/onepassword/setup", admin: true, h: p(c.setupPage)},
		{method: "POST", pattern: "/sources/new/onepassword/setup", admin: true, h: p(c.setupAction)},
		{method: "GET", pattern: "/sources/{id}", h: p(c.sourcePage)},
		{method: "GET", pattern: "/sources/{id}/quarantine", h: p(c.quarantinePage)},
		{method: "POST", pattern: "/sources/{id}/finish", admin: true, h: p(c.finishAction)},
		{method: "POST", pattern: "/sources/{id}/alarm", admin: true, h: p(c.sourceAlarmAction)},
		{method: "POST", pattern: "/sources/{id}/streams/{logtype}/pause", admin: true, h: p(c.sourceStreamAction(false))},
		{method: "POST", pattern: "/sources/{id}/streams/{logtype}/resume", admin: true, h: p(c.sourceStreamAction(true))},
		{method: "POST", pattern: "/sources/{id}/token", admin: true, h: p(c.sourceTokenAction)},
		{method: "POST", pattern: "/sources/{id}/reset", admin: true, h: p(c.sourceResetAction)},
		{method: "GET", pattern: "/sources/{id}/delete", admin: true, h: p(c.sourceDeletePage)},
		{method: "POST", pattern: "/sources/{id}/delete", admin: true, h: p(c.sourceDeleteAction)},
		{method: "GET", pattern: "/alerts", h: p(c.alertsPage)},
		{method: "GET", pattern: "/alerts/{id}", h: p(c.alertPage)},
		{method: "POST", pattern: "/alerts/{id}/{action}", h: p(c.alertAction)},

		{method: "GET", pattern: "/destinations", h: p(c.destinationsPage)},
		{method: "GET", pattern: "/destinations/new", admin: true, h: p(c.destinationNewPage)},
		{method: "POST", pattern: "/destinations", admin: true, h: p(c.destinationCreateAction)},
		{method: "GET", pattern: "/destinations/{id}", h: p(c.destinationPage)},
		{method: "POST", pattern: "/destinations/{id}", admin: true, h: p(c.destinationUpdateAction)},
		{method: "POST", pattern: "/destinations/{id}/test", admin: true, h: p(c.destinationTestAction)},
		{method: "POST", pattern: "/destinations/{id}/delete", admin: true, h: p(c.destinationDeleteAction)},

		{method: "GET", pattern: "/detections", h: p(c.detectionsPage)},
		{method: "GET", pattern: "/detections/rules/{id}", h: p(c.rulePage)},
		{method: "POST", pattern: "/detections/rules/{id}/test", h: p(c.ruleTestAction)},

		{method: "GET", pattern: "/schemas", h: p(c.schemasPage)},
		{method: "GET", pattern: "/search", h: p(c.searchPage)},
		{method: "POST", pattern: "/search/sql", h: p(c.sqlAction)},

		{method: "GET", pattern: "/users", admin: true, h: p(c.usersPage)},
		{method: "POST", pattern: "/users", admin: true, h: p(c.userAddAction)},
		{method: "POST", pattern: "/users/{name}/reset-password", admin: true, h: p(c.userResetAction)},
		{method: "POST", pattern: "/users/{name}/delete", admin: true, h: p(c.userRemoveAction)},
		{method: "GET", pattern: "/tokens", admin: true, h: p(c.tokensPage)},
		{method: "POST", pattern: "/tokens", admin: true, h: p(c.tokenCreateAction)},
		{method: "POST", pattern: "/tokens/{id}/revoke", admin: true, h: p(c.tokenRevokeAction)},

		// Anything else: a page that says so, behind the same login.
		{method: "GET", pattern: "/", h: p(func(w http.ResponseWriter, r *http.Request) error {
			return fail(http.StatusNotFound, "opwatch has no page %s: use the links above", limit(r.URL.Path, 200))
		})},
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
