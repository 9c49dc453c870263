package console

import (
	"log/slog"
	"net/http"
	"strings"
)

// The server's log records every change made through the console or the
// API once: what was done, to what, by whom, and whether it was done.
// Services log their own events too (auth's "user added"), but only the
// console knows who asked.

// readOnlyPosts are the POST routes that change nothing: they run a
// query or a rule over data the user sends.
var readOnlyPosts = map[string]bool{
	"/search/sql":                 true,
	"/api/v1/query":               true,
	"/detections/rules/{id}/test": true,
	"/api/v1/rules/{id}/test":     true,
}

// changes reports whether a route changes state, so audit logs it.
func (rt route) changes() bool {
	// "/api/" is the fallback that answers "no such endpoint".
	return rt.method != "GET" && rt.method != "HEAD" && rt.pattern != "/api/" && !readOnlyPosts[rt.pattern]
}

// audit logs rt's request after it is answered: action (its method and
// pattern), the object (the pattern's wildcards, and the form's name
// field when there is one), the actor, and the status. A refusal or a
// failure (4xx, 5xx) is a warning: a failed token rotation is worth a look.
func (c *console) audit(rt route, next http.Handler) http.Handler {
	wildcards := patternWildcards(rt.pattern)
	action := rt.method + " " + rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		attrs := []any{"action", action}
		for _, k := range wildcards {
			attrs = append(attrs, k, r.PathValue(k))
		}
		// The form is parsed by now if the handler read it; only its
		// name is logged, never a token, password or secret.
		if name := r.PostForm.Get("name"); name != "" {
			attrs = append(attrs, "name", limit(name, 100))
		}
		status := sw.status
		if status == 0 {
			status = http.StatusOK
		}
		attrs = append(attrs, "by", principal(r).Name, "status", status)
		level, msg := slog.LevelInfo, "console change"
		if status >= 400 {
			level, msg = slog.LevelWarn, "console change not made"
		}
		c.log.Log(r.Context(), level, msg, attrs...)
	})
}

// patternWildcards are the {names} of a ServeMux pattern.
func patternWildcards(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

// statusWriter remembers the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
