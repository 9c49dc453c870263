package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

// The setup wizard, as a Panther user knows it: Sources → Create New →
// search "1Password" → its tile → Start Setup → a name → Credentials (the
// access token, the region & plan) → Setup, which checks the token for real
// and stores it only when it works → "Everything looks good!" with the
// detection packs and the no-events alarm → Finish → the source page.

// catalogEntry is one tile of the log source catalogue.
type catalogEntry struct {
	Slug, Name, Description string
	LogTypes                []string
}

func catalogue() []catalogEntry {
	var lts []string
	for _, lt := range logtype.All() {
		lts = append(lts, lt.Name)
	}
	return []catalogEntry{{
		Slug: "onepassword", Name: "1Password",
		Description: "Sign-in attempts, item usages and audit events from the 1Password Events API (Events Reporting).",
		LogTypes:    lts,
	}}
}

func (c *console) catalogPage(w http.ResponseWriter, r *http.Request) error {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	var tiles []catalogEntry
	for _, e := range catalogue() {
		hay := strings.ToLower(e.Name + " " + e.Description + " " + strings.Join(e.LogTypes, " "))
		if q == "" || strings.Contains(hay, strings.ToLower(q)) {
			tiles = append(tiles, e)
		}
	}
	c.render(w, r, http.StatusOK, "wizard_catalog", view{Title: "Create a log source", Nav: "sources",
		Data: map[string]any{"Q": q, "Tiles": tiles}})
	return nil
}

func (c *console) tilePage(w http.ResponseWriter, r *http.Request) error {
	c.render(w, r, http.StatusOK, "wizard_tile", view{Title: "1Password", Nav: "sources", Data: catalogue()[0]})
	return nil
}

// regionChoice is one option of the region & plan select.
type regionChoice struct{ Value, Label string }

func regionChoices() []regionChoice {
	return []regionChoice{
		{"", "From the token (recommended)"},
		{"business", "1password.com — Business, Teams (events.1password.com)"},
		{"enterprise", "1password.com — Enterprise (events.ent.1password.com)"},
		{"ca", "1password.ca (events.1password.ca)"},
		{"eu", "1password.eu (events.1password.eu)"},
	}
}

// wizardForm is what the wizard's steps carry. The token is never put
// back into a form.
type wizardForm struct {
	Step           string // "name" or "credentials"
	Name           string
	Region         string
	BaseURL        string
	AllowOtherHost bool
	Regions        []regionChoice
}

func (c *console) setupPage(w http.ResponseWriter, r *http.Request) error {
	c.render(w, r, http.StatusOK, "wizard_setup", view{Title: "Set up 1Password", Nav: "sources",
		Data: wizardForm{Step: "name", Regions: regionChoices()}})
	return nil
}

// setupAction is both steps: the name, then the credentials.
func (c *console) setupAction(w http.ResponseWriter, r *http.Request) error {
	f := wizardForm{
		Step: r.FormValue("step"), Name: strings.TrimSpace(r.FormValue("name")),
		Region: r.FormValue("region"), BaseURL: strings.TrimSpace(r.FormValue("base_url")),
		AllowOtherHost: r.FormValue("allow_other_host") != "", Regions: regionChoices(),
	}
	again := func(step string, err error) error {
		f.Step = step
		status, msg := c.classify(r, err)
		c.render(w, r, status, "wizard_setup", view{Title: "Set up 1Password", Nav: "sources", Data: f, Error: msg})
		return nil
	}
	if err := c.checkName(r.Context(), f.Name); err != nil {
		return again("name", err)
	}
	if f.Step != "credentials" {
		f.Step = "credentials"
		c.render(w, r, http.StatusOK, "wizard_setup", view{Title: "Set up 1Password", Nav: "sources", Data: f})
		return nil
	}
	in := setupInput{Name: f.Name, Token: r.FormValue("token"), Region: f.Region, BaseURL: f.BaseURL, AllowOtherHost: f.AllowOtherHost}
	res, chk, err := c.setupSource(r.Context(), in)
	if err != nil {
		return again("credentials", err)
	}
	s, err := c.sourceByID(r.Context(), res.Source.ID)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "wizard_done", view{Title: "Everything looks good!", Nav: "sources",
		Data: wizardDone{S: s, Check: chk, Notes: notesNotWarned(res.Notes, chk), Packs: c.rules.Packs(), Rules: c.rules, Alarm: alarmFormOf(config.DefaultNoEventsAlarm)}})
	return nil
}

