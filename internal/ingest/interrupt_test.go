package ingest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/ingest"
	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/sqlite"
)

// A poll stopped by its context (serve shutting down, Ctrl-C of pull) is
// not a failure: it is logged as interrupted at INFO, what it committed
// stays, and the stream records no error. It was logged "poll failed ...
// context canceled" at WARN for every stream.
func TestCancelledPollIsInterruptedNotFailed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	requests := 0
	var st *sqlite.Store
	var src store.Source
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v2/signinattempts" {
			http.NotFound(w, r)
			return
		}
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		requests++
		n := requests
		mu.Unlock()
		if n == 2 {
			// The second page is fetched while the first is committed:
			// shut down once the first is stored, and answer only once the
			// client has hung up.
			for stored(st, src.ID) < 1 {
				time.Sleep(time.Millisecond)
			}
			cancel()
			<-r.Context().Done()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"cursor":"c%d","has_more":true,"items":[%s]}`, n, signIn(fmt.Sprintf("INTERRUPT%017d", n)))
	})
	var logs syncBuffer
	var in *ingest.Ingester
	st, src, in = scriptedSource(t, handler, func(c *ingest.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	results, _ := in.Pull(ctx, []string{src.ID})
	if len(results) != 1 || results[0].Err == nil {
		t.Fatalf("results %+v; want the one stream's poll stopped", results)
	}
	if testing.Verbose() {
		t.Logf("err %v\nlog:\n%s", results[0].Err, logs.String())
	}
	out := logs.String()
	var interrupted int
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			t.Errorf("a cancelled poll logged %q", line)
		}
		if strings.Contains(line, "level=INFO") && strings.Contains(line, `msg="poll interrupted"`) &&
			strings.Contains(line, "source=h") && strings.Contains(line, "inserted=1") {
			interrupted++
		}
	}
	if interrupted != 1 {
		t.Errorf("%d INFO \"poll interrupted\" lines naming the source and what was stored, want 1; log:\n%s", interrupted, out)
	}
	s := onlyStream(t, st, src)
	if s.Events != 1 || s.Cursor != "c1" {
		t.Errorf("events %d cursor %q; want the first page committed", s.Events, s.Cursor)
	}
	if s.Status == store.StreamError || s.Status == store.StreamStopped || s.LastError != "" || s.ConsecutiveFailures != 0 {
		t.Errorf("status %q, last error %q, %d failures; a cancelled poll is not a failure", s.Status, s.LastError, s.ConsecutiveFailures)
	}
}

// stored is how many events the source's streams hold.
func stored(st *sqlite.Store, sourceID string) int64 {
	ss, _ := st.Streams(context.Background(), sourceID)
	var n int64
	for _, s := range ss {
		n += s.Events
	}
	return n
}

// A poll that really fails is still a WARN.
func TestFailedPollIsAWarning(t *testing.T) {
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, `{"message":"nope"}`, http.StatusInternalServerError)
	})
	var logs syncBuffer
	_, src, in := scriptedSource(t, handler, func(c *ingest.Config) {
		c.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	if _, err := in.Pull(context.Background(), []string{src.ID}); err == nil {
		t.Fatal("pull against a failing server succeeded")
	}
	out := logs.String()
	if !strings.Contains(out, `level=WARN msg="poll failed"`) || strings.Contains(out, "poll interrupted") {
		t.Errorf("log of a failed poll:\n%s\nwant a WARN \"poll failed\"", out)
	}
}
