package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opwatch/opwatch/internal/store"
)

// detectAll moves the detect stage's position to the latest event.
func detectAll(t *testing.T, s *Store) {
	t.Helper()
	ctx := context.Background()
	from, err := s.Position(ctx, store.CompactStage)
	if err != nil {
		t.Fatal(err)
	}
	to, err := s.LatestSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitDetect(ctx, store.DetectCommit{Stage: store.CompactStage, From: from, To: to}); err != nil {
		t.Fatal(err)
	}
}

// TestCompactWhileIngesting holds a compaction's transaction open after
// it has deleted the hot rows and stored their keys, while a page stores
// some of the same events again: the page must wait for the compaction and
// then find them in event_keys. Without compaction's lock the page reads
// event_keys before the compaction commits, waits on the deleted rows'
// unique key, and then stores the duplicates.
func TestCompactWhileIngesting(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, Options{})
	st := newStream(t, s, "acme")
	old := time.Now().Add(-48 * time.Hour)
	var evs []store.Event
	for i := range 5 {
		evs = append(evs, event(fmt.Sprintf("e-%d", i), old.Add(time.Duration(i)*time.Minute)))
	}
	if _, err := s.InsertEvents(ctx, st.ID, evs, nil); err != nil {
		t.Fatal(err)
	}
	detectAll(t, s)

	c, err := s.prepareCompaction(ctx, time.Now(), 100)
	if err != nil || c == nil {
		t.Fatalf("prepareCompaction: %v, %v", c, err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := c.write(ctx, tx); err != nil {
		t.Fatalf("compaction's write: %v", err)
	}
	var compactor int
	if err := tx.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&compactor); err != nil {
		t.Fatal(err)
	}
	type result struct {
		res store.CommitResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := s.InsertEvents(ctx, st.ID, evs[1:4], nil)
		done <- result{res, err}
	}()
	// Wait until the page waits on the compaction (on a lock it holds).
	for {
		var waiting bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks l
			WHERE NOT l.granted AND $1 = ANY (pg_blocking_pids(l.pid)))`, compactor).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting {
			break
		}
		select {
		case r := <-done:
			t.Fatalf("the page did not wait for the compaction: %+v, %v", r.res, r.err)
		case <-time.After(5 * time.Millisecond): // poll, not a deadline
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	r := <-done
	if r.err != nil || r.res.Inserted != 0 || r.res.Duplicates != 3 {
		t.Errorf("storing 3 events again while they were compacted: %+v, %v; want 0 inserted, 3 duplicates", r.res, r.err)
	}
	got, err := s.EventsAfter(ctx, 0, 100)
	if err != nil || len(got) != 5 {
		t.Errorf("EventsAfter: %d events, %v; want the 5 stored once", len(got), err)
	}
}

// TestCompactStoredForms compacts events whose text PostgreSQL cannot
// hold as it is (NUL, the escape mark, the array separator) and raw JSON
// with \u0000: every read gives them back as before, the view shows the
// same rows, and they stay duplicates.
func TestCompactStoredForms(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, Options{})
	st := newStream(t, s, "acme")
	if err := s.SyncViews(ctx, []store.View{{Name: "signins", LogType: st.LogType, Columns: []store.ViewColumn{
		{Name: "uuid", Kind: "string"}, {Name: "a", Kind: "string"}, {Name: "n", Kind: "json"}}}}); err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-48 * time.Hour).Truncate(time.Second)
	evs := []store.Event{
		{UUID: "nul\x00uuid", EventTime: old, ParseTime: old, SourceLabel: "label\x00", RowID: escapeMark + "row",
			Emails: []string{"A\x1e@Example.com", ""}, IPs: []string{"192.0.2.1", "not an ip\x00"},
			Raw: []byte(`{"uuid":"nul\u0000uuid","a":"x\u0000y","b":"\\u0000","n":{"k":[1, 2.50, "\u0000"]}}`)},
		{UUID: "plain", EventTime: old.Add(time.Minute), ParseTime: old, Emails: []string{"a\x1e@example.com"},
			Raw: []byte(`{ "uuid" : "plain", "a": "\u00e9\u2028", "n": null }`)},
	}
	if _, err := s.InsertEvents(ctx, st.ID, evs, nil); err != nil {
		t.Fatal(err)
	}
	// Raw bytes that are not UTF-8 (no JSON reader would store them; the
	// store does not rely on it), of another log type: its view could not
	// read them, hot or compacted.
	other := &store.Source{Name: "other", AccountUUID: "acct-other"}
	if err := s.CreateSource(ctx, other, []string{"OnePassword.ItemUsage"}); err != nil {
		t.Fatal(err)
	}
	osts, err := s.Streams(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	bin := store.Event{UUID: "bin", EventTime: old, ParseTime: old, Raw: []byte("{\"a\":\"\xff\xfe\"}")}
	if _, err := s.InsertEvents(ctx, osts[0].ID, []store.Event{bin}, nil); err != nil {
		t.Fatal(err)
	}
	detectAll(t, s)
	read := func() (all []store.StoredEvent, bySeq []store.StoredEvent, view [][]any, found []store.StoredEvent) {
		t.Helper()
		var err error
		if all, err = s.EventsAfter(ctx, 0, 10); err != nil {
			t.Fatal(err)
		}
		if bySeq, err = s.EventsBySeq(ctx, []int64{all[2].Seq, all[1].Seq, all[0].Seq}); err != nil {
			t.Fatal(err)
		}
		if err := s.Query(ctx, `SELECT * FROM signins ORDER BY p_event_time`, func(_ []string, vals []any) error {
			view = append(view, append([]any(nil), vals...))
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if found, err = s.SearchIndicator(ctx, store.IndicatorQuery{Kind: store.IndicatorEmail, Value: "a\x1e@example.com", Limit: 10}); err != nil {
			t.Fatal(err)
		}
		return
	}
	all, bySeq, view, found := read()
	if len(all) != 3 || len(view) != 2 || len(found) != 2 {
		t.Fatalf("before compacting: %d events, %d view rows, %d found; want 3, 2 and 2", len(all), len(view), len(found))
	}
	stats, err := s.LakeStats(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.CompactEvents(ctx, time.Now(), 100)
	if err != nil || res.Events != 3 || res.Segments != 2 {
		t.Fatalf("CompactEvents: %+v, %v; want 3 events in 2 segments", res, err)
	}
	stats2, err := s.LakeStats(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(stats.Groups, stats2.Groups); diff != "" {
		t.Errorf("LakeStats (-before +after compacting):\n%s", diff)
	}
	all2, bySeq2, view2, found2 := read()
	for _, d := range []struct {
		what      string
		want, got any
	}{{"EventsAfter", all, all2}, {"EventsBySeq", bySeq, bySeq2}, {"the view", view, view2}, {"SearchIndicator", found, found2}} {
		if diff := cmp.Diff(d.want, d.got); diff != "" {
			t.Errorf("%s (-before +after compacting):\n%s", d.what, diff)
		}
	}
	again, err := s.InsertEvents(ctx, st.ID, evs, nil)
	if err != nil || again.Inserted != 0 {
		t.Errorf("storing the compacted events again: %+v, %v; want no event stored", again, err)
	}
}
