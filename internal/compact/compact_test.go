package compact

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// memStore holds the times events were stored, oldest first; compacting
// drops them from the front.
type memStore struct {
	mu       sync.Mutex
	hot      []time.Time
	moved    int
	cuts     []time.Time // storedBefore of each CompactEvents call
	batches  []int
	reclaims []bool
	fail     error  // CompactEvents fails while set
	onCall   func() // called by each CompactEvents, outside the lock
}

func (m *memStore) CompactEvents(ctx context.Context, before time.Time, max int) (store.CompactResult, error) {
	if m.onCall != nil {
		m.onCall()
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cuts = append(m.cuts, before)
	if m.fail != nil {
		return store.CompactResult{}, m.fail
	}
	n := 0
	for n < len(m.hot) && n < max && m.hot[n].Before(before) {
		n++
	}
	m.hot = m.hot[n:]
	m.moved += n
	m.batches = append(m.batches, n)
	if n == 0 {
		return store.CompactResult{}, nil
	}
	return store.CompactResult{Events: n, Segments: (n + 9) / 10, RawBytes: int64(100 * n), Bytes: int64(10 * n)}, nil
}

func (m *memStore) ReclaimSpace(ctx context.Context, full bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reclaims = append(m.reclaims, full)
	return nil
}

func (m *memStore) state() (hot, moved int, batches []int, reclaims []bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.hot), m.moved, slices.Clone(m.batches), slices.Clone(m.reclaims)
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

// fakeClock hands every After to the test, which fires it: the compactor
// waits exactly when and as long as the test says.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan wait
}

func newClock(now time.Time) *fakeClock { return &fakeClock{now: now, waits: make(chan wait)} }

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

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// next is the compactor's next wait; it fails unless it is for d.
func (c *fakeClock) next(t *testing.T, d time.Duration) wait {
	t.Helper()
	w := <-c.waits
	if w.d != d {
		t.Fatalf("the compactor waits %v, want %v", w.d, d)
	}
	return w
}

// fire moves the clock by w's duration and ends the wait.
func (c *fakeClock) fire(w wait) {
	c.advance(w.d)
	w.ch <- c.Now()
}

const day = 24 * time.Hour

var start = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

