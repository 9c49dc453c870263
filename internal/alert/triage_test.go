package alert_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/alert"
	"github.com/opwatch/opwatch/internal/store"
)

func TestTriageLifecycle(t *testing.T) {
	h := newDL(t)
	a := h.raise("triage")
	tr := alert.NewTriage(alert.TriageConfig{Store: h.st})
	ctx := h.ctx

	got, err := tr.Triage(ctx, a.ID, "alice", "looking")
	if err != nil || got.Status != store.AlertTriaged {
		t.Fatalf("Triage = %s, %v", got.Status, err)
	}
	if got, err = tr.Assign(ctx, a.ID, "alice", "bob"); err != nil || got.Assignee != "bob" || got.Status != store.AlertTriaged {
		t.Fatalf("Assign = %+v, %v", got, err)
	}
	if _, err = tr.Comment(ctx, a.ID, "bob", "benign: a known admin"); err != nil {
		t.Fatal(err)
	}
	if _, err = tr.Comment(ctx, a.ID, "bob", ""); err == nil {
		t.Fatal("an empty comment was taken")
	}
	if got, err = tr.Resolve(ctx, a.ID, "bob", ""); err != nil || got.Status != store.AlertResolved {
		t.Fatalf("Resolve = %s, %v", got.Status, err)
	}
	if _, err = tr.Triage(ctx, a.ID, "carol", ""); !errors.Is(err, store.ErrBadTransition) {
		t.Fatalf("Triage of a resolved alert: %v, want ErrBadTransition", err)
	}
	if got, err = tr.Reopen(ctx, a.ID, "carol", "it happened again"); err != nil || got.Status != store.AlertOpen {
		t.Fatalf("Reopen = %s, %v", got.Status, err)
	}
	if _, err = tr.Resolve(ctx, "no-such-alert", "carol", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Resolve of a missing alert: %v, want ErrNotFound", err)
	}
	if _, err = tr.Triage(ctx, a.ID, "", ""); err == nil {
		t.Fatal("a change without an actor was taken")
	}

	hist, err := h.st.AlertHistory(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, e := range hist {
		lines = append(lines, e.Actor+" "+e.Action+" "+e.FromStatus+">"+e.ToStatus+" "+e.Assignee+" "+e.Comment)
	}
	want := []string{
		"opwatch create >open  ",
		"alice triage open>triaged  looking",
		"alice assign triaged>triaged bob ",
		"bob comment triaged>triaged  benign: a known admin",
		"bob resolve triaged>resolved  ",
		"carol reopen resolved>open  it happened again",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("history:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// Resolve writes resolve notifications only for incident tools that were
// sent (or are to be sent) the trigger, and not for a failed trigger.
func TestResolveNotifications(t *testing.T) {
	h := newDL(t)
	rcv := newReceiver(t)
	key := alert.Secret{RoutingKey: strings.Repeat("b2", 16)}
	set := alert.Settings{URL: rcv.srv.URL + "/v2/enqueue"}
	pd := h.dest("pd", store.DestPagerDuty, key, set, nil)
	og := h.dest("og", store.DestOpsgenie, alert.Secret{APIKey: "genie-key"}, alert.Settings{URL: rcv.srv.URL + "/v2/alerts"}, nil)
	h.webhook("hook", rcv, nil)
	a := h.raise("resolve", "pd", "og", "hook")
	h.dest("late", store.DestPagerDuty, key, set, nil) // added after the alert: it had no trigger

	// The trigger to og failed for good: no resolve for it.
	claimed, err := h.st.ClaimNotifications(h.ctx, "x", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range claimed {
		o := store.NotificationOutcome{ID: n.ID, LeaseOwner: "x", Sent: n.DestinationID != og.ID, Failed: n.DestinationID == og.ID, Err: "refused"}
		if err := h.st.FinishNotification(h.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	tr := alert.NewTriage(alert.TriageConfig{Store: h.st})
	if _, err := tr.Resolve(h.ctx, a.ID, "alice", ""); err != nil {
		t.Fatal(err)
	}
	var to []string
	for _, n := range h.notifications(store.NotificationFilter{AlertID: a.ID}) {
		if n.Kind == store.NotifyResolve {
			to = append(to, n.DestinationID)
		}
	}
	if len(to) != 1 || to[0] != pd.ID {
		t.Fatalf("resolve notifications to %v, want only %s (pd)", to, pd.ID)
	}
}
