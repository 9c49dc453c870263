package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

func newUser(t *testing.T, s store.Store, name, role string) store.User {
	t.Helper()
	u := store.User{Name: name, Role: role, PasswordHash: "$argon2id$hash-of-" + name}
	if err := s.CreateUser(context.Background(), &u); err != nil {
		t.Fatalf("CreateUser(%s): %v", name, err)
	}
	return u
}

// A user round-trips; the store stamps creation with its clock; changes
// land and a removed user is gone.
func testUserCRUD(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	bob := newUser(t, s, "bob", "analyst")
	alice := newUser(t, s, "alice", "admin")
	if bob.ID == "" || bob.ID == alice.ID {
		t.Fatalf("ids %q and %q: want distinct, set by the store", bob.ID, alice.ID)
	}
	if c.moves() && (!bob.CreatedAt.Equal(c.Now()) || !bob.UpdatedAt.Equal(c.Now())) {
		t.Errorf("created %v, updated %v; want the store's clock %v", bob.CreatedAt, bob.UpdatedAt, c.Now())
	}
	given := store.User{ID: "u-given", Name: "carol", Role: "analyst", PasswordHash: "h"}
	if err := s.CreateUser(ctx, &given); err != nil || given.ID != "u-given" {
		t.Fatalf("CreateUser with an id: %v, id %q", err, given.ID)
	}
	got, err := s.UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != bob.ID || got.Role != "analyst" || got.PasswordHash != bob.PasswordHash || !got.LastLoginAt.IsZero() ||
		!got.CreatedAt.Equal(bob.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Errorf("UserByName: %+v; want %+v in UTC", got, bob)
	}
	if got, err := s.UserByID(ctx, alice.ID); err != nil || got.Name != "alice" || got.Role != "admin" {
		t.Errorf("UserByID: %+v, %v", got, err)
	}
	us, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 3 || us[0].Name != "alice" || us[1].Name != "bob" || us[2].Name != "carol" {
		t.Fatalf("ListUsers: %+v; want alice, bob, carol", us)
	}

	c.Advance(time.Minute)
	if err := s.SetUserRole(ctx, bob.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetUserPassword(ctx, bob.ID, "new-hash"); err != nil {
		t.Fatal(err)
	}
	login := Start.Add(3*time.Hour + 123456*time.Microsecond)
	if err := s.RecordLogin(ctx, bob.ID, login); err != nil {
		t.Fatal(err)
	}
	got, err = s.UserByName(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got.Role != "admin" || got.PasswordHash != "new-hash" || !got.LastLoginAt.Equal(login) || !got.CreatedAt.Equal(bob.CreatedAt) {
		t.Errorf("after role, password and sign-in: %+v", got)
	}
	if c.moves() && !got.UpdatedAt.Equal(c.Now()) {
		t.Errorf("updated %v; want %v", got.UpdatedAt, c.Now())
	}

	if err := s.DeleteUser(ctx, bob.ID); err != nil {
		t.Fatal(err)
	}
	for name, err := range map[string]error{
		"UserByName":      func() error { _, err := s.UserByName(ctx, "bob"); return err }(),
		"UserByID":        func() error { _, err := s.UserByID(ctx, bob.ID); return err }(),
		"DeleteUser":      s.DeleteUser(ctx, bob.ID),
		"SetUserPassword": s.SetUserPassword(ctx, bob.ID, "x"),
		"SetUserRole":     s.SetUserRole(ctx, bob.ID, "analyst"),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s of a removed user: %v; want ErrNotFound", name, err)
		}
	}
}

// Names are unique among users, and among tokens.
func testAuthUniqueNames(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	newUser(t, s, "alice", "admin")
	dup := store.User{Name: "alice", Role: "analyst", PasswordHash: "h"}
	if err := s.CreateUser(ctx, &dup); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second alice: %v; want ErrExists", err)
	}
	if us, _ := s.ListUsers(ctx); len(us) != 1 || us[0].Role != "admin" {
		t.Errorf("after the refused user: %+v", us)
	}
	tok := store.APIToken{Name: "ci", Role: "analyst", Hash: "h1", Last4: "abcd"}
	if err := s.CreateToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	dupTok := store.APIToken{Name: "ci", Role: "admin", Hash: "h2", Last4: "efgh"}
	if err := s.CreateToken(ctx, &dupTok); !errors.Is(err, store.ErrExists) {
		t.Errorf("a second token ci: %v; want ErrExists", err)
	}
	sameHash := store.APIToken{Name: "other", Role: "admin", Hash: "h1", Last4: "abcd"}
	if err := s.CreateToken(ctx, &sameHash); !errors.Is(err, store.ErrExists) {
		t.Errorf("a token with a stored hash: %v; want ErrExists", err)
	}
}

