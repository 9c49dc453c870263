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

// raise commits alerts and notifications as the detect stage's next batch,
// at the stored position and alert epoch.
func raise(t *testing.T, s store.Store, alerts []store.Alert, ns ...store.Notification) {
	t.Helper()
	pos := position(t, s, stage)
	mustDetect(t, s, store.DetectCommit{From: pos, To: pos + 1, Epoch: epoch(t, s), Alerts: alerts, Notifications: ns})
}

func epoch(t *testing.T, s store.Store) int64 {
	t.Helper()
	e, err := s.AlertEpoch(context.Background())
	if err != nil {
		t.Fatalf("AlertEpoch: %v", err)
	}
	return e
}

// sysAlert is a system error about no rule.
func sysAlert(id, dedup string) store.Alert {
	return store.Alert{ID: id, Type: store.AlertSystemError, Dedup: dedup, Title: "condition " + dedup, Severity: "CRITICAL",
		Status: store.AlertOpen}
}

func notif(id, alertID, destID string) store.Notification {
	return store.Notification{ID: id, AlertID: alertID, DestinationID: destID, Kind: store.NotifyTrigger}
}

// notification returns one stored notification by id (among its alert's).
func notification(t *testing.T, s store.Store, alertID, id string) store.Notification {
	t.Helper()
	ns, err := s.ListNotifications(context.Background(), store.NotificationFilter{AlertID: alertID, Limit: 1000})
	if err != nil {
		t.Fatalf("ListNotifications: %v", err)
	}
	for _, n := range ns {
		if n.ID == id {
			return n
		}
	}
	t.Fatalf("no notification %s of alert %s", id, alertID)
	return store.Notification{}
}

func notifIDs(t *testing.T, s store.Store, f store.NotificationFilter) []string {
	t.Helper()
	ns, err := s.ListNotifications(context.Background(), f)
	if err != nil {
		t.Fatalf("ListNotifications(%+v): %v", f, err)
	}
	ids := []string{}
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	return ids
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// claimAll claims every due notification to owner for a minute.
func claimAll(t *testing.T, s store.Store, owner string) []store.Notification {
	t.Helper()
	ns, err := s.ClaimNotifications(context.Background(), owner, time.Minute, 1000)
	if err != nil {
		t.Fatalf("ClaimNotifications(%s): %v", owner, err)
	}
	return ns
}

func finishNotif(t *testing.T, s store.Store, o store.NotificationOutcome) {
	t.Helper()
	if err := s.FinishNotification(context.Background(), o); err != nil {
		t.Fatalf("FinishNotification(%s): %v", o.ID, err)
	}
}

func notifOrder(ns []store.Notification) []string {
	ids := []string{}
	for _, n := range ns {
		ids = append(ids, n.ID)
	}
	return ids
}

// Notifications are stored with their alert: pending, due at once by the
// store's clock (or when the caller said), never attempted, unleased.
func testOutboxCommit(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	d := newDestination(t, s, "dest-1", "soc")
	e := newDestination(t, s, "dest-2", "pager")
	later := notif("later", "A1", e.ID)
	later.Kind = store.NotifyResolve
	later.NextAttemptAt = c.Now().Add(time.Hour)
	raise(t, s, []store.Alert{sysAlert("A1", "")}, notif("n1", "A1", d.ID), later, notif("gone", "A1", "no-such-destination"))
	got := notification(t, s, "A1", "n1")
	want := store.Notification{ID: "n1", AlertID: "A1", DestinationID: d.ID, Kind: store.NotifyTrigger,
		Status: store.NotificationPending, NextAttemptAt: c.Now(), CreatedAt: c.Now()}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored notification (-want +got):\n%s", diff)
	}
	if n := notification(t, s, "A1", "later"); !n.NextAttemptAt.Equal(later.NextAttemptAt) || n.Kind != store.NotifyResolve {
		t.Errorf("a notification due later: due %v, kind %s; want %v, resolve", n.NextAttemptAt, n.Kind, later.NextAttemptAt)
	}
	if ids := notifIDs(t, s, store.NotificationFilter{AlertID: "A1"}); !sameSet(ids, []string{"n1", "later"}) {
		t.Errorf("notifications of A1 = %v; want n1 and later (none to a destination that does not exist)", ids)
	}

	// Newest first; filtered by alert, destination, status; limited.
	c.Advance(time.Second)
	raise(t, s, []store.Alert{sysAlert("A2", "")}, notif("n2", "A2", d.ID))
	c.Advance(time.Second)
	raise(t, s, []store.Alert{sysAlert("A3", "")}, notif("n3", "A3", d.ID), notif("n4", "A3", e.ID))
	claimed := claimAll(t, s, "me")
	if !sameSet(notifOrder(claimed), []string{"n1", "n2", "n3", "n4"}) {
		t.Fatalf("claimed %v, want the four due", notifOrder(claimed))
	}
	finishNotif(t, s, store.NotificationOutcome{ID: "n2", LeaseOwner: "me", Sent: true})
	for _, tc := range []struct {
		f    store.NotificationFilter
		want []string
	}{
		{store.NotificationFilter{DestinationID: d.ID}, []string{"n3", "n2", "n1"}},
		{store.NotificationFilter{DestinationID: d.ID, Limit: 2}, []string{"n3", "n2"}},
		{store.NotificationFilter{DestinationID: d.ID, Status: store.NotificationPending}, []string{"n3", "n1"}},
		{store.NotificationFilter{Status: store.NotificationSent}, []string{"n2"}},
		{store.NotificationFilter{AlertID: "A3", DestinationID: e.ID}, []string{"n4"}},
		{store.NotificationFilter{AlertID: "nope"}, []string{}},
	} {
		if got := notifIDs(t, s, tc.f); !slices.Equal(got, tc.want) {
			t.Errorf("ListNotifications(%+v) = %v, want %v", tc.f, got, tc.want)
		}
	}
	if got := notifIDs(t, s, store.NotificationFilter{}); len(got) != 5 || got[0] != "n3" && got[0] != "n4" {
		t.Errorf("ListNotifications() = %v, want all five, newest first", got)
	}
}

