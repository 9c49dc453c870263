package postgres

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded files "NNNN_name.sql" in version order.
func migrations() ([]migration, error) {
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration file %q is not named NNNN_name.sql", name)
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %q: versions must run 1, 2, 3... without gaps", m.name)
		}
	}
	return ms, nil
}

// LatestSchemaVersion is the schema version this build migrates to.
func LatestSchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		return 0
	}
	return len(ms)
}

// migrateLock serialises migrations of one schema across replicas (each
// transaction takes it with the schema's name).
const migrateLock = 0x6f70_6d69 // "opmi"

// Migrate brings the schema up to date, each migration in its own
// transaction recorded in schema_migrations with the grants of Query's
// role (see setupLake), and grants them again when there was nothing to
// apply (a role dropped by hand is made again). Replicas may run it at once: each transaction holds an
// advisory lock and applies only what is still missing. A schema from a
// newer opwatch is refused with store.ErrSchemaNewer.
func (s *Store) Migrate(ctx context.Context) error {
	if s.readOnly {
		return s.errReadOnlyStore()
	}
	ms, err := migrations()
	if err != nil {
		return err
	}
	for {
		var applied *migration
		err := s.withTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, migrateLock); err != nil {
				return err
			}
			current, err := schemaVersion(ctx, tx)
			if err != nil {
				return err
			}
			if current > len(ms) {
				return newerError(current, len(ms))
			}
			if current == len(ms) {
				return nil
			}
			m := ms[current]
			if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
				version    integer PRIMARY KEY,
				name       text NOT NULL,
				applied_at timestamptz NOT NULL DEFAULT clock_timestamp()
			)`); err != nil {
				return fmt.Errorf("create schema_migrations: %w", err)
			}
			// The simple protocol runs a file of many statements.
			if _, err := tx.Conn().PgConn().Exec(ctx, m.sql).ReadAll(); err != nil {
				return fmt.Errorf("migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("migration %s: record it: %w", m.name, err)
			}
			// With the migration, or not at all: a schema whose queries
			// could read secrets, or not run, is never left behind.
			if err := setupLake(ctx, tx); err != nil {
				return fmt.Errorf("migration %s: set up the role that queries run as: %w", m.name, err)
			}
			applied = &m
			return nil
		})
		if err != nil {
			return err
		}
		if applied == nil {
			break
		}
		s.log.Info("applied migration", slog.Int("version", applied.version), slog.String("name", applied.name))
	}
	if err := s.withTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))`, migrateLock); err != nil {
			return err
		}
		return setupLake(ctx, tx)
	}); err != nil {
		return fmt.Errorf("set up the role that queries run as: %w", err)
	}
	return nil
}

// SchemaVersion reports the schema's version (the number of migrations
// applied) and the latest this build knows.
func (s *Store) SchemaVersion(ctx context.Context) (current, latest int, err error) {
	current, err = schemaVersion(ctx, s.pool)
	return current, LatestSchemaVersion(), err
}

