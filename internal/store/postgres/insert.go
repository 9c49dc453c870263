package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/opwatch/opwatch/internal/store"
)

// Readers by position must never skip an event. A sequence hands out seq
// values at insert, and transactions commit in any order: one holding seq
// 100 can commit after another has committed 101 and the detect stage has
// read past 100, which it would then never see.
//
// So every transaction that inserts events first marks itself in flight,
// with two shared transaction-level advisory locks, before it takes any
// seq: one that says "writing this events table" (eventsMark and the
// table's oid, so schemas in one database keep apart), then one whose key
// is the events sequence's last value L (all its seqs will be above L).
// Advisory locks are visible to every session at once (they are not
// transactional) and go away when the transaction ends. A reader (see
// inFlightBound) first reads the lowest L held by a session that also
// holds the table's mark, and the sequence's last value; then, in a later
// statement and so a later snapshot, it reads only the seqs below both. A
// seq below them was either committed before that snapshot, or belongs to a
// writer whose mark it saw. Writers never wait for each other; a reader
// waits, at most, for the oldest writer in flight.
//
// (Serialising the inserts with an exclusive lock held through commit is
// the simpler way; it made a bench pull of three streams about a fifth
// slower, the inserts of one stream waiting for another's.)
const eventsMark = 0x6f70_6576 // "opev"

var markInFlight = [2]string{
	fmt.Sprintf(`SELECT pg_advisory_xact_lock_shared(%d, 'events'::regclass::oid::int)`, eventsMark),
	`SELECT pg_advisory_xact_lock_shared(last_value) FROM events_seq_seq`,
}

// arraySep joins an event's IP addresses (or e-mails) into one text for
// the insert, which string_to_array splits again: a batch binds one array
// per column, and PostgreSQL's arrays cannot be ragged.
const arraySep = "\x1e"

// insertPage is one statement that stores a page in the stream $1: its
// events, bound as arrays ($3...$12) and inserted in their order (seqs
// follow the page), and the stream's counters, with the count of the new
// events. ON CONFLICT DO NOTHING skips the events already stored (see
// events_key), so a replayed page or an overlapping re-scan inserts
// nothing twice, and an event given twice in one page is stored once. The
// store's time is $2, or the server's clock when NULL; an event without a
// parse time gets it (and one without an event time, its parse time).
//
// An event as old as the newest compacted one (lake_compaction.cold_max_t)
// may be a compacted event stored again: it is looked up in event_keys,
// and skipped when there (see compact.go; the page holds compactLock
// shared, so no compaction moves rows meanwhile). A newer one costs
// nothing.
//
// %[1]s adds to the stream's SET, %[2]s to the WHERE of its update (the
// lease's fence); an update that finds no row raises OPL01 (the lease is
// lost) or OPN01 (no such stream), which rolls the whole page back.
const insertPage = `WITH clock AS (SELECT coalesce($2::timestamptz, clock_timestamp()) AS now),
	t AS (SELECT st.source_id, st.log_type, coalesce(so.name, '') AS name,
			coalesce(nullif(so.account_uuid, ''), 'source:' || st.source_id) AS account
		FROM streams st LEFT JOIN sources so ON so.id = st.source_id WHERE st.id = $1),
	lc AS (SELECT (SELECT cold_max_t FROM lake_compaction) AS cold_max_t),
	ins AS (INSERT INTO events (source_id, log_type, account, uuid, p_event_time, p_parse_time,
			p_row_id, p_source_label, p_any_ip_addresses, p_any_emails, raw, indicators)
		SELECT t.source_id, t.log_type, coalesce(nullif(u.account, ''), t.account), u.uuid,
			coalesce(u.event_time, u.parse_time, clock.now), coalesce(u.parse_time, clock.now),
			u.row_id, coalesce(nullif(u.label, ''), t.name), string_to_array(u.ips, E'\x1e'), string_to_array(u.emails, E'\x1e'),
			u.raw, string_to_array(u.indicators, E'\x1e')
		FROM t, clock, unnest($3::text[], $4::text[], $5::timestamptz[], $6::timestamptz[], $7::text[], $8::text[],
			$9::text[], $10::text[], $11::bytea[], $12::text[]) WITH ORDINALITY
			AS u(account, uuid, event_time, parse_time, row_id, label, ips, emails, raw, indicators, n), lc
		WHERE lc.cold_max_t IS NULL OR coalesce(u.event_time, u.parse_time, clock.now) > lc.cold_max_t
			OR NOT EXISTS (SELECT FROM event_keys k WHERE k.t = coalesce(u.event_time, u.parse_time, clock.now)
				AND k.h = opwatch_event_key(t.log_type, coalesce(nullif(u.account, ''), t.account), u.uuid))
		ORDER BY u.n
		ON CONFLICT DO NOTHING
		RETURNING 1),
	up AS (UPDATE streams SET %[1]s events = events + (SELECT count(*) FROM ins), quarantined = quarantined + $13,
			last_event_at = greatest(last_event_at, $14, CASE WHEN $15 THEN clock.now END),
			last_stored_at = CASE WHEN EXISTS (SELECT FROM ins) THEN clock.now ELSE last_stored_at END
		FROM clock WHERE streams.id = $1 %[2]s
		RETURNING (SELECT count(*) FROM ins) AS n)
	SELECT coalesce((SELECT n FROM up),
		CASE WHEN EXISTS (SELECT FROM t) THEN opwatch_raise('OPL01', 'lease lost') ELSE opwatch_raise('OPN01', 'no such stream') END)`

