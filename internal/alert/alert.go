// Package alert delivers what the detect and health stages raise: the
// destinations (webhook, Slack, Teams, PagerDuty, Opsgenie, e-mail), their
// payloads, routing, the deliver loop over the store's outbox, and triage.
package alert

import (
	"context"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// Settings are a destination's settings that are not secret
// (store.Destination.Settings, JSON). Which apply depends on the type.
type Settings struct {
	// URL overrides the API endpoint of PagerDuty (default
	// https://events.pagerduty.com/v2/enqueue) and Opsgenie (default
	// https://api.opsgenie.com/v2/alerts, or api.eu.opsgenie.com with
	// Region "eu"): proxies and tests.
	URL    string `json:"url,omitempty"`
	Region string `json:"region,omitempty"` // opsgenie: "us" (default) or "eu"
	// E-mail.
	SMTPHost string   `json:"smtp_host,omitempty"`
	SMTPPort int      `json:"smtp_port,omitempty"` // default 587
	Username string   `json:"username,omitempty"`
	From     string   `json:"from,omitempty"`
	To       []string `json:"to,omitempty"`
	// TLS: "starttls" (default; refuses a server without it), "tls"
	// (implicit, port 465) or "none" (loopback servers only).
	TLS string `json:"tls,omitempty"`
	// InsecureSkipVerify accepts any certificate (a test server).
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
}

// Secret is a destination's secrets, sealed at rest
// (store.Destination.Secret, JSON sealed with Destination.Binding).
type Secret struct {
	URL           string `json:"url,omitempty"`            // webhook, Slack, Teams: the URL carries the key
	SigningSecret string `json:"signing_secret,omitempty"` // webhook: HMAC-SHA256 key of X-Opwatch-Signature
	RoutingKey    string `json:"routing_key,omitempty"`    // PagerDuty integration key
	APIKey        string `json:"api_key,omitempty"`        // Opsgenie GenieKey
	Password      string `json:"password,omitempty"`       // SMTP
}

// Target is a destination ready to send to: its secret opened.
type Target struct {
	Destination store.Destination
	Settings    Settings
	Secret      Secret
}

// Message is one notification to render: the alert as it is now, and what
// the payloads carry beside it.
type Message struct {
	Kind           string // store.NotifyTrigger, store.NotifyResolve, or KindTest
	IdempotencyKey string // the notification's ID; stable across retries
	Alert          store.Alert
	// Summary holds the rule's SummaryAttributes with their values from the
	// alert's first event, in the rule's order.
	Summary []Attribute
	// Link is the alert in the console (--public-url + /alerts/ID); "" when
	// no public URL is set.
	Link string
}

// KindTest is the kind of a test message (`destinations test`).
const KindTest = "test"

// Attribute is one summary attribute.
type Attribute struct {
	Name  string
	Value string
}

// Result is what one attempt learned.
type Result struct {
	// Status is the receiver's HTTP status (0 for SMTP or when it was not
	// reached); Answer what it said, bounded and safe to print.
	Status int
	Answer string
	// Err is nil when delivered.
	Err error
	// Permanent: retrying cannot help (400, 401, 403, 404, 410, 413, 422,
	// an SMTP 5xx, a bad setting); the notification fails now.
	Permanent bool
	// RetryAfter is the receiver's Retry-After, when it gave one.
	RetryAfter time.Duration
}

// Sender sends one message to one target.
type Sender interface {
	Send(ctx context.Context, t Target, m Message) Result
}
