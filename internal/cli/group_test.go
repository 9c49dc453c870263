package cli

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

func TestRunGroupFirstFailureStopsOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		boom := errors.New("boom")
		var mu sync.Mutex
		var stopped []string
		waiter := func(name string) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				<-ctx.Done()
				mu.Lock()
				stopped = append(stopped, name)
				mu.Unlock()
				return nil
			}
		}
		err := runGroup(context.Background(), slog.New(slog.DiscardHandler), []part{
			{"ingest", waiter("ingest")},
			{"detect", func(ctx context.Context) error { time.Sleep(time.Second); return boom }},
			{"web", waiter("web")},
		})
		if !errors.Is(err, boom) {
			t.Fatalf("runGroup returned %v, want the failure", err)
		}
		if !slices.Equal(stopped, []string{"ingest", "web"}) {
			t.Errorf("stopped %v, want ingest then web", stopped)
		}
	})
}

// Shutdown is ordered: a part is told to stop only after the ones before it
// have returned.
func TestRunGroupOrderedShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		var mu sync.Mutex
		var order []string
		slow := func(name string, d time.Duration) func(ctx context.Context) error {
			return func(ctx context.Context) error {
				<-ctx.Done()
				time.Sleep(d) // finishing its work after being told to stop
				mu.Lock()
				order = append(order, name)
				mu.Unlock()
				return nil
			}
		}
		done := make(chan error)
		go func() {
			done <- runGroup(ctx, slog.New(slog.DiscardHandler), []part{
				{"ingest", slow("ingest", 3*time.Second)},
				{"detect", slow("detect", time.Second)},
			})
		}()
		time.Sleep(time.Minute)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("runGroup: %v", err)
		}
		if !slices.Equal(order, []string{"ingest", "detect"}) {
			t.Errorf("finished in order %v, want ingest before detect", order)
		}
	})
}
