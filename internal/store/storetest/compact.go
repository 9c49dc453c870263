package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/store"
)

// RunCompaction runs the cases of the Compaction part: events moved into
// compressed segments read back as before through every read of the lake.
func RunCompaction(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"CompactRoundTrip", testCompactRoundTrip},
		{"CompactBounds", testCompactBounds},
		{"CompactDuplicates", testCompactDuplicates},
		{"CompactRetention", testCompactRetention},
		{"CompactReclaim", testCompactReclaim},
		{"ScanEvents", testScanEvents},
	})
}

func compact(t *testing.T, s store.Store, before time.Time, max int) store.CompactResult {
	t.Helper()
	res, err := s.CompactEvents(context.Background(), before, max)
	if err != nil {
		t.Fatalf("CompactEvents(%v, %d): %v", before, max, err)
	}
	return res
}

// compactAll compacts until nothing is left and returns the events moved.
func compactAll(t *testing.T, s store.Store, before time.Time) int {
	t.Helper()
	n := 0
	for range 1000 {
		res := compact(t, s, before, 100)
		if res.Events == 0 {
			return n
		}
		if res.Segments == 0 || res.Bytes <= 0 || res.RawBytes <= 0 {
			t.Fatalf("CompactEvents moved %d events into %d segments of %d bytes (%d raw)", res.Events, res.Segments, res.Bytes, res.RawBytes)
		}
		n += res.Events
	}
	t.Fatal("CompactEvents never ran out of events")
	return n
}

// lakeEvents makes n events of st from at on, a minute apart, each with its
// own raw text (escapes, non-ASCII, nesting) and indicators from small sets,
// so that values repeat as they do in a real lake.
func lakeEvents(st store.Stream, prefix string, n int, at time.Time, stored time.Time) []store.Event {
	out := make([]store.Event, n)
	for i := range out {
		t := at.Add(time.Duration(i) * time.Minute)
		uuid := fmt.Sprintf("%s-%03d", prefix, i)
		email := fmt.Sprintf("user%d@example.com", i%7)
		if i%2 == 1 {
			email = fmt.Sprintf(" User%d@Example.COM", i%7) // as received; searched by its key
		}
		ip := fmt.Sprintf("192.0.2.%d", i%5)
		raw := fmt.Sprintf(`{"uuid":%q,"timestamp":%q,"name":"Zoë \"Z\" %d\u00e9\n","count":%d,"ratio":%d.5,"active":%t,`+
			`"client":{"ip_address":%q,"os":{"name":"macOS"}},"tags":["a","\u2028"],"nothing":null}`,
			uuid, t.Format(time.RFC3339Nano), i, i, i, i%2 == 0, ip)
		e := store.Event{SourceID: st.SourceID, LogType: st.LogType, UUID: uuid, EventTime: t, ParseTime: stored,
			RowID: "row-" + uuid, SourceLabel: "label é", Raw: []byte(raw)}
		if i%3 != 0 {
			e.Emails = []string{email}
		}
		if i%4 != 0 {
			e.IPs = []string{ip, "2001:db8::" + fmt.Sprint(i%3+1)}
		}
		out[i] = e
	}
	return out
}

// lakeSnapshot is everything a reader of the lake can see, to compare
// before and after compaction.
type lakeSnapshot struct {
	events   []store.StoredEvent
	bySeq    []store.StoredEvent
	view     [][]any
	counts   []int64
	searches [][]string
	stats    []store.LakeGroup
}

