// Package emulator is a stand-in for the 1Password Events API, faithful
// enough that 1Password's own clients and opwatch's cannot tell it from the
// real servers: the v1 and v2 event endpoints and introspection, ES256 bearer
// tokens, signed opaque cursors, per-account rate limits, late-arriving
// events, and injectable faults.
//
// Its data is synthetic, realistic and deterministic: event i of a stream is
// a pure function of (seed, account, feature, i), generated and encoded on
// demand, so memory does not grow with the number of events. Only the few
// events a test injects (InjectLate) or loads (LoadFixtures) are kept.
//
// The baseline is benign and consistent across streams (baseline.go): each
// member is at home or at a second place in the same country and travels
// between them at plausible speed; members sign in in turns, and their audit
// events carry the session of their latest successful sign-in; server-side
// item actions come from the CLI or an SDK. What a detection alerts on at
// every occurrence is left out of it. With Options.Scenarios, attacks and
// risky admin actions are planted on top, about one every 20 minutes
// (scenarios.go); Planted lists them for tests. Its wire format
// is written from the reference (shared/reference/onepassword-events-api.md)
// and shares no code with opwatch's client, so a mistake in one cannot hide in
// the other.
package emulator

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Options configure an emulator. The zero value is usable: one account, no
// preloaded events, no live traffic, documented rate limits.
type Options struct {
	// Seed makes the data: the same seed gives the same events, byte for byte.
	Seed int64
	// Events is the number of events of each type already ingested when the
	// emulator starts, spread evenly over Span before the start.
	Events int
	// Span is how far back the preloaded events reach; default 24h.
	Span time.Duration
	// Rate is the live traffic: new events per minute of each type after the
	// start. 0 means none.
	Rate float64
	// LateFraction is the fraction of item usages that arrive late, with a
	// timestamp up to MaxLateness older than their ingestion (clients sync
	// late). 0 means the default 5%; negative means none.
	LateFraction float64
	// MaxLateness bounds the lateness; default 6h.
	MaxLateness time.Duration
	// MSP adds user_type, user_account_uuid and actor_account_uuid to v2
	// events, and external users (MSP technicians) among the actors.
	MSP bool
	// Rate limits per account over sliding windows: 0 means the documented
	// 600 per minute and 30,000 per hour; negative means no limit.
	RateLimitPerMinute, RateLimitPerHour int
	// NoRateLimitHeaders leaves out RateLimit-* and Retry-After on 429s, to
	// exercise clients' own backoff.
	NoRateLimitHeaders bool
	// LegacyErrorBody sends errors as {"Error":{"Message":..}} (specs 1.0 to
	// 1.2) instead of {"status":..,"message":..} (1.4.1).
	LegacyErrorBody bool
	// CursorModel says what a continuing cursor serves; the real server's
	// behaviour is undocumented (reference §7.2 and open question 5), so
	// clients are tested under each. The default keeps the reset's
	// start_time filter.
	CursorModel CursorModel
	// Faults injects failures at random; see also SetFaults and FailNext.
	Faults Faults
	// Scenarios plants attacks and risky admin actions into the benign
	// traffic, a few an hour (see Planted): what detections must catch.
	Scenarios bool
	// Now is the clock; default time.Now.
	Now func() time.Time
	// Logger receives one debug line per request (never a token); default
	// discards.
	Logger *slog.Logger
}

// CursorModel is how a cursor filters the events after its first page. Both
// serve events in ingestion order; they differ on late events whose time is
// older than the reset's start_time.
type CursorModel int

const (
	// CursorKeepsStart keeps filtering every page by the reset's start_time:
	// a late event older than it never comes by cursor, only by a new reset
	// whose window covers it.
	CursorKeepsStart CursorModel = iota
	// CursorIngestionOrder filters only the first page by start_time; later
	// pages bring every event ingested since, however old its timestamp
	// (a reset's end_time still bounds them).
	CursorIngestionOrder
)

// String returns the name ParseCursorModel accepts.
func (m CursorModel) String() string {
	switch m {
	case CursorKeepsStart:
		return "keep-start"
	case CursorIngestionOrder:
		return "ingestion-order"
	}
	return fmt.Sprintf("CursorModel(%d)", int(m))
}

// ParseCursorModel parses "keep-start" or "ingestion-order", for flags.
func ParseCursorModel(s string) (CursorModel, error) {
	for _, m := range []CursorModel{CursorKeepsStart, CursorIngestionOrder} {
		if s == m.String() {
			return m, nil
		}
	}
	return 0, fmt.Errorf("cursor model %q: want keep-start or ingestion-order", s)
}

