package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

func testCommitPage(t *testing.T, s store.Store, c *Clock) {
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, signin)
	now := c.Now()
	st = claim(t, s, st, "me")
	t1 := now.Add(-3 * time.Hour)
	page := []store.Event{ev(st, "a", t1), ev(st, "b", t1.Add(time.Minute)), ev(st, "c", t1.Add(2*time.Minute))}
	res := mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1", Events: page})
	if diff := cmp.Diff(store.CommitResult{Inserted: 3}, res); diff != "" {
		t.Errorf("CommitPage result (-want +got):\n%s", diff)
	}
	got := stream(t, s, st.ID)
	if got.Cursor != "c1" || got.Events != 3 || !got.LastEventAt.Equal(t1.Add(2*time.Minute)) {
		t.Errorf("stream after commit: cursor %q, events %d, last event %v", got.Cursor, got.Events, got.LastEventAt)
	}
	if got.LeaseOwner != "me" || !got.LeaseUntil.Equal(st.LeaseUntil) {
		t.Errorf("a commit changed the lease: %q until %v", got.LeaseOwner, got.LeaseUntil)
	}
	if n := count(t, s, signin, src.ID); n != 3 {
		t.Errorf("%d events stored, want 3", n)
	}
	if n := count(t, s, usage, ""); n != 0 {
		t.Errorf("%d events under another log type, want 0", n)
	}

	// An empty page still moves the cursor and keeps the rest.
	res = mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c2"})
	if res != (store.CommitResult{}) {
		t.Errorf("empty page result = %+v", res)
	}
	got = stream(t, s, st.ID)
	if got.Cursor != "c2" || got.Events != 3 || !got.LastEventAt.Equal(t1.Add(2*time.Minute)) {
		t.Errorf("after empty page: cursor %q, events %d, last event %v", got.Cursor, got.Events, got.LastEventAt)
	}
}

func testCommitPageFencing(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, usage)
	now := c.Now()
	st = claim(t, s, st, "a") // until now+1m
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "a", Cursor: "c1", Events: evs(st, "first", 2, now)})
	want := stream(t, s, st.ID)

	page := func(owner string) store.PageCommit {
		return store.PageCommit{StreamID: st.ID, LeaseOwner: owner, Cursor: "stolen",
			Events:     evs(st, "lost-"+owner, 5, now),
			Quarantine: []store.Quarantined{{Raw: []byte("{}"), Reason: "lost", At: now}}}
	}
	refused := func(what string, pc store.PageCommit) {
		t.Helper()
		if _, err := s.CommitPage(ctx, pc); !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("%s: err = %v, want ErrLeaseLost", what, err)
		}
		if diff := cmp.Diff(want, stream(t, s, st.ID)); diff != "" {
			t.Errorf("%s changed the stream (-want +got):\n%s", what, diff)
		}
		if n := count(t, s, usage, src.ID); n != 2 {
			t.Errorf("%s: %d events stored, want the first 2 only", what, n)
		}
		if q, _ := s.ListQuarantine(ctx, "", 0); len(q) != 0 {
			t.Errorf("%s stored %d quarantined events", what, len(q))
		}
	}
	c.Advance(time.Second)
	refused("commit by another owner", page("b"))
	refused("commit without an owner", page(""))
	c.Advance(59 * time.Second)
	refused("commit at the lease's end", page("a"))
	c.Advance(time.Hour)
	refused("commit after the lease's end", page("a"))

	// b takes the expired lease over; a's late commit must not land.
	b, err := s.ClaimStreams(ctx, "b", time.Minute, 10)
	if err != nil || !containsStream(b, st.ID) {
		t.Fatalf("b's claim: %v, %v", claimIDs(b), err)
	}
	want = stream(t, s, st.ID)
	refused("commit by the previous owner", page("a"))
	res := mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "b", Cursor: "c2", Events: evs(st, "b", 1, now)})
	if res.Inserted != 1 {
		t.Errorf("b's commit inserted %d, want 1", res.Inserted)
	}

	// After FinishPoll the stream is not leased: no commit lands.
	if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "b", NextPollAt: c.Now().Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	want = stream(t, s, st.ID)
	if _, err := s.CommitPage(ctx, page("b")); !errors.Is(err, store.ErrLeaseLost) {
		t.Errorf("commit after FinishPoll: err = %v, want ErrLeaseLost", err)
	}
	if diff := cmp.Diff(want, stream(t, s, st.ID)); diff != "" {
		t.Errorf("commit after FinishPoll changed the stream (-want +got):\n%s", diff)
	}
}

