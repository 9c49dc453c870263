package emulator

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestLoadFixturesNormalises(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A documentation-derived envelope (client "ip"), a Panther line, a
	// duplicate, a v2 audit event, and files that are not events.
	write("doc_signinattempts_page1.json", `{"cursor":"x","has_more":false,"items":[
		{"uuid":"DOCSIGNIN","session_uuid":"S","timestamp":"2021-06-11T16:32:50-03:00","category":"success","type":"credentials_ok","country":"CA","details":null,
		 "target_user":{"uuid":"U","name":"N","email":"e@x"},"client":{"app_name":"A","ip":"192.0.2.1"}}]}`)
	write("panther_signinattempts.ndjson", `{"uuid":"PANTHER","timestamp":"2021-06-11 19:32:49.5","category":"credentials_failed","type":"password_secret_bad","p_log_type":"OnePassword.SignInAttempt","client":{"ip_address":"192.0.2.2"}}
{"uuid":"DOCSIGNIN","timestamp":"2021-06-11T19:32:50Z"}
{"uuid":"FEDERATED","timestamp":"2021-06-11T19:32:50Z","category":"success","type":"federated","account_uuid":"A"}
`)
	write("real_auditevents_v2.ndjson", `{"uuid":"AUDIT","timestamp":"2025-07-28T19:32:38.4407491Z","actor_uuid":"U","actor_details":{"uuid":"U","name":"N","email":"e@x","user_type":"user"},"action":"patch","object_type":"items","object_uuid":"v","session":{"uuid":"S","login_time":"2025-07-28T19:32:36.506015779Z","device_uuid":"d","ip":"192.0.2.3"},"actor_type":"user","account_uuid":"REALACCOUNT"}`)
	write("introspect_v2_response.json", `{"uuid":"I","features":[]}`)
	write("SOURCES.md", "# not events")

	c := newClock()
	e := start(t, Options{Seed: 1, Now: c.Now})
	got, err := e.LoadFixtures("ACCOUNTONE", dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"signinattempts": 2, "auditevents": 1}, got); diff != "" {
		t.Errorf("loaded (-want +got):\n%s", diff)
	}
	tok := token(t, e, TokenOptions{Account: "ACCOUNTONE"})
	served := func(path string) []string {
		p := fetch(t, e, tok, path, `{"start_time":"2020-01-01T00:00:00Z"}`)
		var out []string
		for _, it := range p.Items {
			out = append(out, string(it))
		}
		return out
	}
	// The doc event moved 1 s after Panther's, to now; ip became ip_address.
	want := []string{
		`{"uuid":"DOCSIGNIN","session_uuid":"S","timestamp":"2025-07-28T19:00:00Z","category":"success","type":"credentials_ok","country":"CA","details":null,"target_user":{"uuid":"U","name":"N","email":"e@x"},"client":{"app_name":"A","ip_address":"192.0.2.1"}}`,
		`{"uuid":"PANTHER","timestamp":"2025-07-28T18:59:59.5Z","category":"credentials_failed","type":"password_secret_bad","client":{"ip_address":"192.0.2.2"}}`,
	}
	if diff := cmp.Diff(want, served("/api/v1/signinattempts")); diff != "" {
		t.Errorf("v1 sign-ins (-want +got):\n%s", diff)
	}
	v2 := served("/api/v2/signinattempts")
	if len(v2) != 2 || !strings.HasSuffix(v2[0], `,"account_uuid":"ACCOUNTONE"}`) {
		t.Errorf("v2 sign-ins lack the account: %v", v2)
	}
	wantAudit := []string{
		`{"uuid":"AUDIT","timestamp":"2025-07-28T19:00:00Z","actor_uuid":"U","actor_details":{"uuid":"U","name":"N","email":"e@x"},"action":"patch","object_type":"items","object_uuid":"v","session":{"uuid":"S","login_time":"2025-07-28T18:59:58.065266679Z","device_uuid":"d","ip":"192.0.2.3"}}`,
	}
	if diff := cmp.Diff(wantAudit, served("/api/v1/auditevents")); diff != "" {
		t.Errorf("v1 audit events (-want +got):\n%s", diff)
	}
	if a2 := served("/api/v2/auditevents"); len(a2) != 1 || !strings.Contains(a2[0], `"user_type":"user"`) ||
		!strings.HasSuffix(a2[0], `"actor_type":"user","account_uuid":"REALACCOUNT"}`) {
		t.Errorf("v2 audit event changed its v2 fields: %v", a2)
	}
	if h := e.Head("ACCOUNTONE", "signinattempts"); h != 2 {
		t.Errorf("Head = %d, want 2", h)
	}
	if _, err := e.LoadFixtures("", filepath.Join(dir, "missing")); err == nil {
		t.Error("LoadFixtures of a missing directory succeeded")
	}
}

