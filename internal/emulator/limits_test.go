package emulator

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestRateLimit(t *testing.T) {
	c := newClock()
	e := start(t, Options{Seed: 1, Events: 5, Now: c.Now, RateLimitPerMinute: 5, RateLimitPerHour: 8})
	tok := token(t, e, TokenOptions{})
	other := token(t, e, TokenOptions{Account: "ANOTHERACCOUNT"})
	for i := 1; i <= 5; i++ {
		status, h, _ := call(t, e, tok, "POST", "/api/v2/auditevents", "{}")
		if status != 200 {
			t.Fatalf("request %d: %d", i, status)
		}
		// Rate-limit headers are documented only on 429s.
		for _, k := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
			if h.Get(k) != "" {
				t.Errorf("request %d: %s on a 200", i, k)
			}
		}
		c.Advance(time.Second)
	}
	status, h, b := call(t, e, tok, "GET", "/api/v2/auth/introspect", "")
	if status != 429 || string(b) != `{"status":429,"message":"Too Many Requests"}` {
		t.Fatalf("6th request: %d %s", status, b)
	}
	// The first request leaves the window 60 s after it was made: in 55 s.
	if h.Get("Retry-After") != "55" || h.Get("RateLimit-Remaining") != "0" || h.Get("RateLimit-Reset") != "55" {
		t.Errorf("429 headers: Retry-After %q, RateLimit-Remaining %q, RateLimit-Reset %q",
			h.Get("Retry-After"), h.Get("RateLimit-Remaining"), h.Get("RateLimit-Reset"))
	}
	// Limits are per account.
	if status, _, _ := call(t, e, other, "POST", "/api/v2/auditevents", "{}"); status != 200 {
		t.Errorf("another account was limited too: %d", status)
	}
	// Rejected requests do not count; after the window slides, two fit again.
	c.Advance(56 * time.Second)
	for i := 0; i < 2; i++ {
		if status, _, _ := call(t, e, tok, "POST", "/api/v2/auditevents", "{}"); status != 200 {
			t.Errorf("after the minute: %d", status)
		}
	}
	// Then the hourly limit (8) binds, and reports itself.
	c.Advance(time.Minute)
	if status, _, _ := call(t, e, tok, "POST", "/api/v2/auditevents", "{}"); status != 200 {
		t.Errorf("8th request in the hour: %d", status)
	}
	status, h, _ = call(t, e, tok, "POST", "/api/v2/auditevents", "{}")
	if status != 429 || h.Get("RateLimit-Limit") != "8" {
		t.Errorf("9th request in the hour: %d, RateLimit-Limit %q", status, h.Get("RateLimit-Limit"))
	}
	if got := e.Requests()["POST /api/v2/auditevents 429"]; got != 1 {
		t.Errorf("Requests counts %d 429s on auditevents, want 1", got)
	}
}

func TestRateLimitOptions(t *testing.T) {
	c := newClock()
	quiet := start(t, Options{Seed: 1, Now: c.Now, RateLimitPerMinute: 1, NoRateLimitHeaders: true})
	tok := token(t, quiet, TokenOptions{})
	call(t, quiet, tok, "POST", "/api/v1/itemusages", "{}")
	status, h, _ := call(t, quiet, tok, "POST", "/api/v1/itemusages", "{}")
	if status != 429 {
		t.Fatalf("status %d, want 429", status)
	}
	for _, k := range []string{"Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"} {
		if h.Get(k) != "" {
			t.Errorf("%s sent with NoRateLimitHeaders", k)
		}
	}

	off := start(t, Options{Seed: 1, Now: c.Now, RateLimitPerMinute: -1, RateLimitPerHour: -1})
	tok = token(t, off, TokenOptions{})
	for i := 0; i < 700; i++ {
		status, h, _ := call(t, off, tok, "POST", "/api/v2/itemusages", "{}")
		if status != 200 || h.Get("RateLimit-Limit") != "" {
			t.Fatalf("request %d with limits off: %d, RateLimit-Limit %q", i, status, h.Get("RateLimit-Limit"))
		}
	}

	def := start(t, Options{Seed: 1, Now: c.Now})
	tok = token(t, def, TokenOptions{})
	for i := 0; i < 600; i++ {
		if status, _, _ := call(t, def, tok, "GET", "/api/v2/auth/introspect", ""); status != 200 {
			t.Fatalf("default limits: request %d: %d", i+1, status)
		}
	}
	status, h, _ = call(t, def, tok, "GET", "/api/v2/auth/introspect", "")
	if status != 429 || h.Get("RateLimit-Limit") != "600" || h.Get("RateLimit-Remaining") != "0" {
		t.Errorf("default limits, request 601: %d, RateLimit-Limit %q, RateLimit-Remaining %q", status, h.Get("RateLimit-Limit"), h.Get("RateLimit-Remaining"))
	}
}

