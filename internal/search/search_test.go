package search

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

func TestDetect(t *testing.T) {
	for _, tc := range []struct {
		in, kind       string
		wantKind, want string
		err            string // part of the error; "" for none
	}{
		{in: "Jane.Doe@Example.com", wantKind: KindEmail, want: "jane.doe@example.com"},
		{in: "  jane@example.com\t", wantKind: KindEmail, want: "jane@example.com"},
		{in: "192.0.2.1", wantKind: KindIP, want: "192.0.2.1"},
		{in: "2001:0DB8:0000:0000:0000:0000:0000:0001", wantKind: KindIP, want: "2001:db8::1"},
		{in: "[2001:db8::1]", wantKind: KindIP, want: "2001:db8::1"},
		{in: "::ffff:192.0.2.1", wantKind: KindIP, want: "192.0.2.1"},
		{in: "192.0.2.1", kind: KindIP, wantKind: KindIP, want: "192.0.2.1"},
		{in: "jane@example.com", kind: KindEmail, wantKind: KindEmail, want: "jane@example.com"},
		{in: "", err: "give an e-mail address or an IP address"},
		{in: "   ", err: "give an e-mail address or an IP address"},
		{in: "jane", err: "neither an e-mail address (no @) nor an IP address"},
		{in: "192.0.2.256", err: "neither"},
		{in: "192.0.2.01", err: "neither"}, // netip refuses leading zeros, as the log types do
		{in: "fe80::1%eth0", err: "neither"},
		{in: "@example.com", err: "not an e-mail address"},
		{in: "jane@", err: "not an e-mail address"},
		{in: "jane@example.com", kind: KindIP, err: "is an e-mail address, not an IP address"},
		{in: "192.0.2.1", kind: KindEmail, err: "not an e-mail address"},
		{in: "192.0.2.1", kind: "user", err: `unknown indicator kind "user"`},
	} {
		kind, got, err := Detect(tc.in, tc.kind)
		if tc.err != "" {
			if err == nil || !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Detect(%q, %q) = %q, %q, %v; want an ErrQuery saying %q", tc.in, tc.kind, kind, got, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.wantKind || got != tc.want {
			t.Errorf("Detect(%q, %q) = %q, %q, %v; want %q, %q", tc.in, tc.kind, kind, got, err, tc.wantKind, tc.want)
		}
	}
}

// FuzzDetect: whatever is typed, Detect either refuses it as a query error
// or returns a kind and the form the store compares, which Detect and
// store.IndicatorKey keep as it is.
func FuzzDetect(f *testing.F) {
	for _, s := range []string{"jane@example.com", "JANE@EXAMPLE.COM", "192.0.2.1", "2001:db8::1", "[::1]", "::ffff:10.0.0.1",
		"fe80::1%eth0", "a@b@c", " @ ", "", "1.2.3", "é@ü.de", "\x00@x"} {
		f.Add(s, "")
		f.Add(s, KindIP)
		f.Add(s, KindEmail)
	}
	f.Fuzz(func(t *testing.T, in, kind string) {
		gotKind, key, err := Detect(in, kind)
		if err != nil {
			if !errors.Is(err, ErrQuery) {
				t.Fatalf("Detect(%q, %q): %v is not an ErrQuery", in, kind, err)
			}
			return
		}
		if kind != "" && gotKind != kind {
			t.Fatalf("Detect(%q, %q) gave kind %q", in, kind, gotKind)
		}
		switch gotKind {
		case KindEmail:
			if !strings.Contains(key, "@") || key != strings.ToLower(key) || key != strings.TrimSpace(key) {
				t.Fatalf("Detect(%q) e-mail key %q", in, key)
			}
		case KindIP:
			a, err := netip.ParseAddr(key)
			if err != nil || a.Unmap().String() != key {
				t.Fatalf("Detect(%q) IP key %q is not canonical (%v)", in, key, err)
			}
		default:
			t.Fatalf("Detect(%q) gave kind %q", in, gotKind)
		}
		if k2, key2, err := Detect(key, gotKind); err != nil || k2 != gotKind || key2 != key {
			t.Fatalf("Detect(%q, %q) = %q, %q, %v: the key is not stable", key, gotKind, k2, key2, err)
		}
		if key2, err := store.IndicatorKey(gotKind, key); err != nil || key2 != key {
			t.Fatalf("store.IndicatorKey(%q, %q) = %q, %v", gotKind, key, key2, err)
		}
	})
}

