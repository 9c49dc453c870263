package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// alertQuery is the alerts list's filters, as the CLI has them (status,
// severity, type, rule) and more (source, time), with a page.
type alertQuery struct {
	Status   string // open, triaged, resolved, unresolved, or "" for all
	Severity string
	Type     string
	Rule     string
	Source   string    // source id
	Since    time.Time // created at or after
	Until    time.Time // created before
	Limit    int
	Cursor   string
}

// maxAlertScan bounds how many alerts one page reads to apply the filters
// the store does not (source, time).
const maxAlertScan = 5000

func parseAlertQuery(v url.Values, now time.Time) (alertQuery, error) {
	q := alertQuery{
		Status: strings.ToLower(strings.TrimSpace(v.Get("status"))), Severity: strings.ToUpper(strings.TrimSpace(v.Get("severity"))),
		Type: strings.ToLower(strings.TrimSpace(v.Get("type"))), Rule: strings.TrimSpace(v.Get("rule")),
		Source: strings.TrimSpace(v.Get("source")), Cursor: v.Get("cursor"),
	}
	switch q.Status {
	case "", "open", "triaged", "resolved", "unresolved":
	default:
		return q, badRequest("status %q: want open, triaged, resolved or unresolved", q.Status)
	}
	if q.Severity != "" && !slices.Contains(severities, q.Severity) {
		return q, badRequest("severity %q: want INFO, LOW, MEDIUM, HIGH or CRITICAL", q.Severity)
	}
	switch q.Type {
	case "", store.AlertRule, store.AlertRuleError, store.AlertSystemError:
	default:
		return q, badRequest("type %q: want rule, rule_error or system_error", q.Type)
	}
	var err error
	if q.Since, err = parseWhen(v.Get("since"), now); err != nil {
		return q, badRequest("since: %v", err)
	}
	if q.Until, err = parseWhen(v.Get("until"), now); err != nil {
		return q, badRequest("until: %v", err)
	}
	if q.Limit, err = parseLimit(v.Get("limit"), 50, 500); err != nil {
		return q, err
	}
	return q, nil
}

// parseWhen reads a time: RFC 3339, a date-time of a form's
// datetime-local field (UTC), a date, or a duration back from now (24h,
// 7d).
func parseWhen(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	if d, ok := parseSpan(s); ok {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give RFC 3339 (2026-01-02T15:04:05Z), a date, or how long ago (24h, 7d)", s)
}

// parseSpan reads a positive duration: Go's (90m, 12h) or days (7d).
func parseSpan(s string) (time.Duration, bool) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if d, err := strconv.Atoi(n); err == nil && d > 0 && d < 100000 {
			return time.Duration(d) * 24 * time.Hour, true
		}
		return 0, false
	}
	d, err := time.ParseDuration(s)
	return d, err == nil && d > 0
}

// parseLimit reads a page size: def when empty, at most most.
func parseLimit(s string, def, most int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return 0, badRequest("limit %q: give a number from 1 to %d", s, most)
	}
	return min(n, most), nil
}

// cursor is where a page of a newest-first list ended.
type cursor struct {
	At time.Time `json:"t"`
	ID string    `json:"id"`
}

func encodeCursor(at time.Time, id string) string {
	b, _ := json.Marshal(cursor{At: at, ID: id})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.ID == "" {
		return c, badRequest("cursor %q is not one this API gave: start from the first page", limit(s, 40))
	}
	return c, nil
}

// listAlerts is one page of alerts, newest first.
func (c *console) listAlerts(ctx context.Context, q alertQuery) ([]store.Alert, string, error) {
	f := store.AlertFilter{RuleID: q.Rule, Type: q.Type, Severity: q.Severity, Limit: maxAlertScan}
	if q.Status == "unresolved" {
		f.Unresolved = true
	} else {
		f.Status = q.Status
	}
	all, err := c.d.Store.ListAlerts(ctx, f)
	if err != nil {
		return nil, "", err
	}
	start := 0
	if q.Cursor != "" {
		cur, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		start = len(all)
		for i, a := range all {
			if a.ID == cur.ID {
				start = i + 1
				break
			}
			if a.CreatedAt.Before(cur.At) {
				start = i
				break
			}
		}
	}
	sources := map[string]string{} // alert id → source id
	var out []store.Alert
	for i := start; i < len(all); i++ {
		a := all[i]
		if !q.Since.IsZero() && a.CreatedAt.Before(q.Since) {
			continue
		}
		if !q.Until.IsZero() && !a.CreatedAt.Before(q.Until) {
			continue
		}
		if q.Source != "" {
			src, err := c.alertSource(ctx, a, sources)
			if err != nil {
				return nil, "", err
			}
			if src != q.Source {
				continue
			}
		}
		if len(out) == q.Limit {
			last := out[len(out)-1]
			return out, encodeCursor(last.CreatedAt, last.ID), nil
		}
		out = append(out, a)
	}
	return out, "", nil
}

