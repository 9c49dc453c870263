//go:build proto

// The prototype behind the index's key order (docs/benchmarks.md,
// "Indicator search"): events and an indicator table written as opwatch
// writes pages, with each key order, then searched. Not part of the suite:
//
//	go test -tags proto -run TestProto -v ./internal/search -args -n 300000 -variant block
//
// with -variant none, naive (value, time text, seq), naiveh (hash, time,
// seq) or block (block, hash, time, seq).
package search

import (
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

var (
	protoN       = flag.Int("n", 1_000_000, "events")
	protoVariant = flag.String("variant", "block", "none|naive|naiveh|block")
	protoDir     = flag.String("dir", "", "dir")
	protoShift   = flag.Int("shift", 12, "block shift")
)

func h64(s string) int64 {
	sum := sha256.Sum256([]byte(s))
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

func tt(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000000") }

func TestProto(t *testing.T) {
	dir := *protoDir
	if dir == "" {
		dir = t.TempDir()
	}
	path := filepath.Join(dir, "p.db")
	os.Remove(path)
	os.Remove(path + "-wal")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=page_size(16384)&_pragma=cache_size(-8192)&_pragma=temp_store(MEMORY)&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	defer db.Close()
	exec := func(q string, args ...any) {
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatal(q, err)
		}
	}
	exec(`CREATE TABLE events (seq INTEGER PRIMARY KEY AUTOINCREMENT, source_id TEXT NOT NULL, log_type TEXT NOT NULL,
	uuid TEXT NOT NULL, p_event_time TEXT NOT NULL, p_parse_time TEXT NOT NULL, p_row_id TEXT NOT NULL, p_source_label TEXT NOT NULL,
	p_any_ip_addresses TEXT, p_any_emails TEXT, raw TEXT NOT NULL, account TEXT NOT NULL DEFAULT '') STRICT`)
	exec(`CREATE UNIQUE INDEX events_key ON events (log_type, p_event_time, account, uuid)`)
	switch *protoVariant {
	case "naive":
		exec(`CREATE TABLE ind (value TEXT NOT NULL, t TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (value, t, seq)) WITHOUT ROWID`)
	case "naiveh":
		exec(`CREATE TABLE ind (h INTEGER NOT NULL, t INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (h, t, seq)) WITHOUT ROWID`)
	case "block":
		exec(`CREATE TABLE ind (blk INTEGER NOT NULL, h INTEGER NOT NULL, t INTEGER NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY (blk, h, t, seq)) WITHOUT ROWID`)
		exec(`CREATE TABLE blocks (blk INTEGER PRIMARY KEY, min_t INTEGER NOT NULL, max_t INTEGER NOT NULL)`)
	}
	r := rand.New(rand.NewPCG(1, 2))
	emails := make([]string, 5000)
	for i := range emails {
		emails[i] = fmt.Sprintf("First%d.Last%d@example.com", i, i*7)
	}
	ips := make([]string, 15000)
	for i := range ips {
		ips[i] = fmt.Sprintf("%d.%d.%d.%d", 10+i%200, r.IntN(256), r.IntN(256), 1+r.IntN(254))
	}
	pad := strings.Repeat("x", 600)
	n := *protoN
	span := time.Duration(float64(n) / 111_000 * float64(24*time.Hour))
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	step := span / time.Duration(n)
	const page = 1000
	evStmt, err := db.Prepare(`INSERT OR IGNORE INTO events (source_id, log_type, p_parse_time, p_source_label, account, uuid, p_event_time, p_row_id, p_any_ip_addresses, p_any_emails, raw) SELECT 's', 'lt', ?1, 'lbl', 'acct', * FROM (VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?,?),", 500), ",") + `)`)
	if err != nil {
		t.Fatal(err)
	}
	indStmts := map[int]*sql.Stmt{}
	cols := 3
	if *protoVariant == "block" {
		cols = 4
	}
	indStmt := func(rows int) *sql.Stmt {
		if s := indStmts[rows]; s != nil {
			return s
		}
		q := `INSERT OR IGNORE INTO ind VALUES ` + strings.TrimSuffix(strings.Repeat("("+strings.TrimSuffix(strings.Repeat("?,", cols), ",")+"),", rows), ",")
		s, err := db.Prepare(q)
		if err != nil {
			t.Fatal(err)
		}
		indStmts[rows] = s
		return s
	}
	if *protoVariant != "none" {
		for k := 1; k <= 256; k++ {
			indStmt(k)
		}
	}
	type ev struct {
		at     time.Time
		ip     string
		emails []string
	}
	var pageEvs []ev
	began := time.Now()
	var evs int
	for p := 0; p < n/page; p++ {
		pageEvs = pageEvs[:0]
		args := []any{tt(start)}
		for i := 0; i < page; i++ {
			k := p*page + i
			at := start.Add(time.Duration(k) * step)
			e := ev{at: at, ip: ips[r.IntN(len(ips))], emails: []string{emails[r.IntN(len(emails))]}}
			if r.IntN(5) == 0 {
				e.emails = append(e.emails, emails[r.IntN(len(emails))])
			}
			pageEvs = append(pageEvs, e)
			args = append(args, fmt.Sprintf("U%015d", k), tt(at), "row", `["`+e.ip+`"]`, `["`+strings.Join(e.emails, `","`)+`"]`, pad)
		}
		tx, err := db.Begin()
		if err != nil {
			t.Fatal(err)
		}
		var last int64
		for c := 0; c < 2; c++ {
			a := append([]any{args[0]}, args[1+c*3000:1+(c+1)*3000]...)
			res, err := tx.Stmt(evStmt).Exec(a...)
			if err != nil {
				t.Fatal(err)
			}
			last, _ = res.LastInsertId()
		}
		first := last - page + 1
		if *protoVariant != "none" {
			var ia []any
			rows := 0
			flush := func() {
				if rows == 0 {
					return
				}
				if _, err := tx.Stmt(indStmt(rows)).Exec(ia...); err != nil {
					t.Fatal(err)
				}
				ia, rows = ia[:0], 0
			}
			var minT, maxT int64 = 1 << 62, 0
			for i, e := range pageEvs {
				seq := first + int64(i)
				vals := append([]string{"i:" + e.ip}, e.emails...)
				for _, v := range vals {
					v = strings.ToLower(v)
					switch *protoVariant {
					case "naive":
						ia = append(ia, v, tt(e.at), seq)
					case "naiveh":
						ia = append(ia, h64(v), e.at.UnixNano(), seq)
					case "block":
						ia = append(ia, seq>>*protoShift, h64(v), e.at.UnixNano(), seq)
					}
					rows++
					if rows == 256 {
						flush()
					}
				}
				minT, maxT = min(minT, e.at.UnixNano()), max(maxT, e.at.UnixNano())
			}
			flush()
			if *protoVariant == "block" {
				for b := first >> *protoShift; b <= last>>*protoShift; b++ {
					if _, err := tx.Exec(`INSERT INTO blocks VALUES (?, ?, ?) ON CONFLICT DO UPDATE SET min_t = min(min_t, excluded.min_t), max_t = max(max_t, excluded.max_t)`, b, minT, maxT); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		evs += page
		if evs%(n/10) == 0 {
			t.Logf("%d events: %.0f/s", evs, float64(evs)/time.Since(began).Seconds())
		}
	}
	took := time.Since(began)
	fi, _ := os.Stat(path)
	t.Logf("variant %s: %d events in %s: %.0f events/s; file %d MB", *protoVariant, n, took, float64(n)/took.Seconds(), fi.Size()>>20)
	exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	var indBytes int64
	db.QueryRow(`SELECT sum(pgsize) FROM dbstat WHERE name = 'ind'`).Scan(&indBytes)
	t.Logf("index bytes: %d MB", indBytes>>20)

	// Search: 30 days ending at the newest event, 20 emails and 20 IPs.
	end := start.Add(span)
	from := end.Add(-30 * 24 * time.Hour)
	var lat []time.Duration
	for q := 0; q < 40; q++ {
		v := strings.ToLower(emails[r.IntN(len(emails))])
		if q%2 == 1 {
			v = "i:" + ips[r.IntN(len(ips))]
		}
		t0 := time.Now()
		var seqs []int64
		var rows *sql.Rows
		switch *protoVariant {
		case "naive":
			rows, err = db.Query(`SELECT seq FROM ind WHERE value = ? AND t >= ? AND t < ? ORDER BY t DESC, seq DESC LIMIT 100`, v, tt(from), tt(end))
		case "naiveh":
			rows, err = db.Query(`SELECT seq FROM ind WHERE h = ? AND t >= ? AND t < ? ORDER BY t DESC, seq DESC LIMIT 100`, h64(v), from.UnixNano(), end.UnixNano())
		case "block":
			rows, err = db.Query(`SELECT seq FROM ind WHERE blk IN (SELECT blk FROM blocks WHERE max_t >= ?2 AND min_t < ?3) AND h = ?1 AND t >= ?2 AND t < ?3 ORDER BY t DESC, seq DESC LIMIT 100`, h64(v), from.UnixNano(), end.UnixNano())
		case "none":
			ev := strings.TrimPrefix(v, "i:")
			rows, err = db.Query(`SELECT seq FROM events e WHERE p_event_time >= ? AND p_event_time < ? AND (EXISTS (SELECT 1 FROM json_each(e.p_any_emails) WHERE lower(value) = ?3) OR EXISTS (SELECT 1 FROM json_each(e.p_any_ip_addresses) WHERE value = ?3)) ORDER BY p_event_time DESC LIMIT 100`, tt(from), tt(end), ev)
		}
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s int64
			rows.Scan(&s)
			seqs = append(seqs, s)
		}
		rows.Close()
		// fetch the events
		var cnt int
		for _, s := range seqs {
			var raw string
			db.QueryRow(`SELECT raw FROM events WHERE seq = ?`, s).Scan(&raw)
			cnt++
		}
		lat = append(lat, time.Since(t0))
		if q < 4 {
			t.Logf("query %q: %d rows in %s", v, len(seqs), time.Since(t0))
		}
		if *protoVariant == "none" && q == 3 {
			break
		}
	}
	slices.Sort(lat)
	t.Logf("search: median %s p95 %s max %s", lat[len(lat)/2], lat[len(lat)*95/100], lat[len(lat)-1])
}
