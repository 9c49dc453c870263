package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDrainMatchesEach(t *testing.T) {
	e := start(t, Options{Seed: 2, Events: 500, RateLimitPerMinute: -1, RateLimitPerHour: -1})
	tok := token(t, e, TokenOptions{})
	for _, path := range eventPaths {
		f, version := featureOf(path)
		got := drain(t, e, tok, path, `{"limit":7,"start_time":"2020-01-01T00:00:00Z"}`)
		if diff := cmp.Diff(all(e, "", f, version), got); diff != "" {
			t.Errorf("%s: drained events differ from Each (-want +got):\n%s", path, diff)
		}
	}
}

// timestamps returns Each's events of a stream with their timestamps.
func timestamps(t *testing.T, e *Emulator, f string) (uuids []string, ts []time.Time) {
	e.Each("", f, 2, func(uuid string, raw []byte) bool {
		var ev struct{ Timestamp time.Time }
		if err := json.Unmarshal(raw, &ev); err != nil {
			t.Fatal(err)
		}
		uuids = append(uuids, uuid)
		ts = append(ts, ev.Timestamp)
		return true
	})
	return uuids, ts
}

// inWindow returns, in ingestion order, the events whose timestamp is in
// [from, to] (to zero: no end).
func inWindow(uuids []string, ts []time.Time, from, to time.Time) []string {
	var out []string
	for i, u := range uuids {
		if !ts[i].Before(from) && (to.IsZero() || !ts[i].After(to)) {
			out = append(out, u)
		}
	}
	return out
}

func TestResetWindows(t *testing.T) {
	c := newClock()
	now := c.Now()
	// 200 events an hour for a day.
	e := start(t, Options{Seed: 4, Events: 4800, Now: c.Now, RateLimitPerMinute: -1, RateLimitPerHour: -1})
	tok := token(t, e, TokenOptions{})
	uuids, ts := timestamps(t, e, "signinattempts")
	path := "/api/v2/signinattempts"

	// {} is the last hour, 100 at a time.
	lastHour := inWindow(uuids, ts, now.Add(-time.Hour), time.Time{})
	if len(lastHour) < 150 {
		t.Fatalf("setup: only %d events in the last hour", len(lastHour))
	}
	p := fetch(t, e, tok, path, `{}`)
	if len(p.Items) != 100 || !p.HasMore {
		t.Errorf("{}: %d items, has_more %v; want 100, true", len(p.Items), p.HasMore)
	}
	if diff := cmp.Diff(lastHour, drain(t, e, tok, path, `{}`)); diff != "" {
		t.Errorf("{} drains other events than the last hour's (-want +got):\n%s", diff)
	}

	// end_time alone: the hour before it.
	end := now.Add(-5 * time.Hour)
	want := inWindow(uuids, ts, end.Add(-time.Hour), end)
	got := drain(t, e, tok, path, `{"limit":1000,"end_time":"`+end.Format(time.RFC3339Nano)+`"}`)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("end_time only (-want +got):\n%s", diff)
	}

	// Both, with an offset and fractional seconds.
	from, to := now.Add(-10*time.Hour+123*time.Millisecond), now.Add(-9*time.Hour)
	body := fmt.Sprintf(`{"limit":33,"start_time":%q,"end_time":%q}`, from.In(time.FixedZone("", -3*3600)).Format(time.RFC3339Nano), to.Format(time.RFC3339))
	if diff := cmp.Diff(inWindow(uuids, ts, from, to), drain(t, e, tok, path, body)); diff != "" {
		t.Errorf("start and end (-want +got):\n%s", diff)
	}

	// limit 1000 gives up to 1000.
	if p := fetch(t, e, tok, path, everything); len(p.Items) != 1000 || !p.HasMore {
		t.Errorf("limit 1000: %d items, has_more %v", len(p.Items), p.HasMore)
	}
	// A start before the retention period is clamped, not refused.
	if got := drain(t, e, tok, path, `{"limit":1000,"start_time":"2001-01-01T00:00:00Z"}`); len(got) != len(uuids) {
		t.Errorf("start in 2001: %d events, want all %d", len(got), len(uuids))
	}
}

