// Package sqlite is the embedded storage engine of opwatch: one SQLite file in
// WAL mode, one writer connection and a pool of read-only readers.
package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Options tune a Store; the zero value is ready to use.
type Options struct {
	Logger *slog.Logger
	// Now is the clock for times the store sets itself (created_at,
	// ResetStream's "due now"); time.Now if nil.
	Now func() time.Time
	// Readers is the size of the read-only pool (default 4).
	Readers int
	// CacheMiB is the writer's page cache (default 8). The unique key leads
	// with event time, so inserts touch only the right edge of the index and
	// a small cache keeps them fast at any table size; a larger one only
	// grows the process (modernc's allocator holds several times the cache
	// in resident memory: 64 MiB cost over 400 MB of RSS in bench ingest).
	CacheMiB int
}

// Store is the SQLite engine. It is safe for concurrent use.
type Store struct {
	writer *sql.DB // one connection: SQLite has one writer at a time
	reader *sql.DB // read-only pool for reads and Query
	ckpt   *checkpointer
	pause  sync.RWMutex // write transactions hold it to read; see checkpointer.restart
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	inserts map[int]*sql.Stmt // multi-row event inserts by row count
}

var _ store.Store = (*Store)(nil)

// Open opens (creating if needed) the database at path and brings its schema
// up to date.
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
	if dir := filepath.Dir(path); dir != "" {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("open database %s: its directory is missing or unreadable: %w", path, err)
		}
	}
	uri, err := fileURI(path)
	if err != nil {
		return nil, err
	}
	s := &Store{log: opts.Logger, now: opts.Now, inserts: make(map[int]*sql.Stmt)}
	s.writer, err = openWriter(uri, opts.CacheMiB*1024)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	// The readers open the file read-only, so it must exist (and be in WAL
	// mode) first: the writer's first connection does that.
	if err := s.writer.PingContext(ctx); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open database %s: %w (is the file a SQLite database, and is its directory writable?)", path, err)
	}
	if err := s.Migrate(ctx); err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	s.reader, err = openReaders(uri, opts.Readers)
	if err == nil {
		err = s.reader.PingContext(ctx)
	}
	if err != nil {
		s.writer.Close()
		return nil, fmt.Errorf("open database %s for reading: %w", path, err)
	}
	ckdb, err := openCheckpointer(uri)
	if err == nil {
		s.ckpt, err = newCheckpointer(ctx, ckdb, s.writer, path+"-wal", &s.pause, s.log)
		if err != nil {
			ckdb.Close()
		}
	}
	if err != nil {
		s.reader.Close()
		s.writer.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	return s, nil
}

// Close closes the readers, then the writer (whose close checkpoints the WAL).
func (s *Store) Close() error {
	s.mu.Lock()
	for n, st := range s.inserts {
		st.Close()
		delete(s.inserts, n)
	}
	s.mu.Unlock()
	return errors.Join(s.ckpt.close(), s.reader.Close(), s.writer.Close())
}

// withTx runs f in a write transaction (BEGIN IMMEDIATE, see the DSN) and
// commits if f returns nil.
func (s *Store) withTx(ctx context.Context, f func(tx *sql.Tx) error) error {
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

// newID returns a random UUID (version 4) in its usual text form.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
