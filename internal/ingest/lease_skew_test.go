package ingest_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// skewed is an ingester of the harness whose clock is off by skew.
func (h *harness) skewed(owner string, skew time.Duration) *ingest.Ingester {
	return ingest.New(ingest.Config{
		Store: h.st, Secrets: h.box, Owner: owner,
		Now:   func() time.Time { return h.clock.Now().Add(skew) },
		Retry: onepassword.RetryPolicy{MaxAttempts: 3, Base: time.Millisecond, Cap: time.Millisecond},
	})
}

func TestSkewedClockCannotTakeOverALiveLease(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 29, Events: 300, Span: 6 * time.Hour})
	src := h.addSource("acme", h.token(""))
	for _, s := range h.streams(src) {
		if _, err := h.st.ClaimStream(h.ctx, s.ID, "live-poller", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	// A replica whose clock runs six hours ahead would see that lease as
	// long expired, if it judged by its own clock.
	results, err := h.skewed("fast-replica", 6*time.Hour).Pull(h.ctx, []string{src.ID})
	if err == nil {
		t.Fatal("a skewed replica pulled streams leased by a live poller")
	}
	for _, r := range results {
		if !errors.Is(r.Err, store.ErrLeaseLost) || r.Inserted != 0 {
			t.Errorf("%s: err %v, inserted %d; want the lease refused", r.Stream.LogType, r.Err, r.Inserted)
		}
	}
	for lt, s := range h.streams(src) {
		if s.LeaseOwner != "live-poller" || s.Events != 0 {
			t.Errorf("%s: lease owner %q, %d events; the live lease must stand", lt, s.LeaseOwner, s.Events)
		}
	}
}

func TestPollCannotCommitAfterItsLeaseWasTakenOver(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 31, Events: 300, Span: 6 * time.Hour})
	src := h.addSource("acme", h.token(""))
	stream := h.streams(src)["OnePassword.SignInAttempt"]
	claimed, err := h.st.ClaimStream(h.ctx, stream.ID, "slow-replica", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// The lease ends on the store's clock and another poller takes the
	// stream; by the first poller's clock, six hours behind, its lease
	// would still have hours to run.
	h.clock.Advance(2 * time.Minute)
	if _, err := h.st.ClaimStream(h.ctx, stream.ID, "other", time.Minute); err != nil {
		t.Fatalf("taking over an expired lease: %v", err)
	}
	res := h.skewed("slow-replica", -6*time.Hour).Poll(h.ctx, claimed, false)
	if !errors.Is(res.Err, store.ErrLeaseLost) || res.Inserted != 0 {
		t.Fatalf("poll after its lease was taken over: err %v, inserted %d; want the lease lost", res.Err, res.Inserted)
	}
	s := h.streams(src)["OnePassword.SignInAttempt"]
	if s.Events != 0 || s.Cursor != "" || s.LeaseOwner != "other" {
		t.Errorf("events %d cursor %q owner %q; the stale poller must not commit or release", s.Events, s.Cursor, s.LeaseOwner)
	}
}

// TestSkewedClockSchedulesOnTheStoresClock: a replica whose clock is off
// by hours schedules the next poll within the interval of the store's now,
// not of its own (else a fast clock leaves streams unpolled for hours).
func TestSkewedClockSchedulesOnTheStoresClock(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 59, Events: 200, Span: 6 * time.Hour})
	src := h.addSource("acme", h.token(""))
	for i, skew := range []time.Duration{6 * time.Hour, -6 * time.Hour} {
		owner := fmt.Sprintf("replica-%d", i)
		in := h.skewed(owner, skew)
		stream := h.streams(src)["OnePassword.SignInAttempt"]
		claimed, err := h.st.ClaimStream(h.ctx, stream.ID, owner, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if res := in.Poll(h.ctx, claimed, false); res.Err != nil {
			t.Fatal(res.Err)
		}
		s := h.streams(src)["OnePassword.SignInAttempt"]
		now := h.clock.Now()
		if !s.NextPollAt.After(now.Add(-time.Second)) || s.NextPollAt.After(now.Add(time.Minute+time.Second)) {
			t.Errorf("clock off by %v: next poll at %v, %v from the store's now; want within the 1m interval",
				skew, s.NextPollAt, s.NextPollAt.Sub(now))
		}
	}
}
