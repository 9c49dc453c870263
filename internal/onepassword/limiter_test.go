package onepassword

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// checkWindows fails if any window of length w holds more than limit of
// the (sorted) admission times.
func checkWindows(t *testing.T, times []time.Time, w time.Duration, limit int) {
	t.Helper()
	for i := 0; i+limit < len(times); i++ {
		if d := times[i+limit].Sub(times[i]); d < w {
			t.Fatalf("%d requests within %s (from request %d), limit %d", limit+1, d, i, limit)
		}
	}
}

func TestLimiterWindows(t *testing.T) {
	tests := []struct {
		name     string
		limits   Limits
		workers  int
		requests int // per worker
	}{
		{"small", Limits{PerMinute: 5, PerHour: 20}, 3, 10},
		{"minute only", Limits{PerMinute: 7}, 4, 10},
		{"hour only", Limits{PerHour: 9}, 2, 10},
		{"defaults", DefaultLimits(), 3, 11000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if testing.Short() && tt.requests > 1000 {
				tt.requests = 1000
			}
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				lim := NewLimiters(tt.limits).For("acct")
				var mu sync.Mutex
				var times []time.Time
				var wg sync.WaitGroup
				for range tt.workers {
					wg.Go(func() {
						for range tt.requests {
							if err := lim.Wait(context.Background()); err != nil {
								t.Error(err)
								return
							}
							mu.Lock()
							times = append(times, time.Now())
							mu.Unlock()
						}
					})
				}
				wg.Wait()
				slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
				if len(times) != tt.workers*tt.requests {
					t.Fatalf("%d admissions", len(times))
				}
				if tt.limits.PerMinute > 0 {
					checkWindows(t, times, time.Minute, tt.limits.PerMinute)
				}
				if tt.limits.PerHour > 0 {
					checkWindows(t, times, time.Hour, tt.limits.PerHour)
				}
				// Not needlessly slow either: the first full budget at once.
				first := tt.limits.PerMinute
				if first == 0 || (tt.limits.PerHour > 0 && tt.limits.PerHour < first) {
					first = tt.limits.PerHour
				}
				if !times[first-1].Equal(start) {
					t.Errorf("request %d waited %s; the first %d should not wait", first, times[first-1].Sub(start), first)
				}
			})
		})
	}
}

func TestLimiterExactSpacing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		lim := NewLimiter(Limits{PerMinute: 2, PerHour: 3})
		var got []time.Duration
		for range 5 {
			if err := lim.Wait(context.Background()); err != nil {
				t.Fatal(err)
			}
			got = append(got, time.Since(start))
		}
		// Two now, the third a minute later, then the hour is spent.
		want := []time.Duration{0, 0, time.Minute, time.Hour, time.Hour}
		if !slices.Equal(got, want) {
			t.Errorf("admitted at %v, want %v", got, want)
		}
	})
}

func TestLimiterCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		lim := NewLimiter(Limits{PerMinute: 1})
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := lim.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait = %v, want the deadline", err)
		}
		// The cancelled reservation is given back: the next request goes a
		// minute after the first, not a minute after the cancelled one.
		if err := lim.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != time.Minute {
			t.Errorf("admitted after %s, want 1m", d)
		}
		done, cancel2 := context.WithCancel(context.Background())
		cancel2()
		if err := lim.Wait(done); !errors.Is(err, context.Canceled) {
			t.Errorf("Wait on a done context = %v", err)
		}
	})
}

func TestLimitersShareByAccount(t *testing.T) {
	ls := NewLimiters(DefaultLimits())
	if ls.For("a") != ls.For("a") || ls.For("a") == ls.For("b") {
		t.Error("For must return one limiter per account")
	}
	var unlimited *Limiter
	if err := unlimited.Wait(context.Background()); err != nil {
		t.Errorf("nil limiter: %v", err)
	}
	zero := NewLimiters(Limits{}).For("x")
	for range 10000 {
		if err := zero.Wait(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

func TestClientUsesLimiter(t *testing.T) {
	// Each attempt, retries included, takes a slot of the account's budget.
	synctest.Test(t, func(t *testing.T) {
		lim := NewLimiter(Limits{PerMinute: 1})
		var calls []time.Duration
		start := time.Now()
		c, err := New(Options{
			Token:   allFeaturesToken(t, "events.1password.com"),
			Limiter: lim,
			HTTPClient: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				calls = append(calls, time.Since(start))
				if len(calls) == 1 {
					return &http.Response{StatusCode: 500, Body: http.NoBody, Header: http.Header{}}, nil
				}
				return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(`{"cursor":"c","has_more":false,"items":[]}`)), ContentLength: -1, Header: http.Header{}}, nil
			})},
			Retry: RetryPolicy{Base: time.Second},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Fetch(context.Background(), ItemUsages, Request{}); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 2 || calls[0] != 0 || calls[1] != time.Minute {
			t.Errorf("requests at %v, want [0s 1m0s]", calls)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
