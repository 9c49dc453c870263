package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// request is what a test receiver got.
type request struct {
	Method, Path, Query string
	Header              http.Header
	Body                []byte
}

// receiver is a local HTTP server acting as a destination's service: it
// records every request and answers with reply (nil: 202 and "ok").
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	got   []request
	reply func(w http.ResponseWriter, r *http.Request, body []byte)
}

func newReceiver(t *testing.T, reply func(w http.ResponseWriter, r *http.Request, body []byte)) *receiver {
	t.Helper()
	rc := &receiver{reply: reply}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		rc.mu.Unlock()
		if rc.reply != nil {
			rc.reply(w, r, body)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

// only is the one request the receiver got.
func (rc *receiver) only(t *testing.T) request {
	t.Helper()
	got := rc.requests()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests, want 1", len(got))
	}
	return got[0]
}

func testSender(rc *receiver) *HTTPSender {
	return &HTTPSender{Client: rc.srv.Client(), UserAgent: "opwatch-test", Now: func() time.Time { return payloadClock }}
}

const (
	webhookSigning = "whsec-0123456789abcdef0123456789"
	genieKey       = "eb243592-faa2-4ba2-a551-1afdf565c889"
)

func targetFor(rc *receiver, typ string) Target {
	t := Target{Destination: dest(typ)}
	switch typ {
	case store.DestWebhook:
		t.Secret = Secret{URL: rc.srv.URL + "/hooks/opwatch?token=T0kenInTheQuery99", SigningSecret: webhookSigning}
	case store.DestSlack:
		t.Secret = Secret{URL: rc.srv.URL + "/services/T0ABCDEFG/B0ABCDEFG/s3cr3tS1ackK3yXYZ123456"}
	case store.DestTeams:
		t.Secret = Secret{URL: rc.srv.URL + "/workflows/8f1c2a/triggers/manual/paths/invoke?api-version=2016-06-01&sig=S1gTeamsS3cretXYZ"}
	case store.DestPagerDuty:
		t.Settings = Settings{URL: rc.srv.URL + "/v2/enqueue"}
		t.Secret = Secret{RoutingKey: pdKey}
	case store.DestOpsgenie:
		t.Settings = Settings{URL: rc.srv.URL + "/v2/alerts"}
		t.Secret = Secret{APIKey: genieKey}
	}
	return t
}

// checkCommon checks what every HTTP type sends.
func checkCommon(t *testing.T, r request, m Message) {
	t.Helper()
	if r.Method != http.MethodPost {
		t.Errorf("method %s", r.Method)
	}
	if got := r.Header.Get("Idempotency-Key"); got != m.IdempotencyKey {
		t.Errorf("Idempotency-Key %q, want %q", got, m.IdempotencyKey)
	}
	if got := r.Header.Get("Content-Type"); got != "application/json; charset=utf-8" {
		t.Errorf("Content-Type %q", got)
	}
	if got := r.Header.Get("User-Agent"); got != "opwatch-test" {
		t.Errorf("User-Agent %q", got)
	}
	if !json.Valid(r.Body) {
		t.Errorf("body is not JSON: %s", r.Body)
	}
}

func sendOK(t *testing.T, s *HTTPSender, tg Target, m Message) Result {
	t.Helper()
	res := s.Send(context.Background(), tg, m)
	if res.Err != nil || res.Permanent {
		t.Fatalf("send: %v (permanent %v)", res.Err, res.Permanent)
	}
	return res
}

func TestSendWebhook(t *testing.T) {
	rc := newReceiver(t, nil)
	m := sampleMessage(store.NotifyTrigger)
	res := sendOK(t, testSender(rc), targetFor(rc, store.DestWebhook), m)
	if res.Status != http.StatusAccepted || res.Answer != "ok" {
		t.Errorf("result %d %q", res.Status, res.Answer)
	}
	r := rc.only(t)
	checkCommon(t, r, m)
	if r.Path != "/hooks/opwatch" || r.Query != "token=T0kenInTheQuery99" {
		t.Errorf("sent to %s?%s", r.Path, r.Query)
	}
	if got := r.Header.Get("X-Opwatch-Timestamp"); got != strconv.FormatInt(payloadClock.Unix(), 10) {
		t.Errorf("X-Opwatch-Timestamp %q", got)
	}
	// The receiver's check, written out as a receiver would: HMAC-SHA256
	// of the raw body with the shared secret, hex, after "sha256=".
	mac := hmac.New(sha256.New, []byte(webhookSigning))
	mac.Write(r.Body)
	if sig := r.Header.Get("X-Opwatch-Signature"); !hmac.Equal([]byte(sig), []byte("sha256="+hex.EncodeToString(mac.Sum(nil)))) {
		t.Errorf("signature %q does not verify", sig)
	}
	if Signature(webhookSigning, r.Body) == Signature("another secret 0000", r.Body) {
		t.Error("the signature does not depend on the secret")
	}
	var p WebhookPayload
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Version != 1 || p.ID != m.Alert.ID || p.Kind != "trigger" || p.IdempotencyKey != m.IdempotencyKey || p.Title != m.Alert.Title ||
		p.Severity != "HIGH" || p.RuleID != m.Alert.RuleID || p.Events != 3 || len(p.Summary) != 2 || p.Link != m.Link ||
		p.FirstEventAt == nil || !p.FirstEventAt.Equal(m.Alert.FirstEventAt) || string(p.Context) != string(m.Alert.Context) {
		t.Errorf("payload %+v", p)
	}
}

func TestSendWebhookUnsigned(t *testing.T) {
	rc := newReceiver(t, nil)
	tg := targetFor(rc, store.DestWebhook)
	tg.Secret.SigningSecret = ""
	sendOK(t, testSender(rc), tg, sampleMessage(store.NotifyTrigger))
	if sig := rc.only(t).Header.Get("X-Opwatch-Signature"); sig != "" {
		t.Errorf("signature %q without a signing secret", sig)
	}
}

func TestSendSlack(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) { io.WriteString(w, "ok") })
	m := sampleMessage(store.NotifyTrigger)
	res := sendOK(t, testSender(rc), targetFor(rc, store.DestSlack), m)
	if res.Status != 200 || res.Answer != "ok" {
		t.Errorf("result %d %q", res.Status, res.Answer)
	}
	r := rc.only(t)
	checkCommon(t, r, m)
	if r.Path != "/services/T0ABCDEFG/B0ABCDEFG/s3cr3tS1ackK3yXYZ123456" {
		t.Errorf("path %s", r.Path)
	}
	checkSlack(t, r.Body)
	var p struct {
		Blocks []struct {
			Type string `json:"type"`
			Text struct {
				Text string `json:"text"`
			} `json:"text"`
			Elements []struct {
				Type string `json:"type"`
				URL  string `json:"url"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(r.Body, &p); err != nil {
		t.Fatal(err)
	}
	first, last := p.Blocks[0], p.Blocks[len(p.Blocks)-1]
	if first.Type != "header" || first.Text.Text != m.Alert.Title {
		t.Errorf("first block %+v", first)
	}
	if last.Type != "actions" || last.Elements[0].Type != "button" || last.Elements[0].URL != m.Link {
		t.Errorf("last block %+v, want a button to the alert", last)
	}
}

func TestSendTeams(t *testing.T) {
	rc := newReceiver(t, nil)
	m := sampleMessage(store.NotifyTrigger)
	sendOK(t, testSender(rc), targetFor(rc, store.DestTeams), m)
	r := rc.only(t)
	checkCommon(t, r, m)
	if r.Path != "/workflows/8f1c2a/triggers/manual/paths/invoke" || !strings.Contains(r.Query, "sig=S1gTeamsS3cretXYZ") {
		t.Errorf("sent to %s?%s", r.Path, r.Query)
	}
	checkTeams(t, r.Body)
	if !strings.Contains(string(r.Body), `"Action.OpenUrl"`) {
		t.Error("no button to the alert")
	}
}

func TestSendPagerDuty(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"success","message":"Event processed","dedup_key":"alr_01JCY37ZK9T0"}`)
	})
	s, tg := testSender(rc), targetFor(rc, store.DestPagerDuty)
	m := sampleMessage(store.NotifyTrigger)
	res := sendOK(t, s, tg, m)
	if !strings.Contains(res.Answer, "Event processed") {
		t.Errorf("answer %q", res.Answer)
	}
	r := rc.only(t)
	checkCommon(t, r, m)
	if r.Path != "/v2/enqueue" {
		t.Errorf("path %s", r.Path)
	}
	var ev pdEvent
	if err := json.Unmarshal(r.Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.RoutingKey != pdKey || ev.EventAction != "trigger" || ev.DedupKey != m.Alert.ID || ev.Payload == nil ||
		ev.Payload.Severity != "error" || ev.Payload.Source != "opwatch" || ev.Payload.Summary != "[HIGH] "+m.Alert.Title ||
		ev.Payload.CustomDetails["rule_id"] != m.Alert.RuleID || len(ev.Links) == 0 || ev.Links[0].Href != m.Link {
		t.Errorf("trigger %s", r.Body)
	}

	resolve := sampleMessage(store.NotifyResolve)
	resolve.IdempotencyKey = "ntf_resolve"
	sendOK(t, s, tg, resolve)
	got := rc.requests()
	var rv map[string]any
	if err := json.Unmarshal(got[1].Body, &rv); err != nil {
		t.Fatal(err)
	}
	if len(rv) != 3 || rv["event_action"] != "resolve" || rv["dedup_key"] != m.Alert.ID || rv["routing_key"] != pdKey {
		t.Errorf("resolve %s", got[1].Body)
	}
	if got[1].Header.Get("Idempotency-Key") != "ntf_resolve" {
		t.Errorf("resolve Idempotency-Key %q", got[1].Header.Get("Idempotency-Key"))
	}
}

