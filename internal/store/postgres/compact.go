package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// errNoCompaction stands until compaction is built for this engine.
var errNoCompaction = errors.New("compaction is not built for this engine yet")

func (s *Store) CompactEvents(ctx context.Context, storedBefore time.Time, max int) (store.CompactResult, error) {
	return store.CompactResult{}, errNoCompaction
}

func (s *Store) ReclaimSpace(ctx context.Context, full bool) error { return errNoCompaction }