// schemaVersion reads the version of the current schema: 0 for an empty
// one; an error for one that holds other tables but not opwatch's.
func schemaVersion(ctx context.Context, q querier) (int, error) {
	var tables, ours int
	err := q.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE relname = 'schema_migrations')
		FROM pg_class WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'v', 'm', 'f')`).
		Scan(&tables, &ours)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if ours == 0 {
		if tables > 0 {
			return 0, errors.New("the schema holds tables, but not opwatch's (it has no schema_migrations table): " +
				"give opwatch a database or schema of its own (search_path in the URL)")
		}
		return 0, nil
	}
	var v *int
	if err := q.QueryRow(ctx, `SELECT max(version) FROM schema_migrations`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	if v == nil {
		return 0, nil
	}
	return *v, nil
}

// privateTables are the console's accounts: Query reads none of them (the
// same as the SQLite engine's).
var privateTables = map[string]bool{"users": true, "sessions": true, "api_tokens": true}

// secretColumns are the columns Query may not read (the same as the SQLite
// engine's): a source's sealed token, a destination's sealed secret, a
// stream's cursor (which replays the stream's events to whoever holds the
// token), a user's password hash (which could be cracked offline), and the
// hashes of sessions and API tokens.
var secretColumns = map[string][]string{"sources": {"token"}, "streams": {"cursor"}, "destinations": {"secret"},
	"users": {"password_hash"}, "sessions": {"hash"}, "api_tokens": {"hash"}}

// lakeRole is the role Query runs users' SQL as: one per login role, so
// that two opwatch installations on one server, under different users,
// cannot read each other's lakes through it.
func lakeRole(user string) string {
	const suffix = "_opwatch_query"
	if len(user)+len(suffix) <= 63 && !strings.ContainsAny(user, "\x00") {
		return user + suffix
	}
	h := sha256.Sum256([]byte(user))
	return "opwatch_query_" + hex.EncodeToString(h[:12])
}

// setupLake makes Query's role and function, and grants the role SELECT on
// every table and view of the schema except the secret columns.
//
// Why a role and a SECURITY DEFINER function: the connecting user owns
// every table, so anything it runs could read the secrets; a statement
// check cannot see into dynamic SQL (query_to_xml runs a string). The
// function is owned by the role, so the user's statement runs as it, with
// its privileges only, however it gets there; and inside a SECURITY
// DEFINER function PostgreSQL refuses to change the role (set_config('role',
// ...) would otherwise bring the owner back, as the session user may).
func setupLake(ctx context.Context, tx pgx.Tx) error {
	var user string
	var schemas []string
	if err := tx.QueryRow(ctx, `SELECT current_user, current_schemas(false)`).Scan(&user, &schemas); err != nil {
		return err
	}
	role := lakeRole(user)
	qrole := quoteIdent(role)
	advice := fmt.Sprintf("or have an administrator run: CREATE ROLE %s NOLOGIN; GRANT %s TO %s;", qrole, qrole, quoteIdent(user))
	var exists, member bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_roles WHERE rolname = $1)`, role).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		// Several schemas may be set up at once (tests, replicas of
		// installations sharing a user): a role made meanwhile is fine.
		_, err := tx.Exec(ctx, `DO $$ BEGIN CREATE ROLE `+qrole+` NOLOGIN;
			EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$`)
		if err != nil {
			return fmt.Errorf("create role %s: %w (the user needs CREATEROLE, %s)", qrole, err, advice)
		}
	}
	if err := tx.QueryRow(ctx, `SELECT pg_has_role(current_user, $1, 'MEMBER')`, role).Scan(&member); err != nil {
		return err
	}
	if !member {
		if _, err := tx.Exec(ctx, `GRANT `+qrole+` TO CURRENT_USER`); err != nil {
			return fmt.Errorf("grant role %s to %s: %w (%s)", qrole, quoteIdent(user), err, advice)
		}
	}
	var schema string
	if err := tx.QueryRow(ctx, `SELECT current_schema()`).Scan(&schema); err != nil {
		return err
	}
	qschema := quoteIdent(schema)
	if _, err := tx.Exec(ctx, `GRANT USAGE ON SCHEMA `+qschema+` TO `+qrole); err != nil {
		return err
	}
	rows, err := tx.Query(ctx, `SELECT relname FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p', 'v', 'm') ORDER BY relname`)
	if err != nil {
		return err
	}
	rels, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, rel := range rels {
		if privateTables[rel] {
			continue
		}
		if err := grantLake(ctx, tx, rel, qrole); err != nil {
			return err
		}
	}
	path := make([]string, 0, len(schemas)+1)
	for _, sc := range schemas {
		path = append(path, quoteIdent(sc))
	}
	path = append(path, "pg_temp")
	if _, err := tx.Exec(ctx, `CREATE OR REPLACE FUNCTION opwatch_lake_query(q text) RETURNS SETOF record
		LANGUAGE plpgsql SECURITY DEFINER SET search_path = `+strings.Join(path, ", ")+` AS $$
		BEGIN RETURN QUERY EXECUTE q; END $$`); err != nil {
		return err
	}
	// A function's new owner needs CREATE on its schema, for the moment of
	// the change only.
	for _, q := range []string{
		`REVOKE ALL ON FUNCTION opwatch_lake_query(text) FROM PUBLIC`,
		`GRANT CREATE ON SCHEMA ` + qschema + ` TO ` + qrole,
		`ALTER FUNCTION opwatch_lake_query(text) OWNER TO ` + qrole,
		`REVOKE CREATE ON SCHEMA ` + qschema + ` FROM ` + qrole,
		`GRANT EXECUTE ON FUNCTION opwatch_lake_query(text) TO CURRENT_USER`,
		// Query caps every value it hands out (see query.go); this is how
		// a query over the cap fails.
		`CREATE OR REPLACE FUNCTION opwatch_value_too_big() RETURNS text LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
			MESSAGE = 'a value exceeds ` + strconv.Itoa(maxValueBytes>>20) + ` MiB, the most one query may return'; END $$`,
	} {
		if _, err := tx.Exec(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", strings.Fields(q)[0], err)
		}
	}
	return nil
}

// grantLake grants role SELECT on the relation rel, leaving out its
// secret columns.
func grantLake(ctx context.Context, tx pgx.Tx, rel, qrole string) error {
	secret := secretColumns[rel]
	if len(secret) == 0 {
		_, err := tx.Exec(ctx, `GRANT SELECT ON `+quoteIdent(rel)+` TO `+qrole)
		return err
	}
	rows, err := tx.Query(ctx, `SELECT attname FROM pg_attribute
		WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped AND NOT (attname = ANY ($2)) ORDER BY attnum`,
		quoteIdent(rel), secret)
	if err != nil {
		return err
	}
	cols, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for i, c := range cols {
		cols[i] = quoteIdent(c)
	}
	// A table-wide grant would cover the secret columns too: none may stay.
	if _, err := tx.Exec(ctx, `REVOKE ALL ON `+quoteIdent(rel)+` FROM `+qrole); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `GRANT SELECT (`+strings.Join(cols, ", ")+`) ON `+quoteIdent(rel)+` TO `+qrole)
	return err
}