func TestPagerDutySeverities(t *testing.T) {
	for sev, want := range map[string]string{"CRITICAL": "critical", "HIGH": "error", "MEDIUM": "warning", "LOW": "info", "INFO": "info"} {
		if got := pdSeverity(sev); got != want {
			t.Errorf("pdSeverity(%s) = %s, want %s", sev, got, want)
		}
	}
	for sev, want := range map[string]string{"CRITICAL": "P1", "HIGH": "P2", "MEDIUM": "P3", "LOW": "P4", "INFO": "P5"} {
		if got := ogPriority(sev); got != want {
			t.Errorf("ogPriority(%s) = %s, want %s", sev, got, want)
		}
	}
}

func TestSendOpsgenie(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"result":"Request will be processed","took":0.2,"requestId":"43a29c5c"}`)
	})
	s, tg := testSender(rc), targetFor(rc, store.DestOpsgenie)
	m := sampleMessage(store.NotifyTrigger)
	sendOK(t, s, tg, m)
	r := rc.only(t)
	checkCommon(t, r, m)
	if r.Path != "/v2/alerts" || r.Header.Get("Authorization") != "GenieKey "+genieKey {
		t.Errorf("create sent to %s with %q", r.Path, r.Header.Get("Authorization"))
	}
	var og ogCreate
	if err := json.Unmarshal(r.Body, &og); err != nil {
		t.Fatal(err)
	}
	if og.Alias != m.Alert.ID || og.Priority != "P2" || og.Message != m.Alert.Title || og.Source != "opwatch" || og.Details["p_any_emails"] == "" {
		t.Errorf("create %s", r.Body)
	}

	sendOK(t, s, tg, sampleMessage(store.NotifyResolve))
	c := rc.requests()[1]
	if c.Path != "/v2/alerts/"+m.Alert.ID+"/close" || c.Query != "identifierType=alias" || c.Header.Get("Authorization") != "GenieKey "+genieKey {
		t.Errorf("close sent to %s?%s", c.Path, c.Query)
	}
	var cl ogClose
	if err := json.Unmarshal(c.Body, &cl); err != nil || cl.Source != "opwatch" {
		t.Errorf("close body %s: %v", c.Body, err)
	}
}

func TestOpsgenieRegion(t *testing.T) {
	eu := Target{Destination: dest(store.DestOpsgenie), Settings: Settings{Region: "eu"}}
	if got := endpointURL(eu); got != OpsgenieEUURL {
		t.Errorf("eu endpoint %s", got)
	}
	u, err := opsgenieCloseURL(OpsgenieURL, "alr/1 x")
	if err != nil || u != "https://api.opsgenie.com/v2/alerts/alr%2F1%20x/close?identifierType=alias" {
		t.Errorf("close URL %s, %v", u, err)
	}
}

func TestClassify(t *testing.T) {
	date := payloadClock.Add(90 * time.Second).Format(http.TimeFormat)
	cases := []struct {
		status     int
		retryAfter string
		permanent  bool
		sent       bool
		wait       time.Duration
	}{
		{200, "", false, true, 0},
		{202, "", false, true, 0},
		{204, "120", false, true, 0},
		{400, "", true, false, 0},
		{401, "", true, false, 0},
		{403, "", true, false, 0},
		{404, "", true, false, 0},
		{405, "", true, false, 0},
		{410, "", true, false, 0},
		{413, "", true, false, 0},
		{422, "", true, false, 0},
		{408, "", false, false, 0},
		{409, "", false, false, 0},
		{429, "120", false, false, 2 * time.Minute},
		{429, date, false, false, 90 * time.Second},
		{429, "99999999999999999999", false, false, MaxRetryAfter},
		{429, "soon", false, false, 0},
		{500, "", false, false, 0},
		{502, "", false, false, 0},
		{503, "5", false, false, 5 * time.Second},
		{504, "", false, false, 0},
	}
	for _, c := range cases {
		t.Run(strconv.Itoa(c.status)+" "+c.retryAfter, func(t *testing.T) {
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
				if c.retryAfter != "" {
					w.Header().Set("Retry-After", c.retryAfter)
				}
				w.WriteHeader(c.status)
				io.WriteString(w, "answer "+strconv.Itoa(c.status))
			})
			res := testSender(rc).Send(context.Background(), targetFor(rc, store.DestWebhook), sampleMessage(store.NotifyTrigger))
			if res.Status != c.status || (res.Err == nil) != c.sent || res.Permanent != c.permanent || res.RetryAfter != c.wait {
				t.Errorf("got status %d err %v permanent %v retry after %s; want sent %v permanent %v retry after %s",
					res.Status, res.Err, res.Permanent, res.RetryAfter, c.sent, c.permanent, c.wait)
			}
			if c.status != 204 && res.Answer != "answer "+strconv.Itoa(c.status) {
				t.Errorf("answer %q", res.Answer)
			}
			if res.Err != nil && !strings.Contains(res.Err.Error(), strconv.Itoa(c.status)+" from 127.0.0.1:") {
				t.Errorf("error %q does not name the status and host", res.Err)
			}
		})
	}
}

// TestNoSecretInResults: receivers that echo everything back, and failures
// that net/http reports with the whole URL, leave no key in a Result.
func TestNoSecretInResults(t *testing.T) {
	echo := func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, r.URL.String()+" "+r.Header.Get("Authorization")+" "+string(body))
	}
	secrets := []string{"s3cr3tS1ackK3yXYZ123456", "T0kenInTheQuery99", webhookSigning, "S1gTeamsS3cretXYZ", pdKey, genieKey}
	check := func(t *testing.T, what string, res Result) {
		t.Helper()
		if res.Err == nil {
			t.Fatalf("%s: no error", what)
		}
		for _, s := range secrets {
			if strings.Contains(res.Answer, s) || strings.Contains(res.Err.Error(), s) {
				t.Errorf("%s: a secret in the result: answer %q, error %q", what, res.Answer, res.Err)
			}
		}
	}
	for _, typ := range []string{store.DestWebhook, store.DestSlack, store.DestTeams, store.DestPagerDuty, store.DestOpsgenie} {
		rc := newReceiver(t, echo)
		res := testSender(rc).Send(context.Background(), targetFor(rc, typ), sampleMessage(store.NotifyTrigger))
		if !res.Permanent || res.Status != 404 {
			t.Errorf("%s: %+v", typ, res)
		}
		check(t, typ+" echo", res)

		// Nothing listens any more: net/http's error quotes the URL.
		tg := targetFor(rc, typ)
		rc.srv.Close()
		_, rawErr := http.Post(endpointURL(tg), "application/json", strings.NewReader("{}"))
		if typ != store.DestPagerDuty && typ != store.DestOpsgenie && (rawErr == nil || !strings.Contains(rawErr.Error(), "?") && !strings.Contains(rawErr.Error(), "/services/")) {
			t.Fatalf("%s: net/http's error no longer quotes the URL (%v): the test proves nothing", typ, rawErr)
		}
		res = testSender(rc).Send(context.Background(), tg, sampleMessage(store.NotifyTrigger))
		if res.Permanent || res.Status != 0 || !strings.Contains(res.Err.Error(), "cannot reach 127.0.0.1:") {
			t.Errorf("%s unreachable: %+v", typ, res)
		}
		check(t, typ+" unreachable", res)
	}
}

func TestSendInterrupted(t *testing.T) {
	arrived, release := make(chan struct{}), make(chan struct{})
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		close(arrived)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result)
	go func() {
		done <- testSender(rc).Send(ctx, targetFor(rc, store.DestSlack), sampleMessage(store.NotifyTrigger))
	}()
	<-arrived
	cancel()
	res := <-done
	if res.Err == nil || res.Permanent || !errors.Is(res.Err, context.Canceled) || strings.Contains(res.Err.Error(), "s3cr3t") {
		t.Fatalf("interrupted send: %+v", res)
	}
}

func TestSendRefusesBadSettingsWithoutConnecting(t *testing.T) {
	rc := newReceiver(t, nil)
	tg := targetFor(rc, store.DestPagerDuty)
	tg.Secret.RoutingKey = "short"
	res := testSender(rc).Send(context.Background(), tg, sampleMessage(store.NotifyTrigger))
	if !res.Permanent || res.Err == nil || len(rc.requests()) != 0 {
		t.Fatalf("bad routing key: %+v, %d requests", res, len(rc.requests()))
	}
	tg = targetFor(rc, store.DestWebhook)
	res = testSender(rc).Send(context.Background(), tg, Message{Kind: "page"})
	if !res.Permanent || res.Err == nil || len(rc.requests()) != 0 {
		t.Fatalf("bad kind: %+v", res)
	}
}

func TestRedirects(t *testing.T) {
	other := newReceiver(t, nil)
	t.Run("other host not followed", func(t *testing.T) {
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			http.Redirect(w, r, other.srv.URL+"/stolen", http.StatusTemporaryRedirect)
		})
		res := testSender(rc).Send(context.Background(), targetFor(rc, store.DestSlack), sampleMessage(store.NotifyTrigger))
		if !res.Permanent || res.Status != 307 || len(other.requests()) != 0 || !strings.Contains(res.Err.Error(), "does not follow") {
			t.Fatalf("%+v; other host got %d requests", res, len(other.requests()))
		}
	})
	t.Run("same host 308 followed with the body", func(t *testing.T) {
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			if r.URL.Path != "/moved" {
				http.Redirect(w, r, "/moved", http.StatusPermanentRedirect)
			}
		})
		m := sampleMessage(store.NotifyTrigger)
		sendOK(t, testSender(rc), targetFor(rc, store.DestWebhook), m)
		got := rc.requests()
		if len(got) != 2 || got[1].Path != "/moved" || got[1].Method != "POST" || string(got[1].Body) != string(got[0].Body) || got[1].Header.Get("Idempotency-Key") != m.IdempotencyKey {
			t.Fatalf("requests %+v", got)
		}
	})
	t.Run("same host 302 not followed as a GET", func(t *testing.T) {
		rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
			if r.URL.Path != "/moved" {
				http.Redirect(w, r, "/moved", http.StatusFound)
			}
		})
		res := testSender(rc).Send(context.Background(), targetFor(rc, store.DestWebhook), sampleMessage(store.NotifyTrigger))
		if !res.Permanent || res.Status != 302 || len(rc.requests()) != 1 {
			t.Fatalf("%+v, %d requests", res, len(rc.requests()))
		}
	})
}

func TestAnswerBounded(t *testing.T) {
	rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request, body []byte) {
		w.WriteHeader(500)
		io.WriteString(w, "\x1b]0;pwned\x07"+strings.Repeat("x", 1<<20))
	})
	res := testSender(rc).Send(context.Background(), targetFor(rc, store.DestWebhook), sampleMessage(store.NotifyTrigger))
	if n := len([]rune(res.Answer)); n > maxAnswerShown || strings.ContainsAny(res.Answer, "\x1b\x07") || len(res.Err.Error()) > 1000 {
		t.Fatalf("answer of %d characters %.40q, error of %d", n, res.Answer, len(res.Err.Error()))
	}
}

func FuzzRetryAfter(f *testing.F) {
	for _, s := range []string{"", "0", "120", "-5", " 30 ", "3601", "99999999999999999999999", "1.5", "Wed, 21 Oct 2015 07:28:00 GMT",
		payloadClock.Add(time.Minute).Format(http.TimeFormat), payloadClock.Add(48 * time.Hour).Format(http.TimeFormat), "Monday, 14-Sep-26 10:09:30 GMT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := parseRetryAfter(v, payloadClock)
		if d < 0 || d > MaxRetryAfter {
			t.Fatalf("parseRetryAfter(%q) = %s", v, d)
		}
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 && n <= 3600 && strings.TrimLeft(strings.TrimSpace(v), "0123456789") == "" && d != time.Duration(n)*time.Second {
			t.Fatalf("parseRetryAfter(%q) = %s, want %ds", v, d, n)
		}
	})
}
