package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/opwatch/opwatch/internal/store"
)

// newDestination stores an enabled webhook destination named name, with the
// given ID.
func newDestination(t *testing.T, s store.Store, id, name string) store.Destination {
	t.Helper()
	d := store.Destination{ID: id, Name: name, Type: store.DestWebhook, MinSeverity: "LOW", Enabled: true,
		Settings: json.RawMessage(`{}`), Secret: []byte("sealed-" + name)}
	if err := s.CreateDestination(context.Background(), &d); err != nil {
		t.Fatalf("CreateDestination(%s): %v", name, err)
	}
	return d
}

// sameDestination compares destinations with Settings as JSON values
// (engines may format JSON their own way).
func sameDestination(t *testing.T, what string, want, got store.Destination) {
	t.Helper()
	if !jsonEqual(string(got.Settings), string(want.Settings)) && !(len(want.Settings) == 0 && len(got.Settings) == 0) {
		t.Errorf("%s: settings %s, want %s", what, got.Settings, want.Settings)
	}
	want.Settings, got.Settings = nil, nil
	if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

func testDestinationCRUD(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	d := store.Destination{ID: store.NewID(), Name: "soc", Type: store.DestSlack, MinSeverity: "MEDIUM",
		AlertTypes: []string{store.AlertRule, store.AlertSystemError},
		Settings:   json.RawMessage(`{"url":"https://proxy.example.test","to":["a@example.com"],"smtp_port":587}`),
		Secret:     []byte{0, 1, 2, 0xfe, 0xff, 0}, Enabled: true}
	given := d.ID
	if err := s.CreateDestination(ctx, &d); err != nil {
		t.Fatal(err)
	}
	if d.ID != given {
		t.Errorf("CreateDestination changed the given ID %s to %s", given, d.ID)
	}
	if !d.CreatedAt.Equal(c.Now()) || !d.UpdatedAt.Equal(c.Now()) {
		t.Errorf("CreatedAt %v, UpdatedAt %v: want the store's time of the call, %v", d.CreatedAt, d.UpdatedAt, c.Now())
	}
	got, err := s.DestinationByName(ctx, "soc")
	if err != nil {
		t.Fatal(err)
	}
	sameDestination(t, "DestinationByName", d, got)

	// Without settings, types or secret: they come back empty.
	bare := store.Destination{ID: store.NewID(), Name: "audit", Type: store.DestWebhook}
	if err := s.CreateDestination(ctx, &bare); err != nil {
		t.Fatal(err)
	}
	all, err := s.Destinations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all[0].Name != "audit" || all[1].Name != "soc" {
		t.Fatalf("Destinations = %+v, want audit and soc, by name", all)
	}
	if b := all[0]; len(b.AlertTypes) != 0 || len(b.Settings) != 0 || len(b.Secret) != 0 || b.Enabled || b.MinSeverity != "" {
		t.Errorf("a bare destination came back as %+v", b)
	}
	sameDestination(t, "Destinations[1]", d, all[1])

	// Update replaces every setting; CreatedAt stays, UpdatedAt moves.
	c.Advance(time.Minute)
	up := store.Destination{ID: d.ID, Name: "soc-eu", Type: store.DestTeams, MinSeverity: "HIGH",
		Settings: json.RawMessage(`{"region":"eu"}`), Secret: []byte("new"), Enabled: false, CreatedAt: d.CreatedAt}
	if err := s.UpdateDestination(ctx, up); err != nil {
		t.Fatal(err)
	}
	got, err = s.DestinationByName(ctx, "soc-eu")
	if err != nil {
		t.Fatal(err)
	}
	up.UpdatedAt = c.Now()
	sameDestination(t, "after UpdateDestination", up, got)
	if _, err := s.DestinationByName(ctx, "soc"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the old name after a rename: err = %v, want ErrNotFound", err)
	}

	if err := s.DeleteDestination(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DestinationByName(ctx, "soc-eu"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DestinationByName after delete: err = %v, want ErrNotFound", err)
	}
	if err := s.DeleteDestination(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DeleteDestination twice: err = %v, want ErrNotFound", err)
	}
	if err := s.UpdateDestination(ctx, up); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("UpdateDestination of a removed one: err = %v, want ErrNotFound", err)
	}
	if _, err := s.DestinationStats(ctx, d.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DestinationStats of a removed one: err = %v, want ErrNotFound", err)
	}
}

// Names are unique, on create and on rename; a refused change changes nothing.
func testDestinationNames(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	a := newDestination(t, s, store.NewID(), "a")
	b := newDestination(t, s, store.NewID(), "b")
	if err := s.CreateDestination(ctx, &store.Destination{ID: store.NewID(), Name: "a", Type: store.DestWebhook}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second destination named a: err = %v, want ErrExists", err)
	}
	if err := s.CreateDestination(ctx, &store.Destination{ID: a.ID, Name: "c", Type: store.DestWebhook}); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second destination with a's id: err = %v, want ErrExists", err)
	}
	renamed := b
	renamed.Name, renamed.Secret = "a", []byte("other")
	if err := s.UpdateDestination(ctx, renamed); !errors.Is(err, store.ErrExists) {
		t.Errorf("renaming b to a: err = %v, want ErrExists", err)
	}
	got, err := s.DestinationByName(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Secret) != "sealed-b" {
		t.Errorf("a refused rename changed the secret to %q", got.Secret)
	}
	if err := s.CreateDestination(ctx, &store.Destination{ID: store.NewID(), Type: store.DestWebhook}); err == nil {
		t.Error("a destination without a name was stored")
	}
	if all, _ := s.Destinations(ctx); len(all) != 2 {
		t.Errorf("%d destinations after refused creates, want 2", len(all))
	}
}

