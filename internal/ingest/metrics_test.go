package ingest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/store"
)

// recorder is a fake ingest.Metrics (and request observer).
type recorder struct {
	mu       sync.Mutex
	stored   map[string]store.CommitResult // by source/log type
	polls    map[string][]string           // error kinds by source/log type
	requests map[string]int                // by endpoint and status
}

func newRecorder() *recorder {
	return &recorder{stored: map[string]store.CommitResult{}, polls: map[string][]string{}, requests: map[string]int{}}
}

func (r *recorder) PageStored(source, logType string, cr store.CommitResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stored[source+"/"+logType]
	s.Inserted += cr.Inserted
	s.Duplicates += cr.Duplicates
	s.Quarantined += cr.Quarantined
	r.stored[source+"/"+logType] = s
}

func (r *recorder) PollDone(source, logType string, d time.Duration, errKind string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.polls[source+"/"+logType] = append(r.polls[source+"/"+logType], errKind)
}

func (r *recorder) observe(ri onepassword.RequestInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests[ri.Endpoint+" "+string(rune('0'+ri.Status/100))]++
}

// What ingest tells its metrics matches what the store counted, poll by
// poll, and a revoked token is told as such.
func TestMetricsHooks(t *testing.T) {
	h := newHarness(t, emulator.Options{Seed: 11, Events: 300, Span: 12 * time.Hour})
	rec := newRecorder()
	h.in = ingest.New(ingest.Config{
		Store: h.st, Secrets: h.box, Now: h.clock.Now, Metrics: rec, ObserveRequest: rec.observe,
		Retry: onepassword.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Cap: time.Millisecond},
	})
	tok := h.token("")
	src := h.addSource("acme", tok)
	h.mustPull(src)
	h.mustPull(src) // a second pull stores nothing more
	for lt, st := range h.streams(src) {
		got := rec.stored["acme/"+lt]
		if st.Events == 0 || int64(got.Inserted) != st.Events || int64(got.Quarantined) != st.Quarantined {
			t.Errorf("%s: metrics stored %+v, store counted %d events and %d quarantined", lt, got, st.Events, st.Quarantined)
		}
		if kinds := rec.polls["acme/"+lt]; len(kinds) != 2 || kinds[0] != "" || kinds[1] != "" {
			t.Errorf("%s: polls told %q, want two successes", lt, kinds)
		}
	}
	if rec.requests["signinattempts 2"] == 0 || rec.requests["itemusages 2"] == 0 || rec.requests["auditevents 2"] == 0 {
		t.Errorf("requests observed: %v", rec.requests)
	}

	h.em.Revoke(tok)
	h.pull(src)
	for lt := range h.streams(src) {
		if kinds := rec.polls["acme/"+lt]; len(kinds) != 3 || kinds[2] != "unauthorized" {
			t.Errorf("%s: polls told %q, want unauthorized last", lt, kinds)
		}
	}
	if rec.requests["signinattempts 4"] == 0 {
		t.Errorf("the 401s were not observed: %v", rec.requests)
	}
}