// A session lives until its idle end or its absolute end, by the time the
// caller passes (never the store's clock); a touch moves the idle end;
// purge deletes exactly the ended ones.
func testSessionExpiry(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	u := newUser(t, s, "alice", "analyst")
	// Far from the store's clock: only the caller's time may count.
	t0 := time.Date(2031, 5, 1, 8, 0, 0, 0, time.UTC)
	se := store.Session{Hash: "hash-a", UserID: u.ID, CreatedAt: t0, SeenAt: t0, IdleUntil: t0.Add(12 * time.Hour), ExpiresAt: t0.Add(7 * 24 * time.Hour)}
	if err := s.CreateSession(ctx, se); err != nil {
		t.Fatal(err)
	}
	short := store.Session{Hash: "hash-b", UserID: u.ID, CreatedAt: t0, SeenAt: t0, IdleUntil: t0.Add(12 * time.Hour), ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateSession(ctx, short); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, se); !errors.Is(err, store.ErrExists) {
		t.Errorf("a session with a stored hash: %v; want ErrExists", err)
	}
	live := func(hash string, now time.Time) bool {
		t.Helper()
		_, _, err := s.Session(ctx, hash, now)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	got, gu, err := s.Session(ctx, "hash-a", t0.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if !sameSession(got, se) || gu.ID != u.ID || gu.Name != "alice" || gu.Role != "analyst" {
		t.Errorf("Session: %+v of %+v; want %+v of alice", got, gu, se)
	}
	if live("hash-a", t0.Add(12*time.Hour)) {
		t.Error("a session is live at its idle end")
	}
	if !live("hash-a", t0.Add(12*time.Hour-time.Microsecond)) {
		t.Error("a session ended before its idle end")
	}
	if live("hash-b", t0.Add(time.Hour)) || !live("hash-b", t0.Add(59*time.Minute)) {
		t.Error("the absolute end is not where it was set")
	}
	if live("nope", t0) {
		t.Error("a session that was never created is live")
	}

	// A touch moves the idle end (the caller keeps it within ExpiresAt).
	t1 := t0.Add(11 * time.Hour)
	if err := s.TouchSession(ctx, "hash-a", t1, t1.Add(12*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !live("hash-a", t0.Add(20*time.Hour)) {
		t.Error("a touched session ended at its old idle end")
	}
	if got, _, _ := s.Session(ctx, "hash-a", t1); !got.SeenAt.Equal(t1) || !got.IdleUntil.Equal(t1.Add(12*time.Hour)) {
		t.Errorf("after the touch: %+v", got)
	}
	if err := s.TouchSession(ctx, "gone", t1, t1); err != nil {
		t.Errorf("touching no session: %v", err)
	}

	// Purge at t0+2h: hash-b ended (absolute), hash-a lives.
	n, err := s.PurgeSessions(ctx, t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PurgeSessions: %d, %v; want 1", n, err)
	}
	if live("hash-b", t0) || !live("hash-a", t0.Add(2*time.Hour)) {
		t.Error("purge deleted the wrong sessions")
	}
	if err := s.DeleteSession(ctx, "hash-a"); err != nil {
		t.Fatal(err)
	}
	if live("hash-a", t0) {
		t.Error("a deleted session is live")
	}
	if err := s.DeleteSession(ctx, "hash-a"); err != nil {
		t.Errorf("deleting it again: %v; want nil", err)
	}
}

// Sessions go with their user, and with a new password; none can be made
// for a user who does not exist. A role change shows in the session's user.
func testSessionCascade(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	alice := newUser(t, s, "alice", "analyst")
	bob := newUser(t, s, "bob", "analyst")
	t0 := Start
	mk := func(hash, user string) error {
		return s.CreateSession(ctx, store.Session{Hash: hash, UserID: user, CreatedAt: t0, SeenAt: t0,
			IdleUntil: t0.Add(time.Hour), ExpiresAt: t0.Add(time.Hour)})
	}
	for _, h := range []string{"a1", "a2"} {
		if err := mk(h, alice.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := mk("b1", bob.ID); err != nil {
		t.Fatal(err)
	}
	if err := mk("x", "no-such-user"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a session of no user: %v; want ErrNotFound", err)
	}
	if err := s.SetUserRole(ctx, bob.ID, "admin"); err != nil {
		t.Fatal(err)
	}
	if _, u, err := s.Session(ctx, "b1", t0); err != nil || u.Role != "admin" {
		t.Errorf("bob's session after he became admin: role %q, %v", u.Role, err)
	}
	if err := s.SetUserPassword(ctx, bob.ID, "new"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Session(ctx, "b1", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("bob's session after a new password: %v; want ErrNotFound", err)
	}
	if err := s.DeleteUser(ctx, alice.ID); err != nil {
		t.Fatal(err)
	}
	// A user created again under the same name is another user.
	again := newUser(t, s, "alice", "admin")
	for _, h := range []string{"a1", "a2"} {
		if _, _, err := s.Session(ctx, h, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("session %s of the removed alice: %v; want ErrNotFound", h, err)
		}
	}
	if n, err := s.PurgeSessions(ctx, t0.Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("PurgeSessions after the cascade: %d, %v; want 0 left to purge", n, err)
	}
	if again.ID == alice.ID {
		t.Error("the new alice took the removed one's id")
	}
}

// A token is found by its hash until it expires (by the caller's now);
// it lists by name without being found by anything else, records its last
// use and is gone once revoked.
func testTokens(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	t0 := time.Date(2031, 5, 1, 8, 0, 0, 0, time.UTC)
	ci := store.APIToken{Name: "ci", Role: "analyst", Hash: "hash-ci", Last4: "wxyz", CreatedBy: "alice"}
	if err := s.CreateToken(ctx, &ci); err != nil {
		t.Fatal(err)
	}
	tmp := store.APIToken{ID: "tok-given", Name: "admin-tmp", Role: "admin", Hash: "hash-tmp", Last4: "abcd", CreatedBy: "cli",
		ExpiresAt: t0.Add(24 * time.Hour)}
	if err := s.CreateToken(ctx, &tmp); err != nil {
		t.Fatal(err)
	}
	if ci.ID == "" || tmp.ID != "tok-given" {
		t.Errorf("ids %q, %q: want one made, the given one kept", ci.ID, tmp.ID)
	}
	if c.moves() && !ci.CreatedAt.Equal(c.Now()) {
		t.Errorf("created %v; want the store's clock %v", ci.CreatedAt, c.Now())
	}
	got, err := s.TokenByHash(ctx, "hash-ci", t0.Add(100*365*24*time.Hour))
	if err != nil {
		t.Fatalf("a token without expiry, a century on: %v", err)
	}
	if got.ID != ci.ID || got.Name != "ci" || got.Role != "analyst" || got.Last4 != "wxyz" || got.CreatedBy != "alice" ||
		!got.ExpiresAt.IsZero() || !got.LastUsedAt.IsZero() || !got.CreatedAt.Equal(ci.CreatedAt) {
		t.Errorf("TokenByHash: %+v; want %+v", got, ci)
	}
	if got, err := s.TokenByHash(ctx, "hash-tmp", t0.Add(24*time.Hour-time.Microsecond)); err != nil || got.Role != "admin" ||
		!got.ExpiresAt.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("before its expiry: %+v, %v", got, err)
	}
	if _, err := s.TokenByHash(ctx, "hash-tmp", t0.Add(24*time.Hour)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("at its expiry: %v; want ErrNotFound", err)
	}
	for _, h := range []string{"", "HASH-CI", "hash-c", ci.ID, "ci"} {
		if _, err := s.TokenByHash(ctx, h, t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("TokenByHash(%q): %v; want ErrNotFound", h, err)
		}
	}
	used := t0.Add(5 * time.Minute)
	if err := s.TouchToken(ctx, ci.ID, used); err != nil {
		t.Fatal(err)
	}
	ts, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 2 || ts[0].Name != "admin-tmp" || ts[1].Name != "ci" || !ts[1].LastUsedAt.Equal(used) || ts[1].Hash != "hash-ci" {
		t.Fatalf("ListTokens: %+v; want admin-tmp, ci (used at %v)", ts, used)
	}
	if err := s.DeleteToken(ctx, ci.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TokenByHash(ctx, "hash-ci", t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a revoked token: %v; want ErrNotFound", err)
	}
	if err := s.DeleteToken(ctx, ci.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoking it again: %v; want ErrNotFound", err)
	}
	if err := s.TouchToken(ctx, ci.ID, used); err != nil {
		t.Errorf("touching a revoked token: %v; want nil", err)
	}
	if ts, _ := s.ListTokens(ctx); len(ts) != 1 || ts[0].ID != "tok-given" {
		t.Errorf("after the revoke: %+v", ts)
	}
}

func sameSession(a, b store.Session) bool {
	return a.Hash == b.Hash && a.UserID == b.UserID && a.CreatedAt.Equal(b.CreatedAt) && a.SeenAt.Equal(b.SeenAt) &&
		a.IdleUntil.Equal(b.IdleUntil) && a.ExpiresAt.Equal(b.ExpiresAt)
}
