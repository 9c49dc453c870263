package onepassword

import (
	"context"
	"sync"
	"time"
)

// Limits are request budgets over sliding windows. A zero field is unlimited.
type Limits struct{ PerMinute, PerHour int }

// DefaultLimits are the Events API's documented limits per account.
func DefaultLimits() Limits { return Limits{PerMinute: 600, PerHour: 30000} }

// Limiters hands out one Limiter per 1Password account, so that all streams
// of all tokens of an account share its budget. It is safe for concurrent use.
type Limiters struct {
	limits Limits
	mu     sync.Mutex
	by     map[string]*Limiter
}

// NewLimiters returns limiters that each enforce l.
func NewLimiters(l Limits) *Limiters {
	return &Limiters{limits: l, by: map[string]*Limiter{}}
}

// For returns the limiter of an account; the same key always gets the same
// *Limiter.
func (l *Limiters) For(account string) *Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.by[account]
	if !ok {
		lim = NewLimiter(l.limits)
		l.by[account] = lim
	}
	return lim
}

// Limiter admits requests so that no 60-second window holds more than
// PerMinute of them and no one-hour window more than PerHour. It keeps the
// admission times of the last max(PerMinute, PerHour) requests: the next
// request may start once the PerMinute-th latest is a minute old and the
// PerHour-th latest an hour old. That is exact, unlike a token bucket,
// which must trade burst against rate to honour two windows.
type Limiter struct {
	limits Limits

	mu    sync.Mutex
	times []time.Time // ring of admission times, oldest at start
	start int
	n     int
}

// NewLimiter returns a limiter enforcing l on its own. A nil *Limiter is
// valid and unlimited.
func NewLimiter(l Limits) *Limiter {
	l.PerMinute = max(l.PerMinute, 0)
	l.PerHour = max(l.PerHour, 0)
	size := max(l.PerMinute, l.PerHour)
	if size > 0 {
		size++ // one spare, so that cancel never drops a time still needed
	}
	return &Limiter{limits: l, times: make([]time.Time, size)}
}

// Wait blocks until a request may start, or ctx is done.
func (l *Limiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l == nil || len(l.times) == 0 {
		return nil
	}
	now, at := l.reserve()
	d := at.Sub(now)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		l.cancel(at)
		return ctx.Err()
	}
}

// reserve records the earliest admissible time of the next request.
func (l *Limiter) reserve() (now, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now = time.Now()
	at = now
	if l.n > 0 {
		// Keep the ring sorted even if the clock stepped back.
		if last := l.at(l.n - 1); last.After(at) {
			at = last
		}
	}
	if k := l.limits.PerMinute; k > 0 && l.n >= k {
		if t := l.at(l.n - k).Add(time.Minute); t.After(at) {
			at = t
		}
	}
	if k := l.limits.PerHour; k > 0 && l.n >= k {
		if t := l.at(l.n - k).Add(time.Hour); t.After(at) {
			at = t
		}
	}
	if l.n < len(l.times) {
		l.times[(l.start+l.n)%len(l.times)] = at
		l.n++
	} else {
		l.times[l.start] = at
		l.start = (l.start + 1) % len(l.times)
	}
	return now, at
}

// cancel gives back a reservation that was not used, if nothing was
// reserved after it; otherwise the slot stays taken, which only errs on
// the safe side.
func (l *Limiter) cancel(at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n > 0 && l.at(l.n-1).Equal(at) {
		l.n--
	}
}

// at is the i-th oldest admission time kept.
func (l *Limiter) at(i int) time.Time { return l.times[(l.start+i)%len(l.times)] }
