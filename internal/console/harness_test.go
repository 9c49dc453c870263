package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// harness is a console on a real SQLite store behind the real auth
// middleware, served by httptest, with an admin and an analyst API token.
// Every answer it reads is scanned for the secrets the test registered:
// no page or endpoint may ever show one.
type harness struct {
	t       *testing.T
	st      store.Store
	auth    *auth.Service
	box     *secret.Box
	srv     *httptest.Server
	sources *source.Service
	clock   *fakeClock
	sender  *recordingSender
	search  SearchFunc
	deps    Deps

	admin, analyst string // bearer tokens

	mu      sync.Mutex
	secrets []string
	em      *emulator.Emulator
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// recordingSender records the test messages the console sends.
type recordingSender struct {
	mu   sync.Mutex
	sent []alert.Target
	res  alert.Result
}

func (s *recordingSender) Send(_ context.Context, t alert.Target, m alert.Message) alert.Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sent = append(s.sent, t)
	return s.res
}

type harnessOption func(*Deps)

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	ctx := context.Background()
	st, err := engine.Open(ctx, filepath.Join(t.TempDir(), "opwatch.db"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.SyncViews(ctx, testViews()); err != nil {
		t.Fatal(err)
	}
	box, err := secret.New(bytes.Repeat([]byte{7}, secret.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, st: st, box: box, clock: &fakeClock{t: time.Now().UTC().Truncate(time.Second)}, sender: &recordingSender{}}
	h.auth = auth.New(auth.Config{Store: st, Now: h.clock.Now})
	h.sources = source.New(st, source.Options{Box: box, Now: h.clock.Now})
	d := Deps{
		Store: st, Auth: h.auth, Sources: h.sources,
		Triage: alert.NewTriage(alert.TriageConfig{Store: st}),
		Sender: h.sender, Secrets: box, Now: h.clock.Now,
	}
	for _, o := range opts {
		o(&d)
	}
	h.deps = d
	mux := http.NewServeMux()
	h.auth.Mount(mux)
	if err := Mount(mux, d); err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(mux)
	t.Cleanup(h.srv.Close)
	h.admin = h.token("admin-bot", auth.RoleAdmin)
	h.analyst = h.token("analyst-bot", auth.RoleAnalyst)
	return h
}

func (h *harness) token(name, role string) string {
	h.t.Helper()
	plain, _, err := h.auth.CreateToken(context.Background(), name, role, "test", 0)
	if err != nil {
		h.t.Fatal(err)
	}
	h.secret(plain)
	return plain
}

// secret registers a value no answer may contain.
func (h *harness) secret(s string) {
	h.mu.Lock()
	h.secrets = append(h.secrets, s)
	h.mu.Unlock()
}

// testViews are the log types' views as serve syncs them.
func testViews() []store.View {
	var views []store.View
	for _, lt := range logtype.All() {
		v := store.View{Name: lt.Table, LogType: lt.Name}
		for _, f := range lt.Fields {
			kind := "string"
			switch f.Type {
			case logtype.BigInt, logtype.Boolean:
				kind = "integer"
			case logtype.Float:
				kind = "float"
			case logtype.Timestamp:
				kind = "timestamp"
			case logtype.Object, logtype.Array:
				kind = "json"
			}
			v.Columns = append(v.Columns, store.ViewColumn{Name: f.Name, Kind: kind})
		}
		views = append(views, v)
	}
	return views
}

// response is an answer read whole.
type response struct {
	*http.Response
	body string
}

// do sends a request as the bearer of tok ("" for none) and reads the
// answer, failing the test if it holds a registered secret. Requests are
// same-origin unless the test sets Origin.
func (h *harness) do(method, path, tok string, body io.Reader, hdr ...string) response {
	h.t.Helper()
	req, err := http.NewRequest(method, h.srv.URL+path, body)
	if err != nil {
		h.t.Fatal(err)
	}
	if c, ok := strings.CutPrefix(tok, "cookie:"); ok {
		req.Header.Set("Cookie", c)
	} else if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatal(err)
	}
	h.scan(method+" "+path, resp, string(b))
	return response{Response: resp, body: string(b)}
}

// scan fails the test if an answer holds a secret, in its body or headers.
func (h *harness) scan(what string, resp *http.Response, body string) {
	h.t.Helper()
	h.mu.Lock()
	secrets := append([]string(nil), h.secrets...)
	h.mu.Unlock()
	var hdr strings.Builder
	resp.Header.Write(&hdr)
	for _, s := range leaks(body+"\n"+hdr.String(), secrets) {
		h.t.Errorf("%s: the answer holds a secret (…%s)", what, last4(s))
	}
}

// leaks lists the secrets that appear in text, whole or JSON-escaped.
func leaks(text string, secrets []string) []string {
	var out []string
	for _, s := range secrets {
		if s == "" {
			continue
		}
		esc, _ := json.Marshal(s)
		if strings.Contains(text, s) || strings.Contains(text, strings.Trim(string(esc), `"`)) || strings.Contains(text, html.EscapeString(s)) {
			out = append(out, s)
		}
	}
	return out
}

func (h *harness) get(path, tok string) response { return h.do("GET", path, tok, nil) }

// form posts a form as tok.
func (h *harness) form(path, tok string, vals url.Values) response {
	h.t.Helper()
	return h.do("POST", path, tok, strings.NewReader(vals.Encode()), "Content-Type", "application/x-www-form-urlencoded")
}

// api sends JSON v (nil for none) and decodes the answer into out (nil to
// skip), returning the answer.
func (h *harness) api(method, path, tok string, v, out any) response {
	h.t.Helper()
	var body io.Reader
	if v != nil {
		b, err := json.Marshal(v)
		if err != nil {
			h.t.Fatal(err)
		}
		body = bytes.NewReader(b)
	}
	r := h.do(method, path, tok, body, "Content-Type", "application/json")
	if out != nil && r.StatusCode < 300 {
		if err := json.Unmarshal([]byte(r.body), out); err != nil {
			h.t.Fatalf("%s %s: %v\n%s", method, path, err, r.body)
		}
	}
	return r
}

// want fails unless the answer has status and contains every text.
func (r response) want(t *testing.T, status int, texts ...string) response {
	t.Helper()
	if r.StatusCode != status {
		t.Fatalf("%s %s: status %d, want %d\n%s", r.Request.Method, r.Request.URL.Path, r.StatusCode, status, limit(r.body, 3000))
	}
	for _, s := range texts {
		if !strings.Contains(r.body, s) {
			t.Errorf("%s %s: the answer lacks %q\n%s", r.Request.Method, r.Request.URL.Path, s, limit(r.body, 3000))
		}
	}
	return r
}

// emulator starts (once) an in-process Events API emulator with events.
func (h *harness) emulator() *emulator.Emulator {
	h.t.Helper()
	if h.em != nil {
		return h.em
	}
	em, err := emulator.Start(emulator.Options{Seed: 3, Events: 60, Span: 6 * time.Hour}, "127.0.0.1:0", false)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { em.Close() })
	h.em = em
	return em
}

