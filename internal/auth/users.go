package auth

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// AdminName is the user EnsureAdmin creates.
const AdminName = "admin"

// EnsureAdmin creates user "admin" with a random password, printed once to
// w with how to change it, when the store has no user at all (the first
// start). Two replicas starting at once create one admin between them.
func (s *Service) EnsureAdmin(ctx context.Context, w io.Writer) error {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return fmt.Errorf("look for users: %w", err)
	}
	if len(users) > 0 {
		return nil
	}
	password := RandomPassword()
	if _, err := s.AddUser(ctx, AdminName, RoleAdmin, password); err != nil {
		if errors.Is(err, store.ErrExists) {
			return nil // another replica made it
		}
		return fmt.Errorf("create the first admin: %w", err)
	}
	_, err = fmt.Fprintf(w, `
Created the console's first user, %q (role admin), with this password:

    %s

It is shown only this once: sign in with it now. To replace it, run
  opwatch users reset-password %s
and add people with 'opwatch users add NAME --role analyst|admin'.

`, AdminName, password, AdminName)
	return err
}

// RandomPassword returns a new random password: 128 bits as 26 base32
// characters (crypto/rand.Text).
func RandomPassword() string { return rand.Text() }

// AddUser creates a user. The name is stored trimmed and in lower case.
func (s *Service) AddUser(ctx context.Context, name, role, password string) (store.User, error) {
	name = NormalizeName(name)
	if err := checkUserName(name); err != nil {
		return store.User{}, err
	}
	if err := checkRole(role); err != nil {
		return store.User{}, err
	}
	if err := checkPassword(password); err != nil {
		return store.User{}, err
	}
	h, err := s.hash(ctx, password)
	if err != nil {
		return store.User{}, err
	}
	u := store.User{Name: name, Role: role, PasswordHash: h}
	if err := s.st.CreateUser(ctx, &u); err != nil {
		if errors.Is(err, store.ErrExists) {
			return store.User{}, fmt.Errorf("a user named %q exists: %w", name, store.ErrExists)
		}
		return store.User{}, err
	}
	s.log.Info("user added", "user", name, "role", role)
	return u, nil
}

// userByName finds a user, saying which name was not found.
func (s *Service) userByName(ctx context.Context, name string) (store.User, error) {
	n := NormalizeName(name)
	u, err := s.st.UserByName(ctx, n)
	if errors.Is(err, store.ErrNotFound) {
		return u, fmt.Errorf("no user named %q (see `opwatch users list`): %w", n, store.ErrNotFound)
	}
	return u, err
}

// ResetPassword gives the user a new random password, returned to be shown
// once, and ends all of the user's sessions.
func (s *Service) ResetPassword(ctx context.Context, name string) (string, error) {
	u, err := s.userByName(ctx, name)
	if err != nil {
		return "", err
	}
	password := RandomPassword()
	if err := s.setPassword(ctx, u, password); err != nil {
		return "", err
	}
	return password, nil
}

// SetPassword sets a user's password (an admin's doing, or the CLI's) and
// ends all of the user's sessions.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	u, err := s.userByName(ctx, name)
	if err != nil {
		return err
	}
	return s.setPassword(ctx, u, password)
}

// ChangePassword replaces the password of the user with id when old is its
// current one (ErrWrongPassword otherwise). Every session of the user ends,
// the caller's too: send the user to /login.
func (s *Service) ChangePassword(ctx context.Context, userID, old, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	u, err := s.st.UserByID(ctx, userID)
	if err != nil {
		return err
	}
	ok, err := s.verify(ctx, u.PasswordHash, old)
	if err != nil && !errors.Is(err, errBadHash) {
		return err
	}
	if !ok {
		return ErrWrongPassword
	}
	return s.setPassword(ctx, u, password)
}

func (s *Service) setPassword(ctx context.Context, u store.User, password string) error {
	h, err := s.hash(ctx, password)
	if err != nil {
		return err
	}
	if err := s.st.SetUserPassword(ctx, u.ID, h); err != nil {
		return err
	}
	s.log.Info("password set; the user's sessions ended", "user", u.Name)
	return nil
}

