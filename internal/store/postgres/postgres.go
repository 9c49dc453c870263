// Package postgres is the scale-out storage engine of opwatch: the same
// tables and views as the SQLite engine on a PostgreSQL server, shared by
// any number of opwatch replicas. It uses pgx through two pools: one for the
// store's own work, and a small one for Query, whose connections run users'
// SQL through a restricted role (see query.go).
//
// What differs from SQLite, and why:
//   - Positions: sequence values are handed out at insert, and concurrent
//     transactions commit in any order. Every transaction that inserts
//     events takes one transaction-level advisory lock before its first
//     insert and holds it through commit, so events commit in seq order and
//     EventsAfter can read "seq > after" without ever skipping a late
//     commit (see insert.go).
//   - Time: leases and the times the store sets are the database server's
//     clock_timestamp(), never a replica's; Options.Now replaces it in
//     tests.
//   - Text: PostgreSQL text cannot hold NUL, which event data may carry
//     (as \u0000); such text is stored escaped (see text.go). Raw events are
//     bytea, byte for byte.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/opwatch/opwatch/internal/store"
)

// Options tune a Store; the zero value opens read-write.
type Options struct {
	Logger *slog.Logger
	// Now, when set, is the store's clock instead of the database server's
	// (tests move it). Replicas must leave it nil: leases are fenced by one
	// clock, the server's.
	Now func() time.Time
	// ReadOnly opens an existing database for reading only: nothing is
	// created, migrated or written (every transaction is read-only). A
	// database without opwatch's schema is store.ErrNoDatabase.
	ReadOnly bool
	// Migrate upgrades an older schema. Without it an older schema is
	// refused with store.ErrSchemaOutdated. An empty database is always
	// created at the latest schema (unless NoCreate or ReadOnly).
	Migrate bool
	// NoCreate opens an existing database for writing, creating nothing:
	// one without opwatch's schema is store.ErrNoDatabase.
	NoCreate bool
	// MaxConns bounds the store's pool (default 8); Query has its own of
	// QueryConns (default 4).
	MaxConns   int32
	QueryConns int32
}

// Store is the PostgreSQL engine. It is safe for concurrent use.
type Store struct {
	pool     *pgxpool.Pool // the store's own reads and writes
	lake     *pgxpool.Pool // Query only; see query.go
	log      *slog.Logger
	clock    func() time.Time // nil: the server's clock
	readOnly bool
	where    string // "database D, schema S" for errors; never the DSN, which may hold a password
}

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn (a postgres:// URL or a
// libpq key=value string; search_path in it selects the schema) and checks
// its schema; see Options. Errors never repeat the DSN.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = 8
	}
	if opts.QueryConns <= 0 {
		opts.QueryConns = 4
	}
	s := &Store{log: opts.Logger, clock: opts.Now, readOnly: opts.ReadOnly, where: "PostgreSQL database"}
	if err := s.open(ctx, dsn, opts); err != nil {
		s.Close()
		if errors.Is(err, store.ErrNoDatabase) || errors.Is(err, store.ErrSchemaOutdated) || errors.Is(err, store.ErrSchemaNewer) {
			return nil, err
		}
		return nil, fmt.Errorf("open %s: %w", s.where, err)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, dsn string, opts Options) error {
	cfg, err := poolConfig(dsn, opts.MaxConns, opts.ReadOnly)
	if err != nil {
		return err
	}
	s.where = fmt.Sprintf("PostgreSQL database %q", cfg.ConnConfig.Database)
	if s.pool, err = pgxpool.NewWithConfig(ctx, cfg); err != nil {
		return err
	}
	var db, schema string
	err = s.pool.QueryRow(ctx, `SELECT current_database(), coalesce(current_schema(), '')`).Scan(&db, &schema)
	if err != nil {
		var pe *pgconn.PgError
		if errors.As(err, &pe) && pe.Code == "3D000" { // invalid_catalog_name
			return fmt.Errorf("%w: %s does not exist: create it first (createdb), or name another in the URL",
				store.ErrNoDatabase, s.where)
		}
		return fmt.Errorf("connect: %w", err)
	}
	if schema == "" {
		return errors.New("no schema to use: the search_path names none that exists; create it or set search_path in the URL")
	}
	s.where = fmt.Sprintf("PostgreSQL database %q (schema %q)", db, schema)
	current, err := schemaVersion(ctx, s.pool)
	if err != nil {
		return err
	}
	latest := LatestSchemaVersion()
	switch {
	case current > latest:
		return newerError(current, latest)
	case current == 0 && (opts.ReadOnly || opts.NoCreate):
		return fmt.Errorf("%w: %s holds no opwatch schema; run opwatch migrate", store.ErrNoDatabase, s.where)
	case current > 0 && current < latest && (!opts.Migrate || opts.ReadOnly):
		return outdatedError(current, latest)
	case current < latest || opts.Migrate:
		// A new (empty) schema starts at the latest version; an older one
		// is upgraded because the caller asked (who may also ask at the
		// latest: Migrate then sets up Query's role again).
		if err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	lakeCfg, err := poolConfig(dsn, opts.QueryConns, true)
	if err != nil {
		return err
	}
	// Users' SQL differs every time: nothing is worth caching, and a
	// statement cache would only pin server memory.
	lakeCfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeExec
	lakeCfg.ConnConfig.StatementCacheCapacity = 0
	lakeCfg.ConnConfig.DescriptionCacheCapacity = 0
	lakeCfg.MinConns = 0
	s.lake, err = pgxpool.NewWithConfig(ctx, lakeCfg)
	return err
}

// poolConfig parses dsn with what every connection of the store needs: UTC
// (timestamps render and parse in it, as the SQLite engine's text does),
// and read-only transactions by default when readOnly.
func poolConfig(dsn string, maxConns int32, readOnly bool) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors quote the string; say what is wrong without it.
		return nil, errors.New("the PostgreSQL URL cannot be parsed: check its form (postgres://user@host:port/database?sslmode=...)")
	}
	params := cfg.ConnConfig.RuntimeParams
	params["timezone"] = "UTC"
	if params["application_name"] == "" {
		params["application_name"] = "opwatch"
	}
	if readOnly {
		params["default_transaction_read_only"] = "on"
	}
	// A transaction left open (a replica stopped or cut off mid-commit)
	// would hold the readers of events back (see markInFlight), and its
	// row locks would stall the replica that took its lease over: end it
	// well within a stage lease (30 s). opwatch never leaves a transaction
	// idle for long between its statements.
	if params["idle_in_transaction_session_timeout"] == "" {
		params["idle_in_transaction_session_timeout"] = "10000" // 10 s
	}
	cfg.MaxConns = maxConns
	cfg.MaxConnIdleTime = 5 * time.Minute
	return cfg, nil
}