func snapshot(t *testing.T, s store.Store, c *Clock, seqs []int64) lakeSnapshot {
	t.Helper()
	ctx := context.Background()
	var snap lakeSnapshot
	snap.events = readAll(t, s, 0, 7) // small batches: segments are read across calls
	var err error
	if snap.bySeq, err = s.EventsBySeq(ctx, seqs); err != nil {
		t.Fatalf("EventsBySeq: %v", err)
	}
	if snap.view, _, err = queryAll(ctx, s, "SELECT * FROM test_signin ORDER BY p_event_time, uuid"); err != nil {
		t.Fatalf("query the view: %v", err)
	}
	for _, lt := range logTypes {
		snap.counts = append(snap.counts, count(t, s, lt, ""))
	}
	base := c.Now().Add(-72 * time.Hour)
	// Bounds on the time, which an engine may use to skip segments.
	for _, where := range []string{
		fmt.Sprintf("p_event_time >= '%s' AND p_event_time < '%s'", lakeTime(base.Add(30*time.Minute)), lakeTime(base.Add(90*time.Minute))),
		fmt.Sprintf("p_event_time = '%s'", lakeTime(base.Add(17*time.Minute+time.Second))),
		fmt.Sprintf("p_event_time > '%s'", base.Format("2006-01-02")),
		fmt.Sprintf("p_event_time <= '%s'", lakeTime(base.Add(3*time.Minute))),
		fmt.Sprintf("p_event_time > '%s'", lakeTime(c.Now())),
	} {
		rows, _, err := queryAll(ctx, s, "SELECT uuid, p_event_time FROM test_signin WHERE "+where+" ORDER BY p_event_time, uuid")
		if err != nil {
			t.Fatalf("query the view where %s: %v", where, err)
		}
		snap.view = append(snap.view, []any{where, len(rows)})
		snap.view = append(snap.view, rows...)
	}
	for _, q := range []store.IndicatorQuery{
		{Kind: store.IndicatorEmail, Value: "user3@example.com", Limit: 100},
		{Kind: store.IndicatorEmail, Value: "user3@example.com", Limit: 4},
		{Kind: store.IndicatorIP, Value: "192.0.2.1", Limit: 100, LogTypes: []string{usage, audit}},
		{Kind: store.IndicatorIP, Value: "2001:db8::2", Limit: 5, From: base.Add(10 * time.Minute), To: base.Add(200 * time.Minute)},
		{Kind: store.IndicatorIP, Value: "192.0.2.4", Limit: 3, After: &store.IndicatorPosition{EventTime: base.Add(39 * time.Minute), Seq: 1 << 40}},
	} {
		snap.searches = append(snap.searches, search(t, s, q))
	}
	st, err := s.LakeStats(ctx, c.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	snap.stats = st.Groups
	return snap
}

func compareSnapshots(t *testing.T, what string, want, got lakeSnapshot) {
	t.Helper()
	if diff := cmp.Diff(want.events, got.events); diff != "" {
		t.Errorf("%s: EventsAfter (-before +after):\n%s", what, diff)
	}
	if diff := cmp.Diff(want.bySeq, got.bySeq); diff != "" {
		t.Errorf("%s: EventsBySeq (-before +after):\n%s", what, diff)
	}
	if diff := cmp.Diff(want.view, got.view); diff != "" {
		t.Errorf("%s: the view (-before +after):\n%s", what, diff)
	}
	if diff := cmp.Diff(want.counts, got.counts); diff != "" {
		t.Errorf("%s: counts per view (-before +after):\n%s", what, diff)
	}
	if diff := cmp.Diff(want.searches, got.searches); diff != "" {
		t.Errorf("%s: indicator searches (-before +after):\n%s", what, diff)
	}
	if diff := cmp.Diff(want.stats, got.stats); diff != "" {
		t.Errorf("%s: LakeStats groups (-before +after):\n%s", what, diff)
	}
}

// Every read sees compacted events exactly as before, across log types,
// in segments of any size; events stored since, or not yet detected, stay.
func testCompactRoundTrip(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	if err := s.SyncViews(ctx, []store.View{testView, {Name: viewOf[usage], LogType: usage, Columns: []store.ViewColumn{{Name: "uuid", Kind: "string"}}},
		{Name: viewOf[audit], LogType: audit, Columns: []store.ViewColumn{{Name: "uuid", Kind: "string"}}},
		{Name: viewOf[signin], LogType: signin, Columns: []store.ViewColumn{{Name: "uuid", Kind: "string"}}}}); err != nil {
		t.Fatal(err)
	}
	base := c.Now().Add(-72 * time.Hour)
	storedAt := c.Now().Add(-48 * time.Hour)
	// Interleaved pages of the three log types, as ingest writes them.
	for round := range 3 {
		for _, lt := range logTypes {
			st := claim(t, s, streamOf(t, sts, lt), "ret")
			page := lakeEvents(st, fmt.Sprintf("%s-%d", lt[12:15], round), 40, base.Add(time.Duration(round)*time.Second), storedAt)
			storeEvents(t, s, st, page)
		}
	}
	detectedUpTo(t, s)
	// Stored recently: stays hot.
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	storeEvents(t, s, si, lakeEvents(si, "new", 5, base.Add(time.Hour), c.Now()))
	detectedUpTo(t, s)
	all := readAll(t, s, 0, 1000)
	var seqs []int64
	for i, e := range all {
		if i%9 == 0 || i == len(all)-1 {
			seqs = append(seqs, e.Seq)
		}
	}
	before := snapshot(t, s, c, seqs)
	if len(before.events) != 365 {
		t.Fatalf("stored %d events, want 365", len(before.events))
	}

	if n := compactAll(t, s, c.Now().Add(-time.Hour)); n != 360 {
		t.Errorf("compacted %d events, want the 360 stored two days ago", n)
	}
	compareSnapshots(t, "after compacting", before, snapshot(t, s, c, seqs))
	st, err := s.LakeStats(ctx, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Compacted != 360 || st.CompactedBytes <= 0 {
		t.Errorf("LakeStats: %d events compacted in %d bytes, want 360 in more than 0", st.Compacted, st.CompactedBytes)
	}
	// Reading from inside a segment, one event at a time.
	mid := all[100].Seq
	got, err := s.EventsAfter(ctx, mid, 3)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(all[101:104], got); diff != "" {
		t.Errorf("EventsAfter(%d, 3) inside a segment (-want +got):\n%s", mid, diff)
	}
	if latest, err := s.LatestSeq(ctx); err != nil || latest != all[len(all)-1].Seq {
		t.Errorf("LatestSeq = %d, %v; want %d", latest, err, all[len(all)-1].Seq)
	}
	// Storing more and compacting again appends segments.
	storeEvents(t, s, si, lakeEvents(si, "later", 10, base.Add(2*time.Hour), c.Now()))
	detectedUpTo(t, s)
	c.Advance(72 * time.Hour)
	before = snapshot(t, s, c, seqs)
	if n := compactAll(t, s, c.Now()); n != 15 {
		t.Errorf("compacted %d more events, want 15", n)
	}
	compareSnapshots(t, "after compacting again", before, snapshot(t, s, c, seqs))
}

// Only events stored before the cut and evaluated by detect move, oldest
// first, at most max at a time.
func testCompactBounds(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	old := c.Now().Add(-48 * time.Hour)
	if res := compact(t, s, c.Now(), 100); res.Events != 0 {
		t.Errorf("CompactEvents on an empty lake moved %d events", res.Events)
	}
	storeEvents(t, s, si, lakeEvents(si, "a", 10, old, old))
	if res := compact(t, s, c.Now(), 100); res.Events != 0 {
		t.Errorf("CompactEvents before detect ran moved %d events, want 0", res.Events)
	}
	detectedUpTo(t, s)
	storeEvents(t, s, si, lakeEvents(si, "b", 5, old, old)) // not evaluated yet
	if res := compact(t, s, c.Now(), 4); res.Events < 1 || res.Events > 4 {
		t.Errorf("CompactEvents(max 4) moved %d events, want 1 to 4", res.Events)
	}
	if n := compactAll(t, s, c.Now()); n < 6 || n > 9 {
		t.Errorf("then %d more, want the rest of the 10 evaluated", n)
	}
	detectedUpTo(t, s)
	if n := compactAll(t, s, old); n != 0 {
		t.Errorf("compacting what was stored before %v moved %d events stored at it", old, n)
	}
	if n := compactAll(t, s, c.Now()); n != 5 {
		t.Errorf("compacted %d events once evaluated, want 5", n)
	}
	// Every event compacted: the latest position is still the last event's.
	all := readAll(t, s, 0, 100)
	if latest, err := s.LatestSeq(ctx); err != nil || len(all) == 0 || latest != all[len(all)-1].Seq {
		t.Errorf("LatestSeq with every event compacted = %d, %v; want the last event's", latest, err)
	}
	if got := count(t, s, signin, ""); got != 15 {
		t.Errorf("the view counts %d events, want 15", got)
	}
	evs, err := s.EventsAfter(ctx, 0, 100)
	if err != nil || len(evs) != 15 {
		t.Errorf("EventsAfter read %d events, %v; want 15", len(evs), err)
	}
}

// A compacted event stays part of the unique key: storing it again from
// any stream of its account is a duplicate, and the one next to it is not.
func testCompactDuplicates(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	old := c.Now().Add(-48 * time.Hour)
	page := lakeEvents(si, "d", 20, old, old)
	storeEvents(t, s, si, page)
	detectedUpTo(t, s)
	if n := compactAll(t, s, c.Now()); n != 20 {
		t.Fatalf("compacted %d events, want 20", n)
	}
	again := slices.Clone(page[5:8])
	fresh := lakeEvents(si, "fresh", 1, old.Add(5*time.Minute), c.Now())[0] // same time as d-005, another uuid
	res, err := s.InsertEvents(ctx, si.ID, append(again, fresh), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Inserted != 1 || res.Duplicates != 3 {
		t.Errorf("InsertEvents of 3 compacted events and 1 new: %d inserted, %d duplicates; want 1 and 3", res.Inserted, res.Duplicates)
	}
	// A second source on the same account reads the same events.
	_, sts2 := newSourceOn(t, s, "acme-again", "acct-acme")
	si2 := claim(t, s, streamOf(t, sts2, signin), "ret")
	dup := page[10]
	dup.SourceID = si2.SourceID
	if r := mustCommit(t, s, store.PageCommit{StreamID: si2.ID, LeaseOwner: "ret", Cursor: "x", Events: []store.Event{dup}}); r.Inserted != 0 {
		t.Errorf("another source of the account stored a compacted event again")
	}
	if got := count(t, s, signin, ""); got != 21 {
		t.Errorf("the view counts %d events, want 21", got)
	}
}

// Retention deletes compacted events past their period a segment at a
// time, never one an open alert points at, and LakeStats follows.
func testCompactRetention(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	si, us := claim(t, s, streamOf(t, sts, signin), "ret"), claim(t, s, streamOf(t, sts, usage), "ret")
	old := c.Now().Add(-400 * 24 * time.Hour)
	signins := storeEvents(t, s, si, lakeEvents(si, "s", 6, old, old))
	storeEvents(t, s, us, lakeEvents(us, "u", 4, old, old))
	storeEvents(t, s, si, lakeEvents(si, "recent", 3, c.Now().Add(-2*time.Hour), c.Now()))
	last := readAll(t, s, 0, 100)
	mustDetect(t, s, store.DetectCommit{Stage: store.RetentionStage, From: 0, To: last[len(last)-1].Seq,
		Alerts:  []store.Alert{ruleAlert("OPEN", "R", "a", old)},
		Matches: []store.AlertMatch{{AlertID: "OPEN", Seq: signins[2].Seq, EventTime: signins[2].EventTime}}})
	if n := compactAll(t, s, c.Now().Add(-time.Hour)); n != 10 {
		t.Fatalf("compacted %d events, want the 10 stored 400 days ago", n)
	}
	if got := purge(t, s, usage, c.Now().Add(-24*time.Hour), 100); got != 4 {
		t.Errorf("PurgeEvents(usage) = %d, want 4", got)
	}
	if evs, err := s.AlertEvents(ctx, "OPEN", 0); err != nil || len(evs) != 1 || evs[0].UUID != "s-002" {
		t.Errorf("the open alert's events after compaction: %v, %v; want s-002", evs, err)
	}
	purge(t, s, signin, c.Now().Add(-24*time.Hour), 100)
	if got := uuidsLeft(t, s); !slices.Contains(got, "s-002") || !slices.Contains(got, "recent-000") || slices.Contains(got, "u-000") {
		t.Errorf("left after purging: %v; want the alert's event (with its segment) and the recent ones, no usage", got)
	}
	if _, err := s.ChangeAlert(ctx, store.AlertChange{AlertID: "OPEN", Actor: "jane", Action: store.ActionResolve}); err != nil {
		t.Fatal(err)
	}
	purge(t, s, signin, c.Now().Add(-24*time.Hour), 100)
	if got, want := uuidsLeft(t, s), []string{"recent-000", "recent-001", "recent-002"}; !slices.Equal(got, want) {
		t.Errorf("left after resolving: %v, want %v", got, want)
	}
	st, err := s.LakeStats(ctx, c.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Groups) != 1 || st.Groups[0].Events != 3 || st.Compacted != 0 || st.CompactedBytes != 0 {
		t.Errorf("LakeStats after purging: %+v (compacted %d in %d bytes); want one group of 3 events, none compacted", st.Groups, st.Compacted, st.CompactedBytes)
	}
	if got := count(t, s, signin, ""); got != 3 {
		t.Errorf("the view counts %d sign-ins, want 3", got)
	}
	// A purged event may be stored again (it is gone from the key too).
	res, err := s.InsertEvents(ctx, us.ID, lakeEvents(us, "u", 1, old, old), nil)
	if err != nil || res.Inserted != 1 {
		t.Errorf("storing a purged event again: %+v, %v; want it stored", res, err)
	}
}

// ReclaimSpace runs, light or full, while the lake holds hot and compacted
// events, and loses none of them.
func testCompactReclaim(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	old := c.Now().Add(-48 * time.Hour)
	storeEvents(t, s, si, lakeEvents(si, "r", 30, old, old))
	detectedUpTo(t, s)
	compactAll(t, s, c.Now())
	storeEvents(t, s, si, lakeEvents(si, "h", 5, old, c.Now()))
	for _, full := range []bool{false, true} {
		if err := s.ReclaimSpace(ctx, full); err != nil {
			t.Fatalf("ReclaimSpace(full %t): %v", full, err)
		}
	}
	if got := count(t, s, signin, ""); got != 35 {
		t.Errorf("the view counts %d events after reclaiming, want 35", got)
	}
}

// ScanEvents reads exactly the events of a log type in a time range, hot
// and compacted alike, up to a position.
func testScanEvents(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	base := c.Now().Add(-10 * 24 * time.Hour)
	for i, lt := range logTypes {
		st := claim(t, s, streamOf(t, sts, lt), "ret")
		// Two days of events an hour apart, stored long ago, and a day
		// stored now; times interleave across the pages.
		storeEvents(t, s, st, lakeEvents(st, fmt.Sprintf("old%d", i), 48, base.Add(time.Duration(i)*time.Second), base))
		storeEvents(t, s, st, lakeEvents(st, fmt.Sprintf("mid%d", i), 30, base.Add(30*time.Minute), c.Now().Add(-47*time.Hour)))
	}
	detectedUpTo(t, s)
	for i, lt := range logTypes {
		st := claim(t, s, streamOf(t, sts, lt), "ret")
		storeEvents(t, s, st, lakeEvents(st, fmt.Sprintf("new%d", i), 24, base.Add(24*time.Hour+time.Minute), c.Now()))
	}
	all := readAll(t, s, 0, 1000)
	scan := func(lt string, from, to time.Time, maxSeq int64) []string {
		var got []string
		err := s.ScanEvents(ctx, lt, from, to, maxSeq, func(e *store.StoredEvent) error {
			got = append(got, e.UUID+"|"+string(e.Raw))
			return nil
		})
		if err != nil {
			t.Fatalf("ScanEvents(%s, %v, %v, %d): %v", lt, from, to, maxSeq, err)
		}
		slices.Sort(got)
		return got
	}
	want := func(lt string, from, to time.Time, maxSeq int64) []string {
		var out []string
		for _, e := range all {
			if e.LogType == lt && !e.EventTime.Before(from) && e.EventTime.Before(to) && e.Seq <= maxSeq {
				out = append(out, e.UUID+"|"+string(e.Raw))
			}
		}
		slices.Sort(out)
		return out
	}
	check := func(what string) {
		t.Helper()
		last := all[len(all)-1].Seq
		for _, r := range []struct {
			from, to time.Time
			maxSeq   int64
		}{
			{base, base.Add(48 * time.Hour), last},
			{base.Add(20 * time.Hour), base.Add(26 * time.Hour), last},
			{base.Add(30 * time.Minute), base.Add(30*time.Minute + time.Nanosecond), last},
			{base.Add(-time.Hour), base, last},
			{base, base.Add(48 * time.Hour), all[len(all)/2].Seq},
		} {
			for _, lt := range logTypes {
				got, exp := scan(lt, r.from, r.to, r.maxSeq), want(lt, r.from, r.to, r.maxSeq)
				if diff := cmp.Diff(exp, got); diff != "" {
					t.Errorf("%s: ScanEvents(%s, %v, %v, %d) (-want +got):\n%s", what, lt, r.from, r.to, r.maxSeq, diff)
				}
			}
		}
	}
	check("hot")
	if n := compactAll(t, s, c.Now().Add(-time.Hour)); n != 234 {
		t.Errorf("compacted %d events, want 234", n)
	}
	check("after compacting")
	stop := errors.New("stop")
	n := 0
	err := s.ScanEvents(ctx, signin, base, base.Add(48*time.Hour), all[len(all)-1].Seq, func(*store.StoredEvent) error {
		n++
		return stop
	})
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("ScanEvents after fn failed: %v after %d calls; want fn's error after 1", err, n)
	}
}
