package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

func testCreateSourceGivenID(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	const id = "5b0e1f6a-3c2d-4e8f-9a7b-1c2d3e4f5a6b"
	src := &store.Source{ID: id, Name: "acme", Interval: time.Minute, Token: []byte("sealed for " + id)}
	if err := s.CreateSource(ctx, src, logTypes); err != nil {
		t.Fatal(err)
	}
	if src.ID != id {
		t.Errorf("CreateSource replaced the given ID %s with %s", id, src.ID)
	}
	got, err := s.SourceByID(ctx, id)
	if err != nil || got.Name != "acme" {
		t.Fatalf("SourceByID(given id) = %+v, %v", got, err)
	}
	if sts, _ := s.Streams(ctx, id); len(sts) != len(logTypes) {
		t.Errorf("%d streams under the given id, want %d", len(sts), len(logTypes))
	}
	// The id is taken now, under any name.
	if err := s.CreateSource(ctx, &store.Source{ID: id, Name: "other"}, logTypes); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateSource with a taken id: err = %v, want ErrExists", err)
	}
	if _, err := s.SourceByName(ctx, "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused create left a source: %v", err)
	}
}

func testUpdateSource(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	newSource(t, s, "other")
	c.Advance(time.Second) // UpdatedAt must move
	upd := src
	upd.Region, upd.BaseURL, upd.APIVersion, upd.InsecureSkipVerify, upd.AllowOtherHost, upd.AllowInsecure = "ca", "https://x.test", 1, true, true, true
	upd.Interval, upd.Lookback, upd.Token, upd.AccountUUID = 10*time.Second, 0, []byte("new sealed token"), "acct-new"
	if err := s.UpdateSource(ctx, store.SourceChange{Source: upd}); err != nil {
		t.Fatal(err)
	}
	got, err := s.SourceByID(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	upd.UpdatedAt = c.Now()
	if diff := cmp.Diff(upd, got); diff != "" {
		t.Errorf("updated source reads back different (-want +got):\n%s", diff)
	}
	if !got.CreatedAt.Equal(src.CreatedAt) {
		t.Errorf("CreatedAt moved from %v to %v", src.CreatedAt, got.CreatedAt)
	}

	// A rename works; a rename onto another source's name does not.
	upd.Name = "renamed"
	if err := s.UpdateSource(ctx, store.SourceChange{Source: upd}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SourceByName(ctx, "renamed"); err != nil {
		t.Errorf("renamed source not found by its new name: %v", err)
	}
	if _, err := s.SourceByName(ctx, "acme"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old name still finds the source: %v", err)
	}
	upd.Name = "other"
	if err := s.UpdateSource(ctx, store.SourceChange{Source: upd}); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto a taken name: err = %v, want ErrExists", err)
	}
	// Without LogTypes, ResumeStopped or DropCursors the streams are untouched.
	after, err := s.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(sts, after); diff != "" {
		t.Errorf("UpdateSource changed the streams (-want +got):\n%s", diff)
	}
}

// testUpdateSourceLogTypes: the log types enable, create and disable
// streams; a disabled stream keeps its cursor and counts, and comes back
// due at once when enabled again.
func testUpdateSourceLogTypes(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	src := &store.Source{Name: "acme", AccountUUID: "acct", Interval: time.Minute}
	if err := s.CreateSource(ctx, src, []string{signin, usage}); err != nil {
		t.Fatal(err)
	}
	sts, _ := s.Streams(ctx, src.ID)
	for _, st := range sts {
		if !st.Enabled {
			t.Errorf("new stream %s is not enabled", st.LogType)
		}
	}
	st := claim(t, s, streamOf(t, sts, signin), "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "kept", Events: evs(st, "e", 2, c.Now())})
	finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: c.Now().Add(time.Hour)})

	// Only usage and audit now: signin is disabled, audit created.
	if err := s.UpdateSource(ctx, store.SourceChange{Source: *src, LogTypes: []string{usage, audit}}); err != nil {
		t.Fatal(err)
	}
	sts, _ = s.Streams(ctx, src.ID)
	enabled := map[string]bool{}
	for _, st := range sts {
		enabled[st.LogType] = st.Enabled
	}
	if diff := cmp.Diff(map[string]bool{signin: false, usage: true, audit: true}, enabled); diff != "" {
		t.Errorf("streams enabled after LogTypes [usage audit] (-want +got):\n%s", diff)
	}
	off := streamOf(t, sts, signin)
	if off.Cursor != "kept" || off.Events != 2 {
		t.Errorf("disabled stream: cursor %q, %d events; want them kept", off.Cursor, off.Events)
	}
	// A disabled stream is never claimed, however overdue.
	c.Advance(2 * time.Hour)
	claimed, err := s.ClaimStreams(ctx, "p", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if containsStream(claimed, off.ID) {
		t.Error("ClaimStreams claimed a disabled stream")
	}
	if len(claimed) != 2 {
		t.Errorf("claimed %d streams, want the 2 enabled", len(claimed))
	}
	for _, cl := range claimed {
		finish(t, s, store.PollOutcome{StreamID: cl.ID, LeaseOwner: "p", NextPollAt: c.Now().Add(time.Hour)})
	}

	// Enabled again: due at once, cursor kept.
	if err := s.UpdateSource(ctx, store.SourceChange{Source: *src, LogTypes: logTypes}); err != nil {
		t.Fatal(err)
	}
	on := stream(t, s, off.ID)
	if !on.Enabled || on.Cursor != "kept" || on.Events != 2 {
		t.Errorf("enabled again: %+v", on)
	}
	claimed, err = s.ClaimStreams(ctx, "p", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int64{off.ID}, claimIDs(claimed)); diff != "" {
		t.Errorf("claim after enabling (-want +got):\n%s", diff)
	}

	// An empty list disables every stream; nil leaves them as they are.
	if err := s.UpdateSource(ctx, store.SourceChange{Source: *src, LogTypes: []string{}}); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateSource(ctx, store.SourceChange{Source: *src}); err != nil {
		t.Fatal(err)
	}
	sts, _ = s.Streams(ctx, src.ID)
	for _, st := range sts {
		if st.Enabled {
			t.Errorf("stream %s enabled after LogTypes [] and then nil", st.LogType)
		}
	}
}

func testUpdateSourceResumeStopped(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	stopped := claim(t, s, streamOf(t, sts, signin), "me")
	finish(t, s, store.PollOutcome{StreamID: stopped.ID, LeaseOwner: "me", NextPollAt: c.Now().Add(48 * time.Hour),
		Err: "401: token revoked", Stopped: true})
	failing := claim(t, s, streamOf(t, sts, usage), "me")
	finish(t, s, store.PollOutcome{StreamID: failing.ID, LeaseOwner: "me", NextPollAt: c.Now().Add(time.Hour), Err: "503"})
	c.Advance(time.Minute)
	if err := s.UpdateSource(ctx, store.SourceChange{Source: src, ResumeStopped: true}); err != nil {
		t.Fatal(err)
	}
	got := stream(t, s, stopped.ID)
	if got.Status != store.StreamOK || got.ConsecutiveFailures != 0 || !got.NextPollAt.Equal(c.Now()) {
		t.Errorf("stopped stream after ResumeStopped: %+v; want ok and due now", got)
	}
	if got := stream(t, s, failing.ID); got.Status != store.StreamError || !got.NextPollAt.Equal(c.Now().Add(59*time.Minute)) {
		t.Errorf("a failing (not stopped) stream was changed: %+v", got)
	}
	claimed, err := s.ClaimStreams(ctx, "p", time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	if !containsStream(claimed, stopped.ID) {
		t.Error("resumed stream not claimable")
	}
}

func testUpdateSourceDropCursors(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	other, osts := newSource(t, s, "other")
	for _, st := range append(sts, osts...) {
		claim(t, s, st, "me")
		mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "old endpoint's", Events: evs(st, "e", 1, c.Now())})
		finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: c.Now().Add(time.Hour)})
	}
	c.Advance(time.Minute)
	src.BaseURL = "https://events.new.test"
	if err := s.UpdateSource(ctx, store.SourceChange{Source: src, DropCursors: true}); err != nil {
		t.Fatal(err)
	}
	after, _ := s.Streams(ctx, src.ID)
	for _, st := range after {
		if st.Cursor != "" || !st.NextPollAt.Equal(c.Now()) || st.Events != 1 || st.LastEventAt.IsZero() {
			t.Errorf("stream %s after DropCursors: cursor %q, due %v, %d events, last event %v; want no cursor, due now, the rest kept",
				st.LogType, st.Cursor, st.NextPollAt, st.Events, st.LastEventAt)
		}
	}
	for _, st := range mustStreams(t, s, other.ID) {
		if st.Cursor != "old endpoint's" {
			t.Errorf("another source's cursor was dropped: %q", st.Cursor)
		}
	}
	if got, _ := s.SourceByID(ctx, src.ID); got.BaseURL != "https://events.new.test" {
		t.Errorf("base URL = %q", got.BaseURL)
	}
}

