package onepassword

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
	"unicode"
)

// call is one logical request, attempted until it succeeds or the retry
// policy gives up.
type call struct {
	method, path string
	body         []byte
	feature      Feature // empty for introspection
	continuing   bool    // the body carries a stored cursor
	decode       func(body []byte) error
}

// what names the call in messages.
func (k call) what() string {
	if k.feature == "" {
		return "introspect"
	}
	return string(k.feature)
}

func (c *Client) do(ctx context.Context, k call) error {
	for attempt := 1; ; attempt++ {
		if err := c.limiter.Wait(ctx); err != nil {
			return c.stopped(ctx, k, err)
		}
		err := c.timedAttempt(ctx, k)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return c.stopped(ctx, k, ctx.Err())
		}
		var e *Error
		if !errors.As(err, &e) || !e.Kind.retryable() || e.final {
			return err
		}
		if attempt >= c.retry.MaxAttempts {
			e.Message += fmt.Sprintf(" (gave up after %d attempts)", attempt)
			return e
		}
		wait := e.RetryAfter
		if wait > c.retry.MaxRetryAfter {
			e.Message += fmt.Sprintf(" (the server asks to wait %s)", wait)
			return e
		}
		if wait <= 0 {
			wait = c.retry.Backoff(attempt)
		}
		c.log.Info("retrying Events API request", "feature", k.what(), "attempt", attempt, "wait", wait, "err", e)
		if err := c.retry.Sleep(ctx, wait); err != nil {
			return c.stopped(ctx, k, err)
		}
	}
}

// stopped is the error of a call abandoned because ctx is done.
func (c *Client) stopped(ctx context.Context, k call, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%s from %s stopped: %w", k.what(), c.ep.host, err)
}

// timedAttempt is attempt, told to the Observe hook when there is one.
func (c *Client) timedAttempt(ctx context.Context, k call) error {
	if c.observe == nil {
		return c.attempt(ctx, k)
	}
	start := time.Now()
	err := c.attempt(ctx, k)
	info := RequestInfo{Endpoint: k.what(), Host: c.ep.host, Status: http.StatusOK, Duration: time.Since(start)}
	if err != nil {
		info.Status = 0
		var e *Error
		if errors.As(err, &e) {
			info.Status, info.Kind = e.Status, e.Kind
		}
	}
	c.observe(info)
	return err
}

// attempt makes one HTTP request within the per-request timeout.
func (c *Client) attempt(ctx context.Context, k call) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if k.body != nil {
		body = bytes.NewReader(k.body)
	}
	req, err := http.NewRequestWithContext(ctx, k.method, c.ep.base+k.path, body)
	if err != nil {
		return &Error{Kind: Unexpected, Host: c.ep.host, Feature: k.feature,
			Message: fmt.Sprintf("cannot build the %s request for %s: check the base URL", k.what(), c.ep.host), Err: err}
	}
	req.Header.Set("Authorization", "Bearer "+string(c.token))
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.ua)
	if k.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return c.networkError(k, "cannot reach", err)
	}
	defer resp.Body.Close()
	c.contacted.Store(true)
	if resp.StatusCode != http.StatusOK {
		msg := c.serverMessage(resp.Body)
		// Drain a little so the connection can be reused.
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return c.statusError(k, resp, msg)
	}
	b, err := readBody(resp.Body, resp.ContentLength)
	if errors.Is(err, errTooLarge) {
		e := c.protocolError(k.feature, fmt.Sprintf("the response is larger than %d MB", MaxResponseBytes>>20))
		e.Status = resp.StatusCode
		return e
	}
	if err != nil {
		return c.networkError(k, "response cut short from", err)
	}
	if err := k.decode(b); err != nil {
		if e, ok := err.(*Error); ok {
			e.Status = resp.StatusCode
			return e
		}
		return &Error{Kind: Decode, Status: resp.StatusCode, Host: c.ep.host, Feature: k.feature,
			Message: fmt.Sprintf("invalid response from %s for %s; it is retried, check the base URL if it persists", c.ep.host, k.what()), Err: err}
	}
	return nil
}

