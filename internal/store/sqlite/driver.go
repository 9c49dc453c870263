package sqlite

// This file is the only one that imports the SQLite driver, so that switching
// drivers (ncruces/go-sqlite3 is the documented second choice) touches one file.

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// fileURI turns a path into a SQLite URI, so that SQLite's own mode=ro applies
// and unusual characters in the path survive.
func fileURI(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("resolve database path %q: %w", path, err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letters
	}
	return (&url.URL{Scheme: "file", Path: p}).String(), nil
}

// openWriter opens the one connection that writes. Busy timeout first: without
// it the driver fails at once with "database is locked". Statement journals
// (every multi-row INSERT needs one) stay in memory, and the WAL is
// checkpointed by the checkpointer, off the commit path; the writer's own
// automatic checkpoint is only a backstop.
func openWriter(drv *sqlite.Driver, uri string, cacheKiB int) (*sql.DB, error) {
	// auto_vacuum INCREMENTAL takes effect on a new database (before its
	// first table) and after a full VACUUM: then ReclaimSpace gives the pages
	// compaction freed back without rewriting the file.
	return openOne(drv, uri+"?_pragma=busy_timeout(5000)&_pragma=auto_vacuum(2)"+
		"&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_pragma=page_size(16384)"+
		"&_pragma=cache_size(-"+strconv.Itoa(cacheKiB)+")"+
		"&_pragma=journal_size_limit("+strconv.Itoa(walSizeLimit)+")"+
		"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate")
}

// openCheckpointer opens the connection that checkpoints the WAL.
func openCheckpointer(drv *sqlite.Driver, uri string) (*sql.DB, error) {
	// A restart waits this long for readers of old snapshots, with the
	// writer paused: short, then it gives up for a while.
	return openOne(drv, uri+"?_pragma=busy_timeout(1000)&_pragma=journal_size_limit("+strconv.Itoa(walSizeLimit)+")"+
		"&_synchronous=NORMAL")
}

