package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

const userColumns = `id, name, role, password_hash, created_at, updated_at, last_login_at`

func scanUser(row interface{ Scan(...any) error }) (store.User, error) {
	var u store.User
	err := row.Scan(&u.ID, &u.Name, &u.Role, &u.PasswordHash, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, timeCol{&u.LastLoginAt})
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
	now := s.now().UTC()
	_, err := s.exec(ctx, `INSERT INTO users (id, name, role, password_hash, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`,
		id, u.Name, u.Role, u.PasswordHash, timeText(now), timeText(now))
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
	u, err := scanUser(s.reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %q: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %q: %w", name, err)
	}
	return u, nil
}

// UserByID returns the user with id.
func (s *Store) UserByID(ctx context.Context, id string) (store.User, error) {
	u, err := scanUser(s.reader.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, fmt.Errorf("user %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return u, fmt.Errorf("read user %s: %w", id, err)
	}
	return u, nil
}

// ListUsers lists the users by name.
func (s *Store) ListUsers(ctx context.Context) ([]store.User, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+userColumns+` FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []store.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
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
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE id = ?`, hash, timeText(s.now()), id)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %s: %w", id, store.ErrNotFound)
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// SetUserRole changes the user's role.
func (s *Store) SetUserRole(ctx context.Context, id, role string) error {
	res, err := s.exec(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE id = ?`, role, timeText(s.now()), id)
	if err != nil {
		return fmt.Errorf("set role: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("set role: user %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// RecordLogin sets the user's last sign-in.
func (s *Store) RecordLogin(ctx context.Context, id string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE users SET last_login_at = ? WHERE id = ?`, timeArg(at), id); err != nil {
		return fmt.Errorf("record sign-in: %w", err)
	}
	return nil
}

// DeleteUser removes the user; its sessions go with it (ON DELETE CASCADE).
func (s *Store) DeleteUser(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM users WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete user %s: %w", id, store.ErrNotFound)
	}
	return nil
}

// CreateSession stores a session of an existing user.
func (s *Store) CreateSession(ctx context.Context, se store.Session) error {
	if se.Hash == "" || se.UserID == "" {
		return errors.New("create session: the hash or user is empty")
	}
	_, err := s.exec(ctx, `INSERT INTO sessions (hash, user_id, created_at, seen_at, idle_until, expires_at) VALUES (?, ?, ?, ?, ?, ?)`,
		se.Hash, se.UserID, timeText(se.CreatedAt), timeText(se.SeenAt), timeText(se.IdleUntil), timeText(se.ExpiresAt))
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
	err := s.reader.QueryRowContext(ctx, `SELECT s.hash, s.user_id, s.created_at, s.seen_at, s.idle_until, s.expires_at,
		u.id, u.name, u.role, u.password_hash, u.created_at, u.updated_at, u.last_login_at
		FROM sessions s JOIN users u ON u.id = s.user_id
		WHERE s.hash = ? AND s.idle_until > ? AND s.expires_at > ?`, hash, timeText(now), timeText(now)).Scan(
		&se.Hash, &se.UserID, timeCol{&se.CreatedAt}, timeCol{&se.SeenAt}, timeCol{&se.IdleUntil}, timeCol{&se.ExpiresAt},
		&u.ID, &u.Name, &u.Role, &u.PasswordHash, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt}, timeCol{&u.LastLoginAt})
	if errors.Is(err, sql.ErrNoRows) {
		return se, u, fmt.Errorf("session: %w", store.ErrNotFound)
	}
	if err != nil {
		return se, u, fmt.Errorf("read session: %w", err)
	}
	return se, u, nil
}

// TouchSession records a request and moves the idle end.
func (s *Store) TouchSession(ctx context.Context, hash string, seenAt, idleUntil time.Time) error {
	if _, err := s.exec(ctx, `UPDATE sessions SET seen_at = ?, idle_until = ? WHERE hash = ?`,
		timeText(seenAt), timeText(idleUntil), hash); err != nil {
		return fmt.Errorf("refresh session: %w", err)
	}
	return nil
}

// DeleteSession ends a session.
func (s *Store) DeleteSession(ctx context.Context, hash string) error {
	if _, err := s.exec(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// PurgeSessions deletes the sessions ended by now.
func (s *Store) PurgeSessions(ctx context.Context, now time.Time) (int, error) {
	t := timeText(now)
	res, err := s.exec(ctx, `DELETE FROM sessions WHERE idle_until <= ? OR expires_at <= ?`, t, t)
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("purge sessions: %w", err)
	}
	return int(n), nil
}

const tokenColumns = `id, name, role, hash, last4, created_by, created_at, expires_at, last_used_at`

func scanToken(row interface{ Scan(...any) error }) (store.APIToken, error) {
	var t store.APIToken
	err := row.Scan(&t.ID, &t.Name, &t.Role, &t.Hash, &t.Last4, &t.CreatedBy, timeCol{&t.CreatedAt},
		timeCol{&t.ExpiresAt}, timeCol{&t.LastUsedAt})
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
	now := s.now().UTC()
	_, err := s.exec(ctx, `INSERT INTO api_tokens (id, name, role, hash, last4, created_by, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, t.Name, t.Role, t.Hash, t.Last4, t.CreatedBy, timeText(now), timeArg(t.ExpiresAt))
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
	t, err := scanToken(s.reader.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens
		WHERE hash = ? AND (expires_at IS NULL OR expires_at > ?)`, hash, timeText(now)))
	if errors.Is(err, sql.ErrNoRows) {
		return t, fmt.Errorf("token: %w", store.ErrNotFound)
	}
	if err != nil {
		return t, fmt.Errorf("read token: %w", err)
	}
	return t, nil
}

// ListTokens lists the tokens by name.
func (s *Store) ListTokens(ctx context.Context) ([]store.APIToken, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []store.APIToken
	for rows.Next() {
		t, err := scanToken(rows)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// TouchToken records a use of the token.
func (s *Store) TouchToken(ctx context.Context, id string, at time.Time) error {
	if _, err := s.exec(ctx, `UPDATE api_tokens SET last_used_at = ? WHERE id = ?`, timeArg(at), id); err != nil {
		return fmt.Errorf("record token use: %w", err)
	}
	return nil
}

// DeleteToken revokes the token.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	res, err := s.exec(ctx, `DELETE FROM api_tokens WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("revoke token %s: %w", id, store.ErrNotFound)
	}
	return nil
}
