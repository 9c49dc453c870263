package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

const alertsUsage = `Usage: opwatch alerts SUBCOMMAND [flags]

Subcommands:
  list     [--status open|triaged|resolved|unresolved] [--severity S] [--rule ID]
           [--type rule|rule_error|system_error] [--limit N] [--format table|json|csv]:
           alerts, newest first
  show     ID [--events N] [--format text|json]: an alert's title, severity, status,
           assignee, context, runbook, matched events, history and deliveries
  triage   ID [TEXT | --comment TEXT]: someone is on it (open → triaged)
  resolve  ID [TEXT | --comment TEXT]: done (open or triaged → resolved); its dedup
           key starts fresh, and PagerDuty and Opsgenie close their incident
  reopen   ID [TEXT | --comment TEXT]: (triaged or resolved → open)
  assign   ID NAME | ID --unassign: give the alert to someone, or to no one
  comment  ID TEXT | ID --comment TEXT: add a comment to the alert's history

ID may be the first 8 or more characters of the alert's id. The triage verbs record
who acted: --as NAME (default: $USER). Flags may come before or after ID.
`

func runAlerts(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, alertsUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "list", "ls", "show", store.ActionTriage, store.ActionResolve, store.ActionReopen, store.ActionAssign, store.ActionComment)
	switch sub {
	case "list", "ls":
		return alertsList(ctx, e, args)
	case "show":
		return alertsShow(ctx, e, args)
	case store.ActionTriage, store.ActionResolve, store.ActionReopen, store.ActionAssign, store.ActionComment:
		return alertsChange(ctx, e, sub, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, alertsUsage)
		return nil
	}
	fmt.Fprint(e.stderr, alertsUsage)
	return usagef("unknown subcommand %q", sub)
}

// alertJSON is an alert as scripts and the console read it.
type alertJSON struct {
	ID           string          `json:"id"`
	RuleID       string          `json:"rule_id"`
	Title        string          `json:"title"`
	Severity     string          `json:"severity"`
	Status       string          `json:"status"`
	Type         string          `json:"type"`
	Dedup        string          `json:"dedup"`
	Events       int             `json:"events"`
	CreatedAt    time.Time       `json:"created_at"`
	UpdatedAt    time.Time       `json:"updated_at"`
	FirstEventAt time.Time       `json:"first_event_at"`
	LastEventAt  time.Time       `json:"last_event_at"`
	PeriodEnd    time.Time       `json:"period_end"`
	Context      json.RawMessage `json:"context,omitempty"`
	Description  string          `json:"description,omitempty"`
	Reference    string          `json:"reference,omitempty"`
	Runbook      string          `json:"runbook,omitempty"`
	Destinations *[]string       `json:"destinations,omitempty"` // [] (send nowhere) differs from absent (route by severity)
	Assignee     string          `json:"assignee,omitempty"`
}

func toAlertJSON(a store.Alert) alertJSON {
	ctx := a.Context
	if len(ctx) > 0 && !json.Valid(ctx) {
		ctx = nil
	}
	return alertJSON{ID: a.ID, RuleID: a.RuleID, Title: a.Title, Severity: a.Severity, Status: a.Status, Type: a.Type,
		Dedup: a.Dedup, Events: a.Events, CreatedAt: a.CreatedAt.UTC(), UpdatedAt: a.UpdatedAt.UTC(),
		FirstEventAt: a.FirstEventAt.UTC(), LastEventAt: a.LastEventAt.UTC(), PeriodEnd: a.PeriodEnd.UTC(),
		Context: ctx, Description: a.Description, Reference: a.Reference, Runbook: a.Runbook, Destinations: destinationsJSON(a.Destinations),
		Assignee: a.Assignee}
}

var (
	alertStatuses = []string{store.AlertOpen, store.AlertTriaged, store.AlertResolved}
	alertTypes    = []string{store.AlertRule, store.AlertRuleError, store.AlertSystemError}
)

func alertOneOf(flag, v string, allowed []string) error {
	if v == "" {
		return nil
	}
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return usagef("unknown %s %q: want %s", flag, v, strings.Join(allowed, ", "))
}

