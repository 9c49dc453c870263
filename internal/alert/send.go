package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/safetext"
	"github.com/opwatch/opwatch/internal/store"
)

// HTTPSender sends to every destination type: over HTTP to webhooks,
// Slack, Teams, PagerDuty and Opsgenie, over SMTP for e-mail. The zero
// value is ready to use.
type HTTPSender struct {
	// Client makes the HTTP requests; nil: a client on
	// http.DefaultTransport. Its CheckRedirect is replaced: redirects are
	// followed only to the same scheme and host, keeping the method
	// (307, 308), at most 3 times.
	Client    *http.Client
	UserAgent string        // "": "opwatch"
	Timeout   time.Duration // bounds one attempt; 0: 30 s
	// Now is the clock of X-Opwatch-Timestamp, of the e-mail's Date and of
	// Retry-After dates; nil: time.Now.
	Now func() time.Time
	// RootCAs verify SMTP servers' certificates; nil: the system's roots.
	RootCAs *x509.CertPool
}

var _ Sender = (*HTTPSender)(nil)

// Limits of what is read back from a receiver.
const (
	maxAnswerRead  = 4 << 10  // kept for Result.Answer
	maxAnswerDrain = 64 << 10 // read and dropped, so the connection can be reused
	maxAnswerShown = 500      // characters of Result.Answer
	// MaxRetryAfter bounds a receiver's Retry-After: a longer one is most
	// likely a mistake, and the deliver loop gives up after 24 h anyway.
	MaxRetryAfter = time.Hour
)

func (s *HTTPSender) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func (s *HTTPSender) timeout() time.Duration {
	if s.Timeout > 0 {
		return s.Timeout
	}
	return 30 * time.Second
}

func (s *HTTPSender) userAgent() string {
	if s.UserAgent != "" {
		return s.UserAgent
	}
	return "opwatch"
}

// Send sends m to t once. A destination whose settings are not valid fails
// for good, without a connection.
func (s *HTTPSender) Send(ctx context.Context, t Target, m Message) Result {
	if err := Validate(t.Destination, t.Settings, t.Secret); err != nil {
		return Result{Err: fmt.Errorf("destination %s: %w", safetext.Terminal(t.Destination.Name), err), Permanent: true}
	}
	switch m.Kind {
	case store.NotifyTrigger, store.NotifyResolve, KindTest:
	default:
		return Result{Err: fmt.Errorf("notification kind %q: want trigger, resolve or test", safetext.Terminal(m.Kind)), Permanent: true}
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout())
	defer cancel()
	if t.Destination.Type == store.DestEmail {
		return s.sendMail(ctx, t, m)
	}
	req, err := s.request(ctx, t, m)
	if err != nil {
		return Result{Err: err, Permanent: true}
	}
	return s.do(req, t)
}

