package console

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/health"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

// The JSON API: everything the console does, under /api/v1/, for API
// tokens (Authorization: Bearer) and sessions alike. Errors are
// {"error": "what to do"}; lists are {"items": [...], "next_cursor": "..."}
// with limit and cursor; filters are the CLI's.

// apiRoutes are the JSON API's routes under /api/v1/.
func (c *console) apiRoutes() []route {
	a := c.api
	return []route{
		{method: "GET", pattern: "/api/v1/openapi.json", public: true, h: http.HandlerFunc(c.openAPIDoc)},
		{method: "GET", pattern: "/api/v1/overview", h: a(c.apiOverview)},

		{method: "GET", pattern: "/api/v1/sources", h: a(c.apiSources)},
		{method: "POST", pattern: "/api/v1/sources", admin: true, h: a(c.apiSourceCreate)},
		{method: "GET", pattern: "/api/v1/sources/{id}", h: a(c.apiSource)},
		{method: "PATCH", pattern: "/api/v1/sources/{id}", admin: true, h: a(c.apiSourceUpdate)},
		{method: "DELETE", pattern: "/api/v1/sources/{id}", admin: true, h: a(c.apiSourceDelete)},
		{method: "POST", pattern: "/api/v1/sources/{id}/reset", admin: true, h: a(c.apiSourceReset)},
		{method: "GET", pattern: "/api/v1/sources/{id}/quarantine", h: a(c.apiQuarantine)},
		{method: "GET", pattern: "/api/v1/sources/{id}/events-per-hour", h: a(c.apiSourceEvents)},

		{method: "GET", pattern: "/api/v1/streams", h: a(c.apiStreams)},
		{method: "PATCH", pattern: "/api/v1/streams/{id}", admin: true, h: a(c.apiStreamUpdate)},

		{method: "GET", pattern: "/api/v1/alerts", h: a(c.apiAlerts)},
		{method: "GET", pattern: "/api/v1/alerts/{id}", h: a(c.apiAlert)},
		{method: "POST", pattern: "/api/v1/alerts/{id}/{action}", h: a(c.apiAlertAction)},

		{method: "GET", pattern: "/api/v1/destinations", h: a(c.apiDestinations)},
		{method: "POST", pattern: "/api/v1/destinations", admin: true, h: a(c.apiDestinationCreate)},
		{method: "GET", pattern: "/api/v1/destinations/{id}", h: a(c.apiDestination)},
		{method: "PATCH", pattern: "/api/v1/destinations/{id}", admin: true, h: a(c.apiDestinationUpdate)},
		{method: "DELETE", pattern: "/api/v1/destinations/{id}", admin: true, h: a(c.apiDestinationDelete)},
		{method: "POST", pattern: "/api/v1/destinations/{id}/test", admin: true, h: a(c.apiDestinationTest)},

		{method: "GET", pattern: "/api/v1/packs", h: a(c.apiPacks)},
		{method: "GET", pattern: "/api/v1/rules", h: a(c.apiRules)},
		{method: "GET", pattern: "/api/v1/rules/{id}", h: a(c.apiRule)},
		{method: "POST", pattern: "/api/v1/rules/{id}/test", h: a(c.apiRuleTest)},
		{method: "GET", pattern: "/api/v1/lookups", h: a(c.apiLookups)},

		{method: "POST", pattern: "/api/v1/query", h: http.HandlerFunc(c.apiQuery)},
		{method: "GET", pattern: "/api/v1/search", h: a(c.apiSearch)},
		{method: "GET", pattern: "/api/v1/schemas", h: a(c.apiSchemas)},

		{method: "GET", pattern: "/api/v1/users", admin: true, h: a(c.apiUsers)},
		{method: "POST", pattern: "/api/v1/users", admin: true, h: a(c.apiUserCreate)},
		{method: "DELETE", pattern: "/api/v1/users/{name}", admin: true, h: a(c.apiUserDelete)},
		{method: "POST", pattern: "/api/v1/users/{name}/reset-password", admin: true, h: a(c.apiUserReset)},
		{method: "GET", pattern: "/api/v1/tokens", admin: true, h: a(c.apiTokens)},
		{method: "POST", pattern: "/api/v1/tokens", admin: true, h: a(c.apiTokenCreate)},
		{method: "DELETE", pattern: "/api/v1/tokens/{id}", admin: true, h: a(c.apiTokenDelete)},
	}
}

// apiFallbacks answer anything else under /api/ with a JSON 404 that
// says where the documentation is (one per method: "/api/" alone would
// overlap the pages' "GET /").
func (c *console) apiFallbacks() []route {
	h := c.api(func(r *http.Request) (int, any, error) {
		return 0, nil, fail(http.StatusNotFound, "no such endpoint: %s %s (see /api/v1/openapi.json)", r.Method, limit(r.URL.Path, 100))
	})
	var rs []route
	for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
		rs = append(rs, route{method: m, pattern: "/api/", h: h})
	}
	return rs
}

