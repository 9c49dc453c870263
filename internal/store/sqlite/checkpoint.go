package sqlite

import (
	"context"
	"database/sql"
	"log/slog"
	"time"
)

// A checkpoint copies the WAL back into the database file and syncs both;
// a sync costs milliseconds to tens of milliseconds, more than a whole page
// of events, so it runs on its own connection and goroutine while the writer
// goes on committing.
const (
	// restartFrames is the WAL length (4 KiB frames) past which the
	// checkpointer waits for the writer to pause so the WAL can start over;
	// passive checkpoints alone never rewind it while commits keep coming.
	restartFrames = 16384
	// walSizeLimit is what the WAL file is cut back to once rewound.
	walSizeLimit = 64 << 20
	// checkpointEvery bounds the time an idle database keeps a WAL.
	checkpointEvery = 10 * time.Second
	// checkpointGap lets commits pile up between checkpoints, so that one
	// sync covers many commits and the pages each commit touches (the ends
	// of the table and its index) are copied once.
	checkpointGap = 250 * time.Millisecond
)

type checkpointer struct {
	db   *sql.DB
	log  *slog.Logger
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

func newCheckpointer(db *sql.DB, log *slog.Logger) *checkpointer {
	c := &checkpointer{db: db, log: log, kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
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
	mode := "PASSIVE"
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		case <-tick.C:
		}
		var busy, frames, copied int
		err := c.db.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint("+mode+")").Scan(&busy, &frames, &copied)
		if err != nil {
			c.log.Warn("checkpoint the database WAL", slog.String("mode", mode), slog.Any("err", err))
		}
		mode = "PASSIVE"
		if frames >= restartFrames {
			mode = "RESTART"
		}
		select {
		case <-c.stop:
			return
		case <-time.After(checkpointGap):
		}
	}
}

func (c *checkpointer) close() error {
	close(c.stop)
	<-c.done
	return c.db.Close()
}