// Limits that keep the arithmetic of timelines and the account map sane.
const (
	maxRate     = 6e6 // events per minute: 100,000 a second
	maxAccounts = 1000
	maxIntegs   = 1 << 17
	maxScan     = 1 << 20 // events examined per request before answering has_more
)

// Emulator is a 1Password Events API server. Its methods are safe for
// concurrent use.
type Emulator struct {
	opts         Options
	now          func() time.Time
	log          *slog.Logger
	tl           timeline
	lateFraction float64
	maxLateness  time.Duration
	perMinute    int // 0 = unlimited
	perHour      int
	tables       *tables
	signer       *signer
	cursorMaster [32]byte
	defaultAcct  string
	done         chan struct{}

	mu        sync.Mutex
	host      string
	accounts  map[string]*account
	revoked   map[string]bool
	integs    map[string]string       // integration UUID -> account UUID
	verified  map[string]*tokenClaims // cache: ECDSA verification is the costliest step of a request
	cursorGen uint64
	cursorKey []byte
	faults    Faults
	failNext  []FaultKind
	faultRNG  rng
	requests  map[string]int
	bufs      bufPool

	srv       *http.Server
	scheme    string
	client    *http.Client
	closeOnce sync.Once
	closeErr  error
}

// New returns an emulator that is not listening: serve its Handler yourself
// (for example with httptest) and call SetHost before issuing tokens, or use
// Start.
func New(opts Options) (*Emulator, error) {
	if opts.Events < 0 {
		return nil, fmt.Errorf("events %d: want 0 or more", opts.Events)
	}
	if opts.Span < 0 {
		return nil, fmt.Errorf("span %v: want a positive duration", opts.Span)
	}
	if opts.Span == 0 {
		opts.Span = 24 * time.Hour
	}
	if !(opts.Rate >= 0 && opts.Rate <= maxRate) {
		return nil, fmt.Errorf("rate %v events per minute: want 0 to %v", opts.Rate, maxRate)
	}
	if opts.LateFraction > 1 {
		return nil, fmt.Errorf("late fraction %v: want a fraction from 0 to 1", opts.LateFraction)
	}
	if opts.MaxLateness < 0 {
		return nil, fmt.Errorf("max lateness %v: want a positive duration", opts.MaxLateness)
	}
	if err := opts.Faults.validate(); err != nil {
		return nil, err
	}
	if opts.CursorModel != CursorKeepsStart && opts.CursorModel != CursorIngestionOrder {
		return nil, fmt.Errorf("cursor model %d: want CursorKeepsStart or CursorIngestionOrder", int(opts.CursorModel))
	}
	e := &Emulator{
		opts:         opts,
		now:          opts.Now,
		log:          opts.Logger,
		lateFraction: opts.LateFraction,
		maxLateness:  opts.MaxLateness,
		perMinute:    limitOrDefault(opts.RateLimitPerMinute, 600),
		perHour:      limitOrDefault(opts.RateLimitPerHour, 30000),
		tables:       newTables(),
		done:         make(chan struct{}),
		accounts:     map[string]*account{},
		revoked:      map[string]bool{},
		integs:       map[string]string{},
		verified:     map[string]*tokenClaims{},
		faults:       opts.Faults,
		faultRNG:     newRNG(uint64(opts.Seed) ^ 0x6661756c7473), // "faults"
		requests:     map[string]int{},
		scheme:       "http",
		client:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.lateFraction == 0 {
		e.lateFraction = 0.05
	}
	if e.maxLateness == 0 {
		e.maxLateness = 6 * time.Hour
	}
	e.tl = newTimeline(e.now(), opts.Span, opts.Events, opts.Rate)
	s, err := newSigner()
	if err != nil {
		return nil, err
	}
	e.signer = s
	// Cursor keys derive from the seed, so cursors stay valid across a
	// restart with the same seed (their positions index the same sequence of
	// events); InvalidateCursors moves to a new key.
	var seed [8]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(opts.Seed))
	e.cursorMaster = sha256.Sum256(append([]byte("opwatch emulator cursor key "), seed[:]...))
	e.cursorKey = e.deriveCursorKey(0)
	e.defaultAcct = id(mix(uint64(opts.Seed)^0x6163636f756e74), mix(uint64(opts.Seed)^0x61636374), true)
	return e, nil
}