// A CommitDetect with notifications stores all or nothing: a moved
// position, a moved alert epoch, a notification of no alert or one given
// twice leave the store as it was.
func testOutboxCommitAtomic(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	// G's dedup group ends when G is resolved, which moves the epoch.
	g := store.DedupGroup{RuleID: "R", Dedup: "x", PeriodEnd: c.Now().Add(time.Hour), AlertID: "G", Matches: 1}
	mustDetect(t, s, store.DetectCommit{From: 0, To: 1, Alerts: []store.Alert{ruleAlert("G", "R", "x", c.Now())}, Groups: []store.DedupGroup{g}})
	stale := epoch(t, s)
	if _, err := s.ChangeAlert(ctx, store.AlertChange{AlertID: "G", Actor: "jane", Action: store.ActionResolve}); err != nil {
		t.Fatal(err)
	}
	if epoch(t, s) == stale {
		t.Fatal("resolving an alert with a dedup group did not move the alert epoch")
	}
	cur := epoch(t, s)

	for _, b := range []struct {
		what string
		c    store.DetectCommit
		is   error
	}{
		{"a moved position", store.DetectCommit{From: 0, Epoch: cur}, store.ErrPositionMoved},
		{"a moved epoch", store.DetectCommit{From: 1, Epoch: stale}, store.ErrPositionMoved},
		{"a notification of no alert", store.DetectCommit{From: 1, Epoch: cur,
			Notifications: []store.Notification{notif("bad", "nope", d.ID)}}, store.ErrNotFound},
		{"a notification given twice", store.DetectCommit{From: 1, Epoch: cur,
			Notifications: []store.Notification{notif("N", "A", d.ID)}}, store.ErrExists},
		{"a notification of no kind", store.DetectCommit{From: 1, Epoch: cur,
			Notifications: []store.Notification{{ID: "odd", AlertID: "A", DestinationID: d.ID}}}, nil},
	} {
		cm := b.c
		cm.Stage, cm.To = stage, 2
		cm.Alerts = []store.Alert{sysAlert("A", "")}
		cm.Notifications = append([]store.Notification{notif("N", "A", d.ID)}, cm.Notifications...)
		err := s.CommitDetect(ctx, cm)
		if err == nil || (b.is != nil && !errors.Is(err, b.is)) {
			t.Errorf("%s: err = %v, want %v", b.what, err, b.is)
		}
		if p := position(t, s, stage); p != 1 {
			t.Errorf("%s moved the position to %d", b.what, p)
		}
		if _, err := s.Alert(ctx, "A"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s stored its alert: %v", b.what, err)
		}
		if got := notifIDs(t, s, store.NotificationFilter{}); len(got) != 0 {
			t.Errorf("%s stored notifications %v", b.what, got)
		}
	}
	// At the stored position and epoch it goes through.
	mustDetect(t, s, store.DetectCommit{From: 1, To: 2, Epoch: cur, Alerts: []store.Alert{sysAlert("A", "")},
		Notifications: []store.Notification{notif("N", "A", d.ID)}})
	if got := notifIDs(t, s, store.NotificationFilter{}); !slices.Equal(got, []string{"N"}) {
		t.Errorf("notifications = %v, want N", got)
	}
}

