package cli

import (
	"testing"
	"unicode/utf8"

	"github.com/opwatch/opwatch/internal/store"
)

func TestSummaryValue(t *testing.T) {
	ev := store.StoredEvent{IPs: []string{"192.0.2.1", "192.0.2.2"}, Emails: []string{"eve@example.com"}, LogType: "OnePassword.SignInAttempt",
		Raw: []byte(`{"category":"credentials_failed","client":{"ip_address":"192.0.2.1","os":{"name":"macOS"}},"tags":["a",null,"b"],"n":3,"o":{"x":1}}`)}
	for name, want := range map[string]string{
		"p_any_ip_addresses":    "192.0.2.1, 192.0.2.2",
		"p_any_emails":          "eve@example.com",
		"p_log_type":            "OnePassword.SignInAttempt",
		"category":              "credentials_failed",
		"client.ip_address":     "192.0.2.1",
		"client.os.name":        "macOS",
		"tags":                  "a, b",
		"n":                     "3",
		"o":                     `{"x":1}`,
		"missing":               "",
		"category.deeper":       "",
		"client.ip_address.not": "",
	} {
		if got := summaryValue(ev, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

// FuzzSummaryValue: any event and attribute name give a value without
// panicking, and the same one twice.
func FuzzSummaryValue(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,"x",{"c":null}]}}`), "a.b")
	f.Add([]byte(`[1,2]`), "0")
	f.Add([]byte(`{"":""}`), "")
	f.Add([]byte(`not json`), "a")
	f.Fuzz(func(t *testing.T, raw []byte, name string) {
		ev := store.StoredEvent{Raw: raw}
		v := summaryValue(ev, name)
		if v != summaryValue(ev, name) {
			t.Fatal("not deterministic")
		}
		if utf8.Valid(raw) && !utf8.ValidString(v) {
			t.Fatalf("invalid UTF-8 out of valid input: %q", v)
		}
	})
}
