package logtype

import (
	"encoding/json"
	"testing"
	"time"
)

// benchEvents are typical v2 events, one per log type (500-700 bytes).
func benchEvents() []struct {
	lt  *LogType
	raw []byte
} {
	return []struct {
		lt  *LogType
		raw []byte
	}{
		{SignInAttempt(), []byte(signInV2)},
		{ItemUsage(), []byte(itemUsageV2)},
		{AuditEvent(), []byte(auditV2)},
	}
}

func BenchmarkParse(b *testing.B) {
	for _, e := range benchEvents() {
		b.Run(e.lt.Name, func(b *testing.B) {
			b.SetBytes(int64(len(e.raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.lt.Parse(e.raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkUnmarshalMap is the baseline Parse replaces: encoding/json into
// map[string]any, plus reading the uuid and the time.
func BenchmarkUnmarshalMap(b *testing.B) {
	for _, e := range benchEvents() {
		b.Run(e.lt.Name, func(b *testing.B) {
			b.SetBytes(int64(len(e.raw)))
			b.ReportAllocs()
			for b.Loop() {
				var m map[string]any
				if err := json.Unmarshal(e.raw, &m); err != nil {
					b.Fatal(err)
				}
				if _, ok := m["uuid"].(string); !ok {
					b.Fatal("no uuid")
				}
				ts, _ := m["timestamp"].(string)
				if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkValid is json.Valid on the same events: it only checks syntax,
// which Parse does too, so it shows the cost of the rest on this machine.
func BenchmarkValid(b *testing.B) {
	for _, e := range benchEvents() {
		b.Run(e.lt.Name, func(b *testing.B) {
			b.SetBytes(int64(len(e.raw)))
			for b.Loop() {
				if !json.Valid(e.raw) {
					b.Fatal("invalid")
				}
			}
		})
	}
}

func BenchmarkRowIDs(b *testing.B) {
	r := NewRowIDs()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = r.Next()
		}
	})
}

func BenchmarkFormatTime(b *testing.B) {
	t := time.Date(2025, 7, 28, 19, 32, 38, 440749100, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		_ = FormatTime(t)
	}
}

// BenchmarkParsePage parses a page of 1,000 mixed events, as ingest does,
// and reports events per second on one core.
func BenchmarkParsePage(b *testing.B) {
	events := benchEvents()
	type item struct {
		lt  *LogType
		raw []byte
	}
	page := make([]item, 1000)
	size := 0
	for i := range page {
		e := events[i%len(events)]
		page[i] = item{e.lt, e.raw}
		size += len(e.raw)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		for _, it := range page {
			if _, err := it.lt.Parse(it.raw); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(page))/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkByName(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if ByName("OnePassword.AuditEvent") == nil {
			b.Fatal("not found")
		}
	}
}