// batch is a page's events as the insert binds them.
type batch struct {
	accounts, uuids, rowIDs, labels []string
	eventTimes, parseTimes          []*time.Time // nil: none given
	ips, emails, indicators         []*string
	raws                            [][]byte
	newest                          time.Time // of the times given
	unstamped                       bool      // an event has neither time: it takes the store's now
}

// prepareBatch converts the events before anything is sent.
func prepareBatch(events []store.Event) (*batch, error) {
	n := len(events)
	b := &batch{accounts: make([]string, n), uuids: make([]string, n), rowIDs: make([]string, n), labels: make([]string, n),
		eventTimes: make([]*time.Time, n), parseTimes: make([]*time.Time, n), ips: make([]*string, n), emails: make([]*string, n),
		indicators: make([]*string, n), raws: make([][]byte, n)}
	times := make([]time.Time, 2*n)
	for i := range events {
		e := &events[i]
		if e.UUID == "" {
			return nil, fmt.Errorf("event %d of %d has no uuid", i+1, n)
		}
		if len(e.Raw) == 0 {
			return nil, fmt.Errorf("event %s has no raw JSON", e.UUID)
		}
		b.accounts[i], b.uuids[i], b.labels[i] = enc(e.Account), enc(e.UUID), enc(e.SourceLabel)
		rowID := e.RowID
		if rowID == "" {
			rowID = newRowID()
		}
		b.rowIDs[i] = enc(rowID)
		at := e.EventTime
		if !e.ParseTime.IsZero() {
			times[2*i] = floorMicro(e.ParseTime)
			b.parseTimes[i] = &times[2*i]
			if at.IsZero() {
				at = e.ParseTime // as Panther does
			}
		}
		if !e.EventTime.IsZero() {
			times[2*i+1] = floorMicro(e.EventTime)
			b.eventTimes[i] = &times[2*i+1]
		}
		switch {
		case at.IsZero():
			b.unstamped = true
		case floorMicro(at).After(b.newest):
			b.newest = floorMicro(at)
		}
		b.ips[i], b.emails[i] = joinArray(e.IPs), joinArray(e.Emails)
		b.indicators[i] = joinArray(indicatorKeys(e.Emails, e.IPs))
		b.raws[i] = e.Raw // pgx copies it into the message; nothing holds it after
	}
	return b, nil
}

// joinArray is the bound form of a p_any_ list: its values encoded and
// joined by arraySep, nil (NULL) when empty. A value that holds arraySep,
// or is empty, is stored quoted (see enc), so the split gives it back.
func joinArray(vals []string) *string {
	if len(vals) == 0 {
		return nil
	}
	var sb strings.Builder
	for i, v := range vals {
		if i > 0 {
			sb.WriteString(arraySep)
		}
		sb.WriteString(arrayElem(v))
	}
	s := sb.String()
	return &s
}

