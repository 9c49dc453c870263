package emulator

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const fixtures = "../../../shared/fixtures/onepassword"

// TestWireOrderMatchesRealPayloads checks the key orders the shape tests
// demand against payloads gathered from real integrations, so that the
// emulator's wire format is held to observed data, not to itself.
func TestWireOrderMatchesRealPayloads(t *testing.T) {
	if _, err := os.Stat(fixtures); err != nil {
		t.Skipf("fixtures not available: %v", err)
	}
	tests := []struct {
		file, kind string
		envelope   bool
	}{
		{"cribl-1password-rest-io_auditevents_v2.ndjson", "auditevents v2", false},
		{"elastic-integrations_pipeline-test_auditevents_v1.ndjson", "auditevents v1", false},
		{"elastic-integrations_mock_signinattempts_v1_page1.json", "signinattempts v1", true},
		{"elastic-integrations_mock_signinattempts_v1_page2.json", "signinattempts v1", true},
		{"elastic-integrations_mock_itemusages_v1_page1.json", "itemusages v1", true},
	}
	for _, tt := range tests {
		var items []json.RawMessage
		if tt.envelope {
			b, err := os.ReadFile(filepath.Join(fixtures, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			env := decodeObject(t, b)
			if err := checkOrder(env.keys, req("cursor", "has_more", "items")); err != nil {
				t.Errorf("%s envelope: %v", tt.file, err)
			}
			json.Unmarshal(env.values["items"], &items)
		} else {
			f, err := os.Open(filepath.Join(fixtures, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				items = append(items, append([]byte(nil), sc.Bytes()...))
			}
			f.Close()
		}
		if len(items) == 0 {
			t.Fatalf("%s: no events", tt.file)
		}
		for i, it := range items {
			o := decodeObject(t, it)
			if err := checkOrder(o.keys, wireOrder[tt.kind]); err != nil {
				t.Errorf("%s event %d: %v", tt.file, i, err)
			}
		}
	}
}
