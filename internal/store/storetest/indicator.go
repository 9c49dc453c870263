package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// RunIndicators runs the cases of the Indicators part: indicator search
// over the p_any_ fields.
func RunIndicators(t *testing.T, open Opener) {
	run(t, open, []testCase{
		{"IndicatorMatch", testIndicatorMatch},
		{"IndicatorRange", testIndicatorRange},
		{"IndicatorPaging", testIndicatorPaging},
		{"IndicatorDuplicates", testIndicatorDuplicates},
		{"IndicatorModel", testIndicatorModel},
	})
}

// withIndicators is ev with p_any_ values.
func withIndicators(e store.Event, emails, ips []string) store.Event {
	e.Emails, e.IPs = emails, ips
	return e
}

// search runs q and returns the uuids found, in order.
func search(t *testing.T, ix store.Indicators, q store.IndicatorQuery) []string {
	t.Helper()
	evs, err := ix.SearchIndicator(context.Background(), q)
	if err != nil {
		t.Fatalf("SearchIndicator(%s %q): %v", q.Kind, q.Value, err)
	}
	var uuids []string
	for _, e := range evs {
		uuids = append(uuids, e.UUID)
	}
	return uuids
}

func testIndicatorMatch(t *testing.T, s store.Store, c *Clock) {
	ix := store.Indicators(s)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	at := c.Now().Add(-time.Hour)
	type stored struct {
		lt     string
		uuid   string
		emails []string
		ips    []string
	}
	events := []stored{
		{signin, "s1", []string{"Jane.Doe@Example.COM"}, []string{"192.0.2.1"}},
		{usage, "u1", []string{"jane.doe@example.com", "bob@example.com"}, []string{"2001:0db8:0000:0000:0000:0000:0000:0001"}},
		{audit, "a1", []string{"ann@example.com"}, []string{"2001:DB8::1", "10.0.0.10"}},
		{audit, "a2", []string{"joann@example.com", "ann@example.com.evil"}, []string{"::ffff:192.0.2.1"}},
		{signin, "s2", []string{"xjane.doe@example.com"}, []string{"10.0.0.1"}},
		{usage, "u2", nil, nil},
	}
	for i, e := range events {
		st := streamOf(t, sts, e.lt)
		if _, err := s.InsertEvents(ctx, st.ID, []store.Event{withIndicators(ev(st, e.uuid, at.Add(time.Duration(i)*time.Minute)), e.emails, e.ips)}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		kind, value string
		want        []string // newest first
	}{
		{store.IndicatorEmail, "jane.doe@example.com", []string{"u1", "s1"}}, // across log types, case-insensitive
		{store.IndicatorEmail, "JANE.DOE@EXAMPLE.com", []string{"u1", "s1"}},
		{store.IndicatorEmail, "  jane.doe@example.com ", []string{"u1", "s1"}},
		{store.IndicatorEmail, "ann@example.com", []string{"a1"}},          // not joann@, not ann@example.com.evil
		{store.IndicatorEmail, "doe@example.com", nil},                     // no substring
		{store.IndicatorIP, "2001:db8::1", []string{"a1", "u1"}},           // compressed, expanded and upper case alike
		{store.IndicatorIP, "2001:0DB8:0:0:0:0:0:1", []string{"a1", "u1"}}, // any form of the query too
		{store.IndicatorIP, "192.0.2.1", []string{"a2", "s1"}},             // an IPv4-mapped address is its IPv4 one
		{store.IndicatorIP, "10.0.0.1", []string{"s2"}},                    // not 10.0.0.10
		{store.IndicatorIP, "10.0.0.100", nil},
		{store.IndicatorIP, "192.0.2.2", nil},
	} {
		got := search(t, ix, store.IndicatorQuery{Kind: tc.kind, Value: tc.value, Limit: 100})
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: found %q, want %q", tc.kind, tc.value, got, tc.want)
		}
	}
	// The events come back whole.
	evs, err := ix.SearchIndicator(ctx, store.IndicatorQuery{Kind: store.IndicatorIP, Value: "10.0.0.1", Limit: 1})
	if err != nil || len(evs) != 1 {
		t.Fatalf("SearchIndicator: %v, %v", evs, err)
	}
	if e := evs[0]; e.LogType != signin || !slices.Equal(e.Emails, events[4].emails) || !slices.Equal(e.IPs, events[4].ips) ||
		e.Seq == 0 || e.Account != "acct-acme" || !e.EventTime.Equal(at.Add(4*time.Minute)) || len(e.Raw) == 0 {
		t.Errorf("event found: %+v", e)
	}
	// A value of the wrong kind is refused, not searched.
	for _, q := range []store.IndicatorQuery{
		{Kind: store.IndicatorIP, Value: "jane.doe@example.com", Limit: 1},
		{Kind: store.IndicatorEmail, Value: "192.0.2.1", Limit: 1},
		{Kind: "user", Value: "jane", Limit: 1},
	} {
		if _, err := ix.SearchIndicator(ctx, q); !errors.Is(err, store.ErrNotIndicator) {
			t.Errorf("%s %q: %v, want ErrNotIndicator", q.Kind, q.Value, err)
		}
	}
	if _, err := ix.SearchIndicator(ctx, store.IndicatorQuery{Kind: store.IndicatorIP, Value: "192.0.2.1"}); err == nil {
		t.Error("a search without a limit: no error")
	}
}

