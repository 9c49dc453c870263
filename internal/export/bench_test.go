package export

import (
	"context"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// synthLake makes events on demand from their position, so a benchmark of
// a million events holds one batch in memory, as a store would.
type synthLake struct {
	n     int64
	start time.Time
	step  time.Duration
}

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

func synthUUID(kind, i uint64) string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:], rand.New(rand.NewPCG(kind, i)).Uint64())
	binary.LittleEndian.PutUint64(b[8:], i*0x9e3779b97f4a7c15)
	return b32.EncodeToString(b[:])
}

var (
	apps   = []string{"1Password for Mac", "1Password for Windows", "1Password Browser Extension", "1Password CLI", "1Password for iOS"}
	oses   = []string{"MacOSX", "Windows", "Linux", "iOS", "Android"}
	cats   = []string{"success", "success", "success", "credentials_failed", "mfa_failed", "firewall_failed"}
	acts   = []string{"fill", "reveal", "secure-copy", "server-fetch", "enter-item-edit-mode"}
	audits = []string{"grant", "revoke", "create", "update", "delete", "join", "verify"}
	cities = []string{"Toronto", "Berlin", "Austin", "Sydney", "Paris", "Tokyo"}
)

func (l *synthLake) LatestSeq(context.Context) (int64, error) { return l.n, nil }

// ScanEvents makes the events whose times can fall in [from, to): event
// seq is at start + seq*step plus under a second.
func (l *synthLake) ScanEvents(ctx context.Context, logType string, from, to time.Time, maxSeq int64, fn func(*store.StoredEvent) error) error {
	first := max(1, int64(from.Sub(l.start.Add(time.Second))/l.step))
	last := min(l.n, maxSeq, int64(to.Sub(l.start)/l.step)+1)
	for seq := first; seq <= last; seq++ {
		e := l.event(seq)
		if e.LogType == logType && !e.EventTime.Before(from) && e.EventTime.Before(to) {
			if err := fn(&e); err != nil {
				return err
			}
		}
	}
	return nil
}

func (l *synthLake) event(seq int64) store.StoredEvent {
	r := rand.New(rand.NewPCG(uint64(seq), 7))
	at := l.start.Add(time.Duration(seq) * l.step).Add(time.Duration(r.IntN(1e9)))
	user := r.IntN(5000)
	email := "user" + strconv.Itoa(user) + "@example.com"
	ip := fmt.Sprintf("198.%d.%d.%d", 18+user%2, r.IntN(256), r.IntN(256))
	client := fmt.Sprintf(`{"app_name":%q,"app_version":"%d","platform_name":"Chrome","platform_version":"%d.0.%d","os_name":%q,"os_version":"%d.%d","ip_address":%q}`,
		apps[user%len(apps)], 81000+user%40, 118+user%5, user%300, oses[user%len(oses)], 10+user%5, user%10, ip)
	loc := fmt.Sprintf(`{"country":"CA","region":"Ontario","city":%q,"latitude":%.4f,"longitude":%.4f}`, cities[user%len(cities)], 43+float64(user%100)/100, -79-float64(user%100)/100)
	u := fmt.Sprintf(`{"uuid":%q,"name":"User %d","email":%q}`, synthUUID(1, uint64(user)), user, email)
	ts := at.Format(time.RFC3339Nano)
	var lt, raw string
	switch seq % 3 {
	case 0:
		lt = "OnePassword.SignInAttempt"
		raw = fmt.Sprintf(`{"uuid":%q,"session_uuid":%q,"timestamp":%q,"category":%q,"type":"credentials_ok","country":"CA","details":null,"target_user":%s,"client":%s,"location":%s}`,
			synthUUID(2, uint64(seq)), synthUUID(3, uint64(seq/4)), ts, cats[r.IntN(len(cats))], u, client, loc)
	case 1:
		lt = "OnePassword.ItemUsage"
		raw = fmt.Sprintf(`{"uuid":%q,"timestamp":%q,"used_version":%d,"vault_uuid":%q,"item_uuid":%q,"user":%s,"client":%s,"location":%s,"action":%q}`,
			synthUUID(2, uint64(seq)), ts, r.IntN(20), synthUUID(4, uint64(r.IntN(200))), synthUUID(5, uint64(r.IntN(20000))), u, client, loc, acts[r.IntN(len(acts))])
	default:
		lt = "OnePassword.AuditEvent"
		raw = fmt.Sprintf(`{"uuid":%q,"timestamp":%q,"actor_uuid":%q,"actor_details":%s,"action":%q,"object_type":"uva","object_uuid":%q,"aux_id":%d,"aux_uuid":%q,"aux_info":"R","session":{"uuid":%q,"login_time":%q,"device_uuid":%q,"ip":%q},"location":%s}`,
			synthUUID(2, uint64(seq)), ts, synthUUID(1, uint64(user)), u, audits[r.IntN(len(audits))], synthUUID(4, uint64(r.IntN(200))), r.IntN(1000),
			synthUUID(1, uint64(r.IntN(5000))), synthUUID(3, uint64(seq/4)), at.Add(-time.Hour).Format(time.RFC3339), synthUUID(6, uint64(user)), ip, loc)
	}
	return store.StoredEvent{Seq: seq, Account: "A", SourceID: "3f1c2a9e-4b5d-4e6f-8a7b-9c0d1e2f3a4b", LogType: lt,
		UUID: "u", EventTime: at, ParseTime: at.Add(2 * time.Second), RowID: fmt.Sprintf("%016x%016x", r.Uint64(), seq),
		SourceLabel: "Production", IPs: []string{ip}, Emails: []string{email}, Raw: []byte(raw)}
}

// BenchmarkExport exports OPWATCH_BENCH_EVENTS events (default 1,000,000)
// a day's worth of them spread over two days, and reports events/s, the
// Parquet bytes per event and the raw JSON bytes per event:
//
//	go test ./internal/export -run XXX -bench Export -benchtime 1x
func BenchmarkExport(b *testing.B) {
	n := int64(1_000_000)
	if s := os.Getenv("OPWATCH_BENCH_EVENTS"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	start := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)
	l := &synthLake{n: n, start: start, step: 24 * time.Hour / time.Duration(n)}
	var rawBytes int64
	for i := int64(1); i <= min(n, 10000); i++ {
		rawBytes += int64(len(l.event(i).Raw))
	}
	for b.Loop() {
		out := b.TempDir()
		t0, c0 := time.Now(), cpuTime()
		m, err := Run(context.Background(), l, Options{Out: out, Since: start, Until: start.Add(48 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		el, cpu := time.Since(t0), cpuTime()-c0
		var size int64
		for _, p := range m.Partitions {
			for _, f := range p.Files {
				size += f.Bytes
			}
		}
		if m.LastExport.Rows != n {
			b.Fatalf("%d rows exported, want %d", m.LastExport.Rows, n)
		}
		b.ReportMetric(float64(n)/el.Seconds(), "events/s")
		// The machine is shared: the rate per CPU second (user and system,
		// this process) says what the export costs whatever else runs.
		b.ReportMetric(float64(n)/cpu.Seconds(), "events/cpu-s")
		b.ReportMetric(float64(size)/float64(n), "bytes/event")
		b.ReportMetric(float64(rawBytes)/float64(min(n, 10000)), "raw-bytes/event")
		os.RemoveAll(filepath.Join(out))
	}
}
