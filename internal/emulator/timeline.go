package emulator

import (
	"math"
	"math/bits"
	"sort"
	"time"
)

// A timeline says when event i of a stream was ingested by the (emulated)
// 1Password servers. Ingestion times grow with i; the position a cursor holds
// is an index into it. Events 0..events-1 are preloaded, spread evenly over
// span before start; after start one more arrives every interval.
type timeline struct {
	start    int64   // Unix ns when the emulator started
	span     int64   // ns over which the preloaded events are spread
	events   int     // number of preloaded events
	interval float64 // ns between live events; 0 means no live traffic
}

func newTimeline(start time.Time, span time.Duration, events int, perMinute float64) timeline {
	t := timeline{start: start.UnixNano(), span: int64(span), events: events}
	if perMinute > 0 {
		t.interval = float64(time.Minute) / perMinute
	}
	return t
}

// ingest returns the ingestion time of event i in Unix ns (MaxInt64 when
// no such event will ever exist).
func (t *timeline) ingest(i int) int64 {
	if i < t.events {
		// span*(i+1)/events without overflow.
		hi, lo := bits.Mul64(uint64(t.span), uint64(i+1))
		q, _ := bits.Div64(hi, lo, uint64(t.events))
		return t.start - t.span + int64(q)
	}
	if t.interval == 0 {
		return math.MaxInt64
	}
	return t.start + int64(math.Ceil(float64(i-t.events+1)*t.interval))
}

// maxGap bounds the time between the ingestion of two consecutive events.
func (t *timeline) maxGap() int64 {
	g := int64(t.interval) + 1
	if t.events > 0 {
		g = max(g, t.span/int64(t.events)+1)
	}
	return g
}

// head returns how many events have been ingested at now (Unix ns): the
// index of the first event not yet visible.
func (t *timeline) head(now int64) int {
	if now < t.start {
		return sort.Search(t.events, func(i int) bool { return t.ingest(i) > now })
	}
	if t.interval == 0 {
		return t.events
	}
	// The float estimate can be off by one either way; ingest decides.
	k := int(float64(now-t.start) / t.interval)
	for k > 0 && t.ingest(t.events+k-1) > now {
		k--
	}
	for t.ingest(t.events+k) <= now {
		k++
	}
	return t.events + k
}

// first returns the first index in [0, head] ingested at or after ns.
func (t *timeline) first(ns int64, head int) int {
	return sort.Search(head, func(i int) bool { return t.ingest(i) >= ns })
}

// The three event streams. Their order is the index used in cursors.
const (
	signInAttempts = iota
	itemUsages
	auditEvents
	numFeatures
)

var featureNames = [numFeatures]string{"signinattempts", "itemusages", "auditevents"}

func featureIndex(name string) int {
	for i, f := range featureNames {
		if f == name {
			return i
		}
	}
	return -1
}

// maxJitter bounds how long after it happened an ordinary event is ingested.
const maxJitter = int64(2 * time.Second)

// A stream is one account's events of one type. Event i's timestamp is its
// ingestion time minus an offset drawn from (stream, i): a small jitter, and
// for a fraction of item usages hours of lateness (clients sync late).
type stream struct {
	feature   int
	key       uint64 // seeds event i's content
	tsKey     uint64 // seeds event i's offset, so scanning needs no content
	late      float64
	minLate   int64
	maxLate   int64
	maxOffset int64 // the largest offset: how far past end_time to scan
	// With planted scenarios, an audit event that follows another by
	// pairGap (a service account's token after the account) takes its
	// time from it.
	tl    *timeline
	sched *schedule
}

func newStream(accountKey uint64, feature int, lateFraction float64, maxLateness time.Duration) stream {
	s := stream{feature: feature, key: mix(accountKey ^ uint64(feature+1)*0x5851f42d4c957f2d)}
	s.tsKey = mix(s.key ^ 0x74696d657374616d) // "timestam"
	s.maxOffset = maxJitter
	if feature == itemUsages && lateFraction > 0 && maxLateness > 0 {
		s.late = lateFraction
		s.maxLate = int64(maxLateness)
		s.minLate = s.maxLate / 6
		s.maxOffset += s.maxLate
	}
	return s
}

// pairGap is how long after a service account its first token is created
// (as in 1Password's own audit log).
const pairGap = int64(11 * time.Millisecond)

// offset returns how long before its ingestion event i happened, in ns.
func (s *stream) offset(i int) int64 {
	if s.sched != nil && i >= 0 {
		if k, o, ok := s.sched.block(i); ok && planted(kindOf(k), s.feature, o) {
			// Planted events keep their order: no jitter, and the second of
			// a pair right after the first, however far apart their
			// ingestion.
			if s.sched.follows(s.feature, i) {
				return max(0, s.tl.ingest(i)-s.tl.ingest(i-1)-pairGap)
			}
			return 0
		}
	}
	return s.baseOffset(i)
}

// baseOffset is offset without planted events.
func (s *stream) baseOffset(i int) int64 {
	h := mix(s.tsKey + uint64(i)*gamma)
	off := int64(h % uint64(maxJitter))
	if s.late > 0 {
		h2 := mix(h)
		if float64(h2>>11)/(1<<53) < s.late {
			off += s.minLate + int64(mix(h2)%uint64(s.maxLate-s.minLate+1))
		}
	}
	return off
}

// eventRNG returns the generator of event i's content.
func (s *stream) eventRNG(i int) rng { return newRNG(s.key + uint64(i)*gamma) }