func testCommitPageAtomic(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, audit)
	now := c.Now()
	st = claim(t, s, st, "me")
	want := stream(t, s, st.ID)
	// One bad event (no uuid) in the middle fails the whole page.
	page := evs(st, "ok", 10, now)
	page[5].UUID = ""
	if _, err := s.CommitPage(ctx, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1", Events: page,
		Quarantine: []store.Quarantined{{Raw: []byte("x"), Reason: "r", At: now}}}); err == nil {
		t.Fatal("a page with an event without uuid was committed")
	}
	// So does a cancelled context.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.CommitPage(cctx, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1", Events: evs(st, "ok", 10, now)}); err == nil {
		t.Fatal("commit with a cancelled context succeeded")
	}
	if n := count(t, s, audit, src.ID); n != 0 {
		t.Errorf("failed commits stored %d events", n)
	}
	if q, _ := s.ListQuarantine(ctx, "", 0); len(q) != 0 {
		t.Errorf("failed commits stored %d quarantined events", len(q))
	}
	if diff := cmp.Diff(want, stream(t, s, st.ID)); diff != "" {
		t.Errorf("failed commits changed the stream (-want +got):\n%s", diff)
	}
}

func testDuplicates(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	other, osts := newSource(t, s, "other")
	st := streamOf(t, sts, signin)
	now := c.Now()
	st = claim(t, s, st, "me")
	at := now.Add(-time.Hour)
	page1 := evs(st, "e", 5, at) // e-0..e-4
	commit := func(cursor string, events []store.Event) store.CommitResult {
		t.Helper()
		return mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: cursor, Events: events})
	}
	if res := commit("c1", page1); res != (store.CommitResult{Inserted: 5}) {
		t.Errorf("page 1: %+v", res)
	}
	// Overlap with page 1, plus a duplicate inside the page.
	e := evs(st, "e", 6, at)
	page2 := []store.Event{e[3], e[4], e[5], e[5]}
	if res := commit("c2", page2); res != (store.CommitResult{Inserted: 1, Duplicates: 3}) {
		t.Errorf("overlapping page: %+v, want 1 inserted, 3 duplicates", res)
	}
	// A replayed page inserts nothing.
	if res := commit("c1", page1); res != (store.CommitResult{Duplicates: 5}) {
		t.Errorf("replayed page: %+v, want 5 duplicates", res)
	}
	// InsertEvents (a re-scan) shares the same identity.
	res, err := s.InsertEvents(ctx, st.ID, []store.Event{e[0], ev(st, "e-6", at.Add(6*time.Millisecond))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.CommitResult{Inserted: 1, Duplicates: 1}) {
		t.Errorf("re-scan: %+v, want 1 inserted, 1 duplicate", res)
	}
	if n := count(t, s, signin, src.ID); n != 7 {
		t.Errorf("%d events stored, want 7", n)
	}
	if got := stream(t, s, st.ID); got.Events != 7 || got.Cursor != "c1" {
		t.Errorf("stream counts %d events at cursor %q, want 7 at c1", got.Events, got.Cursor)
	}
	// The same uuids in another log type, or another source, are other events.
	for _, o := range []store.Stream{streamOf(t, sts, usage), streamOf(t, osts, signin)} {
		res, err := s.InsertEvents(ctx, o.ID, evs(o, "e", 5, at), nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Inserted != 5 {
			t.Errorf("same uuids in %s of %s: inserted %d, want 5", o.LogType, o.SourceID, res.Inserted)
		}
	}
	if n := count(t, s, signin, other.ID); n != 5 {
		t.Errorf("other source: %d events, want 5", n)
	}
}

func testInsertEvents(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, audit)
	now := c.Now()
	// No lease needed, and a lease held by someone else is left alone.
	leased := claim(t, s, st, "poller")
	res, err := s.InsertEvents(ctx, st.ID, evs(st, "x", 4, now.Add(-time.Hour)),
		[]store.Quarantined{{Raw: []byte(`{"uuid":1}`), Reason: "uuid: not a string", At: now}})
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.CommitResult{Inserted: 4, Quarantined: 1}) {
		t.Errorf("InsertEvents = %+v", res)
	}
	got := stream(t, s, st.ID)
	if got.Cursor != "" || got.Events != 4 || got.Quarantined != 1 || !got.LastEventAt.Equal(now.Add(-time.Hour+3*time.Millisecond)) {
		t.Errorf("after InsertEvents: cursor %q, events %d, quarantined %d, last event %v", got.Cursor, got.Events, got.Quarantined, got.LastEventAt)
	}
	if got.LeaseOwner != "poller" || !got.LeaseUntil.Equal(leased.LeaseUntil) {
		t.Errorf("InsertEvents touched the lease: %q until %v", got.LeaseOwner, got.LeaseUntil)
	}
	if n := count(t, s, audit, src.ID); n != 4 {
		t.Errorf("%d events stored, want 4", n)
	}
}

