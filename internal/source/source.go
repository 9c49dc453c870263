// Package source is the source service: it adds, updates, removes and
// summarizes 1Password sources for the cli and the console alike. It holds
// the rules that span the store and the token: a token is sealed bound to
// its source and endpoint, is checked before anything is stored, a new token
// resumes stopped streams, and a new endpoint drops the cursors it cannot
// read, each change in one transaction.
package source

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// Box seals and opens tokens (package secret's Box).
type Box interface {
	Seal(plain, aad []byte) ([]byte, error)
	Open(sealed, aad []byte) ([]byte, error)
}

// Errors callers word for their users.
var (
	// ErrTokenUnreadable: the stored token cannot be opened (the key is lost
	// or changed, or the source's settings were changed outside opwatch).
	// A new token replaces it.
	ErrTokenUnreadable = errors.New("the stored token cannot be opened")
	// ErrNoBox: the service was built without the key, for reading only.
	ErrNoBox = errors.New("the key that seals tokens is not loaded")
	// ErrTokenRefused: 1Password refused the token; it is not stored.
	ErrTokenRefused = errors.New("1Password refused the token")
	// ErrUnchecked: the token could not be checked (the server did not
	// answer); it is not stored unless the caller asks not to check.
	ErrUnchecked = errors.New("the token could not be checked with 1Password")
	// ErrInvalid: the settings are not valid (the error says which).
	ErrInvalid = errors.New("invalid settings")
	// ErrOtherAccount: a new token reads another 1Password account than the
	// source's. Events are keyed by account, so that is another source.
	ErrOtherAccount = errors.New("the token is for another 1Password account")
)

// Check says how a new token is checked with 1Password before it is stored.
type Check int

const (
	// CheckOnline introspects the token: a token the server refuses, or a
	// server that cannot be reached, is not stored.
	CheckOnline Check = iota
	// CheckLenient refuses a token the server refuses, and stores one it
	// could not check (the server unreachable) with a note: configuration
	// applied at start must not depend on the network being up.
	CheckLenient
	// CheckOffline makes no request (the user said so).
	CheckOffline
)

// Options wire a Service. Box may be nil for a service that only reads.
type Options struct {
	Box    Box
	Logger *slog.Logger
	// Check is how Add and Update check a new token; Apply is lenient
	// unless this is CheckOffline.
	Check Check
	// Introspect asks 1Password about a token (its integration and
	// account); nil calls the Events API with a short timeout.
	Introspect func(ctx context.Context, c *onepassword.Client) (onepassword.Introspection, error)
	Now        func() time.Time
	// Names words settings in errors as the caller's users know them:
	// config.FlagName for the cli, config.YAMLName (the default) for files.
	Names config.Namer
}

// Service manages sources. It is safe for concurrent use.
type Service struct {
	store store.Sources
	o     Options
}

// New returns a Service over st.
func New(st store.Sources, o Options) *Service {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Names == nil {
		o.Names = config.YAMLName
	}
	if o.Introspect == nil {
		o.Introspect = func(ctx context.Context, c *onepassword.Client) (onepassword.Introspection, error) {
			ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			return c.Introspect(ctx)
		}
	}
	return &Service{store: st, o: o}
}

// Result says what an add or update did, for the caller to tell the user.
type Result struct {
	Source   store.Source
	Host     string // the base URL the token is sent to
	Claims   onepassword.Claims
	LogTypes []string // collected
	Created  bool
	// Resumed: stopped streams were made due again (a new token).
	Resumed bool
	// DroppedCursors: the endpoint changed; every stream re-reads from its
	// last event.
	DroppedCursors bool
	// Notes are facts worth telling (a feature the token lacks, a host that
	// differs from the token's, TLS not verified).
	Notes []string
}

// Client builds the API client for settings and a token, offline: it parses
// the token's claims and resolves the host, so a malformed token, a wrong
// region or an unexpected host is refused before anything is stored.
func Client(s config.Source, token string) (*onepassword.Client, error) {
	return onepassword.New(onepassword.Options{
		Token: token, Region: s.Region, BaseURL: s.BaseURL, APIVersion: s.APIVersion,
		InsecureSkipVerify: s.InsecureSkipVerify, AllowOtherHost: s.AllowOtherHost, AllowInsecure: s.AllowInsecure,
	})
}

