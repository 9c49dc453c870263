package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/opwatch/opwatch/internal/onepassword"
	"github.com/opwatch/opwatch/internal/source"
	"github.com/opwatch/opwatch/internal/store"
)

// httpError is an error with the status to answer and a message a person
// can act on.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// fail returns an httpError.
func fail(status int, format string, args ...any) error {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// badRequest is a 400 with what to fix.
func badRequest(format string, args ...any) error {
	return fail(http.StatusBadRequest, format, args...)
}

// notFound is a 404 naming what was not found.
func notFound(what string) error {
	return fail(http.StatusNotFound, "%s not found: it may have been removed; see the list", what)
}

// userError marks an error of a service whose messages are written for
// the user (the source service, destination validation, triage): it is
// shown as it is, with status.
func userError(status int, err error) error {
	return &httpError{status: status, msg: err.Error()}
}

// classify turns err into a status and a message a person can act on.
// Errors the console does not know are logged, and the answer only says
// that something failed: a store's error may name a path or a query.
func (c *console) classify(r *http.Request, err error) (int, string) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		return he.status, he.msg
	case errors.Is(err, store.ErrNotFound):
		return http.StatusNotFound, "not found: it may have been removed; see the list"
	case errors.Is(err, store.ErrExists):
		return http.StatusConflict, takenMessage(err)
	case errors.Is(err, store.ErrBadTransition):
		return http.StatusConflict, err.Error() + ": reload the alert to see its status"
	case errors.Is(err, store.ErrReadOnly):
		return http.StatusBadRequest, err.Error() + ": the console runs SELECT statements only, and never reads tokens, secrets or cursors"
	case errors.Is(err, source.ErrNoBox):
		return http.StatusServiceUnavailable, "the key that seals tokens and secrets is not loaded: start opwatch serve with its key file"
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		return http.StatusServiceUnavailable, "the request was cancelled"
	}
	c.log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	return http.StatusInternalServerError, "opwatch could not do this: the server's log says why"
}

// takenMessage words a name already taken once: services say 'a user
// named "carol" exists: already exists'.
func takenMessage(err error) string {
	return strings.TrimSuffix(err.Error(), ": "+store.ErrExists.Error()) + ": pick another name"
}

// sourceError classifies an error of the source service: its messages
// are written for people and never hold the token.
func sourceError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, source.ErrNoBox):
		return err
	case errors.Is(err, store.ErrExists):
		return fail(http.StatusConflict, "%s", takenMessage(err))
	case errors.Is(err, source.ErrUnchecked):
		return userError(http.StatusBadGateway, err)
	}
	if _, ok := onepassword.KindOf(err); ok {
		return userError(http.StatusUnprocessableEntity, err)
	}
	var he *httpError
	if errors.As(err, &he) {
		return err
	}
	// ErrInvalid, ErrTokenRefused, ErrOtherAccount, ErrTokenUnreadable,
	// and the client's refusals of a malformed token or a wrong region.
	return userError(http.StatusUnprocessableEntity, err)
}

// triageError classifies an error of alert.Triage.
func triageError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return fail(http.StatusNotFound, "alert not found: it may have been purged")
	case errors.Is(err, store.ErrBadTransition):
		return userError(http.StatusConflict, err)
	}
	var he *httpError
	if errors.As(err, &he) {
		return err
	}
	return err
}

// writeJSON answers v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString(`{"error": "the answer could not be encoded"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(b.Bytes())
}

// apiError answers err as {"error": "..."}.
func (c *console) apiError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := c.classify(r, err)
	writeJSON(w, status, map[string]string{"error": msg})
}
