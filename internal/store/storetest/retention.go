package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// RunRetention runs the cases of the Retention part: purging events and
// quarantine past their period, and the lake's statistics.
func RunRetention(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"PurgeEventsCutoff", testPurgeEventsCutoff},
		{"PurgeEventsKeepsAlerts", testPurgeEventsKeepsAlerts},
		{"PurgeEventsWaitsForDetect", testPurgeEventsWaitsForDetect},
		{"PurgeEventsBatches", testPurgeEventsBatches},
		{"PurgeEventsIndicators", testPurgeEventsIndicators},
		{"PurgeEventsConcurrentIngest", testPurgeEventsConcurrentIngest},
		{"PurgeQuarantine", testPurgeQuarantine},
		{"LakeStats", testLakeStats},
	})
}

// storeEvents commits events on st (claimed by "ret") and returns them as
// the store reads them back, in seq order.
func storeEvents(t *testing.T, s store.Store, st store.Stream, events []store.Event) []store.StoredEvent {
	t.Helper()
	ctx := context.Background()
	latest, err := s.LatestSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(events); i += 500 {
		page := events[i:min(i+500, len(events))]
		if res := mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "ret", Cursor: fmt.Sprint(i), Events: page}); res.Inserted != len(page) {
			t.Fatalf("CommitPage stored %d of %d events", res.Inserted, len(page))
		}
	}
	return readAll(t, s, latest, 1000)
}

// detectedUpTo stores the detect stage's position at the newest event, as
// if it had evaluated everything.
func detectedUpTo(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	from, err := s.Position(ctx, store.RetentionStage)
	if err != nil {
		t.Fatal(err)
	}
	to, err := s.LatestSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := s.AlertEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mustDetect(t, s, store.DetectCommit{Stage: store.RetentionStage, From: from, To: to, Epoch: epoch})
}

func purge(t *testing.T, s store.Store, lt string, before time.Time, batch int) int {
	t.Helper()
	n, err := s.PurgeEvents(context.Background(), lt, before, batch)
	if err != nil {
		t.Fatalf("PurgeEvents(%s, %v, %d): %v", lt, before, batch, err)
	}
	return n
}

// uuidsLeft is the uuids of every stored event, in seq order.
func uuidsLeft(t *testing.T, s store.Store) []string {
	t.Helper()
	var out []string
	for _, e := range readAll(t, s, 0, 1000) {
		out = append(out, e.UUID)
	}
	return out
}

// Only events of the log type asked, strictly before the cut, go.
func testPurgeEventsCutoff(t *testing.T, s store.Store, c *Clock) {
	_, sts := newSource(t, s, "acme")
	cut := c.Now().Add(-24 * time.Hour)
	si, us := claim(t, s, streamOf(t, sts, signin), "ret"), claim(t, s, streamOf(t, sts, usage), "ret")
	storeEvents(t, s, si, []store.Event{
		ev(si, "s-old", cut.Add(-time.Hour)), ev(si, "s-edge", cut.Add(-time.Microsecond)),
		ev(si, "s-at", cut), ev(si, "s-new", cut.Add(time.Hour)),
	})
	storeEvents(t, s, us, []store.Event{ev(us, "u-old", cut.Add(-time.Hour)), ev(us, "u-new", cut.Add(time.Hour))})
	detectedUpTo(t, s)

	if n := purge(t, s, signin, cut, 100); n != 2 {
		t.Errorf("PurgeEvents(signin) = %d, want 2 (s-old, s-edge)", n)
	}
	want := []string{"s-at", "s-new", "u-old", "u-new"}
	if got := uuidsLeft(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("left after purging sign-ins before the cut: %v, want %v", got, want)
	}
	if n := purge(t, s, signin, cut, 100); n != 0 {
		t.Errorf("PurgeEvents(signin) again = %d, want 0", n)
	}
	if n := purge(t, s, "OnePassword.Unknown", c.Now(), 100); n != 0 {
		t.Errorf("PurgeEvents(a log type without events) = %d, want 0", n)
	}
	if count(t, s, signin, "") != 2 || count(t, s, usage, "") != 2 {
		t.Errorf("the views count %d sign-ins and %d usages, want 2 and 2", count(t, s, signin, ""), count(t, s, usage, ""))
	}
}

