package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opwatch/opwatch/internal/store"
)

// What health reads of a source round-trips through every way in and out;
// the store keeps what it is given (0: off), the source service defaults.
func testSourceHealthFields(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	exp := c.Now().Add(30*24*time.Hour + 123*time.Microsecond)
	src := &store.Source{Name: "acme", Interval: time.Minute, TokenExpiresAt: exp, NoEventsAlarm: 24 * time.Hour}
	if err := s.CreateSource(ctx, src, logTypes); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSource(ctx, &store.Source{Name: "off", Interval: time.Minute}, nil); err != nil {
		t.Fatal(err)
	}
	check := func(when string, want store.Source) {
		t.Helper()
		byID, err := s.SourceByID(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		byName, err := s.SourceByName(ctx, want.Name)
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.ListSources(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ignore := cmpopts.IgnoreFields(store.Source{}, "UpdatedAt")
		for what, got := range map[string]store.Source{"SourceByID": byID, "SourceByName": byName, "ListSources": list[0]} {
			if diff := cmp.Diff(want, got, ignore); diff != "" {
				t.Errorf("%s: %s (-want +got):\n%s", when, what, diff)
			}
		}
	}
	check("created", *src)
	if off, err := s.SourceByName(ctx, "off"); err != nil || off.NoEventsAlarm != 0 || !off.TokenExpiresAt.IsZero() {
		t.Errorf("a source created without them: alarm %v, expiry %v, %v; want off and none", off.NoEventsAlarm, off.TokenExpiresAt, err)
	}
	for _, ch := range []struct {
		exp   time.Time
		alarm time.Duration
	}{
		{time.Time{}, 15 * time.Minute},
		{exp.Add(time.Hour), 30 * 24 * time.Hour},
		{exp, 0},
	} {
		up := *src
		up.TokenExpiresAt, up.NoEventsAlarm = ch.exp, ch.alarm
		if err := s.UpdateSource(ctx, store.SourceChange{Source: up}); err != nil {
			t.Fatal(err)
		}
		check("updated", up)
	}
}

// LastStoredAt is the store's time of the last commit that inserted an
// event into the stream: a page of duplicates, or of quarantined events
// only, leaves it.
func testLastStoredAt(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	at := c.Now().Add(-48 * time.Hour) // old events: ingest time is what counts
	st := claim(t, s, streamOf(t, sts, signin), "me")
	if got := stream(t, s, st.ID).LastStoredAt; !got.IsZero() {
		t.Fatalf("a new stream's LastStoredAt = %v, want zero", got)
	}
	page := evs(st, "a", 2, at)
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "1", Events: page})
	stored := c.Now()
	if got := stream(t, s, st.ID).LastStoredAt; !got.Equal(stored) {
		t.Errorf("after a page: LastStoredAt = %v, want the store's now %v", got, stored)
	}
	c.Advance(time.Hour)
	st = claim(t, s, st, "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "2", Events: page,
		Quarantine: []store.Quarantined{{Raw: []byte("{"), Reason: "bad"}}})
	if _, err := s.InsertEvents(ctx, st.ID, page[:1], nil); err != nil {
		t.Fatal(err)
	}
	if got := stream(t, s, st.ID).LastStoredAt; !got.Equal(stored) {
		t.Errorf("after duplicates only: LastStoredAt = %v, want %v still", got, stored)
	}
	c.Advance(time.Hour)
	if _, err := s.InsertEvents(ctx, st.ID, append(page, evs(st, "b", 1, at)...), nil); err != nil {
		t.Fatal(err)
	}
	if got := stream(t, s, st.ID).LastStoredAt; !got.Equal(c.Now()) {
		t.Errorf("after InsertEvents with a new event: LastStoredAt = %v, want %v", got, c.Now())
	}
	for _, other := range sts {
		if other.ID != st.ID && !stream(t, s, other.ID).LastStoredAt.IsZero() {
			t.Errorf("stream %s got a LastStoredAt without events", other.LogType)
		}
	}
}

func testLatestSeq(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	if seq, err := s.LatestSeq(ctx); err != nil || seq != 0 {
		t.Errorf("LatestSeq of an empty store = %d, %v; want 0", seq, err)
	}
	evts := seedEvents(t, s, "acme", signin, 5, 2, c.Now().Add(-time.Hour))
	if seq, err := s.LatestSeq(ctx); err != nil || seq != evts[4].Seq {
		t.Errorf("LatestSeq = %d, %v; want %d", seq, err, evts[4].Seq)
	}
}
