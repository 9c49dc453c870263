package onepassword

import (
	"fmt"
	"log/slog"
)

// secret holds the bearer token so that no print or log of a value holding
// it can show it.
type secret string

func (secret) String() string                { return "[redacted]" }
func (secret) GoString() string              { return `"[redacted]"` }
func (secret) LogValue() slog.Value          { return slog.StringValue("[redacted]") }
func (secret) Format(f fmt.State, verb rune) { fmt.Fprint(f, "[redacted]") }

// optionsView is Options with the token redacted, for printing.
type optionsView struct {
	Token              secret
	Region             string
	BaseURL            string
	APIVersion         int
	InsecureSkipVerify bool
	HasHTTPClient      bool
	HasLimiter         bool
	RequestTimeout     string
	Retry              RetryPolicy
	UserAgent          string
}

func (o Options) view() optionsView {
	return optionsView{
		Token: secret(o.Token), Region: o.Region, BaseURL: o.BaseURL, APIVersion: o.APIVersion,
		InsecureSkipVerify: o.InsecureSkipVerify, HasHTTPClient: o.HTTPClient != nil, HasLimiter: o.Limiter != nil,
		RequestTimeout: o.RequestTimeout.String(), Retry: o.Retry, UserAgent: o.UserAgent,
	}
}

// Format prints Options with the token redacted, whatever the verb.
func (o Options) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), o.view())
}

// LogValue logs Options with the token redacted.
func (o Options) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("region", o.Region), slog.String("base_url", o.BaseURL),
		slog.Int("api_version", o.APIVersion), slog.Bool("insecure_skip_verify", o.InsecureSkipVerify),
		slog.Duration("request_timeout", o.RequestTimeout), slog.String("user_agent", o.UserAgent),
		slog.String("token", "[redacted]"),
	)
}
