package ingest

import (
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"time"
)

// nextSlot returns the first time after now in the stream's slot: every
// stream is polled once per interval at a fixed offset derived from its id,
// so many streams spread across the interval instead of firing together (as
// prometheus offsets rule groups).
func nextSlot(streamID int64, interval time.Duration, now time.Time) time.Time {
	if interval <= 0 {
		interval = time.Minute
	}
	h := fnv.New64a()
	h.Write([]byte(strconv.FormatInt(streamID, 10)))
	offset := time.Duration(h.Sum64() % uint64(interval))
	base := now.Truncate(interval).Add(offset)
	for !base.After(now) {
		base = base.Add(interval)
	}
	return base
}

// Backoff after consecutive failures: base·2^(n-1), capped, with jitter in
// [0.5, 1) so that streams failing together do not retry together. The
// failure count lives in the stream row, so backoff survives restarts.
const (
	backoffBase = 5 * time.Second
	backoffCap  = 15 * time.Minute
)

func backoff(failures int, rnd func() float64) time.Duration {
	if failures < 1 {
		failures = 1
	}
	d := backoffBase
	for i := 1; i < failures && d < backoffCap; i++ {
		d *= 2
	}
	d = min(d, backoffCap)
	if rnd == nil {
		rnd = rand.Float64
	}
	return time.Duration(float64(d) * (0.5 + rnd()/2))
}
