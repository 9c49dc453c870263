package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

func testStreamsPerLogType(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	b, _ := newSource(t, s, "bravo")
	a, _ := newSource(t, s, "alpha")
	all, err := s.Streams(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ Source, LogType string }
	var got []key
	for _, st := range all {
		got = append(got, key{st.SourceID, st.LogType})
		if !st.Enabled || st.Status != store.StreamOK || st.Cursor != "" || st.ConsecutiveFailures != 0 || st.Events != 0 ||
			st.Quarantined != 0 || st.LeaseOwner != "" || !st.LeaseUntil.IsZero() || !st.LastPollAt.IsZero() ||
			!st.LastSuccessAt.IsZero() || !st.LastEventAt.IsZero() || st.LastError != "" {
			t.Errorf("new stream is not fresh: %+v", st)
		}
		if !st.NextPollAt.Equal(c.Now()) {
			t.Errorf("new stream due at %v, want at once (%v)", st.NextPollAt, c.Now())
		}
		one, err := s.Stream(ctx, st.ID)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(st, one); diff != "" {
			t.Errorf("Stream(%d) differs from Streams (-want +got):\n%s", st.ID, diff)
		}
	}
	// Ordered by source (name), then log type.
	want := []key{
		{a.ID, audit}, {a.ID, usage}, {a.ID, signin},
		{b.ID, audit}, {b.ID, usage}, {b.ID, signin},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Streams order (-want +got):\n%s", diff)
	}
	only, err := s.Streams(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all[3:], only); diff != "" {
		t.Errorf("Streams(bravo) (-want +got):\n%s", diff)
	}
}

func claimIDs(sts []store.Stream) []int64 {
	ids := []int64{}
	for _, st := range sts {
		ids = append(ids, st.ID)
	}
	return ids
}

func testClaimDueOnly(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := c.Now()
	// Poll two streams, and schedule them at now+1m and now+2m.
	for i, st := range sts[:2] {
		claim(t, s, st, "me")
		if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me",
			NextPollAt: now.Add(time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ClaimStreams(ctx, "p", 10*time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{sts[2].ID}, claimIDs(got)); diff != "" {
		t.Errorf("claim at now (-want +got):\n%s", diff)
	}
	// A second before now+1m nothing more is due; at now+1m the first is
	// (the third is leased).
	c.Advance(time.Minute - time.Second)
	if got, err := s.ClaimStreams(ctx, "q", time.Minute, 10); err != nil || len(got) != 0 {
		t.Errorf("claim a second early = %v, %v; want nothing", claimIDs(got), err)
	}
	c.Advance(time.Second)
	got, err = s.ClaimStreams(ctx, "q", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{sts[0].ID}, claimIDs(got)); diff != "" {
		t.Errorf("claim at now+1m (-want +got):\n%s", diff)
	}
}

func testClaimSkipsStopped(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := claim(t, s, sts[0], "me")
	if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: c.Now(),
		Err: "401: token revoked", Stopped: true}); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour)
	got, err := s.ClaimStreams(ctx, "p", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.ID == st.ID {
			t.Fatal("claimed a stopped stream")
		}
	}
	if len(got) != 2 {
		t.Errorf("claimed %d streams, want the 2 not stopped", len(got))
	}
}