// Events an open or triaged alert points at, and those a dedup group holds
// below its threshold, stay; a resolved alert's go.
func testPurgeEventsKeepsAlerts(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	old := c.Now().Add(-400 * 24 * time.Hour)
	stored := storeEvents(t, s, si, evs(si, "e", 6, old))
	match := func(id string, e store.StoredEvent) store.AlertMatch {
		return store.AlertMatch{AlertID: id, Seq: e.Seq, EventTime: e.EventTime}
	}
	last := stored[len(stored)-1].Seq
	mustDetect(t, s, store.DetectCommit{From: 0, To: last,
		Alerts: []store.Alert{ruleAlert("OPEN", "R", "a", old), ruleAlert("TRIAGED", "R", "b", old), ruleAlert("RESOLVED", "R", "c", old)},
		Matches: []store.AlertMatch{match("OPEN", stored[0]), match("TRIAGED", stored[1]), match("RESOLVED", stored[2]),
			match("OPEN", stored[5]), match("RESOLVED", stored[5])},
		// A live group holds e-3; one whose period ended (before the
		// store's now, whichever clock it keeps) holds e-4 no longer.
		Groups: []store.DedupGroup{
			{RuleID: "R2", Dedup: "live", PeriodEnd: c.Now().AddDate(10, 0, 0), Matches: 1, Pending: []int64{stored[3].Seq}},
			{RuleID: "R2", Dedup: "ended", PeriodEnd: c.Now().AddDate(-1, 0, 0), Matches: 1, Pending: []int64{stored[4].Seq}},
		}})
	for _, ch := range []store.AlertChange{
		{AlertID: "TRIAGED", Actor: "jane", Action: store.ActionTriage},
		{AlertID: "RESOLVED", Actor: "jane", Action: store.ActionResolve},
	} {
		if _, err := s.ChangeAlert(ctx, ch); err != nil {
			t.Fatal(err)
		}
	}
	if n := purge(t, s, signin, c.Now(), 100); n != 2 {
		t.Errorf("PurgeEvents = %d, want 2 (the resolved alert's only event, and the ended group's)", n)
	}
	want := []string{"e-0", "e-1", "e-3", "e-5"}
	if got := uuidsLeft(t, s); !reflect.DeepEqual(got, want) {
		t.Errorf("left: %v, want %v (open, triaged, a live group's pending, open and resolved)", got, want)
	}
	if evs, err := s.AlertEvents(ctx, "OPEN", 0); err != nil || len(evs) != 2 {
		t.Errorf("the open alert's events: %d, %v; want both", len(evs), err)
	}
	// Resolving the last alert lets its events go.
	if _, err := s.ChangeAlert(ctx, store.AlertChange{AlertID: "OPEN", Actor: "jane", Action: store.ActionResolve}); err != nil {
		t.Fatal(err)
	}
	if n := purge(t, s, signin, c.Now(), 100); n != 2 {
		t.Errorf("PurgeEvents after resolving = %d, want 2", n)
	}
}

// An event the detect stage has not evaluated stays, however old; before
// the stage's first commit, nothing goes.
func testPurgeEventsWaitsForDetect(t *testing.T, s store.Store, c *Clock) {
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	old := c.Now().Add(-400 * 24 * time.Hour)
	storeEvents(t, s, si, evs(si, "a", 3, old))
	if n := purge(t, s, signin, c.Now(), 100); n != 0 {
		t.Errorf("PurgeEvents before detect ever ran = %d, want 0", n)
	}
	detectedUpTo(t, s)
	storeEvents(t, s, si, evs(si, "b", 2, old))
	if n := purge(t, s, signin, c.Now(), 100); n != 3 {
		t.Errorf("PurgeEvents = %d, want 3 (the evaluated ones)", n)
	}
	if got, want := uuidsLeft(t, s), []string{"b-0", "b-1"}; !reflect.DeepEqual(got, want) {
		t.Errorf("left: %v, want %v", got, want)
	}
}

// A purge deletes at most a batch, oldest first.
func testPurgeEventsBatches(t *testing.T, s store.Store, c *Clock) {
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	old := c.Now().Add(-400 * 24 * time.Hour)
	// Stored newest first, so that seq order is not time order.
	events := evs(si, "e", 25, old)
	slices.Reverse(events)
	storeEvents(t, s, si, events)
	detectedUpTo(t, s)
	var got []int
	for {
		n := purge(t, s, signin, c.Now(), 10)
		got = append(got, n)
		if n < 10 || len(got) > 5 {
			break
		}
		left := uuidsLeft(t, s)
		// The oldest are e-0..: after k batches, e-(10k).. are left.
		if !slices.Contains(left, fmt.Sprintf("e-%d", 10*len(got))) || slices.Contains(left, fmt.Sprintf("e-%d", 10*len(got)-1)) {
			t.Fatalf("after %d batches, left %v: not the oldest first", len(got), left)
		}
	}
	if !reflect.DeepEqual(got, []int{10, 10, 5}) {
		t.Errorf("batches deleted %v, want [10 10 5]", got)
	}
	if _, err := s.PurgeEvents(context.Background(), signin, c.Now(), 0); err == nil {
		t.Error("PurgeEvents with batch 0 did not fail")
	}
}