// api adapts an API handler: it returns the status and the value to
// answer as JSON (nil for none), or an error answered {"error": "..."}.
func (c *console) api(h func(r *http.Request) (int, any, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, v, err := h(r)
		if err != nil {
			c.apiError(w, r, err)
			return
		}
		if v == nil {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(status)
			return
		}
		writeJSON(w, status, v)
	})
}

// decodeBody reads a JSON body into v, refusing unknown fields so that a
// misspelt one is not silently ignored.
func decodeBody(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return fail(http.StatusRequestEntityTooLarge, "the body is over %d bytes", mb.Limit)
		}
		return badRequest("the body could not be read: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return badRequest("send a JSON object (Content-Type: application/json)")
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return badRequest("the body is not the JSON this endpoint takes: %v (see /api/v1/openapi.json)", err)
	}
	if dec.More() {
		return badRequest("the body holds more than one JSON value")
	}
	return nil
}

// list is a page of a list.
type list[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"next_cursor,omitempty"`
}

// pageOf cuts a page of items (sorted by key) after cursor: the key of
// the last item of the previous page.
func pageOf[T any](r *http.Request, items []T, key func(T) string, def, most int) (list[T], error) {
	n, err := parseLimit(r.URL.Query().Get("limit"), def, most)
	if err != nil {
		return list[T]{}, err
	}
	sort.SliceStable(items, func(i, j int) bool { return key(items[i]) < key(items[j]) })
	start := 0
	if cur := r.URL.Query().Get("cursor"); cur != "" {
		b, err := base64.RawURLEncoding.DecodeString(cur)
		if err != nil {
			return list[T]{}, badRequest("cursor %q is not one this API gave: start from the first page", limit(cur, 40))
		}
		after := string(b)
		start = sort.Search(len(items), func(i int) bool { return key(items[i]) > after })
	}
	out := list[T]{Items: items[start:min(start+n, len(items))]}
	if out.Items == nil {
		out.Items = []T{}
	}
	if start+n < len(items) {
		out.NextCursor = base64.RawURLEncoding.EncodeToString([]byte(key(out.Items[len(out.Items)-1])))
	}
	return out, nil
}

// Overview.

type overviewJSON struct {
	EventsLast24h      map[string]int64 `json:"events_last_24h"` // by log type
	AlertsLast7dBySev  map[string]int64 `json:"alerts_last_7d_by_severity"`
	SourcesNeedingCare []sourceJSON     `json:"sources_needing_attention"`
	Sources            int              `json:"sources"`
	Detect             detectLagJSON    `json:"detect"`
}

type detectLagJSON struct {
	Position int64     `json:"position"`
	Latest   int64     `json:"latest"`
	Behind   int64     `json:"behind"`
	Oldest   time.Time `json:"oldest_waiting_stored_at,omitzero"`
}

func (c *console) apiOverview(r *http.Request) (int, any, error) {
	o, err := c.overview(r)
	if err != nil {
		return 0, nil, err
	}
	out := overviewJSON{EventsLast24h: map[string]int64{}, AlertsLast7dBySev: o.BySeverity, Sources: len(o.Sources),
		SourcesNeedingCare: []sourceJSON{}, Detect: detectLagJSON(o.Lag)}
	for _, s := range o.LogTypes {
		for _, v := range s.Values {
			out.EventsLast24h[s.Name] += v
		}
	}
	for _, s := range o.Attention {
		out.SourcesNeedingCare = append(out.SourcesNeedingCare, sourceJSONOf(s))
	}
	return http.StatusOK, out, nil
}

// Sources.

// sourceJSON is a source as the API shows it: never its token.
type sourceJSON struct {
	ID            string          `json:"id"`
	Name          string          `json:"name"`
	Host          string          `json:"host"`
	Region        string          `json:"region,omitempty"`
	BaseURL       string          `json:"base_url,omitempty"`
	APIVersion    int             `json:"api_version"`
	Interval      string          `json:"interval"`
	Lookback      string          `json:"lookback"`
	NoEventsAlarm string          `json:"no_events_alarm"` // a duration, or off
	Token         tokenInfo       `json:"token"`
	State         string          `json:"state"` // healthy, attention, paused, waiting
	Events        int64           `json:"events"`
	Quarantined   int64           `json:"quarantined"`
	LastEventAt   time.Time       `json:"last_event_at,omitzero"`
	LastPollAt    time.Time       `json:"last_poll_at,omitzero"`
	Streams       []streamJSON    `json:"streams"`
	Conditions    []conditionJSON `json:"conditions"`
	CreatedAt     time.Time       `json:"created_at"`
	UpdatedAt     time.Time       `json:"updated_at"`
}

// tokenInfo says what may be said of a source's token.
type tokenInfo struct {
	Last4     string    `json:"last4,omitempty"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Features  []string  `json:"features"`
	Error     string    `json:"error,omitempty"` // why it cannot be opened
}