// wizardDone is the success screen.
type wizardDone struct {
	S     sourceView
	Check checkResult
	Notes []string
	Packs []*detect.Pack
	Rules *detect.Set
	Alarm alarmForm
}

// finishAction applies the success screen's alarm and goes to the source.
func (c *console) finishAction(w http.ResponseWriter, r *http.Request) error {
	d, err := parseAlarm(r)
	if err == nil {
		_, err = c.setAlarm(r.Context(), r.PathValue("id"), d)
	}
	if err != nil {
		return c.sourcePageWithError(w, r, err)
	}
	redirect(w, r, "/sources/"+r.PathValue("id"), "The source is set up: opwatch polls it every minute, and its first events appear here shortly.")
	return nil
}

// checkName refuses a name that is not valid or already taken.
func (c *console) checkName(ctx context.Context, name string) error {
	s := config.Source{Name: name}
	s.ApplyDefaults()
	if err := s.ValidateAs(consoleName); err != nil {
		return userError(http.StatusUnprocessableEntity, err)
	}
	if _, err := c.d.Store.SourceByName(ctx, name); err == nil {
		return fail(http.StatusConflict, "a source named %q exists: pick another name", name)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// setupInput is a new source: its settings and token.
type setupInput struct {
	Name, Token, Region, BaseURL string
	AllowOtherHost               bool
	LogTypes                     []string
	NoEventsAlarm                *time.Duration
}

// checkResult is what checking a token with 1Password found.
type checkResult struct {
	Host      string       `json:"host"`
	Account   string       `json:"account,omitempty"`
	Features  []string     `json:"features"` // the token's, as 1Password says
	Reads     []readResult `json:"reads"`
	Warnings  []string     `json:"warnings"` // a log type the token lacks, ...
	ExpiresAt time.Time    `json:"expires_at,omitzero"`
}

// readResult is one read of a log type.
type readResult struct {
	LogType string `json:"log_type"`
	Feature string `json:"feature"`
	Granted bool   `json:"granted"`
	Sampled int    `json:"sampled"`         // events in the last hour's first page
	Err     string `json:"error,omitempty"` // why the read failed
}

// setupSource checks a new source's token for real (introspection and a
// read of each log type it grants) and stores the source only when all
// of it works.
func (c *console) setupSource(ctx context.Context, in setupInput) (source.Result, checkResult, error) {
	if err := c.checkName(ctx, in.Name); err != nil {
		return source.Result{}, checkResult{}, err
	}
	cfg := config.Source{Name: in.Name, Region: in.Region, BaseURL: in.BaseURL, AllowOtherHost: in.AllowOtherHost, LogTypes: in.LogTypes}
	if in.NoEventsAlarm != nil {
		cfg.NoEventsAlarm = config.AlarmOf(*in.NoEventsAlarm)
	}
	cfg.ApplyDefaults()
	if err := cfg.ValidateAs(consoleName); err != nil {
		return source.Result{}, checkResult{}, userError(http.StatusUnprocessableEntity, err)
	}
	chk, err := c.checkToken(ctx, cfg, in.Token)
	if err != nil {
		return source.Result{}, chk, err
	}
	res, err := c.d.Sources.Add(ctx, cfg, strings.TrimSpace(in.Token))
	if err != nil {
		return source.Result{}, chk, sourceError(err)
	}
	c.log.Info("source set up in the console", "source", res.Source.Name, "host", res.Host)
	return res, chk, nil
}

// checkToken asks 1Password about a token: who it is for, its features,
// and a read of each log type it grants. Every refusal says what to do.
func (c *console) checkToken(ctx context.Context, cfg config.Source, token string) (checkResult, error) {
	chk := checkResult{Features: []string{}, Reads: []readResult{}, Warnings: []string{}}
	token = strings.TrimSpace(token)
	if token == "" {
		return chk, fail(http.StatusUnprocessableEntity, "Paste the access token: in 1Password, Integrations → Events Reporting → your integration → View Integration Details.")
	}
	claims, err := onepassword.ParseClaims(token)
	if err != nil {
		return chk, fail(http.StatusUnprocessableEntity, "This is not a 1Password Events API token: %v.", err)
	}
	now := c.now()
	chk.ExpiresAt = claims.ExpiresAt
	if !claims.ExpiresAt.IsZero() && !claims.ExpiresAt.After(now) {
		return chk, fail(http.StatusUnprocessableEntity, "This token expired on %s: issue a new token in 1Password's Events Reporting integration and paste it here.", stamp(claims.ExpiresAt))
	}
	o := c.d.OnePassword
	o.Token, o.Region, o.BaseURL, o.APIVersion = token, cfg.Region, cfg.BaseURL, cfg.APIVersion
	o.AllowOtherHost, o.InsecureSkipVerify, o.AllowInsecure = cfg.AllowOtherHost, cfg.InsecureSkipVerify, cfg.AllowInsecure
	if o.RequestTimeout == 0 {
		o.RequestTimeout = 15 * time.Second
	}
	if o.Retry.MaxAttempts == 0 {
		o.Retry = onepassword.RetryPolicy{MaxAttempts: 2}
	}
	o.Logger = c.log
	client, err := onepassword.New(o)
	if err != nil {
		return chk, fail(http.StatusUnprocessableEntity, "%s.", strings.TrimSuffix(err.Error(), "."))
	}
	chk.Host = client.BaseURL()
	in, err := client.Introspect(ctx)
	if err != nil {
		return chk, tokenRefusal(err)
	}
	chk.Account = in.AccountUUID
	granted := map[onepassword.Feature]bool{}
	for _, f := range in.Features {
		granted[f] = true
		chk.Features = append(chk.Features, string(f))
	}
	var failed []string
	for _, f := range onepassword.AllFeatures() {
		lt := logtype.ByFeature(string(f))
		rd := readResult{LogType: lt.Name, Feature: string(f), Granted: granted[f]}
		if !rd.Granted {
			chk.Warnings = append(chk.Warnings, fmt.Sprintf("The token lacks %s: opwatch does not collect %s. Issue a token with it ticked to collect them.", featureTitle(f), lt.Name))
			chk.Reads = append(chk.Reads, rd)
			continue
		}
		p, err := client.Fetch(ctx, f, onepassword.Request{Limit: 1, StartTime: now.Add(-time.Hour)})
		if err != nil {
			rd.Err = err.Error()
			failed = append(failed, fmt.Sprintf("%s: %s", lt.Name, rd.Err))
		} else {
			rd.Sampled = len(p.Items)
		}
		chk.Reads = append(chk.Reads, rd)
	}
	if len(granted) == 0 {
		return chk, fail(http.StatusUnprocessableEntity, "The token grants none of sign-in attempts, item usage and audit events: issue a token with at least one of them ticked in 1Password's Events Reporting integration.")
	}
	if len(failed) > 0 {
		return chk, fail(http.StatusUnprocessableEntity, "1Password accepted the token but refused to read %s. Nothing was stored.", strings.Join(failed, "; "))
	}
	return chk, nil
}

// tokenRefusal words an introspection failure.
func tokenRefusal(err error) error {
	kind, _ := onepassword.KindOf(err)
	switch kind {
	case onepassword.Unauthorized, onepassword.MissingFeature:
		return fail(http.StatusUnprocessableEntity, "1Password refused the token (%v). Nothing was stored.", err)
	case onepassword.Network, onepassword.Server, onepassword.RateLimited, onepassword.Decode:
		return fail(http.StatusBadGateway, "1Password could not check the token now (%v). Nothing was stored: try again, or check the region or base URL.", err)
	}
	return fail(http.StatusUnprocessableEntity, "The token could not be checked (%v). Nothing was stored.", err)
}

// featureTitle is how 1Password names a feature when a token is issued.
func featureTitle(f onepassword.Feature) string {
	switch f {
	case onepassword.SignInAttempts:
		return "Sign-in attempts"
	case onepassword.ItemUsages:
		return "Item usage events"
	case onepassword.AuditEvents:
		return "Audit events"
	}
	return string(f)
}

// notesNotWarned are the source service's notes less those that repeat a
// warning of the check: a log type the token lacks is said once, in the
// check's words, not again as "the token lacks the … feature".
func notesNotWarned(notes []string, chk checkResult) []string {
	var out []string
next:
	for _, n := range notes {
		for _, rd := range chk.Reads {
			if !rd.Granted && strings.Contains(n, "lacks") && strings.Contains(n, rd.LogType) {
				continue next
			}
		}
		out = append(out, n)
	}
	return out
}
