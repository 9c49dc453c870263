package emulator

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// discard is a ResponseWriter that throws the body away, so that the
// benchmark measures the emulator and not a network stack.
type discard struct {
	h      http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(status int)      { d.status = status }
func (d *discard) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }

// BenchmarkServePage serves v2 pages of 1000 events through the handler.
func BenchmarkServePage(b *testing.B) {
	b.Run("baseline", func(b *testing.B) { benchmarkServePage(b, false) })
	b.Run("scenarios", func(b *testing.B) { benchmarkServePage(b, true) })
}

func benchmarkServePage(b *testing.B, scenarios bool) {
	e, err := New(Options{Seed: 1, Events: 100000, RateLimitPerMinute: -1, RateLimitPerHour: -1, Scenarios: scenarios})
	if err != nil {
		b.Fatal(err)
	}
	e.SetHost("127.0.0.1:1")
	tok, err := e.IssueToken(TokenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	h := e.Handler()
	body := `{"limit":1000,"start_time":"2020-01-01T00:00:00Z"}`
	for _, f := range featureNames {
		b.Run(f, func(b *testing.B) {
			w := &discard{h: http.Header{}}
			b.ReportAllocs()
			start := time.Now()
			for b.Loop() {
				r, _ := http.NewRequest("POST", "/api/v2/"+f, strings.NewReader(body))
				r.Header.Set("Authorization", "Bearer "+tok)
				w.n = 0
				h.ServeHTTP(w, r)
				if w.status != 200 || w.n < 100000 {
					b.Fatalf("status %d, %d bytes", w.status, w.n)
				}
			}
			b.ReportMetric(float64(b.N)*1000/time.Since(start).Seconds(), "events/s")
			b.SetBytes(int64(w.n))
		})
	}
}

// BenchmarkEncodeEvent is the cost of one event, without HTTP or paging.
func BenchmarkEncodeEvent(b *testing.B) {
	e, err := New(Options{Seed: 1, Events: 1000})
	if err != nil {
		b.Fatal(err)
	}
	a, _ := e.account("")
	for f, name := range featureNames {
		b.Run(name, func(b *testing.B) {
			var buf []byte
			i := 0
			for b.Loop() {
				buf = a.appendEvent(buf[:0], f, i%1000, 1753730000440749100, 2)
				i++
			}
		})
	}
}
