package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

const userColumns = `id, name, role, password_hash, created_at, updated_at, last_login_at`

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	err := row.Scan(textCol{&u.ID}, textCol{&u.Name}, &u.Role, textCol{&u.PasswordHash}, timeCol{&u.CreatedAt},
		timeCol{&u.UpdatedAt}, timeCol{&u.LastLoginAt})
	return u, err
}

// CreateUser stores u; it keeps a given ID, else makes one.
func (s *Store) CreateUser(ctx context.Context, u *store.User) error {
	if u.Name == "" || u.Role == "" || u.PasswordHash == "" {
		return errors.New("create user: the name, role or password hash is empty")
	}
	id := u.ID
	if id == "" {
		id = store.NewID()
	}
	var now time.Time
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		if now, err = s.now(ctx, tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5)`,
			enc(id), enc(u.Name), u.Role, enc(u.PasswordHash), now)
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("create user %q: %w: choose another name", u.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create user %q: %w", u.Name, err)
	}
	u.ID, u.CreatedAt, u.UpdatedAt, u.LastLoginAt = id, now, now, time.Time{}
	return nil
}

// UserByName returns the user named name.
func (s *Store) UserByName(ctx context.Context, name string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE name = $1`, enc(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %q: %w", name, err)
	}
	return u, nil
}

// UserByID returns the user with id.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, enc(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return u, fmt.Errorf("user %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %s: %w", id, err)
	}
	return u, nil
}

// ListUsers lists the users by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.User, error) { return scanUser(r) })
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// SetUserPassword replaces the hash and ends the user's sessions at once:
// whoever held the old password is signed out.
func (s *Store) SetUserPassword(ctx context.Context, id, hash string) error {
	if hash == "" {
		return errors.New("set password: the hash is empty")
	}
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3`, enc(hash), now, enc(id))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("user %s: %w", id, store.ErrNotFound)
		}
		_, err = tx.Exec(ctx, `DELETE FROM sessions WHERE user_id = $1`, enc(id))
		return err
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// SetUserRole changes the user's role.
func (s *Store) SetUserRole(ctx context.Context, id, role string) error {
	var n int64
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		now, err := s.now(ctx, tx)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE users SET role = $1, updated_at = $2 WHERE id = $3`, role, now, enc(id))
		n = tag.RowsAffected()
		return err
	})
	if err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("set role: user %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RecordLogin sets the user's last sign-in.
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE users SET last_login_at = $1 WHERE id = $2`, timeArg(at), enc(id)); err != nil {
		return fmt.Errorf("record sign-in: %w", err)
	}
	return nil
}

// DeleteUser removes the user; its sessions go with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	tag, err := s.exec(ctx, `DELETE FROM users WHERE id = $1`, enc(id))
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete user %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// CreateSession stores a session of an existing user.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	if se.Hash == "" || se.UserID == "" {
		return errors.New("create session: the hash or user is empty")
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (hash, user_id, created_at, seen_at, idle_until, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		enc(se.Hash), enc(se.UserID), floorMicro(se.CreatedAt), floorMicro(se.SeenAt), floorMicro(se.IdleUntil), floorMicro(se.ExpiresAt))
	switch {
	case isForeignKeyViolation(err):
		return fmt.Errorf("create session: user %s: %w", se.UserID, store.ErrNotFound)
	case isUniqueViolation(err):
		return fmt.Errorf("create session: %w", store.ErrExists)
	case err != nil:
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// Session returns a session live at now, and its user.
func (s *Store) Session(ctx context.Context, hash string, now time.Time) (store.Session, store.User, error) {
	var se store.Session
	var u store.User
	at := floorMicro(now)
	err := s.pool.QueryRow(ctx, `SELECT s.hash, s.user_id, s.created_at, s.seen_at, s.idle_until, s.expires_at,
		u.id, u.name, u.role, u.password_hash, u.created_at, u.updated_at, u.last_login_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.hash = $1 AND s.idle_until > $2 AND s.expires_at > $2`, enc(hash), at).Scan(
		textCol{&se.Hash}, textCol{&se.UserID}, timeCol{&se.CreatedAt}, timeCol{&se.SeenAt}, timeCol{&se.IdleUntil},
		timeCol{&se.ExpiresAt}, textCol{&u.ID}, textCol{&u.Name}, &u.Role, textCol{&u.PasswordHash}, timeCol{&u.CreatedAt},
		timeCol{&u.UpdatedAt}, timeCol{&u.LastLoginAt})
	if errors.Is(err, pgx.ErrNoRows) {
		return se, u, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return se, u, fmt.Errorf("read session: %w", err)
	}
	return se, u, nil
}

// TouchSession records a request and moves the idle end.
func (s *Store) TouchSession(ctx context.Context, hash string, seenAt, idleUntil time.Time) error {
	if _, err := s.exec(ctx, `UPDATE sessions SET seen_at = $1, idle_until = $2 WHERE hash = $3`,
		floorMicro(seenAt), floorMicro(idleUntil), enc(hash)); err != nil {
		return fmt.Errorf("refresh session: %w", err)
	}
	return nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE hash = $1`, enc(hash)); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// PurgeSessions deletes the sessions ended by now.