type streamJSON struct {
	ID                  int64     `json:"id"`
	SourceID            string    `json:"source_id"`
	LogType             string    `json:"log_type"`
	Enabled             bool      `json:"enabled"` // collected; false: paused
	Status              string    `json:"status"`  // ok, error, stopped
	HasCursor           bool      `json:"has_cursor"`
	NextPollAt          time.Time `json:"next_poll_at,omitzero"`
	LastPollAt          time.Time `json:"last_poll_at,omitzero"`
	LastSuccessAt       time.Time `json:"last_success_at,omitzero"`
	LastError           string    `json:"last_error,omitempty"`
	LastErrorAt         time.Time `json:"last_error_at,omitzero"`
	ConsecutiveFailures int       `json:"consecutive_failures"`
	LastEventAt         time.Time `json:"last_event_at,omitzero"`
	LastStoredAt        time.Time `json:"last_stored_at,omitzero"`
	LagSeconds          int64     `json:"lag_seconds"` // now - the newest event's time; 0 for none
	Events              int64     `json:"events"`
	Quarantined         int64     `json:"quarantined"`
}

func streamJSONOf(s streamView) streamJSON {
	return streamJSON{ID: s.ID, SourceID: s.SourceID, LogType: s.LogType, Enabled: s.Enabled, Status: s.Status, HasCursor: s.Cursor != "",
		NextPollAt: s.NextPollAt, LastPollAt: s.LastPollAt, LastSuccessAt: s.LastSuccessAt, LastError: s.LastError, LastErrorAt: s.LastErrorAt,
		ConsecutiveFailures: s.ConsecutiveFailures, LastEventAt: s.LastEventAt, LastStoredAt: s.LastStoredAt,
		LagSeconds: int64(s.Lag / time.Second), Events: s.Events, Quarantined: s.Quarantined}
}

type conditionJSON struct {
	Kind     string    `json:"kind"`
	Severity string    `json:"severity"`
	Title    string    `json:"title"`
	Do       string    `json:"do"` // what to do
	Since    time.Time `json:"since,omitzero"`
}

func sourceJSONOf(v sourceView) sourceJSON {
	s := v.Source
	out := sourceJSON{ID: s.ID, Name: s.Name, Host: v.Host, Region: s.Region, BaseURL: s.BaseURL, APIVersion: s.APIVersion,
		Interval: durText(s.Interval), Lookback: durText(s.Lookback), NoEventsAlarm: "off",
		Token: tokenInfo{Last4: v.TokenLast4, ExpiresAt: s.TokenExpiresAt, Features: v.Features, Error: v.TokenErr},
		State: v.State, Events: v.Events, Quarantined: v.Quarantined, LastEventAt: v.LastEventAt, LastPollAt: v.LastPollAt,
		Streams: []streamJSON{}, Conditions: []conditionJSON{}, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
	if s.NoEventsAlarm > 0 {
		out.NoEventsAlarm = durText(s.NoEventsAlarm)
	}
	if out.Token.Features == nil {
		out.Token.Features = []string{}
	}
	for _, st := range v.Streams {
		out.Streams = append(out.Streams, streamJSONOf(st))
	}
	for _, cd := range v.Conditions {
		out.Conditions = append(out.Conditions, conditionJSONOf(cd))
	}
	return out
}

// durText writes a duration as the settings take it: 1d, 2h, 90m, 30s.
func durText(d time.Duration) string {
	if d > 0 && d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func conditionJSONOf(cd health.Condition) conditionJSON {
	return conditionJSON{Kind: cd.Kind, Severity: cd.Severity, Title: cd.Title, Do: cd.Do, Since: cd.Since}
}

func (c *console) apiSources(r *http.Request) (int, any, error) {
	vs, err := c.sources(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]sourceJSON, 0, len(vs))
	for _, v := range vs {
		out = append(out, sourceJSONOf(v))
	}
	page, err := pageOf(r, out, func(s sourceJSON) string { return s.Name }, 100, 1000)
	return http.StatusOK, page, err
}

func (c *console) apiSource(r *http.Request) (int, any, error) {
	v, err := c.sourceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, sourceNotFound(err)
	}
	return http.StatusOK, sourceJSONOf(v), nil
}

func sourceNotFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound("source")
	}
	return err
}