// alertSource is the source an alert is about: a system error's
// context names it; a rule alert's first event came from it.
func (c *console) alertSource(ctx context.Context, a store.Alert, cache map[string]string) (string, error) {
	if s, ok := cache[a.ID]; ok {
		return s, nil
	}
	var src string
	if a.Type == store.AlertSystemError {
		var m map[string]any
		if json.Unmarshal(a.Context, &m) == nil {
			src, _ = m["source_id"].(string)
		}
	} else {
		evs, err := c.d.Store.AlertEvents(ctx, a.ID, 1)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		if len(evs) > 0 {
			src = evs[0].SourceID
		}
	}
	cache[a.ID] = src
	return src, nil
}

// alertsPageData is the alerts list.
type alertsPageData struct {
	Q       alertQuery
	Raw     url.Values
	Alerts  []store.Alert
	Next    template.URL // the next page's query string
	Sources []store.Source
	Rules   []string
	// Problems are the filters that were not understood (shown by the
	// form, which keeps what was typed); the list uses the others.
	Problems []string
}

// alertFilters are the alert list's query parameters checked one by one.
var alertFilters = []string{"status", "severity", "type", "since", "until", "limit"}

func (c *console) alertsPage(w http.ResponseWriter, r *http.Request) error {
	v := r.URL.Query()
	var problems []string
	for _, k := range alertFilters {
		if v.Get(k) == "" {
			continue
		}
		if _, err := parseAlertQuery(url.Values{k: {v.Get(k)}}, c.now()); err != nil {
			problems = append(problems, err.Error())
			v.Del(k)
		}
	}
	q, err := parseAlertQuery(v, c.now())
	if err != nil {
		return err
	}
	as, next, err := c.listAlerts(r.Context(), q)
	if err != nil {
		return err
	}
	d := alertsPageData{Q: q, Raw: r.URL.Query(), Alerts: as, Problems: problems}
	if next != "" {
		v := r.URL.Query()
		v.Set("cursor", next)
		d.Next = template.URL(v.Encode()) // encoded: safe in an href
	}
	if d.Sources, err = c.d.Store.ListSources(r.Context()); err != nil {
		return err
	}
	for _, rl := range c.rules.Rules() {
		d.Rules = append(d.Rules, rl.ID)
	}
	status := http.StatusOK
	if len(problems) > 0 {
		status = http.StatusBadRequest
	}
	c.render(w, r, status, "alerts", view{Title: "Alerts", Nav: "alerts", Data: d})
	return nil
}

// alertDetail is an alert with everything its page shows.
type alertDetail struct {
	Alert      store.Alert          `json:"alert"`
	Events     []eventView          `json:"events"`
	Deliveries []deliveryView       `json:"deliveries"`
	History    []store.AlertHistory `json:"history"`
}

// eventView is a stored event as people read it.
type eventView struct {
	Seq         int64           `json:"seq"`
	LogType     string          `json:"p_log_type"`
	EventTime   time.Time       `json:"p_event_time"`
	SourceID    string          `json:"p_source_id"`
	SourceLabel string          `json:"p_source_label"`
	IPs         []string        `json:"p_any_ip_addresses"`
	Emails      []string        `json:"p_any_emails"`
	Raw         json.RawMessage `json:"event"`
}

func eventOf(e store.StoredEvent) eventView {
	raw := json.RawMessage(e.Raw)
	if !json.Valid(raw) {
		raw, _ = json.Marshal(string(e.Raw))
	}
	return eventView{Seq: e.Seq, LogType: e.LogType, EventTime: e.EventTime, SourceID: e.SourceID, SourceLabel: e.SourceLabel,
		IPs: e.IPs, Emails: e.Emails, Raw: raw}
}

// deliveryView is one notification of an alert to a destination.
type deliveryView struct {
	Destination   string    `json:"destination"`
	DestinationID string    `json:"destination_id"`
	Kind          string    `json:"kind"`
	Status        string    `json:"status"`
	Attempts      int       `json:"attempts"`
	LastError     string    `json:"last_error,omitempty"`
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"`
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"`
	SentAt        time.Time `json:"sent_at,omitzero"`
}

