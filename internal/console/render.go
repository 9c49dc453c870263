package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/safetext"
)

// pages are the parsed templates: each page with the layout and the
// partials.
type pages struct {
	t map[string]*template.Template // by page file name without .html
}

func loadPages(fm template.FuncMap) (*pages, error) {
	names, err := fs.Glob(assets, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{t: map[string]*template.Template{}}
	for _, n := range names {
		t, err := template.New(path.Base(n)).Funcs(fm).ParseFS(assets,
			"templates/layout.html", "templates/partials/*.html", n)
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", n, err)
		}
		p.t[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return p, nil
}

// view is what every page template gets.
type view struct {
	Title string
	Nav   string // the navigation entry to mark
	User  auth.Principal
	Flash string // what the last change did
	Error string // what went wrong, and what to do
	Data  any
}

// Admin reports whether the page is for an admin (controls that change
// things are shown to admins only; the server checks anyway).
func (v view) Admin() bool { return v.User.IsAdmin() }

// render writes page name in the layout with status. An htmx request for
// a block (HX-Target naming a block's element) is still given the whole
// page: htmx selects what it swaps.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view) {
	c.renderBlock(w, r, status, name, "layout", v)
}

// renderBlock writes one named template of page name: "layout" for the
// whole page, or a fragment an htmx request asked for.
func (c *console) renderBlock(w http.ResponseWriter, r *http.Request, status int, name, block string, v view) {
	t, ok := c.pages.t[name]
	if !ok {
		c.log.Error("console: no such page template", "page", name)
		http.Error(w, "no such page", http.StatusInternalServerError)
		return
	}
	v.User = principal(r)
	if v.Flash == "" {
		v.Flash = takeFlash(w, r)
	}
	v.Flash, v.Error = consoleWording(v.Flash), consoleWording(v.Error)
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, block, v); err != nil {
		c.log.Error("console: render", "page", name, "block", block, "err", err)
		http.Error(w, "the page could not be rendered: the server's log says why", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// pageError renders the error page for err.
func (c *console) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := c.classify(r, err)
	c.render(w, r, status, "error", view{Title: http.StatusText(status), Error: msg, Data: status})
}

// page adapts a page handler that may fail.
func (c *console) page(h func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			c.pageError(w, r, err)
		}
	})
}

// redirect answers a change made by a form: 303 to the page that shows
// it, with a flash message.
func redirect(w http.ResponseWriter, r *http.Request, to, flash string) {
	if flash != "" {
		setFlash(w, flash)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

const flashCookie = "opwatch_flash"

func setFlash(w http.ResponseWriter, msg string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(limit(msg, 600))),
		Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: 60})
}

func takeFlash(w http.ResponseWriter, r *http.Request) string {
	ck, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: -1})
	b, err := base64.RawURLEncoding.DecodeString(ck.Value)
	if err != nil || !utf8.Valid(b) {
		return ""
	}
	return string(b)
}

// limit cuts s to n runes.
func limit(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

func (c *console) funcs() template.FuncMap {
	return template.FuncMap{
		"ago":      c.ago,
		"words":    consoleWording,
		"stamp":    stamp,
		"dur":      spell,
		"sevclass": func(s string) string { return "sev-" + strings.ToLower(s) },
		"lower":    strings.ToLower,
		"upper":    strings.ToUpper,
		"join":     strings.Join,
		"short":    shortID,
		"clean":    safetext.Terminal,
		"trunc":    limit,
		"pretty":   prettyJSON,
		"has": func(list []string, v string) bool {
			for _, x := range list {
				if x == v {
					return true
				}
			}
			return false
		},
		"add": func(a, b int) int { return a + b },
		"seq": func(n int) []int {
			s := make([]int, n)
			for i := range s {
				s[i] = i
			}
			return s
		},
		"dict":  dict,
		"list":  func(v ...string) []string { return v },
		"trimS": func(s string) string { return strings.TrimSuffix(s, "s") },
		"cell":  func(v any) string { return limit(cellText(v), 2000) },
	}
}

// dict builds a map for a sub-template: dict "k1" v1 "k2" v2.
func dict(kv ...any) (map[string]any, error) {
	if len(kv)%2 != 0 {
		return nil, fmt.Errorf("dict: odd arguments")
	}
	m := make(map[string]any, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		k, ok := kv[i].(string)
		if !ok {
			return nil, fmt.Errorf("dict: key %v is not a string", kv[i])
		}
		m[k] = kv[i+1]
	}
	return m, nil
}

// prettyJSON indents JSON text for reading; other text stays as it is.
func prettyJSON(v any) string {
	var raw []byte
	switch x := v.(type) {
	case json.RawMessage:
		raw = x
	case []byte:
		raw = x
	case string:
		raw = []byte(x)
	default:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	}
	var b bytes.Buffer
	if err := json.Indent(&b, raw, "", "  "); err != nil {
		return string(raw)
	}
	return b.String()
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// ago says how long ago t was, roughly ("never" for the zero time).
func (c *console) ago(t time.Time) string { return agoFrom(c.now(), t) }

func agoFrom(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	if d > -5*time.Second && d < 5*time.Second {
		return "just now"
	}
	if d < 0 {
		return "in " + spell(-d)
	}
	return spell(d) + " ago"
}

// spell says a duration roughly, as people say it: 45s, 12 min, 3 h 20 min,
// 2 days.
func spell(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 || h >= 10 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}
