package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

// Destinations: their settings are shown, their secrets (URLs that carry
// keys, signing secrets, routing and API keys, passwords) never are: a
// form's secret field is empty and keeps the stored value unless filled,
// and pages and answers show at most a secret's last four characters.

// destInput is a new destination or a change to one; nil fields stay as
// they are.
type destInput struct {
	Name        *string         `json:"name,omitempty"`
	Type        string          `json:"type,omitempty"` // create only
	MinSeverity *string         `json:"min_severity,omitempty"`
	AlertTypes  *[]string       `json:"alert_types,omitempty"` // empty: all
	Enabled     *bool           `json:"enabled,omitempty"`
	Settings    *alert.Settings `json:"settings,omitempty"` // replaces every setting
	// Secret's non-empty fields replace those secrets; empty ones keep
	// the stored values.
	Secret *alert.Secret `json:"secret,omitempty"`
}

// destView is a destination as pages and answers show it: no secret.
type destView struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	Type        string            `json:"type"`
	MinSeverity string            `json:"min_severity"`
	AlertTypes  []string          `json:"alert_types"`
	Enabled     bool              `json:"enabled"`
	Settings    alert.Settings    `json:"settings"`
	SendsTo     string            `json:"sends_to"`          // scheme and host, or the SMTP server
	Secrets     map[string]string `json:"secrets,omitempty"` // which secrets are set: "…" and the last four characters
	SecretErr   string            `json:"secret_error,omitempty"`
	Stats       destStats         `json:"stats"`
	CreatedAt   time.Time         `json:"created_at"`
	UpdatedAt   time.Time         `json:"updated_at"`
}

func (c *console) destView(ctx context.Context, d store.Destination) (destView, error) {
	v := destView{ID: d.ID, Name: d.Name, Type: d.Type, MinSeverity: d.MinSeverity, AlertTypes: d.AlertTypes, Enabled: d.Enabled,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt, Secrets: map[string]string{}}
	if v.AlertTypes == nil {
		v.AlertTypes = []string{}
	}
	t, err := c.openTarget(d)
	v.Settings = t.Settings
	if err != nil {
		v.SecretErr = err.Error()
		v.SendsTo = "(the secret cannot be opened)"
	} else {
		v.SendsTo = alert.Redacted(t)
		for k, s := range map[string]string{"url": t.Secret.URL, "signing_secret": t.Secret.SigningSecret, "routing_key": t.Secret.RoutingKey,
			"api_key": t.Secret.APIKey, "password": t.Secret.Password} {
			if s != "" {
				v.Secrets[k] = "…" + last4(s)
			}
		}
	}
	st, err := c.d.Store.DestinationStats(ctx, d.ID)
	if err != nil {
		return v, err
	}
	v.Stats = destStats(st)
	return v, nil
}

// destStats sums up a destination's outbox.
type destStats struct {
	Pending     int       `json:"pending"`
	Sent        int       `json:"sent"`
	Failed      int       `json:"failed"`
	LastSentAt  time.Time `json:"last_sent_at,omitzero"`
	LastError   string    `json:"last_error,omitempty"`
	LastErrorAt time.Time `json:"last_error_at,omitzero"`
}

// openTarget opens a destination's settings and secret.
func (c *console) openTarget(d store.Destination) (alert.Target, error) {
	t := alert.Target{Destination: d}
	var err error
	if t.Settings, err = alert.ParseSettings(d.Settings); err != nil {
		return t, err
	}
	if c.d.Secrets == nil {
		return t, errors.New("the key that seals secrets is not loaded")
	}
	plain, err := c.d.Secrets.Open(d.Secret, d.Binding())
	if err != nil {
		return t, errors.New("the destination's secret cannot be opened (the key changed?): give its secrets again")
	}
	t.Secret, err = alert.ParseSecret(plain)
	return t, err
}

// destByID finds a destination.
func (c *console) destByID(ctx context.Context, id string) (store.Destination, error) {
	ds, err := c.d.Store.Destinations(ctx)
	if err != nil {
		return store.Destination{}, err
	}
	for _, d := range ds {
		if d.ID == id {
			return d, nil
		}
	}
	return store.Destination{}, notFound("destination")
}

