package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

const stage = "detect"

// seedEvents stores n events of lt on a new source named name, in pages of
// page, and returns them as the store reports them (in seq order).
func seedEvents(t *testing.T, s store.Store, name, lt string, n, page int, at time.Time) []store.StoredEvent {
	t.Helper()
	ctx := context.Background()
	before, err := s.EventsAfter(ctx, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	_, sts := newSource(t, s, name)
	st := claim(t, s, streamOf(t, sts, lt), "seed")
	for i := 0; i < n; i += page {
		k := min(page, n-i)
		events := evs(st, fmt.Sprintf("%s-%d", name, i), k, at.Add(time.Duration(i)*time.Second))
		mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "seed", Cursor: fmt.Sprint(i), Events: events})
	}
	all, err := s.EventsAfter(ctx, 0, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(before)+n {
		t.Fatalf("seeded %d events, the store reads %d new", n, len(all)-len(before))
	}
	return all[len(before):]
}

// readAll reads every event after pos in batches of batch, checking that
// seqs only grow.
func readAll(t *testing.T, s store.Store, pos int64, batch int) []store.StoredEvent {
	t.Helper()
	var out []store.StoredEvent
	for {
		got, err := s.EventsAfter(context.Background(), pos, batch)
		if err != nil {
			t.Fatalf("EventsAfter(%d, %d): %v", pos, batch, err)
		}
		if len(got) > batch {
			t.Fatalf("EventsAfter(%d, %d) returned %d events", pos, batch, len(got))
		}
		for _, e := range got {
			if e.Seq <= pos {
				t.Fatalf("EventsAfter returned seq %d after position %d: out of order", e.Seq, pos)
			}
			pos = e.Seq
		}
		out = append(out, got...)
		if len(got) < batch {
			return out
		}
	}
}

