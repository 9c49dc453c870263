package emulator

import (
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		events int
		span   time.Duration
		rate   float64
	}{
		{"preloaded only", 1000, 24 * time.Hour, 0},
		{"live only", 0, 24 * time.Hour, 600},
		{"both", 1000, time.Hour, 7},
		{"dense", 20000, time.Second, 1e6},
		{"odd rate", 3, time.Minute, 0.3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTimeline(start, tt.span, tt.events, tt.rate)
			// Preloaded events are spread over the span and all visible at start.
			if got := tl.head(start.UnixNano()); got != tt.events {
				t.Errorf("head(start) = %d, want %d", got, tt.events)
			}
			if tt.events > 0 {
				if got := tl.ingest(tt.events - 1); got != start.UnixNano() {
					t.Errorf("last preloaded at %d, want start %d", got, start.UnixNano())
				}
				if got := tl.ingest(0); got <= start.UnixNano()-int64(tt.span) {
					t.Errorf("first preloaded at %d, before the span", got)
				}
			}
			// Ingestion times never decrease, and head agrees with them.
			prev := int64(-1 << 62)
			for i := 0; i < tt.events+2000; i++ {
				ing := tl.ingest(i)
				if ing < prev {
					t.Fatalf("ingest(%d) = %d < ingest(%d) = %d", i, ing, i-1, prev)
				}
				prev = ing
				if ing == 1<<63-1 {
					break
				}
				if h := tl.head(ing); h <= i {
					t.Fatalf("head(ingest(%d)) = %d: event %d not visible when ingested", i, h, i)
				}
				if h := tl.head(ing - 1); h > i && tl.ingest(h-1) > ing-1 {
					t.Fatalf("head(ingest(%d)-1) = %d counts an event not yet ingested", i, h)
				}
				if f := tl.first(ing, tt.events+2000); f > i || tl.ingest(f) < ing {
					t.Fatalf("first(ingest(%d)) = %d", i, f)
				}
			}
			// After one minute, rate more events exist (within rounding).
			if tt.rate >= 1 {
				got := tl.head(start.Add(time.Minute).UnixNano()) - tt.events
				if want := int(tt.rate); got != want {
					t.Errorf("live events after a minute = %d, want %d", got, want)
				}
			}
		})
	}
}

func TestStreamOffsets(t *testing.T) {
	s := newStream(42, itemUsages, 0.05, 6*time.Hour)
	late := 0
	const n = 100000
	for i := 0; i < n; i++ {
		off := s.offset(i)
		if off < 0 || off > s.maxOffset {
			t.Fatalf("offset(%d) = %v, outside [0, %v]", i, time.Duration(off), time.Duration(s.maxOffset))
		}
		if off >= int64(time.Hour) {
			late++
		}
	}
	if frac := float64(late) / n; frac < 0.04 || frac > 0.06 {
		t.Errorf("late fraction %.3f, want about 0.05", frac)
	}
	s = newStream(42, signInAttempts, 0.05, 6*time.Hour)
	for i := 0; i < n; i++ {
		if off := s.offset(i); off >= maxJitter {
			t.Fatalf("sign-in %d is late by %v: only item usages arrive late", i, time.Duration(off))
		}
	}
}