func testIndicatorRange(t *testing.T, s store.Store, c *Clock) {
	ix := store.Indicators(s)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	t0 := c.Now().Add(-24 * time.Hour).Truncate(time.Second)
	var page []store.Event
	for i, lt := range []string{signin, usage, audit, signin} {
		st := streamOf(t, sts, lt)
		page = append(page[:0], withIndicators(ev(st, fmt.Sprint("e", i), t0.Add(time.Duration(i)*time.Hour)), []string{"jane@example.com"}, nil))
		if _, err := s.InsertEvents(ctx, st.ID, page, nil); err != nil {
			t.Fatal(err)
		}
	}
	q := store.IndicatorQuery{Kind: store.IndicatorEmail, Value: "jane@example.com", Limit: 10}
	for _, tc := range []struct {
		from, to time.Time
		types    []string
		want     []string
	}{
		{want: []string{"e3", "e2", "e1", "e0"}},
		{from: t0.Add(time.Hour), to: t0.Add(3 * time.Hour), want: []string{"e2", "e1"}}, // From included, To excluded
		{from: t0.Add(time.Hour + time.Microsecond), want: []string{"e3", "e2"}},
		{to: t0.Add(time.Hour + time.Microsecond), want: []string{"e1", "e0"}},
		{from: t0.Add(3 * time.Hour), to: t0.Add(3 * time.Hour), want: nil},
		{from: t0.Add(4 * time.Hour), want: nil},
		{types: []string{signin}, want: []string{"e3", "e0"}},
		{types: []string{usage, audit}, want: []string{"e2", "e1"}},
		{from: t0.Add(time.Hour), types: []string{signin}, want: []string{"e3"}},
		{types: []string{"OnePassword.Nothing"}, want: nil},
	} {
		q.From, q.To, q.LogTypes = tc.from, tc.to, tc.types
		if got := search(t, ix, q); !slices.Equal(got, tc.want) {
			t.Errorf("from %v to %v types %v: found %q, want %q", tc.from, tc.to, tc.types, got, tc.want)
		}
	}
}

