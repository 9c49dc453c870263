package ingest_test

import (
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// Late events: 1Password ingests some events long after they happened (item
// usages sync when a client does), and whether a cursor brings an event older
// than its reset's start_time is undocumented (reference §7.2). Under the
// emulator's two cursor models, opwatch must store every late event exactly
// once with a lookback shorter than the lateness: by cursor when the cursor
// follows ingestion order, by the reconciliation re-read when it keeps the
// start filter.

const (
	lateLookback        = time.Hour
	lateReconcileEvery  = 5 * time.Minute
	lateReconcileWindow = 3 * time.Hour
	latePolls           = 6
	latePollGap         = 10 * time.Minute
)

// runLate polls a source latePolls times, injecting before each poll one
// event per log type that happened before the first poll's start, and
// returns the injected uuids per log type.
func runLate(t *testing.T, model emulator.CursorModel, reconcile bool) (*harness, map[string][]string, store.Source) {
	t.Helper()
	h := newHarness(t, emulator.Options{Seed: 21, Events: 300, Span: 2 * time.Hour, CursorModel: model,
		LateFraction: 0.2, MaxLateness: 30 * time.Minute})
	cfg := ingest.Config{
		Store: h.st, Secrets: h.box, Now: h.clock.Now, Owner: "late-poller",
		Retry: onepassword.RetryPolicy{MaxAttempts: 12, Base: time.Millisecond, Cap: 5 * time.Millisecond},
	}
	if reconcile {
		cfg.ReconcileEvery, cfg.ReconcileWindow = lateReconcileEvery, lateReconcileWindow
	}
	h.in = ingest.New(cfg)
	src := store.Source{Name: "late", BaseURL: h.em.URL(), APIVersion: 2, Interval: time.Minute, Lookback: lateLookback}
	var lts []string
	for _, lt := range logtype.All() {
		lts = append(lts, lt.Name)
	}
	createSource(t, h.st, h.box, &src, h.token("LATEACCOUNT"), lts)
	firstStart := h.clock.Now().Add(-src.Lookback)

	// Poll as serve's scheduler does (Run), reconciliation included; pull
	// never reconciles.
	poll := func() {
		t.Helper()
		streams, err := h.st.Streams(h.ctx, src.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range streams {
			claimed, err := h.st.ClaimStream(h.ctx, st.ID, "late-poller", time.Minute)
			if err != nil {
				t.Fatal(err)
			}
			if r := h.in.Poll(h.ctx, claimed, true); r.Err != nil {
				t.Fatalf("poll %s: %v", st.LogType, r.Err)
			}
		}
	}
	poll()
	injected := map[string][]string{}
	for i := 0; i < latePolls; i++ {
		h.clock.Advance(latePollGap)
		for _, lt := range logtype.All() {
			// Older than the first poll's start_time, within the re-read.
			at := firstStart.Add(-time.Duration(i+1) * 7 * time.Minute)
			u, err := h.em.InjectLate("LATEACCOUNT", lt.Feature, at)
			if err != nil {
				t.Fatal(err)
			}
			injected[lt.Name] = append(injected[lt.Name], u)
		}
		poll()
	}
	return h, injected, src
}

func TestLateEventsStoredOnceUnderEachCursorModel(t *testing.T) {
	for _, model := range []emulator.CursorModel{emulator.CursorKeepsStart, emulator.CursorIngestionOrder} {
		t.Run(model.String(), func(t *testing.T) {
			h, injected, src := runLate(t, model, true)
			for _, lt := range logtype.All() {
				counts := map[string]int{}
				for _, u := range h.stored(src, lt.Name) {
					counts[u]++
				}
				for _, u := range injected[lt.Name] {
					if counts[u] != 1 {
						t.Errorf("%s: late event %s stored %d times, want 1", lt.Name, u, counts[u])
					}
				}
				for u, n := range counts {
					if n > 1 {
						t.Errorf("%s: event %s stored %d times", lt.Name, u, n)
					}
				}
			}
		})
	}
}

// TestLateEventsNeedTheReread checks the setup of the test above: when the
// cursor keeps its start filter, the cursor alone brings none of the late
// events, so it is the reconciliation re-read that stores them.
func TestLateEventsNeedTheReread(t *testing.T) {
	h, injected, src := runLate(t, emulator.CursorKeepsStart, false)
	for _, lt := range logtype.All() {
		stored := map[string]bool{}
		for _, u := range h.stored(src, lt.Name) {
			stored[u] = true
		}
		for _, u := range injected[lt.Name] {
			if stored[u] {
				t.Errorf("%s: late event %s came without the re-read; the test above proves nothing about it", lt.Name, u)
			}
		}
	}
}