func TestParse(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	q, err := Parse(Query{Indicator: "Jane@Example.com", From: at, To: at.Add(time.Hour),
		LogTypes: []string{"OnePassword.SignInAttempt", "OnePassword.SignInAttempt", "OnePassword.ItemUsage"}})
	if err != nil {
		t.Fatal(err)
	}
	if q.Kind != KindEmail || q.Value != "jane@example.com" || q.Limit != DefaultLimit || !q.From.Equal(at) ||
		!slices.Equal(q.LogTypes, []string{"OnePassword.SignInAttempt", "OnePassword.ItemUsage"}) || q.After != nil {
		t.Errorf("Parse: %+v", q)
	}
	if q, _ := Parse(Query{Indicator: "192.0.2.1", Limit: 5000}); q.Limit != MaxLimit {
		t.Errorf("limit 5000 became %d, want %d", q.Limit, MaxLimit)
	}
	for _, tc := range []struct {
		q   Query
		err string
	}{
		{Query{Indicator: "192.0.2.1", From: at, To: at}, "the time range is empty"},
		{Query{Indicator: "192.0.2.1", From: at.Add(time.Hour), To: at}, "the end must be later"},
		{Query{Indicator: "192.0.2.1", Limit: -1}, "limit -1"},
		{Query{Indicator: "192.0.2.1", LogTypes: []string{"OnePassword.Signin"}}, `unknown log type "OnePassword.Signin": want one of OnePassword.`},
		{Query{Indicator: "192.0.2.1", Cursor: "nope"}, "is not one this search returned"},
		{Query{Indicator: "192.0.2.1", Cursor: strings.Repeat("A", 100)}, "is not one this search returned"},
	} {
		if _, err := Parse(tc.q); err == nil || !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("Parse(%+v): %v, want an ErrQuery saying %q", tc.q, err, tc.err)
		}
	}
}

// FuzzCursor: a cursor from anywhere never panics Parse, and every
// position survives the round trip.
func FuzzCursor(f *testing.F) {
	f.Add("", int64(0), int64(0))
	f.Add(encodeCursor(store.IndicatorPosition{EventTime: time.Unix(1767225600, 123), Seq: 42}), int64(1767225600123456789), int64(7))
	f.Add("MS4xLjE", int64(-1), int64(1<<62))
	f.Fuzz(func(t *testing.T, c string, ns, seq int64) {
		if _, err := Parse(Query{Indicator: "192.0.2.1", Cursor: c}); err != nil && !errors.Is(err, ErrQuery) {
			t.Fatalf("cursor %q: %v is not an ErrQuery", c, err)
		}
		if seq < 0 {
			return
		}
		p := store.IndicatorPosition{EventTime: time.Unix(0, ns).UTC(), Seq: seq}
		got, err := decodeCursor(encodeCursor(p))
		if err != nil || !got.EventTime.Equal(p.EventTime) || got.Seq != p.Seq {
			t.Fatalf("round trip of %+v: %+v, %v", p, got, err)
		}
	})
}

// fakeIndicators answers from a list sorted newest first, as engines do.
type fakeIndicators struct {
	events []store.StoredEvent
	asked  []store.IndicatorQuery
}

