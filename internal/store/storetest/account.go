package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// testAccountKey: an event is one event of one 1Password account, however
// many sources read it.
func testAccountKey(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts1 := newSourceOn(t, s, "acme", "ACCT")
	_, sts2 := newSourceOn(t, s, "acme-again", "ACCT")
	_, sts3 := newSourceOn(t, s, "elsewhere", "OTHER")
	at := c.Now().Add(-time.Hour)
	page := evs(streamOf(t, sts1, signin), "e", 4, at)
	insert := func(st store.Stream, events []store.Event) store.CommitResult {
		t.Helper()
		res, err := s.InsertEvents(ctx, st.ID, events, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := insert(streamOf(t, sts1, signin), page); res != (store.CommitResult{Inserted: 4}) {
		t.Errorf("first source: %+v, want 4 inserted", res)
	}
	// A second source on the same account stores none of them again, and
	// counts them as duplicates; a page it commits under its lease too.
	second := streamOf(t, sts2, signin)
	if res := insert(second, page); res != (store.CommitResult{Duplicates: 4}) {
		t.Errorf("second source on the account: %+v, want 4 duplicates", res)
	}
	second = claim(t, s, second, "me")
	res, err := s.CommitPage(ctx, store.PageCommit{StreamID: second.ID, LeaseOwner: "me", Cursor: "c",
		Events: append(page[2:], ev(second, "new", at.Add(time.Minute)))})
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.CommitResult{Inserted: 1, Duplicates: 2}) {
		t.Errorf("second source's page: %+v, want 1 inserted, 2 duplicates", res)
	}
	if got := stream(t, s, second.ID).Events; got != 1 {
		t.Errorf("second source's stream counts %d events, want the 1 it stored", got)
	}
	// Another account's events are other events, even with the same uuids.
	if res := insert(streamOf(t, sts3, signin), page); res != (store.CommitResult{Inserted: 4}) {
		t.Errorf("another account: %+v, want 4 inserted", res)
	}
	// Event.Account, when given, decides.
	given := ev(second, "e-0", at) // e-0 of ACCT is stored already
	given.Account = "THIRD"
	if res := insert(second, []store.Event{given}); res != (store.CommitResult{Inserted: 1}) {
		t.Errorf("the same uuid under an explicit other account: %+v, want 1 inserted", res)
	}
	if n := count(t, s, signin, ""); n != 4+1+4+1 {
		t.Errorf("%d events stored, want 10", n)
	}
	// Sources whose account is not known yet keep their events apart.
	for _, name := range []string{"unknown-1", "unknown-2"} {
		_, sts := newSourceOn(t, s, name, "")
		if res := insert(streamOf(t, sts, signin), page); res.Inserted != 4 {
			t.Errorf("%s (account unknown): %+v, want 4 inserted", name, res)
		}
	}
}

// testAccountKeyRecreatedSource: removing a source and adding it again (the
// same account) stores no event twice, as users expect of "remove, re-add".
func testAccountKeyRecreatedSource(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSourceOn(t, s, "acme", "ACCT")
	at := c.Now().Add(-time.Hour)
	page := evs(streamOf(t, sts, usage), "u", 5, at)
	if _, err := s.InsertEvents(ctx, streamOf(t, sts, usage).ID, page, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSource(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	again := &store.Source{Name: "acme", Interval: time.Minute, Token: []byte("sealed")}
	if err := s.CreateSource(ctx, again, logTypes); err != nil {
		t.Fatal(err)
	}
	// The account is learned after creation, before storing.
	if err := s.SetSourceAccount(ctx, again.ID, "ACCT"); err != nil {
		t.Fatal(err)
	}
	st := streamOf(t, mustStreams(t, s, again.ID), usage)
	res, err := s.InsertEvents(ctx, st.ID, append(page, ev(st, "u-new", at.Add(time.Second))), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res != (store.CommitResult{Inserted: 1, Duplicates: 5}) {
		t.Errorf("re-added source: %+v, want 1 inserted, 5 duplicates", res)
	}
	if n := count(t, s, usage, ""); n != 6 {
		t.Errorf("%d events stored, want 6", n)
	}
}
