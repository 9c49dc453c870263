package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

// minIDPrefix is the shortest alert id prefix the verbs take: 8 hex
// digits are 4 billion ids, so a prefix that short is unambiguous in any
// real database, and one that matches two alerts is refused.
const minIDPrefix = 8

// resolveAlertID returns the id of the one alert whose id starts with arg
// (the whole id works too).
func (a *app) resolveAlertID(ctx context.Context, arg string) (string, error) {
	p := strings.ToLower(strings.TrimSpace(arg))
	if len(p) < minIDPrefix {
		return "", usagef("alert id %s: give at least %d characters of it (`opwatch alerts list` shows them)", quoted(arg), minIDPrefix)
	}
	// Ids are UUIDs: hex digits and dashes. Anything else matches none,
	// and the check keeps the prefix safe to write into the query below.
	if strings.IndexFunc(p, func(r rune) bool { return !('0' <= r && r <= '9' || 'a' <= r && r <= 'f' || r == '-') }) >= 0 {
		return "", fmt.Errorf("no alert %s: alert ids are hex digits and dashes (`opwatch alerts list` shows them)", quoted(arg))
	}
	var ids []string
	err := a.store.Query(ctx, "SELECT id FROM alerts WHERE id LIKE '"+p+"%' ORDER BY id LIMIT 3", func(_ []string, v []any) error {
		if v != nil {
			if s, ok := v[0].(string); ok {
				ids = append(ids, s)
			}
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look up alert %s: %w", quoted(arg), err)
	}
	switch len(ids) {
	case 0:
		return "", fmt.Errorf("no alert %s: `opwatch alerts list` shows their IDs", quoted(arg))
	case 1:
		return ids[0], nil
	}
	return "", usagef("alert id %s is ambiguous: it starts %s and more; give more of it", quoted(arg), strings.Join(ids[:2], ", "))
}

// actor is who the triage verbs record: --as, else the login name.
func (e *env) actor(as string) (string, error) {
	if as == "" {
		as = e.getenv("USER")
	}
	if as == "" {
		as = e.getenv("LOGNAME")
	}
	as = strings.TrimSpace(as)
	if as == "" {
		return "", usagef("say who acts with --as NAME ($USER is not set)")
	}
	if safetext.Terminal(as) != as || len(as) > 100 {
		return "", usagef("--as %q: at most 100 characters, no control characters", as)
	}
	return as, nil
}

// alertsChange runs one triage verb: triage, resolve, reopen, assign or
// comment.
func alertsChange(ctx context.Context, e *env, verb string, args []string) error {
	synopsis := map[string]string{
		store.ActionTriage:  "alerts triage ID [TEXT | --comment TEXT] [--as NAME]",
		store.ActionResolve: "alerts resolve ID [TEXT | --comment TEXT] [--as NAME]",
		store.ActionReopen:  "alerts reopen ID [TEXT | --comment TEXT] [--as NAME]",
		store.ActionAssign:  "alerts assign ID (NAME | --unassign) [--as NAME]",
		store.ActionComment: "alerts comment ID (TEXT | --comment TEXT) [--as NAME]",
	}[verb]
	about := map[string]string{
		store.ActionTriage: "Mark an open alert triaged: someone is on it.",
		store.ActionResolve: "Resolve an open or triaged alert. Its dedup key starts fresh: the rule's next match\n" +
			"opens a new alert. Destinations that keep incidents (PagerDuty, Opsgenie) that were\n" +
			"sent this alert are sent a resolve by the running serve.",
		store.ActionReopen:  "Open a triaged or resolved alert again.",
		store.ActionAssign:  "Give an alert to someone (any name your team uses), or to no one with --unassign.",
		store.ActionComment: "Add a comment to an alert's history.",
	}[verb]
	fs := e.flags("alerts "+verb, synopsis, about+"\nID may be the first 8 or more characters of the alert's id; the change is kept in\n"+
		"the alert's history with who made it (`opwatch alerts show ID`).")
	as := fs.String("as", "", "who acts (a `name`), as the history records it (default: $USER)")
	comment := fs.String("comment", "", "a `text` kept in the alert's history with the change")
	var unassign *bool
	if verb == store.ActionAssign {
		unassign = fs.Bool("unassign", false, "leave the alert to no one")
	}
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		fs.Usage()
		return usagef("missing alert ID")
	}
	id, rest := pos[0], strings.TrimSpace(strings.Join(pos[1:], " "))
	var assignee string
	switch verb {
	case store.ActionAssign:
		if *comment != "" {
			return usagef("assign takes no --comment: comment with `opwatch alerts comment ID TEXT`")
		}
		switch {
		case *unassign && rest != "":
			return usagef("give a name or --unassign, not both")
		case !*unassign && rest == "":
			fs.Usage()
			return usagef("give the name to assign the alert to, or --unassign")
		case len(pos) > 2:
			return usagef("unexpected argument %q: quote a name that holds spaces", pos[2])
		}
		assignee = rest
		if safetext.Terminal(assignee) != assignee || len(assignee) > 100 {
			return usagef("assignee %q: at most 100 characters, no control characters", assignee)
		}
	default:
		if rest != "" && *comment != "" {
			return usagef("give the comment once: as the text after ID or with --comment")
		}
		if rest != "" {
			*comment = rest
		}
		if verb == store.ActionComment && strings.TrimSpace(*comment) == "" {
			fs.Usage()
			return usagef("give the comment's text")
		}
	}
	actor, err := e.actor(*as)
	if err != nil {
		return err
	}
	a, err := e.openWrite(ctx, engine.Existing, keyOptional)
	if err != nil {
		return err
	}
	defer a.Close()
	if id, err = a.resolveAlertID(ctx, id); err != nil {
		return err
	}
	before, err := a.store.Alert(ctx, id)
	if err != nil {
		return fmt.Errorf("read alert: %w", err)
	}
	tr := alert.NewTriage(alert.TriageConfig{Store: a.store})
	var after store.Alert
	switch verb {
	case store.ActionTriage:
		after, err = tr.Triage(ctx, id, actor, *comment)
	case store.ActionResolve:
		after, err = tr.Resolve(ctx, id, actor, *comment)
	case store.ActionReopen:
		after, err = tr.Reopen(ctx, id, actor, *comment)
	case store.ActionAssign:
		after, err = tr.Assign(ctx, id, actor, assignee)
	case store.ActionComment:
		after, err = tr.Comment(ctx, id, actor, *comment)
	}
	if errors.Is(err, store.ErrBadTransition) {
		// Read again: another analyst may have moved it meanwhile.
		if cur, rerr := a.store.Alert(ctx, id); rerr == nil {
			before = cur
		}
		return fmt.Errorf("alert %s is %s: %s", shortID(id), before.Status, transitionHint(verb, before.Status))
	}
	if err != nil {
		return err
	}
	w := e.stdout
	who := safetext.Terminal(actor)
	switch verb {
	case store.ActionAssign:
		if assignee == "" {
			fmt.Fprintf(w, "Alert %s unassigned by %s.\n", shortID(id), who)
		} else {
			fmt.Fprintf(w, "Alert %s assigned to %s by %s.\n", shortID(id), safetext.Terminal(assignee), who)
		}
	case store.ActionComment:
		fmt.Fprintf(w, "Comment added to alert %s by %s.\n", shortID(id), who)
	default:
		fmt.Fprintf(w, "Alert %s: %s → %s, by %s.\n", shortID(id), before.Status, after.Status, who)
	}
	if verb == store.ActionResolve {
		fmt.Fprintln(w, "Its dedup key starts fresh: the rule's next match opens a new alert.")
	}
	return nil
}

// transitionHint says what the user can do when an alert's status does
// not allow a verb.
func transitionHint(verb, status string) string {
	switch {
	case verb == store.ActionTriage && status == store.AlertTriaged:
		return "it is triaged already"
	case verb == store.ActionTriage && status == store.AlertResolved:
		return "reopen it first (`opwatch alerts reopen ID`)"
	case verb == store.ActionResolve:
		return "it is resolved already"
	case verb == store.ActionReopen:
		return "it is open already"
	}
	return "the change does not apply"
}

// historyJSON is one history entry as scripts read it.
type historyJSON struct {
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	From     string    `json:"from_status,omitempty"`
	To       string    `json:"to_status,omitempty"`
	Assignee string    `json:"assignee,omitempty"`
	Comment  string    `json:"comment,omitempty"`
}

func historyOf(h []store.AlertHistory) []historyJSON {
	out := []historyJSON{}
	for _, x := range h {
		out = append(out, historyJSON{At: x.At.UTC(), Actor: x.Actor, Action: x.Action, From: x.FromStatus, To: x.ToStatus,
			Assignee: x.Assignee, Comment: x.Comment})
	}
	return out
}

func writeHistory(w io.Writer, h []store.AlertHistory) {
	if len(h) == 0 {
		return
	}
	t := safetext.Terminal
	fmt.Fprintf(w, "\nHistory:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	for _, x := range h {
		what := x.Action
		switch x.Action {
		case store.ActionCreate:
			what = "created (" + x.ToStatus + ")"
		case store.ActionAssign:
			if x.Assignee == "" {
				what = "unassigned"
			} else {
				what = "assigned to " + t(x.Assignee)
			}
		case store.ActionComment:
			what = "commented"
		default:
			if x.FromStatus != "" && x.ToStatus != "" {
				what = fmt.Sprintf("%s (%s → %s)", x.Action, x.FromStatus, x.ToStatus)
			}
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", alertStamp(x.At), t(x.Actor), what)
		if x.Comment != "" {
			for _, line := range strings.Split(x.Comment, "\n") {
				fmt.Fprintf(tw, "\t\t  %s\n", t(line))
			}
		}
	}
}

// delivery is one notification of an alert, with its destination's name.
type delivery struct {
	n    store.Notification
	dest string // "" when the destination was removed
}

type deliveries []delivery

// deliveries reads an alert's notifications, oldest first.
func (a *app) deliveries(ctx context.Context, alertID string) (deliveries, error) {
	ns, err := a.store.ListNotifications(ctx, store.NotificationFilter{AlertID: alertID, Limit: 1000})
	if err != nil {
		return nil, fmt.Errorf("read the alert's notifications: %w", err)
	}
	ds, err := a.store.Destinations(ctx)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, d := range ds {
		names[d.ID] = d.Name
	}
	out := make(deliveries, 0, len(ns))
	for _, n := range ns {
		out = append(out, delivery{n: n, dest: names[n.DestinationID]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].n.CreatedAt.Before(out[j].n.CreatedAt) })
	return out, nil
}

// notificationJSON is one delivery as scripts read it.
type notificationJSON struct {
	ID            string     `json:"id"`
	Destination   string     `json:"destination"`
	DestinationID string     `json:"destination_id"`
	Kind          string     `json:"kind"`
	Status        string     `json:"status"`
	Attempts      int        `json:"attempts"`
	CreatedAt     time.Time  `json:"created_at"`
	SentAt        *time.Time `json:"sent_at,omitempty"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
}

func (ds deliveries) json() []notificationJSON {
	out := []notificationJSON{}
	opt := func(t time.Time) *time.Time {
		if t.IsZero() {
			return nil
		}
		u := t.UTC()
		return &u
	}
	for _, d := range ds {
		n := d.n
		j := notificationJSON{ID: n.ID, Destination: d.dest, DestinationID: n.DestinationID, Kind: n.Kind, Status: n.Status,
			Attempts: n.Attempts, CreatedAt: n.CreatedAt.UTC(), SentAt: opt(n.SentAt), LastError: n.LastError}
		if n.Status == store.NotificationPending {
			j.NextAttemptAt = opt(n.NextAttemptAt)
		}
		out = append(out, j)
	}
	return out
}

func (ds deliveries) write(w io.Writer, al store.Alert) {
	if len(ds) == 0 {
		if al.Destinations == nil || len(al.Destinations) > 0 {
			fmt.Fprintf(w, "\nDeliveries: none (no destination took it: `opwatch destinations list`)\n")
		}
		return
	}
	fmt.Fprintf(w, "\nDeliveries:\n")
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, d := range ds {
		name := d.dest
		if name == "" {
			name = "(removed destination)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d attempt(s)\t%s\n", safetext.Terminal(name), d.n.Kind, d.n.Status, d.n.Attempts,
			safetext.Terminal(notificationDetail(d.n)))
	}
	tw.Flush()
}
