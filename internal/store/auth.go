package store

import (
	"context"
	"time"
)

// User is a person who signs in to the console. Package auth checks names
// (lower case) and roles before they reach the store.
type User struct {
	ID           string // set by the store when empty
	Name         string // unique
	Role         string // "admin" or "analyst"
	PasswordHash string // argon2id in PHC form; never shown
	CreatedAt    time.Time
	UpdatedAt    time.Time
	LastLoginAt  time.Time // zero: never signed in
}

// Session is a signed-in browser. Only the SHA-256 of its id is stored, so
// a copy of the database signs nobody in. Its times are the caller's: the
// auth service decides when a session ends, and the store only filters by
// the now it is given.
type Session struct {
	Hash      string // hex SHA-256 of the session id (the cookie's value)
	UserID    string
	CreatedAt time.Time
	SeenAt    time.Time // the last request that refreshed it
	IdleUntil time.Time // it ends then unless refreshed before
	ExpiresAt time.Time // it ends then whatever happens
}

// APIToken is a bearer token for the HTTP API, scoped to a role. Only the
// SHA-256 of the token is stored; Last4 is its last four characters, for
// telling tokens apart.
type APIToken struct {
	ID         string // set by the store when empty
	Name       string // unique
	Role       string // "admin" or "analyst"
	Hash       string // hex SHA-256 of the whole token
	Last4      string
	CreatedBy  string // the user name (or "cli") that created it
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: never
	LastUsedAt time.Time // zero: never used
}

// Auth is the part package auth needs: users, their sessions and the API's
// tokens.
type Auth interface {
	// CreateUser stores u, setting its ID when empty and CreatedAt and
	// UpdatedAt (the store's clock). ErrExists if the name is taken.
	CreateUser(ctx context.Context, u *User) error
	UserByName(ctx context.Context, name string) (User, error)
	UserByID(ctx context.Context, id string) (User, error)
	// ListUsers lists every user by name.
	ListUsers(ctx context.Context) ([]User, error)
	// SetUserPassword replaces a user's password hash and ends all of its
	// sessions, in one transaction. ErrNotFound for no such user.
	SetUserPassword(ctx context.Context, id, hash string) error
	// SetUserRole changes a user's role; its sessions take it at once.
	SetUserRole(ctx context.Context, id, role string) error
	// RecordLogin sets the user's LastLoginAt.
	RecordLogin(ctx context.Context, id string, at time.Time) error
	// DeleteUser removes the user and all of its sessions. ErrNotFound for
	// no such user.
	DeleteUser(ctx context.Context, id string) error

	// CreateSession stores s. ErrNotFound when its user does not exist.
	CreateSession(ctx context.Context, s Session) error
	// Session returns the session whose hash is given and its user, unless
	// it ended by now (IdleUntil or ExpiresAt at or before now): ErrNotFound,
	// as for no such session.
	Session(ctx context.Context, hash string, now time.Time) (Session, User, error)
	// TouchSession records a request at seenAt and moves IdleUntil; nothing
	// when the session is gone.
	TouchSession(ctx context.Context, hash string, seenAt, idleUntil time.Time) error
	// DeleteSession ends a session; nothing when it is gone already.
	DeleteSession(ctx context.Context, hash string) error
	// PurgeSessions deletes the sessions ended by now and says how many.
	PurgeSessions(ctx context.Context, now time.Time) (int, error)

	// CreateToken stores t, setting its ID when empty and CreatedAt (the
	// store's clock). ErrExists if the name is taken (or the hash, which
	// does not happen with random tokens).
	CreateToken(ctx context.Context, t *APIToken) error
	// TokenByHash returns the token whose hash is given unless it expired
	// by now (ExpiresAt set and at or before now): ErrNotFound, as for no
	// such token.
	TokenByHash(ctx context.Context, hash string, now time.Time) (APIToken, error)
	// ListTokens lists every token, expired or not, by name.
	ListTokens(ctx context.Context) ([]APIToken, error)
	// TouchToken sets a token's LastUsedAt; nothing when it is gone.
	TouchToken(ctx context.Context, id string, at time.Time) error
	// DeleteToken revokes a token. ErrNotFound for no such token.
	DeleteToken(ctx context.Context, id string) error
}