// sourceCreate is the body of POST /api/v1/sources: what the wizard asks.
type sourceCreate struct {
	Name           string   `json:"name"`
	Token          string   `json:"token"`
	Region         string   `json:"region,omitempty"`
	BaseURL        string   `json:"base_url,omitempty"`
	AllowOtherHost bool     `json:"allow_other_host,omitempty"`
	LogTypes       []string `json:"log_types,omitempty"`
	NoEventsAlarm  string   `json:"no_events_alarm,omitempty"` // 15m..30d or off; default 24h
}

// sourceCreated answers a new source with what checking its token found.
type sourceCreated struct {
	Source sourceJSON  `json:"source"`
	Check  checkResult `json:"check"`
	Notes  []string    `json:"notes"`
}

func (c *console) apiSourceCreate(r *http.Request) (int, any, error) {
	var in sourceCreate
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	si := setupInput{Name: strings.TrimSpace(in.Name), Token: in.Token, Region: in.Region, BaseURL: in.BaseURL, AllowOtherHost: in.AllowOtherHost, LogTypes: in.LogTypes}
	if in.NoEventsAlarm != "" {
		a, err := config.ParseAlarm(in.NoEventsAlarm)
		if err != nil {
			return 0, nil, badRequest("no_events_alarm: %v", err)
		}
		d := a.Duration()
		si.NoEventsAlarm = &d
	}
	res, chk, err := c.setupSource(r.Context(), si)
	if err != nil {
		return 0, nil, err
	}
	v, err := c.sourceByID(r.Context(), res.Source.ID)
	if err != nil {
		return 0, nil, err
	}
	notes := res.Notes
	if notes == nil {
		notes = []string{}
	}
	return http.StatusCreated, sourceCreated{Source: sourceJSONOf(v), Check: chk, Notes: notes}, nil
}

// sourcePatch is the body of PATCH /api/v1/sources/{id}: absent fields
// stay as they are.
type sourcePatch struct {
	Name           *string  `json:"name,omitempty"`
	Token          *string  `json:"token,omitempty"` // checked with 1Password first
	Region         *string  `json:"region,omitempty"`
	BaseURL        *string  `json:"base_url,omitempty"`
	AllowOtherHost *bool    `json:"allow_other_host,omitempty"`
	Interval       *string  `json:"interval,omitempty"`
	Lookback       *string  `json:"lookback,omitempty"`
	NoEventsAlarm  *string  `json:"no_events_alarm,omitempty"`
	LogTypes       []string `json:"log_types,omitempty"`
}

// sourceChanged answers a change.
type sourceChanged struct {
	Source         sourceJSON `json:"source"`
	Resumed        bool       `json:"resumed"`
	DroppedCursors bool       `json:"dropped_cursors"`
	Notes          []string   `json:"notes"`
}

