package sqlite

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// TestPurgeIndicatorRows: purging events deletes their rows of the
// indicator index, in finished blocks and the newest, forgets the finished
// blocks left empty except the newest indexed one, and the index goes on
// growing after.
func TestPurgeIndicatorRows(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, Options{})
	src := &store.Source{Name: "acme", AccountUUID: "ACME"}
	lts := []string{"OnePassword.ItemUsage", "OnePassword.SignInAttempt"}
	if err := s.CreateSource(ctx, src, lts); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	const block = 1 << blockShift
	n := 0
	// insert stores k events per stream, interleaved: both log types share
	// every block.
	insert := func(k int) {
		t.Helper()
		for _, st := range sts {
			var page []store.Event
			for range k {
				page = append(page, store.Event{UUID: fmt.Sprint("e", n), EventTime: at.Add(time.Duration(n) * time.Second), ParseTime: at,
					Raw: []byte(`{}`), Emails: []string{"jane@example.com"}})
				n++
			}
			if _, err := s.InsertEvents(ctx, st.ID, page, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(q string) (n int) {
		t.Helper()
		if err := s.reader.QueryRowContext(ctx, q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	for range 3 {
		insert(block/2 + 17) // 3 blocks and more, the last unfinished
	}
	latest, err := s.LatestSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitDetect(ctx, store.DetectCommit{Stage: store.RetentionStage, From: 0, To: latest}); err != nil {
		t.Fatal(err)
	}
	// When a finished block is indexed (by the commit that finishes it,
	// or a later one) is the index's business: the test takes the state
	// it finds, with at least two blocks holding rows.
	newest := count(`SELECT coalesce(max(block), -1) FROM event_indicator_blocks`)
	if newest < 1 || count(`SELECT count(*) FROM event_indicators`) == 0 {
		t.Fatalf("blocks up to %d indexed: the test needs two at least", newest)
	}
	purgeAll := func(lt string) {
		t.Helper()
		for {
			k, err := s.PurgeEvents(ctx, lt, at.AddDate(1, 0, 0), 1000)
			if err != nil {
				t.Fatal(err)
			}
			if k < 1000 {
				return
			}
		}
	}
	purgeAll(lts[1])
	if orphans := count(`SELECT count(*) FROM event_indicators WHERE seq NOT IN (SELECT seq FROM events)`); orphans != 0 {
		t.Errorf("%d index rows name purged events", orphans)
	}
	if rows, want := count(`SELECT count(*) FROM event_indicators`), count(fmt.Sprintf(`SELECT count(*) FROM events WHERE seq < %d`, (newest+1)<<blockShift)); rows != want {
		t.Errorf("%d index rows left, want %d (one per kept event in the finished blocks)", rows, want)
	}
	purgeAll(lts[0])
	if rows := count(`SELECT count(*) FROM event_indicators`); rows != 0 {
		t.Errorf("%d index rows left after purging every event", rows)
	}
	if b := count(`SELECT count(*) FROM event_indicator_blocks`); b != 1 || count(`SELECT max(block) FROM event_indicator_blocks`) != newest {
		t.Errorf("%d blocks left, want only the newest indexed (%d)", b, newest)
	}
	insert(block) // 2 blocks more: indexing goes on past the purge
	if b, last := count(`SELECT count(*) FROM event_indicator_blocks`), count(`SELECT max(block) FROM event_indicator_blocks`); last <= newest || b != 1+last-newest {
		t.Errorf("after new events: %d blocks, newest %d; want every block from %d on", b, last, newest)
	}
	evs, err := s.SearchIndicator(ctx, store.IndicatorQuery{Kind: store.IndicatorEmail, Value: "jane@example.com", Limit: 3 * block})
	if err != nil || len(evs) != 2*block {
		t.Errorf("search after the purge: %d events, %v; want the %d new", len(evs), err, 2*block)
	}
}
