package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

func history(t *testing.T, s store.Store, id string) []store.AlertHistory {
	t.Helper()
	hs, err := s.AlertHistory(context.Background(), id)
	if err != nil {
		t.Fatalf("AlertHistory(%s): %v", id, err)
	}
	return hs
}

func change(t *testing.T, s store.Store, c store.AlertChange) store.Alert {
	t.Helper()
	a, err := s.ChangeAlert(context.Background(), c)
	if err != nil {
		t.Fatalf("ChangeAlert(%s %s): %v", c.Action, c.AlertID, err)
	}
	return a
}

// Every allowed move, with who, when, the assignee and comments kept as
// history, oldest first.
func testTriageTransitions(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	created := c.Now()
	raise(t, s, []store.Alert{ruleAlert("A", "R", "x", created.Add(-time.Hour))})
	want := []store.AlertHistory{{AlertID: "A", At: created, Actor: "opwatch", Action: store.ActionCreate, ToStatus: store.AlertOpen}}
	steps := []struct {
		change   store.AlertChange
		status   string
		assignee string
	}{
		{store.AlertChange{Action: store.ActionTriage, Actor: "jane", Comment: "looking"}, store.AlertTriaged, ""},
		{store.AlertChange{Action: store.ActionAssign, Actor: "jane", Assignee: "bob"}, store.AlertTriaged, "bob"},
		{store.AlertChange{Action: store.ActionComment, Actor: "bob", Comment: "a test sign-in"}, store.AlertTriaged, "bob"},
		{store.AlertChange{Action: store.ActionResolve, Actor: "bob"}, store.AlertResolved, "bob"},
		{store.AlertChange{Action: store.ActionComment, Actor: "jane", Comment: "after the fact"}, store.AlertResolved, "bob"},
		{store.AlertChange{Action: store.ActionReopen, Actor: "jane", Comment: "it was not"}, store.AlertOpen, "bob"},
		{store.AlertChange{Action: store.ActionResolve, Actor: "jane"}, store.AlertResolved, "bob"},
		{store.AlertChange{Action: store.ActionReopen, Actor: "jane"}, store.AlertOpen, "bob"},
		{store.AlertChange{Action: store.ActionTriage, Actor: "jane"}, store.AlertTriaged, "bob"},
		{store.AlertChange{Action: store.ActionReopen, Actor: "jane"}, store.AlertOpen, "bob"},
		{store.AlertChange{Action: store.ActionAssign, Actor: "jane"}, store.AlertOpen, ""},
	}
	from := store.AlertOpen
	for i, st := range steps {
		// Some steps share a time: the history keeps their order anyway.
		if i%2 == 0 {
			c.Advance(time.Second)
		}
		ch := st.change
		ch.AlertID = "A"
		a := change(t, s, ch)
		if a.Status != st.status || a.Assignee != st.assignee || !a.UpdatedAt.Equal(c.Now()) || !a.CreatedAt.Equal(created) {
			t.Errorf("step %d (%s): alert is %s, assigned to %q, updated %v; want %s, %q, %v", i, ch.Action, a.Status, a.Assignee,
				a.UpdatedAt, st.status, st.assignee, c.Now())
		}
		if got := getAlert(t, s, "A"); got.Status != st.status || got.Assignee != st.assignee {
			t.Errorf("step %d (%s): stored alert is %s, assigned to %q", i, ch.Action, got.Status, got.Assignee)
		}
		h := store.AlertHistory{AlertID: "A", At: c.Now(), Actor: ch.Actor, Action: ch.Action, FromStatus: from, ToStatus: st.status,
			Comment: ch.Comment}
		if ch.Action == store.ActionAssign {
			h.Assignee = ch.Assignee
		}
		want = append(want, h)
		from = st.status
	}
	if diff := cmp.Diff(want, history(t, s, "A")); diff != "" {
		t.Errorf("history (-want +got):\n%s", diff)
	}
}