func (c *console) apiSourceUpdate(r *http.Request) (int, any, error) {
	var in sourcePatch
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	name, err := c.sourceName(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	u := source.Update{Name: in.Name, Region: in.Region, BaseURL: in.BaseURL, AllowOtherHost: in.AllowOtherHost}
	if in.Token != nil {
		tok := strings.TrimSpace(*in.Token)
		if tok == "" {
			return 0, nil, badRequest("token: give the new token, or leave the field out")
		}
		u.Token = &tok
	}
	for _, f := range []struct {
		name string
		in   *string
		out  **time.Duration
	}{{"interval", in.Interval, &u.Interval}, {"lookback", in.Lookback, &u.Lookback}} {
		if f.in != nil {
			d, err := config.ParseDuration(*f.in)
			if err != nil {
				return 0, nil, badRequest("%s: %v", f.name, err)
			}
			*f.out = &d
		}
	}
	if in.NoEventsAlarm != nil {
		a, err := config.ParseAlarm(*in.NoEventsAlarm)
		if err != nil {
			return 0, nil, badRequest("no_events_alarm: %v", err)
		}
		d := a.Duration()
		u.NoEventsAlarm = &d
	}
	if in.LogTypes != nil {
		lts, err := config.NormalizeLogTypes(in.LogTypes)
		if err != nil {
			return 0, nil, badRequest("log_types: %v", err)
		}
		if lts == nil {
			lts = []string{}
		}
		u.LogTypes = lts
	}
	res, err := c.d.Sources.Update(r.Context(), name, u)
	if err != nil {
		return 0, nil, sourceError(err)
	}
	v, err := c.sourceByID(r.Context(), res.Source.ID)
	if err != nil {
		return 0, nil, err
	}
	notes := res.Notes
	if notes == nil {
		notes = []string{}
	}
	return http.StatusOK, sourceChanged{Source: sourceJSONOf(v), Resumed: res.Resumed, DroppedCursors: res.DroppedCursors, Notes: notes}, nil
}

func (c *console) apiSourceDelete(r *http.Request) (int, any, error) {
	name, err := c.sourceName(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if _, err := c.d.Sources.Remove(r.Context(), name); err != nil {
		return 0, nil, sourceError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (c *console) apiSourceReset(r *http.Request) (int, any, error) {
	var in resetBody
	if r.ContentLength != 0 {
		if err := decodeBody(r, &in); err != nil {
			return 0, nil, err
		}
	}
	name, err := c.sourceName(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	n, err := c.d.Sources.Reset(r.Context(), name, in.DropCursors)
	if err != nil {
		return 0, nil, sourceError(err)
	}
	return http.StatusOK, resetResult{StreamsDue: n}, nil
}

type quarantinedJSON struct {
	ID       int64           `json:"id"`
	SourceID string          `json:"source_id"`
	LogType  string          `json:"log_type"`
	Reason   string          `json:"reason"`
	At       time.Time       `json:"at"`
	Raw      json.RawMessage `json:"raw"` // as received; a JSON string when it is not JSON
}

func (c *console) apiQuarantine(r *http.Request) (int, any, error) {
	src, err := c.d.Store.SourceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, notFound("source")
	}
	n, err := parseLimit(r.URL.Query().Get("limit"), 100, 1000)
	if err != nil {
		return 0, nil, err
	}
	qs, err := c.d.Store.ListQuarantine(r.Context(), src.ID, n)
	if err != nil {
		return 0, nil, err
	}
	out := list[quarantinedJSON]{Items: []quarantinedJSON{}}
	for _, q := range qs {
		raw := json.RawMessage(q.Raw)
		if !json.Valid(raw) {
			raw, _ = json.Marshal(string(q.Raw))
		}
		out.Items = append(out.Items, quarantinedJSON{ID: q.ID, SourceID: q.SourceID, LogType: q.LogType, Reason: q.Reason, At: q.At, Raw: raw})
	}
	return http.StatusOK, out, nil
}

// hourlyJSON is events per log type per hour.
type hourlyJSON struct {
	Hours    []time.Time        `json:"hours"` // the start of each hour
	LogTypes map[string][]int64 `json:"log_types"`
}

func (c *console) apiSourceEvents(r *http.Request) (int, any, error) {
	src, err := c.d.Store.SourceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, notFound("source")
	}
	n, err := parseLimit(r.URL.Query().Get("hours"), 24, 24*30)
	if err != nil {
		return 0, nil, err
	}
	buckets, ss, err := c.eventCounts(r.Context(), src.ID, time.Hour, n)
	if err != nil {
		return 0, nil, err
	}
	out := hourlyJSON{Hours: buckets, LogTypes: map[string][]int64{}}
	for _, s := range ss {
		out.LogTypes[s.Name] = s.Values
	}
	return http.StatusOK, out, nil
}

// Streams.

func (c *console) apiStreams(r *http.Request) (int, any, error) {
	sid := r.URL.Query().Get("source")
	if sid != "" {
		if _, err := c.d.Store.SourceByID(r.Context(), sid); err != nil {
			return 0, nil, notFound("source")
		}
	}
	sts, err := c.d.Store.Streams(r.Context(), sid)
	if err != nil {
		return 0, nil, err
	}
	now := c.now()
	out := make([]streamJSON, 0, len(sts))
	for _, st := range sts {
		sv := streamView{Stream: st}
		if !st.LastEventAt.IsZero() {
			sv.Lag = now.Sub(st.LastEventAt)
		}
		out = append(out, streamJSONOf(sv))
	}
	page, err := pageOf(r, out, func(s streamJSON) string { return fmt.Sprintf("%020d", s.ID) }, 100, 1000)
	return http.StatusOK, page, err
}

func (c *console) apiStreamUpdate(r *http.Request) (int, any, error) {
	var in streamPatch
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Enabled == nil {
		return 0, nil, badRequest(`give {"enabled": false} to pause the stream, or true to resume it`)
	}
	var id int64
	if _, err := fmt.Sscan(r.PathValue("id"), &id); err != nil {
		return 0, nil, notFound("stream")
	}
	st, err := c.d.Store.Stream(r.Context(), id)
	if err != nil {
		return 0, nil, notFound("stream")
	}
	if _, err := c.setCollected(r.Context(), st.SourceID, st.LogType, *in.Enabled); err != nil {
		return 0, nil, err
	}
	st, err = c.d.Store.Stream(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, streamJSONOf(streamView{Stream: st}), nil
}

// Alerts.

// alertJSON is an alert as the API shows it.
type alertJSON struct {
	ID           string          `json:"id"`
	Type         string          `json:"type"`
	RuleID       string          `json:"rule_id,omitempty"`
	Dedup        string          `json:"dedup"`
	Title        string          `json:"title"`
	Severity     string          `json:"severity"`
	Status       string          `json:"status"`
	Assignee     string          `json:"assignee,omitempty"`
	Context      json.RawMessage `json:"context,omitempty"`
	Description  string          `json:"description,omitempty"`
	Reference    string          `json:"reference,omitempty"`
	Runbook      string          `json:"runbook,omitempty"`
	Destinations []string        `json:"destinations,omitempty"`
	Events       int             `json:"events"`
	FirstEventAt time.Time       `json:"first_event_at,omitzero"`
	LastEventAt  time.Time       `json:"last_event_at,omitzero"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	Link         string          `json:"link"`
}

func alertJSONOf(a store.Alert) alertJSON {
	ctx := a.Context
	if len(ctx) > 0 && !json.Valid(ctx) {
		ctx = nil
	}
	return alertJSON{ID: a.ID, Type: a.Type, RuleID: a.RuleID, Dedup: a.Dedup, Title: a.Title, Severity: a.Severity, Status: a.Status,
		Assignee: a.Assignee, Context: ctx, Description: a.Description, Reference: a.Reference, Runbook: a.Runbook,
		Destinations: a.Destinations, Events: a.Events, FirstEventAt: a.FirstEventAt, LastEventAt: a.LastEventAt,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, Link: "/alerts/" + a.ID}
}

type historyJSON struct {
	At         time.Time `json:"at"`
	Actor      string    `json:"actor"`
	Action     string    `json:"action"`
	FromStatus string    `json:"from_status,omitempty"`
	ToStatus   string    `json:"to_status,omitempty"`
	Assignee   string    `json:"assignee,omitempty"`
	Comment    string    `json:"comment,omitempty"`
}

// alertDetailJSON is an alert with its events, deliveries and history.
type alertDetailJSON struct {
	Alert      alertJSON      `json:"alert"`
	Events     []eventView    `json:"events"`
	Deliveries []deliveryView `json:"deliveries"`
	History    []historyJSON  `json:"history"`
}

func (c *console) apiAlerts(r *http.Request) (int, any, error) {
	q, err := parseAlertQuery(r.URL.Query(), c.now())
	if err != nil {
		return 0, nil, err
	}
	as, next, err := c.listAlerts(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	out := list[alertJSON]{Items: []alertJSON{}, NextCursor: next}
	for _, a := range as {
		out.Items = append(out.Items, alertJSONOf(a))
	}
	return http.StatusOK, out, nil
}

func (c *console) apiAlert(r *http.Request) (int, any, error) {
	n, err := parseLimit(r.URL.Query().Get("events"), 20, 1000)
	if err != nil {
		return 0, nil, err
	}
	d, err := c.alertDetail(r.Context(), r.PathValue("id"), n)
	if err != nil {
		return 0, nil, err
	}
	out := alertDetailJSON{Alert: alertJSONOf(d.Alert), Events: d.Events, Deliveries: d.Deliveries, History: []historyJSON{}}
	if out.Events == nil {
		out.Events = []eventView{}
	}
	if out.Deliveries == nil {
		out.Deliveries = []deliveryView{}
	}
	for _, h := range d.History {
		out.History = append(out.History, historyJSON{At: h.At, Actor: h.Actor, Action: h.Action, FromStatus: h.FromStatus, ToStatus: h.ToStatus,
			Assignee: h.Assignee, Comment: h.Comment})
	}
	return http.StatusOK, out, nil
}

func (c *console) apiAlertAction(r *http.Request) (int, any, error) {
	var in triageBody
	if r.ContentLength != 0 {
		if err := decodeBody(r, &in); err != nil {
			return 0, nil, err
		}
	}
	a, err := c.triage(r, r.PathValue("id"), r.PathValue("action"), in.Assignee, in.Comment)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, alertJSONOf(a), nil
}

// Destinations.

func (c *console) apiDestinations(r *http.Request) (int, any, error) {
	ds, err := c.d.Store.Destinations(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]destView, 0, len(ds))
	for _, d := range ds {
		v, err := c.destView(r.Context(), d)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, v)
	}
	page, err := pageOf(r, out, func(d destView) string { return d.Name }, 100, 1000)
	return http.StatusOK, page, err
}

func (c *console) apiDestination(r *http.Request) (int, any, error) {
	d, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	v, err := c.destView(r.Context(), d)
	return http.StatusOK, v, err
}

func (c *console) apiDestinationCreate(r *http.Request) (int, any, error) {
	var in destInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	if in.Name == nil {
		return 0, nil, badRequest("name: give the destination a name")
	}
	d, err := c.saveDestination(r.Context(), nil, in)
	if err != nil {
		return 0, nil, err
	}
	v, err := c.destView(r.Context(), d)
	return http.StatusCreated, v, err
}

func (c *console) apiDestinationUpdate(r *http.Request) (int, any, error) {
	cur, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	var in destInput
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	d, err := c.saveDestination(r.Context(), &cur, in)
	if err != nil {
		return 0, nil, err
	}
	v, err := c.destView(r.Context(), d)
	return http.StatusOK, v, err
}

func (c *console) apiDestinationDelete(r *http.Request) (int, any, error) {
	d, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	if err := c.d.Store.DeleteDestination(r.Context(), d.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

func (c *console) apiDestinationTest(r *http.Request) (int, any, error) {
	d, err := c.destByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	res, err := c.testDestination(r.Context(), d)
	return http.StatusOK, res, err
}

// Detections.

func (c *console) apiPacks(r *http.Request) (int, any, error) {
	ps := c.packs()
	if ps == nil {
		ps = []packView{}
	}
	return http.StatusOK, list[packView]{Items: ps}, nil
}

func (c *console) apiRules(r *http.Request) (int, any, error) {
	rs := c.filteredRules(ruleFilterOf(r.URL.Query().Get), r.URL.Query().Get("q"))
	if rs == nil {
		rs = []ruleView{}
	}
	page, err := pageOf(r, rs, func(v ruleView) string { return v.ID }, 100, 1000)
	return http.StatusOK, page, err
}

// ruleDetailJSON is a rule with its files.
type ruleDetailJSON struct {
	ruleView
	YAML string `json:"yaml,omitempty"`
	Code string `json:"code,omitempty"`
}

func (c *console) apiRule(r *http.Request) (int, any, error) {
	rl := c.rules.Rule(r.PathValue("id"))
	if rl == nil {
		return 0, nil, notFound("rule")
	}
	yml, code, _ := c.ruleSource(rl)
	return http.StatusOK, ruleDetailJSON{ruleView: ruleViewOf(rl), YAML: yml, Code: code}, nil
}

// testRunJSON is a rule's test run.
type testRunJSON struct {
	Rule    string           `json:"rule"`
	Passed  int              `json:"passed"`
	Failed  int              `json:"failed"`
	Results []testResultJSON `json:"results"`
}

type testResultJSON struct {
	Name   string `json:"name"`
	Passed bool   `json:"passed"`
	Error  string `json:"error,omitempty"`
}

func (c *console) apiRuleTest(r *http.Request) (int, any, error) {
	rl := c.rules.Rule(r.PathValue("id"))
	if rl == nil {
		return 0, nil, notFound("rule")
	}
	out := testRunJSON{Rule: rl.ID, Results: []testResultJSON{}}
	for _, t := range c.runTests(rl.ID) {
		out.Results = append(out.Results, testResultJSON{Name: t.Name, Passed: t.Passed, Error: t.Err})
		if t.Passed {
			out.Passed++
		} else {
			out.Failed++
		}
	}
	return http.StatusOK, out, nil
}

type lookupJSON struct {
	Name      string    `json:"name"`
	KeyColumn string    `json:"key_column"`
	LogType   string    `json:"log_type"`
	Selector  string    `json:"selector"`
	Rows      int       `json:"rows"`
	Version   int64     `json:"version"`
	LoadedAt  time.Time `json:"loaded_at"`
}

func (c *console) apiLookups(r *http.Request) (int, any, error) {
	ts, err := c.d.Store.LookupTables(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := list[lookupJSON]{Items: []lookupJSON{}}
	for _, t := range ts {
		out.Items = append(out.Items, lookupJSON(t))
	}
	return http.StatusOK, out, nil
}

// Search.

// apiQuery runs SQL: {"sql": "...", "limit": N} answers the rows as JSON;
// ?format=csv or json downloads every row as a file.
func (c *console) apiQuery(w http.ResponseWriter, r *http.Request) {
	var in queryBody
	if err := decodeBody(r, &in); err != nil {
		c.apiError(w, r, err)
		return
	}
	switch f := r.URL.Query().Get("format"); f {
	case "csv", "json":
		if err := c.download(w, r, in.SQL, f); err != nil {
			c.apiError(w, r, err)
		}
		return
	case "":
	default:
		c.apiError(w, r, badRequest("format %q: want csv or json (a download), or none for rows in JSON", limit(f, 20)))
		return
	}
	n := in.Limit
	if n <= 0 {
		n = maxShownRows
	}
	res, err := c.runSQL(r.Context(), in.SQL, min(n, 10*maxShownRows))
	if err != nil {
		c.apiError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

type searchJSON struct {
	Indicator string      `json:"indicator"`
	Kind      string      `json:"kind"`
	From      time.Time   `json:"from"`
	To        time.Time   `json:"to"`
	Events    []eventView `json:"events"`
	More      bool        `json:"more"`
}

func (c *console) apiSearch(r *http.Request) (int, any, error) {
	q, err := parseIndicatorQuery(r.URL.Query(), c.now())
	if err != nil {
		return 0, nil, err
	}
	res, err := c.indicatorSearch(r.Context(), q)
	if err != nil {
		return 0, nil, err
	}
	out := searchJSON{Indicator: q.Indicator, Kind: res.Kind, From: q.From, To: q.To, More: res.More, Events: []eventView{}}
	for _, e := range res.Events {
		out.Events = append(out.Events, eventOf(e))
	}
	return http.StatusOK, out, nil
}

func (c *console) apiSchemas(r *http.Request) (int, any, error) {
	return http.StatusOK, list[schemaView]{Items: schemas()}, nil
}

// Users and tokens.

func (c *console) apiUsers(r *http.Request) (int, any, error) {
	us, err := c.d.Auth.Users(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]userView, 0, len(us))
	for _, u := range us {
		out = append(out, userViewOf(u))
	}
	page, err := pageOf(r, out, func(u userView) string { return u.Name }, 100, 1000)
	return http.StatusOK, page, err
}

// userCreated answers a new user; Password only when it was generated.
type userCreated struct {
	User     userView `json:"user"`
	Password string   `json:"password,omitempty"`
}

func (c *console) apiUserCreate(r *http.Request) (int, any, error) {
	var in userCreate
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	out := userCreated{}
	if in.Password == "" {
		in.Password = newPassword()
		out.Password = in.Password
	}
	u, err := c.d.Auth.AddUser(r.Context(), in.Name, in.Role, in.Password)
	if err != nil {
		return 0, nil, authError(err)
	}
	out.User = userViewOf(u)
	return http.StatusCreated, out, nil
}

func (c *console) apiUserDelete(r *http.Request) (int, any, error) {
	if err := c.d.Auth.RemoveUser(r.Context(), r.PathValue("name")); err != nil {
		return 0, nil, authError(err)
	}
	return http.StatusNoContent, nil, nil
}

func (c *console) apiUserReset(r *http.Request) (int, any, error) {
	pw, err := c.d.Auth.ResetPassword(r.Context(), r.PathValue("name"))
	if err != nil {
		return 0, nil, authError(err)
	}
	return http.StatusOK, passwordJSON{Password: pw}, nil
}

func (c *console) apiTokens(r *http.Request) (int, any, error) {
	ts, err := c.d.Auth.Tokens(r.Context())
	if err != nil {
		return 0, nil, err
	}
	out := make([]tokenView, 0, len(ts))
	for _, t := range ts {
		out = append(out, tokenViewOf(t))
	}
	page, err := pageOf(r, out, func(t tokenView) string { return t.Name }, 100, 1000)
	return http.StatusOK, page, err
}

// tokenCreated answers a new API token: the token itself, this once.
type tokenCreated struct {
	Token tokenView `json:"token"`
	Plain string    `json:"plain"`
}

func (c *console) apiTokenCreate(r *http.Request) (int, any, error) {
	var in tokenCreate
	if err := decodeBody(r, &in); err != nil {
		return 0, nil, err
	}
	ttl, err := parseTTL(in.TTL)
	if err != nil {
		return 0, nil, err
	}
	plain, t, err := c.d.Auth.CreateToken(r.Context(), in.Name, in.Role, principal(r).Name, ttl)
	if err != nil {
		return 0, nil, authError(err)
	}
	return http.StatusCreated, tokenCreated{Token: tokenViewOf(t), Plain: plain}, nil
}

func (c *console) apiTokenDelete(r *http.Request) (int, any, error) {
	if err := c.d.Auth.RevokeToken(r.Context(), r.PathValue("id")); err != nil {
		return 0, nil, authError(err)
	}
	return http.StatusNoContent, nil, nil
}

// Bodies of requests, named so that the OpenAPI document describes them.

type resetBody struct {
	DropCursors bool `json:"drop_cursors,omitempty"` // also forget the cursors and re-read from the last events
}

type resetResult struct {
	StreamsDue int `json:"streams_due"`
}

type streamPatch struct {
	Enabled *bool `json:"enabled"` // false pauses the stream (its log type is not collected), true resumes it
}

type triageBody struct {
	Assignee string `json:"assignee,omitempty"` // assign: who ("" unassigns)
	Comment  string `json:"comment,omitempty"`  // comment: the text; the status actions take one too
}

type queryBody struct {
	SQL   string `json:"sql"`
	Limit int    `json:"limit,omitempty"` // rows answered; default 1000, at most 10000
}

type userCreate struct {
	Name     string `json:"name"`
	Role     string `json:"role"`               // admin or analyst
	Password string `json:"password,omitempty"` // empty: a random one, answered once
}

type passwordJSON struct {
	Password string `json:"password"` // shown this once
}

type tokenCreate struct {
	Name string `json:"name"`
	Role string `json:"role"`          // admin or analyst
	TTL  string `json:"ttl,omitempty"` // never (default), or a lifetime such as 30d or 12h
}