func openOne(drv *sqlite.Driver, dsn string) (*sql.DB, error) {
	db := sql.OpenDB(connector{drv, dsn})
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// openReaders opens a read-only pool. Three locks keep it read-only: SQLite
// opens the file read-only (mode=ro), query_only refuses writes to temp
// tables, and an authorizer refuses to even compile anything but reads, so
// that "PRAGMA query_only=0" or ATTACH cannot undo the others. The pool of
// Query (lake) also denies reading the secrets: sealed tokens and destination
// secrets, and cursors.
// immutable reads a file no one can be writing (see openReadOnly).
func openReaders(drv *sqlite.Driver, uri string, conns int, lake, immutable bool) (*sql.DB, error) {
	dsn := uri + "?mode=ro&_pragma=busy_timeout(5000)&_query_only=1"
	if immutable {
		dsn += "&immutable=1"
	}
	c := connector{drv, dsn}
	auth := readerAuthorizer
	if lake {
		auth = lakeAuthorizer
	}
	db := sql.OpenDB(readerConnector{c, auth})
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

// newDriver is the driver of one Store: SQLite with opwatch's virtual
// table module registered on it alone (not on the process-wide driver), so
// that the lake's views can read compacted segments (opwatch_cold, cold.go).
func newDriver(s *Store) *sqlite.Driver {
	drv := &sqlite.Driver{}
	if err := drv.RegisterModule("opwatch_cold", coldModule{s}); err != nil {
		panic(err) // a new driver has no module of that name
	}
	return drv
}

// driverHandle is the driver as the rest of the package holds it, without
// importing the driver itself.
type driverHandle = *sqlite.Driver

// connector opens connections of drv.
type connector struct {
	drv *sqlite.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

type readerConnector struct {
	driver.Connector
	auth sqlite.AuthorizerFn
}

func (c readerConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ar, ok := conn.(sqlite.AuthorizerRegisterer)
	if !ok {
		conn.Close()
		return nil, errors.New("the SQLite driver cannot install a read-only authorizer")
	}
	if err := ar.RegisterAuthorizer(c.auth); err != nil {
		conn.Close()
		return nil, fmt.Errorf("install read-only authorizer: %w", err)
	}
	return conn, nil
}

// maxValueBytes caps the length of any string, BLOB or row a query makes
// (SQLITE_LIMIT_LENGTH): group_concat over the lake or a zeroblob(1e9) fails
// instead of growing the process. Sorts and DISTINCT spill to temporary
// files past the page cache, so with this cap a query's memory is bounded.
const maxValueBytes = 32 << 20

// limitQueryConn applies the caps of Query to the connection c.
func limitQueryConn(c *sql.Conn) error {
	_, err := sqlite.Limit(c, sqlite3.SQLITE_LIMIT_LENGTH, maxValueBytes)
	return err
}

// secretColumns are the columns Query may not read: a source's sealed token,
// a destination's sealed secret, a stream's cursor (which replays the
// stream's events to whoever holds the token), and the console's password
// hashes and session and API token hashes (an analyst may run SQL; a hash
// can be attacked offline).
var secretColumns = map[[2]string]bool{
	{"sources", "token"}: true, {"destinations", "secret"}: true, {"streams", "cursor"}: true,
	{"users", "password_hash"}: true, {"sessions", "hash"}: true, {"api_tokens", "hash"}: true,
}

// privateTables are the console's accounts, which Query may not read at
// all: whoever may run SQL (an analyst) is not shown who the users are,
// their sessions or their API tokens.
var privateTables = map[string]bool{"users": true, "sessions": true, "api_tokens": true}

// lakeAuthorizer is readOnlyAuthorizer that also denies the secret columns
// and the private tables,
// wherever a statement names them (select list, WHERE, a view), and the
// sqlite_dbpage table, which reads the raw pages that hold them.
func lakeAuthorizer(action sqlite.AuthorizerActionCode, arg1, arg2, db, view string) sqlite.AuthorizerReturnCode {
	if action == sqlite.AuthRead && (secretColumns[[2]string{strings.ToLower(arg1), strings.ToLower(arg2)}] ||
		privateTables[strings.ToLower(arg1)] ||
		strings.EqualFold(arg1, "sqlite_dbpage")) {
		return sqlite.AuthorizerDeny
	}
	return readOnlyAuthorizer(action, arg1, arg2, db, view)
}

// readablePragmas are the introspection pragmas a query may use (PRAGMA
// table_info(events) and the pragma_table_info() table functions).
var readablePragmas = map[string]bool{
	"table_info": true, "table_xinfo": true, "table_list": true,
	"index_list": true, "index_info": true, "index_xinfo": true,
	"foreign_key_list": true, "database_list": true, "collation_list": true,
	"function_list": true, "module_list": true, "pragma_list": true,
	"compile_options": true,
}

// readerAuthorizer is readOnlyAuthorizer that lets the store's own reads
// begin and end a read transaction, to read both sides of the lake's
// compaction boundary at one instant.
func readerAuthorizer(action sqlite.AuthorizerActionCode, arg1, arg2, db, view string) sqlite.AuthorizerReturnCode {
	if action == sqlite.AuthTransaction {
		return sqlite.AuthorizerOK
	}
	return readOnlyAuthorizer(action, arg1, arg2, db, view)
}

func readOnlyAuthorizer(action sqlite.AuthorizerActionCode, arg1, _, _, _ string) sqlite.AuthorizerReturnCode {
	switch action {
	case sqlite.AuthSelect, sqlite.AuthRead, sqlite.AuthFunction, sqlite.AuthRecursive:
		return sqlite.AuthorizerOK
	case sqlite.AuthPragma:
		if readablePragmas[strings.ToLower(arg1)] {
			return sqlite.AuthorizerOK
		}
	}
	return sqlite.AuthorizerDeny
}

// isReadOnlyError reports whether err is SQLite refusing a write: the
// authorizer's "not authorized" or "attempt to write a readonly database".
func isReadOnlyError(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff {
	case sqlite3.SQLITE_AUTH, sqlite3.SQLITE_READONLY:
		return true
	}
	return false
}

// isTooBig reports whether err is SQLite refusing a value over maxValueBytes.
func isTooBig(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_TOOBIG
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY conflict.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY)
}

// isForeignKeyViolation reports whether err is a FOREIGN KEY conflict.
func isForeignKeyViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}
