// Package sqlite is the embedded storage engine of opwatch: one SQLite file in
// WAL mode, one writer connection, a pool of read-only readers for the
// store's own reads and another for Query.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

// Options tune a Store; the zero value opens read-write.
type Options struct {
	Logger *slog.Logger
	// Now is the store's clock: leases are fenced by it, and it stamps the
	// times the store sets itself (created_at, polls, "due now"); time.Now
	// if nil.
	Now func() time.Time
	// Readers is the size of each read-only pool (default 4).
	Readers int
	// CacheMiB is the writer's page cache (default 8). The unique key leads
	// with event time, so inserts touch only the right edge of the index and
	// a small cache keeps them fast at any table size; a larger one only
	// grows the process (modernc's allocator holds several times the cache
	// in resident memory: 64 MiB cost over 400 MB of RSS in bench ingest).
	CacheMiB int
	// ReadOnly opens an existing database for reading only: nothing is
	// created, migrated or written, and no writer connection is opened, so
	// read access to the file is enough. A missing database is
	// store.ErrNoDatabase.
	ReadOnly bool
	// Migrate upgrades an older schema. Without it an older schema is
	// refused with store.ErrSchemaOutdated. A new database is always created
	// at the latest schema.
	Migrate bool
	// NoCreate opens an existing database for writing, creating nothing:
	// a missing one is store.ErrNoDatabase.
	NoCreate bool
}

// Store is the SQLite engine. It is safe for concurrent use.
type Store struct {
	path   string
	writer *sql.DB // one connection: SQLite has one writer at a time; nil when read-only
	reader *sql.DB // read-only pool for the store's own reads
	lake   *sql.DB // read-only pool for Query: secrets denied, values capped
	ckpt   *checkpointer
	pause  sync.RWMutex // every write holds it to read; see checkpointer.restart
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	inserts map[int]*sql.Stmt // multi-row event inserts by row count

	drv      driverHandle   // this store's driver, with its SQL functions
	codec    *segment.Codec // compresses the lake's segments
	segments *segmentCache  // the segments read last (segcache.go)
}

var _ store.Store = (*Store)(nil)

// Open opens the database at path. Read-write, it creates a new database
// (mode 0600, and so its -wal and -shm) when nothing is at path, and opens an
// existing one at the latest schema; see Options for the rest. Errors name
// the path once.
func Open(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open database: no path given")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Readers <= 0 {
		opts.Readers = 4
	}
	if opts.CacheMiB <= 0 {
		opts.CacheMiB = 8
	}
	s := &Store{path: path, log: opts.Logger, now: opts.Now, inserts: make(map[int]*sql.Stmt), codec: &segment.Codec{},
		segments: newSegmentCache(segmentCacheBytes)}
	s.drv = newDriver(s)
	created, err := s.open(ctx, opts)
	if err != nil {
		s.closeAll()
		if created {
			// Leave nothing behind that looks like a database.
			for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
				os.Remove(path + suffix)
			}
		}
		if errors.Is(err, store.ErrNoDatabase) {
			return nil, err
		}
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

func (s *Store) open(ctx context.Context, opts Options) (created bool, err error) {
	fi, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if opts.ReadOnly || opts.NoCreate {
			return false, fmt.Errorf("%w at %s", store.ErrNoDatabase, s.path)
		}
		if _, err := os.Stat(filepath.Dir(s.path)); err != nil {
			return false, fmt.Errorf("its directory is missing or unreadable: %w", err)
		}
		if err := createPrivate(s.path); err != nil {
			return false, err
		}
		created = true
	case err != nil:
		return false, pathless(err)
	case fi.IsDir():
		return false, errors.New("it is a directory, not a database file")
	case !opts.ReadOnly:
		// SQLite opens a file it may not write read-only without a word,
		// and every write then fails: say so now.
		f, err := os.OpenFile(s.path, os.O_RDWR, 0)
		if err != nil {
			return false, fmt.Errorf("it cannot be written by this user (%w): fix its owner or mode, or use a verb that only reads (query, source list, alerts list, status)", pathless(err))
		}
		f.Close()
	}
	uri, err := fileURI(s.path)
	if err != nil {
		return created, err
	}
	if opts.ReadOnly {
		return false, s.openReadOnly(ctx, uri, opts.Readers)
	}
	s.writer, err = openWriter(s.drv, uri, opts.CacheMiB*1024)
	if err != nil {
		return created, err
	}
	// The readers open the file read-only, so it must exist (and be in WAL
	// mode) first: the writer's first connection does that.
	if err := s.writer.PingContext(ctx); err != nil {
		return created, fmt.Errorf("%w (is the file a SQLite database, and is its directory writable?)", err)
	}
	current, err := schemaVersion(ctx, s.writer)
	if err != nil {
		return created, err
	}
	latest := LatestSchemaVersion()
	switch {
	case current > latest:
		return created, newerError(current, latest)
	case current > 0 && current < latest && !opts.Migrate:
		return created, outdatedError(current, latest)
	case current < latest:
		// A new (or empty) database starts at the latest schema; an older
		// one is upgraded because the caller asked.
		if err := s.migrate(ctx, current); err != nil {
			return created, err
		}
	}
	if s.reader, err = openReaders(s.drv, uri, opts.Readers, false, false); err == nil {
		err = s.reader.PingContext(ctx)
	}
	if err != nil {
		return created, fmt.Errorf("for reading: %w", err)
	}
	if s.lake, err = openReaders(s.drv, uri, opts.Readers, true, false); err != nil {
		return created, fmt.Errorf("for queries: %w", err)
	}
	ckdb, err := openCheckpointer(s.drv, uri)
	if err == nil {
		s.ckpt, err = newCheckpointer(ctx, ckdb, s.writer, s.path+"-wal", &s.pause, s.log)
		if err != nil {
			ckdb.Close()
		}
	}
	return created, err
}