// A move the status does not allow is ErrBadTransition and changes nothing.
func testTriageBadTransitions(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	raise(t, s, []store.Alert{ruleAlert("open", "R", "a", c.Now()), ruleAlert("triaged", "R", "b", c.Now()),
		ruleAlert("resolved", "R", "c", c.Now())})
	change(t, s, store.AlertChange{AlertID: "triaged", Action: store.ActionTriage})
	change(t, s, store.AlertChange{AlertID: "resolved", Action: store.ActionResolve})
	for _, tc := range []struct {
		id, action string
		is         error
	}{
		{"open", store.ActionReopen, store.ErrBadTransition},
		{"triaged", store.ActionTriage, store.ErrBadTransition},
		{"resolved", store.ActionTriage, store.ErrBadTransition},
		{"resolved", store.ActionResolve, store.ErrBadTransition},
		{"open", store.ActionCreate, nil},
		{"open", "escalate", nil},
		{"open", store.ActionComment, nil}, // without a comment
		{"nope", store.ActionResolve, store.ErrNotFound},
	} {
		before := getAlertOrZero(s, tc.id)
		hs, _ := s.AlertHistory(ctx, tc.id)
		_, err := s.ChangeAlert(ctx, store.AlertChange{AlertID: tc.id, Actor: "jane", Action: tc.action})
		if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || (tc.is == nil && errors.Is(err, store.ErrBadTransition)) {
			t.Errorf("%s an alert that is %s: err = %v, want %v", tc.action, tc.id, err, tc.is)
		}
		if diff := cmp.Diff(before, getAlertOrZero(s, tc.id)); diff != "" {
			t.Errorf("a refused %s changed alert %s (-before +after):\n%s", tc.action, tc.id, diff)
		}
		if after, _ := s.AlertHistory(ctx, tc.id); len(after) != len(hs) {
			t.Errorf("a refused %s of %s added history: %+v", tc.action, tc.id, after)
		}
	}
	if _, err := s.AlertHistory(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("AlertHistory of no alert: err = %v, want ErrNotFound", err)
	}
}

func getAlertOrZero(s store.Store, id string) store.Alert {
	a, _ := s.Alert(context.Background(), id)
	return a
}

// A change writes its notifications in its own transaction: all or nothing.
func testTriageNotifications(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "pager")
	raise(t, s, []store.Alert{ruleAlert("A", "R", "x", c.Now())}, notif("trigger", "A", d.ID))
	resolve := notif("resolve", "A", d.ID)
	resolve.Kind = store.NotifyResolve
	// One bad notification undoes the whole change.
	_, err := s.ChangeAlert(ctx, store.AlertChange{AlertID: "A", Actor: "jane", Action: store.ActionResolve,
		Notifications: []store.Notification{resolve, notif("trigger", "A", d.ID)}})
	if !errors.Is(err, store.ErrExists) {
		t.Errorf("a change with a notification id used before: err = %v, want ErrExists", err)
	}
	if a := getAlert(t, s, "A"); a.Status != store.AlertOpen {
		t.Errorf("the refused resolve left the alert %s", a.Status)
	}
	if hs := history(t, s, "A"); len(hs) != 1 {
		t.Errorf("the refused resolve left history: %+v", hs)
	}
	if ids := notifIDs(t, s, store.NotificationFilter{AlertID: "A"}); !slices.Equal(ids, []string{"trigger"}) {
		t.Errorf("the refused resolve left notifications %v", ids)
	}
	change(t, s, store.AlertChange{AlertID: "A", Actor: "jane", Action: store.ActionResolve, Notifications: []store.Notification{resolve}})
	n := notification(t, s, "A", "resolve")
	if n.Kind != store.NotifyResolve || n.Status != store.NotificationPending || n.DestinationID != d.ID {
		t.Errorf("resolve notification = %+v", n)
	}
}

