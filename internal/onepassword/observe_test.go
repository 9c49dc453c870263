package onepassword

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Observe is told of every attempt, retries included, with what each
// answered: metrics count 429s and status classes from it.
func TestObserveEveryAttempt(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			w.WriteHeader(429)
		case 2:
			w.WriteHeader(503)
		case 3:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
		default:
			writePage(w, "c2", false, `{"uuid":"A"}`)
		}
	})
	var mu sync.Mutex
	var got []RequestInfo
	c, _ := testClient(t, srv, func(o *Options) {
		o.Observe = func(ri RequestInfo) {
			if ri.Duration < 0 || ri.Host != srv.Listener.Addr().String() {
				t.Errorf("info %+v", ri)
			}
			ri.Duration, ri.Host = 0, ""
			mu.Lock()
			got = append(got, ri)
			mu.Unlock()
		}
	})
	if _, err := c.Fetch(context.Background(), ItemUsages, Request{Limit: 10}); err != nil {
		t.Fatal(err)
	}
	want := []RequestInfo{
		{Endpoint: "itemusages", Status: 429, Kind: RateLimited},
		{Endpoint: "itemusages", Status: 503, Kind: Server},
		{Endpoint: "itemusages", Status: 0, Kind: Network},
		{Endpoint: "itemusages", Status: 200},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("observed (-want +got):\n%s", d)
	}
}
