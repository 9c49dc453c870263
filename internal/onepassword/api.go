// Package onepassword is a client for the 1Password Events API: hosts and
// regions, token claims, introspection, event pages, typed errors, retries and
// a rate limiter shared by every token of one 1Password account.
//
// Events are returned raw, byte for byte as the server sent them, so no
// field is ever lost. The client only cuts a page into items; validating
// and parsing each one is the job of package logtype, and one bad item
// does not fail its page.
package onepassword

import (
	"encoding/json"
	"time"
)

// Feature is an Events API feature: a token feature and an event endpoint.
type Feature string

// The three event features.
const (
	SignInAttempts Feature = "signinattempts"
	ItemUsages     Feature = "itemusages"
	AuditEvents    Feature = "auditevents"
)

// AllFeatures lists the event features in a stable order.
func AllFeatures() []Feature { return []Feature{SignInAttempts, ItemUsages, AuditEvents} }

// Request is the body of a POST to an event endpoint: either a continuing
// cursor, or a reset cursor (when Cursor is empty).
type Request struct {
	Cursor string
	// Reset fields, used only when Cursor is empty. Zero values are omitted
	// from the body, so the server applies its defaults (limit 100, start one
	// hour back, no end).
	Limit     int
	StartTime time.Time
	EndTime   time.Time
	// MaxItems bounds the items of a page fetched with Cursor, whose limit
	// the cursor carries and the request does not say: the Limit of the
	// reset request the cursor came from. 0 means MaxPageLimit. (A reset
	// request is bounded by its Limit, or MaxPageLimit when that is 0.)
	// A page with more items is refused as a Protocol error.
	MaxItems int
}

// Page is one response of an event endpoint.
type Page struct {
	Cursor  string
	HasMore bool
	// Items are the events exactly as received, cut apart by their JSON
	// structure but not validated: logtype.Parse judges each one.
	Items []json.RawMessage
}

// Introspection is what the introspect endpoint says about a token.
type Introspection struct {
	UUID        string // the Events Reporting integration
	IssuedAt    time.Time
	Features    []Feature
	AccountUUID string // empty on servers older than spec 1.4.1 and on v1
}

// Claims are the unverified claims of an Events API bearer token.
type Claims struct {
	Audience    []string
	Features    []Feature
	AccountUUID string    // "1password.com/auuid", when present
	IssuedAt    time.Time // zero when absent
	ExpiresAt   time.Time // zero when the token never expires
}

// Has reports whether the token carries feature f.
func (c Claims) Has(f Feature) bool {
	for _, g := range c.Features {
		if g == f {
			return true
		}
	}
	return false
}
