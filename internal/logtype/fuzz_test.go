package logtype

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// FuzzParse checks Parse against the reference reading through
// encoding/json, for all three log types:
//   - it never panics;
//   - invalid JSON is always rejected, and what it accepts is valid JSON;
//   - what it accepts, encoding/json reads with the same uuid, time and
//     indicators, and Raw is the input;
//   - without duplicate keys, it accepts exactly what the reference accepts.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		signInV1, signInV2, itemUsageV1, itemUsageV2, auditV1, auditV2, minimal,
		`{"uuid":"\u0041\ud83d\ude00\ud800","timestamp":"2025-01-02T03:04:05.999999999999+23:59","target_user":{"email":" a\u0040b "}}`,
		`{"uuid":"U","timestamp":"2025-01-02T03:04:05Z","uuid":"V","client":{"ip_address":"1.2.3.4"},"client":null}`,
		`{"uuid":"U","timestamp":"2025-01-02T03:04:05Z","aux_id":-9223372036854775808,"used_version":9223372036854775808}`,
		`{"uuid":"U","timestamp":"2025-01-02T03:04:05Z","location":{"latitude":1e308,"longitude":-0.0e-999}}`,
		`{"uuid":"U","timestamp":"2025-01-02T03:04:05Z","x":[{},[],"",0,-1.5E+3,true,false,null]}`,
		`{"uuid":"U","timestamp":"2025-01-02 03:04:05"}`, `{"uuid":"U"`, `[]`, ``, `{}`, `{"a":1}x`,
		"{\"uuid\":\"\xff\"}", `{"uuid":"U","timestamp":"2025-01-02T03:04:05Z","session":{"ip":"fe80::1%25"}}`,
	} {
		f.Add([]byte(s))
	}
	if _, err := os.Stat(fixtureDir); err == nil {
		for _, fe := range fixtureEvents(f) {
			f.Add(fe.raw)
		}
	}
	lts := All()
	f.Fuzz(func(t *testing.T, raw []byte) {
		valid := json.Valid(raw)
		dups := valid && hasDuplicateKeys(raw)
		for _, lt := range lts {
			ev, err := lt.Parse(raw)
			want, refOK := reference(lt, raw)
			if err != nil {
				if _, ok := err.(*ValidationError); !ok {
					t.Fatalf("%s: error %T, want *ValidationError", lt.Name, err)
				}
				if refOK && !dups {
					t.Fatalf("%s: Parse rejects %q (%v), the reference accepts it", lt.Name, raw, err)
				}
				continue
			}
			if !valid {
				t.Fatalf("%s: Parse accepts %q, which json.Valid rejects", lt.Name, raw)
			}
			if !refOK {
				t.Fatalf("%s: Parse accepts %q, the reference rejects it", lt.Name, raw)
			}
			if diff := cmp.Diff(want, ev); diff != "" {
				t.Fatalf("%s: %q: Parse and the reference differ (-reference +Parse):\n%s", lt.Name, raw, diff)
			}
			if ev.Time.Location() != time.UTC || ev.UUID == "" {
				t.Fatalf("%s: time %v, uuid %q", lt.Name, ev.Time, ev.UUID)
			}
			for _, list := range [][]string{ev.Emails, ev.IPs} {
				if !slices.IsSorted(list) || len(slices.Compact(slices.Clone(list))) != len(list) {
					t.Fatalf("%s: indicator list %q is not sorted and unique", lt.Name, list)
				}
				for _, v := range list {
					if v != strings.TrimSpace(v) || v == "" {
						t.Fatalf("%s: indicator %q is not trimmed", lt.Name, v)
					}
				}
			}
		}
	})
}