func testEventsAfter(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	at := c.Now().Add(-time.Hour)
	a := seedEvents(t, s, "acme", signin, 23, 10, at)
	b := seedEvents(t, s, "globex", usage, 17, 5, at)
	all := append(append([]store.StoredEvent(nil), a...), b...)

	// Batches of any size read everything once, in seq order.
	for _, batch := range []int{1, 7, 40, 1000} {
		got := readAll(t, s, 0, batch)
		if len(got) != len(all) {
			t.Fatalf("batches of %d read %d events, want %d", batch, len(got), len(all))
		}
		for i := range got {
			if got[i].Seq != all[i].Seq || got[i].UUID != all[i].UUID {
				t.Fatalf("batches of %d: event %d is seq %d (%s), want %d (%s)", batch, i, got[i].Seq, got[i].UUID, all[i].Seq, all[i].UUID)
			}
		}
	}
	// From the middle: exactly the ones after.
	mid := all[10].Seq
	got, err := s.EventsAfter(ctx, mid, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || got[0].Seq != all[11].Seq || got[4].Seq != all[15].Seq {
		t.Errorf("EventsAfter(%d, 5) = %d events from seq %v, want seqs %d..%d", mid, len(got), seqsOf(got), all[11].Seq, all[15].Seq)
	}
	if got, err := s.EventsAfter(ctx, all[len(all)-1].Seq, 10); err != nil || len(got) != 0 {
		t.Errorf("EventsAfter(last) = %d events, %v; want none", len(got), err)
	}

	// Every field comes back as stored.
	e := a[3]
	wantAt := at.Add(3 * time.Millisecond)
	if e.Account != "acct-acme" || e.LogType != signin || e.UUID != "acme-0-3" || e.RowID != "row-acme-0-3" ||
		e.SourceLabel != "label" || e.SourceID == "" || !e.EventTime.Equal(wantAt) || !e.ParseTime.Equal(wantAt.Add(time.Second)) ||
		e.EventTime.Location() != time.UTC {
		t.Errorf("stored event = %+v", e)
	}
	if !jsonEqual(string(e.Raw), fmt.Sprintf(`{"uuid":"acme-0-3","timestamp":%q}`, wantAt.Format(time.RFC3339Nano))) {
		t.Errorf("raw = %s", e.Raw)
	}
}

func seqsOf(evs []store.StoredEvent) []int64 {
	out := make([]int64, len(evs))
	for i, e := range evs {
		out[i] = e.Seq
	}
	return out
}

// IPs and e-mails come back decoded, escapes and all.
func testEventsAfterFields(t *testing.T, s store.Store, c *Clock) {
	_, sts := newSource(t, s, "acme")
	st := claim(t, s, streamOf(t, sts, signin), "me")
	at := c.Now().Add(-time.Minute)
	e1 := ev(st, "with", at)
	e1.IPs = []string{"192.0.2.1", "2001:db8::1"}
	e1.Emails = []string{`o"dd\name@example.com`, "plain@example.com"}
	e1.Account = "acct-given"
	e2 := ev(st, "without", at.Add(time.Second))
	// Separators and control characters an engine might use internally.
	e3 := ev(st, "odd\x1e\x1f\x00|,id", at.Add(2*time.Second))
	e3.RowID = "row\x1eid"
	e3.IPs = []string{"192.0.2.9"}
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "c", Events: []store.Event{e1, e2, e3}})
	got := readAll(t, s, 0, 10)
	if len(got) != 3 {
		t.Fatalf("read %d events, want 3", len(got))
	}
	if g := got[2]; g.UUID != e3.UUID || g.RowID != e3.RowID || !reflect.DeepEqual(g.IPs, e3.IPs) || g.Account != "acct-acme" ||
		!g.EventTime.Equal(e3.EventTime) || g.LogType != signin || g.Seq <= got[1].Seq {
		t.Errorf("an event with odd characters came back as %+v", g)
	}
	if !reflect.DeepEqual(got[0].IPs, e1.IPs) || !reflect.DeepEqual(got[0].Emails, e1.Emails) || got[0].Account != "acct-given" {
		t.Errorf("event with addresses: IPs %q, emails %q, account %q", got[0].IPs, got[0].Emails, got[0].Account)
	}
	if got[1].IPs != nil || got[1].Emails != nil || got[1].Account != "acct-acme" {
		t.Errorf("event without addresses: IPs %q, emails %q, account %q", got[1].IPs, got[1].Emails, got[1].Account)
	}
	byseq, err := s.EventsBySeq(context.Background(), []int64{got[1].Seq, got[2].Seq + 1000, got[0].Seq})
	if err != nil {
		t.Fatal(err)
	}
	if len(byseq) != 2 || byseq[0].Seq != got[0].Seq || byseq[1].Seq != got[1].Seq || !reflect.DeepEqual(byseq[0].Emails, e1.Emails) {
		t.Errorf("EventsBySeq = %v, want seqs %d, %d in order (the missing one left out)", seqsOf(byseq), got[0].Seq, got[1].Seq)
	}
	if none, err := s.EventsBySeq(context.Background(), nil); err != nil || len(none) != 0 {
		t.Errorf("EventsBySeq(nil) = %v, %v", none, err)
	}
}

