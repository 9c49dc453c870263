package postgres

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// eventUUID makes a 26-character base32 id shaped like 1Password's, spread
// over the key space as real ones are.
func eventUUID(n uint64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], n*0x9E3779B97F4A7C15)
	binary.BigEndian.PutUint64(b[8:], n)
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// pages makes pages of sign-in attempts of about 600 bytes each. The raw
// bodies are made once and shared: the store copies them, and making them
// anew would fill a benchmark's profile with fmt and the garbage collector.
type pages struct {
	raws   [][]byte
	ips    [][]string
	emails []string
}

func newPages(size int) *pages {
	p := &pages{emails: []string{"jane.doe@example.com"}}
	for i := range size {
		ip := fmt.Sprintf("89.160.%d.%d", i/256%256, i%256)
		raw := fmt.Sprintf(`{"uuid":%q,"session_uuid":"UED4KFZ5BH37IQWTJ7LG4VPWK7","timestamp":%q,"country":"AR",`+
			`"category":"success","type":"credentials_ok","details":null,"target_user":{"uuid":"OJQGU46KAPROEJLCK674RHSAY5",`+
			`"name":"Jane Doe","email":"jane.doe@example.com"},"client":{"app_name":"1Password Browser Extension",`+
			`"app_version":"20195","platform_name":"Chrome","platform_version":"93.0.4577.62","os_name":"MacOSX",`+
			`"os_version":"10.15.7","ip_address":%q},"location":{"country":"AR","region":"Buenos Aires",`+
			`"city":"Buenos Aires","latitude":-34.6037,"longitude":-58.3816},"account_uuid":"VZSYVT2LGHTBWBQGUJAIZVRABM"}`,
			eventUUID(uint64(i)), time.Unix(1767225600+int64(i), 0).UTC().Format(time.RFC3339Nano), ip)
		p.raws = append(p.raws, []byte(raw))
		p.ips = append(p.ips, []string{ip})
	}
	return p
}

// page returns n events with uuids first, first+1, ..., a millisecond apart
// from at.
func (p *pages) page(first uint64, n int, at time.Time) []store.Event {
	events := make([]store.Event, n)
	for i := range events {
		id := first + uint64(i)
		events[i] = store.Event{
			UUID: eventUUID(id), EventTime: at.Add(time.Duration(i) * time.Millisecond), ParseTime: at,
			RowID: strconv.FormatUint(id, 16), SourceLabel: "bench",
			IPs: p.ips[i%len(p.ips)], Emails: p.emails, Raw: p.raws[i%len(p.raws)],
		}
	}
	return events
}

// BenchmarkCommitPage commits 1000-event pages to one stream. Run it long
// enough for the table to pass a million rows:
//
//	go test -run '^$' -bench CommitPage -benchtime 1000x ./internal/store/postgres
func BenchmarkCommitPage(b *testing.B) {
	const pageSize = 1000
	ctx := context.Background()
	s := openTestWith(b, Options{})
	src := &store.Source{Name: "bench", AccountUUID: "VZSYVT2LGHTBWBQGUJAIZVRABM"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	sts, err := s.ClaimStreams(ctx, "bench", 1000*time.Hour, 1)
	if err != nil || len(sts) != 1 {
		b.Fatal(sts, err)
	}
	pg := newPages(pageSize)
	cpu := processCPU()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		page := pg.page(uint64(i)*pageSize, pageSize, now.Add(time.Duration(i)*time.Second))
		b.StartTimer()
		res, err := s.CommitPage(ctx, store.PageCommit{
			StreamID: sts[0].ID, LeaseOwner: "bench", Cursor: fmt.Sprint(i), Events: page,
		})
		if err != nil {
			b.Fatal(err)
		}
		if res.Inserted != pageSize {
			b.Fatalf("inserted %d of %d", res.Inserted, pageSize)
		}
	}
	b.StopTimer()
	cpu = processCPU() - cpu // includes making the pages, a small part
	rows := float64(b.N) * pageSize
	b.ReportMetric(rows/b.Elapsed().Seconds(), "rows/s")
	b.ReportMetric(0, "ns/op")
	var size int64
	if err := s.pool.QueryRow(ctx, `SELECT pg_total_relation_size('events')`).Scan(&size); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(size)/rows, "bytes/event")
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/page")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N)/1000, "cpu-ms/page")
	}
}

