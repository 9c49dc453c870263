// Package auth signs people and programs in to opwatch's console and API:
// users with argon2id passwords, browser sessions, API tokens scoped to a
// role, the login page, and the middleware that puts every other page and
// endpoint behind them, refuses cross-origin writes and sets the security
// headers.
//
// Only hashes are stored: a session id and an API token are 32 random
// bytes whose SHA-256 the store keeps, a password its argon2id hash. A
// session ends after SessionTTL without a request, or SessionMaxAge after
// sign-in, whichever comes first; a new password or a removed user ends
// every session of the user.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/store"
)

// Roles. Analysts triage alerts and search; admins also change sources,
// rules, destinations, users and tokens.
const (
	RoleAdmin   = "admin"
	RoleAnalyst = "analyst"
)

// Errors callers can tell apart (wrapped, with what to do).
var (
	// ErrInvalid: a name, role, password or lifetime that is not accepted.
	ErrInvalid = errors.New("invalid")
	// ErrLastAdmin: the change would leave no admin.
	ErrLastAdmin = errors.New("it is the last admin")
	// ErrWrongPassword: ChangePassword's old password does not match.
	ErrWrongPassword = errors.New("wrong password")
)

// Principal is who a request is from.
type Principal struct {
	UserID string // empty for an API token
	// Name is the user's name, or "token:" and the token's name.
	Name    string
	Role    string
	TokenID string // set when authenticated by an API token
}

// IsAdmin reports whether p may change settings.
func (p Principal) IsAdmin() bool { return p.Role == RoleAdmin }

type principalKey struct{}

// FromContext returns the principal Middleware authenticated.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	return p, ok
}

// WithPrincipal returns ctx carrying p, for handlers tested without
// Middleware.
func WithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// Config configures a Service. Store is required; the rest has defaults.
type Config struct {
	Store  store.Auth
	Logger *slog.Logger
	Now    func() time.Time
	// SecureCookies marks the session cookie Secure (and names it with
	// the __Host- prefix): set it when served over TLS.
	SecureCookies bool
	// SessionTTL ends a session after this long without a request
	// (default 12 h).
	SessionTTL time.Duration
	// SessionMaxAge ends a session this long after sign-in whatever
	// happens (default 7 days).
	SessionMaxAge time.Duration
	// RenderLogin renders the login page (the console's look); nil: a
	// plain built-in page. Status and headers are set before it is called.
	RenderLogin func(w io.Writer, d LoginData) error
}

// Service is users, sessions, API tokens and the HTTP parts around them.
// It is safe for concurrent use.
type Service struct {
	st            store.Auth
	log           *slog.Logger
	now           func() time.Time
	secureCookies bool
	idle          time.Duration
	maxAge        time.Duration
	render        func(w io.Writer, d LoginData) error
	renderChosen  bool // Config.RenderLogin was given: UseLoginPage keeps it
	cop           *http.CrossOriginProtection
	limit         *limiter
	kdf           kdfParams
	kdfSem        chan struct{} // bounds concurrent hashing: each takes kdf.memory
	dummyMu       sync.Mutex
	dummy         string // a hash to check unknown users' passwords against
}

// UseLoginPage renders the login page with render, unless Config's
// RenderLogin chose one: the console calls it when it is mounted, so the
// login page has the console's look whoever builds the Service. Call it
// before serving.
func (s *Service) UseLoginPage(render func(w io.Writer, d LoginData) error) {
	if render != nil && !s.renderChosen {
		s.render = render
	}
}