func outdatedError(current, latest int) error {
	return fmt.Errorf("%w (version %d, this opwatch uses %d): run opwatch migrate",
		store.ErrSchemaOutdated, current, latest)
}

func newerError(current, latest int) error {
	return fmt.Errorf("%w (version %d, this opwatch knows up to %d): upgrade opwatch",
		store.ErrSchemaNewer, current, latest)
}

// Close closes both pools.
func (s *Store) Close() error {
	if s.lake != nil {
		s.lake.Close()
		s.lake = nil
	}
	if s.pool != nil {
		s.pool.Close()
		s.pool = nil
	}
	return nil
}

// errReadOnlyStore is what a write on a store opened read-only returns.
func (s *Store) errReadOnlyStore() error {
	return fmt.Errorf("%s is open read-only: %w", s.where, store.ErrReadOnly)
}

// withTx runs f in a read-committed transaction and commits if f returns
// nil.
func (s *Store) withTx(ctx context.Context, f func(tx pgx.Tx) error) error {
	if s.readOnly {
		return s.errReadOnlyStore()
	}
	return pgx.BeginFunc(ctx, s.pool, f)
}

// exec runs one writing statement on its own.
func (s *Store) exec(ctx context.Context, query string, args ...any) (pgconn.CommandTag, error) {
	if s.readOnly {
		return pgconn.CommandTag{}, s.errReadOnlyStore()
	}
	return s.pool.Exec(ctx, query, args...)
}

// querier is what a pool and a transaction share.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// now is the store's time: Options.Now (to the microsecond the server
// keeps), else the server's clock, read through q (in a transaction, so
// every statement of it fences by the same instant).
func (s *Store) now(ctx context.Context, q querier) (time.Time, error) {
	if s.clock != nil {
		return floorMicro(s.clock()), nil
	}
	var t time.Time
	if err := q.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&t); err != nil {
		return time.Time{}, fmt.Errorf("read the database's clock: %w", err)
	}
	return t.UTC(), nil
}

// pgCode is the SQLSTATE of err, or "".
func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool     { return pgCode(err) == "23505" }
func isForeignKeyViolation(err error) bool { return pgCode(err) == "23503" }

// constraintOf is the constraint a violation names, or "".
func constraintOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.ConstraintName
	}
	return ""
}

// quoteIdent quotes a PostgreSQL identifier.
func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// quoteString quotes a string literal (standard_conforming_strings is on
// in every supported PostgreSQL).
func quoteString(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }
