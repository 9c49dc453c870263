package console

import (
	"context"
	"fmt"
	"html/template"
	"slices"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/health"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

// The views below are computed once per request and shared by the pages
// and the API.

// eventChart counts the events of each log type per bucket (by event
// time) over the n buckets of step ending with the current one; sourceID
// "" counts every source. step is an hour or a day.
func (c *console) eventCounts(ctx context.Context, sourceID string, step time.Duration, n int) ([]time.Time, []series, error) {
	now := c.now().UTC()
	first := now.Truncate(step).Add(-time.Duration(n-1) * step)
	if step == 24*time.Hour {
		first = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(n - 1))
	}
	buckets := make([]time.Time, n)
	for i := range buckets {
		buckets[i] = first.Add(time.Duration(i) * step)
	}
	width := 13 // "2006-01-02 15"
	if step == 24*time.Hour {
		width = 10
	}
	var ss []series
	for _, lt := range logtype.All() {
		// Written to run on every engine: the text of a time starts
		// "YYYY-MM-DD HH" on SQLite (as stored) and PostgreSQL (timestamptz
		// as text, the server in UTC).
		q := fmt.Sprintf(`SELECT substr(CAST(p_event_time AS TEXT), 1, %d) AS bucket, count(*) AS n FROM %s WHERE p_event_time >= %s`,
			width, lt.Table, quoteSQL(first.Format("2006-01-02 15:04:05")+"+00"))
		if sourceID != "" {
			q += " AND p_source_id = " + quoteSQL(sourceID)
		}
		q += " GROUP BY bucket"
		s := series{Name: lt.Name, Values: make([]int64, n)}
		err := c.d.Store.Query(ctx, q, func(_ []string, vals []any) error {
			if vals == nil {
				return nil
			}
			key, _ := vals[0].(string)
			cnt, _ := vals[1].(int64)
			key = strings.Replace(key, "T", " ", 1)
			layout := "2006-01-02 15"
			if width == 10 {
				layout = "2006-01-02"
			}
			t, err := time.Parse(layout, key)
			if err != nil {
				return nil
			}
			if i := int(t.Sub(first) / step); i >= 0 && i < n {
				s.Values[i] += cnt
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("count %s events: %w", lt.Name, err)
		}
		ss = append(ss, s)
	}
	return buckets, ss, nil
}

// quoteSQL quotes a text literal for SQL.
func quoteSQL(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// sourceView is a source as the pages and the API show it: never its
// token, only the token's last four characters.
type sourceView struct {
	Source      store.Source
	Host        string
	Streams     []streamView
	Conditions  []health.Condition
	TokenLast4  string
	TokenErr    string
	Features    []string
	Events      int64
	Quarantined int64
	LastEventAt time.Time // newest event time of any stream
	LastPollAt  time.Time
	// State at a glance: "healthy", "attention" (a condition holds),
	// "paused" (no log type collected), "waiting" (no event yet).
	State string
}

// streamView is one log type of a source.
type streamView struct {
	store.Stream
	Lag time.Duration // now - the newest event time; 0 when none
}

// Paused reports whether the log type is not collected.
func (s streamView) Paused() bool { return !s.Enabled }

func (c *console) sourceView(ctx context.Context, sum source.Summary, conds []health.Condition) sourceView {
	now := c.now()
	v := sourceView{Source: sum.Source, Host: sum.Host, Conditions: conditionsShown(sum.Source, conds, now)}
	if sum.TokenErr != nil {
		v.TokenErr = sum.TokenErr.Error()
	} else {
		for _, f := range sum.Claims.Features {
			v.Features = append(v.Features, string(f))
		}
	}
	if tok, err := c.d.Sources.OpenToken(sum.Source); err == nil {
		v.TokenLast4 = last4(string(tok))
	}
	enabled := 0
	for _, st := range sum.Streams {
		sv := streamView{Stream: st}
		if !st.LastEventAt.IsZero() {
			sv.Lag = now.Sub(st.LastEventAt)
		}
		v.Streams = append(v.Streams, sv)
		v.Events += st.Events
		v.Quarantined += st.Quarantined
		if st.LastEventAt.After(v.LastEventAt) {
			v.LastEventAt = st.LastEventAt
		}
		if st.LastPollAt.After(v.LastPollAt) {
			v.LastPollAt = st.LastPollAt
		}
		if st.Enabled {
			enabled++
		}
	}
	switch {
	case len(conds) > 0:
		v.State = "attention"
	case enabled == 0:
		v.State = "paused"
	case v.Events == 0:
		v.State = "waiting"
	default:
		v.State = "healthy"
	}
	return v
}

// last4 is the end of a secret that tells it apart, never enough to use:
// the last four characters of one at least 12 long, else nothing.
func last4(s string) string {
	s = strings.TrimSpace(s)
	if len(s) < 12 {
		return ""
	}
	return s[len(s)-4:]
}

// sources lists every source with its health.
func (c *console) sources(ctx context.Context) ([]sourceView, error) {
	sums, err := c.d.Sources.List(ctx)
	if err != nil {
		return nil, err
	}
	now := c.now()
	out := make([]sourceView, 0, len(sums))
	for _, s := range sums {
		conds := health.Evaluate(s.Source, s.Streams, now, time.Hour)
		out = append(out, c.sourceView(ctx, s, conds))
	}
	return out, nil
}

// sourceByID is one source with its health, by id.
func (c *console) sourceByID(ctx context.Context, id string) (sourceView, error) {
	src, err := c.d.Store.SourceByID(ctx, id)
	if err != nil {
		return sourceView{}, err
	}
	sum, err := c.d.Sources.Get(ctx, src.Name)
	if err != nil {
		return sourceView{}, err
	}
	conds, err := health.Conditions(ctx, c.d.Store, src.ID, c.now())
	if err != nil {
		return sourceView{}, err
	}
	return c.sourceView(ctx, sum, conds), nil
}

// detectLag is how far the detect stage is behind the lake.
type detectLag struct {
	Position, Latest, Behind int64
	// Oldest is when the oldest event not yet evaluated was stored; zero
	// when none waits.
	Oldest time.Time
}

func (c *console) detectLag(ctx context.Context) (detectLag, error) {
	pos, err := c.d.Store.Position(ctx, detect.StageName)
	if err != nil {
		return detectLag{}, err
	}
	latest, err := c.d.Store.LatestSeq(ctx)
	if err != nil {
		return detectLag{}, err
	}
	l := detectLag{Position: pos, Latest: latest, Behind: max(latest-pos, 0)}
	if l.Behind > 0 {
		evs, err := c.d.Store.EventsAfter(ctx, pos, 1)
		if err != nil {
			return l, err
		}
		if len(evs) > 0 {
			l.Oldest = evs[0].ParseTime
		}
	}
	return l, nil
}

// severities, lowest first.
var severities = []string{"INFO", "LOW", "MEDIUM", "HIGH", "CRITICAL"}

// alertsBySeverity counts the alerts created since since, by severity,
// highest first, and draws them.
func (c *console) alertsBySeverity(ctx context.Context, since time.Time) (map[string]int64, template.HTML, error) {
	as, err := c.d.Store.ListAlerts(ctx, store.AlertFilter{Limit: 10000})
	if err != nil {
		return nil, "", err
	}
	counts := map[string]int64{}
	for _, a := range as {
		if !a.CreatedAt.Before(since) {
			counts[a.Severity]++
		}
	}
	var bars []bar
	for _, s := range slices.Backward(severities) {
		bars = append(bars, bar{Label: s, Value: counts[s], Class: "bar-" + strings.ToLower(s)})
	}
	return counts, barChart("Alerts by severity, last 7 days", bars), nil
}

// conditionsShown are conds as the console words them: a token's expiry
// in the words the Token column uses (the same "in 1 h 59 min", not a
// rounded "1 hours" beside it), and nothing "since" before the source
// existed (the expiry's warning stage starts a day before the expiry,
// which for a new source is before it was added).
func conditionsShown(src store.Source, conds []health.Condition, now time.Time) []health.Condition {
	out := make([]health.Condition, len(conds))
	for i, cd := range conds {
		if !src.CreatedAt.IsZero() && cd.Since.Before(src.CreatedAt) {
			cd.Since = src.CreatedAt
		}
		if exp := src.TokenExpiresAt; cd.Kind == health.KindTokenExpiry && exp.After(now) {
			cd.Title = fmt.Sprintf("Source %s: its token expires %s (%s)", src.Name, agoFrom(now, exp), exp.UTC().Format("2006-01-02 15:04 UTC"))
		}
		out[i] = cd
	}
	return out
}