// New returns a Service.
func New(cfg Config) *Service {
	s := &Service{st: cfg.Store, log: cfg.Logger, now: cfg.Now, secureCookies: cfg.SecureCookies, idle: cfg.SessionTTL,
		maxAge: cfg.SessionMaxAge, render: cfg.RenderLogin, limit: newLimiter(), kdf: defaultKDF,
		kdfSem: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.idle <= 0 {
		s.idle = 12 * time.Hour
	}
	if s.maxAge <= 0 {
		s.maxAge = 7 * 24 * time.Hour
	}
	s.idle = min(s.idle, s.maxAge)
	s.renderChosen = s.render != nil
	if s.render == nil {
		s.render = renderLogin
	}
	s.cop = http.NewCrossOriginProtection()
	s.cop.SetDenyHandler(http.HandlerFunc(s.crossOriginDenied))
	return s
}

// AddTrustedOrigin lets cross-origin requests from origin (scheme://host
// [:port]) change things: the console's public URL when a proxy in front
// rewrites the Host header.
func (s *Service) AddTrustedOrigin(origin string) error {
	if err := s.cop.AddTrustedOrigin(origin); err != nil {
		return fmt.Errorf("trusted origin %q: %w (give scheme://host[:port], nothing else)", origin, err)
	}
	return nil
}

// hash hashes password, at most len(kdfSem) at a time.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	if err := s.acquire(ctx); err != nil {
		return "", err
	}
	defer s.release()
	return hashPassword(s.kdf, password)
}

// verify checks password against phc, at most len(kdfSem) at a time.
func (s *Service) verify(ctx context.Context, phc, password string) (bool, error) {
	if err := s.acquire(ctx); err != nil {
		return false, err
	}
	defer s.release()
	return verifyPassword(phc, password)
}

func (s *Service) acquire(ctx context.Context) error {
	select {
	case s.kdfSem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Service) release() { <-s.kdfSem }

// dummyHash is a hash made with the service's costs, checked when the user
// does not exist, so that an unknown name takes as long as a known one.
func (s *Service) dummyHash() string {
	s.dummyMu.Lock()
	defer s.dummyMu.Unlock()
	if s.dummy == "" {
		h, err := hashPassword(s.kdf, rand.Text())
		if err != nil {
			return ""
		}
		s.dummy = h
	}
	return s.dummy
}

// Names: lower case letters, digits and . _ - @, starting with a letter or
// digit, at most 64: safe in a terminal, a log line and a URL.
const maxNameLen = 64

// NormalizeName returns a user name as stored (trimmed, lower case).
func NormalizeName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

func checkUserName(name string) error {
	if name == "" {
		return fmt.Errorf("%w user name: it is empty", ErrInvalid)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w user name: longer than %d characters", ErrInvalid, maxNameLen)
	}
	for i, r := range name {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
		case i > 0 && (r == '.' || r == '_' || r == '-' || r == '@'):
		default:
			return fmt.Errorf("%w user name %q: use lower case letters, digits and . _ - @, starting with a letter or digit", ErrInvalid, name)
		}
	}
	return nil
}

// checkTokenName allows any printable text of 1 to 64 characters.
func checkTokenName(name string) error {
	if name == "" {
		return fmt.Errorf("%w token name: it is empty", ErrInvalid)
	}
	if !utf8.ValidString(name) || utf8.RuneCountInString(name) > maxNameLen || strings.IndexFunc(name, func(r rune) bool {
		return !unicode.IsPrint(r)
	}) >= 0 {
		return fmt.Errorf("%w token name: use at most %d printable characters", ErrInvalid, maxNameLen)
	}
	return nil
}

func checkRole(role string) error {
	if role != RoleAdmin && role != RoleAnalyst {
		return fmt.Errorf("%w role %q: want %s or %s", ErrInvalid, role, RoleAdmin, RoleAnalyst)
	}
	return nil
}

// Passwords: at least 12 characters (NIST SP 800-63B asks 8, more for
// ones chosen by people) and at most 1024 bytes.
const (
	minPasswordLen = 12
	maxPasswordLen = 1024
)

func checkPassword(pw string) error {
	switch {
	case utf8.RuneCountInString(pw) < minPasswordLen:
		return fmt.Errorf("%w password: use at least %d characters", ErrInvalid, minPasswordLen)
	case len(pw) > maxPasswordLen:
		return fmt.Errorf("%w password: use at most %d bytes", ErrInvalid, maxPasswordLen)
	}
	return nil
}

// randomSecret returns 32 random bytes as unpadded base64url (43
// characters): session ids and the body of API tokens.
func randomSecret() string {
	var b [32]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// isSecret reports whether s has randomSecret's form.
func isSecret(s string) bool {
	if len(s) != 43 {
		return false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	return err == nil && len(b) == 32
}

// digest is what the store keeps of a session id or token: hex SHA-256.
func digest(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}
