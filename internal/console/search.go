package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"

	"github.com/opwatch/opwatch/internal/store"
)

// IndicatorQuery asks for the events that name one e-mail address or one
// IP address (in their p_any_emails or p_any_ip_addresses) in a time range.
type IndicatorQuery struct {
	Indicator string
	From, To  time.Time // event time; To excluded
	LogTypes  []string  // empty: all three
	Limit     int       // at most this many events, newest first
}

// IndicatorResult is what an indicator search found.
type IndicatorResult struct {
	Kind   string // "email" or "ip"
	Events []store.StoredEvent
	More   bool // more events matched than Limit
}

// SearchFunc is the indicator search (package search adapts to it).
type SearchFunc func(ctx context.Context, q IndicatorQuery) (IndicatorResult, error)

// searchPageData is the search page.
type searchPageData struct {
	SQL       string
	Result    *sqlResult
	SQLError  string
	Indicator string
	Since     string
	Until     string
	LogTypes  []string
	Found     *IndicatorResult
	Events    []eventView
	FindError string
	Available bool
	Examples  []string
	AllTypes  []string
}

func (c *console) searchData() searchPageData {
	d := searchPageData{Available: c.d.Search != nil, Since: "30d"}
	for _, lt := range logtype.All() {
		d.AllTypes = append(d.AllTypes, lt.Name)
	}
	d.Examples = []string{
		"SELECT p_event_time, target_user, client FROM onepassword_signinattempt ORDER BY p_event_time DESC LIMIT 20",
		"SELECT json_extract(client, '$.ip_address') AS ip, count(*) AS n FROM onepassword_signinattempt WHERE category <> 'success' GROUP BY ip ORDER BY n DESC LIMIT 20",
		"SELECT p_event_time, action, actor_details FROM onepassword_auditevent ORDER BY p_event_time DESC LIMIT 20",
	}
	return d
}

func (c *console) searchPage(w http.ResponseWriter, r *http.Request) error {
	d := c.searchData()
	q := r.URL.Query()
	status := http.StatusOK
	if ind := strings.TrimSpace(q.Get("indicator")); ind != "" {
		d.Indicator, d.Since, d.Until, d.LogTypes = ind, q.Get("since"), q.Get("until"), q["log_type"]
		iq, err := parseIndicatorQuery(q, c.now())
		if err == nil {
			var res IndicatorResult
			if res, err = c.indicatorSearch(r.Context(), iq); err == nil {
				d.Found = &res
				for _, e := range res.Events {
					d.Events = append(d.Events, eventOf(e))
				}
			}
		}
		if err != nil {
			status, d.FindError = c.classify(r, err)
		}
	}
	c.render(w, r, status, "search", view{Title: "Search", Nav: "search", Data: d})
	return nil
}

func (c *console) sqlAction(w http.ResponseWriter, r *http.Request) error {
	q := r.FormValue("sql")
	switch format := r.FormValue("format"); format {
	case "csv", "json":
		if err := c.download(w, r, q, format); err != nil {
			d := c.searchData()
			d.SQL = q
			status, msg := c.classify(r, err)
			d.SQLError = msg
			c.render(w, r, status, "search", view{Title: "Search", Nav: "search", Data: d})
		}
		return nil
	}
	d := c.searchData()
	d.SQL = q
	res, err := c.runSQL(r.Context(), q, maxShownRows)
	status := http.StatusOK
	if err != nil {
		status, d.SQLError = c.classify(r, err)
	} else {
		d.Result = &res
	}
	c.render(w, r, status, "search", view{Title: "Search", Nav: "search", Data: d})
	return nil
}

// parseIndicatorQuery reads indicator, since (default 30d), until,
// log_type (repeated) and limit.
func parseIndicatorQuery(v url.Values, now time.Time) (IndicatorQuery, error) {
	q := IndicatorQuery{Indicator: strings.TrimSpace(v.Get("indicator")), To: now}
	if q.Indicator == "" {
		return q, badRequest("give an indicator: an e-mail address or an IP address")
	}
	since := v.Get("since")
	if since == "" {
		since = "30d"
	}
	var err error
	if q.From, err = parseWhen(since, now); err != nil {
		return q, badRequest("since: %v", err)
	}
	if u := v.Get("until"); u != "" {
		if q.To, err = parseWhen(u, now); err != nil {
			return q, badRequest("until: %v", err)
		}
	}
	if !q.From.Before(q.To) {
		return q, badRequest("since must be before until")
	}
	for _, lt := range v["log_type"] {
		if lt == "" {
			continue
		}
		if logtype.ByName(lt) == nil {
			return q, badRequest("log type %q: want OnePassword.SignInAttempt, OnePassword.ItemUsage or OnePassword.AuditEvent", limit(lt, 60))
		}
		q.LogTypes = append(q.LogTypes, lt)
	}
	if q.Limit, err = parseLimit(v.Get("limit"), 200, 1000); err != nil {
		return q, err
	}
	return q, nil
}

// indicatorSearch runs the indicator search, when there is one.
func (c *console) indicatorSearch(ctx context.Context, q IndicatorQuery) (IndicatorResult, error) {
	if c.d.Search == nil {
		return IndicatorResult{}, fail(http.StatusNotImplemented, "indicator search is not available in this opwatch: use SQL over p_any_emails and p_any_ip_addresses")
	}
	res, err := c.d.Search(ctx, q)
	if err != nil {
		var he *httpError
		if errors.As(err, &he) {
			return res, err
		}
		return res, userError(http.StatusBadRequest, err)
	}
	return res, nil
}