func testLastEventAt(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, usage)
	now := c.Now()
	st = claim(t, s, st, "me")
	t0 := now.Add(-10 * time.Hour)
	// The newest event counts, not the last one of the page.
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1",
		Events: []store.Event{ev(st, "a", t0.Add(2*time.Hour)), ev(st, "b", t0.Add(5*time.Hour)), ev(st, "c", t0.Add(time.Hour))}})
	check := func(want time.Time) {
		t.Helper()
		if got := stream(t, s, st.ID).LastEventAt; !got.Equal(want) {
			t.Errorf("LastEventAt = %v, want %v", got, want)
		}
	}
	check(t0.Add(5 * time.Hour))
	// Late (older) events do not move it back, from a page or a re-scan.
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c2", Events: []store.Event{ev(st, "late", t0)}})
	if _, err := s.InsertEvents(ctx, st.ID, []store.Event{ev(st, "older", t0.Add(-time.Hour))}, nil); err != nil {
		t.Fatal(err)
	}
	check(t0.Add(5 * time.Hour))
	if _, err := s.InsertEvents(ctx, st.ID, []store.Event{ev(st, "newer", t0.Add(6*time.Hour))}, nil); err != nil {
		t.Fatal(err)
	}
	check(t0.Add(6 * time.Hour))
}

func testQuarantine(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	other, osts := newSource(t, s, "other")
	st := streamOf(t, sts, signin)
	now := c.Now()
	st = claim(t, s, st, "me")
	q1 := store.Quarantined{Raw: []byte(`{"uuid":"q1"}`), Reason: "timestamp: missing", At: now}
	q2 := store.Quarantined{Raw: []byte("not json \xff\x00"), Reason: "not a JSON object", At: now.Add(time.Second)}
	res := mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1",
		Events: evs(st, "ok", 2, now), Quarantine: []store.Quarantined{q1, q2}})
	if res != (store.CommitResult{Inserted: 2, Quarantined: 2}) {
		t.Errorf("CommitPage = %+v", res)
	}
	ost := streamOf(t, osts, audit)
	q3 := store.Quarantined{Raw: []byte(`{"uuid":"q3"}`), Reason: "action: unknown", At: now.Add(2 * time.Second)}
	if _, err := s.InsertEvents(ctx, ost.ID, nil, []store.Quarantined{q3}); err != nil {
		t.Fatal(err)
	}
	all, err := s.ListQuarantine(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[int64]bool{}
	for i := range all {
		if all[i].ID == 0 || ids[all[i].ID] {
			t.Errorf("quarantined ID %d is zero or repeated", all[i].ID)
		}
		ids[all[i].ID] = true
		all[i].ID = 0
	}
	// Newest first; source and log type are the stream's.
	q1.SourceID, q1.LogType = src.ID, signin
	q2.SourceID, q2.LogType = src.ID, signin
	q3.SourceID, q3.LogType = other.ID, audit
	if diff := cmp.Diff([]store.Quarantined{q3, q2, q1}, all); diff != "" {
		t.Errorf("ListQuarantine (-want +got):\n%s", diff)
	}
	mine, err := s.ListQuarantine(ctx, src.ID, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 2 || mine[0].Reason != q2.Reason {
		t.Errorf("ListQuarantine(acme) = %+v, want q2, q1", mine)
	}
	if top, _ := s.ListQuarantine(ctx, "", 1); len(top) != 1 || top[0].Reason != q3.Reason {
		t.Errorf("ListQuarantine limit 1 = %+v, want q3", top)
	}
	if got := stream(t, s, st.ID); got.Quarantined != 2 || got.Events != 2 {
		t.Errorf("stream counts %d events, %d quarantined; want 2, 2", got.Events, got.Quarantined)
	}
	if got := stream(t, s, ost.ID); got.Quarantined != 1 {
		t.Errorf("other stream counts %d quarantined, want 1", got.Quarantined)
	}
}

// testLargePage stores pages of many sizes, where engines split inserts into
// chunks, and checks that every event is counted once.
func testLargePage(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, signin)
	now := c.Now()
	var total int64
	next := 0
	for _, n := range []int{1, 2, 7, 255, 256, 257, 511, 512, 513, 1000, 1025, 2500} {
		page := make([]store.Event, n)
		for i := range page {
			page[i] = ev(st, fmt.Sprintf("u%06d", next+i), now.Add(-time.Duration(next+i)*time.Millisecond))
		}
		// Replay a third of the previous events in each page too.
		var dups []store.Event
		for i := 0; i < next && len(dups) < n/3; i += 3 {
			dups = append(dups, ev(st, fmt.Sprintf("u%06d", i), now.Add(-time.Duration(i)*time.Millisecond)))
		}
		res, err := s.InsertEvents(ctx, st.ID, append(page, dups...), nil)
		if err != nil {
			t.Fatalf("page of %d: %v", n, err)
		}
		if res.Inserted != n || res.Duplicates != len(dups) {
			t.Errorf("page of %d (+%d old): inserted %d, duplicates %d", n, len(dups), res.Inserted, res.Duplicates)
		}
		next += n
		total += int64(n)
	}
	if got := count(t, s, signin, src.ID); got != total {
		t.Errorf("%d events stored, want %d", got, total)
	}
	if got := stream(t, s, st.ID).Events; got != total {
		t.Errorf("stream counts %d events, want %d", got, total)
	}
	if got := queryInt(t, s, "SELECT count(DISTINCT p_row_id) FROM "+viewOf[signin]); got != total {
		t.Errorf("%d distinct rows, want %d", got, total)
	}
}
