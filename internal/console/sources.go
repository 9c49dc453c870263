package console

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

// consoleName names a source setting as the console's forms label it.
func consoleName(key string) string {
	switch key {
	case "name":
		return "Source name"
	case "region":
		return "Region & plan"
	case "base_url":
		return "Custom base URL"
	case "no_events_alarm":
		return "The no-events timeframe"
	case "log_types":
		return "Log types"
	case "allow_insecure":
		return "allow insecure (configuration file only)"
	}
	return strings.ReplaceAll(key, "_", " ")
}

func (c *console) sourcesPage(w http.ResponseWriter, r *http.Request) error {
	vs, err := c.sources(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "sources", view{Title: "Sources", Nav: "sources", Data: vs})
	return nil
}

// sourcePageData is the source page.
type sourcePageData struct {
	S        sourceView
	Chart    template.HTML
	LogTypes []series
	Recent   []recentEvent
	Alarm    alarmForm
	Log      []string // what the last change did (notes)
}

// recentEvent is one of the newest events of a source.
type recentEvent struct {
	LogType   string
	Time      time.Time // shown as every time in the console is (stamp)
	Emails    string
	IPs       string
	EventUUID string
}

func (c *console) sourcePage(w http.ResponseWriter, r *http.Request) error {
	d, err := c.sourcePageData(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "source", view{Title: d.S.Source.Name, Nav: "sources", Data: d})
	return nil
}

func (c *console) sourcePageData(ctx context.Context, id string) (sourcePageData, error) {
	s, err := c.sourceByID(ctx, id)
	if err != nil {
		return sourcePageData{}, err
	}
	buckets, ss, err := c.eventCounts(ctx, s.Source.ID, time.Hour, 24)
	if err != nil {
		return sourcePageData{}, err
	}
	var streams []store.Stream
	for _, st := range s.Streams {
		streams = append(streams, st.Stream)
	}
	markMissing(ss, streams)
	recent, err := c.recentEvents(ctx, s.Source.ID, 10)
	if err != nil {
		return sourcePageData{}, err
	}
	return sourcePageData{S: s, Chart: timeChart("Events per hour, last 24 hours", buckets, time.Hour, ss), LogTypes: ss,
		Recent: recent, Alarm: alarmFormOf(s.Source.NoEventsAlarm)}, nil
}