func (s *Store) PurgeSessions(ctx context.Context, now time.Time) (int, error) {
	tag, err := s.exec(ctx, `DELETE FROM sessions WHERE idle_until <= $1 OR expires_at <= $1`, floorMicro(now))
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

const tokenColumns = `id, name, role, hash, last4, created_by, created_at, expires_at, last_used_at`

func scanToken(row pgx.Row) (store.APIToken, error) {
	var t store.APIToken
	err := row.Scan(textCol{&t.ID}, textCol{&t.Name}, &t.Role, textCol{&t.Hash}, textCol{&t.Last4}, textCol{&t.CreatedBy},
		timeCol{&t.CreatedAt}, timeCol{&t.ExpiresAt}, timeCol{&t.LastUsedAt})
	return t, err
}

// CreateToken stores t; it keeps a given ID, else makes one.
func (s *Store) CreateToken(ctx context.Context, t *store.APIToken) error {
	if t.Name == "" || t.Role == "" || t.Hash == "" {
		return errors.New("create token: the name, role or hash is empty")
	}
	id := t.ID
	if id == "" {
		id = store.NewID()
	}
	var now time.Time
	err := s.withTx(ctx, func(tx pgx.Tx) error {
		var err error
		if now, err = s.now(ctx, tx); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO api_tokens (id, name, role, hash, last4, created_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, enc(id), enc(t.Name), t.Role, enc(t.Hash), enc(t.Last4), enc(t.CreatedBy),
			now, timeArg(t.ExpiresAt))
		return err
	})
	if isUniqueViolation(err) {
		return fmt.Errorf("create token %q: %w: choose another name", t.Name, store.ErrExists)
	}
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.Name, err)
	}
	t.ID, t.CreatedAt, t.LastUsedAt = id, now, time.Time{}
	return nil
}

// TokenByHash returns a token not expired at now.
func (s *Store) TokenByHash(ctx context.Context, hash string, now time.Time) (store.APIToken, error) {
	t, err := scanToken(s.pool.QueryRow(ctx, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE hash = $1 AND (expires_at IS NULL OR expires_at > $2)`, enc(hash), floorMicro(now)))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// ListTokens lists the tokens by name.
func (s *Store) ListTokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.APIToken, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// TouchToken records a use of the token.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, timeArg(at), enc(id)); err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

// DeleteToken revokes the token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	tag, err := s.exec(ctx, `DELETE FROM api_tokens WHERE id = $1`, enc(id))
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("revoke token %s: %w", id, store.ErrNotFound)
	}
	return nil
}