// BenchmarkEventsAfter reads a lake of 200,000 sign-in attempts (about 600
// bytes each) in batches of 1000, as the detect stage does:
//
//	go test -run '^$' -bench EventsAfter -benchtime 400x ./internal/store/postgres
func BenchmarkEventsAfter(b *testing.B) {
	const total, pageSize, batch = 200_000, 1000, 1000
	ctx := context.Background()
	s := openTestWith(b, Options{})
	src := &store.Source{Name: "bench", AccountUUID: "VZSYVT2LGHTBWBQGUJAIZVRABM"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.SignInAttempt"}); err != nil {
		b.Fatal(err)
	}
	sts, err := s.ClaimStreams(ctx, "bench", 1000*time.Hour, 1)
	if err != nil || len(sts) != 1 {
		b.Fatal(sts, err)
	}
	pg := newPages(pageSize)
	now := time.Now().UTC()
	for i := 0; i < total/pageSize; i++ {
		if _, err := s.CommitPage(ctx, store.PageCommit{StreamID: sts[0].ID, LeaseOwner: "bench", Cursor: fmt.Sprint(i),
			Events: pg.page(uint64(i)*pageSize, pageSize, now.Add(time.Duration(i)*time.Second))}); err != nil {
			b.Fatal(err)
		}
	}
	cpu := processCPU()
	b.ResetTimer()
	var pos int64
	read := 0
	for i := 0; i < b.N; i++ {
		evs, err := s.EventsAfter(ctx, pos, batch)
		if err != nil {
			b.Fatal(err)
		}
		if len(evs) < batch {
			pos = 0 // start over: the lake has been read
			if len(evs) == 0 {
				continue
			}
		}
		if len(evs[0].IPs) != 1 || len(evs[0].Emails) != 1 || evs[0].Account == "" {
			b.Fatalf("event read without its fields: %+v", evs[0])
		}
		read += len(evs)
		if len(evs) == batch {
			pos = evs[len(evs)-1].Seq
		}
	}
	b.StopTimer()
	cpu = processCPU() - cpu
	b.ReportMetric(float64(read)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(0, "ns/op")
	if cpu > 0 && read > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(read), "cpu-ns/event")
	}
}

// BenchmarkCommitDetect commits detect batches as a busy stage would: per
// batch of 1000 events, 5 new alerts, 200 matches, 100 dedup groups and 500
// rule-state changes.
//
//	go test -run '^$' -bench CommitDetect -benchtime 200x ./internal/store/postgres
func BenchmarkCommitDetect(b *testing.B) {
	ctx := context.Background()
	s := openTestWith(b, Options{})
	at := time.Now().UTC()
	var pos int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c := store.DetectCommit{Stage: "detect", From: pos, To: pos + 1000, Now: at}
		for a := range 5 {
			c.Alerts = append(c.Alerts, store.Alert{ID: fmt.Sprintf("A%d-%d", i, a), Type: store.AlertRule, RuleID: "R",
				Dedup: fmt.Sprint(a), Title: "t", Severity: "HIGH", FirstEventAt: at, LastEventAt: at, PeriodEnd: at.Add(time.Hour)})
		}
		for m := range 200 {
			c.Matches = append(c.Matches, store.AlertMatch{AlertID: fmt.Sprintf("A%d-%d", i, m%5), Seq: pos + int64(m) + 1, EventTime: at})
		}
		for g := range 100 {
			c.Groups = append(c.Groups, store.DedupGroup{RuleID: "R", Dedup: fmt.Sprint(g), PeriodEnd: at.Add(time.Hour), Matches: 1, Pending: []int64{pos + 1}})
		}
		for k := range 500 {
			c.State = append(c.State, store.StateChange{RuleID: "R", Key: fmt.Sprint(k), Value: []byte(`{"n":1}`), ExpiresAt: at.Add(time.Hour)})
		}
		if err := s.CommitDetect(ctx, c); err != nil {
			b.Fatal(err)
		}
		pos += 1000
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/commit")
	b.ReportMetric(0, "ns/op")
}