// Resolving ends the alert's dedup group, so its next match opens a new
// alert, and moves the alert epoch, so a stage holding the group in memory
// cannot commit; other changes move neither.
func testResolveEndsDedupGroup(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	end := c.Now().Add(time.Hour)
	ga := store.DedupGroup{RuleID: "R", Dedup: "a", PeriodEnd: end, AlertID: "A", Matches: 3}
	gb := store.DedupGroup{RuleID: "R", Dedup: "b", PeriodEnd: end, AlertID: "B", Matches: 1}
	below := store.DedupGroup{RuleID: "R", Dedup: "c", PeriodEnd: end, Matches: 1, Pending: []int64{7}}
	mustDetect(t, s, store.DetectCommit{From: 0, To: 1, Alerts: []store.Alert{ruleAlert("A", "R", "a", c.Now()),
		ruleAlert("B", "R", "b", c.Now()), sysAlert("S", "")}, Groups: []store.DedupGroup{ga, gb, below}})
	e0 := epoch(t, s)
	groups := func() []string {
		t.Helper()
		gs, err := s.DedupGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.Dedup)
		}
		return out
	}

	for _, ch := range []store.AlertChange{
		{AlertID: "A", Action: store.ActionTriage}, {AlertID: "A", Action: store.ActionAssign, Assignee: "bob"},
		{AlertID: "A", Action: store.ActionComment, Comment: "hm"}, {AlertID: "S", Action: store.ActionResolve},
	} {
		change(t, s, ch)
		if e := epoch(t, s); e != e0 {
			t.Errorf("%s of %s moved the epoch from %d to %d", ch.Action, ch.AlertID, e0, e)
		}
	}
	if got := groups(); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("groups after changes other than a resolve = %v", got)
	}

	change(t, s, store.AlertChange{AlertID: "A", Actor: "jane", Action: store.ActionResolve})
	e1 := epoch(t, s)
	if e1 == e0 {
		t.Error("resolving an alert with a dedup group did not move the epoch")
	}
	if got := groups(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("groups after resolving A = %v, want b and c", got)
	}
	// The stage that loaded its groups before cannot commit; reloaded, it can.
	err := s.CommitDetect(ctx, store.DetectCommit{Stage: stage, From: 1, To: 2, Epoch: e0,
		Matches: []store.AlertMatch{{AlertID: "A", Seq: 2, EventTime: c.Now()}}, Groups: []store.DedupGroup{ga}})
	if !errors.Is(err, store.ErrPositionMoved) {
		t.Errorf("a commit at the epoch before the resolve: err = %v, want ErrPositionMoved", err)
	}
	if got := groups(); !slices.Equal(got, []string{"b", "c"}) {
		t.Errorf("the refused commit stored groups: %v", got)
	}
	mustDetect(t, s, store.DetectCommit{From: 1, To: 2, Epoch: e1})
	// Reopening does not bring the group back, nor move the epoch.
	change(t, s, store.AlertChange{AlertID: "A", Actor: "jane", Action: store.ActionReopen})
	if got, e := groups(), epoch(t, s); !slices.Equal(got, []string{"b", "c"}) || e != e1 {
		t.Errorf("after reopening A: groups %v, epoch %d; want b and c, %d", got, e, e1)
	}
	change(t, s, store.AlertChange{AlertID: "B", Actor: "jane", Action: store.ActionResolve})
	if e := epoch(t, s); e == e1 {
		t.Error("resolving B did not move the epoch")
	}
}