// Add checks the token and stores a new source. Without explicit log types
// it collects those the token grants.
func (sv *Service) Add(ctx context.Context, s config.Source, token string) (Result, error) {
	return sv.add(ctx, s, token, sv.o.Check)
}

func (sv *Service) add(ctx context.Context, s config.Source, token string, check Check) (Result, error) {
	if sv.o.Box == nil {
		return Result{}, ErrNoBox
	}
	s.ApplyDefaults()
	if err := s.ValidateAs(sv.o.Names); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	client, err := Client(s, token)
	if err != nil {
		return Result{}, err
	}
	res := Result{Host: client.BaseURL(), Claims: client.Claims(), Created: true}
	if res.LogTypes, res.Notes, err = chooseLogTypes(s.LogTypes, client.Claims()); err != nil {
		return Result{}, err
	}
	res.Notes = append(res.Notes, endpointNotes(s, client)...)
	src := storeSource(s)
	src.ID = store.NewID()
	// Health warns before the token expires without opening it.
	src.TokenExpiresAt = client.Claims().ExpiresAt
	account, notes, err := sv.verify(ctx, client, check)
	if err != nil {
		return Result{}, err
	}
	src.AccountUUID = account
	res.Notes = append(res.Notes, notes...)
	if account != "" {
		// Allowed (a token per team, a rotation under way), but each event
		// is stored once, by whichever source reads it first: neither
		// source alone then shows the account's events.
		srcs, err := sv.store.ListSources(ctx)
		if err != nil {
			return Result{}, err
		}
		for _, o := range srcs {
			if o.AccountUUID == account {
				res.Notes = append(res.Notes, fmt.Sprintf("source %q already reads this 1Password account: each event is stored once, under whichever source reads it first; remove one of them unless you mean to rotate the token (source update --token-file)", o.Name))
			}
		}
	}
	if src.Token, err = sv.o.Box.Seal([]byte(token), src.Binding()); err != nil {
		return Result{}, fmt.Errorf("encrypt token: %w", err)
	}
	if err := sv.store.CreateSource(ctx, &src, res.LogTypes); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Result{}, fmt.Errorf("a source named %q: %w", s.Name, store.ErrExists)
		}
		return Result{}, err
	}
	res.Source = src
	sv.o.Logger.Debug("source added", "source", src.Name, "host", res.Host, "log_types", res.LogTypes)
	return res, nil
}

// verify asks 1Password about a new token and returns its account: the
// token's claim, else what introspection says, else "" (ingest learns it
// before it stores anything).
func (sv *Service) verify(ctx context.Context, c *onepassword.Client, check Check) (string, []string, error) {
	account := c.Claims().AccountUUID
	if check == CheckOffline {
		return account, []string{"the token was not checked with 1Password (no check asked)"}, nil
	}
	in, err := sv.o.Introspect(ctx, c)
	if err == nil {
		if account == "" {
			account = in.AccountUUID
		}
		return account, nil, nil
	}
	if kind, ok := onepassword.KindOf(err); ok && (kind == onepassword.Unauthorized || kind == onepassword.MissingFeature) {
		return "", nil, fmt.Errorf("%w: %w", ErrTokenRefused, err)
	}
	if check == CheckLenient {
		return account, []string{"the token could not be checked with 1Password now: " + err.Error()}, nil
	}
	return "", nil, fmt.Errorf("%w: %w", ErrUnchecked, err)
}

// Update is a change to a source; nil fields stay as they are.
type Update struct {
	Name               *string
	Token              *string // a new token; also replaces one that cannot be opened
	Region             *string // clears BaseURL
	BaseURL            *string // clears Region
	APIVersion         *int
	InsecureSkipVerify *bool
	AllowOtherHost     *bool
	AllowInsecure      *bool
	Interval           *time.Duration
	Lookback           *time.Duration
	// NoEventsAlarm is the no-events alarm's timeframe (15m..30d), 0 for
	// off.
	NoEventsAlarm *time.Duration
	LogTypes      []string // nil: unchanged
}

