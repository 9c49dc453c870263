package storetest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// testConcurrentPollers runs pollers as ingest does, from goroutines, with
// readers querying meanwhile: every stream is polled once, by one owner, and
// every event is stored once.
func testConcurrentPollers(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	for i := range 4 {
		newSource(t, s, fmt.Sprintf("src%d", i))
	}
	now := c.Now()
	const pages, perPage = 4, 25
	var mu sync.Mutex
	polled := map[int64]string{}
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	for w := range 4 {
		owner := fmt.Sprintf("w%d", w)
		wg.Go(func() {
			for {
				sts, err := s.ClaimStreams(ctx, owner, time.Hour, 2)
				if err != nil {
					errs <- err
					return
				}
				if len(sts) == 0 {
					return
				}
				for _, st := range sts {
					mu.Lock()
					if prev, ok := polled[st.ID]; ok {
						errs <- fmt.Errorf("stream %d claimed by %s after %s", st.ID, owner, prev)
					}
					polled[st.ID] = owner
					mu.Unlock()
					for p := range pages {
						_, err := s.CommitPage(ctx, store.PageCommit{StreamID: st.ID, LeaseOwner: owner, Cursor: fmt.Sprint(p),
							Events: evs(st, fmt.Sprintf("s%d-p%d", st.ID, p), perPage, now.Add(time.Duration(p)*time.Second))})
						if err != nil {
							errs <- err
						}
					}
					// Far ahead of any clock: a store on its own clock (a
					// server's, not the suite's) must not find it due again.
					if err := s.FinishPoll(ctx, store.PollOutcome{StreamID: st.ID, LeaseOwner: owner, NextPollAt: now.Add(100 * 365 * 24 * time.Hour)}); err != nil {
						errs <- err
					}
				}
			}
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				if _, _, err := queryAll(ctx, s, "SELECT count(*) FROM "+viewOf[usage]); err != nil {
					errs <- err
					return
				}
				if _, err := s.Streams(ctx, ""); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(done)
	readers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	all, err := s.Streams(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(polled) != len(all) {
		t.Errorf("%d of %d streams polled", len(polled), len(all))
	}
	var total int64
	for _, st := range all {
		if st.Events != pages*perPage || st.Cursor != fmt.Sprint(pages-1) || st.LeaseOwner != "" {
			t.Errorf("stream %d: %d events, cursor %q, lease %q", st.ID, st.Events, st.Cursor, st.LeaseOwner)
		}
		total += st.Events
	}
	var stored int64
	for _, lt := range logTypes {
		stored += count(t, s, lt, "")
	}
	if stored != total || total != int64(len(all)*pages*perPage) {
		t.Errorf("%d events stored, streams count %d, want %d", stored, total, len(all)*pages*perPage)
	}
}

// testConcurrentCommitsOneStream races the lease holder against a poller
// that lost it: only the holder's pages land.
func testConcurrentCommitsOneStream(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	src, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, audit)
	now := c.Now()
	claim(t, s, st, "holder")
	var wg sync.WaitGroup
	results := make([]error, 8)
	for i := range results {
		owner := "holder"
		if i%2 == 1 {
			owner = "usurper"
		}
		wg.Go(func() {
			_, results[i] = s.CommitPage(ctx, store.PageCommit{StreamID: st.ID, LeaseOwner: owner, Cursor: fmt.Sprint(i),
				Events: evs(st, fmt.Sprintf("g%d", i), 20, now)})
		})
	}
	wg.Wait()
	for i, err := range results {
		if i%2 == 0 && err != nil {
			t.Errorf("holder's commit %d: %v", i, err)
		}
		if i%2 == 1 && !errors.Is(err, store.ErrLeaseLost) {
			t.Errorf("usurper's commit %d: err = %v, want ErrLeaseLost", i, err)
		}
	}
	if n := count(t, s, audit, src.ID); n != 80 {
		t.Errorf("%d events stored, want the holder's 80", n)
	}
	if got := stream(t, s, st.ID); got.Events != 80 {
		t.Errorf("stream counts %d events, want 80", got.Events)
	}
}

// testQueryCancelStress cancels queries at random moments: afterwards every
// connection must still work (a driver once left connections stuck
// interrupted after such cancels).
func testQueryCancelStress(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, signin)
	if _, err := s.InsertEvents(ctx, st.ID, evs(st, "e", 500, c.Now()), nil); err != nil {
		t.Fatal(err)
	}
	const slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000) SELECT count(*) FROM n"
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	var cancelled atomic.Int64
	for range 6 {
		wg.Go(func() {
			for range 8 {
				qctx, cancel := context.WithTimeout(ctx, time.Duration(rand.IntN(30_000))*time.Microsecond)
				rows, _, err := queryAll(qctx, s, slow)
				if err != nil && qctx.Err() != nil {
					cancelled.Add(1)
				}
				cancel()
				if err == nil && (len(rows) != 1 || rows[0][0] != int64(200000)) {
					errs <- fmt.Errorf("a query that was not cancelled returned %v", rows)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if cancelled.Load() == 0 {
		t.Error("no query was cancelled: the slow query is too fast for this test")
	}
	// Every connection works: enough queries at once to use them all.
	var after sync.WaitGroup
	fails := make(chan error, 16)
	for range 16 {
		after.Go(func() {
			rows, _, err := queryAll(ctx, s, "SELECT count(*) FROM "+viewOf[signin])
			if err != nil || len(rows) != 1 || rows[0][0] != int64(500) {
				fails <- fmt.Errorf("query after the cancels: %v, %v", rows, err)
			}
		})
	}
	after.Wait()
	close(fails)
	for err := range fails {
		t.Error(err)
	}
	// And writes still go through.
	if res, err := s.InsertEvents(ctx, st.ID, evs(st, "after", 5, c.Now()), nil); err != nil || res.Inserted != 5 {
		t.Errorf("insert after the cancels: %+v, %v", res, err)
	}
}
