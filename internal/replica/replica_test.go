package replica

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// memCoord is store.Coordination in memory on the (fake) clock, with a
// switch that cuts one replica off the store.
type memCoord struct {
	mu      sync.Mutex
	leases  map[string]store.StageLease
	replica map[string]store.Replica
	cut     map[string]bool // owner → its calls fail
}

func newMemCoord() *memCoord {
	return &memCoord{leases: map[string]store.StageLease{}, replica: map[string]store.Replica{}, cut: map[string]bool{}}
}

var errCut = errors.New("store unreachable")

func (m *memCoord) Heartbeat(ctx context.Context, r store.Replica, forget time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cut[r.ID] {
		return errCut
	}
	r.SeenAt = time.Now()
	m.replica[r.ID] = r
	return nil
}

func (m *memCoord) Replicas(ctx context.Context) ([]store.Replica, error) { return nil, nil }

func (m *memCoord) ClaimStage(ctx context.Context, stage, owner string, lease time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cut[owner] {
		return false, errCut
	}
	l, ok := m.leases[stage]
	if ok && l.Owner != owner && time.Now().Before(l.Until) {
		return false, nil
	}
	m.leases[stage] = store.StageLease{Stage: stage, Owner: owner, Until: time.Now().Add(lease)}
	return true, nil
}

func (m *memCoord) ReleaseStage(ctx context.Context, stage, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cut[owner] {
		return errCut
	}
	if m.leases[stage].Owner == owner {
		delete(m.leases, stage)
	}
	return nil
}

func (m *memCoord) StageLeases(ctx context.Context) ([]store.StageLease, error) { return nil, nil }

// stageLog records who ran the stage and checks two never run at once.
type stageLog struct {
	t       *testing.T
	running atomic.Int32
	mu      sync.Mutex
	runs    []string
}

func (l *stageLog) run(who string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		if n := l.running.Add(1); n > 1 {
			l.t.Errorf("%s started the stage while %d other ran it", who, n-1)
		}
		l.mu.Lock()
		l.runs = append(l.runs, who)
		l.mu.Unlock()
		<-ctx.Done()
		l.running.Add(-1)
		return nil
	}
}

func (l *stageLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.runs...)
}

// One replica runs the stage; the other stands by, and takes over within
// a lease when the first is cut off from the store (which stops its stage
// before its lease runs out, so the two never overlap).
func TestSingletonFailsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemCoord()
		l := &stageLog{t: t}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var wg sync.WaitGroup
		for _, id := range []string{"a", "b"} {
			r := &Runner{Store: m, Self: store.Replica{ID: id}, Lease: 30 * time.Second}
			wg.Go(func() { r.Singleton(ctx, "detect", l.run(id)) })
			time.Sleep(time.Second) // a first
		}
		time.Sleep(2 * time.Minute)
		if got := l.got(); len(got) != 1 || got[0] != "a" {
			t.Fatalf("runs before the cut: %v; want only a", got)
		}
		m.mu.Lock()
		m.cut["a"] = true
		m.mu.Unlock()
		cutAt := time.Now()
		for len(l.got()) < 2 && time.Since(cutAt) < 5*time.Minute {
			time.Sleep(time.Second)
		}
		if got := l.got(); len(got) != 2 || got[1] != "b" {
			t.Fatalf("runs after a was cut off: %v; want b to take over", got)
		}
		if took := time.Since(cutAt); took > 30*time.Second+30*time.Second/10+30*time.Second/20 {
			t.Errorf("b took over %v after the cut; want within a lease and one wait", took)
		}
		cancel()
		wg.Wait()
	})
}

// A replica whose lease another took (it was paused past it) stops its
// stage at its next renewal and does not take the lease back.
func TestSingletonYieldsLostLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemCoord()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		r := &Runner{Store: m, Self: store.Replica{ID: "a"}, Lease: 30 * time.Second}
		stopped := make(chan struct{})
		go func() {
			r.Singleton(ctx, "detect", func(ctx context.Context) error {
				<-ctx.Done()
				close(stopped)
				return nil
			})
		}()
		time.Sleep(time.Second)
		m.mu.Lock()
		m.leases["detect"] = store.StageLease{Stage: "detect", Owner: "b", Until: time.Now().Add(time.Hour)}
		m.mu.Unlock()
		select {
		case <-stopped:
		case <-time.After(time.Minute):
			t.Fatal("the stage went on after its lease was taken")
		}
		time.Sleep(5 * time.Minute)
		m.mu.Lock()
		owner := m.leases["detect"].Owner
		m.mu.Unlock()
		if owner != "b" {
			t.Errorf("the lease is %q's after a yielded; want b's", owner)
		}
		cancel()
	})
}

// A stage that fails is started again after a pause, and its lease is
// released in between so that another replica may take it.
func TestSingletonRestartsFailedStage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemCoord()
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var runs atomic.Int32
		r := &Runner{Store: m, Self: store.Replica{ID: "a"}, Lease: 30 * time.Second}
		released := make(chan bool, 10)
		go r.Singleton(ctx, "health", func(ctx context.Context) error {
			if runs.Add(1) == 1 {
				return errors.New("boom")
			}
			<-ctx.Done()
			return nil
		})
		time.Sleep(time.Second)
		m.mu.Lock()
		_, held := m.leases["health"]
		m.mu.Unlock()
		released <- !held
		time.Sleep(time.Minute)
		if n := runs.Load(); n != 2 {
			t.Errorf("the stage ran %d times; want 2 (started again after failing)", n)
		}
		if !<-released {
			t.Error("the lease of a failed stage was not released")
		}
		cancel()
	})
}