func alertsList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("alerts list", "alerts list [--status S] [--severity S] [--rule ID] [--type T] [--limit N] [--format table|json|csv]",
		"List alerts, newest first. JSON is one object per line.")
	status := fs.String("status", "", "only alerts with this `status`: open, triaged, resolved, or unresolved (open or triaged)")
	severity := fs.String("severity", "", "only alerts of this `severity`: INFO, LOW, MEDIUM, HIGH or CRITICAL")
	rule := fs.String("rule", "", "only alerts of this rule `ID`")
	typ := fs.String("type", "", "only alerts of this `type`: rule, rule_error or system_error")
	limit := fs.Int("limit", 100, "at most `N` alerts")
	format := fs.String("format", "table", "output `format`: table, json (one object per line) or csv")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if err := alertOneOf("--status", *status, append(alertStatuses, "unresolved")); err != nil {
		return err
	}
	*severity = strings.ToUpper(*severity)
	if err := alertOneOf("--severity", *severity, config.SeverityNames); err != nil {
		return err
	}
	if err := alertOneOf("--type", *typ, alertTypes); err != nil {
		return err
	}
	if err := alertOneOf("--format", *format, []string{"table", "json", "csv"}); err != nil {
		return err
	}
	if *limit < 1 {
		return usagef("--limit %d: want at least 1", *limit)
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	f := store.AlertFilter{Status: *status, Severity: *severity, RuleID: *rule, Type: *typ, Limit: *limit}
	if f.Status == "unresolved" {
		f.Status, f.Unresolved = "", true
	}
	alerts, err := a.store.ListAlerts(ctx, f)
	if err != nil {
		return fmt.Errorf("list alerts: %w", err)
	}
	return writeAlerts(e.stdout, *format, alerts)
}

func writeAlerts(w io.Writer, format string, alerts []store.Alert) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		for _, a := range alerts {
			if err := enc.Encode(toAlertJSON(a)); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "created_at", "severity", "status", "type", "rule_id", "events", "dedup", "title", "assignee"})
		for _, a := range alerts {
			cw.Write([]string{a.ID, a.CreatedAt.UTC().Format(time.RFC3339), a.Severity, a.Status, a.Type,
				safetext.CSVCell(a.RuleID), strconv.Itoa(a.Events), safetext.CSVCell(a.Dedup), safetext.CSVCell(a.Title),
				safetext.CSVCell(a.Assignee)})
		}
		cw.Flush()
		return cw.Error()
	}
	if len(alerts) == 0 {
		_, err := fmt.Fprintln(w, "No alerts.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CREATED\tID\tSEVERITY\tSTATUS\tASSIGNEE\tTYPE\tRULE\tEVENTS\tTITLE")
	for _, a := range alerts {
		assignee := a.Assignee
		if assignee == "" {
			assignee = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", a.CreatedAt.UTC().Format("2006-01-02 15:04:05"),
			safetext.Terminal(a.ID), safetext.Terminal(a.Severity), safetext.Terminal(a.Status), safetext.Terminal(alertShorten(assignee, 24)),
			safetext.Terminal(a.Type), safetext.Terminal(a.RuleID), a.Events, safetext.Terminal(alertShorten(a.Title, 120)))
	}
	return tw.Flush()
}