// arrayElem is the stored form of one value of a p_any_ list (or of an
// indicator key): see joinArray.
func arrayElem(v string) string {
	e := enc(v)
	if e == "" || strings.Contains(e, arraySep) {
		e = escapeMark + strconv.Quote(v)
	}
	return e
}

// newRowID makes a p_row_id for an event that came without one.
func newRowID() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// quarantineStep inserts the quarantined events of the stream $1; the
// store's time is $2, or the server's clock when NULL.
func quarantineStep(streamID int64, qs []store.Quarantined, now any) step {
	raws := make([][]byte, len(qs))
	reasons := make([]string, len(qs))
	ats := make([]*time.Time, len(qs))
	for i, x := range qs {
		raws[i] = x.Raw
		if raws[i] == nil {
			raws[i] = []byte{}
		}
		reasons[i] = enc(x.Reason)
		if !x.At.IsZero() {
			at := floorMicro(x.At)
			ats[i] = &at
		}
	}
	return step{sql: `INSERT INTO quarantine (source_id, log_type, raw, reason, at)
		SELECT st.source_id, st.log_type, u.raw, u.reason, coalesce(u.at, $2::timestamptz, clock_timestamp())
		FROM streams st, unnest($3::bytea[], $4::text[], $5::timestamptz[]) WITH ORDINALITY AS u(raw, reason, at, n)
		WHERE st.id = $1 ORDER BY u.n`, args: []any{streamID, now, raws, reasons, ats},
		fail: func(err error) error { return fmt.Errorf("quarantine events: %w", err) }}
}

// pageSteps are the statements that store a page (see insertPage): the
// page's commit does not wait for the disk (if the server loses it in a
// crash, it loses the cursor with it, and the page is fetched again; any
// later commit that waits, such as a detect batch, flushes it first), the
// marks of a writer in flight (before any seq is taken), compaction's lock
// (shared; before the insert reads lake_compaction), the quarantined
// events, and the events with the stream's update, whose result is the
// count of new events. set and where extend the update; extra are $16 on.
func pageSteps(b *batch, streamID int64, quarantine []store.Quarantined, now any, set, where string, extra ...any) []step {
	steps := []step{{sql: `SET LOCAL synchronous_commit TO OFF`}}
	if len(b.uuids) > 0 {
		steps = append(steps, step{sql: markInFlight[0]}, step{sql: markInFlight[1]}, // in this order: see markInFlight
			step{sql: compactLockShared})
	}
	if len(quarantine) > 0 {
		steps = append(steps, quarantineStep(streamID, quarantine, now))
	}
	args := append([]any{streamID, now, b.accounts, b.uuids, b.eventTimes, b.parseTimes, b.rowIDs, b.labels,
		b.ips, b.emails, b.raws, b.indicators, len(quarantine), timeArg(b.newest), b.unstamped}, extra...)
	return append(steps, step{sql: fmt.Sprintf(insertPage, set, where), args: args, fail: pageError})
}

// pageError turns the raises of insertPage into the store's errors.
func pageError(err error) error {
	switch pgCode(err) {
	case "OPL01":
		return store.ErrLeaseLost
	case "OPN01":
		return store.ErrNotFound
	}
	return fmt.Errorf("insert events: %w", err)
}

