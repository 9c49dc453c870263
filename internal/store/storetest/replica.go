package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Replicas heartbeat by the store's clock and are forgotten when silent.
func testHeartbeat(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	a := store.Replica{ID: "a", Host: "h1", PID: 10, Version: "v1"}
	if err := s.Heartbeat(ctx, a, time.Hour); err != nil {
		t.Fatal(err)
	}
	t0 := c.Now()
	c.Advance(time.Minute)
	a.PID = 11
	if err := s.Heartbeat(ctx, a, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := s.Heartbeat(ctx, store.Replica{ID: "b", Host: "h2"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	rs, err := s.Replicas(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].ID != "a" || rs[0].PID != 11 || rs[0].Host != "h1" || rs[0].Version != "v1" || rs[1].ID != "b" {
		t.Fatalf("replicas: %+v", rs)
	}
	if c.moves() && (!rs[0].StartedAt.Equal(t0) || !rs[0].SeenAt.Equal(t0.Add(time.Minute))) {
		t.Errorf("replica a started %v, seen %v; want %v and a minute later (the store's clock)", rs[0].StartedAt, rs[0].SeenAt, t0)
	}
	if !c.moves() {
		return
	}
	c.Advance(2 * time.Hour)
	if err := s.Heartbeat(ctx, store.Replica{ID: "b"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	if rs, _ := s.Replicas(ctx); len(rs) != 1 || rs[0].ID != "b" {
		t.Errorf("after two silent hours with forget 1h: %+v; want only b", rs)
	}
}

// A stage lease is held by one owner at a time, renewed by its owner,
// taken over only once it has run out (by the store's clock), and freed
// at once by a release.
func testStageLease(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	claim := func(owner string) bool {
		t.Helper()
		ok, err := s.ClaimStage(ctx, "detect", owner, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !claim("a") {
		t.Fatal("a free stage was not claimed")
	}
	if claim("b") {
		t.Fatal("b took a live lease of a")
	}
	if !claim("a") {
		t.Fatal("a could not renew its own lease")
	}
	if ok, err := s.ClaimStage(ctx, "health", "b", time.Minute); err != nil || !ok {
		t.Fatalf("another stage: %v, %v", ok, err)
	}
	ls, err := s.StageLeases(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 2 || ls[0].Stage != "detect" || ls[0].Owner != "a" || ls[1].Stage != "health" || ls[1].Owner != "b" {
		t.Fatalf("leases: %+v", ls)
	}
	if c.moves() {
		c.Advance(59 * time.Second)
		if claim("b") {
			t.Fatal("b took a's lease before it ran out")
		}
		c.Advance(2 * time.Second)
		if !claim("b") {
			t.Fatal("b could not take a lease that ran out")
		}
		if claim("a") {
			t.Fatal("a renewed a lease b had taken over")
		}
	}
	if ok, err := s.ClaimStage(ctx, "health", "b", time.Minute); err != nil || !ok {
		t.Fatalf("b renewing its lease: %v, %v", ok, err)
	}
	if err := s.ReleaseStage(ctx, "health", "a"); err != nil {
		t.Fatal(err)
	}
	if claim := func() bool { ok, _ := s.ClaimStage(ctx, "health", "a", time.Minute); return ok }(); claim {
		t.Fatal("a release by a non-owner freed the lease")
	}
	if err := s.ReleaseStage(ctx, "health", "b"); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ClaimStage(ctx, "health", "a", time.Minute); err != nil || !ok {
		t.Fatalf("a released stage could not be claimed at once: %v, %v", ok, err)
	}
}

// Replicas racing for a free stage: exactly one wins.
func testStageLeaseRace(t *testing.T, s store.Store, c *Clock) {
	ctx := context.Background()
	for round := range 5 {
		stage := fmt.Sprintf("stage-%d", round)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				ok, err := s.ClaimStage(ctx, stage, fmt.Sprintf("r%d", i), time.Minute)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("round %d: %d replicas claimed one free stage", round, n)
		}
	}
}
