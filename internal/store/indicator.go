package store

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// Indicator kinds: which p_any_ field an indicator search reads.
const (
	IndicatorIP    = "ip"    // p_any_ip_addresses
	IndicatorEmail = "email" // p_any_emails
)

// IndicatorQuery asks for the events whose p_any_ field of Kind holds Value.
type IndicatorQuery struct {
	Kind string // IndicatorIP or IndicatorEmail
	// Value is the indicator as IndicatorKey returns it: an engine compares
	// it with the stored values' keys, never with the text as received.
	Value    string
	From, To time.Time // p_event_time in [From, To); a zero bound is open
	LogTypes []string  // nil or empty: every log type
	Limit    int       // at most this many events; must be positive
	// After continues a listing: only events that come after this one in
	// the order (p_event_time, then seq, both descending). Nil: the newest.
	After *IndicatorPosition
}

// IndicatorPosition is an event's place in an indicator search's order.
type IndicatorPosition struct {
	EventTime time.Time
	Seq       int64
}

// Indicators is the part that finds events by indicator.
type Indicators interface {
	// SearchIndicator returns up to q.Limit events matching q, newest
	// p_event_time first (ties: higher seq first). Matching is exact on
	// IndicatorKey of each stored value: e-mails case-insensitively, IPs
	// in one canonical form, never a substring. It must stay fast (well
	// under a second) on a lake of tens of millions of events: engines
	// keep an index, maintained in the transaction that stores the events.
	SearchIndicator(ctx context.Context, q IndicatorQuery) ([]StoredEvent, error)
}

// ErrNotIndicator: the value is not an indicator of the kind asked.
var ErrNotIndicator = errors.New("not an indicator")

// IndicatorKey returns the form in which an indicator value is indexed and
// compared: an e-mail address trimmed and lowercased; an IP address in
// netip's canonical text (IPv6 compressed and lowercase, an IPv4-mapped
// IPv6 address as its IPv4 one). Stored p_any_ values are kept as
// received; only their keys are normalized.
func IndicatorKey(kind, value string) (string, error) {
	v := strings.TrimSpace(value)
	switch kind {
	case IndicatorEmail:
		if !strings.Contains(v, "@") {
			return "", fmt.Errorf("%w: %q is not an e-mail address (it has no @)", ErrNotIndicator, value)
		}
		return strings.ToLower(v), nil
	case IndicatorIP:
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return "", fmt.Errorf("%w: %q is not an IP address", ErrNotIndicator, value)
		}
		return a.Unmap().String(), nil
	}
	return "", fmt.Errorf("%w: unknown indicator kind %q (want %q or %q)", ErrNotIndicator, kind, IndicatorIP, IndicatorEmail)
}
