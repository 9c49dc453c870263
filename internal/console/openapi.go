package console

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"time"
)

// The OpenAPI 3 document of the API. The operations are listed here by
// hand, apart from the routes (a test holds the two together: every route
// documented, every documented operation served); the schemas are drawn
// from the Go types the handlers encode and decode, so they cannot drift.

// apiOp documents one operation.
type apiOp struct {
	Method, Path string // the path as the router has it: /api/v1/sources/{id}
	Summary      string
	Admin        bool     // needs an admin
	Query        []string // query parameters (see apiParams)
	Body         reflect.Type
	Status       int          // on success
	Resp         reflect.Type // nil: no body
	Download     bool         // ?format=csv|json answers a file
}

func t[T any]() reflect.Type { return reflect.TypeFor[T]() }

// apiParams describes the query parameters.
var apiParams = map[string]string{
	"limit":     "At most this many items (a page).",
	"cursor":    "The next_cursor of the previous page.",
	"status":    "open, triaged, resolved, or unresolved (open or triaged).",
	"severity":  "INFO, LOW, MEDIUM, HIGH or CRITICAL.",
	"type":      "rule, rule_error or system_error.",
	"rule":      "A rule ID.",
	"source":    "A source id.",
	"since":     "A time (RFC 3339 or a date) or how long ago (24h, 7d).",
	"until":     "A time (RFC 3339 or a date) or how long ago (24h, 7d).",
	"events":    "At most this many matched events (default 20).",
	"hours":     "How many hours back (default 24).",
	"pack":      "A pack ID.",
	"log_type":  "A log type, such as OnePassword.SignInAttempt.",
	"enabled":   "yes or no.",
	"tag":       "A rule tag.",
	"q":         "Text in the rule's ID, name, description or tags.",
	"indicator": "An e-mail address or an IP address.",
	"format":    "csv or json: download every row as a file instead.",
}

