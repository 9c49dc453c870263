package onepassword

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestEncodeRequest(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 30, 0, 500, time.FixedZone("x", -3*3600))
	tests := []struct {
		name    string
		r       Request
		want    string
		wantErr string
	}{
		{name: "empty reset", r: Request{}, want: `{}`},
		{name: "limit only", r: Request{Limit: 1000}, want: `{"limit":1000}`},
		{name: "times in UTC", r: Request{Limit: 10, StartTime: start, EndTime: start.Add(time.Hour)},
			want: `{"limit":10,"start_time":"2026-03-01T15:30:00.0000005Z","end_time":"2026-03-01T16:30:00.0000005Z"}`},
		{name: "cursor wins", r: Request{Cursor: "abc", Limit: 10, StartTime: start}, want: `{"cursor":"abc"}`},
		{name: "limit too big", r: Request{Limit: 1001}, wantErr: "outside 1..1000"},
		{name: "negative limit", r: Request{Limit: -1}, wantErr: "outside 1..1000"},
		{name: "end before start", r: Request{StartTime: start, EndTime: start.Add(-time.Second)}, wantErr: "before start time"},
		{name: "year out of range", r: Request{StartTime: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}, wantErr: "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := encodeRequest(tt.r)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("encodeRequest = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestFetchSendsRequest(t *testing.T) {
	for _, version := range []int{0, 1, 2} {
		var got *http.Request
		var body map[string]any
		srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
			got = r
			body = requestBody(t, r)
			writePage(w, "c", false)
		})
		c, _ := testClient(t, srv, func(o *Options) { o.APIVersion = version; o.UserAgent = "opwatch-test/1" })
		if _, err := c.Fetch(context.Background(), SignInAttempts, Request{Limit: 1000}); err != nil {
			t.Fatal(err)
		}
		wantPath := "/api/v2/signinattempts"
		if version == 1 {
			wantPath = "/api/v1/signinattempts"
		}
		if got.Method != http.MethodPost || got.URL.Path != wantPath {
			t.Errorf("version %d: %s %s, want POST %s", version, got.Method, got.URL.Path, wantPath)
		}
		if got.Header.Get("Authorization") != "Bearer "+string(c.token) || got.Header.Get("Content-Type") != "application/json" ||
			got.Header.Get("User-Agent") != "opwatch-test/1" {
			t.Errorf("headers %v", got.Header)
		}
		if body["limit"] != 1000.0 || len(body) != 1 {
			t.Errorf("body %v", body)
		}
	}
}

func TestFetchRejectsBadInput(t *testing.T) {
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) { t.Error("no request expected") })
	c, _ := testClient(t, srv, nil)
	if _, err := c.Fetch(context.Background(), "users", Request{}); err == nil || !strings.Contains(err.Error(), "unknown Events API feature") {
		t.Errorf("unknown feature: %v", err)
	}
	_, err := c.Fetch(context.Background(), ItemUsages, Request{Limit: 5000})
	if k, _ := KindOf(err); k != BadRequest || !strings.Contains(err.Error(), "page limit 5000") {
		t.Errorf("bad limit: %v", err)
	}
}

func FuzzEncodeRequest(f *testing.F) {
	f.Add("", 1000, int64(1700000000), int64(0), int64(1700003600), int64(5))
	f.Add("aGVsbG8=", 0, int64(0), int64(0), int64(0), int64(0))
	f.Add("<a&b>\"\\\u2028", 1, int64(-62135596800), int64(0), int64(253402300799), int64(999999999))
	f.Fuzz(func(t *testing.T, cursor string, limit int, startSec, startNsec, endSec, endNsec int64) {
		r := Request{Cursor: cursor, Limit: limit}
		if startSec != 0 {
			r.StartTime = time.Unix(startSec, startNsec)
		}
		if endSec != 0 {
			r.EndTime = time.Unix(endSec, endNsec)
		}
		b, err := encodeRequest(r)
		if err != nil {
			if cursor != "" {
				t.Fatalf("a cursor request failed: %v", err)
			}
			return
		}
		var got struct {
			Cursor    *string    `json:"cursor"`
			Limit     *int       `json:"limit"`
			StartTime *time.Time `json:"start_time"`
			EndTime   *time.Time `json:"end_time"`
		}
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("body %s is not JSON: %v", b, err)
		}
		if cursor != "" {
			// Cursors come from JSON, so they are valid UTF-8.
			if utf8.ValidString(cursor) && (got.Cursor == nil || *got.Cursor != cursor) {
				t.Errorf("cursor %q came back as %v", cursor, got.Cursor)
			}
			if got.Limit != nil || got.StartTime != nil || got.EndTime != nil {
				t.Errorf("cursor body %s has reset fields", b)
			}
			return
		}
		if got.Cursor != nil || (limit == 0) != (got.Limit == nil) || (got.Limit != nil && *got.Limit != limit) {
			t.Errorf("limit %d sent as %s", limit, b)
		}
		for _, tc := range []struct {
			want time.Time
			got  *time.Time
		}{{r.StartTime, got.StartTime}, {r.EndTime, got.EndTime}} {
			if tc.want.IsZero() != (tc.got == nil) || (tc.got != nil && !tc.got.Equal(tc.want)) {
				t.Errorf("time %v sent as %s", tc.want, b)
			}
			if tc.got != nil && tc.got.Location() != time.UTC {
				t.Errorf("time sent with an offset: %s", b)
			}
		}
	})
}

func TestInsecureSkipVerify(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { writePage(w, "c", false) }))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshake is expected
	srv.StartTLS()
	defer srv.Close()
	for _, skip := range []bool{false, true} {
		c, err := New(Options{Token: allFeaturesToken(t, srv.Listener.Addr().String()), BaseURL: srv.URL, InsecureSkipVerify: skip,
			Retry: RetryPolicy{MaxAttempts: 1}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Fetch(context.Background(), ItemUsages, Request{})
		if skip && err != nil {
			t.Errorf("with InsecureSkipVerify: %v", err)
		}
		if k, _ := KindOf(err); !skip && k != Unexpected {
			t.Errorf("self-signed certificate accepted without InsecureSkipVerify: %v", err)
		}
	}
}
