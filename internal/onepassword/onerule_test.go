package onepassword

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/opwatch/opwatch/internal/logtype"
)

// B6: an event is judged once, by logtype. A page whose items are not all
// valid reaches the caller whole, every item byte for byte, and Parse says
// what is wrong with each bad one, so that ingest quarantines it with that
// reason instead of failing (and retrying) the whole page.
func TestBadItemsReachLogtypeWhole(t *testing.T) {
	good := `{"uuid":"56YE2TYN2VFYRLNSHKPW5NVT5E","session_uuid":"A5K6COGVRVEJXJW3XQZGS7VAMM","timestamp":"2023-03-15T16:33:50-03:00","category":"success","type":"credentials_ok","country":"CA","target_user":{"uuid":"OJQGU46KAPROEJLCK674RHSAY5","name":"Ruby","email":"ruby@example.com"},"client":{"app_name":"1Password Browser Extension","app_version":"20184","platform_name":"Chrome","platform_version":"110","os_name":"MacOSX","os_version":"13.2","ip_address":"192.0.2.254"}}`
	notUTF8 := "{\"uuid\":\"U2\",\"timestamp\":\"2023-03-15T16:33:50Z\",\"category\":\"success\",\"type\":\"credentials_ok\",\"target_user\":{\"email\":\"r\xffby@example.com\"}}"
	notJSON := `{"uuid":"U3","timestamp":"2023-03-15T16:33:50Z" "category":"success"}`
	body := []byte(`{"cursor":"c","has_more":false,"items":[` + good + `,` + notUTF8 + `,` + notJSON + `]}`)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { w.Write(body) })
	c, _ := testClient(t, srv, nil)
	p, err := c.Fetch(context.Background(), SignInAttempts, Request{Limit: 10})
	if err != nil {
		t.Fatalf("a page with bad items failed whole: %v", err)
	}
	want := []string{good, notUTF8, notJSON}
	if len(p.Items) != len(want) {
		t.Fatalf("%d items, want %d", len(p.Items), len(want))
	}
	for i, it := range p.Items {
		if !bytes.Equal(it, []byte(want[i])) {
			t.Errorf("item %d = %q, want it byte for byte: %q", i, it, want[i])
		}
	}
	lt := logtype.SignInAttempt()
	if _, err := lt.Parse(p.Items[0]); err != nil {
		t.Errorf("the good item: %v", err)
	}
	for i, reason := range map[int]string{1: "not UTF-8 text", 2: "not valid JSON"} {
		if _, err := lt.Parse(p.Items[i]); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("item %d: Parse error %v, want %q", i, err, reason)
		}
	}
}
