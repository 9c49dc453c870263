package retention

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"
)

const day = 24 * time.Hour

// memStore holds event times per log type, and quarantine times.
type memStore struct {
	mu      sync.Mutex
	events  map[string][]time.Time // sorted
	quar    []time.Time
	batches []int // sizes asked, in order
	fail    map[string]error
	onPurge func() // called by each PurgeEvents, outside the lock
}

func (m *memStore) purge(ts *[]time.Time, before time.Time, batch int) int {
	n := 0
	for n < len(*ts) && n < batch && (*ts)[n].Before(before) {
		n++
	}
	*ts = (*ts)[n:]
	return n
}

func (m *memStore) PurgeEvents(ctx context.Context, lt string, before time.Time, batch int) (int, error) {
	if m.onPurge != nil {
		m.onPurge()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := m.fail[lt]; err != nil {
		return 0, err
	}
	m.batches = append(m.batches, batch)
	ts := m.events[lt]
	n := m.purge(&ts, before, batch)
	m.events[lt] = ts
	return n, nil
}

func (m *memStore) PurgeQuarantine(ctx context.Context, before time.Time, batch int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.purge(&m.quar, before, batch), nil
}

func (m *memStore) left() (map[string]int, int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for lt, ts := range m.events {
		out[lt] = len(ts)
	}
	return out, len(m.quar)
}

// times is n times one minute apart from at.
func times(at time.Time, n int) []time.Time {
	var out []time.Time
	for i := range n {
		out = append(out, at.Add(time.Duration(i)*time.Minute))
	}
	return out
}

type wait struct {
	d  time.Duration
	ch chan time.Time
}

// fakeClock hands every After to the test, which fires it: the sweeper
// waits exactly when and as long as the test says.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan wait
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- wait{d, ch}
	return ch
}

// next is the sweeper's next wait; it fails unless it is for d.
func (c *fakeClock) next(t *testing.T, d time.Duration) wait {
	t.Helper()
	w := <-c.waits
	if w.d != d {
		t.Fatalf("the sweeper waits %v, want %v", w.d, d)
	}
	return w
}

// fire moves the clock by w's duration and ends the wait.
func (c *fakeClock) fire(w wait) {
	c.mu.Lock()
	c.now = c.now.Add(w.d)
	now := c.now
	c.mu.Unlock()
	w.ch <- now
}

func TestRun(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ms := &memStore{events: map[string][]time.Time{
		// 25 past the year, 5 within it.
		"SignIn": append(times(now.Add(-400*day), 25), times(now.Add(-10*day), 5)...),
		// A log type kept forever.
		"Audit": times(now.Add(-1000*day), 3),
		// Usage: 30 days; its events age past it between sweeps.
		"Usage": times(now.Add(-30*day+30*time.Minute), 4),
	}, quar: append(times(now.Add(-40*day), 3), now)}
	clock := &fakeClock{now: now, waits: make(chan wait)}
	sw := New(Config{Store: ms, Clock: clock, Batch: 10, Pause: time.Second, Every: time.Hour,
		Events: map[string]time.Duration{"SignIn": 365 * day, "Audit": 0, "Usage": 30 * day}, Quarantine: 30 * day})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- sw.Run(ctx) }()

	// First sweep: SignIn in batches of 10 with a pause after each full
	// one (10, 10, 5), nothing of Usage yet, the old quarantine.
	for range 2 {
		clock.fire(clock.next(t, time.Second))
	}
	w := clock.next(t, time.Hour) // the sweep is over
	left, quar := ms.left()
	if want := map[string]int{"SignIn": 5, "Audit": 3, "Usage": 4}; !reflect.DeepEqual(left, want) || quar != 1 {
		t.Errorf("after the first sweep: %v and %d quarantined, want %v and 1", left, quar, want)
	}
	if !slices.Equal(ms.batches, []int{10, 10, 10, 10}) {
		t.Errorf("batches asked %v, want four of 10 (three for SignIn, one for Usage)", ms.batches)
	}
	// An hour later, Usage's events are past 30 days.
	clock.fire(w)
	clock.next(t, time.Hour)
	if left, _ := ms.left(); left["Usage"] != 0 || left["SignIn"] != 5 || left["Audit"] != 3 {
		t.Errorf("after the second sweep: %v, want Usage's gone", left)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil at the end of its context", err)
	}
}

// A log type that fails does not stop the others, and the sweep says so.
func TestSweepError(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	boom := errors.New("disk full")
	ms := &memStore{events: map[string][]time.Time{"A": times(now.Add(-5*day), 2), "B": times(now.Add(-5*day), 2)},
		fail: map[string]error{"A": boom}}
	clock := &fakeClock{now: now, waits: make(chan wait)}
	sw := New(Config{Store: ms, Clock: clock, Events: map[string]time.Duration{"A": day, "B": day}})
	res, err := sw.Sweep(context.Background())
	if !errors.Is(err, boom) || res.Events["B"] != 2 {
		t.Errorf("Sweep = %+v, %v; want B's 2 deleted and A's error", res, err)
	}
	if sw.cfg.Batch != DefaultBatch || sw.cfg.Every != DefaultEvery {
		t.Errorf("defaults: batch %d, every %v", sw.cfg.Batch, sw.cfg.Every)
	}
}

// A sweep stops at the end of its context, even in a pause.
func TestSweepCancelled(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	ms := &memStore{events: map[string][]time.Time{"A": times(now.Add(-5*day), 30)}}
	clock := &fakeClock{now: now, waits: make(chan wait)}
	sw := New(Config{Store: ms, Clock: clock, Batch: 10, Events: map[string]time.Duration{"A": day}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := sw.Sweep(ctx)
		done <- err
	}()
	clock.next(t, DefaultPause) // in the pause after the first batch
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Sweep = %v, want context.Canceled", err)
	}
	if left, _ := ms.left(); left["A"] != 20 {
		t.Errorf("%d left, want 20 (one batch)", left["A"])
	}
}

// A batch that takes longer than the pause is followed by a pause as long
// as it took: a sweep holds the writer half the time at most.
func TestPauseFollowsBatchTime(t *testing.T) {
	now := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	clock := &fakeClock{now: now, waits: make(chan wait)}
	ms := &memStore{events: map[string][]time.Time{"A": times(now.Add(-5*day), 25)},
		onPurge: func() { clock.mu.Lock(); clock.now = clock.now.Add(3 * time.Second); clock.mu.Unlock() }}
	sw := New(Config{Store: ms, Clock: clock, Batch: 10, Pause: time.Second, Events: map[string]time.Duration{"A": day}})
	done := make(chan error)
	go func() {
		_, err := sw.Sweep(context.Background())
		done <- err
	}()
	for range 2 {
		clock.fire(clock.next(t, 3*time.Second))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if left, _ := ms.left(); left["A"] != 0 {
		t.Errorf("%d left, want 0", left["A"])
	}
}