// Indicator search finds none of the purged events and every kept one,
// across blocks of the index, and events stored after a purge are
// indexed and found as before.
func testPurgeEventsIndicators(t *testing.T, s store.Store, c *Clock) {
	_, sts := newSource(t, s, "acme")
	si, us := claim(t, s, streamOf(t, sts, signin), "ret"), claim(t, s, streamOf(t, sts, usage), "ret")
	old := c.Now().Add(-400 * 24 * time.Hour)
	mk := func(st store.Stream, prefix string, n int, at time.Time) []store.Event {
		out := evs(st, prefix, n, at)
		for i := range out {
			out[i] = withIndicators(out[i], []string{"jane@example.com"}, []string{"192.0.2.1"})
		}
		return out
	}
	// Interleaved log types across more than two blocks of 4096 events.
	for i := range 5 {
		storeEvents(t, s, si, mk(si, fmt.Sprintf("s%d", i), 1000, old.Add(time.Duration(i)*time.Hour)))
		storeEvents(t, s, us, mk(us, fmt.Sprintf("u%d", i), 1000, old.Add(time.Duration(i)*time.Hour)))
	}
	detectedUpTo(t, s)
	for {
		if purge(t, s, signin, c.Now(), 5000) < 5000 {
			break
		}
	}
	storeEvents(t, s, si, mk(si, "fresh", 5000, c.Now().Add(-time.Hour)))
	for _, q := range []store.IndicatorQuery{
		{Kind: store.IndicatorEmail, Value: "jane@example.com", Limit: 20000},
		{Kind: store.IndicatorIP, Value: "192.0.2.1", Limit: 20000},
	} {
		found := search(t, s, q)
		bySign := map[string]int{}
		for _, u := range found {
			bySign[u[:1]]++
		}
		if len(found) != 10000 || bySign["u"] != 5000 || bySign["f"] != 5000 {
			t.Errorf("search %s after the purge: %d events (%v), want the 5,000 usages and the 5,000 fresh sign-ins", q.Kind, len(found), bySign)
		}
	}
}