func (c *Client) networkError(k call, what string, err error) *Error {
	// A certificate that is not trusted will not become trusted by retrying.
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return &Error{Kind: Unexpected, Host: c.ep.host, Feature: k.feature, Err: err,
			Message: fmt.Sprintf("the TLS certificate of %s is not trusted; check the base URL (a local emulator needs --insecure-skip-verify)", c.ep.host)}
	}
	msg := fmt.Sprintf("%s %s for %s; check the network, proxy, and region or base URL", what, c.ep.host, k.what())
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("%s %s for %s within %s; the server or network is slow", what, c.ep.host, k.what(), c.timeout)
	}
	// Before the server has ever answered, a refused connection or an
	// unknown host is most likely a wrong address: say so at once instead
	// of retrying for a minute. Once it has answered, they are outages.
	final := false
	if !c.contacted.Load() {
		var dnsErr *net.DNSError
		switch {
		case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
			final = true
			msg = fmt.Sprintf("cannot reach %s for %s: no such host; check the region or base URL, and the DNS of this machine", c.ep.host, k.what())
		case errors.Is(err, syscall.ECONNREFUSED):
			final = true
			msg = fmt.Sprintf("cannot reach %s for %s: connection refused (nothing listens there); check the base URL and that the server runs", c.ep.host, k.what())
		default:
			if why := c.tlsMismatch(err); why != "" {
				final = true
				msg = fmt.Sprintf("cannot reach %s for %s: %s", c.ep.host, k.what(), why)
			}
		}
	}
	return &Error{Kind: Network, Host: c.ep.host, Feature: k.feature, Message: msg, Err: err, final: final}
}

// tlsMismatch says why a TLS handshake with the host cannot succeed
// however often it is tried, "" when err is not such a failure: the host
// does not speak TLS (most often an emulator's plain http reached with
// https), or it refuses every TLS version or cipher this client offers.
func (c *Client) tlsMismatch(err error) string {
	var rec tls.RecordHeaderError
	if errors.Is(err, http.ErrSchemeMismatch) || errors.As(err, &rec) {
		return fmt.Sprintf("%s does not speak TLS (is it plain http? give --base-url http://%s)", c.ep.host, c.ep.host)
	}
	// A received alert is an unexported type: only its text tells which.
	for e := err; ; {
		var op *net.OpError
		if !errors.As(e, &op) || op.Err == nil {
			break
		}
		if op.Op == "remote error" {
			switch a := op.Err.Error(); a {
			case "tls: protocol version not supported", "tls: handshake failure",
				"tls: insufficient security level", "tls: unrecognized name":
				return fmt.Sprintf("%s refused the TLS handshake (%s); check the base URL and that the host serves the Events API over TLS 1.2 or later", c.ep.host, strings.TrimPrefix(a, "tls: "))
			}
			break
		}
		e = op.Err
	}
	if s := err.Error(); strings.Contains(s, "tls: server selected unsupported protocol version") {
		return fmt.Sprintf("%s offers only a TLS version this client does not accept; check the base URL and that the host serves the Events API over TLS 1.2 or later", c.ep.host)
	}
	return ""
}