func (f *fakeIndicators) SearchIndicator(_ context.Context, q store.IndicatorQuery) ([]store.StoredEvent, error) {
	f.asked = append(f.asked, q)
	var out []store.StoredEvent
	for _, e := range f.events {
		if q.After != nil && (e.EventTime.After(q.After.EventTime) || e.EventTime.Equal(q.After.EventTime) && e.Seq >= q.After.Seq) {
			continue
		}
		if len(out) == q.Limit {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func TestSearchPages(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	f := &fakeIndicators{}
	for i := range 10 {
		f.events = append(f.events, store.StoredEvent{Seq: int64(100 - i), EventTime: at.Add(-time.Duration(i/2) * time.Minute), UUID: fmt.Sprint("e", i)})
	}
	clock := at
	s := New(f, func() time.Time { clock = clock.Add(time.Millisecond); return clock })
	var got []string
	q := Query{Indicator: "192.0.2.1", Limit: 4}
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("the pages never end")
		}
		res, err := s.Search(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		if res.Kind != KindIP || res.Indicator != "192.0.2.1" || res.Took != time.Millisecond {
			t.Errorf("result %+v", res)
		}
		for _, e := range res.Events {
			got = append(got, e.UUID)
		}
		if res.Next == "" {
			if pages != 2 || len(res.Events) != 2 {
				t.Errorf("last page %d with %d events, want page 2 with 2", pages, len(res.Events))
			}
			break
		}
		if len(res.Events) != 4 {
			t.Errorf("page %d: %d events and a next page", pages, len(res.Events))
		}
		q.Cursor = res.Next
	}
	want := []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"}
	if !slices.Equal(got, want) {
		t.Errorf("paged %q, want %q", got, want)
	}
	if f.asked[0].Limit != 5 {
		t.Errorf("asked the store for %d events, want one more than the page", f.asked[0].Limit)
	}
	// A page that ends exactly with the events has no next page.
	res, err := s.Search(context.Background(), Query{Indicator: "192.0.2.1", Limit: 10})
	if err != nil || len(res.Events) != 10 || res.Next != "" {
		t.Errorf("page of all 10: %d events, next %q, %v", len(res.Events), res.Next, err)
	}
}

// TestSearchSQLite pages through a search on the SQLite engine, across its
// log types, with upper-case e-mail addresses and IPv6 in both forms.
func TestSearchSQLite(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lake.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	src := &store.Source{Name: "acme", AccountUUID: "ACME"}
	lts := []string{"OnePassword.SignInAttempt", "OnePassword.ItemUsage", "OnePassword.AuditEvent"}
	if err := st.CreateSource(ctx, src, lts); err != nil {
		t.Fatal(err)
	}
	streams, err := st.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	wantEmail, wantIP := []string{}, []string{} // newest first
	for i := range 300 {
		stream := streams[i%3]
		e := store.Event{LogType: stream.LogType, UUID: fmt.Sprint("e", i), EventTime: at.Add(time.Duration(i) * time.Minute),
			Raw: []byte(`{}`), Emails: []string{fmt.Sprintf("user%d@example.com", i%7)}, IPs: []string{"2001:db8::" + fmt.Sprint(i%5)}}
		if i%7 == 3 && i%2 == 0 {
			e.Emails[0] = "User3@EXAMPLE.com"
		}
		if i%5 == 2 && i%2 == 0 {
			e.IPs[0] = "2001:0db8:0000:0000:0000:0000:0000:0002"
		}
		if i >= 60 && i%7 == 3 {
			wantEmail = append([]string{e.UUID}, wantEmail...)
		}
		if i >= 60 && i%5 == 2 {
			wantIP = append([]string{e.UUID}, wantIP...)
		}
		if _, err := st.InsertEvents(ctx, stream.ID, []store.Event{e}, nil); err != nil {
			t.Fatal(err)
		}
	}
	s := New(st, nil)
	for ind, want := range map[string][]string{"USER3@example.com": wantEmail, "2001:DB8:0::2": wantIP} {
		q := Query{Indicator: ind, From: at.Add(time.Hour), To: at.Add(300 * time.Minute), Limit: 3}
		var got []string
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatalf("%s: the pages never end", ind)
			}
			res, err := s.Search(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range res.Events {
				got = append(got, e.UUID)
			}
			if res.Next == "" {
				break
			}
			q.Cursor = res.Next
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: found %q, want %q", ind, got, want)
		}
	}
}
