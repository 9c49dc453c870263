package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// A checkpoint copies the WAL back into the database file and syncs both; a
// sync costs tens of milliseconds, more than a whole page of events, so it
// runs on its own connection and goroutine while the writer goes on
// committing. Passive checkpoints never rewind the WAL while commits keep
// coming, though, so past restartBytes the checkpointer makes the writer
// pause once (a RESTART checkpoint) and the WAL starts over.
const (
	restartBytes = 64 << 20
	// walSizeLimit is what the WAL file is cut back to once rewound.
	walSizeLimit = restartBytes
	// backstopBytes is where the writer checkpoints by itself, in its commit,
	// should the checkpointer fall behind.
	backstopBytes = 4 * restartBytes
	// checkpointEvery bounds the time an idle database keeps a WAL.
	checkpointEvery = 10 * time.Second
	// restartBackoff is how long a failed restart waits for another try.
	restartBackoff = 30 * time.Second
)

type checkpointer struct {
	db    *sql.DB
	log   *slog.Logger
	wal   string        // the WAL file's path
	pause *sync.RWMutex // held (read) by every write transaction
	kick  chan struct{}
	stop  chan struct{}
	done  chan struct{}
}

// newCheckpointer starts checkpointing with db, and sets the writer's own
// automatic checkpoint to the backstop.
func newCheckpointer(ctx context.Context, db, writer *sql.DB, wal string, pause *sync.RWMutex, log *slog.Logger) (*checkpointer, error) {
	var pageSize int
	if err := db.QueryRowContext(ctx, "PRAGMA page_size").Scan(&pageSize); err != nil {
		return nil, fmt.Errorf("read page size: %w", err)
	}
	if _, err := writer.ExecContext(ctx, fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", backstopBytes/pageSize)); err != nil {
		return nil, fmt.Errorf("set the WAL checkpoint backstop: %w", err)
	}
	c := &checkpointer{db: db, log: log, wal: wal, pause: pause,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c, nil
}

// committed tells the checkpointer the WAL has grown; it never blocks.
func (c *checkpointer) committed() {
	if c == nil {
		return // during Open's migrations
	}
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

func (c *checkpointer) run() {
	defer close(c.done)
	tick := time.NewTicker(checkpointEvery)
	defer tick.Stop()
	var noRestartUntil time.Time
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-tick.C:
		}
		// The WAL file is cut back to walSizeLimit when rewound, so a larger
		// one is in use past it.
		fi, err := os.Stat(c.wal)
		if err == nil && fi.Size() > walSizeLimit && time.Now().After(noRestartUntil) {
			if !c.restart() {
				// A long query holds an old snapshot: let the WAL grow
				// rather than stall the writer again and again.
				noRestartUntil = time.Now().Add(restartBackoff)
			}
			continue
		}
		// Commits made meanwhile have kicked again, so under load one
		// checkpoint follows another, each covering all commits since the
		// last (measured: pausing between them only let the WAL grow).
		c.checkpoint("PASSIVE")
	}
}

// restart pauses the writer between transactions (SQLite's own wait for
// the write lock loses the race to a writer that commits back to back),
// checkpoints the whole WAL and lets the next transaction rewind it. It
// reports whether that worked.
func (c *checkpointer) restart() bool {
	c.pause.Lock()
	defer c.pause.Unlock()
	return c.checkpoint("RESTART")
}

// truncate checkpoints the whole WAL and cuts the file to nothing, the
// writer paused, so that space the writer freed (a vacuum) reaches the disk
// now. A reader on an old snapshot makes it give up (false); the WAL is then
// rewound by a later restart.
func (c *checkpointer) truncate() bool {
	if c == nil {
		return false
	}
	c.pause.Lock()
	defer c.pause.Unlock()
	return c.checkpoint("TRUNCATE")
}

func (c *checkpointer) checkpoint(mode string) bool {
	var busy, frames, copied int
	err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
	if err != nil {
		c.log.Warn("checkpoint the database WAL", slog.String("mode", mode), slog.Any("err", err))
		return false
	}
	return busy == 0
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
