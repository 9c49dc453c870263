package onepassword

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Fetch requests one page of feature f: POST /api/v{1,2}/{feature}.
// Retryable failures are retried per the client's RetryPolicy; the error
// returned is an *Error, or ctx's error once ctx is done.
func (c *Client) Fetch(ctx context.Context, f Feature, r Request) (Page, error) {
	if !knownFeature(f) {
		return Page{}, fmt.Errorf("unknown Events API feature %q: use signinattempts, itemusages or auditevents", f)
	}
	// A token whose claims list no features is left to the server to judge.
	if len(c.claims.Features) > 0 && !c.claims.Has(f) {
		return Page{}, missingFeatureError(c.ep.host, f)
	}
	body, err := encodeRequest(r)
	if err != nil {
		return Page{}, &Error{Kind: BadRequest, Host: c.ep.host, Feature: f,
			Message: fmt.Sprintf("invalid request for %s: %v", f, err)}
	}
	maxItems := r.maxItems()
	var p Page
	err = c.do(ctx, call{
		method: http.MethodPost, path: fmt.Sprintf("/api/v%d/%s", c.version, f), body: body,
		feature: f, continuing: r.Cursor != "",
		decode: func(b []byte) error {
			var err error
			p, err = decodePage(b, maxItems)
			if errors.Is(err, errTooManyItems) {
				return c.protocolError(f, fmt.Sprintf("the page holds more than the %d items allowed (the page limit)", maxItems))
			}
			if err != nil {
				return err
			}
			if p.Cursor == "" {
				return errors.New("the response has no cursor")
			}
			if len(p.Cursor) > MaxCursorBytes {
				return c.protocolError(f, fmt.Sprintf("the cursor is %d bytes, over the %d bytes a cursor may have", len(p.Cursor), MaxCursorBytes))
			}
			return nil
		},
	})
	if err != nil {
		return Page{}, c.explainUnauthorized(ctx, f, err)
	}
	return p, nil
}

// explainUnauthorized tells a token without the feature from a bad token:
// the server answers 401 to both, but introspection works for any valid
// token and lists its features. This covers tokens whose claims list no
// features, and features removed from a token after it was issued.
func (c *Client) explainUnauthorized(ctx context.Context, f Feature, err error) error {
	var e *Error
	if !errors.As(err, &e) || e.Kind != Unauthorized {
		return err
	}
	in, ierr := c.Introspect(ctx)
	if ierr != nil || slices.Contains(in.Features, f) {
		return err
	}
	m := missingFeatureError(c.ep.host, f)
	m.Status = e.Status
	m.Message = fmt.Sprintf("%d from %s for %s: %s", e.Status, c.ep.host, f, m.Message)
	return m
}

func knownFeature(f Feature) bool { return slices.Contains(AllFeatures(), f) }

// MaxPageLimit is the largest page the Events API serves.
const MaxPageLimit = 1000

// MaxCursorBytes bounds a cursor the client accepts. Real cursors are
// about 200 characters (the reference, §3.2), the emulator's about 120,
// and those in public fixtures at most 48; 4 KB is twenty times the real
// size, and keeps a hostile server from having megabytes stored and sent
// back on every poll.
const MaxCursorBytes = 4 << 10

// maxItems is the most items a page of r may hold.
func (r Request) maxItems() int {
	switch {
	case r.Cursor == "" && r.Limit > 0:
		return r.Limit
	case r.Cursor != "" && r.MaxItems > 0:
		return min(r.MaxItems, MaxPageLimit)
	}
	return MaxPageLimit
}

// encodeRequest writes the POST body: {"cursor":…} to continue, otherwise
// a reset {limit, start_time, end_time} with zero values left out so that
// the server applies its defaults.
func encodeRequest(r Request) ([]byte, error) {
	if r.Cursor != "" {
		if len(r.Cursor) > MaxCursorBytes {
			return nil, fmt.Errorf("the cursor is %d bytes, over the %d bytes a cursor may have: read again from a start time", len(r.Cursor), MaxCursorBytes)
		}
		return json.Marshal(struct {
			Cursor string `json:"cursor"`
		}{r.Cursor})
	}
	if r.Limit < 0 || r.Limit > MaxPageLimit {
		return nil, fmt.Errorf("page limit %d is outside 1..%d", r.Limit, MaxPageLimit)
	}
	if !r.StartTime.IsZero() && !r.EndTime.IsZero() && r.EndTime.Before(r.StartTime) {
		return nil, fmt.Errorf("end time %s is before start time %s",
			r.EndTime.UTC().Format(time.RFC3339), r.StartTime.UTC().Format(time.RFC3339))
	}
	var body struct {
		Limit     int    `json:"limit,omitempty"`
		StartTime string `json:"start_time,omitempty"`
		EndTime   string `json:"end_time,omitempty"`
	}
	body.Limit = r.Limit
	var err error
	if body.StartTime, err = rfc3339("start", r.StartTime); err != nil {
		return nil, err
	}
	if body.EndTime, err = rfc3339("end", r.EndTime); err != nil {
		return nil, err
	}
	return json.Marshal(body)
}

// rfc3339 formats t in UTC, or "" for the zero time.
func rfc3339(name string, t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	t = t.UTC()
	if y := t.Year(); y < 1 || y > 9999 {
		return "", fmt.Errorf("%s time year %d cannot be written in RFC 3339", name, y)
	}
	return t.Format(time.RFC3339Nano), nil
}
