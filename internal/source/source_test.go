package source

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/secret"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

type fixture struct {
	ctx context.Context
	st  store.Store
	box *secret.Box
	sv  *Service
	em  *emulator.Emulator
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := engine.Open(ctx, filepath.Join(t.TempDir(), "s.db"), engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	box, err := secret.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	em, err := emulator.Start(emulator.Options{Seed: 3, Events: 10, Span: time.Hour}, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { em.Close() })
	return &fixture{ctx: ctx, st: st, box: box, em: em, sv: New(st, Options{Box: box})}
}

func (f *fixture) token(t *testing.T, features ...string) string {
	t.Helper()
	tok, err := f.em.IssueToken(emulator.TokenOptions{Features: features})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) cfg(name string) config.Source {
	return config.Source{Name: name, BaseURL: f.em.URL()}
}

func (f *fixture) streams(t *testing.T, id string) map[string]store.Stream {
	t.Helper()
	sts, err := f.st.Streams(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]store.Stream{}
	for _, s := range sts {
		m[s.LogType] = s
	}
	return m
}

func TestAddCollectsWhatTheTokenGrants(t *testing.T) {
	f := newFixture(t)
	res, err := f.sv.Add(f.ctx, f.cfg("acme"), f.token(t, "signinattempts", "itemusages"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"OnePassword.SignInAttempt", "OnePassword.ItemUsage"}
	if !slices.Equal(res.LogTypes, want) {
		t.Errorf("log types %v, want %v", res.LogTypes, want)
	}
	if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, "auditevents") }) {
		t.Errorf("no note about the missing feature: %v", res.Notes)
	}
	streams := f.streams(t, res.Source.ID)
	for _, lt := range want {
		if !streams[lt].Enabled {
			t.Errorf("%s not collected", lt)
		}
	}
	if s, ok := streams["OnePassword.AuditEvent"]; ok && s.Enabled {
		t.Error("the audit stream is collected though the token lacks its feature")
	}
	if res.Source.AccountUUID == "" {
		t.Error("the account was not taken from the token's claim")
	}
}

func TestAddRefusesBeforeStoring(t *testing.T) {
	f := newFixture(t)
	none, err := f.em.IssueToken(emulator.TokenOptions{Features: []string{}})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cfg config.Source
		tok string
	}{
		"malformed token": {f.cfg("a"), "not-a-token"},
		"other host":      {config.Source{Name: "b", BaseURL: "https://events.1password.eu"}, f.token(t)},
		"no feature":      {f.cfg("c"), none},
	} {
		if _, err := f.sv.Add(f.ctx, tc.cfg, tc.tok); err == nil {
			t.Errorf("%s: added", name)
		} else if strings.Contains(err.Error(), tc.tok) {
			t.Errorf("%s: the error shows the token", name)
		}
	}
	if srcs, _ := f.st.ListSources(f.ctx); len(srcs) != 0 {
		t.Errorf("%d sources stored after refusals", len(srcs))
	}
}

func TestUpdateNewTokenResumesStopped(t *testing.T) {
	f := newFixture(t)
	res, err := f.sv.Add(f.ctx, f.cfg("acme"), f.token(t))
	if err != nil {
		t.Fatal(err)
	}
	st := f.streams(t, res.Source.ID)["OnePassword.AuditEvent"]
	if _, err := f.st.ClaimStream(f.ctx, st.ID, "me", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := f.st.FinishPoll(f.ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: time.Now().Add(time.Hour),
		Err: "401: token revoked", Stopped: true}); err != nil {
		t.Fatal(err)
	}
	if got := f.streams(t, res.Source.ID)["OnePassword.AuditEvent"].Status; got != store.StreamStopped {
		t.Fatalf("status %s, want stopped", got)
	}
	// Settings alone do not resume it.
	iv := 30 * time.Second
	if _, err := f.sv.Update(f.ctx, "acme", Update{Interval: &iv}); err != nil {
		t.Fatal(err)
	}
	if got := f.streams(t, res.Source.ID)["OnePassword.AuditEvent"].Status; got != store.StreamStopped {
		t.Fatalf("a settings change resumed the stream: %s", got)
	}
	tok := f.token(t)
	up, err := f.sv.Update(f.ctx, "acme", Update{Token: &tok})
	if err != nil {
		t.Fatal(err)
	}
	if !up.Resumed {
		t.Error("Resumed not reported")
	}
	if got := f.streams(t, res.Source.ID)["OnePassword.AuditEvent"]; got.Status != store.StreamOK || got.NextPollAt.After(time.Now()) {
		t.Errorf("after a new token: status %s, next poll %s", got.Status, got.NextPollAt)
	}
}

