package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/opwatch/opwatch/internal/store"
)

// The log types the suite uses; the store treats them as opaque names.
const (
	signin = "OnePassword.SignInAttempt"
	usage  = "OnePassword.ItemUsage"
	audit  = "OnePassword.AuditEvent"
)

var logTypes = []string{signin, usage, audit}

// viewOf is the view counted by count, per log type.
var viewOf = map[string]string{signin: "storetest_signin", usage: "storetest_usage", audit: "storetest_audit"}

// countViews creates one small view per log type so the suite can count
// events through Query, the only read path into the lake the contract has.
func countViews(t *testing.T, s store.Store) {
	t.Helper()
	var views []store.View
	for _, lt := range logTypes {
		views = append(views, store.View{Name: viewOf[lt], LogType: lt, Columns: []store.ViewColumn{{Name: "uuid", Kind: "string"}}})
	}
	if err := s.SyncViews(context.Background(), views); err != nil {
		t.Fatalf("SyncViews: %v", err)
	}
}

// newSource creates a source with a stream per log type and its count
// views. Its account is "acct-" + name.
func newSource(t *testing.T, s store.Store, name string) (store.Source, []store.Stream) {
	t.Helper()
	return newSourceOn(t, s, name, "acct-"+name)
}

// newSourceOn is newSource on the given account.
func newSourceOn(t *testing.T, s store.Store, name, account string) (store.Source, []store.Stream) {
	t.Helper()
	ctx := context.Background()
	src := &store.Source{Name: name, AccountUUID: account, Region: "business", APIVersion: 2, Interval: time.Minute,
		Lookback: time.Hour, Token: []byte("sealed-" + name)}
	if err := s.CreateSource(ctx, src, logTypes); err != nil {
		t.Fatalf("CreateSource(%s): %v", name, err)
	}
	sts, err := s.Streams(ctx, src.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != len(logTypes) {
		t.Fatalf("CreateSource made %d streams, want %d", len(sts), len(logTypes))
	}
	countViews(t, s)
	return *src, sts
}

// streamOf returns the stream of lt among sts.
func streamOf(t *testing.T, sts []store.Stream, lt string) store.Stream {
	t.Helper()
	for _, st := range sts {
		if st.LogType == lt {
			return st
		}
	}
	t.Fatalf("no stream of %s", lt)
	return store.Stream{}
}

func stream(t *testing.T, s store.Store, id int64) store.Stream {
	t.Helper()
	st, err := s.Stream(context.Background(), id)
	if err != nil {
		t.Fatalf("Stream(%d): %v", id, err)
	}
	return st
}

// claim leases exactly the stream st to owner for a minute, or fails the test.
func claim(t *testing.T, s store.Store, st store.Stream, owner string) store.Stream {
	t.Helper()
	got, err := s.ClaimStream(context.Background(), st.ID, owner, time.Minute)
	if err != nil {
		t.Fatalf("ClaimStream(%d, %s): %v", st.ID, owner, err)
	}
	return got
}

// ev is an event of st at time at, with its raw JSON.
func ev(st store.Stream, uuid string, at time.Time) store.Event {
	raw := fmt.Sprintf(`{"uuid":%q,"timestamp":%q}`, uuid, at.Format(time.RFC3339Nano))
	return store.Event{
		SourceID: st.SourceID, LogType: st.LogType, UUID: uuid, EventTime: at, ParseTime: at.Add(time.Second),
		RowID: "row-" + uuid, SourceLabel: "label", Raw: []byte(raw),
	}
}

// evs makes n events named prefix-0.. spaced a millisecond apart from at.
func evs(st store.Stream, prefix string, n int, at time.Time) []store.Event {
	out := make([]store.Event, n)
	for i := range out {
		out[i] = ev(st, fmt.Sprintf("%s-%d", prefix, i), at.Add(time.Duration(i)*time.Millisecond))
	}
	return out
}

// count returns the number of stored events of a log type (and source, if
// given).
func count(t *testing.T, s store.Store, lt, sourceID string) int64 {
	t.Helper()
	q := "SELECT count(*) FROM " + viewOf[lt]
	if sourceID != "" {
		q += " WHERE p_source_id = '" + sourceID + "'"
	}
	return queryInt(t, s, q)
}

func queryInt(t *testing.T, s store.Store, q string) int64 {
	t.Helper()
	rows := query(t, s, q)
	if len(rows) != 1 || len(rows[0]) != 1 {
		t.Fatalf("%s: got %v, want one value", q, rows)
	}
	n, ok := rows[0][0].(int64)
	if !ok {
		t.Fatalf("%s: got %T %v, want int64", q, rows[0][0], rows[0][0])
	}
	return n
}

// query returns all rows of q, copied.
func query(t *testing.T, s store.Store, q string) [][]any {
	t.Helper()
	rows, _, err := queryAll(context.Background(), s, q)
	if err != nil {
		t.Fatalf("Query(%s): %v", q, err)
	}
	return rows
}

func queryAll(ctx context.Context, s store.Store, q string) ([][]any, []string, error) {
	var rows [][]any
	var cols []string
	err := s.Query(ctx, q, func(c []string, v []any) error {
		cols = append(cols[:0], c...)
		if v != nil { // nil: the columns of a result without rows
			rows = append(rows, append([]any(nil), v...))
		}
		return nil
	})
	return rows, cols, err
}

// jsonEqual reports whether text holds the JSON value want (engines may
// format JSON differently).
func jsonEqual(text any, want string) bool {
	s, ok := text.(string)
	if !ok {
		return false
	}
	var a, b any
	if json.Unmarshal([]byte(s), &a) != nil || json.Unmarshal([]byte(want), &b) != nil {
		return false
	}
	return reflect.DeepEqual(a, b)
}

// lakeTime is Panther's lake format of t, as Query returns p_ times.
func lakeTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000000") }

func mustCommit(t *testing.T, s store.Store, c store.PageCommit) store.CommitResult {
	t.Helper()
	res, err := s.CommitPage(context.Background(), c)
	if err != nil {
		t.Fatalf("CommitPage: %v", err)
	}
	return res
}