// TestLoadSharedFixtures loads every shared fixture and serves them.
func TestLoadSharedFixtures(t *testing.T) {
	if _, err := os.Stat(fixtures); err != nil {
		t.Skipf("fixtures not available: %v", err)
	}
	c := newClock()
	e := start(t, Options{Seed: 1, Now: c.Now})
	loaded, err := e.LoadFixtures("", fixtures)
	if err != nil {
		t.Fatal(err)
	}
	tok := token(t, e, TokenOptions{})
	for _, path := range eventPaths {
		f, version := featureOf(path)
		if loaded[f] == 0 {
			t.Errorf("no %s fixture loaded", f)
		}
		got := drain(t, e, tok, path, everything)
		if diff := cmp.Diff(all(e, "", f, version), got); diff != "" || len(got) != loaded[f] {
			t.Errorf("%s: %d served, %d loaded; differs from Each (-want +got):\n%s", path, len(got), loaded[f], diff)
		}
		p := fetch(t, e, tok, path, everything)
		for _, it := range p.Items {
			var ev struct {
				Timestamp   string
				AccountUUID *string `json:"account_uuid"`
				Client      map[string]any
			}
			if err := json.Unmarshal(it, &ev); err != nil {
				t.Fatal(err)
			}
			ts, err := time.Parse(time.RFC3339Nano, ev.Timestamp)
			if err != nil || ts.After(c.Now()) || ts.Before(c.Now().Add(-fixtureSpread)) {
				t.Errorf("%s: timestamp %q (%v) not in the last day", path, ev.Timestamp, err)
			}
			if (ev.AccountUUID != nil) != (version == 2) {
				t.Errorf("%s: account_uuid present %v: %s", path, ev.AccountUUID != nil, it)
			}
			if _, ok := ev.Client["ip"]; ok {
				t.Errorf("%s: client.ip typo served: %s", path, it)
			}
		}
	}
	t.Logf("loaded %v", loaded)
}

// FuzzFixtureEvent feeds arbitrary event lines through the normalisation:
// whatever it accepts, both shapes it serves are valid JSON objects with
// the event's uuid.
func FuzzFixtureEvent(f *testing.F) {
	f.Add([]byte(`{"uuid":"A","timestamp":"2021-06-11 19:32:49.5","client":{"ip":"1"},"session":{"login_time":"2021-06-11T19:00:00Z"}}`))
	f.Add([]byte(`{"uuid":"B","timestamp":"2025-07-28t19:32:38z","actor_details":{"user_type":"user"},"account_uuid":"X"}`))
	f.Add([]byte(`{"uuid":"C","timestamp":"2025-07-28T19:32:38Z","client":null,"session":7}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x_itemusages.ndjson"), line, 0o600); err != nil {
			t.Fatal(err)
		}
		events, err := readFixture(filepath.Join(dir, "x_itemusages.ndjson"))
		if err != nil {
			return
		}
		for _, ev := range events {
			v1, v2, err := ev.render("ACCOUNT", auditEvents, 0)
			if err != nil {
				continue
			}
			for _, b := range [][]byte{v1, v2} {
				var o struct{ UUID string }
				if err := json.Unmarshal(b, &o); err != nil || o.UUID != ev.uuid {
					t.Fatalf("rendered %s: %v (uuid %q, want %q)", b, err, o.UUID, ev.uuid)
				}
			}
		}
	})
}