// commitPage runs steps in one transaction, in one round trip (BEGIN and
// COMMIT go with them), and returns the first row of the last one: the
// count of new events. After a failure the transaction is rolled back
// before the connection serves anyone else.
func (s *Store) commitPage(ctx context.Context, steps []step) (int, error) {
	if s.readOnly {
		return 0, s.errReadOnlyStore()
	}
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer c.Release()
	q := &pgx.Batch{}
	q.Queue("BEGIN")
	for _, st := range steps {
		q.Queue(st.sql, st.args...)
	}
	q.Queue("COMMIT")
	br := c.SendBatch(ctx, q)
	inserted, err := readPage(br, steps)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil && c.Conn().PgConn().TxStatus() != 'I' {
		// The statements after the failure were skipped, COMMIT too.
		if _, rerr := c.Exec(context.WithoutCancel(ctx), "ROLLBACK"); rerr != nil {
			c.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	return inserted, err
}

func readPage(br pgx.BatchResults, steps []step) (int, error) {
	if _, err := br.Exec(); err != nil { // BEGIN
		return 0, err
	}
	var inserted int64
	for i, st := range steps {
		var err error
		if i == len(steps)-1 {
			err = br.QueryRow().Scan(&inserted)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			if st.fail != nil {
				return 0, st.fail(err)
			}
			return 0, err
		}
	}
	if _, err := br.Exec(); err != nil { // COMMIT
		return 0, err
	}
	return int(inserted), nil
}

// CommitPage stores the page and the cursor in one transaction, fenced by
// the lease: the update of the stream that goes with the insert holds only
// while owner's lease is live at the store's now (re-checked on the row's
// newest version if another transaction changed it meanwhile); otherwise
// nothing of the page is stored.
func (s *Store) CommitPage(ctx context.Context, c store.PageCommit) (store.CommitResult, error) {
	b, err := prepareBatch(c.Events)
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w", c.StreamID, err)
	}
	if c.LeaseOwner == "" {
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w: no lease owner given", c.StreamID, store.ErrLeaseLost)
	}
	var res store.CommitResult
	res.Inserted, err = s.commitPage(ctx, pageSteps(b, c.StreamID, c.Quarantine, s.clockArg(), `cursor = $16,`,
		`AND streams.lease_owner = $17 AND streams.lease_until > clock.now`, enc(c.Cursor), enc(c.LeaseOwner)))
	if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrNotFound) {
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w: %q no longer holds a live lease; the page will be fetched again",
			c.StreamID, store.ErrLeaseLost, c.LeaseOwner)
	}
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("commit page of stream %d: %w", c.StreamID, err)
	}
	res.Duplicates = len(c.Events) - res.Inserted
	res.Quarantined = len(c.Quarantine)
	return res, nil
}

// clockArg is the store's time to bind, or nil for the server's clock.
func (s *Store) clockArg() any {
	if s.clock == nil {
		return nil
	}
	return floorMicro(s.clock())
}

// InsertEvents stores events for backfill and reconciliation: no cursor, no
// lease, but the stream's counters and last event time still move.
func (s *Store) InsertEvents(ctx context.Context, streamID int64, events []store.Event, quarantine []store.Quarantined) (store.CommitResult, error) {
	b, err := prepareBatch(events)
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	var res store.CommitResult
	res.Inserted, err = s.commitPage(ctx, pageSteps(b, streamID, quarantine, s.clockArg(), "", ""))
	if errors.Is(err, store.ErrNotFound) {
		return store.CommitResult{}, fmt.Errorf("insert events: stream %d: %w", streamID, err)
	}
	if err != nil {
		return store.CommitResult{}, fmt.Errorf("insert events into stream %d: %w", streamID, err)
	}
	res.Duplicates = len(events) - res.Inserted
	res.Quarantined = len(quarantine)
	return res, nil
}

// ListQuarantine returns quarantined events, newest first ("" = all sources).
func (s *Store) ListQuarantine(ctx context.Context, sourceID string, limit int) ([]store.Quarantined, error) {
	var lim any
	if limit > 0 {
		lim = limit
	}
	rows, err := s.pool.Query(ctx, `SELECT id, source_id, log_type, raw, reason, at FROM quarantine
		WHERE $1 = '' OR source_id = $1 ORDER BY at DESC, id DESC LIMIT $2`, enc(sourceID), lim)
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	qs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Quarantined, error) {
		var q store.Quarantined
		err := r.Scan(&q.ID, textCol{&q.SourceID}, textCol{&q.LogType}, &q.Raw, textCol{&q.Reason}, timeCol{&q.At})
		return q, err
	})
	if err != nil {
		return nil, fmt.Errorf("list quarantine: %w", err)
	}
	return qs, nil
}
