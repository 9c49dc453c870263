package onepassword

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// RetryPolicy bounds the retries of one request. Zero fields take defaults.
type RetryPolicy struct {
	MaxAttempts int           // attempts in all, including the first; default 8
	Base        time.Duration // first backoff; default 1s
	Cap         time.Duration // longest backoff; default 30s
	// MaxRetryAfter is the longest Retry-After the client sleeps through;
	// a longer one is returned as a RateLimited error carrying RetryAfter,
	// so the caller can reschedule instead of holding the stream. Default 60s.
	MaxRetryAfter time.Duration
	// Sleep waits d or until ctx is done; nil uses a timer. Tests inject a
	// fake to run without waiting.
	Sleep func(ctx context.Context, d time.Duration) error
}

// withDefaults fills in the zero fields.
func (p RetryPolicy) withDefaults() RetryPolicy {
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = 8
	}
	if p.Base <= 0 {
		p.Base = time.Second
	}
	if p.Cap <= 0 {
		p.Cap = 30 * time.Second
	}
	if p.Cap < p.Base {
		p.Cap = p.Base
	}
	if p.MaxRetryAfter <= 0 {
		p.MaxRetryAfter = time.Minute
	}
	if p.Sleep == nil {
		p.Sleep = sleep
	}
	return p
}

// Backoff is the wait after the given failed attempt (1 for the first):
// Base·2^(attempt-1), capped at Cap, times a jitter in [0.5, 1) so that
// streams that failed together do not retry together.
func (p RetryPolicy) Backoff(attempt int) time.Duration {
	p = p.withDefaults()
	d := p.Cap
	if attempt < 1 {
		attempt = 1
	}
	if attempt <= 32 {
		if b := p.Base << (attempt - 1); b > 0 && b < p.Cap {
			d = b
		}
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()/2))
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when the header is absent or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s <= 0 {
			return 0
		}
		if s > 86400 {
			s = 86400 // a day; anything longer is a broken header
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return min(d, 24*time.Hour)
		}
	}
	return 0
}
