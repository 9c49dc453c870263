package logtype

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fixtureDir holds sample Events API payloads beside the repository.
const fixtureDir = "../../../shared/fixtures/onepassword"

type fixtureEvent struct {
	file string
	line int // 1-based item or line number
	lt   *LogType
	raw  []byte
}

// fixtureEvents reads every event of every fixture file: the items of
// envelope files and each line of ndjson files. It skips the test when the
// fixtures are absent.
func fixtureEvents(t testing.TB) []fixtureEvent {
	t.Helper()
	entries, err := os.ReadDir(fixtureDir)
	if os.IsNotExist(err) {
		t.Skipf("fixtures not found at %s", fixtureDir)
	}
	if err != nil {
		t.Fatal(err)
	}
	var events []fixtureEvent
	for _, e := range entries {
		name := e.Name()
		var lt *LogType
		switch {
		case strings.Contains(name, "introspect"):
			continue
		case strings.Contains(name, "signinattempts"):
			lt = SignInAttempt()
		case strings.Contains(name, "itemusages"):
			lt = ItemUsage()
		case strings.Contains(name, "audit"):
			lt = AuditEvent()
		default:
			continue
		}
		data, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(name) {
		case ".ndjson":
			sc := bufio.NewScanner(bytes.NewReader(data))
			sc.Buffer(nil, 1<<20)
			for n := 1; sc.Scan(); n++ {
				if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
					events = append(events, fixtureEvent{name, n, lt, bytes.Clone(line)})
				}
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
		case ".json":
			var page struct {
				Items []json.RawMessage `json:"items"`
			}
			if err := json.Unmarshal(data, &page); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for i, item := range page.Items {
				events = append(events, fixtureEvent{name, i + 1, lt, item})
			}
		}
	}
	if len(events) == 0 {
		t.Fatalf("no events found in %s", fixtureDir)
	}
	return events
}

// Every wire-format fixture parses, and reads as encoding/json reads it.
// The Panther rule-test files hold Panther's normalized rows, whose
// timestamps ("2022-02-23 22:11:50.591") are not RFC 3339: those are
// checked to be rejected with that reason, since Parse sees only what the
// Events API sends.
func TestParseFixtures(t *testing.T) {
	var parsed, rejected int
	for _, fe := range fixtureEvents(t) {
		ev, err := fe.lt.Parse(fe.raw)
		if strings.HasPrefix(fe.file, "panther-analysis_") {
			if err == nil || !strings.HasPrefix(err.Error(), "timestamp: not an RFC 3339 time: ") {
				t.Errorf("%s:%d: error %v, want the timestamp rejected", fe.file, fe.line, err)
			}
			rejected++
			continue
		}
		if err != nil {
			t.Errorf("%s:%d: %v", fe.file, fe.line, err)
			continue
		}
		parsed++
		var want struct {
			UUID      string    `json:"uuid"`
			Timestamp time.Time `json:"timestamp"`
		}
		if err := json.Unmarshal(fe.raw, &want); err != nil {
			t.Fatal(err)
		}
		if ev.UUID != want.UUID || !ev.Time.Equal(want.Timestamp) || ev.Time.Location() != time.UTC {
			t.Errorf("%s:%d: got %q %v, want %q %v", fe.file, fe.line, ev.UUID, ev.Time, want.UUID, want.Timestamp.UTC())
		}
		if !bytes.Equal(ev.Raw, fe.raw) {
			t.Errorf("%s:%d: Raw changed", fe.file, fe.line)
		}
	}
	t.Logf("%d fixture events parsed, %d Panther rows rejected", parsed, rejected)
	if parsed < 100 || rejected != 9 {
		t.Errorf("parsed %d and rejected %d fixture events; want at least 100 and 9", parsed, rejected)
	}
}

// Indicators read from real-looking data agree with the reference reading.
func TestParseFixtureIndicators(t *testing.T) {
	var checked int
	for _, fe := range fixtureEvents(t) {
		ev, err := fe.lt.Parse(fe.raw)
		if err != nil {
			continue
		}
		want, ok := reference(fe.lt, fe.raw)
		if !ok {
			t.Errorf("%s:%d: the reference reading rejects an event Parse accepts", fe.file, fe.line)
			continue
		}
		if !slices.Equal(ev.IPs, want.IPs) || !slices.Equal(ev.Emails, want.Emails) {
			t.Errorf("%s:%d: IPs %v, Emails %v; want %v, %v", fe.file, fe.line, ev.IPs, ev.Emails, want.IPs, want.Emails)
		}
		switch {
		case strings.HasPrefix(fe.file, "cribl-"):
			// Real v2 audit events: session.ip and actor_details.email.
			if len(ev.IPs) != 1 || ev.IPs[0] != "2001:0db8:85a3:0000:0000:8a2e:0370:7334" || len(ev.Emails) != 1 {
				t.Errorf("%s:%d: IPs %v, Emails %v", fe.file, fe.line, ev.IPs, ev.Emails)
			}
		case strings.HasPrefix(fe.file, "grove_") && fe.lt.Name != "OnePassword.AuditEvent":
			// Copied from 1Password's docs, whose client object says "ip"
			// instead of "ip_address": no IP indicator.
			if ev.IPs != nil || len(ev.Emails) != 1 || ev.Emails[0] != "wendy_appleseed@agilebits.com" {
				t.Errorf("%s:%d: IPs %v, Emails %v", fe.file, fe.line, ev.IPs, ev.Emails)
			}
		}
		checked++
	}
	if checked == 0 {
		t.Error("no fixture event checked")
	}
}
