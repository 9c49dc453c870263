// Package search is opwatch's indicator search: the events that name one
// e-mail address or one IP address, in their p_any_emails or
// p_any_ip_addresses, across the three log types in a time range, newest
// first, a page at a time. The store keeps the index that makes it fast
// (store.Indicators); this package reads what a person typed, pages, and
// says plainly what is wrong with a query.
package search

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/opwatch/opwatch/internal/logtype"
	"github.com/opwatch/opwatch/internal/store"
)

// Indicator kinds.
const (
	KindIP    = store.IndicatorIP    // "ip"
	KindEmail = store.IndicatorEmail // "email"
)

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Query is one indicator search.
type Query struct {
	Indicator string // an e-mail address or an IP address, as typed
	Kind      string // KindIP, KindEmail, or "" to tell from Indicator
	// From and To bound p_event_time: From included, To excluded. A zero
	// bound is open; callers normally pass a window (the console's default
	// is the last 30 days).
	From, To time.Time
	LogTypes []string // e.g. OnePassword.SignInAttempt; empty: all three
	Limit    int      // events per page: 0 is DefaultLimit; above MaxLimit is MaxLimit
	Cursor   string   // Result.Next of the previous page; "" for the first
}

// Result is one page of an indicator search.
type Result struct {
	Kind      string // the kind searched
	Indicator string // the indicator as compared: trimmed, lowercased or canonical
	Events    []store.StoredEvent
	// Next continues the search after the last event (Query.Cursor); ""
	// when no event is left.
	Next string
	Took time.Duration
}

// Searcher runs indicator searches over a store.
type Searcher struct {
	store store.Indicators
	now   func() time.Time
}

// New returns a Searcher over st. now times searches (time.Now if nil).
func New(st store.Indicators, now func() time.Time) *Searcher {
	if now == nil {
		now = time.Now
	}
	return &Searcher{store: st, now: now}
}

// ErrQuery wraps what is wrong with a query (as opposed to the store failing).
var ErrQuery = errors.New("invalid search")

func queryError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrQuery, fmt.Sprintf(format, args...))
}

// Search runs q and returns one page.
func (s *Searcher) Search(ctx context.Context, q Query) (Result, error) {
	start := s.now()
	sq, err := Parse(q)
	if err != nil {
		return Result{}, err
	}
	limit := sq.Limit
	sq.Limit++ // one more tells whether there is a next page
	evs, err := s.store.SearchIndicator(ctx, sq)
	if err != nil {
		return Result{}, err
	}
	res := Result{Kind: sq.Kind, Indicator: sq.Value, Events: evs}
	if len(evs) > limit {
		res.Events = evs[:limit]
		last := res.Events[limit-1]
		res.Next = encodeCursor(store.IndicatorPosition{EventTime: last.EventTime, Seq: last.Seq})
	}
	res.Took = s.now().Sub(start)
	return res, nil
}

// Parse checks q and turns it into the store's query: the kind told from
// the indicator when not given, the indicator in the form the store
// compares, the page size bounded, the cursor decoded. Errors wrap ErrQuery
// and say what to change.
func Parse(q Query) (store.IndicatorQuery, error) {
	kind, value, err := Detect(q.Indicator, q.Kind)
	if err != nil {
		return store.IndicatorQuery{}, err
	}
	sq := store.IndicatorQuery{Kind: kind, Value: value, From: q.From, To: q.To, Limit: q.Limit}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		return sq, queryError("the time range is empty: it starts at %s and ends at %s; the end must be later",
			q.From.UTC().Format(time.RFC3339), q.To.UTC().Format(time.RFC3339))
	}
	switch {
	case sq.Limit < 0:
		return sq, queryError("limit %d: want a positive number of events (at most %d)", q.Limit, MaxLimit)
	case sq.Limit == 0:
		sq.Limit = DefaultLimit
	case sq.Limit > MaxLimit:
		sq.Limit = MaxLimit
	}
	for _, lt := range q.LogTypes {
		if logtype.ByName(lt) == nil {
			return sq, queryError("unknown log type %q: want one of %s", lt, strings.Join(logTypeNames(), ", "))
		}
		if !slices.Contains(sq.LogTypes, lt) {
			sq.LogTypes = append(sq.LogTypes, lt)
		}
	}
	if q.Cursor != "" {
		pos, err := decodeCursor(q.Cursor)
		if err != nil {
			return sq, err
		}
		sq.After = &pos
	}
	return sq, nil
}

// Detect tells the kind of an indicator when kind is "" (an @ makes an
// e-mail address; otherwise it must be an IP address), or checks it
// against kind, and returns it in the form the store compares. An IPv6
// address may come in brackets, as in URLs.
func Detect(indicator, kind string) (string, string, error) {
	v := strings.TrimSpace(indicator)
	if v == "" {
		return "", "", queryError("give an e-mail address or an IP address to search for")
	}
	if kind == "" {
		kind = KindIP
		if strings.Contains(v, "@") {
			kind = KindEmail
		}
	}
	switch kind {
	case KindIP:
		if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
			v = v[1 : len(v)-1]
		}
		if a, err := netip.ParseAddr(v); err != nil || a.Zone() != "" {
			if strings.Contains(v, "@") {
				return "", "", queryError("%q is an e-mail address, not an IP address", indicator)
			}
			return "", "", queryError("%q is neither an e-mail address (no @) nor an IP address", indicator)
		}
	case KindEmail:
		local, domain, ok := strings.Cut(v, "@")
		if !ok || local == "" || domain == "" {
			return "", "", queryError("%q is not an e-mail address: want name@domain", indicator)
		}
	default:
		return "", "", queryError("unknown indicator kind %q: want %q, %q or none", kind, KindEmail, KindIP)
	}
	key, err := store.IndicatorKey(kind, v)
	if err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrQuery, err)
	}
	return kind, key, nil
}

func logTypeNames() []string {
	var names []string
	for _, lt := range logtype.All() {
		names = append(names, lt.Name)
	}
	return names
}

// A cursor is an event's place in the order: "1." then its p_event_time in
// Unix nanoseconds and its seq, base64url without padding. It names no
// query: paging with another query's cursor only starts it elsewhere.
const cursorVersion = "1"

func encodeCursor(p store.IndicatorPosition) string {
	text := cursorVersion + "." + strconv.FormatInt(p.EventTime.UnixNano(), 10) + "." + strconv.FormatInt(p.Seq, 10)
	return base64.RawURLEncoding.EncodeToString([]byte(text))
}

func decodeCursor(c string) (store.IndicatorPosition, error) {
	bad := queryError("the cursor %q is not one this search returned; start again without it", c)
	if len(c) > 64 {
		return store.IndicatorPosition{}, queryError("the cursor is not one this search returned; start again without it")
	}
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return store.IndicatorPosition{}, bad
	}
	parts := strings.Split(string(b), ".")
	if len(parts) != 3 || parts[0] != cursorVersion {
		return store.IndicatorPosition{}, bad
	}
	ns, err1 := strconv.ParseInt(parts[1], 10, 64)
	seq, err2 := strconv.ParseInt(parts[2], 10, 64)
	if err1 != nil || err2 != nil || seq < 0 {
		return store.IndicatorPosition{}, bad
	}
	return store.IndicatorPosition{EventTime: time.Unix(0, ns).UTC(), Seq: seq}, nil
}
