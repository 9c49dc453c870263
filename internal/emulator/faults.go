package emulator

import (
	"fmt"
	"time"
)

// Faults are per-request failure probabilities, each from 0 to 1 and
// together at most 1 (a request suffers at most one fault). Drop and Truncate
// abort the handler with http.ErrAbortHandler, which a net/http server turns
// into a closed connection: use them with a real server (Start, httptest),
// not by calling Handler's ServeHTTP directly.
type Faults struct {
	Error500 float64 // answer 500 Internal Server Error
	Error503 float64 // answer 503 Service Unavailable with Retry-After: 1
	Slow     float64 // wait SlowDelay, then answer normally
	Drop     float64 // close the connection without answering
	Truncate float64 // send the headers and half the body, then close
	// SlowDelay is how long a slow response waits; default 2s.
	SlowDelay time.Duration
}

// FaultKind names one kind of injected failure, for FailNext.
type FaultKind int

// The fault kinds. NoFault serves normally.
const (
	NoFault FaultKind = iota
	FaultError500
	FaultError503
	FaultSlow
	FaultDrop
	FaultTruncate
)

func (k FaultKind) String() string {
	switch k {
	case NoFault:
		return "none"
	case FaultError500:
		return "500"
	case FaultError503:
		return "503"
	case FaultSlow:
		return "slow"
	case FaultDrop:
		return "drop"
	case FaultTruncate:
		return "truncate"
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

const defaultSlowDelay = 2 * time.Second

func (f Faults) validate() error {
	sum := 0.0
	for _, p := range []struct {
		name string
		v    float64
	}{{"Error500", f.Error500}, {"Error503", f.Error503}, {"Slow", f.Slow}, {"Drop", f.Drop}, {"Truncate", f.Truncate}} {
		if !(p.v >= 0 && p.v <= 1) {
			return fmt.Errorf("fault probability %s = %v: want a number from 0 to 1", p.name, p.v)
		}
		sum += p.v
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("fault probabilities add up to %v: want at most 1", sum)
	}
	if f.SlowDelay < 0 {
		return fmt.Errorf("slow delay %v: want a positive duration", f.SlowDelay)
	}
	return nil
}

// drawFault decides the fault of the next request: the queue of FailNext
// first, then the probabilities, drawn from a generator seeded by Seed.
func (e *Emulator) drawFault() (FaultKind, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delay := e.faults.SlowDelay
	if delay == 0 {
		delay = defaultSlowDelay
	}
	if len(e.failNext) > 0 {
		k := e.failNext[0]
		e.failNext = e.failNext[1:]
		return k, delay
	}
	f := e.faults
	if f.Error500+f.Error503+f.Slow+f.Drop+f.Truncate == 0 {
		return NoFault, 0
	}
	x := e.faultRNG.float()
	for _, c := range []struct {
		p float64
		k FaultKind
	}{{f.Error500, FaultError500}, {f.Error503, FaultError503}, {f.Slow, FaultSlow}, {f.Drop, FaultDrop}, {f.Truncate, FaultTruncate}} {
		if x < c.p {
			return c.k, delay
		}
		x -= c.p
	}
	return NoFault, 0
}

// SetFaults replaces the fault probabilities at run time. Invalid values
// (outside 0..1) are clamped.
func (e *Emulator) SetFaults(f Faults) {
	clamp := func(p *float64) {
		if !(*p >= 0) {
			*p = 0
		}
		if *p > 1 {
			*p = 1
		}
	}
	clamp(&f.Error500)
	clamp(&f.Error503)
	clamp(&f.Slow)
	clamp(&f.Drop)
	clamp(&f.Truncate)
	if f.SlowDelay < 0 {
		f.SlowDelay = 0
	}
	e.mu.Lock()
	e.faults = f
	e.mu.Unlock()
}

// FailNext makes the next n requests (to any known route) fail with kind k,
// before any probabilistic fault.
func (e *Emulator) FailNext(k FaultKind, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ; n > 0; n-- {
		e.failNext = append(e.failNext, k)
	}
}
