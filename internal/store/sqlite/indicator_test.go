package sqlite

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
	"github.com/opwatch/opwatch/internal/store/segment"
)

// TestMigrateTo7: events stored before the indicator index are indexed by
// the migration (over more than one block, the last one unfinished), and
// found with the events stored after it.
func TestMigrateTo7(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v6.db")
	uri, err := fileURI(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openOne(newDriver(&Store{codec: &segment.Codec{}}), uri)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 7 || ms[6].name != "0007_indicators.sql" {
		t.Fatalf("migration 7 is not the indicator index: %v", ms[6:])
	}
	const at = "2026-01-01 00:00:00.000000000"
	stmts := []string{`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`}
	for _, m := range ms[:6] {
		stmts = append(stmts, m.sql, fmt.Sprintf(`INSERT INTO schema_migrations VALUES (%d, '%s', '%s')`, m.version, m.name, at))
	}
	stmts = append(stmts,
		`INSERT INTO sources (id, name, settings, created_at, updated_at, account_uuid) VALUES ('src', 'old', '{"interval":"1m0s","lookback":"1h0m0s"}', '`+at+`', '`+at+`', 'ACCT')`,
		`INSERT INTO streams (source_id, log_type, next_poll_at) VALUES ('src', 'OnePassword.SignInAttempt', '`+at+`')`,
		// 5000 filler events, then the ones searched for: more than a block.
		`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
		INSERT INTO events (source_id, log_type, uuid, p_event_time, p_parse_time, p_row_id, p_source_label,
			p_any_ip_addresses, p_any_emails, raw, account)
		SELECT 'src', 'OnePassword.SignInAttempt', 'f' || i, printf('2026-01-01 %02d:%02d:00.000000000', i / 60 % 24, i % 60), '`+at+`',
			'r' || i, 'old', '["10.1.' || (i % 200) || '.1"]', '["filler' || (i % 50) || '@example.com"]', '{}', 'ACCT' FROM n`,
		`INSERT INTO events (source_id, log_type, uuid, p_event_time, p_parse_time, p_row_id, p_source_label,
			p_any_ip_addresses, p_any_emails, raw, account) VALUES
		('src', 'OnePassword.SignInAttempt', 'old1', '2026-01-02 00:00:01.500000000', '`+at+`', 'r', 'old',
			'["2001:0DB8:0000:0000:0000:0000:0000:0001","192.0.2.1"]', '["Jane.Doe@Example.COM"]', '{}', 'ACCT'),
		('src', 'OnePassword.SignInAttempt', 'old2', '2026-01-02 00:00:02.000000000', '`+at+`', 'r', 'old',
			'["2001:db8::1"]', '["jane.doe@example.com","bob@example.com"]', '{}', 'ACCT'),
		('src', 'OnePassword.SignInAttempt', 'old3', '2026-01-02 00:00:03.000000000', '`+at+`', 'r', 'old',
			'["::ffff:192.0.2.1"]', NULL, '{}', 'ACCT')`,
	)
	for _, q := range stmts {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s, err := Open(ctx, path, Options{Migrate: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sts, err := s.Streams(ctx, "src")
	if err != nil || len(sts) != 1 {
		t.Fatal(sts, err)
	}
	late := time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)
	if _, err := s.InsertEvents(ctx, sts[0].ID, []store.Event{
		{UUID: "new1", EventTime: late, Raw: []byte(`{}`), Emails: []string{"JANE.doe@example.com"}, IPs: []string{"2001:db8::1"}},
	}, nil); err != nil {
		t.Fatal(err)
	}
	find := func(kind, value string, limit int) []string {
		t.Helper()
		evs, err := s.SearchIndicator(ctx, store.IndicatorQuery{Kind: kind, Value: value, Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		var uuids []string
		for _, e := range evs {
			uuids = append(uuids, e.UUID)
		}
		return uuids
	}
	for _, tc := range []struct {
		kind, value string
		want        []string
	}{
		{store.IndicatorEmail, "jane.doe@example.com", []string{"new1", "old2", "old1"}},
		{store.IndicatorEmail, "bob@example.com", []string{"old2"}},
		{store.IndicatorIP, "2001:db8::1", []string{"new1", "old2", "old1"}},
		{store.IndicatorIP, "192.0.2.1", []string{"old3", "old1"}},
	} {
		if got := find(tc.kind, tc.value, 10); !slices.Equal(got, tc.want) {
			t.Errorf("%s %q: found %q, want %q", tc.kind, tc.value, got, tc.want)
		}
	}
	if got := find(store.IndicatorEmail, "filler7@example.com", 1000); len(got) != 100 {
		t.Errorf("filler7: found %d events, want 100", len(got))
	}
}

// TestIndicatorBlocks: a block is indexed by the commit that reaches the
// next one, sorted; until then its events are searched where they are.
func TestIndicatorBlocks(t *testing.T) {
	ctx := context.Background()
	s := openTestWith(t, Options{})
	src := &store.Source{Name: "acme", AccountUUID: "ACME"}
	if err := s.CreateSource(ctx, src, []string{"OnePassword.ItemUsage"}); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	const block = 1 << blockShift
	n := 0
	insert := func(k int) {
		t.Helper()
		var page []store.Event
		for range k {
			e := store.Event{UUID: fmt.Sprint("e", n), EventTime: at.Add(time.Duration(n) * time.Second), ParseTime: at,
				Raw: []byte(`{}`), IPs: []string{fmt.Sprintf("10.0.%d.%d", n/250%250, n%250)}, Emails: []string{"Jane@example.com"}}
			if n%3 == 0 {
				e.IPs, e.Emails = nil, nil // nothing to index
			}
			page = append(page, e)
			n++
		}
		if _, err := s.InsertEvents(ctx, sts[0].ID, page, nil); err != nil {
			t.Fatal(err)
		}
	}
	indexed := func() (rows, blocks int) {
		t.Helper()
		err := s.reader.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM event_indicators),
			(SELECT count(*) FROM event_indicator_blocks)`).Scan(&rows, &blocks)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	search := func() {
		t.Helper()
		evs, err := s.SearchIndicator(ctx, store.IndicatorQuery{Kind: store.IndicatorEmail, Value: "jane@example.com", Limit: n})
		if err != nil {
			t.Fatal(err)
		}
		want := n - (n+2)/3
		if len(evs) != want {
			t.Fatalf("found %d events, want %d", len(evs), want)
		}
		for i, j := 0, n-1; i < len(evs); i, j = i+1, j-1 {
			if j%3 == 0 {
				j--
			}
			if w := fmt.Sprint("e", j); evs[i].UUID != w {
				t.Fatalf("event %d is %s, want %s", i, evs[i].UUID, w)
			}
		}
	}
	insert(block - 2) // seqs 1..block-2: block 0 unfinished
	if r, b := indexed(); r != 0 || b != 0 {
		t.Errorf("block 0 unfinished: %d rows indexed in %d blocks, want none", r, b)
	}
	search()
	insert(1) // seq block-1 finishes block 0
	if r, b := indexed(); r != 2*(block-1-(block+1)/3) || b != 1 {
		t.Errorf("block 0 finished: %d rows indexed in %d blocks, want %d in 1", r, b, 2*(block-1-(block+1)/3))
	}
	search()
	insert(2*block + 10) // blocks 1 and 2 in one commit
	if _, b := indexed(); b != 3 {
		t.Errorf("blocks 1 and 2 finished: %d blocks indexed, want 3", b)
	}
	search()
}

// FuzzIndicatorRows: whatever an event's p_any_ values are, the index keys
// them exactly as store.IndicatorKey keys a search (or leaves them out when
// it refuses them), once each, and a search finds them.
func FuzzIndicatorRows(f *testing.F) {
	for _, seed := range [][2]string{{"Jane@Example.com", "2001:0DB8::1"}, {" a@b ", "::ffff:192.0.2.1"}, {"no-at", "192.0.2.01"},
		{"x\x1e@y", "fe80::1%eth0"}, {"É@Ü.de", " 10.0.0.1 "}, {`q"uote@x`, "[::1]"}} {
		f.Add(seed[0], seed[1], seed[0])
	}
	f.Fuzz(func(t *testing.T, email, ip, other string) {
		at := time.Date(2026, 3, 1, 0, 0, 0, 123, time.UTC)
		emails, _ := jsonArray([]string{email, other}).(string)
		ips, _ := jsonArray([]string{ip, other}).(string)
		rows := appendIndicatorRows(nil, 7, timeText(at), emails, ips)
		want := map[string]bool{}
		for _, v := range []string{email, other} {
			if k, err := store.IndicatorKey(store.IndicatorEmail, v); err == nil {
				want[k] = true
			}
		}
		for _, v := range []string{ip, other} {
			if k, err := store.IndicatorKey(store.IndicatorIP, v); err == nil {
				want[k] = true
			}
		}
		got := map[string]bool{}
		for _, r := range rows {
			if got[r.key] || r.seq != 7 || r.t != at.UnixNano() {
				t.Fatalf("row %+v (keys so far %v)", r, got)
			}
			got[r.key] = true
		}
		if len(got) != len(want) {
			t.Fatalf("keys %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
		}
		for k := range want {
			if !got[k] {
				t.Fatalf("keys %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)))
			}
		}
	})
}
