package onepassword

import (
	"errors"
	"fmt"
	"time"
)

// ErrorKind says what went wrong with an Events API call, so that callers
// and users can act on it.
type ErrorKind int

// The kinds of errors. The zero value is not a kind.
const (
	// Unauthorized: the token is missing, revoked, expired or for another
	// region (401, 403). Not retried: a person must issue a new token.
	Unauthorized ErrorKind = iota + 1
	// MissingFeature: the token lacks the feature of the endpoint. Detected
	// from the claims before any request, or from a 401 on such a feature.
	MissingFeature
	// BadRequest: the server rejected the request (400), most often an
	// invalid stored cursor. Not retried.
	BadRequest
	// RateLimited: 429. Retried; RetryAfter holds the server's hint.
	RateLimited
	// Server: a 5xx. Retried.
	Server
	// Network: the server could not be reached or the response was cut
	// short, including timeouts. Retried.
	Network
	// Decode: the response body is not a valid Events API response. Retried.
	Decode
	// Unexpected: any other status, such as a 404 from a wrong base URL.
	// Not retried.
	Unexpected
	// Protocol: the server broke the Events API's bounds: a page with more
	// items than the request allows, a body over MaxResponseBytes once
	// decompressed, a cursor over MaxCursorBytes. Not retried: a hostile or
	// broken server would only do it again, and fill the disk meanwhile.
	Protocol
)

func (k ErrorKind) String() string {
	switch k {
	case Unauthorized:
		return "unauthorized"
	case MissingFeature:
		return "missing feature"
	case BadRequest:
		return "bad request"
	case RateLimited:
		return "rate limited"
	case Server:
		return "server error"
	case Network:
		return "network error"
	case Decode:
		return "decode error"
	case Unexpected:
		return "unexpected status"
	case Protocol:
		return "protocol violation"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is an Events API failure. Message is complete and says what to do;
// it never contains the token.
type Error struct {
	Kind       ErrorKind
	Status     int     // HTTP status, 0 when there was no response
	Host       string  // the Events API host
	Feature    Feature // empty for introspection
	Message    string
	RetryAfter time.Duration // the server's Retry-After, when it sent one
	Err        error         // the underlying error, if any
	// final stops the retries of a kind that is otherwise retried: an
	// unreachable server on first contact.
	final bool
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of the first *Error in err's chain.
func KindOf(err error) (ErrorKind, bool) {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind, true
	}
	return 0, false
}

// Retryable reports whether err is worth retrying later unchanged: rate
// limits, server and network errors, and undecodable responses. The stored
// cursor stays valid after such an error.
func Retryable(err error) bool {
	k, ok := KindOf(err)
	return ok && k.retryable()
}

func (k ErrorKind) retryable() bool {
	switch k {
	case RateLimited, Server, Network, Decode:
		return true
	}
	return false
}

// featureTitle is how 1Password's admin console names a feature when a
// token is issued.
func featureTitle(f Feature) string {
	switch f {
	case SignInAttempts:
		return "Sign-in attempts"
	case ItemUsages:
		return "Item usage"
	case AuditEvents:
		return "Audit events"
	}
	return string(f)
}

// missingFeatureError is the local check of the token's features.
func missingFeatureError(host string, f Feature) *Error {
	return &Error{
		Kind: MissingFeature, Host: host, Feature: f,
		Message: fmt.Sprintf("token lacks the %s feature: issue a new token with %s enabled in 1Password", f, featureTitle(f)),
	}
}
