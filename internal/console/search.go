package console

import (
	"context"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// IndicatorQuery asks for the events that name one e-mail address or one
// IP address (in their p_any_emails or p_any_ip_addresses) in a time range.
type IndicatorQuery struct {
	Indicator string
	From, To  time.Time // event time; To excluded
	LogTypes  []string  // empty: all three
	Limit     int       // at most this many events, newest first
}

// IndicatorResult is what an indicator search found.
type IndicatorResult struct {
	Kind   string // "email" or "ip"
	Events []store.StoredEvent
	More   bool // more events matched than Limit
}

// SearchFunc is the indicator search (package search adapts to it).
type SearchFunc func(ctx context.Context, q IndicatorQuery) (IndicatorResult, error)
