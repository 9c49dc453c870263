package auth

import (
	"fmt"
	"testing"
	"time"
)

func TestLimiterBackoff(t *testing.T) {
	l := newLimiter()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i < 5; i++ {
		l.fail(now, "k")
		if w := l.wait(now, "k"); w != 0 {
			t.Fatalf("after %d failures: wait %v; want none (5 are free)", i, w)
		}
	}
	want := time.Second
	for i := 5; i < 20; i++ {
		l.fail(now, "k")
		if w := l.wait(now, "k"); w != want {
			t.Fatalf("after %d failures: wait %v; want %v", i, w, want)
		}
		now = now.Add(want) // waited it out
		if w := l.wait(now, "k"); w != 0 {
			t.Fatalf("after waiting: %v", w)
		}
		want = min(2*want, 15*time.Minute)
	}
	if w := l.wait(now, "other"); w != 0 {
		t.Errorf("another key waits %v", w)
	}
	l.reset("k")
	l.fail(now, "k")
	if w := l.wait(now, "k"); w != 0 {
		t.Errorf("after a reset, one failure waits %v", w)
	}
}

// A key quiet for the forget time starts over.
func TestLimiterForgets(t *testing.T) {
	l := newLimiter()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 5 {
		l.fail(now, "k")
	}
	now = now.Add(time.Hour)
	l.fail(now, "k")
	if w := l.wait(now, "k"); w != 0 {
		t.Errorf("a key quiet for an hour waits %v after one failure", w)
	}
}

// wait reports the longest lock among the keys.
func TestLimiterKeys(t *testing.T) {
	l := newLimiter()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 6 {
		l.fail(now, "ip:a")
	}
	for range 5 {
		l.fail(now, "user:b")
	}
	if w := l.wait(now, "ip:a", "user:b"); w != 2*time.Second {
		t.Errorf("wait %v; want the longer 2s", w)
	}
	if w := l.wait(now, "ip:c", "user:b"); w != time.Second {
		t.Errorf("wait %v; want 1s", w)
	}
}

// The map never holds more than max keys: a flood of new keys pushes out
// forgotten ones first, then the stalest unlocked, not a locked one.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter()
	l.max = 100
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 15 {
		l.fail(now, "victim") // locked for 15 minutes
	}
	l.fail(now, "early") // one failure: not locked
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.fail(now, fmt.Sprintf("flood-%d", i))
		if len(l.m) > l.max {
			t.Fatalf("%d keys; want at most %d", len(l.m), l.max)
		}
	}
	if _, ok := l.m["flood-999"]; !ok {
		t.Error("the newest key was dropped")
	}
	if _, ok := l.m["early"]; ok {
		t.Error("the stalest unlocked key outlived 1000 newer ones in a map of 100")
	}
	if w := l.wait(now, "victim"); w == 0 {
		t.Error("a flood of new keys freed a locked one")
	}
	// Once every key is locked, the stalest locked one goes.
	l2 := newLimiter()
	l2.max = 2
	for _, k := range []string{"a", "b", "c"} {
		now = now.Add(time.Millisecond)
		for range 5 {
			l2.fail(now, k)
		}
	}
	if _, ok := l2.m["a"]; ok || len(l2.m) != 2 {
		t.Errorf("all locked: kept %v; want b and c", l2.m)
	}
}

func TestRemoteKey(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7:5555":                "ip:192.0.2.7",
		"[::ffff:192.0.2.7]:1":          "ip:192.0.2.7",
		"[2001:db8:1:2:3:4:5:6]:443":    "ip:2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::1%eth0]:1": "ip:2001:db8:1:2::/64",
		"@":                             "ip:@",
		"":                              "ip:",
	} {
		if got := remoteKey(in); got != want {
			t.Errorf("remoteKey(%q) = %q; want %q", in, got, want)
		}
	}
}
