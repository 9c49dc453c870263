package sqlite

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// fixtureDir holds sample Events API payloads beside the repository.
const fixtureDir = "../../../../shared/fixtures/onepassword"

// fixtureRaws reads every event of every fixture file by log type.
func fixtureRaws(t *testing.T) map[*logtype.LogType][][]byte {
	t.Helper()
	entries, err := os.ReadDir(fixtureDir)
	if os.IsNotExist(err) {
		t.Skipf("fixtures not found at %s", fixtureDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	out := map[*logtype.LogType][][]byte{}
	types := map[string]*logtype.LogType{"signinattempts": logtype.SignInAttempt(), "itemusages": logtype.ItemUsage(), "audit": logtype.AuditEvent()}
	for _, e := range entries {
		var lt *logtype.LogType
		for part, l := range types {
			if strings.Contains(e.Name(), part) && !strings.Contains(e.Name(), "introspect") {
				lt = l
			}
		}
		if lt == nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(fixtureDir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if filepath.Ext(e.Name()) == ".ndjson" {
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
					out[lt] = append(out[lt], bytes.Clone(line))
				}
			}
			continue
		}
		var page struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(data, &page); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		for _, item := range page.Items {
			out[lt] = append(out[lt], item)
		}
	}
	return out
}

// storeAndCompact stores events by log type as a source's, marks them
// evaluated, and returns what the lake reads before and after compacting
// them all.
func storeAndCompact(t testing.TB, s *Store, byType map[string][]store.Event) (before, after []store.StoredEvent) {
	ctx := context.Background()
	var types []string
	for lt := range byType {
		types = append(types, lt)
	}
	src := &store.Source{Name: "fixtures", AccountUUID: "ACCT", Region: "business", APIVersion: 2, Interval: time.Minute,
		Lookback: time.Hour, Token: []byte("sealed")}
	if err := s.CreateSource(ctx, src, types); err != nil {
		t.Fatal(err)
	}
	sts, err := s.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range sts {
		evs := byType[st.LogType]
		for i := range evs {
			evs[i].SourceID = src.ID
		}
		if _, err := s.InsertEvents(ctx, st.ID, evs, nil); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.LatestSeq(ctx)
	if err != nil {
		t.Fatal(err)
	}
	epoch, err := s.AlertEpoch(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CommitDetect(ctx, store.DetectCommit{Stage: store.CompactStage, To: latest, Epoch: epoch}); err != nil {
		t.Fatal(err)
	}
	if before, err = s.EventsAfter(ctx, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	for {
		res, err := s.CompactEvents(ctx, time.Now().Add(time.Hour), 1000)
		if err != nil {
			t.Fatal(err)
		}
		if res.Events == 0 {
			break
		}
	}
	if after, err = s.EventsAfter(ctx, 0, 1<<20); err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.reader.QueryRow(`SELECT count(*) FROM events`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events left hot (%v), want every one compacted", n, err)
	}
	return before, after
}

// Every fixture event reads back byte for byte once compacted.
func TestCompactFixtures(t *testing.T) {
	raws := fixtureRaws(t)
	byType := map[string][]store.Event{}
	stored := time.Now().Add(-48 * time.Hour).UTC()
	total := 0
	for lt, list := range raws {
		for _, raw := range list {
			e, err := lt.Parse(raw)
			if err != nil {
				continue // quarantined by ingest, not stored
			}
			byType[lt.Name] = append(byType[lt.Name], store.Event{Account: "ACCT", LogType: lt.Name, UUID: e.UUID,
				EventTime: e.Time, ParseTime: stored, RowID: "r" + e.UUID, SourceLabel: "fixtures", IPs: e.IPs, Emails: e.Emails, Raw: e.Raw})
			total++
		}
	}
	if total < 50 {
		t.Fatalf("only %d fixture events parse", total)
	}
	before, after := storeAndCompact(t, openTest(t), byType)
	if len(before) == 0 {
		t.Fatal("nothing stored")
	}
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("compacted fixtures read back differently (-before +after):\n%s", diff)
	}
	for i := range before {
		if !bytes.Equal(before[i].Raw, after[i].Raw) {
			t.Fatalf("event %d: raw %q became %q", before[i].Seq, before[i].Raw, after[i].Raw)
		}
	}
}

// Any raw bytes, uuid and indicator text an event may carry survive
// compaction byte for byte.
func FuzzCompact(f *testing.F) {
	f.Add([]byte(`{"uuid":"a","x":"\u00e9\n"}`), "U1", "jane@example.com", "192.0.2.1")
	f.Add([]byte("not json \x00\xff"), "U2", "", "::1")
	f.Fuzz(func(t *testing.T, raw []byte, uuid, email, ip string) {
		if len(raw) == 0 || uuid == "" || len(raw) > 1<<16 || !utf8.ValidString(uuid+email+ip) {
			return // the store's text is UTF-8: ingest stores only what decoded as JSON
		}
		at := time.Date(2026, 11, 1, 0, 0, 0, len(raw), time.UTC)
		e := store.Event{Account: "ACCT", LogType: "OnePassword.AuditEvent", UUID: uuid, EventTime: at, ParseTime: at,
			RowID: "r", SourceLabel: "l", Raw: raw}
		if email != "" {
			e.Emails = []string{email}
		}
		if ip != "" {
			e.IPs = []string{ip}
		}
		s, err := Open(context.Background(), filepath.Join(t.TempDir(), "f.db"), Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		before, after := storeAndCompact(t, s, map[string][]store.Event{e.LogType: {e}})
		if diff := cmp.Diff(before, after); diff != "" {
			t.Fatalf("(-before +after):\n%s", diff)
		}
	})
}

// ReclaimSpace gives the pages compaction freed back: the file shrinks and
// no free page is left, the WAL truncated.
func TestReclaimSpaceShrinksTheFile(t *testing.T) {
	s := openTest(t)
	at := time.Now().Add(-48 * time.Hour).UTC()
	var evs []store.Event
	for i := range 3000 {
		raw := fmt.Sprintf(`{"uuid":"U%05d","timestamp":%q,"padding":%q}`, i, at.Format(time.RFC3339Nano), strings.Repeat("x", 600))
		evs = append(evs, store.Event{Account: "ACCT", LogType: "OnePassword.AuditEvent", UUID: fmt.Sprintf("U%05d", i),
			EventTime: at.Add(time.Duration(i) * time.Second), ParseTime: at, RowID: "r", SourceLabel: "l", Raw: []byte(raw)})
	}
	before, after := storeAndCompact(t, s, map[string][]store.Event{"OnePassword.AuditEvent": evs})
	if len(before) != len(after) {
		t.Fatalf("%d events before, %d after", len(before), len(after))
	}
	size := func() int64 {
		fi, err := os.Stat(s.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	s.ckpt.truncate()
	grown := size()
	if err := s.ReclaimSpace(context.Background(), false); err != nil {
		t.Fatal(err)
	}
	var free int64
	if err := s.writer.QueryRow(`PRAGMA freelist_count`).Scan(&free); err != nil || free != 0 {
		t.Errorf("%d free pages left (%v), want none", free, err)
	}
	if got := size(); got > grown/2 {
		t.Errorf("the file is %d bytes after reclaiming, %d before: want it at least halved", got, grown)
	}
	if fi, err := os.Stat(s.path + "-wal"); err == nil && fi.Size() > 0 {
		t.Errorf("the WAL holds %d bytes after reclaiming, want it truncated", fi.Size())
	}
}