func apiDoc() []apiOp {
	return []apiOp{
		{"GET", "/api/v1/openapi.json", "This document (no token needed).", false, nil, nil, 200, nil, false},
		{"GET", "/api/v1/overview", "Events per log type in the last 24 hours, alerts by severity in the last 7 days, sources needing attention, the detect stage's lag.", false, nil, nil, 200, t[overviewJSON](), false},

		{"GET", "/api/v1/sources", "List sources with their health and streams.", false, []string{"limit", "cursor"}, nil, 200, t[list[sourceJSON]](), false},
		{"POST", "/api/v1/sources", "Add a source: the token is checked with 1Password (introspection and one read of each log type) and stored only if it works.", true, nil, t[sourceCreate](), 201, t[sourceCreated](), false},
		{"GET", "/api/v1/sources/{id}", "A source with its streams and the conditions that need doing.", false, nil, nil, 200, t[sourceJSON](), false},
		{"PATCH", "/api/v1/sources/{id}", "Change a source: name, token (checked first; resumes stopped streams), endpoint, interval, the no-events alarm, the log types collected.", true, nil, t[sourcePatch](), 200, t[sourceChanged](), false},
		{"DELETE", "/api/v1/sources/{id}", "Delete a source and its streams; its events stay in the lake.", true, nil, nil, 204, nil, false},
		{"POST", "/api/v1/sources/{id}/reset", "Poll the source's collected streams now (clearing a stopped state).", true, nil, t[resetBody](), 200, t[resetResult](), false},
		{"GET", "/api/v1/sources/{id}/quarantine", "The source's quarantined events, newest first, with the reason.", false, []string{"limit"}, nil, 200, t[list[quarantinedJSON]](), false},
		{"GET", "/api/v1/sources/{id}/events-per-hour", "The source's events per log type per hour (by event time).", false, []string{"hours"}, nil, 200, t[hourlyJSON](), false},

		{"GET", "/api/v1/streams", "List streams (source × log type).", false, []string{"source", "limit", "cursor"}, nil, 200, t[list[streamJSON]](), false},
		{"PATCH", "/api/v1/streams/{id}", "Pause or resume a stream.", true, nil, t[streamPatch](), 200, t[streamJSON](), false},

		{"GET", "/api/v1/alerts", "List alerts, newest first.", false, []string{"status", "severity", "type", "rule", "source", "since", "until", "limit", "cursor"}, nil, 200, t[list[alertJSON]](), false},
		{"GET", "/api/v1/alerts/{id}", "An alert with its matched events, deliveries and history.", false, []string{"events"}, nil, 200, t[alertDetailJSON](), false},
		{"POST", "/api/v1/alerts/{id}/{action}", "Triage an alert: action is triage, resolve, reopen, assign or comment.", false, nil, t[triageBody](), 200, t[alertJSON](), false},

		{"GET", "/api/v1/destinations", "List destinations (never their secrets).", false, []string{"limit", "cursor"}, nil, 200, t[list[destView]](), false},
		{"POST", "/api/v1/destinations", "Add a destination; its secrets are sealed and never answered.", true, nil, t[destInput](), 201, t[destView](), false},
		{"GET", "/api/v1/destinations/{id}", "A destination with its delivery counts.", false, nil, nil, 200, t[destView](), false},
		{"PATCH", "/api/v1/destinations/{id}", "Change a destination; empty secret fields keep the stored ones.", true, nil, t[destInput](), 200, t[destView](), false},
		{"DELETE", "/api/v1/destinations/{id}", "Delete a destination and its pending notifications.", true, nil, nil, 204, nil, false},
		{"POST", "/api/v1/destinations/{id}/test", "Send a test alert now and answer what the receiver said.", true, nil, nil, 200, t[testResult](), false},

		{"GET", "/api/v1/packs", "List the detection packs.", false, nil, nil, 200, t[list[packView]](), false},
		{"GET", "/api/v1/rules", "List rules.", false, []string{"pack", "log_type", "severity", "enabled", "tag", "q", "limit", "cursor"}, nil, 200, t[list[ruleView]](), false},
		{"GET", "/api/v1/rules/{id}", "A rule with its YAML and code.", false, nil, nil, 200, t[ruleDetailJSON](), false},
		{"POST", "/api/v1/rules/{id}/test", "Run a rule's unit tests.", false, nil, nil, 200, t[testRunJSON](), false},
		{"GET", "/api/v1/lookups", "List the lookup tables.", false, nil, nil, 200, t[list[lookupJSON]](), false},

		{"POST", "/api/v1/query", "Run one read-only SQL statement over the lake.", false, []string{"format"}, t[queryBody](), 200, t[sqlResult](), true},
		{"GET", "/api/v1/search", "Indicator search: the events naming an e-mail or an IP address in a time range.", false, []string{"indicator", "since", "until", "log_type", "limit"}, nil, 200, t[searchJSON](), false},
		{"GET", "/api/v1/schemas", "The three log types with every field.", false, nil, nil, 200, t[list[schemaView]](), false},

		{"GET", "/api/v1/users", "List users.", true, []string{"limit", "cursor"}, nil, 200, t[list[userView]](), false},
		{"POST", "/api/v1/users", "Add a user; without a password, a random one is answered once.", true, nil, t[userCreate](), 201, t[userCreated](), false},
		{"DELETE", "/api/v1/users/{name}", "Remove a user and end their sessions.", true, nil, nil, 204, nil, false},
		{"POST", "/api/v1/users/{name}/reset-password", "Give a user a new random password, answered once; their sessions end.", true, nil, nil, 200, t[passwordJSON](), false},
		{"GET", "/api/v1/tokens", "List API tokens (never the tokens themselves).", true, []string{"limit", "cursor"}, nil, 200, t[list[tokenView]](), false},
		{"POST", "/api/v1/tokens", "Create an API token, answered once.", true, nil, t[tokenCreate](), 201, t[tokenCreated](), false},
		{"DELETE", "/api/v1/tokens/{id}", "Revoke an API token.", true, nil, nil, 204, nil, false},
	}
}

var (
	openAPIOnce sync.Once
	openAPIJSON []byte
)

func (c *console) openAPIDoc(w http.ResponseWriter, r *http.Request) {
	openAPIOnce.Do(func() {
		b, err := json.MarshalIndent(buildOpenAPI(apiDoc()), "", "  ")
		if err != nil {
			panic(err) // a programming error: the document is made of maps and strings
		}
		openAPIJSON = b
	})
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Write(openAPIJSON)
}

var pathParam = regexp.MustCompile(`\{([a-z_]+)\}`)