// recentEvents are a source's newest events (by event time), from the
// log types' views.
func (c *console) recentEvents(ctx context.Context, sourceID string, n int) ([]recentEvent, error) {
	var out []recentEvent
	for _, lt := range logtype.All() {
		q := fmt.Sprintf(`SELECT p_log_type, CAST(p_event_time AS TEXT), p_any_emails, p_any_ip_addresses, uuid FROM %s WHERE p_source_id = %s ORDER BY p_event_time DESC LIMIT %d`,
			lt.Table, quoteSQL(sourceID), n)
		err := c.d.Store.Query(ctx, q, func(_ []string, vals []any) error {
			if vals == nil {
				return nil
			}
			out = append(out, recentEvent{LogType: text(vals[0]), Time: sqlTime(vals[1]), Emails: jsonList(vals[2]), IPs: jsonList(vals[3]), EventUUID: text(vals[4])})
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the newest %s events: %w", lt.Name, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.After(out[j].Time) })
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// alarmForm is the no-events alarm as its form shows it.
type alarmForm struct {
	On    bool
	Value int
	Unit  string // minutes, hours, days
}

func alarmFormOf(d time.Duration) alarmForm {
	if d <= 0 {
		return alarmForm{On: false, Value: 1, Unit: "days"}
	}
	switch {
	case d%(24*time.Hour) == 0:
		return alarmForm{On: true, Value: int(d / (24 * time.Hour)), Unit: "days"}
	case d%time.Hour == 0:
		return alarmForm{On: true, Value: int(d / time.Hour), Unit: "hours"}
	}
	return alarmForm{On: true, Value: int(d / time.Minute), Unit: "minutes"}
}

// parseAlarm reads the alarm form: enabled (yes/no), value and unit, or
// a duration text ("24h", "off") in alarm.
func parseAlarm(r *http.Request) (time.Duration, error) {
	if v := strings.TrimSpace(r.FormValue("alarm")); v != "" {
		a, err := config.ParseAlarm(v)
		if err != nil {
			return 0, badRequest("the no-events timeframe: %v", err)
		}
		return a.Duration(), nil
	}
	if on := r.FormValue("alarm_enabled"); on != "yes" && on != "on" && on != "true" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscan(r.FormValue("alarm_value"), &n); err != nil || n <= 0 {
		return 0, badRequest("the no-events timeframe: give a whole number of minutes, hours or days (15 minutes to 30 days)")
	}
	unit := map[string]time.Duration{"minutes": time.Minute, "hours": time.Hour, "days": 24 * time.Hour}[r.FormValue("alarm_unit")]
	if unit == 0 {
		return 0, badRequest("the no-events timeframe: the unit is minutes, hours or days")
	}
	d := time.Duration(n) * unit
	if d < config.MinNoEventsAlarm || d > config.MaxNoEventsAlarm {
		return 0, badRequest("the no-events timeframe %s is outside 15 minutes to 30 days: choose a timeframe in that range", spell(d))
	}
	return d, nil
}

// sourceName finds the name of source id (the source service works by
// name; the console's paths use ids, which never need escaping).
func (c *console) sourceName(ctx context.Context, id string) (string, error) {
	src, err := c.d.Store.SourceByID(ctx, id)
	if err != nil {
		return "", notFound("source")
	}
	return src.Name, nil
}

// setAlarm changes a source's no-events alarm (0: off).
func (c *console) setAlarm(ctx context.Context, id string, d time.Duration) (source.Result, error) {
	name, err := c.sourceName(ctx, id)
	if err != nil {
		return source.Result{}, err
	}
	res, err := c.d.Sources.Update(ctx, name, source.Update{NoEventsAlarm: &d})
	return res, sourceError(err)
}

// setCollected pauses (collect false) or resumes the stream of one log
// type: the source's log types without it, or with it.
func (c *console) setCollected(ctx context.Context, id, logType string, collect bool) (source.Result, error) {
	lt := logtype.ByName(logType)
	if lt == nil {
		return source.Result{}, badRequest("unknown log type %q: use %s", logType, strings.Join(config.LogTypeNames(), ", "))
	}
	src, err := c.d.Store.SourceByID(ctx, id)
	if err != nil {
		return source.Result{}, notFound("source")
	}
	streams, err := c.d.Store.Streams(ctx, src.ID)
	if err != nil {
		return source.Result{}, err
	}
	lts := []string{}
	for _, st := range streams {
		if st.Enabled && st.LogType != lt.Name {
			lts = append(lts, st.LogType)
		}
	}
	if collect {
		lts = append(lts, lt.Name)
	}
	res, err := c.d.Sources.Update(ctx, src.Name, source.Update{LogTypes: lts})
	return res, sourceError(err)
}

// rotateToken gives a source a new token, checked with 1Password first.
func (c *console) rotateToken(ctx context.Context, id, token string) (source.Result, error) {
	name, err := c.sourceName(ctx, id)
	if err != nil {
		return source.Result{}, err
	}
	token = strings.TrimSpace(token)
	if token == "" {
		return source.Result{}, badRequest("paste the new token of the Events Reporting integration")
	}
	res, err := c.d.Sources.Update(ctx, name, source.Update{Token: &token})
	return res, sourceError(err)
}

// Page actions: each changes the source and goes back to its page.

func (c *console) sourceAlarmAction(w http.ResponseWriter, r *http.Request) error {
	d, err := parseAlarm(r)
	if err == nil {
		_, err = c.setAlarm(r.Context(), r.PathValue("id"), d)
	}
	if err != nil {
		return c.sourcePageWithError(w, r, err)
	}
	msg := "The no-events alarm is off."
	if d > 0 {
		msg = "The no-events alarm fires when no event arrives for " + spell(d) + "."
	}
	redirect(w, r, "/sources/"+r.PathValue("id"), msg)
	return nil
}

func (c *console) sourceStreamAction(collect bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		lt := r.PathValue("logtype")
		res, err := c.setCollected(r.Context(), r.PathValue("id"), lt, collect)
		if err != nil {
			return c.sourcePageWithError(w, r, err)
		}
		msg := lt + " is paused: it is not polled until resumed."
		if collect {
			msg = lt + " is collected again."
		}
		redirect(w, r, "/sources/"+r.PathValue("id"), strings.Join(append([]string{msg}, res.Notes...), " "))
		return nil
	}
}

func (c *console) sourceTokenAction(w http.ResponseWriter, r *http.Request) error {
	res, err := c.rotateToken(r.Context(), r.PathValue("id"), r.FormValue("token"))
	if err != nil {
		return c.sourcePageWithError(w, r, err)
	}
	msg := "The new token works and replaced the old one; stopped log types poll again."
	redirect(w, r, "/sources/"+r.PathValue("id"), strings.Join(append([]string{msg}, res.Notes...), " "))
	return nil
}

func (c *console) sourceResetAction(w http.ResponseWriter, r *http.Request) error {
	name, err := c.sourceName(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	n, err := c.d.Sources.Reset(r.Context(), name, false)
	if err != nil {
		return c.sourcePageWithError(w, r, sourceError(err))
	}
	redirect(w, r, "/sources/"+r.PathValue("id"), fmt.Sprintf("%d log type(s) are polled now.", n))
	return nil
}

func (c *console) sourceDeletePage(w http.ResponseWriter, r *http.Request) error {
	s, err := c.sourceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "source_delete", view{Title: "Delete " + s.Source.Name, Nav: "sources", Data: s})
	return nil
}

func (c *console) sourceDeleteAction(w http.ResponseWriter, r *http.Request) error {
	s, err := c.sourceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	if r.FormValue("confirm") != s.Source.Name {
		c.render(w, r, http.StatusUnprocessableEntity, "source_delete", view{Title: "Delete " + s.Source.Name, Nav: "sources", Data: s,
			Error: "Type the source's name exactly to delete it."})
		return nil
	}
	if _, err := c.d.Sources.Remove(r.Context(), s.Source.Name); err != nil {
		return sourceError(err)
	}
	redirect(w, r, "/sources", fmt.Sprintf("Deleted source %s. Its events stay in the lake; a source added again for the same account stores none of them twice.", s.Source.Name))
	return nil
}

// sourcePageWithError shows the source page with what went wrong.
func (c *console) sourcePageWithError(w http.ResponseWriter, r *http.Request, err error) error {
	d, derr := c.sourcePageData(r.Context(), r.PathValue("id"))
	if derr != nil {
		return derr
	}
	status, msg := c.classify(r, err)
	c.render(w, r, status, "source", view{Title: d.S.Source.Name, Nav: "sources", Data: d, Error: msg})
	return nil
}

// quarantinePage lists a source's quarantined events with the reason.
func (c *console) quarantinePage(w http.ResponseWriter, r *http.Request) error {
	s, err := c.d.Store.SourceByID(r.Context(), r.PathValue("id"))
	if err != nil {
		return notFound("source")
	}
	qs, err := c.d.Store.ListQuarantine(r.Context(), s.ID, 200)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "quarantine", view{Title: "Quarantine of " + s.Name, Nav: "sources",
		Data: map[string]any{"Source": s, "Items": qs}})
	return nil
}

// text is a SQL value's text.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []byte:
		return string(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.000000000")
	}
	return fmt.Sprint(v)
}

// sqlTime reads a time a query returned: a time.Time, or the text of one as
// SQLite stores it ("2006-01-02 15:04:05.999999999", UTC) or PostgreSQL
// casts a timestamptz ("2006-01-02 15:04:05.999999+00"). Text it cannot read
// is the zero time, which pages show as "never".
func sqlTime(v any) time.Time {
	if t, ok := v.(time.Time); ok {
		return t.UTC()
	}
	s := strings.Replace(strings.TrimSpace(text(v)), "T", " ", 1)
	for _, layout := range []string{"2006-01-02 15:04:05.999999999Z07", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// jsonList shows a JSON array of strings as a comma-separated list.
func jsonList(v any) string {
	s := strings.TrimSpace(text(v))
	s = strings.TrimPrefix(strings.TrimSuffix(s, "]"), "[")
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.Trim(strings.TrimSpace(p), `"`)
	}
	return strings.Join(slices.DeleteFunc(parts, func(p string) bool { return p == "" }), ", ")
}
