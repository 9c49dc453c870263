package onepassword

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/emulator"
)

// BenchmarkFetchPage is one 1000-event page through HTTP, reading and
// decoding included, from a server that answers at once.
func BenchmarkFetchPage(b *testing.B) {
	body := benchPage(1000)
	srv := serve(b, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	c, _ := testClient(b, srv, nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		p, err := c.Fetch(context.Background(), AuditEvents, Request{Cursor: "c"})
		if err != nil || len(p.Items) != 1000 {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*1000)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkDrainEmulator drains 100,000 events of one stream from the
// emulator, prefetching, as ingest does; the emulator's own encoding shares
// the two cores.
func BenchmarkDrainEmulator(b *testing.B) {
	const events = 100000
	e, err := emulator.Start(emulator.Options{Seed: 1, Events: events, RateLimitPerMinute: -1, RateLimitPerHour: -1}, "127.0.0.1:0", false)
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	token, err := e.IssueToken(emulator.TokenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Options{Token: token, BaseURL: e.URL(), AllowOtherHost: true})
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now().Add(-30 * 24 * time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		err := c.Drain(context.Background(), ItemUsages, Request{Limit: 1000, StartTime: start}, func(p Page) error {
			n += len(p.Items)
			return nil
		})
		if err != nil || n != events {
			b.Fatalf("%d events, %v", n, err)
		}
	}
	b.ReportMetric(float64(b.N*events)/b.Elapsed().Seconds(), "events/s")
}