// Claims take due, pending notifications not under a live lease, the
// longest due first, up to max; each claim is an attempt.
func testClaimNotifications(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	t0 := c.Now()
	due := func(id string, at time.Time) store.Notification {
		n := notif(id, "A", d.ID)
		n.NextAttemptAt = at
		return n
	}
	// Named so that no other order (by name, by creation) is the same.
	raise(t, s, []store.Alert{sysAlert("A", "")}, due("n1", t0.Add(-time.Second)), due("n3", t0.Add(-time.Hour)),
		due("n2", t0.Add(-time.Minute)), due("future", t0.Add(time.Minute)))

	got, err := s.ClaimNotifications(ctx, "a", time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"n3", "n2"}, notifOrder(got)); diff != "" {
		t.Errorf("claim of 2 (-want +got):\n%s", diff)
	}
	for _, n := range got {
		if n.LeaseOwner != "a" || !n.LeaseUntil.Equal(t0.Add(time.Minute)) || n.Attempts != 1 || !n.LastAttemptAt.Equal(t0) ||
			n.Status != store.NotificationPending {
			t.Errorf("claimed notification = %+v; want leased to a until %v, attempt 1 at %v", n, t0.Add(time.Minute), t0)
		}
	}
	// A live lease is never taken; what is left and due is.
	c.Advance(time.Second)
	got = claimAll(t, s, "b")
	if diff := cmp.Diff([]string{"n1"}, notifOrder(got)); diff != "" {
		t.Errorf("second claim (-want +got):\n%s", diff)
	}
	if got := claimAll(t, s, "b"); len(got) != 0 {
		t.Errorf("a claim with everything due under live leases took %v", notifOrder(got))
	}
	if got, err := s.ClaimNotifications(ctx, "b", time.Minute, 0); err != nil || len(got) != 0 {
		t.Errorf("a claim of 0 = %v, %v", notifOrder(got), err)
	}
	if _, err := s.ClaimNotifications(ctx, "", time.Minute, 10); err == nil {
		t.Error("a claim without an owner was accepted")
	}

	// a crashes. At the end of its lease its notifications (and the one
	// that became due) go to the next claimer, as a second attempt; b's
	// lease, taken later, is still live.
	c.Advance(time.Minute - time.Second)
	got = claimAll(t, s, "c")
	if diff := cmp.Diff([]string{"n3", "n2", "future"}, notifOrder(got)); diff != "" {
		t.Errorf("claim after a's lease ended (-want +got):\n%s", diff)
	}
	for _, n := range got {
		want := 2
		if n.ID == "future" {
			want = 1
		}
		if n.Attempts != want || n.LeaseOwner != "c" || !n.LastAttemptAt.Equal(c.Now()) {
			t.Errorf("reclaimed %s: attempts %d, owner %s, last attempt %v; want %d, c, %v", n.ID, n.Attempts, n.LeaseOwner, n.LastAttemptAt, want, c.Now())
		}
	}
}

