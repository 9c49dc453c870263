package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

func testStreamsPerLogType(t *testing.T, s store.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Millisecond)
	b, _ := newSource(t, s, "bravo")
	a, _ := newSource(t, s, "alpha")
	after := time.Now().Add(time.Millisecond)
	all, err := s.Streams(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	type key struct{ Source, LogType string }
	var got []key
	for _, st := range all {
		got = append(got, key{st.SourceID, st.LogType})
		if st.Status != store.StreamOK || st.Cursor != "" || st.ConsecutiveFailures != 0 || st.Events != 0 ||
			st.Quarantined != 0 || st.LeaseOwner != "" || !st.LeaseUntil.IsZero() || !st.LastPollAt.IsZero() ||
			!st.LastSuccessAt.IsZero() || !st.LastEventAt.IsZero() || st.LastError != "" {
			t.Errorf("new stream is not fresh: %+v", st)
		}
		if st.NextPollAt.Before(before) || st.NextPollAt.After(after) {
			t.Errorf("new stream due at %v, want at once (between %v and %v)", st.NextPollAt, before, after)
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

func testClaimDueOnly(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := base(sts[0])
	// Poll two streams, and schedule them at now+1m and now+2m.
	for i, st := range sts[:2] {
		claim(t, s, st, "me", now)
		if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", At: now,
			NextPollAt: now.Add(time.Duration(i+1) * time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.ClaimStreams(ctx, "p", now, 10*time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{sts[2].ID}, claimIDs(got)); diff != "" {
		t.Errorf("claim at now (-want +got):\n%s", diff)
	}
	// At now+1m the first is due; the third is leased.
	got, err = s.ClaimStreams(ctx, "q", now.Add(time.Minute), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{sts[0].ID}, claimIDs(got)); diff != "" {
		t.Errorf("claim at now+1m (-want +got):\n%s", diff)
	}
	// Before its first due time nothing is due.
	_, fresh := newSource(t, s, "fresh")
	got, err = s.ClaimStreams(ctx, "r", fresh[0].NextPollAt.Add(-time.Second), time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range got {
		if g.SourceID == fresh[0].SourceID {
			t.Errorf("claimed stream %d a second before it was due", g.ID)
		}
	}
}

func testClaimSkipsStopped(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := base(sts[0])
	st := claim(t, s, sts[0], "me", now)
	if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", At: now, NextPollAt: now,
		Err: "401: token revoked", Stopped: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimStreams(ctx, "p", now.Add(time.Hour), time.Minute, 10)
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

func testClaimLiveLeaseBlocks(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := base(sts[0])
	a, err := s.ClaimStreams(ctx, "a", now, time.Minute, 10)
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
	for _, owner := range []string{"b", "a"} {
		got, err := s.ClaimStreams(ctx, owner, now.Add(59*time.Second), time.Minute, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 0 {
			t.Errorf("%s claimed %v under a's live lease", owner, claimIDs(got))
		}
	}
	// Once the lease expires (a crashed), b can take over.
	b, err := s.ClaimStreams(ctx, "b", now.Add(time.Minute), 2*time.Minute, 10)
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

func testClaimMax(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := base(sts[0])
	// Give the streams distinct due times, latest first.
	due := map[int64]time.Time{}
	for i, st := range sts {
		claim(t, s, st, "me", now)
		due[st.ID] = now.Add(time.Duration(len(sts)-i) * time.Second)
		if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", At: now, NextPollAt: due[st.ID]}); err != nil {
			t.Fatal(err)
		}
	}
	later := now.Add(time.Hour)
	if got, err := s.ClaimStreams(ctx, "p", later, time.Minute, 0); err != nil || len(got) != 0 {
		t.Errorf("max 0 claimed %v, %v", claimIDs(got), err)
	}
	got, err := s.ClaimStreams(ctx, "p", later, time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The longest overdue first.
	if diff := cmp.Diff([]int64{sts[2].ID, sts[1].ID}, claimIDs(got)); diff != "" {
		t.Errorf("claim max 2 (-want +got):\n%s", diff)
	}
	rest, err := s.ClaimStreams(ctx, "q", later, time.Minute, 2)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{sts[0].ID}, claimIDs(rest)); diff != "" {
		t.Errorf("second claim (-want +got):\n%s", diff)
	}
}

func testClaimStream(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := base(sts[0])
	st := claim(t, s, sts[0], "me", now)
	// Not due and stopped: ClaimStream takes it anyway (the operator asked).
	if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", At: now,
		NextPollAt: now.Add(time.Hour), Err: "403", Stopped: true}); err != nil {
		t.Fatal(err)
	}
	got, err := s.ClaimStream(ctx, st.ID, "pull", now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if got.LeaseOwner != "pull" || !got.LeaseUntil.Equal(now.Add(time.Minute)) || got.Status != store.StreamStopped {
		t.Errorf("ClaimStream = %+v", got)
	}
	// Another owner is refused while the lease lives; the holder may renew.
	if _, err := s.ClaimStream(ctx, st.ID, "other", now.Add(30*time.Second), time.Minute); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ClaimStream under another's live lease: err = %v, want ErrLeaseLost", err)
	}
	if got, err := s.ClaimStream(ctx, st.ID, "pull", now.Add(30*time.Second), time.Minute); err != nil ||
		!got.LeaseUntil.Equal(now.Add(90*time.Second)) {
		t.Errorf("holder's re-claim = %v, %v", got.LeaseUntil, err)
	}
	if got, err := s.ClaimStream(ctx, st.ID, "other", now.Add(90*time.Second), time.Minute); err != nil || got.LeaseOwner != "other" {
		t.Errorf("ClaimStream after expiry = %+v, %v", got, err)
	}
}

func testExtendLease(t *testing.T, s store.Store) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	now := base(sts[0])
	st := claim(t, s, sts[0], "me", now)
	until := now.Add(10 * time.Minute)
	if err := s.ExtendLease(ctx, st.ID, "me", until); err != nil {
		t.Fatal(err)
	}
	if got := stream(t, s, st.ID); !got.LeaseUntil.Equal(until) || got.LeaseOwner != "me" {
		t.Errorf("after ExtendLease: %q until %v, want me until %v", got.LeaseOwner, got.LeaseUntil, until)
	}
	// The extension holds off another poller past the first expiry.
	if got, _ := s.ClaimStreams(ctx, "other", now.Add(5*time.Minute), time.Minute, 10); len(got) != 2 {
		t.Errorf("claimed %d streams, want the 2 not leased", len(got))
	}
	if err := s.ExtendLease(ctx, st.ID, "other", now.Add(time.Hour)); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("ExtendLease by a non-holder: err = %v, want ErrLeaseLost", err)
	}
	if got := stream(t, s, st.ID); !got.LeaseUntil.Equal(until) {
		t.Errorf("a refused ExtendLease moved the lease to %v", got.LeaseUntil)
	}
}