// Update changes the source named name. A new token resumes stopped
// streams; a new host or API version drops the cursors, which only the old
// endpoint can read.
func (sv *Service) Update(ctx context.Context, name string, u Update) (Result, error) {
	return sv.update(ctx, name, u, sv.o.Check)
}

func (sv *Service) update(ctx context.Context, name string, u Update, check Check) (Result, error) {
	if sv.o.Box == nil {
		return Result{}, ErrNoBox
	}
	cur, err := sv.store.SourceByName(ctx, name)
	if err != nil {
		return Result{}, err
	}
	var token string
	if u.Token != nil {
		token = *u.Token
	} else {
		plain, err := sv.o.Box.Open(cur.Token, cur.Binding())
		if err != nil {
			return Result{}, fmt.Errorf("source %s: %w (%w): give it a new token", cur.Name, ErrTokenUnreadable, err)
		}
		token = string(plain)
	}
	s := configSource(cur)
	apply(&s, u)
	if err := s.ValidateAs(sv.o.Names); err != nil {
		return Result{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	client, err := Client(s, token)
	if err != nil {
		return Result{}, err
	}
	next := storeSource(s)
	next.ID, next.CreatedAt, next.AccountUUID = cur.ID, cur.CreatedAt, cur.AccountUUID
	next.TokenExpiresAt = client.Claims().ExpiresAt
	res := Result{Host: client.BaseURL(), Claims: client.Claims()}
	change := store.SourceChange{}
	if u.Token != nil {
		account, notes, err := sv.verify(ctx, client, check)
		if err != nil {
			return Result{}, err
		}
		if account != "" && cur.AccountUUID != "" && account != cur.AccountUUID {
			return Result{}, fmt.Errorf("%w (%s; the source reads %s): add it as a new source", ErrOtherAccount, account, cur.AccountUUID)
		}
		if account != "" {
			next.AccountUUID = account
		}
		res.Notes = append(res.Notes, notes...)
		change.ResumeStopped = true
		res.Resumed = true
	}
	if u.LogTypes != nil {
		res.LogTypes, res.Notes = logTypesFor(u.LogTypes, client.Claims())
		change.LogTypes = res.LogTypes
	} else if u.Token != nil {
		notes, err := sv.uncollected(ctx, cur.ID, client.Claims())
		if err != nil {
			return Result{}, err
		}
		res.Notes = append(res.Notes, notes...)
	}
	res.Notes = append(res.Notes, endpointNotes(s, client)...)
	if endpointOf(cur) != endpointOf(next) {
		change.DropCursors = true
		res.DroppedCursors = true
	}
	if next.Token, err = sv.o.Box.Seal([]byte(token), next.Binding()); err != nil {
		return Result{}, fmt.Errorf("encrypt token: %w", err)
	}
	change.Source = next
	if err := sv.store.UpdateSource(ctx, change); err != nil {
		if errors.Is(err, store.ErrExists) {
			return Result{}, fmt.Errorf("a source named %q: %w", next.Name, store.ErrExists)
		}
		return Result{}, err
	}
	res.Source = next
	sv.o.Logger.Debug("source updated", "source", next.Name, "resumed", res.Resumed, "dropped_cursors", res.DroppedCursors)
	return res, nil
}

// uncollected notes the log types a new token grants that the source does
// not collect: the user chose the log types (or the old token did), so a
// new token does not change them unasked.
func (sv *Service) uncollected(ctx context.Context, sourceID string, c onepassword.Claims) ([]string, error) {
	streams, err := sv.store.Streams(ctx, sourceID)
	if err != nil {
		return nil, err
	}
	on := map[string]bool{}
	for _, st := range streams {
		on[st.LogType] = st.Enabled
	}
	var notes []string
	for _, lt := range logtype.All() {
		if !on[lt.Name] && c.Has(onepassword.Feature(lt.Feature)) {
			notes = append(notes, fmt.Sprintf("the token also grants %s, which this source does not collect: add %s to its log types to collect it", lt.Feature, lt.Name))
		}
	}
	return notes, nil
}

// Verify checks settings and a token as the service's Check says, storing
// nothing (it needs no store): a caller applying several sources refuses
// them all before changing any, and a caller adding one checks before it
// creates a database.
func (sv *Service) Verify(ctx context.Context, s config.Source, token string) error {
	s.ApplyDefaults()
	if err := s.ValidateAs(sv.o.Names); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	client, err := Client(s, token)
	if err != nil {
		return err
	}
	if _, _, err := chooseLogTypes(s.LogTypes, client.Claims()); err != nil {
		return err
	}
	_, _, err = sv.verify(ctx, client, sv.o.Check)
	return err
}

// chooseLogTypes is logTypesFor, refusing a choice the token grants none of.
func chooseLogTypes(asked []string, c onepassword.Claims) ([]string, []string, error) {
	lts, notes := logTypesFor(asked, c)
	for _, lt := range lts {
		if c.Has(onepassword.Feature(logtype.ByName(lt).Feature)) {
			return lts, notes, nil
		}
	}
	if len(asked) == 0 {
		return nil, nil, errors.New("the token grants none of the sign-in attempts, item usages and audit events features: issue a token with at least one in 1Password's Events Reporting integration")
	}
	return nil, nil, fmt.Errorf("the token grants none of the log types asked for (%s): issue a token with them, or collect what it grants", strings.Join(asked, ", "))
}

// Apply makes the store hold s with token, as declared in a configuration
// file: it creates the source or rewrites all its settings. dropCursors
// restarts every stream from its last event (the demo's emulator is new on
// every run, so its cursors are void).
func (sv *Service) Apply(ctx context.Context, s config.Source, token string, dropCursors bool) (Result, error) {
	s.ApplyDefaults()
	check := CheckLenient
	if sv.o.Check == CheckOffline {
		check = CheckOffline
	}
	cur, err := sv.store.SourceByName(ctx, s.Name)
	if errors.Is(err, store.ErrNotFound) {
		res, err := sv.add(ctx, s, token, check)
		if !errors.Is(err, store.ErrExists) {
			return res, err
		}
		// Another replica, started with the same configuration, added it
		// meanwhile: apply the configuration to it as to any other.
		cur, err = sv.store.SourceByName(ctx, s.Name)
	}
	if err != nil {
		return Result{}, err
	}
	u := Update{
		Region: &s.Region, BaseURL: &s.BaseURL, APIVersion: &s.APIVersion,
		InsecureSkipVerify: &s.InsecureSkipVerify, AllowOtherHost: &s.AllowOtherHost, AllowInsecure: &s.AllowInsecure,
		Interval: (*time.Duration)(&s.Interval), Lookback: (*time.Duration)(&s.Lookback),
		LogTypes: s.LogTypes,
	}
	alarm := s.NoEventsAlarm.Duration()
	u.NoEventsAlarm = &alarm
	if s.Region != "" {
		u.BaseURL = nil
	} else {
		u.Region = nil
	}
	if old, err := sv.o.Box.Open(cur.Token, cur.Binding()); err != nil || string(old) != token {
		u.Token = &token
	}
	if u.LogTypes == nil {
		// Sources as code: without log_types the source collects what its
		// token grants, as when it was added.
		c, err := onepassword.ParseClaims(token)
		if err != nil {
			return Result{}, err
		}
		u.LogTypes, _ = logTypesFor(nil, c)
	}
	res, err := sv.update(ctx, s.Name, u, check)
	if err != nil || !dropCursors || res.DroppedCursors {
		return res, err
	}
	n, err := sv.Reset(ctx, s.Name, true)
	if err == nil && n > 0 {
		res.DroppedCursors = true
	}
	return res, err
}

// Remove deletes the source and its streams. Its events stay in the lake
// under their account: a source added again for the same account finds
// them and stores none twice.
func (sv *Service) Remove(ctx context.Context, name string) (store.Source, error) {
	src, err := sv.store.SourceByName(ctx, name)
	if err != nil {
		return src, err
	}
	return src, sv.store.DeleteSource(ctx, src.ID)
}

// Reset clears the stopped and failing state of the source's enabled
// streams and makes them due now; with dropCursors they also forget their
// cursors and re-read from their last events. It returns how many streams
// it reset.
func (sv *Service) Reset(ctx context.Context, name string, dropCursors bool) (int, error) {
	src, err := sv.store.SourceByName(ctx, name)
	if err != nil {
		return 0, err
	}
	streams, err := sv.store.Streams(ctx, src.ID)
	if err != nil {
		return 0, err
	}
	var cursor *string
	if dropCursors {
		empty := ""
		cursor = &empty
	}
	n := 0
	for _, st := range streams {
		if !st.Enabled {
			continue
		}
		if err := sv.store.ResetStream(ctx, st.ID, cursor); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// Summary is a source with its streams and what its token says.
type Summary struct {
	Source  store.Source
	Host    string
	Streams []store.Stream
	// Claims of the token, when it could be opened (TokenErr otherwise).
	Claims   onepassword.Claims
	TokenErr error
}

// Get summarizes the source named name.
func (sv *Service) Get(ctx context.Context, name string) (Summary, error) {
	src, err := sv.store.SourceByName(ctx, name)
	if err != nil {
		return Summary{}, err
	}
	return sv.summarize(ctx, src)
}

// List summarizes every source, by name.
func (sv *Service) List(ctx context.Context) ([]Summary, error) {
	srcs, err := sv.store.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Summary, 0, len(srcs))
	for _, src := range srcs {
		s, err := sv.summarize(ctx, src)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (sv *Service) summarize(ctx context.Context, src store.Source) (Summary, error) {
	streams, err := sv.store.Streams(ctx, src.ID)
	if err != nil {
		return Summary{}, err
	}
	s := Summary{Source: src, Host: HostOf(src), Streams: streams}
	switch tok, err := sv.OpenToken(src); {
	case err != nil:
		s.TokenErr = err
	default:
		s.Claims, s.TokenErr = onepassword.ParseClaims(string(tok))
	}
	return s, nil
}

// RecordExpiries sets each source's TokenExpiresAt from its token's exp
// claim where they differ: sources stored before opwatch recorded it would
// otherwise never be warned about. Tokens that cannot be opened are
// skipped (health reports those sources as they fail). It returns the
// names of the sources it changed.
func (sv *Service) RecordExpiries(ctx context.Context) ([]string, error) {
	srcs, err := sv.store.ListSources(ctx)
	if err != nil {
		return nil, err
	}
	var changed []string
	for _, src := range srcs {
		tok, err := sv.OpenToken(src)
		if err != nil {
			continue
		}
		c, err := onepassword.ParseClaims(string(tok))
		if err != nil || c.ExpiresAt.Equal(src.TokenExpiresAt) {
			continue
		}
		src.TokenExpiresAt = c.ExpiresAt
		if err := sv.store.UpdateSource(ctx, store.SourceChange{Source: src}); err != nil {
			return changed, fmt.Errorf("source %s: record its token's expiry: %w", src.Name, err)
		}
		changed = append(changed, src.Name)
	}
	return changed, nil
}

// OpenToken opens a source's sealed token.
func (sv *Service) OpenToken(src store.Source) ([]byte, error) {
	if sv.o.Box == nil {
		return nil, ErrNoBox
	}
	tok, err := sv.o.Box.Open(src.Token, src.Binding())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTokenUnreadable, err)
	}
	return tok, nil
}

// HostOf is where a source's requests go, as people read it.
func HostOf(s store.Source) string {
	switch {
	case s.BaseURL != "":
		return s.BaseURL
	case s.Region != "":
		if h, err := onepassword.RegionHost(s.Region); err == nil {
			return h
		}
	}
	return "(from the token)"
}

// endpointOf is what a cursor is valid for: the server and the API version.
func endpointOf(s store.Source) string {
	host := s.Region
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err == nil {
			host = u.Host
		}
	}
	return fmt.Sprintf("%s v%d", host, s.APIVersion)
}

// logTypesFor resolves the log types to collect: the ones asked for, or
// those the token grants, with a note for each that the token lacks.
func logTypesFor(asked []string, c onepassword.Claims) (lts []string, notes []string) {
	for _, lt := range logtype.All() {
		has := c.Has(onepassword.Feature(lt.Feature))
		switch {
		case len(asked) == 0 && has:
			lts = append(lts, lt.Name)
		case len(asked) == 0:
			notes = append(notes, fmt.Sprintf("the token lacks the %s feature: %s is not collected", lt.Feature, lt.Name))
		case slices.Contains(asked, lt.Name):
			lts = append(lts, lt.Name)
			if !has {
				notes = append(notes, fmt.Sprintf("the token lacks the %s feature: %s stays stopped until the source has a token with it", lt.Feature, lt.Name))
			}
		}
	}
	if lts == nil {
		lts = []string{} // non-nil: "collect none" is never meant as "unchanged"
	}
	return lts, notes
}

func endpointNotes(s config.Source, c *onepassword.Client) []string {
	var notes []string
	if s.BaseURL != "" {
		if aud := audienceHost(c.Claims()); aud != "" {
			if u, err := url.Parse(s.BaseURL); err == nil && u.Host != aud {
				notes = append(notes, fmt.Sprintf("the base URL's host %s is not the token's (%s): the token is sent there", u.Host, aud))
			}
		}
	}
	if why := c.Insecure(); why != "" {
		notes = append(notes, "insecure: "+why)
	}
	return notes
}

func audienceHost(c onepassword.Claims) string {
	for _, a := range c.Audience {
		if u, err := url.Parse(a); err == nil && u.Host != "" {
			return u.Host
		}
		return a
	}
	return ""
}

func storeSource(s config.Source) store.Source {
	return store.Source{
		Name: s.Name, Region: s.Region, BaseURL: s.BaseURL, APIVersion: s.APIVersion,
		InsecureSkipVerify: s.InsecureSkipVerify, AllowOtherHost: s.AllowOtherHost, AllowInsecure: s.AllowInsecure,
		Interval: time.Duration(s.Interval), Lookback: time.Duration(s.Lookback),
		NoEventsAlarm: s.NoEventsAlarm.Duration(),
	}
}

func configSource(s store.Source) config.Source {
	return config.Source{
		Name: s.Name, Region: s.Region, BaseURL: s.BaseURL, APIVersion: s.APIVersion,
		InsecureSkipVerify: s.InsecureSkipVerify, AllowOtherHost: s.AllowOtherHost, AllowInsecure: s.AllowInsecure,
		Interval: config.Duration(s.Interval), Lookback: config.Duration(s.Lookback),
		NoEventsAlarm: config.AlarmOf(s.NoEventsAlarm),
	}
}

func apply(s *config.Source, u Update) {
	if u.Name != nil {
		s.Name = *u.Name
	}
	if u.Region != nil {
		s.Region, s.BaseURL = *u.Region, ""
	}
	if u.BaseURL != nil {
		s.BaseURL, s.Region = *u.BaseURL, ""
	}
	if u.APIVersion != nil {
		s.APIVersion = *u.APIVersion
	}
	if u.InsecureSkipVerify != nil {
		s.InsecureSkipVerify = *u.InsecureSkipVerify
	}
	if u.AllowOtherHost != nil {
		s.AllowOtherHost = *u.AllowOtherHost
	}
	if u.AllowInsecure != nil {
		s.AllowInsecure = *u.AllowInsecure
	}
	if u.Interval != nil {
		s.Interval = config.Duration(*u.Interval)
	}
	if u.Lookback != nil {
		s.Lookback = config.Duration(*u.Lookback)
	}
	if u.NoEventsAlarm != nil {
		s.NoEventsAlarm = config.AlarmOf(*u.NoEventsAlarm)
	}
}