// An outcome lands only while its owner holds a live lease.
func testFinishNotification(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	raise(t, s, []store.Alert{sysAlert("A", "")}, notif("sent", "A", d.ID), notif("failed", "A", d.ID), notif("retry", "A", d.ID),
		notif("lost", "A", d.ID), notif("expired", "A", d.ID))
	claimAll(t, s, "a")
	t0 := c.Now()
	c.Advance(10 * time.Second)

	finishNotif(t, s, store.NotificationOutcome{ID: "sent", LeaseOwner: "a", Sent: true})
	n := notification(t, s, "A", "sent")
	if n.Status != store.NotificationSent || !n.SentAt.Equal(c.Now()) || n.LeaseOwner != "" || !n.LeaseUntil.IsZero() || n.Attempts != 1 {
		t.Errorf("sent notification = %+v", n)
	}
	finishNotif(t, s, store.NotificationOutcome{ID: "failed", LeaseOwner: "a", Failed: true, Err: "410 Gone: the webhook was removed"})
	n = notification(t, s, "A", "failed")
	if n.Status != store.NotificationFailed || n.LastError != "410 Gone: the webhook was removed" || !n.SentAt.IsZero() || n.LeaseOwner != "" {
		t.Errorf("failed notification = %+v", n)
	}

	// A retry keeps the caller's schedule: not claimable before it.
	next := c.Now().Add(5 * time.Minute)
	finishNotif(t, s, store.NotificationOutcome{ID: "retry", LeaseOwner: "a", Err: "503 Service Unavailable", NextAttempt: next})
	n = notification(t, s, "A", "retry")
	if n.Status != store.NotificationPending || !n.NextAttemptAt.Equal(next) || n.LastError != "503 Service Unavailable" ||
		n.LeaseOwner != "" || !n.LeaseUntil.IsZero() || n.Attempts != 1 || !n.LastAttemptAt.Equal(t0) {
		t.Errorf("notification to retry = %+v; want pending, due %v", n, next)
	}
	if err := s.FinishNotification(ctx, store.NotificationOutcome{ID: "retry", LeaseOwner: "a", Sent: true}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("a second outcome after the lease was given back: err = %v, want ErrLeaseLost", err)
	}
	if err := s.FinishNotification(ctx, store.NotificationOutcome{ID: "sent", LeaseOwner: "a", Failed: true}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("an outcome for a sent notification: err = %v, want ErrLeaseLost", err)
	}
	if err := s.FinishNotification(ctx, store.NotificationOutcome{ID: "lost", LeaseOwner: "b", Sent: true}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("an outcome by one who never held the lease: err = %v, want ErrLeaseLost", err)
	}

	// a's lease ends; b takes "lost" over. a's late outcomes change nothing,
	// whether or not another claimed the notification since.
	c.Advance(time.Minute)
	if got := claimAll(t, s, "b"); !sameSet(notifOrder(got), []string{"lost", "expired"}) {
		t.Fatalf("claim after a's lease = %v, want lost and expired", notifOrder(got))
	}
	// A retry without a time is due at once.
	finishNotif(t, s, store.NotificationOutcome{ID: "expired", LeaseOwner: "b", Err: "timeout"})
	for _, id := range []string{"lost", "expired"} {
		before := notification(t, s, "A", id)
		err := s.FinishNotification(ctx, store.NotificationOutcome{ID: id, LeaseOwner: "a", Sent: true})
		if !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("%s: a late outcome of a lost lease: err = %v, want ErrLeaseLost", id, err)
		}
		if diff := cmp.Diff(before, notification(t, s, "A", id)); diff != "" {
			t.Errorf("%s: a late outcome changed the notification (-before +after):\n%s", id, diff)
		}
	}
	// A lease that ran out is lost even when nobody claimed it since.
	if got := claimAll(t, s, "c"); !slices.Equal(notifOrder(got), []string{"expired"}) {
		t.Fatalf("claim = %v, want expired", notifOrder(got))
	}
	c.Advance(time.Minute)
	before := notification(t, s, "A", "expired")
	if err := s.FinishNotification(ctx, store.NotificationOutcome{ID: "expired", LeaseOwner: "c", Sent: true}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("an outcome after the lease ran out: err = %v, want ErrLeaseLost", err)
	}
	if diff := cmp.Diff(before, notification(t, s, "A", "expired")); diff != "" {
		t.Errorf("an outcome after the lease ran out changed the notification (-before +after):\n%s", diff)
	}
	if err := s.FinishNotification(ctx, store.NotificationOutcome{ID: "lost", LeaseOwner: "b", Sent: true, Failed: true}); err == nil {
		t.Error("an outcome both sent and failed was accepted")
	}
}

