package emulator

import (
	"sync"
	"time"
)

// A limiter counts an account's requests over sliding 60 s and 3600 s
// windows, as the Events API's "600 per minute and 30,000 per hour" reads.
// Only accepted requests count.
type limiter struct {
	mu     sync.Mutex
	minute window
	hour   window
}

// A window remembers the times of the accepted requests still inside it: at
// most limit of them, so memory is bounded by the limit.
type window struct {
	limit int // <= 0: unlimited
	span  int64
	times []int64 // ring buffer
	first int     // index of the oldest
	n     int
}

func newLimiter(perMinute, perHour int) *limiter {
	return &limiter{
		minute: window{limit: perMinute, span: int64(time.Minute)},
		hour:   window{limit: perHour, span: int64(time.Hour)},
	}
}

// verdict is the outcome of one request against the limits.
type verdict struct {
	ok         bool
	limited    bool // some limit applies (headers make sense)
	limit      int  // of the window closest to exhaustion
	remaining  int
	reset      time.Duration // until that window frees a slot
	retryAfter time.Duration // when !ok
}

func (l *limiter) allow(now int64) verdict {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.minute.expire(now)
	l.hour.expire(now)
	v := verdict{ok: !l.minute.full() && !l.hour.full()}
	if !v.ok {
		for _, w := range []*window{&l.minute, &l.hour} {
			if w.full() {
				v.retryAfter = max(v.retryAfter, w.untilFree(now))
			}
		}
	} else {
		l.minute.add(now)
		l.hour.add(now)
	}
	// Report the window with the fewest requests left.
	for _, w := range []*window{&l.minute, &l.hour} {
		if w.limit <= 0 {
			continue
		}
		rem := w.limit - w.n
		if !v.limited || rem < v.remaining {
			v.limited, v.limit, v.remaining, v.reset = true, w.limit, rem, w.untilFree(now)
		}
	}
	return v
}

func (w *window) full() bool { return w.limit > 0 && w.n >= w.limit }

func (w *window) expire(now int64) {
	for w.n > 0 && w.times[w.first] <= now-w.span {
		w.first = (w.first + 1) % len(w.times)
		w.n--
	}
}

func (w *window) add(now int64) {
	if w.limit <= 0 {
		return
	}
	if w.n == len(w.times) {
		// Grow (up to the limit), unrolling the ring.
		grown := make([]int64, min(max(2*len(w.times), 16), w.limit))
		for i := 0; i < w.n; i++ {
			grown[i] = w.times[(w.first+i)%len(w.times)]
		}
		w.times, w.first = grown, 0
	}
	w.times[(w.first+w.n)%len(w.times)] = now
	w.n++
}

// untilFree is how long until the oldest request leaves the window.
func (w *window) untilFree(now int64) time.Duration {
	if w.n == 0 {
		return 0
	}
	return time.Duration(w.times[w.first] + w.span - now)
}
