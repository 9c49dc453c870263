package onepassword

import (
	"bytes"
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

// fakeTime is the shared clock of the emulator and the client's retries:
// time moves only when the client sleeps, so Retry-After minutes pass at once.
type fakeTime struct {
	base time.Time
	off  atomic.Int64
}

func (c *fakeTime) Now() time.Time { return c.base.Add(time.Duration(c.off.Load())) }

func (c *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	c.off.Add(int64(d))
	return ctx.Err()
}

// itemUUID reads the uuid of an event cheaply: the emulator writes it first.
// Bytes are compared separately, by hash, against what the emulator serves.
func itemUUID(it []byte) string {
	const key = `{"uuid":"`
	if !bytes.HasPrefix(it, []byte(key)) {
		return ""
	}
	rest := it[len(key):]
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return ""
	}
	return string(rest[:end])
}

// TestRoundTripEmulator drains every stream of the emulator through 429s,
// 500s, 503s, dropped connections and truncated bodies, and checks that each
// event arrives exactly once, byte for byte as the emulator serves it.
func TestRoundTripEmulator(t *testing.T) {
	events := 100000
	if testing.Short() || raceEnabled {
		events = 5000
	}
	clock := &fakeTime{base: time.Now()}
	e, err := emulator.Start(emulator.Options{
		Seed: 7, Events: events, Now: clock.Now,
		RateLimitPerMinute: 8, RateLimitPerHour: -1,
		Faults: emulator.Faults{Error500: 0.03, Error503: 0.02, Drop: 0.02, Truncate: 0.02},
	}, "127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	// Each fault at least once, whatever the dice say.
	for _, k := range []emulator.FaultKind{emulator.FaultError500, emulator.FaultDrop, emulator.FaultTruncate, emulator.FaultError503} {
		e.FailNext(k, 1)
	}
	token, err := e.IssueToken(emulator.TokenOptions{})
	if err != nil {
		t.Fatal(err)
	}

	streams := []struct {
		feature Feature
		version int
	}{{SignInAttempts, 1}, {ItemUsages, 2}, {AuditEvents, 2}}
	seed := maphash.MakeSeed()
	var wg sync.WaitGroup
	got := make([]map[string]uint64, len(streams))
	for i, s := range streams {
		c, err := New(Options{
			// The emulator's tokens may name the real host, as the demo's do.
			Token: token, BaseURL: e.URL(), AllowOtherHost: true, APIVersion: s.version, RequestTimeout: 10 * time.Second,
			Retry: RetryPolicy{MaxAttempts: 20, Sleep: clock.Sleep},
		})
		if err != nil {
			t.Fatal(err)
		}
		if c.Host() != e.Host() {
			t.Errorf("the token's audience %s is not the emulator's host %s", c.Host(), e.Host())
		}
		wg.Go(func() {
			seen := make(map[string]uint64, events)
			pages := 0
			err := c.Drain(context.Background(), s.feature, Request{Limit: 1000, StartTime: clock.Now().Add(-30 * 24 * time.Hour)}, func(p Page) error {
				pages++
				for _, it := range p.Items {
					uuid := itemUUID(it)
					if uuid == "" {
						t.Errorf("%s: item without uuid: %.100s", s.feature, it)
						continue
					}
					if _, dup := seen[uuid]; dup {
						t.Errorf("%s: event %s received twice", s.feature, uuid)
					}
					seen[uuid] = maphash.Bytes(seed, it)
				}
				return nil
			})
			if err != nil {
				t.Errorf("%s: drain: %v", s.feature, err)
			}
			got[i] = seen
			t.Logf("%s v%d: %d events in %d pages", s.feature, s.version, len(seen), pages)
		})
	}
	wg.Wait()

	for i, s := range streams {
		want := 0
		e.Each("", string(s.feature), s.version, func(uuid string, raw []byte) bool {
			want++
			h, ok := got[i][uuid]
			switch {
			case !ok:
				t.Errorf("%s: event %s never received", s.feature, uuid)
			case h != maphash.Bytes(seed, raw):
				t.Errorf("%s: event %s received with other bytes than served", s.feature, uuid)
			}
			return !t.Failed()
		})
		if want != events || len(got[i]) != want {
			t.Errorf("%s: received %d events, the emulator has %d (of %d)", s.feature, len(got[i]), want, events)
		}
	}

	// The faults really happened.
	faults := map[string]int{}
	for k, n := range e.Requests() {
		for _, f := range []string{" 429", " 500", " 503", "dropped", "truncated"} {
			if strings.HasSuffix(k, f) {
				faults[strings.TrimSpace(f)] += n
			}
		}
	}
	t.Logf("faults served: %v", faults)
	for _, f := range []string{"429", "500", "503", "dropped", "truncated"} {
		if faults[f] == 0 {
			t.Errorf("no %s was served; the test did not exercise it", f)
		}
	}
}
