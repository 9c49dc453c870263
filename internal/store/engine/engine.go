// Package engine opens the store named by a DSN: a file path for the
// embedded SQLite engine, postgres:// for the PostgreSQL engine. It is the
// one place that knows every engine, so that nothing above it does.
package engine

import (
	"context"
	"log/slog"

	"github.com/opwatch/opwatch/internal/store"
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
func Local(dsn string) bool

// Open opens the store named by dsn.
func Open(ctx context.Context, dsn string, o Options) (store.Store, error)
