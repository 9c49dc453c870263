package cli

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/detect"
	"github.com/opwatch/opwatch/internal/store"
)

// newSender is the sender of notifications, for serve and for
// `destinations test` alike.
func newSender(*slog.Logger) alert.Sender {
	return &alert.HTTPSender{UserAgent: userAgent()}
}

// summarizer returns the summary attributes of an alert: its rule's
// SummaryAttributes with their values in the alert's first event, as
// Panther shows them. Alerts of rules no longer loaded have none.
func summarizer(st store.Alerts, rules *detect.Set, log *slog.Logger) func(ctx context.Context, a store.Alert) []alert.Attribute {
	return func(ctx context.Context, a store.Alert) []alert.Attribute {
		if rules == nil || a.RuleID == "" || a.Type != store.AlertRule {
			return nil
		}
		r := rules.Rule(a.RuleID)
		if r == nil || len(r.SummaryAttributes) == 0 {
			return nil
		}
		evs, err := st.AlertEvents(ctx, a.ID, 1)
		if err != nil || len(evs) == 0 {
			if err != nil {
				log.Warn("read the alert's first event for its summary", "alert", a.ID, "err", err)
			}
			return nil
		}
		out := make([]alert.Attribute, 0, len(r.SummaryAttributes))
		for _, name := range r.SummaryAttributes {
			out = append(out, alert.Attribute{Name: name, Value: summaryValue(evs[0], name)})
		}
		return out
	}
}

// summaryValue is one attribute's value in ev: a p_ field, or a field of
// the event by its name or dotted path (client.ip_address). Lists are
// joined with ", "; objects are written as JSON; absent is "".
func summaryValue(ev store.StoredEvent, name string) string {
	switch name {
	case "p_any_ip_addresses":
		return strings.Join(ev.IPs, ", ")
	case "p_any_emails":
		return strings.Join(ev.Emails, ", ")
	case "p_log_type":
		return ev.LogType
	case "p_source_label":
		return ev.SourceLabel
	case "p_source_id":
		return ev.SourceID
	case "p_event_time":
		return ev.EventTime.UTC().Format("2006-01-02T15:04:05.000Z")
	case "p_row_id":
		return ev.RowID
	}
	var v any
	if json.Unmarshal(ev.Raw, &v) != nil {
		return ""
	}
	for _, part := range strings.Split(name, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return ""
		}
		if v, ok = m[part]; !ok {
			return ""
		}
	}
	return valueText(v)
}

func valueText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if s := valueText(e); s != "" {
				parts = append(parts, s)
			}
		}
		return strings.Join(parts, ", ")
	}
	b, _ := json.Marshal(v)
	return string(b)
}