// A reader following the events while pages are committed concurrently
// never skips one: what it read, in order, is everything stored.
func testEventsAfterConcurrent(t *testing.T, s store.Store, c *Clock) {
	_, sts := newSource(t, s, "acme")
	at := c.Now().Add(-time.Hour)
	const writers, pages, size = 3, 20, 25
	var wg sync.WaitGroup
	done := make(chan struct{})
	for w := 0; w < writers; w++ {
		st := claim(t, s, sts[w], fmt.Sprint("w", w))
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := 0; p < pages; p++ {
				_, err := s.CommitPage(context.Background(), store.PageCommit{StreamID: st.ID, LeaseOwner: fmt.Sprint("w", w),
					Cursor: fmt.Sprint(p), Events: evs(st, fmt.Sprintf("w%d-p%d", w, p), size, at.Add(time.Duration(p)*time.Minute))})
				if err != nil {
					t.Errorf("CommitPage: %v", err)
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	var read []store.StoredEvent
	var pos int64
	finished := false
	for !finished {
		select {
		case <-done:
			finished = true // one more pass reads the rest
		default:
		}
		got, err := s.EventsAfter(context.Background(), pos, 13)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range got {
			if e.Seq <= pos {
				t.Fatalf("seq %d after position %d", e.Seq, pos)
			}
			pos = e.Seq
		}
		read = append(read, got...)
		if finished && len(got) == 13 {
			finished = false // not drained yet
		}
	}
	all := readAll(t, s, 0, 1000)
	if len(all) != writers*pages*size {
		t.Fatalf("%d events stored, want %d", len(all), writers*pages*size)
	}
	if !reflect.DeepEqual(seqsOf(read), seqsOf(all)) {
		t.Errorf("a reader following concurrent commits read %d events, %d are stored: it skipped some", len(read), len(all))
	}
}

func mustDetect(t *testing.T, s store.Store, c store.DetectCommit) {
	t.Helper()
	if c.Stage == "" {
		c.Stage = stage
	}
	if err := s.CommitDetect(context.Background(), c); err != nil {
		t.Fatalf("CommitDetect(%d -> %d): %v", c.From, c.To, err)
	}
}

func position(t *testing.T, s store.Store, name string) int64 {
	t.Helper()
	p, err := s.Position(context.Background(), name)
	if err != nil {
		t.Fatalf("Position(%s): %v", name, err)
	}
	return p
}

func getAlert(t *testing.T, s store.Store, id string) store.Alert {
	t.Helper()
	a, err := s.Alert(context.Background(), id)
	if err != nil {
		t.Fatalf("Alert(%s): %v", id, err)
	}
	return a
}

func ruleAlert(id, rule, dedup string, first time.Time) store.Alert {
	return store.Alert{ID: id, Type: store.AlertRule, RuleID: rule, Dedup: dedup, Title: "title " + id, Severity: "HIGH",
		Status: store.AlertOpen, FirstEventAt: first, LastEventAt: first, PeriodEnd: first.Add(time.Hour)}
}

func testCommitDetect(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	evts := seedEvents(t, s, "acme", signin, 5, 5, c.Now().Add(-time.Hour))
	if p := position(t, s, stage); p != 0 {
		t.Fatalf("position before any commit = %d, want 0", p)
	}
	a := ruleAlert("A1", "Rule.One", "jane", evts[1].EventTime)
	a.Context = json.RawMessage(`{"ip":"192.0.2.1","n":[1,2]}`)
	a.Destinations = []string{"slack"}
	g := store.DedupGroup{RuleID: "Rule.One", Dedup: "jane", PeriodEnd: a.PeriodEnd, AlertID: "A1", Matches: 2}
	below := store.DedupGroup{RuleID: "Rule.Two", Dedup: "x", PeriodEnd: a.PeriodEnd, Matches: 1, Pending: []int64{evts[0].Seq}}
	expires := c.Now().Add(time.Hour)
	mustDetect(t, s, store.DetectCommit{From: 0, To: evts[2].Seq, Alerts: []store.Alert{a},
		Matches: []store.AlertMatch{{AlertID: "A1", Seq: evts[2].Seq, EventTime: evts[2].EventTime}, {AlertID: "A1", Seq: evts[1].Seq, EventTime: evts[1].EventTime}},
		Groups:  []store.DedupGroup{g, below},
		State:   []store.StateChange{{RuleID: "Rule.One", Key: "k", Value: []byte(`["a"]`), ExpiresAt: expires}}})

	if p := position(t, s, stage); p != evts[2].Seq {
		t.Errorf("position = %d, want %d", p, evts[2].Seq)
	}
	if p := position(t, s, "other"); p != 0 {
		t.Errorf("another stage's position = %d, want 0", p)
	}
	got := getAlert(t, s, "A1")
	if got.Events != 2 || !got.FirstEventAt.Equal(evts[1].EventTime) || !got.LastEventAt.Equal(evts[2].EventTime) ||
		!got.CreatedAt.Equal(c.Now()) || !got.UpdatedAt.Equal(c.Now()) || !got.PeriodEnd.Equal(a.PeriodEnd) ||
		got.Status != store.AlertOpen || got.Title != "title A1" || !jsonEqual(string(got.Context), string(a.Context)) ||
		!reflect.DeepEqual(got.Destinations, []string{"slack"}) {
		t.Errorf("alert after commit = %+v", got)
	}
	matched, err := s.AlertEvents(ctx, "A1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(seqsOf(matched), []int64{evts[1].Seq, evts[2].Seq}) || matched[0].UUID != evts[1].UUID {
		t.Errorf("AlertEvents = %v, want %d, %d", seqsOf(matched), evts[1].Seq, evts[2].Seq)
	}
	groups, err := s.DedupGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].AlertID != "A1" || groups[0].Matches != 2 || !groups[0].PeriodEnd.Equal(g.PeriodEnd) ||
		!reflect.DeepEqual(groups[1].Pending, below.Pending) || groups[1].AlertID != "" {
		t.Errorf("DedupGroups = %+v", groups)
	}
	v, ok, err := s.RuleState(ctx, "Rule.One", "k", c.Now())
	if err != nil || !ok || string(v.Value) != `["a"]` || !v.ExpiresAt.Equal(expires) {
		t.Errorf("RuleState = %q until %v, %v, %v", v.Value, v.ExpiresAt, ok, err)
	}
	if _, ok, _ := s.RuleState(ctx, "Rule.Two", "k", c.Now()); ok {
		t.Error("state is per rule: Rule.Two sees Rule.One's key")
	}

	// A later batch appends to the open alert: count, last event and
	// updated_at move; created_at stays.
	c.Advance(time.Minute)
	mustDetect(t, s, store.DetectCommit{From: evts[2].Seq, To: evts[4].Seq,
		Matches: []store.AlertMatch{{AlertID: "A1", Seq: evts[4].Seq, EventTime: evts[4].EventTime}}})
	got = getAlert(t, s, "A1")
	if got.Events != 3 || !got.LastEventAt.Equal(evts[4].EventTime) || !got.FirstEventAt.Equal(evts[1].EventTime) ||
		!got.UpdatedAt.Equal(c.Now()) || !got.CreatedAt.Equal(c.Now().Add(-time.Minute)) {
		t.Errorf("alert after a second batch: events %d, first %v, last %v, created %v, updated %v",
			got.Events, got.FirstEventAt, got.LastEventAt, got.CreatedAt, got.UpdatedAt)
	}
	if p := position(t, s, stage); p != evts[4].Seq {
		t.Errorf("position = %d, want %d", p, evts[4].Seq)
	}
}

// A commit that fails stores nothing and leaves the position.
func testCommitDetectAtomic(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	evts := seedEvents(t, s, "acme", signin, 4, 4, c.Now().Add(-time.Hour))
	mustDetect(t, s, store.DetectCommit{From: 0, To: evts[0].Seq, Alerts: []store.Alert{ruleAlert("A1", "R", "d", evts[0].EventTime)},
		Matches: []store.AlertMatch{{AlertID: "A1", Seq: evts[0].Seq, EventTime: evts[0].EventTime}},
		State:   []store.StateChange{{RuleID: "R", Key: "keep", Value: []byte("1")}}})
	before := getAlert(t, s, "A1")

	bad := []struct {
		what string
		c    store.DetectCommit
		is   error
	}{
		{"a match of an unknown alert", store.DetectCommit{Matches: []store.AlertMatch{
			{AlertID: "A1", Seq: evts[1].Seq, EventTime: evts[1].EventTime},
			{AlertID: "nope", Seq: evts[1].Seq, EventTime: evts[1].EventTime}}}, store.ErrNotFound},
		{"an alert id used before", store.DetectCommit{Alerts: []store.Alert{ruleAlert("A1", "R", "d", evts[1].EventTime)}}, store.ErrExists},
		{"an alert of no known type", store.DetectCommit{Alerts: []store.Alert{{ID: "A3", Type: "bogus", Status: store.AlertOpen}}}, nil},
	}
	for _, b := range bad {
		cm := b.c
		cm.Stage, cm.From, cm.To = stage, evts[0].Seq, evts[3].Seq
		cm.Alerts = append([]store.Alert{ruleAlert("A2", "R", "e", evts[1].EventTime)}, cm.Alerts...)
		cm.Groups = []store.DedupGroup{{RuleID: "R", Dedup: "e", PeriodEnd: c.Now(), AlertID: "A2", Matches: 1}}
		cm.State = []store.StateChange{{RuleID: "R", Key: "new", Value: []byte("2")}, {RuleID: "R", Key: "keep", Delete: true}}
		err := s.CommitDetect(ctx, cm)
		if err == nil || (b.is != nil && !errors.Is(err, b.is)) {
			t.Errorf("%s: err = %v, want %v", b.what, err, b.is)
		}
		if p := position(t, s, stage); p != evts[0].Seq {
			t.Errorf("%s moved the position to %d", b.what, p)
		}
		if _, err := s.Alert(ctx, "A2"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s stored its new alert: %v", b.what, err)
		}
		if got := getAlert(t, s, "A1"); got.Events != before.Events || !got.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("%s changed alert A1: events %d", b.what, got.Events)
		}
		if gs, _ := s.DedupGroups(ctx); len(gs) != 0 {
			t.Errorf("%s stored groups %+v", b.what, gs)
		}
		if _, ok, _ := s.RuleState(ctx, "R", "new", c.Now()); ok {
			t.Errorf("%s stored state", b.what)
		}
		if _, ok, _ := s.RuleState(ctx, "R", "keep", c.Now()); !ok {
			t.Errorf("%s deleted state", b.what)
		}
	}
	if err := s.CommitDetect(ctx, store.DetectCommit{Stage: stage, From: evts[0].Seq, To: 0}); err == nil {
		t.Error("a commit moving the position backwards was accepted")
	}
}

func testPositionMoved(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	evts := seedEvents(t, s, "acme", signin, 3, 3, c.Now().Add(-time.Hour))
	mustDetect(t, s, store.DetectCommit{From: 0, To: evts[1].Seq})
	// Another runner read from 0 too, and commits late.
	err := s.CommitDetect(ctx, store.DetectCommit{Stage: stage, From: 0, To: evts[2].Seq,
		Alerts: []store.Alert{ruleAlert("late", "R", "d", evts[2].EventTime)}})
	if !errors.Is(err, store.ErrPositionMoved) {
		t.Fatalf("a commit from a stale position: err = %v, want ErrPositionMoved", err)
	}
	if p := position(t, s, stage); p != evts[1].Seq {
		t.Errorf("position = %d after a refused commit, want %d", p, evts[1].Seq)
	}
	if _, err := s.Alert(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the refused commit stored its alert: %v", err)
	}
	// Ahead of the stored position is refused too.
	if err := s.CommitDetect(ctx, store.DetectCommit{Stage: stage, From: evts[2].Seq, To: evts[2].Seq}); !errors.Is(err, store.ErrPositionMoved) {
		t.Errorf("a commit from a position never stored: err = %v, want ErrPositionMoved", err)
	}
	// Each stage has its own.
	mustDetect(t, s, store.DetectCommit{Stage: "other", From: 0, To: evts[0].Seq})
	mustDetect(t, s, store.DetectCommit{From: evts[1].Seq, To: evts[2].Seq})
	if p := position(t, s, "other"); p != evts[0].Seq {
		t.Errorf("other stage at %d, want %d", p, evts[0].Seq)
	}
}

// A match stored twice (in one batch, or again later) counts once.
func testMatchCountedOnce(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	evts := seedEvents(t, s, "acme", signin, 3, 3, c.Now().Add(-time.Hour))
	m0 := store.AlertMatch{AlertID: "A", Seq: evts[0].Seq, EventTime: evts[0].EventTime}
	m1 := store.AlertMatch{AlertID: "A", Seq: evts[1].Seq, EventTime: evts[1].EventTime}
	mustDetect(t, s, store.DetectCommit{From: 0, To: evts[0].Seq, Alerts: []store.Alert{ruleAlert("A", "R", "d", evts[0].EventTime)},
		Matches: []store.AlertMatch{m0, m0}})
	if a := getAlert(t, s, "A"); a.Events != 1 {
		t.Errorf("one match given twice in a batch counted %d times", a.Events)
	}
	mustDetect(t, s, store.DetectCommit{From: evts[0].Seq, To: evts[1].Seq, Matches: []store.AlertMatch{m0, m1}})
	a := getAlert(t, s, "A")
	matched, err := s.AlertEvents(ctx, "A", 0)
	if err != nil {
		t.Fatal(err)
	}
	if a.Events != 2 || len(matched) != 2 {
		t.Errorf("after a match given again: events %d, %d matched events; want 2", a.Events, len(matched))
	}
	if lim, err := s.AlertEvents(ctx, "A", 1); err != nil || len(lim) != 1 || lim[0].Seq != evts[0].Seq {
		t.Errorf("AlertEvents(limit 1) = %v, %v", seqsOf(lim), err)
	}
}

func testDedupGroups(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	end := c.Now().Add(time.Hour)
	g := func(rule, dedup string, matches int) store.DedupGroup {
		return store.DedupGroup{RuleID: rule, Dedup: dedup, PeriodEnd: end, Matches: matches}
	}
	mustDetect(t, s, store.DetectCommit{From: 0, To: 1, Groups: []store.DedupGroup{g("R", "a", 1), g("R", "b", 1), g("S", "a", 1)}})
	up := g("R", "a", 3)
	up.Pending = []int64{1, 2, 3}
	restart := g("S", "a", 1)
	restart.PeriodEnd = end.Add(time.Hour)
	mustDetect(t, s, store.DetectCommit{From: 1, To: 2, Groups: []store.DedupGroup{up, restart},
		DropGroups: []store.DedupGroup{g("R", "b", 0), g("S", "a", 0)}})
	got, err := s.DedupGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DedupGroup{up, restart}
	if len(got) != 2 || got[0].RuleID != "R" || got[0].Dedup != "a" || got[0].Matches != 3 || !reflect.DeepEqual(got[0].Pending, up.Pending) ||
		got[1].RuleID != "S" || !got[1].PeriodEnd.Equal(restart.PeriodEnd) {
		t.Errorf("DedupGroups = %+v, want %+v (a group dropped and upserted in one batch starts again)", got, want)
	}
}

// Rule state expires by the time the caller passes, never the wall clock.
func testRuleStateTTL(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC) // far from the store's clock on purpose
	exp := t0.Add(10 * time.Minute)
	mustDetect(t, s, store.DetectCommit{From: 0, To: 1, State: []store.StateChange{
		{RuleID: "R", Key: "ttl", Value: []byte(`1`), ExpiresAt: exp},
		{RuleID: "R", Key: "forever", Value: []byte(`{"a":1}`)},
		{RuleID: "R", Key: "gone", Value: []byte(`2`)},
	}})
	state := func(key string, now time.Time) (string, bool) {
		t.Helper()
		v, ok, err := s.RuleState(ctx, "R", key, now)
		if err != nil {
			t.Fatal(err)
		}
		return string(v.Value), ok
	}
	if v, ok := state("ttl", exp.Add(-time.Nanosecond)); !ok || v != "1" {
		t.Errorf("before its expiry: %q, %v", v, ok)
	}
	if _, ok := state("ttl", exp); ok {
		t.Error("a value is still there at its expiry time")
	}
	if v, ok := state("forever", t0.Add(100*365*24*time.Hour)); !ok || v != `{"a":1}` {
		t.Errorf("a value without expiry: %q, %v", v, ok)
	}
	// Overwrite, delete, and purge by the commit's Now.
	mustDetect(t, s, store.DetectCommit{From: 1, To: 2, Now: exp, State: []store.StateChange{
		{RuleID: "R", Key: "gone", Delete: true},
		{RuleID: "R", Key: "forever", Value: []byte(`3`), ExpiresAt: exp.Add(time.Hour)},
	}})
	if _, ok := state("gone", t0); ok {
		t.Error("a deleted value is still there")
	}
	if _, ok := state("ttl", t0); ok {
		t.Error("a value expired at the commit's Now was not purged")
	}
	if v, ok := state("forever", exp); !ok || v != "3" {
		t.Errorf("an overwritten value: %q, %v", v, ok)
	}
	if _, ok := state("forever", exp.Add(time.Hour)); ok {
		t.Error("an overwritten value kept its old (absent) expiry")
	}
}