// openReadOnly opens only the read-only pools, and checks the schema.
//
// A reader of a WAL database normally creates the -wal and -shm files (and
// leaves them behind, as it cannot checkpoint), and in a directory the user
// cannot write it cannot open the database at all. So when there is no WAL,
// everything is in the main file and the database is read as immutable:
// nothing is created and read access to the file is enough. A writer that
// starts during such a read can make the read fail, never the database.
// When a WAL is there, a writer is (or was) at work: the readers share its
// -shm, and see what it commits.
func (s *Store) openReadOnly(ctx context.Context, uri string, readers int) error {
	_, err := os.Stat(s.path + "-wal")
	current, err := s.openReaderPools(ctx, uri, readers, errors.Is(err, fs.ErrNotExist))
	if err != nil {
		return err
	}
	latest := LatestSchemaVersion()
	switch {
	case current == 0:
		return fmt.Errorf("%w at %s: the file holds no opwatch database", store.ErrNoDatabase, s.path)
	case current > latest:
		return newerError(current, latest)
	case current < latest:
		return outdatedError(current, latest)
	}
	return nil
}

func (s *Store) openReaderPools(ctx context.Context, uri string, readers int, immutable bool) (int, error) {
	s.closeAll()
	var err error
	if s.reader, err = openReaders(s.drv, uri, readers, false, immutable); err != nil {
		return 0, err
	}
	current, err := schemaVersion(ctx, s.reader)
	if err != nil {
		return 0, err
	}
	if s.lake, err = openReaders(s.drv, uri, readers, true, immutable); err != nil {
		return 0, err
	}
	return current, nil
}

func outdatedError(current, latest int) error {
	return fmt.Errorf("%w (version %d, this opwatch uses %d)",
		store.ErrSchemaOutdated, current, latest)
}

func newerError(current, latest int) error {
	return fmt.Errorf("%w (version %d, this opwatch knows up to %d)",
		store.ErrSchemaNewer, current, latest)
}

// createPrivate creates the database file 0600 whatever the umask, so the
// lake (members' e-mails and addresses) is not readable by others. SQLite
// gives the -wal and -shm files it creates the main file's mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create it: %w", pathless(err))
	}
	err = f.Chmod(0o600) // a umask can only take bits away; set them exactly
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("create it: %w", pathless(err))
	}
	return nil
}

// pathless drops the path from a file error whose message will be prefixed
// with it anyway ("open database X: stat X: ..."), keeping what it wraps.
func pathless(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Op, pe.Err)
	}
	return err
}

// Close closes the readers, then the writer (whose close checkpoints the WAL).
func (s *Store) Close() error {
	s.mu.Lock()
	for n, st := range s.inserts {
		st.Close()
		delete(s.inserts, n)
	}
	s.mu.Unlock()
	return s.closeAll()
}

func (s *Store) closeAll() error {
	var errs []error
	if s.ckpt != nil {
		errs = append(errs, s.ckpt.close())
		s.ckpt = nil
	}
	for _, db := range []**sql.DB{&s.lake, &s.reader, &s.writer} {
		if *db != nil {
			errs = append(errs, (*db).Close())
			*db = nil
		}
	}
	return errors.Join(errs...)
}

// errReadOnlyStore is what a write on a store opened read-only returns.
func (s *Store) errReadOnlyStore() error {
	return fmt.Errorf("database %s is open read-only: %w", s.path, store.ErrReadOnly)
}

// withTx runs f in a write transaction (BEGIN IMMEDIATE, see the DSN) and
// commits if f returns nil. Every write goes through it or exec, which hold
// the checkpointer's pause lock and tell it the WAL grew.
func (s *Store) withTx(ctx context.Context, f func(tx *sql.Tx) error) error {
	if s.writer == nil {
		return s.errReadOnlyStore()
	}
	s.pause.RLock()
	defer s.pause.RUnlock()
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	s.ckpt.committed()
	return nil
}

// exec runs one writing statement on its own (an implicit transaction),
// under the same rules as withTx.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.writer == nil {
		return nil, s.errReadOnlyStore()
	}
	s.pause.RLock()
	defer s.pause.RUnlock()
	res, err := s.writer.ExecContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	s.ckpt.committed()
	return res, nil
}
