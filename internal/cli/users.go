package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/opwatch/opwatch/internal/auth"
	"github.com/opwatch/opwatch/internal/config"
	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/engine"
)

const usersUsage = `Usage: opwatch users SUBCOMMAND [flags]

Subcommands:
  add             NAME [--role analyst|admin] [--password-file F]: a new console user
  list            every user: role, created, last sign-in
  remove          NAME: delete the user and end its sessions
  reset-password  NAME [--password-file F]: a new password; the user's sessions end
  set-role        NAME analyst|admin: change what the user may do

Analysts triage alerts and search; admins also change sources, rules,
destinations, users and API tokens. Without --password-file a random
password is made and printed once. A password file (- for standard input)
holds the password on its first line. The first 'opwatch serve' creates the
user "admin" when there is none.
`

func runUsers(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, usersUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "add", "list", "ls", "remove", "rm", "reset-password", "set-role")
	switch sub {
	case "add":
		return usersAdd(ctx, e, args)
	case "list", "ls":
		return usersList(ctx, e, args)
	case "remove", "rm":
		return usersRemove(ctx, e, args)
	case "reset-password":
		return usersResetPassword(ctx, e, args)
	case "set-role":
		return usersSetRole(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, usersUsage)
		return nil
	}
	fmt.Fprint(e.stderr, usersUsage)
	return usagef("unknown subcommand %q", sub)
}

// authService opens the database and returns its auth service.
func (e *env) authService(ctx context.Context, mode engine.Mode) (*app, *auth.Service, error) {
	var a *app
	var err error
	if mode == engine.ReadOnly {
		a, err = e.openRead(ctx)
	} else {
		a, err = e.openWrite(ctx, mode, keyOptional)
	}
	if err != nil {
		return nil, nil, err
	}
	return a, auth.New(auth.Config{Store: a.store, Logger: a.log}), nil
}

// readPassword reads a password from path (- for standard input): its
// first line, as typed (only the line ending is dropped).
func readPassword(e *env, path string) (string, error) {
	var r io.Reader
	if path == "-" {
		r = e.stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("--password-file: %w", err)
		}
		defer f.Close()
		r = f
	}
	b, err := io.ReadAll(io.LimitReader(r, 4<<10))
	if err != nil {
		return "", fmt.Errorf("--password-file: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimSuffix(line, "\r")
	if line == "" {
		return "", usagef("--password-file %s: the first line is empty", path)
	}
	return line, nil
}

// authError words the auth service's refusals for the command line.
func authError(err error) error {
	if errors.Is(err, auth.ErrInvalid) || errors.Is(err, auth.ErrLastAdmin) {
		return usageError{err}
	}
	return err
}

func usersAdd(ctx context.Context, e *env, args []string) error {
	fs := e.flags("users add", "users add NAME [--role analyst|admin] [--password-file F]",
		"Add a console user. Names are lower case letters, digits and . _ - @. Without\n"+
			"--password-file a random password is made and printed once: pass it on safely.")
	role := fs.String("role", auth.RoleAnalyst, "`role`: analyst (triage and search) or admin (also changes settings)")
	pwFile := fs.String("password-file", "", "read the password (at least 12 characters) from the first line of `file` (- for standard input)")
	pos, err := parseWant(fs, args, 1, 1, "the new user's name")
	if err != nil {
		return err
	}
	password, generated := "", false
	if *pwFile != "" {
		if password, err = readPassword(e, *pwFile); err != nil {
			return err
		}
	} else {
		password, generated = auth.RandomPassword(), true
	}
	a, svc, err := e.authService(ctx, engine.ReadWrite)
	if err != nil {
		return err
	}
	defer a.Close()
	u, err := svc.AddUser(ctx, pos[0], *role, password)
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: pick another name, or `opwatch users reset-password %s`", err, quoted(auth.NormalizeName(pos[0])))
		}
		return authError(err)
	}
	fmt.Fprintf(e.stdout, "Added user %s (role %s).\n", safetext.Terminal(u.Name), u.Role)
	if generated {
		fmt.Fprintf(e.stdout, "Password (shown only this once):\n\n    %s\n\n", password)
	}
	return nil
}