func (c *console) alertDetail(ctx context.Context, id string, events int) (alertDetail, error) {
	a, err := c.d.Store.Alert(ctx, id)
	if err != nil {
		return alertDetail{}, fail(http.StatusNotFound, "alert %s not found: it may have been purged", limit(id, 40))
	}
	d := alertDetail{Alert: a}
	evs, err := c.d.Store.AlertEvents(ctx, id, events)
	if err != nil {
		return d, err
	}
	for _, e := range evs {
		d.Events = append(d.Events, eventOf(e))
	}
	ns, err := c.d.Store.ListNotifications(ctx, store.NotificationFilter{AlertID: id, Limit: 500})
	if err != nil {
		return d, err
	}
	dests, err := c.d.Store.Destinations(ctx)
	if err != nil {
		return d, err
	}
	names := map[string]string{}
	for _, dst := range dests {
		names[dst.ID] = dst.Name
	}
	for _, n := range ns {
		name, ok := names[n.DestinationID]
		if !ok {
			name = "(removed destination)"
		}
		d.Deliveries = append(d.Deliveries, deliveryView{Destination: name, DestinationID: n.DestinationID, Kind: n.Kind, Status: n.Status,
			Attempts: n.Attempts, LastError: n.LastError, LastAttemptAt: n.LastAttemptAt, NextAttemptAt: n.NextAttemptAt, SentAt: n.SentAt})
	}
	if d.History, err = c.d.Store.AlertHistory(ctx, id); err != nil {
		return d, err
	}
	return d, nil
}

func (c *console) alertPage(w http.ResponseWriter, r *http.Request) error {
	d, err := c.alertDetail(r.Context(), r.PathValue("id"), 50)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "alert", view{Title: d.Alert.Title, Nav: "alerts", Data: c.alertPageData(r.Context(), d)})
	return nil
}

type alertPageData struct {
	D          alertDetail
	Indicators []string // e-mails and IPs of the matched events, for pivots
	Users      []string // the console's users: the assignee's choices
}

func (c *console) alertPageData(ctx context.Context, d alertDetail) alertPageData {
	return alertPageData{D: d, Indicators: indicatorsOf(d.Events), Users: c.userNames(ctx)}
}

// userNames are the console's users' names; none when they cannot be read
// (the choices are a help, not a check of record).
func (c *console) userNames(ctx context.Context) []string {
	us, err := c.d.Auth.Users(ctx)
	if err != nil {
		c.log.Warn("console: list the users for the assignee's choices", "err", err)
		return nil
	}
	names := make([]string, 0, len(us))
	for _, u := range us {
		names = append(names, u.Name)
	}
	return names
}

// indicatorsOf lists the distinct e-mails and IPs of events.
func indicatorsOf(evs []eventView) []string {
	var out []string
	for _, e := range evs {
		for _, v := range append(append([]string{}, e.Emails...), e.IPs...) {
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}

// triage applies one triage action as the request's principal.
func (c *console) triage(r *http.Request, id, action string, assignee, comment string) (store.Alert, error) {
	ctx, who := r.Context(), actor(r)
	t := c.d.Triage
	var (
		a   store.Alert
		err error
	)
	switch action {
	case store.ActionTriage:
		a, err = t.Triage(ctx, id, who, comment)
	case store.ActionResolve:
		a, err = t.Resolve(ctx, id, who, comment)
	case store.ActionReopen:
		a, err = t.Reopen(ctx, id, who, comment)
	case store.ActionAssign:
		a, err = t.Assign(ctx, id, who, strings.TrimSpace(assignee))
	case store.ActionComment:
		if strings.TrimSpace(comment) == "" {
			return a, badRequest("the comment is empty: write it first")
		}
		a, err = t.Comment(ctx, id, who, comment)
	default:
		return a, fail(http.StatusNotFound, "unknown action %q: use triage, resolve, reopen, assign or comment", action)
	}
	return a, triageError(err)
}

func (c *console) alertAction(w http.ResponseWriter, r *http.Request) error {
	id, action := r.PathValue("id"), r.PathValue("action")
	a, err := c.triage(r, id, action, r.FormValue("assignee"), r.FormValue("comment"))
	if err != nil {
		d, derr := c.alertDetail(r.Context(), id, 50)
		if derr != nil {
			return derr
		}
		status, msg := c.classify(r, err)
		c.render(w, r, status, "alert", view{Title: d.Alert.Title, Nav: "alerts", Data: c.alertPageData(r.Context(), d), Error: msg})
		return nil
	}
	msg := map[string]string{
		store.ActionTriage: "Marked triaged.", store.ActionResolve: "Resolved.", store.ActionReopen: "Reopened.",
		store.ActionAssign: "Assigned to " + a.Assignee + ".", store.ActionComment: "Comment added.",
	}[action]
	if action == store.ActionAssign && a.Assignee == "" {
		msg = "Unassigned."
	} else if action == store.ActionAssign && !slices.Contains(c.userNames(r.Context()), a.Assignee) {
		msg += " Note: " + a.Assignee + " is not a user of this console; check the spelling, or add the user on the Users page."
	}
	redirect(w, r, "/alerts/"+id, msg)
	return nil
}