// issue returns an emulator token, registered as a secret.
func (h *harness) issue(o emulator.TokenOptions) string {
	h.t.Helper()
	tok, err := h.emulator().IssueToken(o)
	if err != nil {
		h.t.Fatal(err)
	}
	h.secret(tok)
	return tok
}

// addSource stores a source on the emulator through the source service.
func (h *harness) addSource(name string, o emulator.TokenOptions) store.Source {
	h.t.Helper()
	tok := h.issue(o)
	res, err := h.sources.Add(context.Background(), config.Source{Name: name, BaseURL: h.emulator().URL()}, tok)
	if err != nil {
		h.t.Fatal(err)
	}
	return res.Source
}

// plantEvents stores n events of one log type for a source (e-mail and IP
// as indicators) at the harness's now, and returns their positions.
func (h *harness) plantEvents(src store.Source, logType string, n int, email, ip string) []int64 {
	h.t.Helper()
	ctx := context.Background()
	streams, err := h.st.Streams(ctx, src.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	var st store.Stream
	for _, s := range streams {
		if s.LogType == logType {
			st = s
		}
	}
	if st.ID == 0 {
		h.t.Fatalf("source %s has no %s stream", src.Name, logType)
	}
	before, err := h.st.LatestSeq(ctx)
	if err != nil {
		h.t.Fatal(err)
	}
	now := h.clock.Now()
	var evs []store.Event
	for i := range n {
		at := now.Add(-time.Duration(n-i) * time.Minute)
		uuid := fmt.Sprintf("%s-%d-%d", strings.ToLower(logType[12:]), before, i)
		raw := fmt.Sprintf(`{"uuid":%q,"timestamp":%q,"target_user":{"email":%q},"client":{"ip_address":%q}}`, uuid, at.Format(time.RFC3339Nano), email, ip)
		evs = append(evs, store.Event{SourceID: src.ID, Account: src.AccountUUID, LogType: logType, UUID: uuid, EventTime: at, ParseTime: now,
			RowID: "row-" + uuid, SourceLabel: src.Name, Emails: []string{email}, IPs: []string{ip}, Raw: []byte(raw)})
	}
	if _, err := h.st.InsertEvents(ctx, st.ID, evs, nil); err != nil {
		h.t.Fatal(err)
	}
	stored, err := h.st.EventsAfter(ctx, before, n)
	if err != nil {
		h.t.Fatal(err)
	}
	var seqs []int64
	for _, e := range stored {
		seqs = append(seqs, e.Seq)
	}
	return seqs
}

// plantAlert stores a rule alert over the events at seqs, as the detect
// stage would, and returns it.
func (h *harness) plantAlert(id, ruleID, severity, title string, seqs []int64) store.Alert {
	h.t.Helper()
	ctx := context.Background()
	pos, err := h.st.Position(ctx, "detect")
	if err != nil {
		h.t.Fatal(err)
	}
	latest, _ := h.st.LatestSeq(ctx)
	epoch, _ := h.st.AlertEpoch(ctx)
	now := h.clock.Now()
	a := store.Alert{ID: id, Type: store.AlertRule, RuleID: ruleID, Dedup: title, Title: title, Severity: severity, Status: store.AlertOpen,
		Context: []byte(`{"why":"planted by a test"}`), Runbook: "Check with the user.", FirstEventAt: now, LastEventAt: now, PeriodEnd: now.Add(time.Hour)}
	var ms []store.AlertMatch
	for _, s := range seqs {
		ms = append(ms, store.AlertMatch{AlertID: id, Seq: s, EventTime: now})
	}
	if err := h.st.CommitDetect(ctx, store.DetectCommit{Stage: "detect", From: pos, To: max(latest, pos), Alerts: []store.Alert{a}, Matches: ms, Epoch: epoch}); err != nil {
		h.t.Fatal(err)
	}
	a, err = h.st.Alert(ctx, id)
	if err != nil {
		h.t.Fatal(err)
	}
	return a
}

// login signs a user in through the login form and returns the
// credentials do takes ("cookie:NAME=VALUE").
func (h *harness) login(name, password string) string {
	h.t.Helper()
	r := h.form("/login", "", url.Values{"name": {name}, "password": {password}})
	for _, c := range r.Cookies() {
		if strings.Contains(c.Name, "session") && c.Value != "" {
			h.secret(c.Value)
			return "cookie:" + c.Name + "=" + c.Value
		}
	}
	h.t.Fatalf("login %s: status %d, no session cookie\n%s", name, r.StatusCode, limit(r.body, 500))
	return ""
}

// user adds a user with a password and signs them in.
func (h *harness) user(name, role string) string {
	h.t.Helper()
	pw := "correct horse battery " + name
	if _, err := h.auth.AddUser(context.Background(), name, role, pw); err != nil {
		h.t.Fatal(err)
	}
	return h.login(name, pw)
}
