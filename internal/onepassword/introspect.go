package onepassword

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
)

// Introspect asks the server what the token is: GET /api/v2/auth/introspect,
// or the older /api/auth/introspect (PascalCase keys) on a server without v2.
func (c *Client) Introspect(ctx context.Context) (Introspection, error) {
	var in Introspection
	err := c.do(ctx, call{method: http.MethodGet, path: "/api/v2/auth/introspect", decode: func(b []byte) error {
		var v struct {
			UUID        string    `json:"uuid"`
			IssuedAt    string    `json:"issued_at"`
			Features    []Feature `json:"features"`
			AccountUUID string    `json:"account_uuid"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		in = Introspection{UUID: v.UUID, IssuedAt: parseTime(v.IssuedAt), Features: v.Features, AccountUUID: v.AccountUUID}
		return nil
	}})
	var e *Error
	if !errors.As(err, &e) || e.Status != http.StatusNotFound {
		return in, err
	}
	err = c.do(ctx, call{method: http.MethodGet, path: "/api/auth/introspect", decode: func(b []byte) error {
		var v struct {
			UUID     string    `json:"UUID"`
			IssuedAt string    `json:"IssuedAt"`
			Features []Feature `json:"Features"`
		}
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		in = Introspection{UUID: v.UUID, IssuedAt: parseTime(v.IssuedAt), Features: v.Features}
		return nil
	}})
	return in, err
}

// parseTime reads an RFC 3339 time; the issue time is informative, so an
// unreadable one is left zero rather than failing the call.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t
}
