package ingest

import (
	"testing"
	"time"
)

func TestNextSlotSpreadsStreams(t *testing.T) {
	now := time.Date(2026, 11, 25, 10, 0, 30, 0, time.UTC)
	offsets := map[time.Duration]bool{}
	for id := int64(1); id <= 50; id++ {
		next := nextSlot(id, time.Minute, now)
		if !next.After(now) || next.Sub(now) > time.Minute {
			t.Fatalf("stream %d: next %v not within one interval after %v", id, next, now)
		}
		// The same stream keeps its offset from one poll to the next.
		if again := nextSlot(id, time.Minute, next); again.Sub(next) != time.Minute {
			t.Errorf("stream %d: slot drifts: %v then %v", id, next, again)
		}
		offsets[time.Duration(next.UnixNano())%time.Minute] = true
	}
	if len(offsets) < 40 {
		t.Errorf("50 streams share only %d offsets in the minute", len(offsets))
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	lo := func() float64 { return 0 }
	hi := func() float64 { return 0.999999 }
	if d := backoff(1, lo); d != backoffBase/2 {
		t.Errorf("first failure, low jitter: %v", d)
	}
	if d := backoff(3, hi); d < 4*backoffBase*9/10 || d > 4*backoffBase {
		t.Errorf("third failure, high jitter: %v", d)
	}
	if d := backoff(50, hi); d > backoffCap || d < backoffCap*9/10 {
		t.Errorf("capped backoff: %v", d)
	}
}