func TestUpdateEndpointDropsCursors(t *testing.T) {
	f := newFixture(t)
	res, err := f.sv.Add(f.ctx, f.cfg("acme"), f.token(t))
	if err != nil {
		t.Fatal(err)
	}
	st := f.streams(t, res.Source.ID)["OnePassword.SignInAttempt"]
	if _, err := f.st.ClaimStream(f.ctx, st.ID, "me", time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CommitPage(f.ctx, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "old-cursor"}); err != nil {
		t.Fatal(err)
	}
	if err := f.st.FinishPoll(f.ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: "me", NextPollAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	iv := 20 * time.Second
	if up, err := f.sv.Update(f.ctx, "acme", Update{Interval: &iv}); err != nil || up.DroppedCursors {
		t.Fatalf("interval change: %v, dropped cursors %v", err, up.DroppedCursors)
	}
	if c := f.streams(t, res.Source.ID)["OnePassword.SignInAttempt"].Cursor; c != "old-cursor" {
		t.Fatalf("an interval change touched the cursor: %q", c)
	}
	v1 := 1
	up, err := f.sv.Update(f.ctx, "acme", Update{APIVersion: &v1})
	if err != nil {
		t.Fatal(err)
	}
	if !up.DroppedCursors {
		t.Error("DroppedCursors not reported")
	}
	if c := f.streams(t, res.Source.ID)["OnePassword.SignInAttempt"].Cursor; c != "" {
		t.Errorf("the v2 cursor was kept for the v1 endpoint: %q", c)
	}
}

func TestUpdateRenameAndLogTypes(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sv.Add(f.ctx, f.cfg("other"), f.token(t)); err != nil {
		t.Fatal(err)
	}
	res, err := f.sv.Add(f.ctx, f.cfg("acme"), f.token(t))
	if err != nil {
		t.Fatal(err)
	}
	taken := "other"
	if _, err := f.sv.Update(f.ctx, "acme", Update{Name: &taken}); !errors.Is(err, store.ErrExists) {
		t.Errorf("rename onto a used name: %v", err)
	}
	name := "acme-eu"
	if _, err := f.sv.Update(f.ctx, "acme", Update{Name: &name, LogTypes: []string{"OnePassword.AuditEvent"}}); err != nil {
		t.Fatal(err)
	}
	got, err := f.st.SourceByName(f.ctx, "acme-eu")
	if err != nil || got.ID != res.Source.ID {
		t.Fatalf("renamed source: %v %v", got.ID, err)
	}
	if _, err := f.sv.OpenToken(got); err != nil {
		t.Errorf("token after rename: %v", err)
	}
	streams := f.streams(t, got.ID)
	if !streams["OnePassword.AuditEvent"].Enabled || streams["OnePassword.SignInAttempt"].Enabled {
		t.Errorf("log types not applied: %+v", streams)
	}
}

// A token is sealed bound to its source and where it is sent: settings
// changed in the database without the key make it unusable, so the token is
// never sent to a host the user did not choose.
func TestTokenBoundToEndpoint(t *testing.T) {
	f := newFixture(t)
	res, err := f.sv.Add(f.ctx, f.cfg("acme"), f.token(t))
	if err != nil {
		t.Fatal(err)
	}
	tampered := res.Source
	tampered.BaseURL = "http://attacker.example:8080"
	if err := f.st.UpdateSource(f.ctx, store.SourceChange{Source: tampered}); err != nil {
		t.Fatal(err)
	}
	src, _ := f.st.SourceByName(f.ctx, "acme")
	if _, err := f.sv.OpenToken(src); !errors.Is(err, ErrTokenUnreadable) {
		t.Fatalf("a token whose endpoint was changed outside opwatch opened: %v", err)
	}
	// Another source's sealed token does not open as this one's either.
	other, err := f.sv.Add(f.ctx, f.cfg("other"), f.token(t))
	if err != nil {
		t.Fatal(err)
	}
	moved := other.Source
	moved.Token = res.Source.Token
	if _, err := f.sv.OpenToken(moved); !errors.Is(err, ErrTokenUnreadable) {
		t.Fatalf("a token moved to another source opened: %v", err)
	}
}

// A lost key: the old token cannot be opened, settings cannot change
// without a token, and a new token replaces it.
func TestLostKeyNewTokenReplaces(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sv.Add(f.ctx, f.cfg("acme"), f.token(t)); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	key[0] = 1
	other, _ := secret.New(key)
	sv := New(f.st, Options{Box: other})
	iv := 20 * time.Second
	if _, err := sv.Update(f.ctx, "acme", Update{Interval: &iv}); !errors.Is(err, ErrTokenUnreadable) {
		t.Fatalf("update without a token under a new key: %v", err)
	}
	tok := f.token(t)
	if _, err := sv.Update(f.ctx, "acme", Update{Token: &tok}); err != nil {
		t.Fatalf("a new token did not replace the unreadable one: %v", err)
	}
	src, _ := f.st.SourceByName(f.ctx, "acme")
	if got, err := sv.OpenToken(src); err != nil || string(got) != tok {
		t.Fatalf("the new token does not open: %v", err)
	}
}

func TestApplyIsIdempotent(t *testing.T) {
	f := newFixture(t)
	tok := f.token(t)
	if _, err := f.sv.Apply(f.ctx, f.cfg("coded"), tok, false); err != nil {
		t.Fatal(err)
	}
	src, _ := f.st.SourceByName(f.ctx, "coded")
	res, err := f.sv.Apply(f.ctx, f.cfg("coded"), tok, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Resumed || res.DroppedCursors || res.Created {
		t.Errorf("applying the same config again changed state: %+v", res)
	}
	again, _ := f.st.SourceByName(f.ctx, "coded")
	if again.ID != src.ID {
		t.Error("the source was recreated")
	}
}

// A new token is checked with 1Password before it is stored: a refused
// token is never stored, an unreachable server only when the caller is
// lenient (configuration at start) or asked for no check.
func TestNewTokenCheckedOnline(t *testing.T) {
	f := newFixture(t)
	revoked := f.token(t)
	f.em.Revoke(revoked)
	if _, err := f.sv.Add(f.ctx, f.cfg("revoked"), revoked); !errors.Is(err, ErrTokenRefused) {
		t.Errorf("a revoked token: %v, want ErrTokenRefused", err)
	}
	if _, err := f.sv.Apply(f.ctx, f.cfg("revoked"), revoked, false); !errors.Is(err, ErrTokenRefused) {
		t.Errorf("a revoked token from a config: %v, want ErrTokenRefused", err)
	}
	down := func(context.Context, *onepassword.Client) (onepassword.Introspection, error) {
		return onepassword.Introspection{}, &onepassword.Error{Kind: onepassword.Network, Message: "connection refused"}
	}
	offline := New(f.st, Options{Box: f.box, Introspect: down})
	if _, err := offline.Add(f.ctx, f.cfg("a"), f.token(t)); !errors.Is(err, ErrUnchecked) {
		t.Errorf("server down: %v, want ErrUnchecked", err)
	}
	res, err := offline.Apply(f.ctx, f.cfg("b"), f.token(t), false)
	if err != nil || len(res.Notes) == 0 {
		t.Errorf("server down, from a config: %v, notes %v; want stored with a note", err, res.Notes)
	}
	unchecked := New(f.st, Options{Box: f.box, Introspect: down, Check: CheckOffline})
	if _, err := unchecked.Add(f.ctx, f.cfg("c"), f.token(t)); err != nil {
		t.Errorf("no check asked: %v", err)
	}
	if srcs, _ := f.st.ListSources(f.ctx); len(srcs) != 2 {
		t.Errorf("%d sources stored, want b and c", len(srcs))
	}
}

// A source reads one account: a token of another is refused, since the
// events are keyed by account.
func TestUpdateRefusesAnotherAccount(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sv.Add(f.ctx, f.cfg("acme"), f.token(t)); err != nil {
		t.Fatal(err)
	}
	other, err := f.em.IssueToken(emulator.TokenOptions{Account: "other-account"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sv.Update(f.ctx, "acme", Update{Token: &other}); !errors.Is(err, ErrOtherAccount) {
		t.Errorf("a token of another account: %v, want ErrOtherAccount", err)
	}
}

// The no-events alarm is on at 24h by default, can be set or switched off
// by an update (only when asked), and the token's expiry is recorded from
// its claims on add and on a new token, so health can warn without the key.
func TestNoEventsAlarmAndTokenExpiry(t *testing.T) {
	f := newFixture(t)
	tok, err := f.em.IssueToken(emulator.TokenOptions{ExpiresIn: 20 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	claims, err := onepassword.ParseClaims(tok)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sv.Add(f.ctx, f.cfg("acme"), tok); err != nil {
		t.Fatal(err)
	}
	src, err := f.st.SourceByName(f.ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	if src.NoEventsAlarm != 24*time.Hour {
		t.Errorf("a new source's no-events alarm is %s, want 24h", src.NoEventsAlarm)
	}
	if !src.TokenExpiresAt.Equal(claims.ExpiresAt) || src.TokenExpiresAt.IsZero() {
		t.Errorf("TokenExpiresAt %s, want the token's exp %s", src.TokenExpiresAt, claims.ExpiresAt)
	}

	hour := time.Hour
	if _, err := f.sv.Update(f.ctx, "acme", Update{NoEventsAlarm: &hour}); err != nil {
		t.Fatal(err)
	}
	if src, _ = f.st.SourceByName(f.ctx, "acme"); src.NoEventsAlarm != time.Hour {
		t.Errorf("after update 1h: %s", src.NoEventsAlarm)
	}
	// An unrelated change keeps it.
	iv := 2 * time.Minute
	if _, err := f.sv.Update(f.ctx, "acme", Update{Interval: &iv}); err != nil {
		t.Fatal(err)
	}
	if src, _ = f.st.SourceByName(f.ctx, "acme"); src.NoEventsAlarm != time.Hour {
		t.Errorf("an interval change moved the alarm to %s", src.NoEventsAlarm)
	}
	off := time.Duration(0)
	if _, err := f.sv.Update(f.ctx, "acme", Update{NoEventsAlarm: &off}); err != nil {
		t.Fatal(err)
	}
	if src, _ = f.st.SourceByName(f.ctx, "acme"); src.NoEventsAlarm != 0 {
		t.Errorf("after off: %s", src.NoEventsAlarm)
	}
	short := 5 * time.Minute
	if _, err := f.sv.Update(f.ctx, "acme", Update{NoEventsAlarm: &short}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "15m to 30d") {
		t.Errorf("5m: %v, want ErrInvalid naming the range", err)
	}

	// A new token without exp clears the expiry.
	never := f.token(t)
	if _, err := f.sv.Update(f.ctx, "acme", Update{Token: &never}); err != nil {
		t.Fatal(err)
	}
	if src, _ = f.st.SourceByName(f.ctx, "acme"); !src.TokenExpiresAt.IsZero() {
		t.Errorf("a token without exp left TokenExpiresAt %s", src.TokenExpiresAt)
	}
	// Sources as code: the file's setting, else 24h.
	c := f.cfg("acme")
	c.NoEventsAlarm = config.AlarmOff
	if _, err := f.sv.Apply(f.ctx, c, never, false); err != nil {
		t.Fatal(err)
	}
	if src, _ = f.st.SourceByName(f.ctx, "acme"); src.NoEventsAlarm != 0 {
		t.Errorf("apply off: %s", src.NoEventsAlarm)
	}
	if _, err := f.sv.Apply(f.ctx, f.cfg("acme"), never, false); err != nil {
		t.Fatal(err)
	}
	if src, _ = f.st.SourceByName(f.ctx, "acme"); src.NoEventsAlarm != 24*time.Hour {
		t.Errorf("apply without the setting: %s, want 24h", src.NoEventsAlarm)
	}
}

// A source stored before its token's expiry was recorded gets it from its
// token; one that has it is left alone.
func TestRecordExpiries(t *testing.T) {
	f := newFixture(t)
	tok, err := f.em.IssueToken(emulator.TokenOptions{ExpiresIn: 10 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.sv.Add(f.ctx, f.cfg("old"), tok); err != nil {
		t.Fatal(err)
	}
	if _, err := f.sv.Add(f.ctx, f.cfg("new"), tok); err != nil {
		t.Fatal(err)
	}
	old, _ := f.st.SourceByName(f.ctx, "old")
	want := old.TokenExpiresAt
	old.TokenExpiresAt = time.Time{} // as migrated from an older opwatch
	if err := f.st.UpdateSource(f.ctx, store.SourceChange{Source: old}); err != nil {
		t.Fatal(err)
	}
	changed, err := f.sv.RecordExpiries(f.ctx)
	if err != nil || len(changed) != 1 || changed[0] != "old" {
		t.Fatalf("RecordExpiries: %v %v, want [old]", changed, err)
	}
	if old, _ = f.st.SourceByName(f.ctx, "old"); !old.TokenExpiresAt.Equal(want) {
		t.Errorf("TokenExpiresAt %s, want %s", old.TokenExpiresAt, want)
	}
	// The token still opens (its binding did not move).
	if _, err := f.sv.OpenToken(old); err != nil {
		t.Error(err)
	}
	if changed, _ := f.sv.RecordExpiries(f.ctx); len(changed) != 0 {
		t.Errorf("second pass changed %v", changed)
	}
}

// A second source of an account already read is added with a note: each
// event is stored once, under whichever source reads it first.
func TestAddSameAccountNoted(t *testing.T) {
	f := newFixture(t)
	if _, err := f.sv.Add(f.ctx, f.cfg("first"), f.token(t)); err != nil {
		t.Fatal(err)
	}
	res, err := f.sv.Add(f.ctx, f.cfg("second"), f.token(t))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Notes, func(n string) bool { return strings.Contains(n, `"first" already reads this 1Password account`) }) {
		t.Errorf("no note about the account read twice: %v", res.Notes)
	}
}
