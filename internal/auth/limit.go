package auth

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// limiter slows down password guessing: each key (a remote address, a user
// name) may fail free times; every failure after that locks the key for a
// delay that doubles, up to maxDelay. A key with no failure for forget is
// forgotten. It lives in memory (each replica counts its own) and holds at
// most max keys, so a flood of addresses or names cannot grow it without
// bound: when full it drops forgotten keys, then the stalest unlocked one.
type limiter struct {
	free     int
	base     time.Duration
	maxDelay time.Duration
	forget   time.Duration
	max      int

	mu sync.Mutex
	m  map[string]*strikes
}

type strikes struct {
	fails int
	last  time.Time // the last failure
	until time.Time // locked until then
}

func newLimiter() *limiter {
	return &limiter{free: 5, base: time.Second, maxDelay: 15 * time.Minute, forget: time.Hour, max: 10000,
		m: make(map[string]*strikes)}
}

// stale reports whether st can be forgotten at now.
func (l *limiter) stale(st *strikes, now time.Time) bool {
	return !now.Before(st.until) && now.Sub(st.last) >= l.forget
}

// wait is how long the longest-locked of keys stays locked; 0 if none is.
func (l *limiter) wait(now time.Time, keys ...string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var d time.Duration
	for _, k := range keys {
		if st := l.m[k]; st != nil && st.until.After(now) {
			d = max(d, st.until.Sub(now))
		}
	}
	return d
}

// fail counts a failure of each key at now.
func (l *limiter) fail(now time.Time, keys ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, k := range keys {
		st := l.m[k]
		if st != nil && l.stale(st, now) {
			st = nil
			delete(l.m, k)
		}
		if st == nil {
			l.makeRoom(now)
			st = &strikes{}
			l.m[k] = st
		}
		st.fails++
		st.last = now
		if over := st.fails - l.free; over >= 0 {
			d := l.maxDelay
			if over < 30 && l.base<<over < l.maxDelay {
				d = l.base << over
			}
			st.until = now.Add(d)
		}
	}
}

// reset forgets key's failures (a user who signed in).
func (l *limiter) reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.m, key)
}

// makeRoom frees a place for a new key when the map is full.
func (l *limiter) makeRoom(now time.Time) {
	if len(l.m) < l.max {
		return
	}
	for k, st := range l.m {
		if l.stale(st, now) {
			delete(l.m, k)
		}
	}
	for len(l.m) >= l.max {
		// The stalest key that is not locked goes first: a flood of new
		// keys must not free a locked one while any other can go.
		var oldest string
		var at time.Time
		locked := true
		for k, st := range l.m {
			lk := st.until.After(now)
			if oldest == "" || (locked && !lk) || (locked == lk && st.last.Before(at)) {
				oldest, at, locked = k, st.last, lk
			}
		}
		delete(l.m, oldest)
	}
}

// remoteKey is the limiter's key for a request's peer: its address, or for
// IPv6 its /64, which one host usually holds whole. X-Forwarded-For is not
// trusted: behind a proxy every request comes from the proxy, and the user
// name's limit still holds.
func remoteKey(remoteAddr string) string {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "ip:" + host
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		return "ip:" + p.String()
	}
	return "ip:" + a.String()
}
