package emulator

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var models = []CursorModel{CursorKeepsStart, CursorIngestionOrder}

// follow posts the cursor until has_more is false and returns the uuids.
func follow(t *testing.T, e *Emulator, tok, path, cursor string) (uuids []string, next string) {
	t.Helper()
	for {
		p := fetch(t, e, tok, path, `{"cursor":"`+cursor+`"}`)
		for _, it := range p.Items {
			uuids = append(uuids, uuidOf(t, it))
		}
		cursor = p.Cursor
		if !p.HasMore {
			return uuids, cursor
		}
	}
}

// resetPage posts a reset and drains it, returning the last cursor.
func resetPage(t *testing.T, e *Emulator, tok, path, body string) (uuids []string, cursor string) {
	t.Helper()
	p := fetch(t, e, tok, path, body)
	for _, it := range p.Items {
		uuids = append(uuids, uuidOf(t, it))
	}
	if !p.HasMore {
		return uuids, p.Cursor
	}
	more, c := follow(t, e, tok, path, p.Cursor)
	return append(uuids, more...), c
}

func TestInjectLateUnderEachCursorModel(t *testing.T) {
	for _, m := range models {
		t.Run(m.String(), func(t *testing.T) {
			c := newClock()
			t0 := c.Now()
			e := start(t, Options{Seed: 3, Events: 200, Span: 2 * time.Hour, LateFraction: -1, Now: c.Now, CursorModel: m})
			tok := token(t, e, TokenOptions{})
			for _, path := range []string{"/api/v1/itemusages", "/api/v2/itemusages"} {
				body := fmt.Sprintf(`{"limit":1000,"start_time":%q}`, t0.Add(-30*time.Minute).Format(time.RFC3339))
				_, cursor := resetPage(t, e, tok, path, body)

				c.Advance(time.Minute)
				old, err := e.InjectLate("", "itemusages", t0.Add(-90*time.Minute)) // before start_time
				if err != nil {
					t.Fatal(err)
				}
				recent, err := e.InjectLate("", "itemusages", t0.Add(-10*time.Minute)) // after it
				if err != nil {
					t.Fatal(err)
				}
				got, _ := follow(t, e, tok, path, cursor)
				want := []string{recent}
				if m == CursorIngestionOrder {
					want = []string{old, recent}
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s: the cursor brought (-want +got):\n%s", path, diff)
				}
				// Under either model, a reset whose window covers the late
				// event finds it: the reconciliation a client can rely on.
				body = fmt.Sprintf(`{"limit":1000,"start_time":%q}`, t0.Add(-2*time.Hour).Format(time.RFC3339))
				found, _ := resetPage(t, e, tok, path, body)
				if !slices.Contains(found, old) || !slices.Contains(found, recent) {
					t.Errorf("%s: a reset over the late events' times did not bring both", path)
				}
				// Each sees them at the tail, in injection order.
				each := all(e, "", "itemusages", 2)
				if diff := cmp.Diff([]string{old, recent}, each[len(each)-2:]); diff != "" {
					t.Errorf("Each's tail (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestInjectedEventsHaveTheirShapeAndTime(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 3, Now: c.Now})
	tok := token(t, e, TokenOptions{})
	at := c.Now().Add(-3 * time.Hour)
	for _, f := range featureNames {
		u, err := e.InjectLate("", f, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []int{1, 2} {
			p := fetch(t, e, tok, fmt.Sprintf("/api/v%d/%s", v, f), `{"start_time":"2020-01-01T00:00:00Z"}`)
			if len(p.Items) != 1 || uuidOf(t, p.Items[0]) != u {
				t.Fatalf("%s v%d: %d items, want the injected %s", f, v, len(p.Items), u)
			}
			var ev struct{ Timestamp time.Time }
			if err := json.Unmarshal(p.Items[0], &ev); err != nil || !ev.Timestamp.Equal(at) {
				t.Errorf("%s v%d: timestamp %v (%v), want %v", f, v, ev.Timestamp, err, at)
			}
			checkEvent(t, f, v, false, p.Items[0])
		}
	}
	if _, err := e.InjectLate("", "itemusages", c.Now().Add(time.Minute)); err == nil {
		t.Error("InjectLate accepted an event from the future")
	}
	if _, err := e.InjectLate("", "users", at); err == nil {
		t.Error("InjectLate accepted an unknown feature")
	}
}

// TestGeneratedLateEventsUnderEachCursorModel follows a cursor through live
// traffic in which half the item usages arrive up to an hour late.
func TestGeneratedLateEventsUnderEachCursorModel(t *testing.T) {
	for _, m := range models {
		t.Run(m.String(), func(t *testing.T) {
			c := newClock()
			t0 := c.Now()
			e := start(t, Options{Seed: 5, Rate: 60, LateFraction: 0.5, MaxLateness: time.Hour, Now: c.Now,
				CursorModel: m, RateLimitPerMinute: -1, RateLimitPerHour: -1})
			tok := token(t, e, TokenOptions{})
			path := "/api/v2/itemusages"
			first, cursor := resetPage(t, e, tok, path, `{"limit":100,"start_time":"`+t0.Format(time.RFC3339Nano)+`"}`)
			if len(first) != 0 {
				t.Fatalf("first page: %d events before any traffic", len(first))
			}
			c.Advance(10 * time.Minute)
			got, _ := follow(t, e, tok, path, cursor)
			uuids, ts := timestamps(t, e, "itemusages")
			want := uuids
			if m == CursorKeepsStart {
				want = inWindow(uuids, ts, t0, time.Time{})
			}
			if len(want) == len(uuids) && m == CursorKeepsStart {
				t.Fatal("setup: no event older than the start")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("cursor brought (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDrainWithInjectedEvents pages through generated and injected events
// with a small limit, so that cursors land between them.
func TestDrainWithInjectedEvents(t *testing.T) {
	for _, m := range models {
		t.Run(m.String(), func(t *testing.T) {
			c := newClock()
			e := start(t, Options{Seed: 6, Events: 30, Rate: 6, Now: c.Now, CursorModel: m,
				RateLimitPerMinute: -1, RateLimitPerHour: -1})
			tok := token(t, e, TokenOptions{})
			path := "/api/v1/auditevents"
			got, cursor := resetPage(t, e, tok, path, `{"limit":3,"start_time":"2020-01-01T00:00:00Z"}`)
			for i := 0; i < 12; i++ {
				c.Advance(17 * time.Second)
				if i%3 != 2 {
					if _, err := e.InjectLate("", "auditevents", c.Now().Add(-time.Duration(i)*time.Hour)); err != nil {
						t.Fatal(err)
					}
				}
				if i%4 == 3 {
					more, next := follow(t, e, tok, path, cursor)
					got, cursor = append(got, more...), next
				}
			}
			if diff := cmp.Diff(all(e, "", "auditevents", 1), got); diff != "" {
				t.Errorf("drained events differ from Each (-want +got):\n%s", diff)
			}
			if got, want := e.Head("", "auditevents"), len(got); got != want {
				t.Errorf("Head = %d, want %d", got, want)
			}
		})
	}
}

func TestParseCursorModel(t *testing.T) {
	for _, m := range models {
		got, err := ParseCursorModel(m.String())
		if err != nil || got != m {
			t.Errorf("ParseCursorModel(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseCursorModel("bogus"); err == nil {
		t.Error("ParseCursorModel accepted bogus")
	}
	if _, err := New(Options{CursorModel: 7}); err == nil {
		t.Error("New accepted an unknown cursor model")
	}
}
