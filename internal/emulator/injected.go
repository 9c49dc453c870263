package emulator

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// Injected events are the few events a test or a fixture file puts at the
// tail of a stream's ingestion order, beside the generated ones: a specific
// late event (InjectLate) or a real payload (LoadFixtures). They are kept in
// memory, unlike generated events, so their number is capped.
const maxInjected = 1 << 20

// injected is one injected event. Generated ones (InjectLate) are made by
// the event generator from a negative index, so they have both API shapes
// like every other event; fixtures carry their own bytes for each version.
type injected struct {
	ing  int64     // ingestion time, Unix ns; never decreases along the list
	ts   int64     // event time, Unix ns
	gen  int       // generator index (negative) when raw is empty
	raw  [2][]byte // v1, v2 bodies of a fixture event
	uuid string
}

// injectedList is one stream's injected events, in ingestion order. It only
// grows, so a snapshot (the slice header) stays valid without the lock.
type injectedList struct {
	mu     sync.Mutex
	events []injected
}

func (l *injectedList) snapshot() []injected {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.events
}

// add appends x at the tail, ingested at now (or after the previous one if
// the clock went back, so that the order stays the ingestion order).
// finish, when not nil, completes x (its uuid) once its place is known.
func (l *injectedList) add(x injected, now int64, finish func(*injected)) (injected, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.events) >= maxInjected {
		return x, fmt.Errorf("emulator: already %d injected events in this stream", maxInjected)
	}
	x.ing = now
	if n := len(l.events); n > 0 && l.events[n-1].ing > now {
		x.ing = l.events[n-1].ing
	}
	if x.raw[0] == nil {
		x.gen = -1 - len(l.events)
	}
	if finish != nil {
		finish(&x)
	}
	l.events = append(l.events, x)
	return x, nil
}

// visible returns how many of xs are ingested at now.
func visible(xs []injected, now int64) int {
	return sort.Search(len(xs), func(j int) bool { return xs[j].ing > now })
}

// firstInjected returns the first index of xs ingested at or after ns.
func firstInjected(xs []injected, ns int64) int {
	return sort.Search(len(xs), func(j int) bool { return xs[j].ing >= ns })
}

// appendInjected appends injected event x as API version serves it.
func (a *account) appendInjected(b []byte, f int, x *injected, version int) []byte {
	if x.raw[0] != nil {
		return append(b, x.raw[version-1]...)
	}
	return a.appendEvent(b, f, x.gen, x.ts, version)
}

// InjectLate puts one event of feature ("signinattempts", "itemusages",
// "auditevents") into account's stream ("" for the default account): it is
// ingested now, at the tail of the ingestion order, but happened at
// eventTime, which may be long before (a client that synced late). It
// returns the event's uuid. Tests use it to prove a client does not lose a
// late event; whether a cursor brings it depends on Options.CursorModel.
func (e *Emulator) InjectLate(account, feature string, eventTime time.Time) (string, error) {
	a, err := e.account(account)
	if err != nil {
		return "", err
	}
	f := featureIndex(feature)
	if f < 0 {
		return "", fmt.Errorf("emulator: unknown feature %q: want signinattempts, itemusages or auditevents", feature)
	}
	now := e.now().UnixNano()
	ts := clampUnixNano(eventTime)
	if ts > now {
		return "", fmt.Errorf("emulator: late event time %v is after now: a late event happened in the past", eventTime)
	}
	x, err := a.injected[f].add(injected{ts: ts}, now, func(x *injected) {
		b := a.appendEvent(nil, f, x.gen, x.ts, 2)
		x.uuid = string(b[9:35]) // every event starts {"uuid":"<26 characters>"
	})
	if err != nil {
		return "", err
	}
	return x.uuid, nil
}

// each calls fn with the stream's events ingested at now, generated and
// injected, in ingestion order, from position (pos, inj), until fn returns
// false. At equal ingestion times a generated event comes first: it was
// visible before the injection that happened at that instant.
func (e *Emulator) each(a *account, f int, now int64, fn func(i int, x *injected) bool) {
	head := e.tl.head(now)
	xs := a.injected[f].snapshot()
	xs = xs[:visible(xs, now)]
	i, j := 0, 0
	for i < head || j < len(xs) {
		if j == len(xs) || i < head && e.tl.ingest(i) <= xs[j].ing {
			if !fn(i, nil) {
				return
			}
			i++
			continue
		}
		if !fn(-1, &xs[j]) {
			return
		}
		j++
	}
}