func TestHasMore(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 1, Events: 50, Now: c.Now})
	tok := token(t, e, TokenOptions{})
	path := "/api/v1/auditevents"

	p := fetch(t, e, tok, path, `{"limit":50,"start_time":"2020-01-01T00:00:00Z"}`)
	if len(p.Items) != 50 || p.HasMore {
		t.Errorf("limit 50 of 50: %d items, has_more %v; want 50, false", len(p.Items), p.HasMore)
	}
	p = fetch(t, e, tok, path, `{"limit":49,"start_time":"2020-01-01T00:00:00Z"}`)
	if len(p.Items) != 49 || !p.HasMore {
		t.Errorf("limit 49 of 50: %d items, has_more %v; want 49, true", len(p.Items), p.HasMore)
	}
	p = fetch(t, e, tok, path, `{"cursor":"`+p.Cursor+`"}`)
	if len(p.Items) != 1 || p.HasMore {
		t.Errorf("last page: %d items, has_more %v; want 1, false", len(p.Items), p.HasMore)
	}
	// Caught up: an empty page, still with a cursor, and the same again.
	idle := fetch(t, e, tok, path, `{"cursor":"`+p.Cursor+`"}`)
	if len(idle.Items) != 0 || idle.HasMore || idle.Cursor == "" {
		t.Errorf("idle page: %d items, has_more %v, cursor %q", len(idle.Items), idle.HasMore, idle.Cursor)
	}
	// A window in the future is empty but valid.
	future := fetch(t, e, tok, path, `{"start_time":"2030-01-01T00:00:00Z"}`)
	if len(future.Items) != 0 || future.HasMore || future.Cursor == "" {
		t.Errorf("future window: %+v", future)
	}
}

func TestLiveTraffic(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 1, Events: 10, Rate: 60, Now: c.Now, Span: time.Hour, LateFraction: -1})
	tok := token(t, e, TokenOptions{})
	path := "/api/v2/itemusages"
	if h := e.Head("", "itemusages"); h != 10 {
		t.Fatalf("head at start = %d, want 10", h)
	}
	open := fetch(t, e, tok, path, `{"limit":1000,"start_time":"2020-01-01T00:00:00Z"}`)
	closed := fetch(t, e, tok, path, `{"limit":1000,"start_time":"2020-01-01T00:00:00Z","end_time":"`+c.Now().Format(time.RFC3339Nano)+`"}`)
	if len(open.Items) != 10 || open.HasMore {
		t.Fatalf("before traffic: %d items, has_more %v", len(open.Items), open.HasMore)
	}

	c.Advance(10 * time.Second) // one event a second
	if h := e.Head("", "itemusages"); h != 20 {
		t.Fatalf("head after 10s = %d, want 20", h)
	}
	next := fetch(t, e, tok, path, `{"cursor":"`+open.Cursor+`"}`)
	var got []string
	for _, it := range next.Items {
		got = append(got, uuidOf(t, it))
	}
	if diff := cmp.Diff(all(e, "", "itemusages", 2)[10:], got); diff != "" {
		t.Errorf("new events (-want +got):\n%s", diff)
	}
	// A window that ended before them gets only those that happened before
	// its end (ingested up to 2 s late), and then nothing more.
	end := c.Now().Add(-10 * time.Second)
	var wantClosed []string
	for _, it := range next.Items {
		var ev struct{ Timestamp time.Time }
		json.Unmarshal(it, &ev)
		if !ev.Timestamp.After(end) {
			wantClosed = append(wantClosed, uuidOf(t, it))
		}
	}
	if len(wantClosed) > 2 {
		t.Errorf("%d of the new events happened before the window's end; want at most 2 (2 s of jitter at 1/s)", len(wantClosed))
	}
	p := fetch(t, e, tok, path, `{"cursor":"`+closed.Cursor+`"}`)
	var gotClosed []string
	for _, it := range p.Items {
		gotClosed = append(gotClosed, uuidOf(t, it))
	}
	if diff := cmp.Diff(wantClosed, gotClosed); diff != "" || p.HasMore {
		t.Errorf("closed window: has_more %v, new events (-want +got):\n%s", p.HasMore, diff)
	}
	c.Advance(time.Minute)
	if p = fetch(t, e, tok, path, `{"cursor":"`+p.Cursor+`"}`); len(p.Items) != 0 || p.HasMore {
		t.Errorf("closed window, a minute later: %d items, has_more %v", len(p.Items), p.HasMore)
	}
}