// CreateSystemAlert raises a condition once, until it is resolved.
func testSystemAlertOnce(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	const cond = "source acme: no events"
	a1 := sysAlert("S1", cond)
	if err := s.CreateSystemAlert(ctx, a1, []store.Notification{notif("n1", "S1", d.ID)}); err != nil {
		t.Fatal(err)
	}
	got := getAlert(t, s, "S1")
	if got.Status != store.AlertOpen || got.Type != store.AlertSystemError || got.Dedup != cond || got.Title != a1.Title {
		t.Errorf("system alert = %+v", got)
	}
	if hs := history(t, s, "S1"); len(hs) != 1 || hs[0].Action != store.ActionCreate || hs[0].ToStatus != store.AlertOpen {
		t.Errorf("history of a system alert = %+v, want its creation", hs)
	}
	if n := notification(t, s, "S1", "n1"); n.Status != store.NotificationPending {
		t.Errorf("its notification = %+v", n)
	}
	again := func(id string) error {
		return s.CreateSystemAlert(ctx, sysAlert(id, cond), []store.Notification{notif("n-"+id, id, d.ID)})
	}
	if err := again("S2"); !errors.Is(err, store.ErrExists) {
		t.Errorf("the condition raised again while open: err = %v, want ErrExists", err)
	}
	change(t, s, store.AlertChange{AlertID: "S1", Actor: "jane", Action: store.ActionTriage})
	if err := again("S2"); !errors.Is(err, store.ErrExists) {
		t.Errorf("the condition raised again while triaged: err = %v, want ErrExists", err)
	}
	if _, err := s.Alert(ctx, "S2"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a refused system alert was stored: %v", err)
	}
	if ids := notifIDs(t, s, store.NotificationFilter{AlertID: "S2"}); len(ids) != 0 {
		t.Errorf("a refused system alert's notifications were stored: %v", ids)
	}
	// Another condition is raised on its own; so are the detect stage's
	// system errors, which name their rule (one per rule and hour).
	if err := s.CreateSystemAlert(ctx, sysAlert("T1", "source acme: token expires"), nil); err != nil {
		t.Errorf("another condition: %v", err)
	}
	limiter := func(id string) store.Alert {
		a := sysAlert(id, cond)
		a.RuleID = "R"
		return a
	}
	raise(t, s, []store.Alert{limiter("L1"), limiter("L2")})

	change(t, s, store.AlertChange{AlertID: "S1", Actor: "opwatch", Action: store.ActionResolve})
	if err := again("S2"); err != nil {
		t.Errorf("the condition raised again after it was resolved: %v", err)
	}
	// S1 cannot be reopened while S2 holds the condition.
	if _, err := s.ChangeAlert(ctx, store.AlertChange{AlertID: "S1", Actor: "jane", Action: store.ActionReopen}); !errors.Is(err, store.ErrExists) {
		t.Errorf("reopening S1 while S2 is open: err = %v, want ErrExists", err)
	}
	if a := getAlert(t, s, "S1"); a.Status != store.AlertResolved {
		t.Errorf("S1 is %s after a refused reopen", a.Status)
	}
	open, err := s.ListAlerts(ctx, store.AlertFilter{Type: store.AlertSystemError, Dedup: cond, Unresolved: true})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, a := range open {
		ids = append(ids, a.ID)
	}
	if !sameSet(ids, []string{"S2", "L1", "L2"}) {
		t.Errorf("unresolved system errors of the condition = %v, want S2 and the limiter's", ids)
	}

	for _, bad := range []store.Alert{
		{ID: "X1", Type: store.AlertRule, Dedup: "x"},
		{ID: "X2", Type: store.AlertSystemError, Dedup: "x", RuleID: "R"},
		{ID: "X3", Type: store.AlertSystemError},
		{ID: "", Type: store.AlertSystemError, Dedup: "x"},
		{ID: "X4", Type: store.AlertSystemError, Dedup: "x", Status: store.AlertResolved},
	} {
		if err := s.CreateSystemAlert(ctx, bad, nil); err == nil {
			t.Errorf("CreateSystemAlert(%+v) was accepted", bad)
		}
	}
}

// Replicas raising one condition at once: exactly one alert.
func testSystemAlertConcurrent(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	const replicas = 8
	errs := make([]error, replicas)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			id := fmt.Sprint("S", i)
			errs[i] = s.CreateSystemAlert(ctx, sysAlert(id, "delivery failing"), []store.Notification{notif("n-"+id, id, d.ID)})
		}()
	}
	close(start)
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, store.ErrExists):
			t.Errorf("replica %d: %v, want nil or ErrExists", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d replicas raised the condition, want exactly 1", won)
	}
	as, err := s.ListAlerts(ctx, store.AlertFilter{Dedup: "delivery failing"})
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != 1 {
		t.Errorf("%d alerts stored for the condition, want 1", len(as))
	}
	if ids := notifIDs(t, s, store.NotificationFilter{}); len(ids) != 1 {
		t.Errorf("notifications stored: %v, want the winner's one", ids)
	}
}