func testIndicatorPaging(t *testing.T, s store.Store, c *Clock) {
	ix := store.Indicators(s)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := streamOf(t, sts, usage)
	at := c.Now().Add(-time.Hour)
	var page []store.Event
	for i := range 25 {
		// Three events at each instant: the order falls back on seq.
		page = append(page, withIndicators(ev(st, fmt.Sprint("e", i), at.Add(time.Duration(i/3)*time.Second)), nil, []string{"198.51.100.7"}))
	}
	if _, err := s.InsertEvents(ctx, st.ID, page, nil); err != nil {
		t.Fatal(err)
	}
	all, err := ix.SearchIndicator(ctx, store.IndicatorQuery{Kind: store.IndicatorIP, Value: "198.51.100.7", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 25 {
		t.Fatalf("found %d events, want 25", len(all))
	}
	for i := 1; i < len(all); i++ {
		a, b := all[i-1], all[i]
		if a.EventTime.Before(b.EventTime) || a.EventTime.Equal(b.EventTime) && a.Seq <= b.Seq {
			t.Fatalf("events %d and %d out of order: (%v, %d) before (%v, %d)", i-1, i, a.EventTime, a.Seq, b.EventTime, b.Seq)
		}
	}
	var paged []store.StoredEvent
	q := store.IndicatorQuery{Kind: store.IndicatorIP, Value: "198.51.100.7", Limit: 7}
	for range 10 {
		got, err := ix.SearchIndicator(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		paged = append(paged, got...)
		if len(got) < q.Limit {
			break
		}
		last := got[len(got)-1]
		q.After = &store.IndicatorPosition{EventTime: last.EventTime, Seq: last.Seq}
	}
	if !slices.EqualFunc(paged, all, func(a, b store.StoredEvent) bool { return a.Seq == b.Seq }) {
		t.Errorf("pages of 7 found %v, one search %v", seqsOf(paged), seqsOf(all))
	}
}

// testIndicatorDuplicates: the index follows the events a commit actually
// stored, whichever of a page's events were already there.
func testIndicatorDuplicates(t *testing.T, s store.Store, c *Clock) {
	ix := store.Indicators(s)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	st := claim(t, s, streamOf(t, sts, signin), "me")
	at := c.Now().Add(-time.Hour)
	mk := func(i int) store.Event {
		e := withIndicators(ev(st, fmt.Sprint("e", i), at.Add(time.Duration(i)*time.Second)),
			[]string{fmt.Sprintf("user%d@example.com", i)}, []string{fmt.Sprintf("203.0.113.%d", i)})
		e.ParseTime = at // one parse time, as a page has: the engine may insert the page at once
		return e
	}
	var page1, page2 []store.Event
	for i := range 5 {
		page1 = append(page1, mk(i))
	}
	for _, i := range []int{5, 1, 6, 3, 6, 7} { // new, stored, new, stored, twice in the page, new
		page2 = append(page2, mk(i))
	}
	mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "1", Events: page1})
	if res := mustCommit(t, s, store.PageCommit{StreamID: st.ID, LeaseOwner: "me", Cursor: "2", Events: page2}); res.Inserted != 3 {
		t.Fatalf("page 2: %+v, want 3 inserted", res)
	}
	if _, err := s.InsertEvents(ctx, st.ID, []store.Event{mk(2), mk(8)}, nil); err != nil {
		t.Fatal(err)
	}
	for i := range 9 {
		want := []string{fmt.Sprint("e", i)}
		if got := search(t, ix, store.IndicatorQuery{Kind: store.IndicatorEmail, Value: fmt.Sprintf("user%d@example.com", i), Limit: 10}); !slices.Equal(got, want) {
			t.Errorf("user%d: found %q, want %q", i, got, want)
		}
		if got := search(t, ix, store.IndicatorQuery{Kind: store.IndicatorIP, Value: fmt.Sprintf("203.0.113.%d", i), Limit: 10}); !slices.Equal(got, want) {
			t.Errorf("203.0.113.%d: found %q, want %q", i, got, want)
		}
	}
}

// testIndicatorModel checks searches against a model over enough events
// for an engine's index to span many parts (the SQLite engine's blocks of
// 4096 events), stored out of time order as backfills and late events
// store them.
func testIndicatorModel(t *testing.T, s store.Store, c *Clock) {
	ix := store.Indicators(s)
	ctx := context.Background()
	_, sts := newSource(t, s, "acme")
	r := rand.New(rand.NewPCG(7, 9))
	const n, pageSize = 12_000, 400
	base := c.Now().Add(-10 * 24 * time.Hour).Truncate(time.Millisecond)
	emails := []string{"hot@example.com"}
	for i := range 40 {
		emails = append(emails, fmt.Sprintf("User%d@Example.com", i))
	}
	ips := []string{"192.0.2.1"}
	for i := range 80 {
		ips = append(ips, fmt.Sprintf("198.51.%d.%d", i%3, i))
	}
	type model struct {
		uuid, lt string
		at       time.Time
		emails   []string
		ips      []string
	}
	var all []model
	for p := 0; p < n/pageSize; p++ {
		lt := logTypes[p%3]
		st := streamOf(t, sts, lt)
		// Half the pages move forward in time; the others are backfills
		// and late events anywhere in the ten days, so that the engine's
		// parts overlap in time. Within a page events are a little out of
		// order. A page shares its parse time, as ingest's pages do.
		start := base.Add(time.Duration(p) * 4 * time.Hour)
		if p%4 >= 2 {
			start = base.Add(time.Duration(r.IntN(230)) * time.Hour)
		}
		var page []store.Event
		for i := range pageSize {
			m := model{uuid: fmt.Sprintf("p%d-%d", p, i), lt: lt, at: start.Add(time.Duration(i*20+r.IntN(40)) * time.Second)}
			if r.IntN(4) == 0 {
				m.emails = []string{"hot@example.com"}
			} else {
				m.emails = []string{emails[1+r.IntN(len(emails)-1)]}
			}
			if r.IntN(5) == 0 {
				m.emails = append(m.emails, emails[1+r.IntN(len(emails)-1)])
			}
			m.ips = []string{ips[r.IntN(len(ips))]}
			all = append(all, m)
			e := withIndicators(ev(st, m.uuid, m.at), m.emails, m.ips)
			e.ParseTime = c.Now()
			page = append(page, e)
		}
		if _, err := s.InsertEvents(ctx, st.ID, page, nil); err != nil {
			t.Fatal(err)
		}
	}
	stored, err := s.EventsAfter(ctx, 0, n+1)
	if err != nil || len(stored) != n {
		t.Fatalf("EventsAfter: %d events, %v", len(stored), err)
	}
	seqOf := map[string]int64{}
	for _, e := range stored {
		seqOf[e.UUID] = e.Seq
	}
	type hit struct {
		uuid string
		at   time.Time
		seq  int64
	}
	expect := func(kind, value string, from, to time.Time, types []string, limit int) []string {
		key, _ := store.IndicatorKey(kind, value)
		var hits []hit
		for _, m := range all {
			vals := m.emails
			if kind == store.IndicatorIP {
				vals = m.ips
			}
			if !slices.ContainsFunc(vals, func(v string) bool { k, _ := store.IndicatorKey(kind, v); return k == key }) ||
				!from.IsZero() && m.at.Before(from) || !to.IsZero() && !m.at.Before(to) ||
				len(types) > 0 && !slices.Contains(types, m.lt) {
				continue
			}
			hits = append(hits, hit{m.uuid, m.at, seqOf[m.uuid]})
		}
		slices.SortFunc(hits, func(a, b hit) int {
			if c := b.at.Compare(a.at); c != 0 {
				return c
			}
			return cmp.Compare(b.seq, a.seq)
		})
		var uuids []string
		for _, h := range hits[:min(limit, len(hits))] {
			uuids = append(uuids, h.uuid)
		}
		return uuids
	}
	for i := range 60 {
		q := store.IndicatorQuery{Kind: store.IndicatorEmail, Value: emails[r.IntN(len(emails))], Limit: 1 + r.IntN(150)}
		if i%3 == 1 {
			q.Kind, q.Value = store.IndicatorIP, ips[r.IntN(len(ips))]
		}
		if i%4 != 0 {
			q.From = base.Add(time.Duration(r.IntN(200)) * time.Hour)
			q.To = q.From.Add(time.Duration(1+r.IntN(100)) * time.Hour)
		}
		if i%5 == 2 {
			q.LogTypes = []string{logTypes[r.IntN(3)]}
		}
		want := expect(q.Kind, q.Value, q.From, q.To, q.LogTypes, q.Limit)
		if got := search(t, ix, q); !slices.Equal(got, want) {
			t.Errorf("%s %q from %v to %v types %v limit %d:\nfound %d %q\nwant  %d %q",
				q.Kind, q.Value, q.From, q.To, q.LogTypes, q.Limit, len(got), got, len(want), want)
		}
	}
}