func mustStreams(t *testing.T, s store.Store, sourceID string) []store.Stream {
	t.Helper()
	sts, err := s.Streams(context.Background(), sourceID)
	if err != nil {
		t.Fatal(err)
	}
	return sts
}

// testUpdateSourceAtomic: a change refused at its last step (a taken name)
// leaves the source and every stream as they were.
func testUpdateSourceAtomic(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	newSource(t, s, "taken")
	st := claim(t, s, streamOf(t, sts, signin), "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1"})
	finish(t, s, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: c.Now().Add(time.Hour), Err: "401", Stopped: true})
	wantSrc, err := s.SourceByID(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStreams := mustStreams(t, s, src.ID)

	upd := src
	upd.Name, upd.Token, upd.BaseURL = "taken", []byte("new token"), "https://elsewhere.test"
	err = s.UpdateSource(ctx, store.SourceChange{Source: upd, LogTypes: []string{audit, "OnePassword.New"}, ResumeStopped: true, DropCursors: true})
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("UpdateSource onto a taken name: err = %v, want ErrExists", err)
	}
	got, err := s.SourceByID(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantSrc, got); diff != "" {
		t.Errorf("a refused change changed the source (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantStreams, mustStreams(t, s, src.ID)); diff != "" {
		t.Errorf("a refused change changed the streams (-want +got):\n%s", diff)
	}
	// A cancelled context changes nothing either.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	upd.Name = "fresh"
	if err := s.UpdateSource(cctx, store.SourceChange{Source: upd, LogTypes: []string{audit}, ResumeStopped: true, DropCursors: true}); err == nil {
		t.Fatal("UpdateSource with a cancelled context succeeded")
	}
	if diff := cmp.Diff(wantStreams, mustStreams(t, s, src.ID)); diff != "" {
		t.Errorf("a cancelled change changed the streams (-want +got):\n%s", diff)
	}
}

func testSetSourceAccount(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	src := &store.Source{Name: "acme", Interval: time.Minute, Token: []byte("sealed")}
	if err := s.CreateSource(ctx, src, logTypes); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSourceAccount(ctx, src.ID, "VZSYVT2LGHTBWBQGUJAIZVRABM"); err != nil {
		t.Fatal(err)
	}
	got, err := s.SourceByID(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := *src
	want.AccountUUID = "VZSYVT2LGHTBWBQGUJAIZVRABM"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after SetSourceAccount (-want +got):\n%s", diff)
	}
}
