package console

import (
	"html/template"
	"net/http"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// overview is the first page: does data flow, what needs attention.
type overview struct {
	EventsChart template.HTML
	LogTypes    []series
	Events24h   int64
	AlertsChart template.HTML
	BySeverity  map[string]int64
	Open        []store.Alert
	Sources     []sourceView
	Attention   []sourceView
	Lag         detectLag
}

func (c *console) overviewPage(w http.ResponseWriter, r *http.Request) error {
	o, err := c.overview(r)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "overview", view{Title: "Overview", Nav: "overview", Data: o})
	return nil
}

func (c *console) overview(r *http.Request) (overview, error) {
	ctx := r.Context()
	var o overview
	buckets, ss, err := c.eventCounts(ctx, "", time.Hour, 24)
	if err != nil {
		return o, err
	}
	o.LogTypes = ss
	for _, s := range ss {
		for _, v := range s.Values {
			o.Events24h += v
		}
	}
	if o.BySeverity, o.AlertsChart, err = c.alertsBySeverity(ctx, c.now().Add(-7*24*time.Hour)); err != nil {
		return o, err
	}
	if o.Open, err = c.d.Store.ListAlerts(ctx, store.AlertFilter{Unresolved: true, Limit: 10}); err != nil {
		return o, err
	}
	if o.Sources, err = c.sources(ctx); err != nil {
		return o, err
	}
	var streams []store.Stream
	for _, s := range o.Sources {
		for _, st := range s.Streams {
			streams = append(streams, st.Stream)
		}
	}
	markMissing(o.LogTypes, streams)
	o.EventsChart = timeChart("Events per log type per hour, last 24 hours", buckets, time.Hour, o.LogTypes)
	for _, s := range o.Sources {
		if s.State == "attention" {
			o.Attention = append(o.Attention, s)
		}
	}
	if o.Lag, err = c.detectLag(ctx); err != nil {
		return o, err
	}
	return o, nil
}