func usersResetPassword(ctx context.Context, e *env, args []string) error {
	fs := e.flags("users reset-password", "users reset-password NAME [--password-file F]",
		"Give a user a new password and end all of its sessions. Without --password-file a\n"+
			"random one is made and printed once.")
	pwFile := fs.String("password-file", "", "read the new password (at least 12 characters) from the first line of `file` (- for standard input)")
	pos, err := parseWant(fs, args, 1, 1, "the user's name")
	if err != nil {
		return err
	}
	var password string
	if *pwFile != "" {
		if password, err = readPassword(e, *pwFile); err != nil {
			return err
		}
	}
	a, svc, err := e.authService(ctx, engine.Existing)
	if err != nil {
		return err
	}
	defer a.Close()
	name := auth.NormalizeName(pos[0])
	if password != "" {
		if err := svc.SetPassword(ctx, name, password); err != nil {
			return authError(err)
		}
		fmt.Fprintf(e.stdout, "Set the password of %s; its sessions ended.\n", safetext.Terminal(name))
		return nil
	}
	password, err = svc.ResetPassword(ctx, name)
	if err != nil {
		return authError(err)
	}
	fmt.Fprintf(e.stdout, "New password of %s (shown only this once; its sessions ended):\n\n    %s\n\n", safetext.Terminal(name), password)
	return nil
}

func usersRemove(ctx context.Context, e *env, args []string) error {
	fs := e.flags("users remove", "users remove NAME", "Delete a console user and end its sessions. The last admin cannot be removed.")
	pos, err := parseWant(fs, args, 1, 1, "the user's name")
	if err != nil {
		return err
	}
	a, svc, err := e.authService(ctx, engine.Existing)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := svc.RemoveUser(ctx, pos[0]); err != nil {
		return authError(err)
	}
	fmt.Fprintf(e.stdout, "Removed user %s; its sessions ended.\n", safetext.Terminal(auth.NormalizeName(pos[0])))
	return nil
}

func usersSetRole(ctx context.Context, e *env, args []string) error {
	fs := e.flags("users set-role", "users set-role NAME analyst|admin", "Change a user's role; its open sessions take it at once.")
	pos, err := parseWant(fs, args, 2, 2, "the user's name and role")
	if err != nil {
		return err
	}
	a, svc, err := e.authService(ctx, engine.Existing)
	if err != nil {
		return err
	}
	defer a.Close()
	if err := svc.SetRole(ctx, pos[0], pos[1]); err != nil {
		return authError(err)
	}
	fmt.Fprintf(e.stdout, "%s is now %s.\n", safetext.Terminal(auth.NormalizeName(pos[0])), pos[1])
	return nil
}

