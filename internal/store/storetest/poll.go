package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

func finish(t *testing.T, s store.Store, o store.PollOutcome) store.Stream {
	t.Helper()
	if err := s.FinishPoll(context.Background(), o); err != nil {
		t.Fatalf("FinishPoll: %v", err)
	}
	return stream(t, s, o.StreamID)
}

func testFinishPollSuccess(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := sts[0]
	now := c.Now()
	st = claim(t, s, st, "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1", Events: evs(st, "e", 2, now)})
	c.Advance(time.Second)
	got := finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: now.Add(time.Minute)})
	if got.Status != store.StreamOK || got.Cursor != "c1" || !got.LastPollAt.Equal(now.Add(time.Second)) ||
		!got.LastSuccessAt.Equal(now.Add(time.Second)) || !got.NextPollAt.Equal(now.Add(time.Minute)) ||
		got.ConsecutiveFailures != 0 || got.LastError != "" || !got.LastErrorAt.IsZero() || got.Events != 2 {
		t.Errorf("after a successful poll (stamped with the store's time): %+v", got)
	}
	// The lease is released: another owner claims as soon as it is due.
	if got.LeaseOwner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("lease not released: %q until %v", got.LeaseOwner, got.LeaseUntil)
	}
	c.Advance(time.Minute)
	claimed, err := s.ClaimStreams(ctx, "other", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !containsStream(claimed, st.ID) {
		t.Error("released stream not claimable when due")
	}
}

func testFinishPollFailure(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	_, sts := newSource(t, s, "acme")
	st := sts[1]
	now := c.Now()
	claim(t, s, st, "me")
	got := finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: now.Add(10 * time.Second), Err: "503 from events.1password.com"})
	if got.Status != store.StreamError || got.LastError != "503 from events.1password.com" || !got.LastErrorAt.Equal(now) ||
		got.ConsecutiveFailures != 1 || !got.LastPollAt.Equal(now) || !got.LastSuccessAt.IsZero() ||
		!got.NextPollAt.Equal(now.Add(10*time.Second)) || got.LeaseOwner != "" || !got.LeaseUntil.IsZero() {
		t.Errorf("after a failed poll: %+v", got)
	}
	// Failures count up; a success resets the count and the status, and
	// keeps the last error for the record.
	c.Advance(10 * time.Second)
	at := c.Now()
	claim(t, s, st, "me")
	got = finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: at.Add(20 * time.Second), Err: "timeout"})
	if got.ConsecutiveFailures != 2 || got.LastError != "timeout" || !got.LastErrorAt.Equal(at) || got.Status != store.StreamError {
		t.Errorf("after a second failure: %+v", got)
	}
	c.Advance(20 * time.Second)
	at2 := c.Now()
	claim(t, s, st, "me")
	got = finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: at2.Add(time.Minute)})
	if got.ConsecutiveFailures != 0 || got.Status != store.StreamOK || !got.LastSuccessAt.Equal(at2) ||
		got.LastError != "timeout" || !got.LastErrorAt.Equal(at) {
		t.Errorf("after recovery: %+v", got)
	}
}

func testFinishPollStopped(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := sts[2]
	claim(t, s, st, "me")
	got := finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: c.Now().Add(time.Minute),
		Err: "401: token revoked or expired", Stopped: true})
	if got.Status != store.StreamStopped || got.LastError != "401: token revoked or expired" || got.ConsecutiveFailures != 1 || got.LeaseOwner != "" {
		t.Errorf("after a stopping poll: %+v", got)
	}
	c.Advance(24 * time.Hour)
	claimed, err := s.ClaimStreams(ctx, "p", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if containsStream(claimed, st.ID) {
		t.Error("a stopped stream was claimed")
	}
}

func testFinishPollCursorAndReconcile(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	_, sts := newSource(t, s, "acme")
	st := sts[0]
	now := c.Now()
	st = claim(t, s, st, "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "rejected"})
	// A rejected cursor is replaced (recovery), on a failed poll too.
	fresh := "fresh-start"
	got := finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: now, Err: "400: bad cursor", Cursor: &fresh})
	if got.Cursor != "fresh-start" || !got.LastReconcileAt.IsZero() {
		t.Errorf("cursor %q, last reconcile %v; want fresh-start, none", got.Cursor, got.LastReconcileAt)
	}
	// Without Cursor the cursor stays; Reconciled records the store's time.
	claim(t, s, st, "me")
	c.Advance(2 * time.Second)
	got = finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: now.Add(time.Minute), Reconciled: true})
	if got.Cursor != "fresh-start" || !got.LastReconcileAt.Equal(now.Add(2*time.Second)) {
		t.Errorf("cursor %q, last reconcile %v", got.Cursor, got.LastReconcileAt)
	}
	// The empty cursor is a value too.
	claim(t, s, st, "me")
	c.Advance(time.Second)
	empty := ""
	got = finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: now.Add(time.Minute), Cursor: &empty})
	if got.Cursor != "" || !got.LastReconcileAt.Equal(now.Add(2*time.Second)) {
		t.Errorf("cursor %q, last reconcile %v", got.Cursor, got.LastReconcileAt)
	}
}

func testFinishPollLeaseLost(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := sts[0]
	claim(t, s, st, "a")
	// a's lease expires and b takes over; a's late outcome must not land.
	c.Advance(time.Minute)
	claim(t, s, st, "b")
	want := stream(t, s, st.ID)
	c.Advance(time.Second)
	err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "a", NextPollAt: c.Now().Add(time.Hour), Err: "late"})
	if !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("FinishPoll by a former owner: err = %v, want ErrLeaseLost", err)
	}
	if diff := cmp.Diff(want, stream(t, s, st.ID)); diff != "" {
		t.Errorf("a former owner's FinishPoll changed the stream (-want +got):\n%s", diff)
	}
}

func testResetStream(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := sts[0]
	now := c.Now()
	st = claim(t, s, st, "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c9"})
	finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: now.Add(48 * time.Hour), Err: "403: missing feature", Stopped: true})

	c.Advance(time.Minute)
	if err := s.ResetStream(ctx, st.ID, nil); err != nil {
		t.Fatal(err)
	}
	got := stream(t, s, st.ID)
	if got.Status != store.StreamOK || got.ConsecutiveFailures != 0 || got.Cursor != "c9" || !got.NextPollAt.Equal(c.Now()) {
		t.Errorf("after ResetStream(nil): %+v; want ok, no failures, cursor kept, due now", got)
	}
	claimed, err := s.ClaimStreams(ctx, "p", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !containsStream(claimed, st.ID) {
		t.Error("reset stream not claimable")
	}
	empty := ""
	if err := s.ResetStream(ctx, st.ID, &empty); err != nil {
		t.Fatal(err)
	}
	if got := stream(t, s, st.ID); got.Cursor != "" {
		t.Errorf("ResetStream(\"\") left cursor %q", got.Cursor)
	}
	c2 := "explicit"
	if err := s.ResetStream(ctx, st.ID, &c2); err != nil {
		t.Fatal(err)
	}
	if got := stream(t, s, st.ID); got.Cursor != "explicit" {
		t.Errorf("ResetStream(explicit) left cursor %q", got.Cursor)
	}
}

func containsStream(sts []store.Stream, id int64) bool {
	for _, st := range sts {
		if st.ID == id {
			return true
		}
	}
	return false
}