func limitOrDefault(v, def int) int {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

func (e *Emulator) deriveCursorKey(gen uint64) []byte {
	m := hmac.New(sha256.New, e.cursorMaster[:])
	binary.Write(m, binary.LittleEndian, gen)
	return m.Sum(nil)
}

// Start makes an emulator and serves it on addr (such as "127.0.0.1:0"),
// over TLS with a self-signed certificate when useTLS (HTTPClient trusts it).
// Tokens name the listening host:port as their audience.
func Start(opts Options, addr string, useTLS bool) (*Emulator, error) {
	e, err := New(opts)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("emulator: listen on %s: %w", addr, err)
	}
	tcp := ln.Addr().(*net.TCPAddr)
	ip := tcp.IP
	if ip.IsUnspecified() {
		// Listening everywhere: loopback is the address that surely works.
		ip = net.IPv4(127, 0, 0, 1)
	}
	e.SetHost(net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port)))
	e.srv = &http.Server{
		Handler:           e.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelDebug),
	}
	if useTLS {
		cert, pool, err := selfSigned(ip.String())
		if err != nil {
			ln.Close()
			return nil, err
		}
		e.srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		e.client = &http.Client{Transport: tr}
		e.scheme = "https"
		go e.srv.ServeTLS(ln, "", "")
	} else {
		go e.srv.Serve(ln)
	}
	e.log.Info("1Password Events API emulator listening", "url", e.URL(), "events", opts.Events, "rate_per_minute", opts.Rate)
	return e, nil
}

// SetHost sets the host:port that tokens name as their audience (1Password's
// clients build the base URL as "https://" + aud[0]). Start sets it; call it
// yourself when serving Handler with httptest.
func (e *Emulator) SetHost(host string) {
	e.mu.Lock()
	e.host = host
	e.mu.Unlock()
}

// Host returns the host:port of the emulator ("" before Start or SetHost).
func (e *Emulator) Host() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.host
}

// URL returns the base URL, such as "http://127.0.0.1:PORT" ("https" when
// started with TLS; when serving Handler yourself, use your server's URL).
func (e *Emulator) URL() string { return e.scheme + "://" + e.Host() }

// HTTPClient returns a client for the emulator, which trusts its
// self-signed certificate when it serves TLS.
func (e *Emulator) HTTPClient() *http.Client { return e.client }

// Close stops a started emulator, letting requests in flight finish for up to
// two seconds. Closing an emulator that was not started does nothing.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() {
		close(e.done)
		if e.srv == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			e.closeErr = e.srv.Close()
		}
		e.client.CloseIdleConnections()
	})
	return e.closeErr
}

// DefaultAccount returns the UUID of the account that tokens belong to when
// TokenOptions.Account is empty.
func (e *Emulator) DefaultAccount() string { return e.defaultAcct }