func usersList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("users list", "users list [--format table|json]", "List the console's users: role, when created, last sign-in.")
	format := fs.String("format", "table", "output `format`: table or json")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format %q: want table or json", *format)
	}
	a, svc, err := e.authService(ctx, engine.ReadOnly)
	if err != nil {
		return err
	}
	defer a.Close()
	users, err := svc.Users(ctx)
	if err != nil {
		return err
	}
	if *format == "json" {
		type row struct {
			Name        string     `json:"name"`
			Role        string     `json:"role"`
			CreatedAt   time.Time  `json:"created_at"`
			LastLoginAt *time.Time `json:"last_login_at"`
		}
		out := []row{}
		for _, u := range users {
			out = append(out, row{u.Name, u.Role, u.CreatedAt, optTime(u.LastLoginAt)})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(users) == 0 {
		fmt.Fprintln(e.stdout, "No users yet: `opwatch serve` creates \"admin\" at its first start, or add one with `opwatch users add NAME --role admin`.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tLAST SIGN-IN")
	for _, u := range users {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", safetext.Terminal(u.Name), u.Role, timeOrDash(u.CreatedAt), timeOrDash(u.LastLoginAt))
	}
	return tw.Flush()
}

func timeOrDash(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

const tokensUsage = `Usage: opwatch tokens SUBCOMMAND [flags]

Subcommands:
  create  NAME [--role analyst|admin] [--expires 90d]: a new API token, printed once
  list    every token: role, last 4 characters, expiry, last use
  revoke  ID|NAME: the token stops working at once

Programs call the HTTP API under /api/v1/ with the header
  Authorization: Bearer opw_...
A token acts with its role: analyst (read, triage, search) or admin (also
changes settings). Only a hash of it is stored: a lost token cannot be
shown again; revoke it and create another.
`

func runTokens(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(e.stderr, tokensUsage)
		return usagef("missing subcommand")
	}
	sub, args := subcommand(args, "create", "add", "list", "ls", "revoke", "remove", "rm")
	switch sub {
	case "create", "add":
		return tokensCreate(ctx, e, args)
	case "list", "ls":
		return tokensList(ctx, e, args)
	case "revoke", "remove", "rm":
		return tokensRevoke(ctx, e, args)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(e.stdout, tokensUsage)
		return nil
	}
	fmt.Fprint(e.stderr, tokensUsage)
	return usagef("unknown subcommand %q", sub)
}

func tokensCreate(ctx context.Context, e *env, args []string) error {
	fs := e.flags("tokens create", "tokens create NAME [--role analyst|admin] [--expires 90d]",
		"Create an API token and print it once. Keep it like a password.")
	role := fs.String("role", auth.RoleAnalyst, "`role` the token acts with: analyst or admin")
	expires := fs.String("expires", "90d", "the token stops working after this `duration` (30d, 12h; 0 for never)")
	pos, err := parseWant(fs, args, 1, 1, "the token's name")
	if err != nil {
		return err
	}
	var ttl time.Duration
	if *expires != "0" {
		if ttl, err = config.ParseDuration(*expires); err != nil {
			return usagef("--expires: %v", err)
		}
		if ttl <= 0 {
			return usagef("--expires %q: give a positive duration, or 0 for never", *expires)
		}
	}
	a, svc, err := e.authService(ctx, engine.ReadWrite)
	if err != nil {
		return err
	}
	defer a.Close()
	plain, t, err := svc.CreateToken(ctx, pos[0], *role, "cli", ttl)
	if err != nil {
		if errors.Is(err, store.ErrExists) {
			return fmt.Errorf("%w: pick another name, or revoke it first (`opwatch tokens list`)", err)
		}
		return authError(err)
	}
	exp := "never expires"
	if !t.ExpiresAt.IsZero() {
		exp = "expires " + timeOrDash(t.ExpiresAt)
	}
	fmt.Fprintf(e.stdout, "Created API token %s (role %s, %s, id %s).\n", safetext.Terminal(t.Name), t.Role, exp, t.ID)
	fmt.Fprintf(e.stdout, "Token (shown only this once):\n\n    %s\n\nUse it as the header  Authorization: Bearer <token>\n", plain)
	return nil
}

func tokensList(ctx context.Context, e *env, args []string) error {
	fs := e.flags("tokens list", "tokens list [--format table|json]", "List the API tokens: role, last 4 characters, expiry and last use. Tokens themselves are not stored.")
	format := fs.String("format", "table", "output `format`: table or json")
	if _, err := parseWant(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *format != "table" && *format != "json" {
		return usagef("--format %q: want table or json", *format)
	}
	a, svc, err := e.authService(ctx, engine.ReadOnly)
	if err != nil {
		return err
	}
	defer a.Close()
	ts, err := svc.Tokens(ctx)
	if err != nil {
		return err
	}
	now := time.Now()
	if *format == "json" {
		type row struct {
			ID         string     `json:"id"`
			Name       string     `json:"name"`
			Role       string     `json:"role"`
			Last4      string     `json:"last4"`
			CreatedBy  string     `json:"created_by"`
			CreatedAt  time.Time  `json:"created_at"`
			ExpiresAt  *time.Time `json:"expires_at"`
			LastUsedAt *time.Time `json:"last_used_at"`
			Expired    bool       `json:"expired"`
		}
		out := []row{}
		for _, t := range ts {
			out = append(out, row{t.ID, t.Name, t.Role, t.Last4, t.CreatedBy, t.CreatedAt, optTime(t.ExpiresAt), optTime(t.LastUsedAt),
				!t.ExpiresAt.IsZero() && !now.Before(t.ExpiresAt)})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if len(ts) == 0 {
		fmt.Fprintln(e.stdout, "No API tokens. Create one with `opwatch tokens create NAME --role analyst`.")
		return nil
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tROLE\tTOKEN\tCREATED BY\tEXPIRES\tLAST USED")
	for _, t := range ts {
		exp := "never"
		if !t.ExpiresAt.IsZero() {
			exp = timeOrDash(t.ExpiresAt)
			if !now.Before(t.ExpiresAt) {
				exp += " (expired)"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\topw_…%s\t%s\t%s\t%s\n", t.ID, safetext.Terminal(t.Name), t.Role, safetext.Terminal(t.Last4),
			safetext.Terminal(t.CreatedBy), exp, timeOrDash(t.LastUsedAt))
	}
	return tw.Flush()
}

func tokensRevoke(ctx context.Context, e *env, args []string) error {
	fs := e.flags("tokens revoke", "tokens revoke ID|NAME", "Revoke an API token: it stops working at once.")
	pos, err := parseWant(fs, args, 1, 1, "the token's id or name")
	if err != nil {
		return err
	}
	a, svc, err := e.authService(ctx, engine.Existing)
	if err != nil {
		return err
	}
	defer a.Close()
	ts, err := svc.Tokens(ctx)
	if err != nil {
		return err
	}
	for _, t := range ts {
		if t.ID == pos[0] || t.Name == pos[0] {
			if err := svc.RevokeToken(ctx, t.ID); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "Revoked API token %s (id %s).\n", safetext.Terminal(t.Name), t.ID)
			return nil
		}
	}
	return fmt.Errorf("no API token with id or name %s (see `opwatch tokens list`): %w", quoted(pos[0]), store.ErrNotFound)
}
