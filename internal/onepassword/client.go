package onepassword

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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
	HTTPClient         *http.Client
	Limiter            *Limiter // shared by the account's clients; nil = unlimited
	RequestTimeout     time.Duration
	Retry              RetryPolicy
	UserAgent          string
	Logger             *slog.Logger
}

// Client calls the Events API of one token. It is safe for concurrent use.
type Client struct {
	ep      endpoint
	version int
	token   secret
	claims  Claims
	audHost string // the host in the token's audience; "" for legacy tokens
	http    *http.Client
	limiter *Limiter
	timeout time.Duration
	retry   RetryPolicy
	ua      string
	log     *slog.Logger
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
	c := &Client{
		ep:      ep,
		version: o.APIVersion,
		token:   secret(o.Token),
		claims:  claims,
		audHost: aud,
		http:    o.HTTPClient,
		limiter: o.Limiter,
		timeout: o.RequestTimeout,
		retry:   o.Retry.withDefaults(),
		ua:      o.UserAgent,
		log:     o.Logger,
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
	if o.BaseURL != "" && strings.HasPrefix(ep.base, "http:") && !isLoopback(ep.host) {
		c.log.Warn("the Events API base URL is plain http: the token crosses the network unencrypted; use https")
	}
	if o.BaseURL != "" && aud != "" && aud != ep.host {
		c.log.Info("base URL host differs from the token's host", "token_host", aud)
	}
	return c, nil
}

// BaseURL is the Events API base URL in use, without a trailing slash.
func (c *Client) BaseURL() string { return c.ep.base }

// Host is the Events API host (with port, if any).
func (c *Client) Host() string { return c.ep.host }

// Claims are the token's unverified claims.
func (c *Client) Claims() Claims { return c.claims }

// Format keeps the token out of anything that prints a client, by value
// or by pointer, whatever the verb.
func (c Client) Format(f fmt.State, verb rune) { fmt.Fprintf(f, "onepassword.Client(%s)", c.ep.base) }