// account returns (creating it on first use) the account named name, or the
// default account for "".
func (e *Emulator) account(name string) (*account, error) {
	if name == "" {
		name = e.defaultAcct
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if a := e.accounts[name]; a != nil {
		return a, nil
	}
	if err := validAccount(name); err != nil {
		return nil, err
	}
	if len(e.accounts) >= maxAccounts {
		return nil, fmt.Errorf("account %q: the emulator already has %d accounts", name, maxAccounts)
	}
	key := mix(uint64(e.opts.Seed) ^ hashString(name))
	a := &account{
		uuid:    name,
		pop:     newPopulation(key, name, e.opts.MSP, usersFor(e.tl.events)),
		limiter: newLimiter(e.perMinute, e.perHour),
		msp:     e.opts.MSP,
		t:       e.tables,
		tl:      &e.tl,
	}
	if e.opts.Scenarios {
		a.sched = newSchedule(&e.tl, key)
	}
	for f := range a.streams {
		a.streams[f] = newStream(key, f, e.lateFraction, e.maxLateness)
		if a.sched != nil {
			s := &a.streams[f]
			s.tl, s.sched = &e.tl, a.sched
			s.maxOffset += e.tl.maxGap()
		}
	}
	e.accounts[name] = a
	return a, nil
}

// IssueToken returns a signed bearer token for this emulator.
func (e *Emulator) IssueToken(o TokenOptions) (string, error) {
	host := e.Host()
	if host == "" {
		return "", errors.New("emulator has no host yet: call Start, or SetHost when serving Handler yourself")
	}
	features := o.Features
	if features == nil {
		features = []string{"auditevents", "itemusages", "signinattempts"}
	}
	for _, f := range features {
		if featureIndex(f) < 0 {
			return "", fmt.Errorf("unknown feature %q: want signinattempts, itemusages or auditevents", f)
		}
	}
	integ, acct, err := e.integration(o.Integration, o.Account)
	if err != nil {
		return "", err
	}
	now := e.now()
	c := tokenClaims{
		Account:  acct,
		Features: append([]string{}, features...),
		Audience: []string{host},
		IssuedAt: now.Unix(),
		Issuer:   tokenIssuer,
		ID:       randomID(true),
		Subject:  integ,
	}
	if o.NoAccountClaim {
		c.Account = ""
	}
	if o.ExpiresIn > 0 {
		c.Expiry = now.Add(o.ExpiresIn).Unix()
	}
	return e.signer.sign(c)
}

// integration returns the integration named integ ("" for a new one) and its
// account, creating it in account if it is new.
func (e *Emulator) integration(integ, account string) (string, string, error) {
	if integ != "" {
		if err := validAccount(integ); err != nil {
			return "", "", fmt.Errorf("integration: %w", err)
		}
		e.mu.Lock()
		acct, ok := e.integs[integ]
		e.mu.Unlock()
		if ok {
			if account != "" && account != acct {
				return "", "", fmt.Errorf("integration %s belongs to account %s, not %s", integ, acct, account)
			}
			return integ, acct, nil
		}
	} else {
		integ = randomID(true)
	}
	a, err := e.account(account)
	if err != nil {
		return "", "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if acct, ok := e.integs[integ]; ok { // created meanwhile
		if acct != a.uuid {
			return "", "", fmt.Errorf("integration %s belongs to account %s, not %s", integ, acct, a.uuid)
		}
		return integ, acct, nil
	}
	if len(e.integs) >= maxIntegs {
		return "", "", fmt.Errorf("the emulator already has %d integrations: name one in TokenOptions.Integration", maxIntegs)
	}
	e.integs[integ] = a.uuid
	return integ, a.uuid, nil
}

// accountOf returns the account of a verified token: its auuid claim, else
// its integration's.
func (e *Emulator) accountOf(c *tokenClaims) (*account, error) {
	name := c.Account
	if name == "" {
		e.mu.Lock()
		name = e.integs[c.Subject]
		e.mu.Unlock()
		if name == "" {
			return nil, errors.New("token names no account and an unknown integration")
		}
	}
	return e.account(name)
}

// Revoke makes the server refuse token from now on (401).
func (e *Emulator) Revoke(token string) {
	jti := unverifiedID(token)
	e.mu.Lock()
	defer e.mu.Unlock()
	if jti != "" {
		e.revoked[jti] = true
	}
	delete(e.verified, token)
}

// InvalidateCursors rotates the cursor key: every cursor handed out so far
// gets 400 from now on, as after a server-side reset.
func (e *Emulator) InvalidateCursors() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cursorGen++
	e.cursorKey = e.deriveCursorKey(e.cursorGen)
}

func (e *Emulator) currentCursorKey() []byte {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cursorKey
}

// Head returns how many events of feature ("signinattempts", "itemusages",
// "auditevents") account ("" for the default) has ingested by now.
func (e *Emulator) Head(account, feature string) int {
	a, err := e.account(account)
	f := featureIndex(feature)
	if err != nil || f < 0 {
		return 0
	}
	now := e.now().UnixNano()
	return e.tl.head(now) + visible(a.injected[f].snapshot(), now)
}

// Each calls fn with every event of a stream ingested by now (injected ones
// included), in ingestion order, as API version (1 or 2) serves it, until fn returns false. raw is
// fn's to keep. It is what an exactly-once check compares against.
func (e *Emulator) Each(account, feature string, version int, fn func(uuid string, raw []byte) bool) {
	a, err := e.account(account)
	f := featureIndex(feature)
	if err != nil || f < 0 {
		return
	}
	if version != 1 {
		version = 2
	}
	s := &a.streams[f]
	var buf []byte
	e.each(a, f, e.now().UnixNano(), func(i int, x *injected) bool {
		if x != nil {
			buf = a.appendInjected(buf[:0], f, x, version)
			return fn(x.uuid, bytes.Clone(buf))
		}
		buf = a.appendEvent(buf[:0], f, i, e.tl.ingest(i)-s.offset(i), version)
		// Every event starts {"uuid":"<26 characters>".
		return fn(string(buf[9:35]), bytes.Clone(buf))
	})
}

// Requests returns how many requests were answered, by route and status,
// such as "POST /api/v2/itemusages 200". Faults that send no status count
// as "dropped" or "truncated"; unknown routes as "<METHOD> (unknown) 404"
// (METHOD is OTHER for non-standard methods).
func (e *Emulator) Requests() map[string]int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return maps.Clone(e.requests)
}

func (e *Emulator) count(route, status string) {
	e.mu.Lock()
	e.requests[route+" "+status]++
	e.mu.Unlock()
}