// testClaimSkipsDisabled: a stream left out of the log types is not claimed.
func testClaimSkipsDisabled(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	if err := s.UpdateSource(ctx, store.SourceChange{Source: src, LogTypes: []string{usage}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimStreams(ctx, "p", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{streamOf(t, sts, usage).ID}, claimIDs(got)); diff != "" {
		t.Errorf("claim with only usage enabled (-want +got):\n%s", diff)
	}
	// ClaimStream (the operator's pull) still takes a disabled stream.
	if _, err := s.ClaimStream(ctx, streamOf(t, sts, audit).ID, "pull", time.Minute); err != nil {
		t.Errorf("ClaimStream of a disabled stream: %v", err)
	}
}

func testClaimLiveLeaseBlocks(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	newSource(t, s, "acme")
	now := c.Now()
	a, err := s.ClaimStreams(ctx, "a", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 3 {
		t.Fatalf("a claimed %d streams, want 3", len(a))
	}
	for _, st := range a {
		if st.LeaseOwner != "a" || !st.LeaseUntil.Equal(now.Add(time.Minute)) {
			t.Errorf("claimed stream lease = %q until %v, want a until %v", st.LeaseOwner, st.LeaseUntil, now.Add(time.Minute))
		}
		if diff := cmp.Diff(st, stream(t, s, st.ID)); diff != "" {
			t.Errorf("claimed stream as returned differs from as stored (-returned +stored):\n%s", diff)
		}
	}
	// A live lease blocks another owner, and the same owner too: a poller
	// must not claim what it is already polling.
	c.Advance(59 * time.Second)
	for _, owner := range []string{"b", "a"} {
		got, err := s.ClaimStreams(ctx, owner, time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("%s claimed %v under a's live lease", owner, claimIDs(got))
		}
	}
	// Once the lease expires (a crashed), b can take over.
	c.Advance(time.Second)
	b, err := s.ClaimStreams(ctx, "b", 2*time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) != 3 {
		t.Fatalf("b claimed %d expired streams, want 3", len(b))
	}
	for _, st := range b {
		if st.LeaseOwner != "b" || !st.LeaseUntil.Equal(now.Add(3*time.Minute)) {
			t.Errorf("reclaimed lease = %q until %v", st.LeaseOwner, st.LeaseUntil)
		}
	}
}

// testLeaseOnStoreClock: the API takes no caller time, so a poller whose
// clock runs ahead (it believes the lease is over) cannot take over a live
// lease by any call, nor can a holder whose clock lags keep one alive past
// its end; an expired lease is anyone's.
func testLeaseOnStoreClock(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, signin)
	if _, err := s.ClaimStream(ctx, st.ID, "a", time.Minute); err != nil {
		t.Fatal(err)
	}
	want := stream(t, s, st.ID)
	c.Advance(59 * time.Second)
	// b, an hour ahead, tries everything it can.
	if got, err := s.ClaimStreams(ctx, "b", time.Hour, 10); err != nil || containsStream(got, st.ID) {
		t.Errorf("ClaimStreams by b under a's live lease = %v, %v", claimIDs(got), err)
	}
	if _, err := s.ClaimStream(ctx, st.ID, "b", time.Hour); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ClaimStream by b under a's live lease: err = %v, want ErrLeaseLost", err)
	}
	if err := s.ExtendLease(ctx, st.ID, "b", time.Hour); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ExtendLease by b: err = %v, want ErrLeaseLost", err)
	}
	if _, err := s.CommitPage(ctx, store.PageCommit{StreamID: st.ID, LeaseOwner: "b", Cursor: "b's"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("CommitPage by b: err = %v, want ErrLeaseLost", err)
	}
	if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "b", NextPollAt: c.Now().Add(-time.Hour)}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("FinishPoll by b: err = %v, want ErrLeaseLost", err)
	}
	if diff := cmp.Diff(want, stream(t, s, st.ID)); diff != "" {
		t.Errorf("b changed a's stream (-want +got):\n%s", diff)
	}
	// a's lease ends at the store's now+1m, whatever a believes: it cannot
	// renew an ended lease, or commit under it.
	c.Advance(time.Second)
	if err := s.ExtendLease(ctx, st.ID, "a", time.Hour); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ExtendLease of an ended lease: err = %v, want ErrLeaseLost", err)
	}
	if _, err := s.CommitPage(ctx, store.PageCommit{StreamID: st.ID, LeaseOwner: "a", Cursor: "late"}); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("CommitPage under an ended lease: err = %v, want ErrLeaseLost", err)
	}
	// And b claims the expired lease.
	got, err := s.ClaimStream(ctx, st.ID, "b", time.Minute)
	if err != nil || got.LeaseOwner != "b" || !got.LeaseUntil.Equal(c.Now().Add(time.Minute)) {
		t.Errorf("ClaimStream of an expired lease = %q until %v, %v; want b until %v", got.LeaseOwner, got.LeaseUntil, err, c.Now().Add(time.Minute))
	}
}