// buildOpenAPI makes the document of ops.
func buildOpenAPI(ops []apiOp) map[string]any {
	sg := &schemaGen{schemas: map[string]any{}}
	sg.schemas["Error"] = map[string]any{"type": "object", "required": []string{"error"},
		"properties": map[string]any{"error": map[string]any{"type": "string", "description": "What went wrong, and what to do."}}}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": ref("Error")}}}
	}
	paths := map[string]any{}
	for _, op := range ops {
		item, _ := paths[op.Path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[op.Path] = item
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(op.Path, -1) {
			p := map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}}
			if m[1] == "action" {
				p["schema"] = map[string]any{"type": "string", "enum": []string{"triage", "resolve", "reopen", "assign", "comment"}}
			}
			params = append(params, p)
		}
		for _, q := range op.Query {
			params = append(params, map[string]any{"name": q, "in": "query", "required": q == "indicator",
				"description": apiParams[q], "schema": map[string]any{"type": "string"}})
		}
		desc := op.Summary
		if op.Admin {
			desc += " Needs an admin (analysts get 403)."
		}
		o := map[string]any{
			"summary": op.Summary, "description": desc,
			"operationId": strings.ToLower(op.Method) + strings.NewReplacer("/api/v1", "", "/", "_", "{", "", "}", "", "-", "_", ".", "_").Replace(op.Path),
			"responses": map[string]any{
				"401":     errResp("No session or API token, or a wrong one."),
				"default": errResp("An error: the message says what to do."),
			},
		}
		if op.Admin {
			o["responses"].(map[string]any)["403"] = errResp("The principal is not an admin.")
		}
		if len(params) > 0 {
			o["parameters"] = params
		}
		if op.Body != nil {
			o["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": sg.of(op.Body)}}}
		}
		ok := map[string]any{"description": http.StatusText(op.Status)}
		if op.Resp != nil {
			content := map[string]any{"application/json": map[string]any{"schema": sg.of(op.Resp)}}
			if op.Download {
				content["text/csv"] = map[string]any{"schema": map[string]any{"type": "string"}}
			}
			ok["content"] = content
		}
		if op.Path == "/api/v1/openapi.json" {
			ok["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}
			o["security"] = []any{} // public: a script reads it before it has a token
		}
		o["responses"].(map[string]any)[itoa(op.Status)] = ok
		item[strings.ToLower(op.Method)] = o
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{"title": "opwatch API", "version": "1",
			"description": "Everything the opwatch console does. Authenticate with an API token (Authorization: Bearer opw_...; `opwatch tokens` or the console's API tokens page) or a console session. Errors are {\"error\": \"...\"}. Lists are {\"items\": [...], \"next_cursor\": \"...\"}: pass next_cursor as cursor for the next page. A 1Password token or destination secret is never answered."},
		"servers":    []any{map[string]any{"url": "/"}},
		"security":   []any{map[string]any{"bearer": []string{}}, map[string]any{"session": []string{}}},
		"paths":      paths,
		"components": map[string]any{"schemas": sg.schemas, "securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer"}, "session": map[string]any{"type": "apiKey", "in": "cookie", "name": "opwatch_session"}}},
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func ref(name string) map[string]any { return map[string]any{"$ref": "#/components/schemas/" + name} }

// schemaGen draws JSON schemas from Go types by their json tags.
type schemaGen struct{ schemas map[string]any }

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// schemaName names a struct type: sourceJSON → Source, list[ruleView] →
// RuleList.
func schemaName(n string) string {
	if i := strings.Index(n, "["); i >= 0 {
		inner := n[i+1 : len(n)-1]
		return schemaName(inner[strings.LastIndex(inner, ".")+1:]) + "List"
	}
	for _, suf := range []string{"JSON", "View"} {
		n = strings.TrimSuffix(n, suf)
	}
	return strings.ToUpper(n[:1]) + n[1:]
}

func (g *schemaGen) of(t reflect.Type) map[string]any {
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		return map[string]any{"description": "Any JSON value (an event, a context object)."}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int64, reflect.Int32:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Interface {
			return map[string]any{"type": "array", "items": map[string]any{}}
		}
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := schemaName(t.Name())
		if _, ok := g.schemas[name]; !ok {
			g.schemas[name] = map[string]any{} // a placeholder against recursion
			props := map[string]any{}
			g.fields(t, props)
			g.schemas[name] = map[string]any{"type": "object", "properties": props}
		}
		return ref(name)
	}
	return map[string]any{}
}

// fields adds t's fields to props, flattening embedded structs as
// encoding/json does.
func (g *schemaGen) fields(t reflect.Type, props map[string]any) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			ft := f.Type
			if ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				g.fields(ft, props)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		props[name] = g.of(f.Type)
	}
}