// SetRole changes a user's role, at once for its sessions. The last admin
// cannot become an analyst (ErrLastAdmin).
func (s *Service) SetRole(ctx context.Context, name, role string) error {
	if err := checkRole(role); err != nil {
		return err
	}
	u, err := s.userByName(ctx, name)
	if err != nil {
		return err
	}
	if u.Role == RoleAdmin && role != RoleAdmin {
		if err := s.notLastAdmin(ctx, u); err != nil {
			return err
		}
	}
	if err := s.st.SetUserRole(ctx, u.ID, role); err != nil {
		return err
	}
	s.log.Info("role changed", "user", u.Name, "role", role)
	return nil
}

// RemoveUser deletes a user and ends its sessions. The last admin cannot
// be removed (ErrLastAdmin). API tokens it created stay: they belong to
// no one (revoke them with RevokeToken).
func (s *Service) RemoveUser(ctx context.Context, name string) error {
	u, err := s.userByName(ctx, name)
	if err != nil {
		return err
	}
	if u.Role == RoleAdmin {
		if err := s.notLastAdmin(ctx, u); err != nil {
			return err
		}
	}
	if err := s.st.DeleteUser(ctx, u.ID); err != nil {
		return err
	}
	s.log.Info("user removed; its sessions ended", "user", u.Name)
	return nil
}

func (s *Service) notLastAdmin(ctx context.Context, u store.User) error {
	users, err := s.st.ListUsers(ctx)
	if err != nil {
		return err
	}
	for _, o := range users {
		if o.ID != u.ID && o.Role == RoleAdmin {
			return nil
		}
	}
	return fmt.Errorf("user %q: %w: make another user admin first", u.Name, ErrLastAdmin)
}

// Users lists the users by name. Their PasswordHash is cleared: nothing
// that shows users needs it.
func (s *Service) Users(ctx context.Context) ([]store.User, error) {
	users, err := s.st.ListUsers(ctx)
	for i := range users {
		users[i].PasswordHash = ""
	}
	return users, err
}

// TokenPrefix starts every API token, so that secret scanners and people
// recognise one.
const TokenPrefix = "opw_"

// CreateToken makes an API token for role, expiring after ttl (0: never).
// plain is the token, to be shown once: only its hash is stored.
func (s *Service) CreateToken(ctx context.Context, name, role string, createdBy string, ttl time.Duration) (plain string, t store.APIToken, err error) {
	name = strings.TrimSpace(name)
	if err := checkTokenName(name); err != nil {
		return "", t, err
	}
	if err := checkRole(role); err != nil {
		return "", t, err
	}
	if ttl < 0 {
		return "", t, fmt.Errorf("%w lifetime %v: give a positive one, or 0 for a token that does not expire", ErrInvalid, ttl)
	}
	plain = TokenPrefix + randomSecret()
	t = store.APIToken{Name: name, Role: role, Hash: digest(plain), Last4: plain[len(plain)-4:], CreatedBy: createdBy}
	if ttl > 0 {
		t.ExpiresAt = s.now().Add(ttl).UTC()
	}
	if err := s.st.CreateToken(ctx, &t); err != nil {
		if errors.Is(err, store.ErrExists) {
			return "", store.APIToken{}, fmt.Errorf("a token named %q exists: %w", name, store.ErrExists)
		}
		return "", store.APIToken{}, err
	}
	s.log.Info("API token created", "token", name, "token_id", t.ID, "role", role, "by", createdBy)
	t.Hash = ""
	return plain, t, nil
}

// Tokens lists the API tokens by name, expired ones too. Their Hash is
// cleared.
func (s *Service) Tokens(ctx context.Context) ([]store.APIToken, error) {
	ts, err := s.st.ListTokens(ctx)
	for i := range ts {
		ts[i].Hash = ""
	}
	return ts, err
}

// RevokeToken deletes the token with id (store.ErrNotFound if none).
func (s *Service) RevokeToken(ctx context.Context, id string) error {
	if err := s.st.DeleteToken(ctx, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no API token with id %q (see `opwatch tokens list`): %w", id, store.ErrNotFound)
		}
		return err
	}
	s.log.Info("API token revoked", "token_id", id)
	return nil
}
