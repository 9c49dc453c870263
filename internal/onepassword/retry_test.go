package onepassword

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryBackoff(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(500)
	})
	c, sl := testClient(t, srv, nil) // default policy: 8 attempts, 1s..30s
	_, err := c.Fetch(context.Background(), ItemUsages, Request{})
	if k, _ := KindOf(err); k != Server {
		t.Fatalf("err = %v", err)
	}
	if calls.Load() != 8 {
		t.Errorf("%d attempts, want 8", calls.Load())
	}
	waits := sl.get()
	if len(waits) != 7 {
		t.Fatalf("slept %d times, want 7", len(waits))
	}
	for i, d := range waits {
		full := min(time.Second<<i, 30*time.Second)
		if d < full/2 || d >= full {
			t.Errorf("wait %d = %s, want in [%s, %s)", i+1, d, full/2, full)
		}
	}
}

func TestRetryThenSuccess(t *testing.T) {
	// 429, 503, a dropped connection, a truncated body, then a page.
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
		case 4:
			w.Write([]byte(`{"cursor":"c","has_more":true,"items":[{"a":`))
		default:
			writePage(w, "c2", false, `{"uuid":"A"}`)
		}
	})
	c, sl := testClient(t, srv, nil)
	p, err := c.Fetch(context.Background(), AuditEvents, Request{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if p.Cursor != "c2" || len(p.Items) != 1 || calls.Load() != 5 || len(sl.get()) != 4 {
		t.Errorf("page %+v after %d calls and %d sleeps", p, calls.Load(), len(sl.get()))
	}
}

func TestRetryAfter(t *testing.T) {
	date := time.Now().Add(20 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name     string
		header   string
		status   int
		min, max time.Duration
	}{
		{"seconds on 429", "7", 429, 7 * time.Second, 7 * time.Second},
		{"seconds on 503", "3", 503, 3 * time.Second, 3 * time.Second},
		// An HTTP date has whole seconds, and some time passed since.
		{"HTTP date", date, 429, 10 * time.Second, 20 * time.Second},
		{"garbage falls back to backoff", "soon", 429, 500 * time.Millisecond, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					w.Header().Set("Retry-After", tt.header)
					w.WriteHeader(tt.status)
					return
				}
				writePage(w, "c", false)
			})
			c, sl := testClient(t, srv, nil)
			if _, err := c.Fetch(context.Background(), SignInAttempts, Request{}); err != nil {
				t.Fatal(err)
			}
			waits := sl.get()
			if len(waits) != 1 || waits[0] < tt.min || waits[0] > tt.max {
				t.Errorf("waits %v, want one in [%s, %s]", waits, tt.min, tt.max)
			}
		})
	}
}

func TestRetryAfterTooLongIsReturned(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Retry-After", "1800")
		w.WriteHeader(429)
	})
	c, sl := testClient(t, srv, nil)
	_, err := c.Fetch(context.Background(), SignInAttempts, Request{})
	var e *Error
	if !errors.As(err, &e) || e.Kind != RateLimited || e.RetryAfter != 30*time.Minute {
		t.Fatalf("err = %#v, want RateLimited with RetryAfter 30m", err)
	}
	if calls.Load() != 1 || len(sl.get()) != 0 {
		t.Errorf("%d calls, %d sleeps; want the caller to reschedule", calls.Load(), len(sl.get()))
	}
}

func TestNoRetryOnClientErrors(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			var calls atomic.Int32
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodPost { // not the introspection that explains a 401
					calls.Add(1)
				}
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(status)
			})
			c, sl := testClient(t, srv, nil)
			_, err := c.Fetch(context.Background(), ItemUsages, Request{Cursor: "x"})
			if err == nil || Retryable(err) {
				t.Fatalf("err = %v, want a final error", err)
			}
			if calls.Load() != 1 || len(sl.get()) != 0 {
				t.Errorf("%d calls, %d sleeps; want 1 and 0", calls.Load(), len(sl.get()))
			}
		})
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	var calls atomic.Int32
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(503)
	})
	ctx, cancel := context.WithCancel(context.Background())
	c, _ := testClient(t, srv, func(o *Options) {
		o.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
			cancel() // the user stops opwatch while it waits
			<-ctx.Done()
			return ctx.Err()
		}
	})
	_, err := c.Fetch(ctx, ItemUsages, Request{})
	if !errors.Is(err, context.Canceled) || calls.Load() != 1 {
		t.Errorf("err = %v after %d calls; want context.Canceled after 1", err, calls.Load())
	}
	if _, ok := KindOf(err); ok {
		t.Errorf("a cancellation is not an API error: %v", err)
	}
}

func TestSleepWakesOnCancel(t *testing.T) {
	// The default sleep must end when ctx does; were it to wait the hour,
	// the test would time out.
	ctx, cancel := context.WithCancel(context.Background())
	go cancel()
	if err := sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep = %v, want context.Canceled", err)
	}
	if err := sleep(context.Background(), time.Millisecond); err != nil {
		t.Errorf("sleep = %v", err)
	}
}

func TestCancelDuringRequest(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	defer close(done)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		cancel()
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	c, sl := testClient(t, srv, nil)
	_, err := c.Fetch(ctx, ItemUsages, Request{})
	if !errors.Is(err, context.Canceled) || len(sl.get()) != 0 {
		t.Errorf("err = %v after %d sleeps, want context.Canceled at once", err, len(sl.get()))
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"-5", 0},
		{"12", 12 * time.Second},
		{" 12 ", 12 * time.Second},
		{"99999999", 24 * time.Hour},
		{"Fri, 02 Jan 2026 03:04:35 GMT", 30 * time.Second},
		{"Fri, 02 Jan 2026 03:04:00 GMT", 0}, // in the past
		{"1.5", 0},
		{"later", 0},
	}
	for _, tt := range tests {
		if got := parseRetryAfter(tt.in, now); got != tt.want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestBackoffCap(t *testing.T) {
	p := RetryPolicy{Base: 100 * time.Millisecond, Cap: time.Second}
	for attempt := 1; attempt < 100; attempt++ {
		full := time.Second
		if attempt < 5 {
			full = 100 * time.Millisecond << (attempt - 1)
		}
		if d := p.Backoff(attempt); d < full/2 || d >= full {
			t.Fatalf("Backoff(%d) = %s, want in [%s, %s)", attempt, d, full/2, full)
		}
	}
}