func TestLateEventsFoundByWindow(t *testing.T) {
	c := newClock()
	now := c.Now()
	e := start(t, Options{Seed: 9, Events: 3000, LateFraction: 0.3, MaxLateness: 6 * time.Hour, Now: c.Now,
		RateLimitPerMinute: -1, RateLimitPerHour: -1})
	tok := token(t, e, TokenOptions{})
	uuids, ts := timestamps(t, e, "itemusages")
	from, to := now.Add(-12*time.Hour), now.Add(-10*time.Hour)
	want := inWindow(uuids, ts, from, to)

	// Some of the window's events were ingested after it ended.
	late := 0
	index := map[string]int{}
	for i, u := range uuids {
		index[u] = i
	}
	for _, u := range want {
		if e.tl.ingest(index[u]) > to.UnixNano() {
			late++
		}
	}
	if late == 0 {
		t.Fatal("setup: no late event in the window")
	}
	body := fmt.Sprintf(`{"limit":50,"start_time":%q,"end_time":%q}`, from.Format(time.RFC3339), to.Format(time.RFC3339))
	got := drain(t, e, tok, "/api/v1/itemusages", body)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("window drained other events than those timestamped in it (-want +got):\n%s", diff)
	}
	// Pages come in ingestion order, so timestamps are not sorted.
	if slices.IsSortedFunc(want, func(a, b string) int { return ts[index[a]].Compare(ts[index[b]]) }) {
		t.Error("late events did not make the page order differ from timestamp order")
	}
	t.Logf("%d events in the window, %d of them ingested after it ended", len(want), late)
}

func TestDeterminism(t *testing.T) {
	c := newClock()
	events := func(seed int64, account string, msp bool) []byte {
		e, err := New(Options{Seed: seed, Events: 300, MSP: msp, Now: c.Now})
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		for _, f := range featureNames {
			for _, v := range []int{1, 2} {
				e.Each(account, f, v, func(_ string, raw []byte) bool { b.Write(raw); b.WriteByte('\n'); return true })
			}
		}
		return b.Bytes()
	}
	a, b := events(7, "", false), events(7, "", false)
	if !bytes.Equal(a, b) {
		t.Error("the same seed gave different events")
	}
	if bytes.Equal(a, events(8, "", false)) {
		t.Error("different seeds gave the same events")
	}
	if bytes.Equal(events(7, "ACCOUNTONE", false), events(7, "ACCOUNTTWO", false)) {
		t.Error("different accounts gave the same events")
	}
	if !bytes.Equal(events(7, "ACCOUNTONE", true), events(7, "ACCOUNTONE", true)) {
		t.Error("MSP mode is not deterministic")
	}
}

func TestMultipleAccounts(t *testing.T) {
	e := start(t, Options{Seed: 1, Events: 20})
	one := token(t, e, TokenOptions{Account: "ACCOUNTONE"})
	two := token(t, e, TokenOptions{Account: "ACCOUNTTWO"})
	p1 := fetch(t, e, one, "/api/v2/signinattempts", everything)
	p2 := fetch(t, e, two, "/api/v2/signinattempts", everything)
	if uuidOf(t, p1.Items[0]) == uuidOf(t, p2.Items[0]) {
		t.Error("two accounts served the same events")
	}
	if got := decodeObject(t, p1.Items[0]).str(t, "account_uuid"); got != "ACCOUNTONE" {
		t.Errorf("account_uuid = %q, want ACCOUNTONE", got)
	}
	if diff := cmp.Diff(all(e, "ACCOUNTTWO", "signinattempts", 2), drain(t, e, two, "/api/v2/signinattempts", everything)); diff != "" {
		t.Errorf("account two (-Each +served):\n%s", diff)
	}
}
