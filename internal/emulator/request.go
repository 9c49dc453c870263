package emulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Request limits, as documented (limit, retention) or chosen (body size).
const (
	defaultLimit    = 100
	maxLimit        = 1000
	defaultLookback = time.Hour
	retention       = 120 * 24 * time.Hour
	maxBodyBytes    = 64 << 10
)

// pageRequest is a parsed POST body: a continuing cursor, or a reset.
type pageRequest struct {
	cursor   string // non-empty: continue from it, ignoring the rest
	limit    int
	start    time.Time
	end      time.Time
	hasStart bool
	hasEnd   bool
}

// parseBody parses {"cursor": ".."} or {"limit"?, "start_time"?, "end_time"?}.
// Any valid JSON object is accepted whatever the Content-Type; unknown keys
// are ignored; a cursor wins over reset fields. Errors become a 400.
func parseBody(body []byte) (pageRequest, error) {
	var req pageRequest
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return req, errors.New("request body must be a JSON object")
	}
	var raw struct {
		Cursor    json.RawMessage `json:"cursor"`
		Limit     json.RawMessage `json:"limit"`
		StartTime json.RawMessage `json:"start_time"`
		EndTime   json.RawMessage `json:"end_time"`
	}
	if err := json.Unmarshal(trimmed, &raw); err != nil {
		return req, fmt.Errorf("request body is not valid JSON: %w", err)
	}
	if !isNull(raw.Cursor) {
		if err := json.Unmarshal(raw.Cursor, &req.cursor); err != nil {
			return req, errors.New("cursor must be a string")
		}
		if req.cursor != "" {
			return req, nil
		}
	}
	req.limit = defaultLimit
	if !isNull(raw.Limit) {
		var f float64
		if err := json.Unmarshal(raw.Limit, &f); err != nil {
			return req, errors.New("limit must be a number")
		}
		if f != math.Trunc(f) || f < 1 || f > maxLimit {
			return req, fmt.Errorf("limit must be a whole number from 1 to %d", maxLimit)
		}
		req.limit = int(f)
	}
	var err error
	if req.start, req.hasStart, err = parseTime(raw.StartTime, "start_time"); err != nil {
		return req, err
	}
	if req.end, req.hasEnd, err = parseTime(raw.EndTime, "end_time"); err != nil {
		return req, err
	}
	if req.hasStart && req.hasEnd && req.start.After(req.end) {
		return req, errors.New("start_time is after end_time")
	}
	return req, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

func parseTime(raw json.RawMessage, name string) (time.Time, bool, error) {
	if isNull(raw) {
		return time.Time{}, false, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return time.Time{}, false, fmt.Errorf("%s must be an RFC 3339 string", name)
	}
	t, err := time.Parse(time.RFC3339Nano, upperTZ(s))
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s must be an RFC 3339 time: %w", name, err)
	}
	return t, true, nil
}

// window resolves a reset's defaults at now: start one hour before end (or
// now), and no start older than the retention period.
func (req pageRequest) window(now time.Time) (start, end int64, hasEnd bool) {
	s := req.start
	if !req.hasStart {
		if req.hasEnd {
			s = req.end.Add(-defaultLookback)
		} else {
			s = now.Add(-defaultLookback)
		}
	}
	if oldest := now.Add(-retention); s.Before(oldest) {
		s = oldest
	}
	if req.hasEnd {
		end = clampUnixNano(req.end)
	}
	return clampUnixNano(s), end, req.hasEnd
}

// clampUnixNano is UnixNano without overflow for far-away years.
func clampUnixNano(t time.Time) int64 {
	switch {
	case t.Year() < 1678:
		return math.MinInt64
	case t.Year() > 2261:
		return math.MaxInt64
	}
	return t.UnixNano()
}

// upperTZ upper-cases t and z: RFC 3339 (section 5.6, note) allows the
// lowercase forms, and the server accepts any RFC 3339 time (reference
// §3.2), but time.Parse refuses them. No other letter is valid, so mapping
// every t and z changes nothing else.
func upperTZ(s string) string {
	if !strings.ContainsAny(s, "tz") {
		return s
	}
	b := []byte(s)
	for i, c := range b {
		switch c {
		case 't':
			b[i] = 'T'
		case 'z':
			b[i] = 'Z'
		}
	}
	return string(b)
}