// A pass compacts in batches, with a pause after each full one, until a
// call moves nothing, then reclaims; the next pass an hour later takes
// what aged past the cut meanwhile.
func TestRun(t *testing.T) {
	// 25 events stored two days ago, 4 stored 23h30m ago (due in an
	// hour), 3 just now.
	ms := &memStore{hot: slices.Concat(times(start.Add(-2*day), 25), times(start.Add(-day+30*time.Minute), 4), times(start, 3))}
	clock := newClock(start)
	var logs bytes.Buffer
	c := New(Config{Store: ms, Clock: clock, Batch: 10, Pause: time.Second, Every: time.Hour,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()

	for range 2 { // after the batches of 10, 10; none after the 5
		clock.fire(clock.next(t, time.Second))
	}
	w := clock.next(t, time.Hour) // the pass is over
	hot, moved, batches, reclaims := ms.state()
	if hot != 7 || moved != 25 || !slices.Equal(batches, []int{10, 10, 5, 0}) || !slices.Equal(reclaims, []bool{false}) {
		t.Errorf("after the first pass: %d hot, %d moved, batches %v, reclaims %v; want 7, 25, [10 10 5 0], [false]",
			hot, moved, batches, reclaims)
	}
	if want := start.Add(-day); !ms.cuts[0].Equal(want) {
		t.Errorf("the cut is %v, want now less a day (%v)", ms.cuts[0], want)
	}
	if !strings.Contains(logs.String(), "compacted events") || !strings.Contains(logs.String(), "events=25") {
		t.Errorf("the pass logged %q, want the events it compacted", logs.String())
	}
	clock.fire(w)
	clock.next(t, time.Hour)
	if hot, moved, _, reclaims := ms.state(); hot != 3 || moved != 29 || len(reclaims) != 2 {
		t.Errorf("after the second pass: %d hot, %d moved, %d reclaims; want 3, 29, 2", hot, moved, len(reclaims))
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v, want nil at the end of its context", err)
	}
}

// A pass that fails is logged, the space is still reclaimed, and the next
// pass tries again.
func TestRunRetriesAfterError(t *testing.T) {
	boom := errors.New("database is locked")
	ms := &memStore{hot: times(start.Add(-2*day), 5), fail: boom}
	clock := newClock(start)
	var logs bytes.Buffer
	c := New(Config{Store: ms, Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- c.Run(ctx) }()

	w := clock.next(t, DefaultEvery)
	if hot, _, _, reclaims := ms.state(); hot != 5 || len(reclaims) != 1 {
		t.Errorf("after a failed pass: %d hot, %d reclaims; want 5 and 1", hot, len(reclaims))
	}
	if !strings.Contains(logs.String(), "compaction failed") || !strings.Contains(logs.String(), "database is locked") {
		t.Errorf("the failure logged %q", logs.String())
	}
	ms.mu.Lock()
	ms.fail = nil
	ms.mu.Unlock()
	clock.fire(w)
	clock.next(t, DefaultEvery)
	if hot, moved, _, _ := ms.state(); hot != 0 || moved != 5 {
		t.Errorf("the next pass: %d hot, %d moved; want all 5 moved", hot, moved)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run = %v", err)
	}
}

// A pass stops at the end of its context, even in a pause, and reclaims
// nothing then.
func TestPassCancelled(t *testing.T) {
	ms := &memStore{hot: times(start.Add(-2*day), 30)}
	clock := newClock(start)
	c := New(Config{Store: ms, Clock: clock, Batch: 10})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := c.Pass(ctx)
		done <- err
	}()
	clock.next(t, DefaultPause) // in the pause after the first batch
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Pass = %v, want context.Canceled", err)
	}
	if hot, _, _, reclaims := ms.state(); hot != 20 || len(reclaims) != 0 {
		t.Errorf("%d hot, %d reclaims; want 20 (one batch) and none", hot, len(reclaims))
	}
}

// A batch that takes longer than the pause is followed by a pause as long
// as it took, unless eager; with a negative pause there is none, and the
// result adds the batches up.
func TestPauses(t *testing.T) {
	clock := newClock(start)
	ms := &memStore{hot: times(start.Add(-2*day), 25), onCall: func() { clock.advance(3 * time.Second) }}
	c := New(Config{Store: ms, Clock: clock, Batch: 10, Pause: time.Second})
	done := make(chan error)
	go func() {
		_, err := c.Pass(context.Background())
		done <- err
	}()
	for range 2 {
		clock.fire(clock.next(t, 3*time.Second))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Eager: the pause alone.
	ms.hot = times(start.Add(-2*day), 25)
	c = New(Config{Store: ms, Clock: clock, Batch: 10, Pause: time.Second, Eager: true})
	go func() {
		_, err := c.Pass(context.Background())
		done <- err
	}()
	for range 2 {
		clock.fire(clock.next(t, time.Second))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	ms = &memStore{hot: times(start.Add(-2*day), 25)}
	var seen []int
	c = New(Config{Store: ms, Clock: clock, Batch: 10, Pause: -1, Full: true,
		OnBatch: func(r store.CompactResult) { seen = append(seen, r.Events) }})
	res, err := c.Pass(context.Background()) // a wait would block: nobody fires it
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 25 || res.Segments != 3 || res.RawBytes != 2500 || res.Bytes != 250 || res.Ratio() != 10 || res.Batches != 3 {
		t.Errorf("result %+v, want 25 events in 3 segments, 2500 raw bytes, 250 stored, ratio 10, 3 batches", res)
	}
	if _, _, _, reclaims := ms.state(); !slices.Equal(reclaims, []bool{true}) || !slices.Equal(seen, []int{10, 10, 5}) {
		t.Errorf("reclaims %v (want one full), batches seen %v", reclaims, seen)
	}
}

func TestDefaults(t *testing.T) {
	c := New(Config{Store: &memStore{}})
	if c.cfg.After != day || c.cfg.Every != time.Hour || c.cfg.Batch != 20000 || c.cfg.Pause != DefaultPause {
		t.Errorf("defaults: %+v", c.cfg)
	}
}
