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
func openWriter(uri string, cacheKiB int) (*sql.DB, error) {
	return openOne(uri + "?_pragma=busy_timeout(5000)" +
		"&_pragma=foreign_keys(1)&_pragma=temp_store(MEMORY)&_pragma=page_size(16384)" +
		"&_pragma=cache_size(-" + strconv.Itoa(cacheKiB) + ")" +
		"&_pragma=journal_size_limit(" + strconv.Itoa(walSizeLimit) + ")" +
		"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate")
}

// openCheckpointer opens the connection that checkpoints the WAL.
func openCheckpointer(uri string) (*sql.DB, error) {
	// A restart waits this long for readers of old snapshots, with the
	// writer paused: short, then it gives up for a while.
	return openOne(uri + "?_pragma=busy_timeout(1000)&_pragma=journal_size_limit(" + strconv.Itoa(walSizeLimit) + ")" +
		"&_synchronous=NORMAL")
}

func openOne(dsn string) (*sql.DB, error) {
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(c)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	return db, nil
}

// openReaders opens the pool used by reads and Query. Three locks keep it
// read-only: SQLite opens the file read-only (mode=ro), query_only refuses
// writes to temp tables, and an authorizer refuses to even compile anything
// but reads, so that "PRAGMA query_only=0" or ATTACH cannot undo the others.
func openReaders(uri string, conns int) (*sql.DB, error) {
	dsn := uri + "?mode=ro&_pragma=busy_timeout(5000)&_query_only=1"
	c, err := sqlite.NewConnector(dsn)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(readerConnector{c})
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

type readerConnector struct{ driver.Connector }

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
	if err := ar.RegisterAuthorizer(readOnlyAuthorizer); err != nil {
		conn.Close()
		return nil, fmt.Errorf("install read-only authorizer: %w", err)
	}
	return conn, nil
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
