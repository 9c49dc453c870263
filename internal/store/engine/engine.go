// Package engine opens the store named by a DSN: a file path for the
// embedded SQLite engine, postgres:// for the PostgreSQL engine. It is the
// one place that knows every engine, so that nothing above it does.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/postgres"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// Mode says what an open may do to the database.
type Mode int

const (
	// ReadWrite opens an existing database at the current schema, creating
	// a new one (at the current schema) when nothing is at the path. An
	// older schema is refused with store.ErrSchemaOutdated.
	ReadWrite Mode = iota
	// ReadOnly opens an existing database for reading: nothing is created,
	// migrated or written; a missing database is store.ErrNoDatabase.
	ReadOnly
	// Existing is ReadWrite that never creates: a missing database is
	// store.ErrNoDatabase (verbs that work on what is there: pull, update).
	Existing
	// Migrate is ReadWrite that also upgrades an older schema
	// (`opwatch migrate`, and `serve --migrate`).
	Migrate
)

// Options tune an open; the zero value opens read-write.
type Options struct {
	Mode   Mode
	Logger *slog.Logger
}

// Local reports whether dsn names a local database file (SQLite), beside
// which a key file may live.
func Local(dsn string) bool {
	_, err := localPath(dsn)
	return err == nil
}

// Postgres reports whether dsn names a PostgreSQL database (a postgres://
// or postgresql:// URL).
func Postgres(dsn string) bool {
	scheme, _, found := strings.Cut(dsn, ":")
	lower := strings.ToLower(scheme)
	return found && (lower == "postgres" || lower == "postgresql")
}

// Open opens the store named by dsn. Errors name the database once; the
// caller need not add "open database".
func Open(ctx context.Context, dsn string, o Options) (store.Store, error) {
	if Postgres(dsn) {
		return openPostgres(ctx, dsn, o)
	}
	path, err := localPath(dsn)
	if err != nil {
		return nil, err
	}
	opts := sqlite.Options{Logger: o.Logger}
	switch o.Mode {
	case ReadWrite:
	case ReadOnly:
		opts.ReadOnly = true
	case Existing:
		opts.NoCreate = true
	case Migrate:
		opts.Migrate = true
	default:
		return nil, fmt.Errorf("open database %s: unknown mode %d", path, o.Mode)
	}
	return sqlite.Open(ctx, path, opts)
}

// openPostgres opens the PostgreSQL engine in the same modes. Errors name
// the database and schema, never the URL (it may hold a password).
func openPostgres(ctx context.Context, dsn string, o Options) (store.Store, error) {
	opts := postgres.Options{Logger: o.Logger}
	switch o.Mode {
	case ReadWrite:
	case ReadOnly:
		opts.ReadOnly = true
	case Existing:
		opts.NoCreate = true
	case Migrate:
		opts.Migrate = true
	default:
		return nil, fmt.Errorf("open PostgreSQL database: unknown mode %d", o.Mode)
	}
	s, err := postgres.Open(ctx, dsn, opts)
	if err != nil {
		return nil, err // not a nil *postgres.Store in a non-nil interface
	}
	return s, nil
}

// localPath returns the file a DSN names: a path, or a file: URI without
// parameters. Anything else is an error that says what is supported; it
// never repeats the DSN, which may hold a password.
func localPath(dsn string) (string, error) {
	if dsn == "" {
		return "", errors.New("no database given: name a file (or a postgres:// URL)")
	}
	scheme, rest, found := strings.Cut(dsn, ":")
	switch lower := strings.ToLower(scheme); {
	case !found || len(scheme) == 1: // a path; or a Windows drive letter
		return dsn, nil
	case lower == "postgres" || lower == "postgresql":
		return "", errors.New("a PostgreSQL URL names no local file")
	case lower == "file":
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("database file URI: %w", err)
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return "", errors.New("database file URI: parameters are not supported: give the path alone")
		}
		if u.Host != "" && u.Host != "localhost" {
			return "", errors.New("database file URI: only local files can be opened")
		}
		p := u.Path
		if p == "" {
			p = u.Opaque // file:relative.db
		}
		if p == "" {
			return "", errors.New("database file URI: no path")
		}
		if len(p) >= 3 && p[0] == '/' && p[2] == ':' {
			p = p[1:] // file:///C:/x.db names C:/x.db
		}
		return filepath.FromSlash(p), nil
	case strings.HasPrefix(rest, "//") || !strings.ContainsAny(scheme, `/\.`):
		return "", errors.New("unknown kind of database: name a file, or use a postgres:// URL")
	}
	return dsn, nil // a relative path with a colon in it
}