func alertsShow(ctx context.Context, e *env, args []string) error {
	fs := e.flags("alerts show", "alerts show ID [--events N] [--format text|json]",
		"Show an alert: title, severity, status, assignee, type, rule, dedup, context, runbook,\n"+
			"its matched events, its history (who triaged, resolved, assigned or commented, and\n"+
			"when) and its delivery to each destination. ID may be its first 8 or more characters.")
	events := fs.Int("events", 20, "show at most `N` matched events")
	format := fs.String("format", "text", "output `format`: text or json")
	pos, err := parseWant(fs, args, 1, 1, "alert ID")
	if err != nil {
		return err
	}
	if err := alertOneOf("--format", *format, []string{"text", "json"}); err != nil {
		return err
	}
	if *events < 0 {
		return usagef("--events %d: want 0 or more", *events)
	}
	a, err := e.openRead(ctx)
	if err != nil {
		return err
	}
	defer a.Close()
	id, err := a.resolveAlertID(ctx, pos[0])
	if err != nil {
		return err
	}
	al, err := a.store.Alert(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no alert %s: `opwatch alerts list` shows their IDs", quoted(pos[0]))
	}
	if err != nil {
		return fmt.Errorf("read alert: %w", err)
	}
	hist, err := a.store.AlertHistory(ctx, al.ID)
	if err != nil {
		return fmt.Errorf("read the alert's history: %w", err)
	}
	deliveries, err := a.deliveries(ctx, al.ID)
	if err != nil {
		return err
	}
	var evs []store.StoredEvent
	if *events > 0 {
		if evs, err = a.store.AlertEvents(ctx, al.ID, *events); err != nil {
			return fmt.Errorf("read the alert's events: %w", err)
		}
	}
	if *format == "json" {
		type eventJSON struct {
			Seq       int64           `json:"seq"`
			LogType   string          `json:"p_log_type"`
			EventTime time.Time       `json:"p_event_time"`
			Source    string          `json:"p_source_label"`
			Event     json.RawMessage `json:"event"`
		}
		out := struct {
			alertJSON
			Matches       []eventJSON        `json:"matches"`
			History       []historyJSON      `json:"history"`
			Notifications []notificationJSON `json:"notifications"`
		}{alertJSON: toAlertJSON(al), Matches: []eventJSON{}, History: historyOf(hist), Notifications: deliveries.json()}
		for _, ev := range evs {
			raw := json.RawMessage(ev.Raw)
			if !json.Valid(raw) {
				raw, _ = json.Marshal(string(ev.Raw))
			}
			out.Matches = append(out.Matches, eventJSON{Seq: ev.Seq, LogType: ev.LogType, EventTime: ev.EventTime.UTC(), Source: ev.SourceLabel, Event: raw})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	w := e.stdout
	t := safetext.Terminal
	fmt.Fprintf(w, "%s\n\n", t(al.Title))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("ID", t(al.ID))
	row("Severity", t(al.Severity))
	row("Status", t(al.Status))
	if al.Assignee != "" {
		row("Assignee", t(al.Assignee))
	} else {
		row("Assignee", "none")
	}
	row("Type", t(al.Type))
	if al.RuleID != "" {
		row("Rule", t(al.RuleID))
	}
	row("Dedup", t(al.Dedup))
	row("Events", strconv.Itoa(al.Events))
	row("First event", alertStamp(al.FirstEventAt))
	row("Last event", alertStamp(al.LastEventAt))
	row("Dedup period ends", alertStamp(al.PeriodEnd))
	row("Created", alertStamp(al.CreatedAt))
	row("Updated", alertStamp(al.UpdatedAt))
	switch {
	case al.Destinations != nil && len(al.Destinations) == 0:
		row("Destinations", "none: the rule sends this alert nowhere (recorded, never delivered)")
	case al.Destinations != nil:
		row("Destinations", t(strings.Join(al.Destinations, ", ")))
	}
	tw.Flush()
	for _, sec := range []struct{ name, text string }{
		{"Description", al.Description}, {"Reference", al.Reference}, {"Runbook", al.Runbook},
	} {
		if sec.text != "" {
			fmt.Fprintf(w, "\n%s:\n  %s\n", sec.name, t(sec.text))
		}
	}
	if len(al.Context) > 0 {
		fmt.Fprintf(w, "\nContext:\n%s\n", alertIndentJSON(al.Context))
	}
	if al.Events > 0 || len(evs) > 0 {
		fmt.Fprintf(w, "\nMatched events (%d of %d):\n", len(evs), al.Events)
		for _, ev := range evs {
			fmt.Fprintf(w, "  #%d  %s  %s  %s\n    %s\n", ev.Seq, alertStamp(ev.EventTime), t(ev.LogType), t(ev.SourceLabel), t(string(ev.Raw)))
		}
	}
	writeHistory(w, hist)
	deliveries.write(w, al)
	return nil
}

// alertIndentJSON pretty-prints a JSON object for a terminal, each line escaped.
func alertIndentJSON(raw json.RawMessage) string {
	var v any
	b := []byte(raw)
	if json.Unmarshal(raw, &v) == nil {
		if pretty, err := json.MarshalIndent(v, "  ", "  "); err == nil {
			b = pretty
		}
	}
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		lines[i] = safetext.Terminal(l)
	}
	return "  " + strings.Join(lines, "\n")
}

func alertStamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// alertShorten cuts s to n runes for a table cell.
func alertShorten(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

func destinationsJSON(d []string) *[]string {
	if d == nil {
		return nil
	}
	return &d
}