// saveDestination creates (cur nil) or changes a destination: validated
// with alert.Validate, the secret sealed bound to it.
func (c *console) saveDestination(ctx context.Context, cur *store.Destination, in destInput) (store.Destination, error) {
	if c.d.Secrets == nil {
		return store.Destination{}, fail(http.StatusServiceUnavailable, "the key that seals secrets is not loaded: start opwatch serve with its key file to manage destinations")
	}
	var d store.Destination
	var t alert.Target
	if cur == nil {
		typ := strings.ToLower(strings.TrimSpace(in.Type))
		if !slices.Contains(config.DestinationTypes, typ) {
			return d, fail(http.StatusUnprocessableEntity, "destination type %q: want one of %s", safetext.Terminal(in.Type), strings.Join(config.DestinationTypes, ", "))
		}
		d = store.Destination{ID: store.NewID(), Type: typ, MinSeverity: "INFO", Enabled: true}
	} else {
		if in.Type != "" && in.Type != cur.Type {
			return d, fail(http.StatusUnprocessableEntity, "the type of a destination cannot change: delete it and add a %s destination", safetext.Terminal(in.Type))
		}
		d = *cur
		var err error
		if t, err = c.openTarget(d); err != nil && in.Secret == nil {
			return d, userError(http.StatusUnprocessableEntity, err)
		}
	}
	if in.Name != nil {
		d.Name = strings.TrimSpace(*in.Name)
	}
	if in.MinSeverity != nil {
		sev := strings.ToUpper(strings.TrimSpace(*in.MinSeverity))
		if !slices.Contains(config.SeverityNames, sev) {
			return d, fail(http.StatusUnprocessableEntity, "minimum severity %q: want one of %s", safetext.Terminal(*in.MinSeverity), strings.Join(config.SeverityNames, ", "))
		}
		d.MinSeverity = sev
	}
	if in.AlertTypes != nil {
		var ts []string
		for _, at := range *in.AlertTypes {
			at = strings.ToLower(strings.TrimSpace(at))
			if !slices.Contains(config.AlertTypeNames, at) {
				return d, fail(http.StatusUnprocessableEntity, "alert type %q: want rule, rule_error or system_error", safetext.Terminal(at))
			}
			if !slices.Contains(ts, at) {
				ts = append(ts, at)
			}
		}
		if len(ts) == len(config.AlertTypeNames) {
			ts = nil // all
		}
		d.AlertTypes = ts
	}
	if in.Enabled != nil {
		d.Enabled = *in.Enabled
	}
	if in.Settings != nil {
		t.Settings = *in.Settings
	}
	if s := in.Secret; s != nil {
		for _, f := range []struct {
			dst *string
			v   string
		}{{&t.Secret.URL, s.URL}, {&t.Secret.SigningSecret, s.SigningSecret},
			{&t.Secret.RoutingKey, s.RoutingKey}, {&t.Secret.APIKey, s.APIKey}, {&t.Secret.Password, s.Password}} {
			if v := strings.TrimSpace(f.v); v != "" {
				*f.dst = v
			}
		}
	}
	if err := alert.Validate(d, t.Settings, t.Secret); err != nil {
		return d, fail(http.StatusUnprocessableEntity, "destination %s: %v", safetext.Terminal(d.Name), err)
	}
	raw, err := json.Marshal(t.Settings)
	if err != nil {
		return d, err
	}
	d.Settings = raw
	plain, err := json.Marshal(t.Secret)
	if err != nil {
		return d, err
	}
	if d.Secret, err = c.d.Secrets.Seal(plain, d.Binding()); err != nil {
		return d, fmt.Errorf("seal the destination's secret: %w", err)
	}
	if cur == nil {
		err = c.d.Store.CreateDestination(ctx, &d)
	} else {
		err = c.d.Store.UpdateDestination(ctx, d)
	}
	if errors.Is(err, store.ErrExists) {
		return d, fail(http.StatusConflict, "a destination named %q exists: pick another name", d.Name)
	}
	return d, err
}

// testResult is what a test message met.
type testResult struct {
	Delivered bool   `json:"delivered"`
	Status    int    `json:"status,omitempty"` // the receiver's HTTP status
	Answer    string `json:"answer,omitempty"` // what it said, bounded, without secrets
	Error     string `json:"error,omitempty"`
	Permanent bool   `json:"permanent,omitempty"` // retrying would not help
}