// request builds the HTTP request of m to t.
func (s *HTTPSender) request(ctx context.Context, t Target, m Message) (*http.Request, error) {
	target := endpointURL(t)
	var body []byte
	var err error
	switch t.Destination.Type {
	case store.DestWebhook:
		body, err = webhookPayload(m)
	case store.DestSlack:
		body, err = slackPayload(m)
	case store.DestTeams:
		body, err = teamsPayload(m)
	case store.DestPagerDuty:
		body, err = pagerDutyPayload(m, t.Secret.RoutingKey)
	case store.DestOpsgenie:
		body, err = opsgeniePayload(m)
		if err == nil && m.Kind == store.NotifyResolve {
			target, err = opsgenieCloseURL(target, m.Alert.ID)
		}
	default:
		err = fmt.Errorf("destination type %q is not sent over HTTP", safetext.Terminal(t.Destination.Type))
	}
	if err != nil {
		return nil, fmt.Errorf("render the %s message for %s: %w", m.Kind, t.Destination.Type, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		// Not err: its text quotes the URL, key and all.
		return nil, errors.New("the destination's URL is not valid: set it again")
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", s.userAgent())
	if m.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", m.IdempotencyKey)
	}
	switch t.Destination.Type {
	case store.DestWebhook:
		req.Header.Set("X-Opwatch-Timestamp", strconv.FormatInt(s.now().Unix(), 10))
		if t.Secret.SigningSecret != "" {
			req.Header.Set("X-Opwatch-Signature", Signature(t.Secret.SigningSecret, body))
		}
	case store.DestOpsgenie:
		req.Header.Set("Authorization", "GenieKey "+t.Secret.APIKey)
	}
	return req, nil
}

// Signature is the X-Opwatch-Signature of a webhook body: "sha256=" and
// the hex HMAC-SHA256 of the exact body bytes with the signing secret. A
// receiver recomputes it over the raw body and compares in constant time;
// the body's idempotency_key and created_at let it refuse replays.
func Signature(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// opsgenieCloseURL is the close-by-alias endpoint under the alerts URL.
func opsgenieCloseURL(alertsURL, alias string) (string, error) {
	u, err := url.Parse(alertsURL)
	if err != nil {
		return "", errors.New("the opsgenie url setting is not valid")
	}
	// RawPath keeps a "/" in the alias escaped: it is one path segment.
	base := strings.TrimRight(u.EscapedPath(), "/")
	u.Path = strings.TrimRight(u.Path, "/") + "/" + alias + "/close"
	u.RawPath = base + "/" + url.PathEscape(alias) + "/close"
	q := u.Query()
	q.Set("identifierType", "alias")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// sameHostRedirect follows a redirect only to the same scheme and host
// with the same method: a POST turned into a GET would be taken for
// delivered, and another host is not where the key was meant to go.
func sameHostRedirect(req *http.Request, via []*http.Request) error {
	first := via[0]
	if len(via) > 3 || req.URL.Scheme != first.URL.Scheme || !strings.EqualFold(req.URL.Host, first.URL.Host) || req.Method != first.Method {
		return http.ErrUseLastResponse
	}
	return nil
}

func (s *HTTPSender) do(req *http.Request, t Target) Result {
	c := http.Client{}
	if s.Client != nil {
		c = *s.Client
	}
	c.CheckRedirect = sameHostRedirect
	host := req.URL.Host
	resp, err := c.Do(req)
	if err != nil {
		return networkResult(req.Context(), err, host, t)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerRead))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxAnswerDrain))
	return classify(resp.StatusCode, resp.Header, cleanAnswer(string(b), t), host, s.now())
}

// classify turns a receiver's status into a Result: 2xx sent; 408, 409,
// 425, 429 and 5xx retried (honouring Retry-After); any other status
// (400, 401, 403, 404, 410, 413, 422, an unfollowed redirect, …) final.
func classify(status int, h http.Header, answer, host string, now time.Time) Result {
	r := Result{Status: status, Answer: answer}
	if status >= 200 && status <= 299 {
		return r
	}
	var why string
	switch {
	case status == http.StatusTooManyRequests:
		why = "rate limited"
	case status == http.StatusRequestTimeout, status == http.StatusConflict, status == http.StatusTooEarly:
		why = "the receiver asks to try again"
	case status >= 500:
		why = "the receiver failed"
	case status >= 300 && status <= 399:
		r.Permanent = true
		why = "the receiver redirects"
		if loc, err := url.Parse(h.Get("Location")); err == nil && loc.Host != "" {
			why += " to " + safetext.Terminal(loc.Host)
		}
		why += ", which opwatch does not follow: give the URL it redirects to"
	case status == http.StatusBadRequest, status == http.StatusUnprocessableEntity:
		r.Permanent = true
		why = "the receiver refused the message: is the URL a receiver of this destination type?"
	case status == http.StatusUnauthorized, status == http.StatusForbidden:
		r.Permanent = true
		why = "the receiver refused the key: check the URL or key and set the destination's secret again"
	case status == http.StatusNotFound, status == http.StatusGone:
		r.Permanent = true
		why = "the receiver does not know this URL (the webhook, integration or channel was removed or archived?): set the current URL or key"
	case status == http.StatusRequestEntityTooLarge:
		r.Permanent = true
		why = "the message is too large for the receiver"
	default:
		r.Permanent = true
		why = "unexpected answer"
	}
	if !r.Permanent {
		r.RetryAfter = parseRetryAfter(h.Get("Retry-After"), now)
		why += "; retried"
		if r.RetryAfter > 0 {
			why += " after " + r.RetryAfter.String()
		}
	}
	msg := fmt.Sprintf("%d from %s: %s", status, host, why)
	if answer != "" {
		msg += fmt.Sprintf(" (answer: %s)", limitRunes(answer, 200))
	}
	r.Err = &sendError{msg: msg}
	return r
}