// Removing a destination drops its pending notifications; its sent and
// failed ones stay as the alerts' delivery record.
func testDeleteDestinationKeepsRecord(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	d := newDestination(t, s, "dest-1", "soc")
	other := newDestination(t, s, "dest-2", "other")
	raise(t, s, []store.Alert{sysAlert("A1", "")},
		notif("sent", "A1", d.ID), notif("failed", "A1", d.ID), notif("pending", "A1", d.ID), notif("kept", "A1", other.ID))
	ns := claimAll(t, s, "me")
	if len(ns) != 4 {
		t.Fatalf("claimed %d notifications, want 4", len(ns))
	}
	finishNotif(t, s, store.NotificationOutcome{ID: "sent", LeaseOwner: "me", Sent: true})
	finishNotif(t, s, store.NotificationOutcome{ID: "failed", LeaseOwner: "me", Failed: true, Err: "410 gone"})
	finishNotif(t, s, store.NotificationOutcome{ID: "pending", LeaseOwner: "me", Err: "503", NextAttempt: c.Now().Add(time.Minute)})
	finishNotif(t, s, store.NotificationOutcome{ID: "kept", LeaseOwner: "me", Err: "503", NextAttempt: c.Now().Add(time.Minute)})

	if err := s.DeleteDestination(ctx, d.ID); err != nil {
		t.Fatal(err)
	}
	if got := notifIDs(t, s, store.NotificationFilter{AlertID: "A1"}); !sameSet(got, []string{"sent", "failed", "kept"}) {
		t.Errorf("notifications after removing soc = %v, want sent, failed (its record) and kept (another destination's)", got)
	}
	// New notifications to it are not stored.
	raise(t, s, []store.Alert{sysAlert("A2", "")}, notif("late", "A2", d.ID))
	if got := notifIDs(t, s, store.NotificationFilter{AlertID: "A2"}); len(got) != 0 {
		t.Errorf("a notification to a removed destination was stored: %v", got)
	}
}

// testQueryRefusesDestinationSecret: a destination's sealed secret cannot be
// read through Query; the rest of it can.
func testQueryRefusesDestinationSecret(t *testing.T, s store.Store, _ *Clock) {
	ctx := context.Background()
	newDestination(t, s, store.NewID(), "soc")
	for _, q := range []string{
		"SELECT secret FROM destinations",
		"SELECT * FROM destinations",
		"SELECT id FROM destinations WHERE secret IS NOT NULL",
		"SELECT length(secret) FROM destinations",
		"WITH x AS (SELECT secret AS s FROM destinations) SELECT s FROM x",
	} {
		err := s.Query(ctx, q, func([]string, []any) error { return nil })
		if !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Query(%q) = %v; want ErrReadOnly", q, err)
		}
	}
	if n := queryInt(t, s, "SELECT count(*) FROM destinations WHERE name = 'soc'"); n != 1 {
		t.Errorf("%d destinations named soc, want 1", n)
	}
}