// testDestination sends a test alert now; nothing is stored.
func (c *console) testDestination(ctx context.Context, d store.Destination) (testResult, error) {
	t, err := c.openTarget(d)
	if err != nil {
		return testResult{}, userError(http.StatusUnprocessableEntity, err)
	}
	res := c.d.Sender.Send(ctx, t, c.testMessage(d))
	out := testResult{Delivered: res.Err == nil, Status: res.Status, Answer: res.Answer, Permanent: res.Permanent}
	if res.Err != nil {
		out.Error = res.Err.Error()
	}
	return out, nil
}

// testMessage is plainly a test, with every part a real alert has.
func (c *console) testMessage(d store.Destination) alert.Message {
	now := c.now().UTC()
	id := store.NewID()
	sev := d.MinSeverity
	if sev == "" || sev == "INFO" {
		sev = "MEDIUM"
	}
	ctxJSON, _ := json.Marshal(map[string]any{"destination": d.Name, "note": "a test sent from the opwatch console"})
	m := alert.Message{
		Kind: alert.KindTest, IdempotencyKey: store.NewID(),
		Alert: store.Alert{
			ID: id, Type: store.AlertRule, RuleID: "opwatch.Test", Dedup: "test",
			Title: "opwatch can reach destination " + d.Name, Severity: sev, Status: store.AlertOpen, Context: ctxJSON,
			Description: "This is a test alert, sent from the opwatch console. Nothing happened.",
			Runbook:     "Nothing to do: this destination receives opwatch's alerts.",
			Events:      1, FirstEventAt: now, LastEventAt: now, CreatedAt: now, UpdatedAt: now,
		},
		Summary: []alert.Attribute{{Name: "destination", Value: d.Name}, {Name: "sent_by", Value: "the opwatch console"}},
	}
	if c.d.PublicURL != "" {
		m.Link = strings.TrimSuffix(c.d.PublicURL, "/") + "/alerts/" + id
	}
	return m
}

// destInputFromForm reads the destination form.
func destInputFromForm(r *http.Request, create bool) (destInput, error) {
	if err := r.ParseForm(); err != nil {
		return destInput{}, badRequest("the form cannot be read: %v", err)
	}
	f := r.PostForm
	name, sev := f.Get("name"), f.Get("min_severity")
	types := f["alert_types"]
	enabled := f.Get("enabled") != ""
	in := destInput{Name: &name, MinSeverity: &sev, AlertTypes: &types, Enabled: &enabled}
	if create {
		in.Type = f.Get("type")
	}
	s := alert.Settings{
		URL: strings.TrimSpace(f.Get("api_url")), Region: strings.ToLower(strings.TrimSpace(f.Get("region"))),
		SMTPHost: strings.TrimSpace(f.Get("smtp_host")), Username: strings.TrimSpace(f.Get("username")),
		From: strings.TrimSpace(f.Get("from")), TLS: strings.ToLower(strings.TrimSpace(f.Get("tls"))),
		InsecureSkipVerify: f.Get("insecure_skip_verify") != "",
	}
	if p := strings.TrimSpace(f.Get("smtp_port")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return in, fail(http.StatusUnprocessableEntity, "SMTP port %q: give a port number such as 587", limit(p, 20))
		}
		s.SMTPPort = n
	}
	for _, a := range strings.FieldsFunc(f.Get("to"), func(r rune) bool { return r == ',' || r == '\n' || r == ';' }) {
		if a = strings.TrimSpace(a); a != "" {
			s.To = append(s.To, a)
		}
	}
	in.Settings = &s
	in.Secret = &alert.Secret{URL: f.Get("url"), SigningSecret: f.Get("signing_secret"), RoutingKey: f.Get("routing_key"),
		APIKey: f.Get("api_key"), Password: f.Get("password")}
	return in, nil
}

// Pages.

type destFormData struct {
	D       destView
	Create  bool
	Types   []string
	Sevs    []string
	AllAT   []string
	Test    *testResult
	Recent  []store.Notification
	NoKey   bool
	Presets map[string]string
}

func (c *console) destFormData(create bool) destFormData {
	return destFormData{Create: create, Types: config.DestinationTypes, Sevs: config.SeverityNames, AllAT: config.AlertTypeNames, NoKey: c.d.Secrets == nil}
}