func testClaimMax(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := c.Now()
	// Give the streams distinct due times, latest first.
	for i, st := range sts {
		claim(t, s, st, "me")
		if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me",
			NextPollAt: now.Add(time.Duration(len(sts)-i) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	c.Advance(time.Hour)
	if got, err := s.ClaimStreams(ctx, "p", time.Minute, 0); err != nil || len(got) != 0 {
		t.Errorf("max 0 claimed %v, %v", claimIDs(got), err)
	}
	got, err := s.ClaimStreams(ctx, "p", time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The longest overdue first.
	if diff := cmp.Diff([]int64{sts[2].ID, sts[1].ID}, claimIDs(got)); diff != "" {
		t.Errorf("claim max 2 (-want +got):\n%s", diff)
	}
	rest, err := s.ClaimStreams(ctx, "q", time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{sts[0].ID}, claimIDs(rest)); diff != "" {
		t.Errorf("second claim (-want +got):\n%s", diff)
	}
}

func testClaimStream(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := c.Now()
	st := claim(t, s, sts[0], "me")
	// Not due and stopped: ClaimStream takes it anyway (the operator asked).
	if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me",
		NextPollAt: now.Add(time.Hour), Err: "403", Stopped: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimStream(ctx, st.ID, "pull", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.LeaseOwner != "pull" || !got.LeaseUntil.Equal(now.Add(time.Minute)) || got.Status != store.StreamStopped {
		t.Errorf("ClaimStream = %+v", got)
	}
	// Another owner is refused while the lease lives; the holder may renew.
	c.Advance(30 * time.Second)
	if _, err := s.ClaimStream(ctx, st.ID, "other", time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ClaimStream under another's live lease: err = %v, want ErrLeaseLost", err)
	}
	if got, err := s.ClaimStream(ctx, st.ID, "pull", time.Minute); err != nil ||
		!got.LeaseUntil.Equal(now.Add(90*time.Second)) {
		t.Errorf("holder's re-claim = %v, %v", got.LeaseUntil, err)
	}
	c.Advance(time.Minute)
	if got, err := s.ClaimStream(ctx, st.ID, "other", time.Minute); err != nil || got.LeaseOwner != "other" {
		t.Errorf("ClaimStream after expiry = %+v, %v", got, err)
	}
}

func testExtendLease(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := c.Now()
	st := claim(t, s, sts[0], "me")
	c.Advance(30 * time.Second)
	if err := s.ExtendLease(ctx, st.ID, "me", 10*time.Minute); err != nil {
		t.Fatal(err)
	}
	until := now.Add(30*time.Second + 10*time.Minute) // from the store's now
	if got := stream(t, s, st.ID); !got.LeaseUntil.Equal(until) || got.LeaseOwner != "me" {
		t.Errorf("after ExtendLease: %q until %v, want me until %v", got.LeaseOwner, got.LeaseUntil, until)
	}
	// The extension holds off another poller past the first expiry.
	c.Advance(5 * time.Minute)
	if got, _ := s.ClaimStreams(ctx, "other", time.Minute, 10); len(got) != 2 {
		t.Errorf("claimed %d streams, want the 2 not leased", len(got))
	}
	if err := s.ExtendLease(ctx, st.ID, "other", time.Hour); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ExtendLease by a non-holder: err = %v, want ErrLeaseLost", err)
	}
	if got := stream(t, s, st.ID); !got.LeaseUntil.Equal(until) {
		t.Errorf("a refused ExtendLease moved the lease to %v", got.LeaseUntil)
	}
}
