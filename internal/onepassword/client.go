package onepassword

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"
)

// Options configure a Client. Token is required; the host comes from
// BaseURL, else Region, else the token's audience.
type Options struct {
	Token              string
	Region             string // business, enterprise, ca or eu
	BaseURL            string // e.g. the emulator's http://127.0.0.1:port
	APIVersion         int    // 1 or 2; 0 means 2
	InsecureSkipVerify bool   // only for the default HTTP client
	// AllowOtherHost lets BaseURL name a host other than the token's
	// audience (the emulator, a proxy). Without it such a base URL is
	// refused: it would send the token to a server it was not issued for.
	AllowOtherHost bool
	// AllowInsecure lets a host that is not this machine be reached over
	// plain http:// or without verifying its certificate. Loopback hosts
	// need no permission: the token does not leave the machine.
	AllowInsecure  bool
	HTTPClient     *http.Client
	Limiter        *Limiter // shared by the account's clients; nil = unlimited
	RequestTimeout time.Duration
	Retry          RetryPolicy
	UserAgent      string
	Logger         *slog.Logger
	// Observe, when set, is told of every HTTP attempt (metrics). It is
	// called synchronously and must be quick.
	Observe func(RequestInfo)
}

// RequestInfo describes one HTTP attempt at the Events API, for metrics.
type RequestInfo struct {
	Endpoint string // the feature (signinattempts, itemusages, auditevents) or "introspect"
	Host     string
	Status   int           // the HTTP status; 0 when no response came
	Kind     ErrorKind     // 0 on success
	Duration time.Duration // from sending to the body read (or the failure)
}

// Client calls the Events API of one token. It is safe for concurrent use.
type Client struct {
	ep      endpoint
	version int
	token   secret
	claims  Claims
	audHost string // the host in the token's audience; "" for legacy tokens
	// insecure says why the connection is not private, "" when it is.
	insecure string
	// contacted is set once the server has answered at all: before that, a
	// refused connection or an unknown host is a setup mistake, not an outage.
	contacted *atomic.Bool
	http      *http.Client
	limiter   *Limiter
	timeout   time.Duration
	retry     RetryPolicy
	ua        string
	log       *slog.Logger
	observe   func(RequestInfo)
}

// New checks o and returns a client. It makes no request.
func New(o Options) (*Client, error) {
	claims, err := ParseClaims(o.Token)
	if err != nil {
		return nil, err
	}
	ep, err := resolveEndpoint(o.BaseURL, o.Region, claims)
	if err != nil {
		return nil, err
	}
	aud, _ := audienceHost(claims)
	if err := checkHost(o, ep, aud); err != nil {
		return nil, err
	}
	insecure, err := checkInsecure(o, ep)
	if err != nil {
		return nil, err
	}
	c := &Client{
		ep:        ep,
		version:   o.APIVersion,
		token:     secret(o.Token),
		claims:    claims,
		audHost:   aud,
		insecure:  insecure,
		contacted: new(atomic.Bool),
		http:      o.HTTPClient,
		limiter:   o.Limiter,
		timeout:   o.RequestTimeout,
		retry:     o.Retry.withDefaults(),
		ua:        o.UserAgent,
		log:       o.Logger,
		observe:   o.Observe,
	}
	switch c.version {
	case 0:
		c.version = 2
	case 1, 2:
	default:
		return nil, fmt.Errorf("Events API version %d does not exist: use 1 or 2", o.APIVersion)
	}
	if c.timeout <= 0 {
		c.timeout = 30 * time.Second
	}
	if c.ua == "" {
		c.ua = "opwatch"
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.log = c.log.With("host", ep.host)
	if c.http == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		// Several streams and a prefetch share the host.
		t.MaxIdleConnsPerHost = 16
		if o.InsecureSkipVerify {
			t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
		}
		c.http = &http.Client{
			Transport: t,
			// The Events API does not redirect; following one could send
			// the token elsewhere, so a redirect is reported instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	return c, nil
}

// Insecure says why the connection to a host other than this machine is
// not private (plain http, or a certificate not verified), "" when it is,
// so that callers can warn on every poll. Loopback hosts are never called
// insecure: the token does not leave the machine.
func (c *Client) Insecure() string { return c.insecure }

// BaseURL is the Events API base URL in use, without a trailing slash.
func (c *Client) BaseURL() string { return c.ep.base }

// Host is the Events API host (with port, if any).
func (c *Client) Host() string { return c.ep.host }

// Claims are the token's unverified claims.
func (c *Client) Claims() Claims { return c.claims }

// Format keeps the token out of anything that prints a client, by value
// or by pointer, whatever the verb.
func (c Client) Format(f fmt.State, verb rune) { fmt.Fprintf(f, "onepassword.Client(%s)", c.ep.base) }