func (c *console) destinationsPage(w http.ResponseWriter, r *http.Request) error {
	ds, err := c.d.Store.Destinations(r.Context())
	if err != nil {
		return err
	}
	var vs []destView
	for _, d := range ds {
		v, err := c.destView(r.Context(), d)
		if err != nil {
			return err
		}
		vs = append(vs, v)
	}
	c.render(w, r, http.StatusOK, "destinations", view{Title: "Destinations", Nav: "destinations", Data: vs})
	return nil
}

func (c *console) destinationNewPage(w http.ResponseWriter, r *http.Request) error {
	d := c.destFormData(true)
	d.D = destView{Type: r.URL.Query().Get("type"), MinSeverity: "INFO", Enabled: true, AlertTypes: []string{}}
	if d.D.Type != "" && !slices.Contains(config.DestinationTypes, d.D.Type) {
		return badRequest("destination type %q: want one of %s", limit(d.D.Type, 30), strings.Join(config.DestinationTypes, ", "))
	}
	c.render(w, r, http.StatusOK, "destination", view{Title: "Add a destination", Nav: "destinations", Data: d})
	return nil
}

func (c *console) destinationCreateAction(w http.ResponseWriter, r *http.Request) error {
	in, err := destInputFromForm(r, true)
	if err == nil {
		var d store.Destination
		if d, err = c.saveDestination(r.Context(), nil, in); err == nil {
			redirect(w, r, "/destinations/"+d.ID, "Added destination "+d.Name+": send it a test alert below.")
			return nil
		}
	}
	fd := c.destFormData(true)
	fd.D = formBack(in)
	status, msg := c.classify(r, err)
	c.render(w, r, status, "destination", view{Title: "Add a destination", Nav: "destinations", Data: fd, Error: msg})
	return nil
}

// formBack is a refused form's values to show again: never its secrets.
func formBack(in destInput) destView {
	v := destView{Type: in.Type, AlertTypes: []string{}}
	if in.Name != nil {
		v.Name = *in.Name
	}
	if in.MinSeverity != nil {
		v.MinSeverity = *in.MinSeverity
	}
	if in.AlertTypes != nil {
		v.AlertTypes = *in.AlertTypes
	}
	if in.Enabled != nil {
		v.Enabled = *in.Enabled
	}
	if in.Settings != nil {
		v.Settings = *in.Settings
	}
	return v
}

func (c *console) destinationPage(w http.ResponseWriter, r *http.Request) error {
	return c.showDestination(w, r, http.StatusOK, nil, "")
}

func (c *console) showDestination(w http.ResponseWriter, r *http.Request, status int, test *testResult, errMsg string) error {
	d, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	fd := c.destFormData(false)
	if fd.D, err = c.destView(r.Context(), d); err != nil {
		return err
	}
	fd.Test = test
	if fd.Recent, err = c.d.Store.ListNotifications(r.Context(), store.NotificationFilter{DestinationID: d.ID, Limit: 20}); err != nil {
		return err
	}
	c.render(w, r, status, "destination", view{Title: d.Name, Nav: "destinations", Data: fd, Error: errMsg})
	return nil
}

func (c *console) destinationUpdateAction(w http.ResponseWriter, r *http.Request) error {
	cur, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	in, err := destInputFromForm(r, false)
	if err == nil {
		if _, err = c.saveDestination(r.Context(), &cur, in); err == nil {
			redirect(w, r, "/destinations/"+cur.ID, "Saved.")
			return nil
		}
	}
	_, msg := c.classify(r, err)
	return c.showDestination(w, r, http.StatusUnprocessableEntity, nil, msg)
}

func (c *console) destinationTestAction(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	res, err := c.testDestination(r.Context(), d)
	if err != nil {
		_, msg := c.classify(r, err)
		return c.showDestination(w, r, http.StatusUnprocessableEntity, nil, msg)
	}
	return c.showDestination(w, r, http.StatusOK, &res, "")
}

func (c *console) destinationDeleteAction(w http.ResponseWriter, r *http.Request) error {
	d, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if err := c.d.Store.DeleteDestination(r.Context(), d.ID); err != nil {
		return err
	}
	redirect(w, r, "/destinations", "Deleted destination "+d.Name+" and its pending notifications.")
	return nil
}