// networkResult is an attempt that got no answer. The error net/http gives
// (a *url.Error) quotes the whole URL, whose path or query is the key of
// Slack, Teams and most webhooks: only the inner error is kept, and any
// secret is cut out of it once more.
func networkResult(ctx context.Context, err error, host string, t Target) Result {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var msg string
	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded):
		msg = fmt.Sprintf("no answer from %s in time; retried", host)
	case ctx.Err() != nil:
		msg = fmt.Sprintf("sending to %s was interrupted: %s", host, ctx.Err())
	default:
		msg = fmt.Sprintf("cannot reach %s: %s; retried", host, redactSecrets(err.Error(), t))
	}
	return Result{Err: &sendError{msg: safetext.Terminal(redactSecrets(msg, t)), cause: contextCause(ctx, err)}}
}

// sendError is an attempt's failure, its message free of secrets. It
// unwraps only to a context error, never to an error that might quote a
// URL.
type sendError struct {
	msg   string
	cause error
}

func (e *sendError) Error() string { return e.msg }
func (e *sendError) Unwrap() error { return e.cause }

func contextCause(ctx context.Context, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, context.Canceled) || errors.Is(ctx.Err(), context.Canceled):
		return context.Canceled
	}
	return nil
}

// cleanAnswer makes a receiver's answer safe to store and print: secrets
// cut out, controls escaped, one line, bounded.
func cleanAnswer(s string, t Target) string {
	return limitRunes(safetext.Terminal(strings.TrimSpace(redactSecrets(s, t))), maxAnswerShown)
}

// redactSecrets replaces every secret of t, and the secret parts of its
// URL (path, query, each query value), in s with [redacted].
func redactSecrets(s string, t Target) string {
	secrets := []string{t.Secret.URL, t.Secret.SigningSecret, t.Secret.RoutingKey, t.Secret.APIKey, t.Secret.Password}
	for _, raw := range []string{t.Secret.URL, t.Settings.URL} {
		u, err := url.Parse(raw)
		if err != nil || raw == "" {
			continue
		}
		secrets = append(secrets, u.Path, u.EscapedPath(), u.RawQuery, u.User.String())
		for _, seg := range strings.Split(u.Path, "/") {
			secrets = append(secrets, seg)
		}
		for _, vs := range u.Query() {
			secrets = append(secrets, vs...)
		}
	}
	for _, sec := range secrets {
		// Short parts ("/", "v2", "services") are no secret, and replacing
		// them would garble the text.
		if len(sec) >= 8 && sec != "/services" {
			s = strings.ReplaceAll(s, sec, "[redacted]")
		}
	}
	return s
}

// parseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. It returns 0 when the header is absent, unreadable or in the past,
// and at most MaxRetryAfter.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if strings.TrimLeft(v, "0123456789") == "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n > int64(MaxRetryAfter/time.Second) {
			return MaxRetryAfter // only overflow fails on digits
		}
		return time.Duration(n) * time.Second
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0
	}
	d := t.Sub(now)
	if d <= 0 {
		return 0
	}
	return min(d, MaxRetryAfter)
}