// Concurrent deliverers never claim one notification twice.
func testClaimNotificationsConcurrent(t *testing.T, s store.Store, _ *Clock) {
	d := newDestination(t, s, "dest-1", "soc")
	const total = 60
	var ns []store.Notification
	for i := range total {
		ns = append(ns, notif(fmt.Sprint("n", i), "A", d.ID))
	}
	raise(t, s, []store.Alert{sysAlert("A", "")}, ns...)
	var mu sync.Mutex
	claimed := map[string]string{}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			owner := fmt.Sprint("w", w)
			for {
				got, err := s.ClaimNotifications(context.Background(), owner, time.Hour, 3)
				if err != nil {
					t.Errorf("ClaimNotifications: %v", err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, n := range got {
					if prev, ok := claimed[n.ID]; ok {
						t.Errorf("%s claimed by %s and %s", n.ID, prev, owner)
					}
					claimed[n.ID] = owner
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(claimed) != total {
		t.Errorf("%d of %d notifications claimed", len(claimed), total)
	}
}

func testDestinationStats(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	other := newDestination(t, s, "dest-2", "other")
	if st, err := s.DestinationStats(ctx, d.ID); err != nil || st != (store.DestinationStats{}) {
		t.Errorf("stats of a new destination = %+v, %v; want zero", st, err)
	}
	raise(t, s, []store.Alert{sysAlert("A", "")}, notif("s1", "A", d.ID), notif("s2", "A", d.ID), notif("f1", "A", d.ID),
		notif("p1", "A", d.ID), notif("p2", "A", d.ID), notif("o1", "A", other.ID))
	claimAll(t, s, "me")
	c.Advance(time.Second)
	finishNotif(t, s, store.NotificationOutcome{ID: "s1", LeaseOwner: "me", Sent: true})
	c.Advance(time.Second)
	finishNotif(t, s, store.NotificationOutcome{ID: "p1", LeaseOwner: "me", Err: "503 older", NextAttempt: c.Now()})
	c.Advance(time.Second)
	finishNotif(t, s, store.NotificationOutcome{ID: "f1", LeaseOwner: "me", Failed: true, Err: "401 newest"})
	errAt := c.Now()
	c.Advance(time.Second)
	finishNotif(t, s, store.NotificationOutcome{ID: "s2", LeaseOwner: "me", Sent: true})
	finishNotif(t, s, store.NotificationOutcome{ID: "o1", LeaseOwner: "me", Failed: true, Err: "another destination's"})
	st, err := s.DestinationStats(ctx, d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := store.DestinationStats{Pending: 2, Sent: 2, Failed: 1, LastSentAt: c.Now(), LastError: "401 newest", LastErrorAt: errAt}
	if diff := cmp.Diff(want, st); diff != "" {
		t.Errorf("DestinationStats (-want +got):\n%s", diff)
	}
}

// A notification handed back untried (its destination busy) takes its
// claim's attempt back: Attempts counts what was sent, not claims.
func testNotificationUntried(t *testing.T, s store.Store, c *Clock) {
	d := newDestination(t, s, "dest-u", "soc")
	raise(t, s, []store.Alert{sysAlert("U", "")}, notif("busy", "U", d.ID))
	for range 3 {
		if got := claimAll(t, s, "a"); len(got) != 1 || got[0].Attempts < 1 {
			t.Fatalf("claim = %+v", got)
		}
		finishNotif(t, s, store.NotificationOutcome{ID: "busy", LeaseOwner: "a", Untried: true})
	}
	if n := notification(t, s, "U", "busy"); n.Attempts != 0 || n.Status != store.NotificationPending {
		t.Errorf("after three claims handed back untried: %+v; want pending with 0 attempts", n)
	}
	claimAll(t, s, "a")
	finishNotif(t, s, store.NotificationOutcome{ID: "busy", LeaseOwner: "a", Err: "503"})
	if n := notification(t, s, "U", "busy"); n.Attempts != 1 {
		t.Errorf("after one real attempt: %d attempts, want 1", n.Attempts)
	}
}