// statusError turns a non-200 response into an Error that says what to do.
func (c *Client) statusError(k call, resp *http.Response, msg string) *Error {
	e := &Error{Status: resp.StatusCode, Host: c.ep.host, Feature: k.feature,
		RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	prefix := fmt.Sprintf("%d from %s for %s: ", resp.StatusCode, c.ep.host, k.what())
	said := ""
	if msg != "" {
		said = fmt.Sprintf(" (server said %q)", msg)
	}
	switch s := resp.StatusCode; {
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.Kind = Unauthorized
		e.Message = prefix + c.authProblem() + said
	case s == http.StatusBadRequest:
		e.Kind = BadRequest
		if k.continuing {
			e.Message = prefix + "the server rejected the stored cursor" + said +
				"; the cursor is the likely cause (expired, or from another account, region or API version): read again from a start time"
		} else {
			e.Message = prefix + "the server rejected the request" + said + "; check the page limit (1..1000) and the start and end times"
		}
	case s == http.StatusTooManyRequests:
		e.Kind = RateLimited
		e.Message = prefix + "rate limit reached (600 requests a minute and 30,000 an hour per account)" + said +
			"; it is retried, and fewer sources of one account polled at once help"
	case s == http.StatusRequestTimeout:
		e.Kind = Network
		e.Message = prefix + "the server timed out waiting for the request; it is retried"
	case s >= 500:
		e.Kind = Server
		e.Message = prefix + "1Password server error" + said + "; it is retried, and usually passes"
	case s == http.StatusNotFound:
		e.Kind = Unexpected
		e.Message = prefix + "no such endpoint: check the region or base URL"
		if c.version == 2 && k.feature != "" {
			e.Message += ", or use API version 1 if this server has only v1"
		}
	default:
		e.Kind = Unexpected
		e.Message = prefix + "unexpected status" + said + ": check the base URL"
	}
	return e
}

// authProblem explains a 401 with what the claims tell. The server says
// no more than 401, so a token that has not expired by its claims is not
// called expired: it was revoked, or its signature does not verify (a
// damaged or partial copy, or a token made by another server).
func (c *Client) authProblem() string {
	switch {
	case !c.claims.ExpiresAt.IsZero() && time.Now().After(c.claims.ExpiresAt):
		return fmt.Sprintf("token expired at %s: issue a new token in 1Password and update the source",
			c.claims.ExpiresAt.Format(time.RFC3339))
	case c.audHost != "" && !sameHost(c.audHost, c.ep.host):
		return fmt.Sprintf("token refused; it is for %s, not this host (or it was revoked, or its signature is not valid): fix the base URL or region, or issue a new token in 1Password", c.audHost)
	}
	return "token refused: it was revoked, or its signature is not valid (a damaged or partial copy, or a token of another server): paste the whole token again, or issue a new token in 1Password and update the source"
}

// serverMessage extracts the message of an error body, in either
// documented form, or its first line of text. The token is cut out in the
// unlikely case the server echoes it.
func (c *Client) serverMessage(r io.Reader) string {
	b, _ := io.ReadAll(io.LimitReader(r, 4096))
	var v struct {
		Message string `json:"message"`
		Error   struct {
			Message string `json:"Message"`
		} `json:"Error"`
	}
	msg := ""
	if json.Unmarshal(b, &v) == nil {
		msg = v.Message
		if msg == "" {
			msg = v.Error.Message
		}
	} else if len(b) > 0 && b[0] != '{' && b[0] != '<' {
		msg, _, _ = strings.Cut(string(b), "\n")
	}
	if c.token != "" {
		msg = strings.ReplaceAll(msg, string(c.token), "[redacted]")
	}
	msg = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return -1
	}, strings.TrimSpace(msg))
	if r := []rune(msg); len(r) > 200 {
		msg = string(r[:200]) + "…"
	}
	return msg
}

// MaxResponseBytes bounds a response body once decompressed (the
// transport decompresses gzip before readBody counts). A full page of 1000
// events is about 1 MB; 16 MB leaves room for events sixteen times the
// usual size, and bounds what a hostile server can make one page cost.
const MaxResponseBytes = 16 << 20

// protocolError is a response that breaks the Events API's bounds.
func (c *Client) protocolError(f Feature, what string) *Error {
	w := "introspect"
	if f != "" {
		w = string(f)
	}
	return &Error{Kind: Protocol, Host: c.ep.host, Feature: f,
		Message: fmt.Sprintf("%s from %s: %s; the server is broken or not the Events API: check the base URL (it is not retried)", w, c.ep.host, what)}
}

var errTooLarge = errors.New("response too large")

// readBody reads a body into one buffer sized from Content-Length when the
// server sent one. A body shorter than announced is an error.
func readBody(r io.Reader, size int64) ([]byte, error) {
	if size > MaxResponseBytes {
		return nil, errTooLarge
	}
	if size >= 0 {
		b := make([]byte, size)
		if _, err := io.ReadFull(r, b); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		return b, nil
	}
	// One byte past the cap tells a body at the cap from a longer one.
	r = io.LimitReader(r, MaxResponseBytes+1)
	b := make([]byte, 0, 64<<10)
	for {
		if len(b) > MaxResponseBytes {
			return nil, errTooLarge
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			if len(b) > MaxResponseBytes {
				return nil, errTooLarge
			}
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}