func testAlertsSince(t *testing.T, s store.Store, c *Clock) {
	needClock(t, c)
	ctx := context.Background()
	t0 := c.Now()
	at := t0.Add(-time.Hour)
	ruleErr := store.Alert{ID: "E1", Type: store.AlertRuleError, RuleID: "R", Title: "R failed", Severity: "MEDIUM"}
	mustDetect(t, s, store.DetectCommit{From: 0, To: 1, Alerts: []store.Alert{ruleAlert("A1", "R", "a", at), ruleAlert("A2", "R", "b", at), ruleAlert("B1", "S", "a", at), ruleErr}})
	c.Advance(time.Hour)
	mustDetect(t, s, store.DetectCommit{From: 1, To: 2, Alerts: []store.Alert{ruleAlert("A3", "R", "c", at)}})
	for _, tc := range []struct {
		rule  string
		since time.Time
		want  int
	}{{"R", t0, 3}, {"R", t0.Add(time.Nanosecond), 1}, {"R", c.Now(), 1}, {"R", c.Now().Add(time.Second), 0}, {"S", t0, 1}, {"T", t0, 0}} {
		if n, err := s.AlertsSince(ctx, tc.rule, tc.since); err != nil || n != tc.want {
			t.Errorf("AlertsSince(%s, %v) = %d, %v; want %d (rule errors not counted)", tc.rule, tc.since, n, err, tc.want)
		}
	}
}
