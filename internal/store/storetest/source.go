package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

func testSourceCRUD(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	src := &store.Source{
		Name: "acme", AccountUUID: "VZSYVT2LGHTBWBQGUJAIZVRABM", Region: "eu", BaseURL: "https://events.example.test", APIVersion: 1,
		InsecureSkipVerify: true, AllowOtherHost: true, AllowInsecure: true, Interval: 90 * time.Second, Lookback: 36 * time.Hour, Token: []byte{0, 1, 2, 0xff},
	}
	if err := s.CreateSource(ctx, src, logTypes); err != nil {
		t.Fatal(err)
	}
	if src.ID == "" {
		t.Fatal("CreateSource set no ID")
	}
	if !src.CreatedAt.Equal(c.Now()) || !src.UpdatedAt.Equal(src.CreatedAt) {
		t.Errorf("CreatedAt %v, UpdatedAt %v: want both the store's time of the call, %v", src.CreatedAt, src.UpdatedAt, c.Now())
	}
	byName, err := s.SourceByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*src, byName); diff != "" {
		t.Errorf("SourceByName differs from what was created (-want +got):\n%s", diff)
	}
	byID, err := s.SourceByID(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(*src, byID); diff != "" {
		t.Errorf("SourceByID differs (-want +got):\n%s", diff)
	}

	// IDs are distinct, and ListSources orders by name.
	for _, name := range []string{"zeta", "beta"} {
		if err := s.CreateSource(ctx, &store.Source{Name: name, Interval: time.Minute}, nil); err != nil {
			t.Fatal(err)
		}
	}
	list, err := s.ListSources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	ids := map[string]bool{}
	for _, l := range list {
		names = append(names, l.Name)
		ids[l.ID] = true
	}
	if diff := cmp.Diff([]string{"acme", "beta", "zeta"}, names); diff != "" {
		t.Errorf("ListSources names (-want +got):\n%s", diff)
	}
	if len(ids) != 3 {
		t.Errorf("source IDs are not distinct: %v", ids)
	}
	if diff := cmp.Diff(*src, list[0]); diff != "" {
		t.Errorf("ListSources[0] differs (-want +got):\n%s", diff)
	}

	// A source without a token reads back without one.
	beta, err := s.SourceByName(ctx, "beta")
	if err != nil {
		t.Fatal(err)
	}
	if len(beta.Token) != 0 {
		t.Errorf("token = %q, want none", beta.Token)
	}
}

func testSourceDuplicateName(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	first, _ := newSource(t, s, "acme")
	dup := &store.Source{Name: "acme", Region: "ca", Token: []byte("other")}
	err := s.CreateSource(ctx, dup, logTypes)
	if !errors.Is(err, store.ErrExists) {
		t.Fatalf("second CreateSource(acme): err = %v, want ErrExists", err)
	}
	got, err := s.SourceByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(first, got); diff != "" {
		t.Errorf("the failed create changed the source (-want +got):\n%s", diff)
	}
	all, err := s.Streams(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(logTypes) {
		t.Errorf("%d streams after a failed create, want %d", len(all), len(logTypes))
	}
}

func testSourceNotFound(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	newSource(t, s, "acme")
	checks := map[string]error{}
	_, checks["SourceByName"] = s.SourceByName(ctx, "nope")
	_, checks["SourceByID"] = s.SourceByID(ctx, "00000000-0000-4000-8000-000000000000")
	checks["UpdateSource"] = s.UpdateSource(ctx, store.SourceChange{Source: store.Source{ID: "00000000-0000-4000-8000-000000000000", Name: "nope"},
		LogTypes: logTypes, ResumeStopped: true, DropCursors: true})
	checks["SetSourceAccount"] = s.SetSourceAccount(ctx, "00000000-0000-4000-8000-000000000000", "acct")
	checks["DeleteSource"] = s.DeleteSource(ctx, "00000000-0000-4000-8000-000000000000")
	_, checks["Stream"] = s.Stream(ctx, 987654)
	checks["ResetStream"] = s.ResetStream(ctx, 987654, nil)
	_, checks["InsertEvents"] = s.InsertEvents(ctx, 987654, nil, nil)
	_, checks["ClaimStream"] = s.ClaimStream(ctx, 987654, "me", time.Minute)
	for name, err := range checks {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of something missing: err = %v, want ErrNotFound", name, err)
		}
	}
	sts, err := s.Streams(ctx, "00000000-0000-4000-8000-000000000000")
	if err != nil || len(sts) != 0 {
		t.Errorf("Streams of an unknown source = %v, %v; want none, no error", sts, err)
	}
}

func testDeleteSourceKeepsEvents(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	other, _ := newSource(t, s, "other")
	st := streamOf(t, sts, signin)
	now := c.Now()
	st = claim(t, s, st, "me")
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c1",
		Events:     evs(st, "e", 3, now.Add(-time.Hour)),
		Quarantine: []store.Quarantined{{Raw: []byte(`{"bad":1}`), Reason: "timestamp: missing", At: now}},
	})
	if err := s.DeleteSource(ctx, src.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SourceByID(ctx, src.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("deleted source still found: %v", err)
	}
	if left, _ := s.Streams(ctx, src.ID); len(left) != 0 {
		t.Errorf("deleted source kept %d streams", len(left))
	}
	if _, err := s.Stream(ctx, st.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("stream of deleted source: err = %v, want ErrNotFound", err)
	}
	if n := count(t, s, signin, src.ID); n != 3 {
		t.Errorf("%d events of the deleted source left, want all 3", n)
	}
	if q, err := s.ListQuarantine(ctx, src.ID, 0); err != nil || len(q) != 1 {
		t.Errorf("quarantine of the deleted source = %d, %v; want 1 kept", len(q), err)
	}
	if left, _ := s.Streams(ctx, other.ID); len(left) != len(logTypes) {
		t.Errorf("the other source lost streams: %d left", len(left))
	}
	// The name is free again.
	if err := s.CreateSource(ctx, &store.Source{Name: "acme"}, logTypes); err != nil {
		t.Errorf("reuse of a deleted source's name: %v", err)
	}
	if err := s.DeleteSource(ctx, src.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: err = %v, want ErrNotFound", err)
	}
}