// rawCall sends a request and returns the response or the transport error,
// with the body read (and its read error).
func rawCall(e *Emulator, tok, path, body string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest("POST", e.URL()+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := e.HTTPClient().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestFailNext(t *testing.T) {
	e := start(t, Options{Seed: 1, Events: 200, Faults: Faults{SlowDelay: 20 * time.Millisecond}})
	tok := token(t, e, TokenOptions{})
	path := "/api/v2/itemusages"

	e.FailNext(FaultError500, 2)
	e.FailNext(FaultError503, 1)
	for i, want := range []int{500, 500, 503, 200} {
		resp, b, err := rawCall(e, tok, path, everything)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.StatusCode != want {
			t.Errorf("request %d: %d, want %d", i, resp.StatusCode, want)
		}
		if want == 503 && resp.Header.Get("Retry-After") != "1" {
			t.Errorf("503 without Retry-After: 1 (%q)", resp.Header.Get("Retry-After"))
		}
		if want == 500 && string(b) != `{"status":500,"message":"Internal Server Error"}` {
			t.Errorf("500 body %s", b)
		}
	}

	e.FailNext(FaultDrop, 1)
	if _, _, err := rawCall(e, tok, path, everything); err == nil {
		t.Error("dropped connection: request succeeded")
	}

	e.FailNext(FaultTruncate, 1)
	resp, b, err := rawCall(e, tok, path, everything)
	if err == nil {
		t.Errorf("truncated body read without error (%d bytes)", len(b))
	} else if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Logf("truncated body: %v", err)
	}
	if resp == nil || resp.StatusCode != 200 || len(b) == 0 || int64(len(b)) >= resp.ContentLength {
		t.Errorf("truncated response: want a 200 with part of its body, got %v and %d bytes", resp, len(b))
	}

	e.FailNext(FaultSlow, 1)
	if resp, b, err := rawCall(e, tok, path, everything); err != nil || resp.StatusCode != 200 || len(b) == 0 {
		t.Errorf("slow response: %v %v", resp, err)
	}

	got := e.Requests()
	for k, want := range map[string]int{
		"POST /api/v2/itemusages 500": 2, "POST /api/v2/itemusages 503": 1, "POST /api/v2/itemusages 200": 2,
		"POST /api/v2/itemusages dropped": 1, "POST /api/v2/itemusages truncated": 1,
	} {
		if got[k] != want {
			t.Errorf("Requests()[%q] = %d, want %d (%v)", k, got[k], want, got)
		}
	}
}

func TestFaultProbabilities(t *testing.T) {
	if _, err := New(Options{Faults: Faults{Error500: 0.6, Drop: 0.6}}); err == nil {
		t.Error("New accepted fault probabilities adding up to 1.2")
	}
	if _, err := New(Options{Faults: Faults{Error503: -0.1}}); err == nil {
		t.Error("New accepted a negative probability")
	}
	e := start(t, Options{Seed: 1, Events: 10, RateLimitPerMinute: -1, Faults: Faults{Error500: 1}})
	tok := token(t, e, TokenOptions{})
	for i := 0; i < 5; i++ {
		if status, _, _ := call(t, e, tok, "POST", "/api/v1/signinattempts", "{}"); status != 500 {
			t.Fatalf("with Error500 = 1: %d", status)
		}
	}
	e.SetFaults(Faults{Error503: 0.5, Error500: 0.25})
	counts := map[int]int{}
	for i := 0; i < 400; i++ {
		status, _, _ := call(t, e, tok, "POST", "/api/v1/signinattempts", "{}")
		counts[status]++
	}
	if counts[503] < 150 || counts[503] > 250 || counts[500] < 60 || counts[500] > 140 || counts[200] < 60 || counts[200] > 140 {
		t.Errorf("status counts %v, want about 200 503s, 100 500s, 100 200s", counts)
	}
	e.SetFaults(Faults{})
	if status, _, _ := call(t, e, tok, "POST", "/api/v1/signinattempts", "{}"); status != 200 {
		t.Errorf("faults off: %d", status)
	}
}
