package onepassword

import (
	"bytes"
	"compress/gzip"
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
)

// D2: a hostile or broken server is refused, once, with a Protocol error
// naming it, instead of being retried or filling the disk.
func TestHostileServerIsRefused(t *testing.T) {
	items := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = `{"uuid":"U"}`
		}
		return out
	}
	tests := []struct {
		name    string
		req     Request
		respond func(w http.ResponseWriter, r *http.Request)
		want    string
	}{
		{
			name:    "more items than the limit asked",
			req:     Request{Limit: 10},
			respond: func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false, items(11)...) },
			want:    "the page holds more than the 10 items allowed",
		},
		{
			name:    "more items than the API's maximum on a stored cursor",
			req:     Request{Cursor: "stored"},
			respond: func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false, items(1001)...) },
			want:    "the page holds more than the 1000 items allowed",
		},
		{
			name:    "more items than the cursor's limit",
			req:     Request{Cursor: "stored", MaxItems: 100},
			respond: func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false, items(101)...) },
			want:    "the page holds more than the 100 items allowed",
		},
		{
			name:    "a cursor of megabytes",
			req:     Request{Limit: 10},
			respond: func(w http.ResponseWriter, r *http.Request) { writePage(w, strings.Repeat("Q", 5<<20), true) },
			want:    "the cursor is 5242880 bytes, over the 4096 bytes",
		},
		{
			name: "a body over the cap once decompressed",
			req:  Request{Limit: 10},
			respond: func(w http.ResponseWriter, r *http.Request) {
				// 17 MB of spaces is about 17 KB of gzip.
				var b bytes.Buffer
				z := gzip.NewWriter(&b)
				z.Write([]byte(`{"cursor":"c","items":[`))
				z.Write(bytes.Repeat([]byte(" "), 17<<20))
				z.Write([]byte(`]}`))
				z.Close()
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(b.Bytes())
			},
			want: "the response is larger than 16 MB",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				tt.respond(w, r)
			})
			c, _ := testClient(t, srv, func(o *Options) { o.Retry.MaxAttempts = 3 })
			_, err := c.Fetch(context.Background(), ItemUsages, tt.req)
			if k, _ := KindOf(err); k != Protocol || Retryable(err) {
				t.Fatalf("err = %v (kind %v), want a Protocol error that is not retried", err, k)
			}
			host := srv.Listener.Addr().String()
			if !strings.Contains(err.Error(), "itemusages from "+host+": "+tt.want) {
				t.Errorf("err = %v, want it to name the server and say %q", err, tt.want)
			}
			if calls.Load() != 1 {
				t.Errorf("%d requests, want 1 (not retried)", calls.Load())
			}
		})
	}
}

// Drain bounds the pages it fetches by cursor with the limit of the reset
// request the cursor came from.
func TestDrainKeepsThePageLimit(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		if requestBody(t, r)["cursor"] == nil {
			writePage(w, "c1", true, `{"n":1}`, `{"n":2}`)
			return
		}
		writePage(w, "c2", false, `{"n":3}`, `{"n":4}`, `{"n":5}`)
	})
	c, _ := testClient(t, srv, nil)
	pages := 0
	err := c.Drain(context.Background(), ItemUsages, Request{Limit: 2}, func(Page) error { pages++; return nil })
	if k, _ := KindOf(err); k != Protocol || !strings.Contains(err.Error(), "more than the 2 items allowed") {
		t.Fatalf("err = %v (kind %v), want the second page refused", err, k)
	}
	if pages != 1 {
		t.Errorf("%d pages handed on, want 1", pages)
	}
}

// A stored cursor over the cap (from an older version, or a database edit)
// is not sent: the stream must be reset.
func TestOversizedStoredCursorIsNotSent(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { calls.Add(1) })
	c, _ := testClient(t, srv, nil)
	_, err := c.Fetch(context.Background(), ItemUsages, Request{Cursor: strings.Repeat("Q", MaxCursorBytes+1)})
	if k, _ := KindOf(err); k != BadRequest || !strings.Contains(err.Error(), "read again from a start time") || calls.Load() != 0 {
		t.Errorf("err = %v (kind %v) after %d requests, want a bad request before any", err, k, calls.Load())
	}
}