// PurgeAlerts deletes resolved alerts last updated before the cut, with
// their matches, history and notifications; their events stay.
func testPurgeAlerts(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	evts := seedEvents(t, s, "acme", signin, 3, 3, c.Now().Add(-time.Hour))
	match := func(id string, i int) store.AlertMatch {
		return store.AlertMatch{AlertID: id, Seq: evts[i].Seq, EventTime: evts[i].EventTime}
	}
	at := evts[0].EventTime
	mustDetect(t, s, store.DetectCommit{From: 0, To: evts[2].Seq,
		Alerts:        []store.Alert{ruleAlert("old", "R", "a", at), ruleAlert("new", "R", "b", at), ruleAlert("open", "R", "c", at), ruleAlert("triaged", "R", "d", at)},
		Matches:       []store.AlertMatch{match("old", 0), match("old", 1), match("new", 2), match("open", 0)},
		Notifications: []store.Notification{notif("n-old", "old", d.ID), notif("n-new", "new", d.ID)}})
	change(t, s, store.AlertChange{AlertID: "old", Actor: "jane", Action: store.ActionResolve})
	change(t, s, store.AlertChange{AlertID: "triaged", Actor: "jane", Action: store.ActionTriage})
	c.Advance(2 * time.Hour)
	change(t, s, store.AlertChange{AlertID: "new", Actor: "jane", Action: store.ActionResolve})
	cut := c.Now().Add(-time.Hour)
	c.Advance(24 * time.Hour) // the cut is the caller's, not the store's clock

	n, err := s.PurgeAlerts(ctx, cut)
	if err != nil || n != 1 {
		t.Fatalf("PurgeAlerts = %d, %v; want 1", n, err)
	}
	if _, err := s.Alert(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the purged alert: err = %v, want ErrNotFound", err)
	}
	if _, err := s.AlertEvents(ctx, "old", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the purged alert's events: err = %v, want ErrNotFound", err)
	}
	if _, err := s.AlertHistory(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the purged alert's history: err = %v, want ErrNotFound", err)
	}
	if ids := notifIDs(t, s, store.NotificationFilter{}); !slices.Equal(ids, []string{"n-new"}) {
		t.Errorf("notifications after the purge = %v, want n-new", ids)
	}
	for _, id := range []string{"new", "open", "triaged"} {
		getAlert(t, s, id)
	}
	if m, err := s.AlertEvents(ctx, "open", 0); err != nil || len(m) != 1 {
		t.Errorf("a kept alert's events = %v, %v", seqsOf(m), err)
	}
	if all := readAll(t, s, 0, 100); len(all) != 3 {
		t.Errorf("%d events after the purge, want the 3 stored", len(all))
	}
	if n, err := s.PurgeAlerts(ctx, cut); err != nil || n != 0 {
		t.Errorf("PurgeAlerts again = %d, %v; want 0", n, err)
	}
	if n, err := s.PurgeAlerts(ctx, c.Now()); err != nil || n != 1 {
		t.Errorf("PurgeAlerts(now) = %d, %v; want 1 (new)", n, err)
	}
}

func testListAlertsTriage(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	at := c.Now()
	medium := ruleAlert("M", "R", "a", at)
	medium.Severity = "MEDIUM"
	for _, as := range [][]store.Alert{{ruleAlert("O", "R", "a", at)}, {ruleAlert("T", "R", "b", at)}, {ruleAlert("X", "R", "a", at)},
		{medium}, {sysAlert("S", "cond")}} {
		raise(t, s, as)
		c.Advance(time.Second)
	}
	change(t, s, store.AlertChange{AlertID: "T", Action: store.ActionTriage})
	change(t, s, store.AlertChange{AlertID: "X", Action: store.ActionResolve})
	change(t, s, store.AlertChange{AlertID: "O", Action: store.ActionAssign, Assignee: "bob"})
	ids := func(f store.AlertFilter) []string {
		t.Helper()
		as, err := s.ListAlerts(ctx, f)
		if err != nil {
			t.Fatalf("ListAlerts(%+v): %v", f, err)
		}
		out := []string{}
		for _, a := range as {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tc := range []struct {
		f    store.AlertFilter
		want []string
	}{
		{store.AlertFilter{Unresolved: true}, []string{"S", "M", "T", "O"}},
		{store.AlertFilter{Unresolved: true, RuleID: "R", Dedup: "a"}, []string{"M", "O"}},
		{store.AlertFilter{Dedup: "a"}, []string{"M", "X", "O"}},
		{store.AlertFilter{Severity: "MEDIUM"}, []string{"M"}},
		{store.AlertFilter{Severity: "HIGH", Unresolved: true}, []string{"T", "O"}},
		{store.AlertFilter{Type: store.AlertSystemError, Dedup: "cond", Unresolved: true}, []string{"S"}},
		{store.AlertFilter{Status: store.AlertResolved}, []string{"X"}},
		{store.AlertFilter{Unresolved: true, Limit: 1}, []string{"S"}},
	} {
		if got := ids(tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("ListAlerts(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if a := getAlert(t, s, "O"); a.Assignee != "bob" {
		t.Errorf("assignee = %q, want bob", a.Assignee)
	}
}