// Ingest goes on while a purge runs: every event committed meanwhile is
// stored, and every old one is deleted.
func testPurgeEventsConcurrentIngest(t *testing.T, s store.Store, c *Clock) {
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	old := c.Now().Add(-400 * 24 * time.Hour)
	storeEvents(t, s, si, evs(si, "old", 3000, old))
	detectedUpTo(t, s)
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 20 {
			_, err := s.CommitPage(context.Background(), store.PageCommit{StreamID: si.ID, LeaseOwner: "ret", Cursor: fmt.Sprint(i),
				Events: evs(si, fmt.Sprintf("new%d", i), 100, c.Now().Add(-time.Minute))})
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	deleted := 0
	for {
		n := purge(t, s, signin, c.Now().Add(-24*time.Hour), 250)
		deleted += n
		if n < 250 {
			break
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Fatalf("CommitPage during the purge: %v", err)
	}
	if deleted != 3000 || count(t, s, signin, "") != 2000 {
		t.Errorf("purged %d (want 3000), left %d (want the 2000 new)", deleted, count(t, s, signin, ""))
	}
}

func testPurgeQuarantine(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	si := claim(t, s, streamOf(t, sts, signin), "ret")
	cut := c.Now().Add(-30 * 24 * time.Hour)
	var q []store.Quarantined
	for i := range 7 {
		q = append(q, store.Quarantined{Raw: []byte("bad"), Reason: fmt.Sprint("old ", i), At: cut.Add(-time.Duration(i+1) * time.Minute)})
	}
	q = append(q, store.Quarantined{Raw: []byte("bad"), Reason: "at", At: cut}, store.Quarantined{Raw: []byte("bad"), Reason: "new", At: c.Now()})
	mustCommit(t, s, store.PageCommit{StreamID: si.ID, LeaseOwner: "ret", Cursor: "c", Quarantine: q})
	var got []int
	for {
		n, err := s.PurgeQuarantine(ctx, cut, 3)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, n)
		if n < 3 || len(got) > 4 {
			break
		}
	}
	if !reflect.DeepEqual(got, []int{3, 3, 1}) {
		t.Errorf("batches deleted %v, want [3 3 1]", got)
	}
	left, err := s.ListQuarantine(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, l := range left {
		reasons = append(reasons, l.Reason)
	}
	if !reflect.DeepEqual(reasons, []string{"new", "at"}) {
		t.Errorf("quarantine left: %v, want [new at]", reasons)
	}
	if st := stream(t, s, si.ID); st.Quarantined != 9 {
		t.Errorf("the stream counts %d quarantined, want the 9 received", st.Quarantined)
	}
}

func testLakeStats(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	empty, err := s.LakeStats(ctx, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(empty.Groups) != 0 || empty.Quarantine.Events != 0 {
		t.Errorf("LakeStats of an empty lake = %+v", empty)
	}
	a, asts := newSource(t, s, "acme")
	b, bsts := newSource(t, s, "beta")
	since := c.Now().Add(-7 * 24 * time.Hour)
	sa, ua := claim(t, s, streamOf(t, asts, signin), "ret"), claim(t, s, streamOf(t, asts, usage), "ret")
	sb := claim(t, s, streamOf(t, bsts, signin), "ret")
	oldest, newest := since.Add(-time.Hour), c.Now().Add(-time.Minute)
	aEvents := []store.Event{ev(sa, "a1", oldest), ev(sa, "a2", since), ev(sa, "a3", newest)}
	storeEvents(t, s, sa, aEvents)
	storeEvents(t, s, ua, []store.Event{ev(ua, "u1", newest)})
	storeEvents(t, s, sb, []store.Event{ev(sb, "b1", oldest)})
	mustCommit(t, s, store.PageCommit{StreamID: sa.ID, LeaseOwner: "ret", Cursor: "q",
		Quarantine: []store.Quarantined{{Raw: []byte("12345"), Reason: "x", At: oldest}, {Raw: []byte("678"), Reason: "y", At: newest}}})
	st, err := s.LakeStats(ctx, since)
	if err != nil {
		t.Fatal(err)
	}
	raw := func(es ...store.Event) (n int64) {
		for _, e := range es {
			n += int64(len(e.Raw))
		}
		return n
	}
	// Sources are ordered by id, which the store made: sort the want alike.
	want := []store.LakeGroup{
		{LogType: usage, SourceID: a.ID, SourceLabel: "label", Events: 1, RawBytes: raw(ev(ua, "u1", newest)), Oldest: newest, Newest: newest, Recent: 1, RecentBytes: raw(ev(ua, "u1", newest))},
		{LogType: signin, SourceID: a.ID, SourceLabel: "label", Events: 3, RawBytes: raw(aEvents...), Oldest: oldest, Newest: newest, Recent: 2, RecentBytes: raw(aEvents[1:]...)},
		{LogType: signin, SourceID: b.ID, SourceLabel: "label", Events: 1, RawBytes: raw(ev(sb, "b1", oldest)), Oldest: oldest, Newest: oldest},
	}
	if b.ID < a.ID {
		want[1], want[2] = want[2], want[1]
	}
	if len(st.Groups) != len(want) {
		t.Fatalf("LakeStats groups = %+v, want %+v", st.Groups, want)
	}
	for i := range want {
		g := st.Groups[i]
		if g.LogType != want[i].LogType || g.SourceID != want[i].SourceID || g.SourceLabel != want[i].SourceLabel || g.Events != want[i].Events ||
			g.RawBytes != want[i].RawBytes || !g.Oldest.Equal(want[i].Oldest) || !g.Newest.Equal(want[i].Newest) ||
			g.Recent != want[i].Recent || g.RecentBytes != want[i].RecentBytes {
			t.Errorf("group %d = %+v, want %+v", i, g, want[i])
		}
	}
	q := st.Quarantine
	if q.Events != 2 || q.RawBytes != 8 || !q.Oldest.Equal(oldest) || !q.Newest.Equal(newest) {
		t.Errorf("quarantine = %+v, want 2 events of 8 bytes from %v to %v", q, oldest, newest)
	}
	if st.StoredBytes <= raw(aEvents...) {
		t.Errorf("StoredBytes = %d, less than the raw events", st.StoredBytes)
	}
}
